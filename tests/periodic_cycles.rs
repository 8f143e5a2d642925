//! Periodic limits over many passes, in process (memory SLURM and Waldur, the real stored
//! settings and reset record in a temporary directory, a clock set by the test): the echo
//! loop setup stays still; resets happen once per period, across "restarts" (a new
//! process is a new set of sides over the same directory), re-sent messages and period
//! changes; a reset left over from an old period is never applied in a new one.

use std::collections::BTreeMap;
use std::sync::Arc;

use agent_desired::periodic::StoredSettings;
use agent_desired::WaldurDocs;
use agent_observed::answers::FailureClass;
use agent_reconcile::testkit;
use serde_json::{json, Value};
use waldur_slurm_agent::cycle::{self, Pass, PassOptions};
use waldur_slurm_agent::groups;
use waldur_slurm_agent::periodic::{Clock, FileSettings, Periodic};
use waldur_slurm_agent::sides::memory::{MemorySlurm, MemoryWaldur};
use waldur_slurm_agent::sides::Sides;

const OFFERING: &str = "0ff00000000000000000000000000002";
const RESOURCE: &str = "e0000000000000000000000000000009";
const POLICY: &str = "91ab0000000000000000000000000009";

fn config() -> agent_config::Config {
    let yaml = format!(
        r#"
offerings:
  - name: mem
    waldur_api_url: http://127.0.0.1:9/api/
    waldur_api_token: t
    waldur_offering_uuid: "{OFFERING}"
    backend_type: slurm
    order_processing_backend: slurm
    membership_sync_backend: slurm
    backend_settings:
      cluster_name: c1
      default_account: root
      customer_prefix: c_
      project_prefix: p_
      allocation_prefix: a_
      enable_user_homedir_account_creation: false
      periodic_limits: {{enabled: true}}
    backend_components:
      node: {{measured_unit: Node-hours, unit_factor: 60, accounting_type: limit, label: Node}}
"#
    );
    agent_config::load_str("periodic-cycles.yaml", &yaml, None, None)
        .expect("valid config")
        .config
}

/// The §4.7 echo-loop numbers: node = 18800 h, grace 0.3, no billing, no carry-over.
fn docs() -> WaldurDocs {
    let resource = json!({
        "uuid": RESOURCE, "name": "Alloc", "slug": "alloc", "state": "OK", "backend_id": "a_x",
        "project_uuid": "b0000000000000000000000000000009", "project_slug": "proj",
        "project_name": "Project", "customer_slug": "cust", "customer_name": "Customer",
        "limits": {"node": 18800}, "paused": false, "downscaled": false,
        "restrict_member_access": false, "backend_metadata": {"qos": "normal"}
    });
    let policy = json!({"uuid": POLICY, "scope_uuid": OFFERING, "period": 3, "grace_ratio": 0.3,
                        "tres_billing_enabled": false, "carryover_enabled": false});
    WaldurDocs {
        offering: serde_json::from_value(json!({"uuid": OFFERING, "name": "mem"})).unwrap(),
        resources: vec![serde_json::from_value(resource).unwrap()],
        teams: BTreeMap::from([(RESOURCE.to_string(), vec![])]),
        orders: vec![],
        user_limits: None,
        policies: vec![serde_json::from_value(policy).unwrap()],
        usages: Default::default(),
    }
}

struct World {
    config: agent_config::Config,
    slurm: Arc<MemorySlurm>,
    waldur: Arc<MemoryWaldur>,
    state: tempfile::TempDir,
}

impl World {
    fn new() -> World {
        let cluster = testkit::cluster("c1", &["cpu", "node", "billing"], &["normal"]);
        World {
            config: config(),
            slurm: Arc::new(MemorySlurm::new(cluster)),
            waldur: Arc::new(MemoryWaldur::new(BTreeMap::from([(
                OFFERING.to_string(),
                docs(),
            )]))),
            state: tempfile::tempdir().unwrap(),
        }
    }

    /// A fresh set of sides over the same state directory: what a restarted agent sees.
    fn sides(&self, now: &str) -> Sides {
        Sides {
            waldur: self.waldur.clone(),
            waldur_writes: Some(self.waldur.clone()),
            slurm: self.slurm.clone(),
            slurm_writes: Some(self.slurm.clone()),
            storage: None,
            storage_writes: None,
            periodic: Periodic::files(
                self.state.path(),
                Clock::fixed("UTC", now.parse().unwrap()).unwrap(),
            ),
        }
    }

    /// One pass, verified, with nothing left.
    async fn pass(&self, now: &str) -> Pass {
        let pass = self.run(now, true).await;
        assert_eq!(pass.problems(true), 0, "{}", pass.summary());
        pass
    }

    async fn run(&self, now: &str, verify: bool) -> Pass {
        let groups = groups::groups(&self.config, None).unwrap();
        let options = PassOptions {
            apply: true,
            mode: agent_config::ApplyMode::PerChange,
            allow_mass_delete: false,
            verify,
            progress: None,
            state: None,
        };
        cycle::reconcile(&self.config, &self.sides(now), &groups, &options).await
    }

    /// A Q1 message asking for a reset (received at `received`), whose reset fails once.
    fn reset_failing_once(&self, timestamp: &str, received: &str) {
        self.publish(timestamp, received, json!({"reset_raw_usage": true}));
        self.slurm.fail(
            "raw_usage/a_x/2026-Q1",
            FailureClass::Retryable,
            "Database is busy",
            1,
        );
    }

    /// Stores a message as the listener would, received at `received`.
    fn publish(&self, timestamp: &str, received: &str, settings: Value) {
        let message = json!({"resource_uuid": RESOURCE, "backend_id": "a_x", "policy_uuid": POLICY,
                             "action": "apply_periodic_settings", "timestamp": timestamp,
                             "settings": settings});
        let stored = StoredSettings::from_message(&message, received).unwrap();
        FileSettings::new(self.state.path()).put(&stored).unwrap();
    }

