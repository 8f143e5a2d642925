use super::*;
use crate::waldur::{Offering, TeamMember};
use agent_reconcile::state::{AccountField, AssocKey, Value};

fn config() -> OfferingConfig {
    config_with("")
}

/// The test offering with `backend` added to its backend_settings.
pub(super) fn config_with(backend: &str) -> OfferingConfig {
    let yaml = r#"
offerings:
  - name: t
    waldur_api_url: http://localhost/api/
    waldur_api_token: x
    waldur_offering_uuid: "00000000000000000000000000000001"
    backend_type: slurm
    membership_sync_backend: slurm
    backend_settings:
      enable_user_homedir_account_creation: false
      default_account: root
      customer_prefix: hpc_
      project_prefix: hpc_
      allocation_prefix: hpc_
    backend_components:
      cpu: {measured_unit: k-Hours, unit_factor: 60000, accounting_type: limit, label: CPU}
      mem: {limit: 10, measured_unit: GB-Hours, unit_factor: 61440, accounting_type: usage, label: RAM}
"#
    .replace(
        "      allocation_prefix: hpc_\n",
        &format!("      allocation_prefix: hpc_\n{backend}"),
    );
    agent_config::load_str("t.yaml", &yaml, None, None)
        .unwrap()
        .config
        .offerings
        .remove(0)
}

pub(super) fn resource(json: &str) -> Resource {
    serde_json::from_str(json).unwrap()
}

pub(super) fn docs(resources: Vec<Resource>, orders: Vec<Order>) -> WaldurDocs {
    let teams = resources
        .iter()
        .map(|r| {
            (
                hex(&r.uuid),
                vec![TeamMember {
                    username: "u1".into(),
                    offering_user_username: Some("test-offering-user-01".into()),
                    offering_user_state: Some("OK".into()),
                }],
            )
        })
        .collect();
    WaldurDocs {
        offering: Offering {
            uuid: "00000000000000000000000000000001".into(),
            name: "o".into(),
            components: vec![],
            partitions: vec![],
            plugin_options: Default::default(),
        },
        resources,
        teams,
        orders,
        user_limits: None,
        policies: vec![],
        usages: Default::default(),
    }
}

const NEW: &str = r#"{"uuid": "aa000000000000000000000000000001", "name": "sample-resource-1", "slug": "sample-resource-1", "state": "Creating",
  "backend_id": "", "project_uuid": "bb000000000000000000000000000001", "project_slug": "project-1", "project_name": "Project 1",
  "customer_slug": "customer-1", "customer_name": "Customer 1", "limits": {"cpu": 10, "mem": 20},
  "paused": false, "downscaled": false, "restrict_member_access": false}"#;

#[test]
fn create_order_builds_the_three_tier_tree() {
    let order: Order = serde_json::from_str(
        r#"{"uuid": "dd000000000000000000000000000001", "type": "Create", "state": "pending-provider", "marketplace_resource_uuid": "aa000000000000000000000000000001"}"#,
    )
    .unwrap();
    let d = build(&config(), &docs(vec![resource(NEW)], vec![order]));
    let names: Vec<_> = d.accounts.keys().cloned().collect();
    assert_eq!(
        names,
        ["hpc_customer-1", "hpc_project-1", "hpc_sample-resource-1"]
    );
    let alloc = &d.accounts["hpc_sample-resource-1"];
    assert!(alloc.fresh);
    assert_eq!(alloc.parent(), Some("hpc_project-1"));
    let Value::Tres(limits) = &alloc.fields[&AccountField::GrpTresMins] else {
        panic!()
    };
    assert_eq!(
        agent_reconcile::tres::render(limits),
        "cpu=600000,mem=614400"
    );
    let assoc =
        &d.associations[&AssocKey::new("hpc_sample-resource-1", "test-offering-user-01", "")];
    assert_eq!(assoc.default_account.as_deref(), Some("root"));
    let ids: Vec<_> = d
        .waldur_calls
        .iter()
        .map(|c| c.id.rsplit('/').next().unwrap().to_string())
        .collect();
    assert_eq!(
        ids,
        [
            "approve_by_provider",
            "set_backend_id",
            "set_limits",
            "set_state_done",
            "set_backend_metadata"
        ]
    );
    assert_eq!(
        d.waldur_calls[3].on_failure.as_deref(),
        Some("/api/marketplace-orders/dd000000000000000000000000000001/set_state_erred/")
    );
    assert_eq!(
        d.waldur_calls[2].body,
        Some(serde_json::json!({"limits": {"cpu": 10, "mem": 10}}))
    );
}

