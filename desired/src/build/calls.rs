//! Resource-level Waldur calls: the QoS recorded in backend_metadata and set_as_ok.

use agent_reconcile::plan::Reason;
use agent_reconcile::state::{Stage, WaldurCall};
use serde_json::json;

use super::Builder;
use crate::waldur::{hex, Order, Resource};

impl Builder<'_> {
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
                self.out.waldur_calls.push(WaldurCall {
                    id: format!("resource/{res}/set_backend_metadata"),
                    method: "POST".into(),
                    path: format!(
                        "/api/marketplace-provider-resources/{res}/set_backend_metadata/"
                    ),
                    body: Some(json!({ "backend_metadata": metadata })),
                    stage: Stage::After,
                    accounts: vec![account.to_string()],
                    after_calls: vec![],
                    reason: Reason::new(
                        "waldur_resource",
                        format!("record QoS {q} of {account} in Waldur"),
                    ),
                    offering: self.cfg.uuid.clone(),
                    on_failure: None,
                });
            }
        }
        if r.state == "Erred" && order.is_none() {
            self.out.waldur_calls.push(WaldurCall {
                id: format!("resource/{res}/set_as_ok"),
                method: "POST".into(),
                path: format!("/api/marketplace-provider-resources/{res}/set_as_ok/"),
                body: None,
                stage: Stage::After,
                accounts: vec![account.to_string()],
                after_calls: vec![],
                reason: Reason::new(
                    "waldur_resource",
                    format!(
                        "{:?} is Erred in Waldur; its SLURM account {account} is in order",
                        r.name
                    ),
                ),
                offering: self.cfg.uuid.clone(),
                on_failure: None,
            });
        }
    }
}