    /// The SLURM changes applied so far whose address starts with `prefix`.
    fn applied(&self, prefix: &str) -> Vec<String> {
        self.slurm
            .applied()
            .into_iter()
            .filter(|a| a.starts_with(prefix))
            .collect()
    }

    fn reports(&self) -> Vec<Value> {
        self.waldur
            .calls()
            .into_iter()
            .filter(|c| c.path.contains("report-command-result"))
            .map(|c| c.body.unwrap())
            .collect()
    }
}

fn node_limit(w: &World) -> Option<u64> {
    w.slurm.state().accounts["a_x"]
        .grp_tres_mins
        .get("node")
        .copied()
}

const APRIL: &str = "2026-04-15T12:00:00Z";

#[tokio::test]
async fn the_echo_loop_setup_stays_still_for_ten_cycles() {
    let w = World::new();
    for cycle in 1..=10 {
        w.pass(APRIL).await;
        assert_eq!(node_limit(&w), Some(1_466_400), "cycle {cycle}");
    }
    assert_eq!(w.applied("periodic/").len(), 1, "written once");
    let calls = w.waldur.calls();
    assert!(
        calls.iter().all(|c| !c.path.contains("set_limits")),
        "{calls:?}"
    );
    assert_eq!(w.reports().len(), 1);
    let mut limits = None;
    w.waldur
        .edit(OFFERING, |d| limits = Some(d.resources[0].limits.clone()));
    let limits: serde_json::Map<String, Value> = limits.unwrap().into_iter().collect();
    assert_eq!(Value::Object(limits), json!({"node": 18800}));
    // SLURM drifts by hand: the policy's value comes back, Waldur still untouched.
    w.slurm.edit(|o| {
        o.accounts
            .get_mut("a_x")
            .unwrap()
            .grp_tres_mins
            .insert("node".into(), 1);
    });
    w.pass(APRIL).await;
    assert_eq!(node_limit(&w), Some(1_466_400));
    assert!(w
        .waldur
        .calls()
        .iter()
        .all(|c| !c.path.contains("set_limits")));
}

#[tokio::test]
async fn resets_happen_once_per_period_across_restarts_messages_and_period_changes() {
    let w = World::new();
    let settings =
        json!({"fairshare": 6266, "grp_tres_mins": {"node": 1466400}, "reset_raw_usage": true});
    // Q1: Mastermind's first message of the period asks for a reset.
    w.publish(
        "2026-01-01T00:10:00",
        "2026-01-01T00:10:01Z",
        settings.clone(),
    );
    w.pass("2026-01-01T00:15:00Z").await;
    assert_eq!(w.applied("raw_usage/"), ["raw_usage/a_x/2026-Q1"]);
    // Restarts, and the same message re-sent: nothing more.
    w.pass("2026-01-01T00:20:00Z").await;
    w.publish(
        "2026-01-01T00:20:00",
        "2026-01-01T00:20:01Z",
        settings.clone(),
    );
    w.pass("2026-02-10T00:00:00Z").await;
    assert_eq!(w.applied("raw_usage/").len(), 1);
    // Q2 starts and its message is lost: the stored one is from Q1, so the settings are
    // computed, and the reset of the new period is made once.
    w.pass("2026-04-01T00:05:00Z").await;
    w.pass("2026-04-01T00:10:00Z").await;
    assert_eq!(
        w.applied("raw_usage/"),
        ["raw_usage/a_x/2026-Q1", "raw_usage/a_x/2026-Q2"]
    );
    // The late message of Q2 still asks for a reset: already done.
    w.publish(
        "2026-04-01T00:30:00",
        "2026-04-01T00:30:01Z",
        settings.clone(),
    );
    w.pass("2026-04-02T00:00:00Z").await;
    assert_eq!(w.applied("raw_usage/").len(), 2);
    let reset_reports = w
        .reports()
        .iter()
        .filter(|r| r["commands_executed"].to_string().contains("RawUsage=0"))
        .count();
    assert_eq!(reset_reports, 2);
}

#[tokio::test]
async fn a_failed_reset_is_reported_and_retried_in_the_same_period() {
    let w = World::new();
    w.reset_failing_once("2026-03-31T00:10:00", "2026-03-31T00:10:01Z");
    let pass = w.run("2026-03-31T00:15:00Z", false).await;
    assert_eq!(pass.groups[0].tally().failed_retryable, 1);
    let report = w.reports().last().cloned().unwrap();
    assert_eq!(report["success"], false);
    assert!(
        report["error_message"]
            .as_str()
            .unwrap()
            .contains("Database is busy"),
        "{report}"
    );
    w.pass("2026-03-31T00:20:00Z").await;
    assert_eq!(w.applied("raw_usage/"), ["raw_usage/a_x/2026-Q1"]);
    assert_eq!(w.reports().last().unwrap()["success"], true);
}

#[tokio::test]
async fn a_reset_of_an_old_period_is_never_applied_in_a_new_one() {
    let w = World::new();
    w.reset_failing_once("2026-03-31T23:00:00", "2026-03-31T23:00:01Z");
    w.run("2026-03-31T23:30:00Z", false).await;
    assert!(w.applied("raw_usage/").is_empty());
    // The quarter ends before the next try: Q1's reset is dropped; Q2's is made once
    // (the stored message is from Q1, so the period did change).
    w.pass("2026-04-01T00:30:00Z").await;
    w.pass("2026-04-01T00:35:00Z").await;
    assert_eq!(w.applied("raw_usage/"), ["raw_usage/a_x/2026-Q2"]);
}
