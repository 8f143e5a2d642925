//! Open orders by resource, and the Waldur calls that drive an order around the SLURM
//! work (approve, set_backend_id, set_limits, done or erred).

use std::collections::BTreeMap;

use agent_reconcile::plan::{Diagnostic, Reason};
use agent_reconcile::state::{Stage, WaldurCall};
use serde_json::json;

use super::calls::On;
use super::Builder;
use crate::limits;
use crate::waldur::{hex, Order, OrderKind, OrderState, Resource, WaldurDocs};

/// Open orders keyed by resource; orders not in pending-provider/executing are ignored.
pub(super) fn by_resource<'d>(
    docs: &'d WaldurDocs,
    diagnostics: &mut Vec<Diagnostic>,
) -> BTreeMap<String, &'d Order> {
    let mut map: BTreeMap<String, &Order> = BTreeMap::new();
    let mut orders: Vec<&Order> = docs.orders.iter().collect();
    orders.sort_by(|a, b| a.uuid.cmp(&b.uuid));
    for o in orders {
        if !OrderState::DRIVEN.contains(&o.state) {
            continue;
        }
        if let OrderKind::Other(kind) = &o.kind {
            diagnostics.push(Diagnostic::warning(
                "unknown_order_type",
                format!("order {} has unknown type {kind:?}; skipped", o.uuid),
            ));
            continue;
        }
        let key = hex(&o.marketplace_resource_uuid);
        if let Some(prev) = map.get(&key) {
            diagnostics.push(Diagnostic::warning(
                "several_orders",
                format!("resource {key} has open orders {} and {}; only the first is handled this cycle", prev.uuid, o.uuid),
            ));
            continue;
        }
        map.insert(key, o);
    }
    map
}

impl Builder<'_> {
    /// A Create/Restore order that cannot be carried out (bad slug or name): approve it if
    /// needed, then mark it erred with the reason the builder reported.
    pub(super) fn fail_order(&mut self, r: &Resource, order: &Order) {
        let o = hex(&order.uuid);
        let message = self
            .out
            .diagnostics
            .last()
            .map(|d| d.text.clone())
            .unwrap_or_else(|| format!("resource {:?} cannot be placed in SLURM", r.name));
        let after: Vec<String> = self.approve_if_pending(r, order).into_iter().collect();
        let call = self.post(
            On::Order(&o),
            "set_state_erred",
            Some(json!({ "error_message": message, "error_traceback": "" })),
            Stage::After,
            vec![],
            Reason::new(
                "waldur_order",
                format!("{} order {o} cannot be carried out: {message}", order.kind),
            ),
        );
        self.out.waldur_calls.push(WaldurCall {
            after_calls: after,
            ..call
        });
    }

    /// `approve_by_provider` for an order still waiting for the provider; returns the call's
    /// id for the calls that must follow it.
    fn approve_if_pending(&mut self, r: &Resource, order: &Order) -> Option<String> {
        if order.state != OrderState::PendingProvider {
            return None;
        }
        let o = hex(&order.uuid);
        let call = self.post(
            On::Order(&o),
            "approve_by_provider",
            Some(json!({})),
            Stage::Before,
            vec![],
            Reason::new(
                "waldur_order",
                format!(
                    "{} order {o} for {:?} awaits the provider",
                    order.kind, r.name
                ),
            ),
        );
        let id = call.id.clone();
        self.out.waldur_calls.push(call);
        Some(id)
    }

    /// The Waldur calls that drive an order around the SLURM work.
    pub(super) fn order_calls(&mut self, r: &Resource, order: &Order, account: &str) {
        let o = hex(&order.uuid);
        let res = hex(&r.uuid);
        let accounts: Vec<String> = Some(account.to_string())
            .filter(|a| !a.is_empty())
            .into_iter()
            .collect();
        let reason = |text: String| Reason::new("waldur_order", text);
        let mut done_after: Vec<String> = self.approve_if_pending(r, order).into_iter().collect();
        if order.kind.provisions() {
            if r.backend_id() != Some(account) {
                let call = self.post(
                    On::Resource(&res),
                    "set_backend_id",
                    Some(json!({ "backend_id": account })),
                    Stage::After,
                    accounts.clone(),
                    reason(format!(
                        "record SLURM account {account} as the backend id of {:?}",
                        r.name
                    )),
                );
                done_after.push(call.id.clone());
                self.out.waldur_calls.push(call);
            }
            let reported = limits::reported_limits(&self.cfg.components, &r.limits);
            if !reported.is_empty() {
                self.out.waldur_calls.push(self.post(
                    On::Resource(&res),
                    "set_limits",
                    Some(json!({ "limits": reported })),
                    Stage::After,
                    accounts.clone(),
                    reason(format!("report the limits applied to {account}")),
                ));
            }
        }
        let call = self.post(
            On::Order(&o),
            "set_state_done",
            None,
            Stage::After,
            accounts,
            reason(format!(
                "{} order {o} for {:?} is complete once SLURM matches",
                order.kind, r.name
            )),
        );
        self.out.waldur_calls.push(WaldurCall {
            after_calls: done_after,
            on_failure: Some(On::Order(&o).path("set_state_erred")),
            ..call
        });
    }
}