#[test]
fn empty_slug_errs_the_create_order() {
    let r = resource(&NEW.replace("\"customer-1\"", "\"\""));
    let order: Order = serde_json::from_str(
        r#"{"uuid": "dd000000000000000000000000000001", "type": "Create", "state": "executing", "marketplace_resource_uuid": "aa000000000000000000000000000001"}"#,
    )
    .unwrap();
    let d = build(&config(), &docs(vec![r], vec![order]));
    assert!(d.accounts.is_empty());
    assert_eq!(d.waldur_calls.len(), 1);
    let erred = &d.waldur_calls[0];
    assert_eq!(
        erred.path,
        "/api/marketplace-orders/dd000000000000000000000000000001/set_state_erred/"
    );
    assert!(erred.body.as_ref().unwrap()["error_message"]
        .as_str()
        .unwrap()
        .contains("unset or missing slug fields"));
    assert!(d.diagnostics[0]
        .text
        .contains("unset or missing slug fields"));
}

#[test]
fn bad_usernames_never_become_commands() {
    let r = resource(
        &NEW.replace("\"Creating\"", "\"OK\"")
            .replace("\"backend_id\": \"\"", "\"backend_id\": \"hpc_x\""),
    );
    let mut d = docs(vec![r], vec![]);
    d.teams.values_mut().next().unwrap()[0].offering_user_username = Some("bob; rm -rf".into());
    let out = build(&config(), &d);
    assert!(out.associations.is_empty());
    assert!(out.diagnostics.iter().any(|x| x.code == "invalid_name"));
    // Who that member is in SLURM is unknown: nobody is removed on its grounds.
    assert!(out.keep_users.contains("hpc_x"));
}

#[test]
fn offering_user_states_decide_membership_and_an_unknown_one_keeps_the_users() {
    let r = resource(
        &NEW.replace("\"Creating\"", "\"OK\"")
            .replace("\"backend_id\": \"\"", "\"backend_id\": \"hpc_x\""),
    );
    let with_state = |state: &str| {
        let mut d = docs(vec![r.clone()], vec![]);
        d.teams.values_mut().next().unwrap()[0].offering_user_state = Some(state.into());
        build(&config(), &d)
    };
    let ok = with_state("OK");
    assert_eq!(ok.associations.len(), 1);
    for gone in [
        "Deleted",
        "Requested",
        "Error creating",
        "Pending account linking",
    ] {
        let out = with_state(gone);
        assert!(out.associations.is_empty(), "{gone}");
        assert!(!out.keep_users.contains("hpc_x"), "{gone}");
    }
    let odd = with_state("Approved");
    assert!(odd.associations.is_empty());
    assert!(odd.keep_users.contains("hpc_x"));
    assert!(odd
        .diagnostics
        .iter()
        .any(|x| x.code == "unknown_offering_user_state"));
}

#[test]
fn odd_orders_load_and_are_skipped() {
    let orders: Vec<Order> = serde_json::from_str(
        r#"[{"uuid": "dd000000000000000000000000000001", "type": "Migrate", "state": "executing", "marketplace_resource_uuid": "aa000000000000000000000000000001"},
            {"uuid": "dd000000000000000000000000000002", "type": "Create", "state": "pending-wibble", "marketplace_resource_uuid": "aa000000000000000000000000000001"}]"#,
    )
    .unwrap();
    let d = build(&config(), &docs(vec![resource(NEW)], orders));
    let texts: Vec<_> = d.diagnostics.iter().map(|x| x.text.as_str()).collect();
    assert_eq!(
        texts,
        [r#"order dd000000000000000000000000000001 has unknown type "Migrate"; skipped"#]
    );
    assert!(d.accounts.is_empty());
}

