//! What the cluster can take: anchors that must exist, TRES and QoS it knows. A desired
//! value the cluster cannot take is left out with a diagnostic instead of planned to fail.

use std::collections::BTreeMap;

use super::Planner;
use crate::plan::Diagnostic;
use crate::state::{AccountField, AccountSpec, Value};
use crate::tres::TresMap;

impl Planner<'_> {
    pub(super) fn check_anchors(&mut self) {
        for anchor in &self.desired.anchors {
            if !self.observed.accounts.contains_key(anchor) {
                self.diagnostics.push(Diagnostic::error(
                    "missing_anchor_account",
                    format!(
                        "account {anchor} is configured as a root/parent/default account but does not exist on cluster {}; \
                         create it (sacctmgr add account {anchor}) — accounts below it are not planned",
                        self.observed.cluster
                    ),
                ));
            }
        }
    }

    /// Desired specs with what the cluster cannot take removed: TRES it does not know
    /// (one warning per TRES) and QoS it does not have (an error per use).
    pub(super) fn effective_specs(&mut self) -> Vec<AccountSpec> {
        let mut unknown_tres: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut specs: Vec<AccountSpec> = Vec::new();
        for spec in self.desired.accounts.values() {
            let mut spec = spec.clone();
            for value in spec.fields.values_mut() {
                if let Value::Tres(map) = value {
                    if !self.observed.tres.is_empty() {
                        map.retain(|k, _| {
                            let known = self.observed.tres.contains(k);
                            if !known {
                                unknown_tres
                                    .entry(k.clone())
                                    .or_default()
                                    .push(spec.name.clone());
                            }
                            known
                        });
                    }
                }
            }
            let mut missing_qos = Vec::new();
            if let Some(Value::List(levels)) = spec.fields.get(&AccountField::Qos) {
                missing_qos.extend(
                    levels
                        .iter()
                        .filter(|q| !self.observed.qos.contains(*q))
                        .cloned(),
                );
            }
            if let Some(Value::OptText(Some(q))) = spec.fields.get(&AccountField::DefaultQos) {
                if !self.observed.qos.contains(q) {
                    missing_qos.push(q.clone());
                }
            }
            if !missing_qos.is_empty() {
                spec.fields.remove(&AccountField::Qos);
                spec.fields.remove(&AccountField::DefaultQos);
                self.diagnostics.push(Diagnostic::error(
                    "missing_qos",
                    format!(
                        "account {} should get QoS {} but the cluster has no such QoS; its QoS is left as is \
                         (create it with: sacctmgr add qos {})",
                        spec.name,
                        missing_qos.join(","),
                        missing_qos[0]
                    ),
                ));
            }
            specs.push(spec);
        }
        for (tres, accounts) in unknown_tres {
            self.diagnostics.push(Diagnostic::warning(
                "unknown_tres",
                format!(
                    "TRES {tres} is not known to cluster {} (sacctmgr show tres); it is left out of the limits of {} account(s), e.g. {}",
                    self.observed.cluster,
                    accounts.len(),
                    accounts[0]
                ),
            ));
        }
        specs.sort_by(|a, b| (a.tier, &a.name).cmp(&(b.tier, &b.name)));
        specs
    }

    /// Only the TRES the cluster knows (all of them when the TRES list is empty). Applied
    /// to both sides: the agent neither sets nor clears a TRES the cluster does not list.
    pub(super) fn known_tres(&self, map: &TresMap) -> TresMap {
        if self.observed.tres.is_empty() {
            return map.clone();
        }
        map.iter()
            .filter(|(k, _)| self.observed.tres.contains(*k))
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }
}
