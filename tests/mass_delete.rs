//! The mass-delete guard counts the deletions of every cluster group before any group
//! is applied: two groups each within `agent.max_deletions` but over it together are
//! refused whole, and nothing (SLURM or Waldur) is changed.

use std::collections::BTreeMap;
use std::sync::Arc;

use agent_desired::WaldurDocs;
use agent_reconcile::state::{AccountValues, AssocKey};
use agent_reconcile::testkit;
use serde_json::json;
use waldur_slurm_agent::cycle::{self, PassOptions};
use waldur_slurm_agent::groups;
use waldur_slurm_agent::sides::memory::{MemorySlurm, MemoryWaldur};
use waldur_slurm_agent::sides::Sides;

const ONE: &str = "0ff00000000000000000000000000001";
const TWO: &str = "0ff00000000000000000000000000002";

/// Two offerings on two SLURM targets (other sacctmgr paths, same cluster name).
fn config() -> agent_config::Config {
    let offering = |uuid: &str, bin: &str| {
        format!(
            r#"  - name: o{uuid}
    waldur_api_url: http://127.0.0.1:9/api/
    waldur_api_token: t
    waldur_offering_uuid: "{uuid}"
    backend_type: slurm
    order_processing_backend: slurm
    membership_sync_backend: slurm
    backend_settings:
      cluster_name: c1
      slurm_bin_path: "{bin}"
      enable_user_homedir_account_creation: false
      default_account: root
      customer_prefix: c_
      project_prefix: p_
      allocation_prefix: a_
    backend_components:
      cpu: {{measured_unit: k-Hours, unit_factor: 60000, accounting_type: limit, label: CPU}}
"#
        )
    };
    let yaml = format!(
        "offerings:\n{}{}agent:\n  max_deletions: 1\n",
        offering(ONE, "/usr/bin"),
        offering(TWO, "/opt/slurm/bin")
    );
    agent_config::load_str("mass.yaml", &yaml, None, None)
        .expect("valid config")
        .config
}

/// An offering whose one allocation `account` Waldur terminates.
fn terminating(offering: &str, n: u8, account: &str) -> WaldurDocs {
    let resource = format!("e00000000000000000000000000000{n:02}");
    let docs = json!({
        "offering": {"uuid": offering, "name": "o"},
        "resources": [{
            "uuid": resource, "name": account, "slug": account, "state": "Terminating",
            "backend_id": account, "project_uuid": "b0000000000000000000000000000001",
            "project_slug": "proj", "project_name": "Project", "customer_slug": "cust",
            "customer_name": "Customer", "limits": {"cpu": 1}, "paused": false,
            "downscaled": false, "restrict_member_access": false
        }],
        "orders": [{
            "uuid": format!("d00000000000000000000000000000{n:02}"), "type": "Terminate",
            "state": "executing", "marketplace_resource_uuid": resource
        }]
    });
    WaldurDocs {
        offering: serde_json::from_value(docs["offering"].clone()).unwrap(),
        resources: serde_json::from_value(docs["resources"].clone()).unwrap(),
        teams: BTreeMap::new(),
        orders: serde_json::from_value(docs["orders"].clone()).unwrap(),
        user_limits: None,
        policies: Vec::new(),
        usages: Default::default(),
    }
}

#[tokio::test]
async fn deletions_are_counted_over_every_group_before_any_is_applied() {
    let config = config();
    let mut observed = testkit::cluster("c1", &["cpu"], &["normal"]);
    for (name, parent) in [
        ("c_cust", "root"),
        ("p_proj", "c_cust"),
        ("a_x", "p_proj"),
        ("a_y", "p_proj"),
    ] {
        observed
            .accounts
            .insert(name.into(), AccountValues::new_default(name, parent));
    }
    for account in ["a_x", "a_y"] {
        observed.associations.insert(
            AssocKey::new(account, "ann", ""),
            testkit::plain_association(),
        );
    }
    let slurm = Arc::new(MemorySlurm::new(observed.clone()));
    let waldur = Arc::new(MemoryWaldur::new(BTreeMap::from([
        (ONE.to_string(), terminating(ONE, 1, "a_x")),
        (TWO.to_string(), terminating(TWO, 2, "a_y")),
    ])));
    let state = tempfile::tempdir().unwrap();
    let sides = Sides {
        waldur: waldur.clone(),
        waldur_writes: Some(waldur.clone()),
        slurm: slurm.clone(),
        slurm_writes: Some(slurm.clone()),
        storage: None,
        storage_writes: None,
        periodic: waldur_slurm_agent::periodic::Periodic::files(
            state.path(),
            waldur_slurm_agent::periodic::Clock::system("UTC").unwrap(),
        ),
    };
    let groups = groups::groups(&config, None).unwrap();
    assert_eq!(groups.len(), 2, "two SLURM targets, two groups");
    let options = PassOptions {
        apply: true,
        mode: config.agent.apply_mode,
        allow_mass_delete: false,
        verify: true,
        progress: None,
        state: None,
    };
    let pass = cycle::reconcile(&config, &sides, &groups, &options).await;
    for g in &pass.groups {
        assert_eq!(
            g.plan.as_ref().unwrap().deletions(),
            1,
            "each group alone is within the limit"
        );
    }
    let refused = pass.refused.expect("refused over both groups");
    assert!(
        refused.contains("deletes 2 objects, more than agent.max_deletions (1)"),
        "{refused}"
    );
    assert!(
        slurm.applied().is_empty(),
        "nothing changed in SLURM: {:?}",
        slurm.applied()
    );
    assert_eq!(slurm.state(), observed);
    assert!(
        waldur.calls().is_empty(),
        "nothing sent to Waldur: {:?}",
        waldur.calls()
    );

    // With --allow-mass-delete both go.
    let pass = cycle::reconcile(
        &config,
        &sides,
        &groups,
        &PassOptions {
            allow_mass_delete: true,
            ..options
        },
    )
    .await;
    assert!(pass.refused.is_none());
    let state = slurm.state();
    assert!(!state.accounts.contains_key("a_x") && !state.accounts.contains_key("a_y"));
}