#[test]
fn a_limit_that_would_lift_the_cap_is_an_error_not_unlimited() {
    // A Create order with a negative limit is erred, nothing is created.
    let order: Order = serde_json::from_str(
        r#"{"uuid": "dd000000000000000000000000000001", "type": "Create", "state": "executing", "marketplace_resource_uuid": "aa000000000000000000000000000001"}"#,
    )
    .unwrap();
    let bad = resource(&NEW.replace(r#""cpu": 10"#, r#""cpu": -5"#));
    let out = build(&config(), &docs(vec![bad], vec![order]));
    assert!(out.accounts.is_empty());
    let erred = out
        .waldur_calls
        .iter()
        .find(|c| c.path.ends_with("set_state_erred/"))
        .expect("order erred");
    assert!(erred.body.as_ref().unwrap()["error_message"]
        .as_str()
        .unwrap()
        .contains("limit cpu=-5: negative"));
    assert!(!out
        .waldur_calls
        .iter()
        .any(|c| c.path.ends_with("set_state_done/")));

    // A live resource with a non-numeric limit keeps SLURM's limits: no GrpTRESMins managed.
    let live = resource(
        &NEW.replace("\"Creating\"", "\"OK\"")
            .replace("\"backend_id\": \"\"", "\"backend_id\": \"hpc_x\"")
            .replace(r#""cpu": 10"#, r#""cpu": "lots""#),
    );
    let out = build(&config(), &docs(vec![live], vec![]));
    let spec = &out.accounts["hpc_x"];
    assert!(!spec.fields.contains_key(&AccountField::GrpTresMins));
    assert!(out.diagnostics.iter().any(|d| d.code == "invalid_limit"));
}

#[test]
fn a_limit_component_waldur_does_not_name_is_left_to_slurm() {
    // cpu is a limit component; a live resource whose limits leave it out keeps SLURM's
    // cpu cap: the planner is told not to clear it, and the plan says why.
    let live = resource(
        &NEW.replace("\"Creating\"", "\"OK\"")
            .replace("\"backend_id\": \"\"", "\"backend_id\": \"hpc_x\"")
            .replace(r#""cpu": 10, "#, ""),
    );
    let out = build(&config(), &docs(vec![live], vec![]));
    let Some(Value::Tres(m)) = out.accounts["hpc_x"].fields.get(&AccountField::GrpTresMins) else {
        panic!("GrpTRESMins managed");
    };
    assert!(!m.contains_key("cpu"), "{m:?}");
    assert_eq!(out.unnamed_limits["hpc_x"], ["cpu".to_string()].into());
    assert!(out.diagnostics.iter().any(|d| d.code == "limit_not_named"));
}

#[test]
fn homes_for_members_and_a_project_directory_per_allocation() {
    let mut cfg = config();
    let loaded = agent_config::load_str(
        "t.yaml",
        r#"
offerings:
  - name: t
    waldur_api_url: http://localhost/api/
    waldur_api_token: x
    waldur_offering_uuid: "00000000000000000000000000000001"
    backend_type: slurm
    membership_sync_backend: slurm
    backend_settings:
      default_account: root
      homedir_base_path: /home
      homedir_quota: {provider: xfs, mount_point: /home, block_hardlimit: 1t}
      project_directory: {enabled: true, base_path: /proj}
    backend_components:
      cpu: {measured_unit: k-Hours, unit_factor: 60000, accounting_type: limit, label: CPU}
"#,
        None,
        None,
    )
    .unwrap();
    cfg.slurm.storage = loaded.config.offerings[0].slurm.storage.clone();
    let order: Order = serde_json::from_str(
        r#"{"uuid": "dd000000000000000000000000000001", "type": "Create", "state": "pending-provider", "marketplace_resource_uuid": "aa000000000000000000000000000001"}"#,
    )
    .unwrap();
    let d = build(&cfg, &docs(vec![resource(NEW)], vec![order]));
    let home = &d.storage.homes["test-offering-user-01"];
    assert_eq!(home.base.as_deref(), Some("/home"));
    assert_eq!(home.umask, 0o077);
    assert_eq!(
        home.accounts.iter().collect::<Vec<_>>(),
        ["hpc_sample-resource-1"]
    );
    let q = home.quota.as_ref().unwrap();
    assert_eq!(
        q.limits[&agent_reconcile::storage::QuotaField::BlockHard],
        1 << 30
    );
    let names: Vec<_> = d.storage.projects.keys().collect();
    assert_eq!(names, ["hpc_sample-resource-1"], "one per allocation only");
    let p = &d.storage.projects["hpc_sample-resource-1"];
    assert_eq!(p.path(), "/proj/hpc_sample-resource-1");
    assert_eq!(
        (p.owner.as_str(), p.group.as_str()),
        ("nobody", "hpc_sample-resource-1")
    );
    assert_eq!(p.mode, 0o2770);
    assert!(p.acl && p.quota.is_none());
}

#[test]
fn a_list_that_repeats_an_item_is_not_a_consistent_read() {
    let r = resource(NEW);
    let mut d = docs(vec![r.clone()], vec![]);
    assert_eq!(d.consistent("00000000000000000000000000000001"), Ok(()));
    assert!(d
        .consistent("00000000000000000000000000000002")
        .unwrap_err()
        .contains("not 00000000000000000000000000000002"));
    d.resources.push(r);
    assert!(d
        .consistent("00000000000000000000000000000001")
        .unwrap_err()
        .contains("listed twice"));
}

#[test]
fn a_resource_of_another_offering_is_not_a_consistent_read() {
    let mut r = resource(NEW);
    r.offering_uuid = Some("00000000000000000000000000000001".into());
    let mut d = docs(vec![r.clone()], vec![]);
    assert_eq!(d.consistent("00000000000000000000000000000001"), Ok(()));
    r.uuid = "aa000000000000000000000000000002".into();
    r.offering_uuid = Some("00000000000000000000000000000009".into());
    d.resources.push(r);
    assert!(d
        .consistent("00000000000000000000000000000001")
        .unwrap_err()
        .contains("is of offering 00000000000000000000000000000009"));
}
