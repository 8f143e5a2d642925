//! Resource-level Waldur calls (the QoS recorded in backend_metadata, set_as_ok) and the
//! constructor every Waldur call of the builder goes through.

use agent_reconcile::plan::Reason;
use agent_reconcile::state::{Stage, WaldurCall};
use serde_json::{json, Value};

use super::Builder;
use crate::waldur::{hex, Order, Resource};

/// What a Waldur call acts on (by hex UUID): names both the call's id and its path.
#[derive(Clone, Copy)]
pub(super) enum On<'a> {
    Order(&'a str),
    Resource(&'a str),
}

impl On<'_> {
    fn id(self, action: &str) -> String {
        match self {
            On::Order(o) => format!("order/{o}/{action}"),
            On::Resource(r) => format!("resource/{r}/{action}"),
        }
    }

    pub(super) fn path(self, action: &str) -> String {
        match self {
            On::Order(o) => format!("/api/marketplace-orders/{o}/{action}/"),
            On::Resource(r) => format!("/api/marketplace-provider-resources/{r}/{action}/"),
        }
    }
}

impl Builder<'_> {
    /// A POST to `action` of an order or resource of this offering, waiting for no other
    /// call and erring nothing on failure; callers that need those set them.
    pub(super) fn post(
        &self,
        on: On,
        action: &str,
        body: Option<Value>,
        stage: Stage,
        accounts: Vec<String>,
        reason: Reason,
    ) -> WaldurCall {
        WaldurCall {
            id: on.id(action),
            method: "POST".into(),
            path: on.path(action),
            body,
            stage,
            accounts,
            after_calls: vec![],
            reason,
            offering: self.cfg.uuid.clone(),
            on_failure: None,
        }
    }

    /// Keeps the resource's Waldur view in step: the QoS recorded in backend_metadata
    /// (only when it differs, so a converged cycle sends nothing) and an Erred resource
    /// set back to OK once its SLURM side matches.
    pub(super) fn resource_calls(
        &mut self,
        r: &Resource,
        order: Option<&Order>,
        account: &str,
        qos: Option<String>,
    ) {
        let res = hex(&r.uuid);
        if let Some(q) = qos {
            if r.backend_metadata.get("qos").and_then(|v| v.as_str()) != Some(q.as_str()) {
                let mut metadata = r.backend_metadata.clone();
                metadata.insert("qos".into(), json!(q));
                self.out.waldur_calls.push(self.post(
                    On::Resource(&res),
                    "set_backend_metadata",
                    Some(json!({ "backend_metadata": metadata })),
                    Stage::After,
                    vec![account.to_string()],
                    Reason::new(
                        "waldur_resource",
                        format!("record QoS {q} of {account} in Waldur"),
                    ),
                ));
            }
        }
        if r.state == "Erred" && order.is_none() {
            self.out.waldur_calls.push(self.post(
                On::Resource(&res),
                "set_as_ok",
                None,
                Stage::After,
                vec![account.to_string()],
                Reason::new(
                    "waldur_resource",
                    format!(
                        "{:?} is Erred in Waldur; its SLURM account {account} is in order",
                        r.name
                    ),
                ),
            ));
        }
    }
}
