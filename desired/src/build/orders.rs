//! Open orders by resource, and the Waldur calls that drive an order around the SLURM
//! work (approve, set_backend_id, set_limits, done or erred).

use std::collections::BTreeMap;

use agent_reconcile::plan::{Diagnostic, Reason};
use agent_reconcile::state::{Stage, WaldurCall};
use serde_json::json;

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
        self.out.waldur_calls.push(WaldurCall {
            id: format!("order/{o}/set_state_erred"),
            method: "POST".into(),
            path: format!("/api/marketplace-orders/{o}/set_state_erred/"),
            body: Some(json!({ "error_message": message, "error_traceback": "" })),
            stage: Stage::After,
            accounts: vec![],
            after_calls: after,
            reason: Reason::new(
                "waldur_order",
                format!("{} order {o} cannot be carried out: {message}", order.kind),
            ),
            offering: self.cfg.uuid.clone(),
            on_failure: None,
        });
    }

    /// `approve_by_provider` for an order still waiting for the provider; returns the call's
    /// id for the calls that must follow it.
    fn approve_if_pending(&mut self, r: &Resource, order: &Order) -> Option<String> {
        if order.state != OrderState::PendingProvider {
            return None;
        }
        let o = hex(&order.uuid);
        let id = format!("order/{o}/approve_by_provider");
        self.out.waldur_calls.push(WaldurCall {
            id: id.clone(),
            method: "POST".into(),
            path: format!("/api/marketplace-orders/{o}/approve_by_provider/"),
            body: Some(json!({})),
            stage: Stage::Before,
            accounts: vec![],
            after_calls: vec![],
            reason: Reason::new(
                "waldur_order",
                format!(
                    "{} order {o} for {:?} awaits the provider",
                    order.kind, r.name
                ),
            ),
            offering: self.cfg.uuid.clone(),
            on_failure: None,
        });
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
                self.out.waldur_calls.push(WaldurCall {
                    id: format!("resource/{res}/set_backend_id"),
                    method: "POST".into(),
                    path: format!("/api/marketplace-provider-resources/{res}/set_backend_id/"),
                    body: Some(json!({ "backend_id": account })),
                    stage: Stage::After,
                    accounts: accounts.clone(),
                    after_calls: vec![],
                    reason: reason(format!(
                        "record SLURM account {account} as the backend id of {:?}",
                        r.name
                    )),
                    offering: self.cfg.uuid.clone(),
                    on_failure: None,
                });
                done_after.push(format!("resource/{res}/set_backend_id"));
            }
            let reported = limits::reported_limits(&self.cfg.components, &r.limits);
            if !reported.is_empty() {
                self.out.waldur_calls.push(WaldurCall {
                    id: format!("resource/{res}/set_limits"),
                    method: "POST".into(),
                    path: format!("/api/marketplace-provider-resources/{res}/set_limits/"),
                    body: Some(json!({ "limits": reported })),
                    stage: Stage::After,
                    accounts: accounts.clone(),
                    after_calls: vec![],
                    reason: reason(format!("report the limits applied to {account}")),
                    offering: self.cfg.uuid.clone(),
                    on_failure: None,
                });
            }
        }
        self.out.waldur_calls.push(WaldurCall {
            id: format!("order/{o}/set_state_done"),
            method: "POST".into(),
            path: format!("/api/marketplace-orders/{o}/set_state_done/"),
            body: None,
            stage: Stage::After,
            accounts,
            after_calls: done_after,
            reason: reason(format!(
                "{} order {o} for {:?} is complete once SLURM matches",
                order.kind, r.name
            )),
            offering: self.cfg.uuid.clone(),
            on_failure: Some(format!("/api/marketplace-orders/{o}/set_state_erred/")),
        });
    }
}
