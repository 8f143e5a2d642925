//! A Waldur world for the periodic-limits tests: one offering with a periodic policy, a
//! live resource, component usage of the previous quarter, and the agent's config for it.

use agent_desired::periodic::{Period, PeriodKind, StoredSettings};
use fake_waldur::Seed;
use serde_json::{json, Value};
use waldur_slurm_agent::periodic::{Clock, FileSettings};

pub const OFFERING: &str = "f0000000000000000000000000000002";
pub const PROJECT: &str = "b0000000000000000000000000000002";
pub const RESOURCE: &str = "e0000000000000000000000000000002";
pub const POLICY: &str = "91ab0000000000000000000000000002";
pub const TOKEN: &str = "tok-periodic-never-printed";

/// One offering with a live resource `<prefix>a_alloc` of these limits (hours), its
/// policy (Mastermind's defaults unless `policy` says otherwise), and component usage in
/// the first month of the previous quarter.
pub fn seed(prefix: &str, limits: Value, policy: Value, usage: &[(&str, &str)]) -> Seed {
    let previous = Period::of(PeriodKind::Quarter, Clock::system("UTC").unwrap().month())
        .previous()
        .unwrap()
        .months()[0]
        .billing_period();
    let usages: Vec<Value> = usage
        .iter()
        .map(|(t, u)| json!({"resource": RESOURCE, "type": t, "billing_period": previous, "usage": u}))
        .collect();
    let mut policy_doc = json!({"uuid": POLICY, "offering": OFFERING, "actions": "request_slurm_resource_downscaling"});
    for (k, v) in policy.as_object().unwrap() {
        policy_doc[k] = v.clone();
    }
    serde_json::from_value(json!({
        "users": [{"uuid": "a0000000000000000000000000000099", "username": "agent", "is_staff": true, "token": TOKEN}],
        "customers": [{"uuid": "c0000000000000000000000000000002", "name": "Physics", "slug": "cust"}],
        "projects": [{"uuid": PROJECT, "name": "Quarks", "slug": "proj", "customer": "c0000000000000000000000000000002"}],
        "offerings": [{"uuid": OFFERING, "name": "Cluster", "customer": "c0000000000000000000000000000002",
                       "components": [{"type": "cpu", "measured_unit": "Hours", "billing_type": "limit"},
                                      {"type": "mem", "measured_unit": "GB-Hours", "billing_type": "limit"},
                                      {"type": "node", "measured_unit": "Node-hours", "billing_type": "limit"}]}],
        "resources": [{"uuid": RESOURCE, "name": "Alloc", "slug": "alloc", "offering": OFFERING, "project": PROJECT,
                       "backend_id": format!("{prefix}a_alloc"), "limits": limits, "backend_metadata": {"qos": "normal"}}],
        "component_usages": usages,
        "periodic_policies": [policy_doc],
    }))
    .expect("seed parses")
}

/// The agent's config for [`seed`]'s offering; `periodic` is the `periodic_limits` block.
pub fn config(
    url: &str,
    prefix: &str,
    cluster: &str,
    bin: &str,
    periodic: &str,
    state: &str,
) -> String {
    format!(
        r#"
timezone: UTC
offerings:
  - name: cluster
    waldur_api_url: {url}
    waldur_api_token: {TOKEN}
    waldur_offering_uuid: "{OFFERING}"
    backend_type: slurm
    order_processing_backend: slurm
    membership_sync_backend: slurm
    backend_settings:
      cluster_name: {cluster}
      slurm_bin_path: "{bin}"
      default_account: root
      customer_prefix: {prefix}c_
      project_prefix: {prefix}p_
      allocation_prefix: {prefix}a_
      enable_user_homedir_account_creation: false
      periodic_limits: {periodic}
    backend_components:
      cpu: {{measured_unit: Hours, unit_factor: 60, accounting_type: limit, label: CPU}}
      mem: {{measured_unit: GB-Hours, unit_factor: 60, accounting_type: limit, label: RAM}}
      node: {{measured_unit: Node-hours, unit_factor: 60, accounting_type: limit, label: Node}}
agent:
  state_dir: {state}
"#
    )
}

/// Stores a `resource_periodic_limits` message for [`RESOURCE`] as the listener does,
/// received now.
pub fn publish(state_dir: &std::path::Path, account: &str, timestamp: &str, settings: Value) {
    let message = json!({"resource_uuid": RESOURCE, "backend_id": account, "offering_uuid": OFFERING,
                         "policy_uuid": POLICY, "action": "apply_periodic_settings",
                         "timestamp": timestamp, "settings": settings});
    let now = jiff::Timestamp::now().to_string();
    let stored = StoredSettings::from_message(&message, &now).unwrap();
    FileSettings::new(state_dir).put(&stored).unwrap();
}
