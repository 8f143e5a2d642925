//! The daemon in-process, on the in-memory systems and a paused tokio clock: several
//! cycles with an order, drift made by hand, a failing change requeued with backoff, a
//! wake-up, and a shutdown, in well under a second of real time.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_desired::WaldurDocs;
use agent_observed::answers::FailureClass;
use agent_reconcile::state::AssocKey;
use agent_reconcile::testkit;
use serde_json::json;
use waldur_slurm_agent::cycle::Pass;
use waldur_slurm_agent::daemon::{self, Clock, Daemon, Settings, Wake};
use waldur_slurm_agent::periodic::{self, Periodic};
use waldur_slurm_agent::sides::memory::{MemorySlurm, MemoryWaldur};
use waldur_slurm_agent::sides::Sides;

const OFFERING: &str = "0ff00000000000000000000000000001";

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
    backend_components:
      cpu: {{measured_unit: k-Hours, unit_factor: 60000, accounting_type: limit, label: CPU}}
agent:
  cycle_interval: 5m
"#
    );
    agent_config::load_str("daemon-test.yaml", &yaml, None, None)
        .expect("valid config")
        .config
}

fn resource(uuid: &str, slug: &str, backend_id: &str, state: &str) -> serde_json::Value {
    json!({
        "uuid": uuid, "name": format!("Alloc {slug}"), "slug": slug, "state": state,
        "backend_id": backend_id, "project_uuid": "b0000000000000000000000000000001",
        "project_slug": "proj", "project_name": "Project", "customer_slug": "cust",
        "customer_name": "Customer", "limits": {"cpu": 10}, "paused": false, "downscaled": false,
        "restrict_member_access": false, "attributes": {}, "offering_plugin_options": {},
        "backend_metadata": {}
    })
}

fn member(username: &str) -> serde_json::Value {
    json!({"username": username, "offering_user_username": username, "offering_user_state": "OK"})
}

fn docs() -> WaldurDocs {
    let resources = json!([
        resource("e0000000000000000000000000000001", "one", "a_one", "OK"),
        resource("e0000000000000000000000000000002", "two", "", "Creating"),
    ]);
    let team = json!([member("ann"), member("bob")]);
    let orders = json!([{
        "uuid": "d0000000000000000000000000000001", "type": "Create", "state": "pending-provider",
        "marketplace_resource_uuid": "e0000000000000000000000000000002", "limits": {"cpu": 10}
    }]);
    WaldurDocs {
        offering: serde_json::from_value(json!({"uuid": OFFERING, "name": "mem"})).unwrap(),
        resources: serde_json::from_value(resources).unwrap(),
        teams: [
            "e0000000000000000000000000000001",
            "e0000000000000000000000000000002",
        ]
        .into_iter()
        .map(|r| (r.to_string(), serde_json::from_value(team.clone()).unwrap()))
        .collect(),
        orders: serde_json::from_value(orders).unwrap(),
        user_limits: None,
        policies: vec![],
        usages: Default::default(),
    }
}

struct FixedClock;

impl Clock for FixedClock {
    fn now(&self) -> jiff::Timestamp {
        "2026-11-15T12:00:00Z".parse().unwrap()
    }
}

#[tokio::test(start_paused = true)]
async fn cycles_drift_failures_wakeups_and_shutdown() {
    let started = std::time::Instant::now();
    let config = config();
    let slurm = Arc::new(MemorySlurm::new(testkit::cluster(
        "c1",
        &["cpu"],
        &["normal"],
    )));
    let waldur = Arc::new(MemoryWaldur::new(BTreeMap::from([(
        OFFERING.to_string(),
        docs(),
    )])));
    let state = tempfile::tempdir().unwrap();
    let sides = Sides {
        waldur: waldur.clone(),
        waldur_writes: Some(waldur.clone()),
        slurm: slurm.clone(),
        slurm_writes: Some(slurm.clone()),
        storage: None,
        storage_writes: None,
        periodic: Periodic::files(
            state.path(),
            periodic::Clock::fixed("UTC", "2026-11-15T12:00:00Z".parse().unwrap()).unwrap(),
        ),
    };
    let passes: Mutex<Vec<serde_json::Value>> = Mutex::new(Vec::new());
    let observer = |p: &Pass| passes.lock().unwrap().push(p.summary());
    let d = Daemon {
        config: &config,
        sides: &sides,
        clock: &FixedClock,
        settings: Settings {
            report_usage: false,
            ..Settings::from_config(&config)
        },
        observer: &observer,
        state: None,
    };
    let (wake, wakes) = daemon::wake_channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let minute = Duration::from_secs(60);
    let ann_two = AssocKey::new("a_two", "ann", "");
    let script = async {
        // Cycle 1 at once: the tree, both allocations, the order approved and done.
        tokio::time::sleep(minute).await;
        let state = slurm.state();
        for account in ["c_cust", "p_proj", "a_one", "a_two"] {
            assert!(state.accounts.contains_key(account), "{account} missing");
        }
        assert!(state.associations.contains_key(&ann_two));
        let paths: Vec<String> = waldur.calls().into_iter().map(|c| c.path).collect();
        assert!(paths.iter().any(|p| p.ends_with("approve_by_provider/")));
        assert!(paths.iter().any(|p| p.ends_with("set_state_done/")));

        // Drift by hand, and the repair fails once (database busy): requeued after 10 s,
        // not after the whole 5-minute interval.
        slurm.edit(|o| {
            o.associations.remove(&ann_two);
        });
        slurm.fail(
            "association/a_two/ann",
            FailureClass::Retryable,
            "Database is busy or waiting for lock from other user.",
            1,
        );
        tokio::time::sleep(4 * minute + Duration::from_secs(5)).await; // cycle 2 at 5:00
        assert!(!slurm.state().associations.contains_key(&ann_two));
        tokio::time::sleep(Duration::from_secs(15)).await; // the requeue at 5:10
        assert!(
            slurm.state().associations.contains_key(&ann_two),
            "requeue repaired it"
        );

        // A new member, announced by a wake-up: applied within the debounce, long before
        // the next interval.
        waldur.edit(OFFERING, |d| {
            for team in d.teams.values_mut() {
                team.push(serde_json::from_value(member("cat")).unwrap());
            }
        });
        for _ in 0..50 {
            wake.wake(Wake::Offering(OFFERING.to_string()));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(slurm
            .state()
            .associations
            .contains_key(&AssocKey::new("a_one", "cat", "")));

        // Two quiet cycles, then stop.
        tokio::time::sleep(10 * minute).await;
        stop_tx.send(()).unwrap();
    };
    let stop = async {
        let _ = stop_rx.await;
    };
    let (exit, ()) = tokio::join!(d.run(stop, wakes), script);

    let passes = passes.lock().unwrap();
    // 0:00, 5:00, the requeue, one wake-up pass for the burst of 50, 10:00, 15:00.
    assert_eq!(exit.passes, 6, "{passes:#?}");
    assert_eq!(passes.len(), 6);
    let retryable = passes[1]["groups"][0]["outcome"]["failed_retryable"].as_u64();
    assert_eq!(retryable, Some(1), "{:#}", passes[1]);
    for quiet in &passes[4..] {
        assert_eq!(quiet["groups"][0]["planned"]["create"], 0, "{quiet:#}");
    }
    assert_eq!(exit.last_problems, 0);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );
}

/// A wake-up naming one resource re-reads and re-plans that resource only: drift on
/// another allocation waits for the next full pass.
#[tokio::test(start_paused = true)]
async fn a_resource_wake_up_is_a_scoped_pass() {
    let config = config();
    let slurm = Arc::new(MemorySlurm::new(testkit::cluster(
        "c1",
        &["cpu"],
        &["normal"],
    )));
    let mut d = docs();
    d.orders.clear();
    let mut other = resource("e0000000000000000000000000000003", "three", "a_three", "OK");
    other["project_uuid"] = json!("b0000000000000000000000000000002");
    other["project_slug"] = json!("proj2");
    d.resources = vec![
        serde_json::from_value(resource(
            "e0000000000000000000000000000001",
            "one",
            "a_one",
            "OK",
        ))
        .unwrap(),
        serde_json::from_value(other).unwrap(),
    ];
    let team: Vec<agent_desired::waldur::TeamMember> =
        serde_json::from_value(json!([member("ann")])).unwrap();
    d.teams = [
        "e0000000000000000000000000000001",
        "e0000000000000000000000000000003",
    ]
    .into_iter()
    .map(|r| (r.to_string(), team.clone()))
    .collect();
    let waldur = Arc::new(MemoryWaldur::new(BTreeMap::from([(
        OFFERING.to_string(),
        d,
    )])));
    let state = tempfile::tempdir().unwrap();
    let sides = Sides {
        waldur: waldur.clone(),
        waldur_writes: Some(waldur.clone()),
        slurm: slurm.clone(),
        slurm_writes: Some(slurm.clone()),
        storage: None,
        storage_writes: None,
        periodic: Periodic::files(
            state.path(),
            periodic::Clock::fixed("UTC", "2026-11-15T12:00:00Z".parse().unwrap()).unwrap(),
        ),
    };
    let passes: Mutex<Vec<serde_json::Value>> = Mutex::new(Vec::new());
    let observer = |p: &Pass| passes.lock().unwrap().push(p.summary());
    let daemon = Daemon {
        config: &config,
        sides: &sides,
        clock: &FixedClock,
        settings: Settings {
            report_usage: false,
            ..Settings::from_config(&config)
        },
        observer: &observer,
        state: None,
    };
    let (wake, wakes) = daemon::wake_channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let ann_three = AssocKey::new("a_three", "ann", "");
    let script = async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(slurm.state().associations.contains_key(&ann_three));
        // Drift on a_three; a new member on one.
        slurm.edit(|o| {
            o.associations.remove(&ann_three);
        });
        waldur.edit(OFFERING, |d| {
            let t = d.teams.get_mut("e0000000000000000000000000000001").unwrap();
            t.push(serde_json::from_value(member("cat")).unwrap());
        });
        for _ in 0..100 {
            wake.wake(Wake::Resource {
                offering: OFFERING.into(),
                resource: "e0000000000000000000000000000001".into(),
            });
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let state = slurm.state();
        assert!(state
            .associations
            .contains_key(&AssocKey::new("a_one", "cat", "")));
        assert!(
            !state.associations.contains_key(&ann_three),
            "outside the scope: left to the full pass"
        );
        tokio::time::sleep(Duration::from_secs(300)).await;
        assert!(slurm.state().associations.contains_key(&ann_three));
        stop_tx.send(()).unwrap();
    };
    let stop = async {
        let _ = stop_rx.await;
    };
    let (exit, ()) = tokio::join!(daemon.run(stop, wakes), script);
    let passes = passes.lock().unwrap();
    // The full pass at 0:00, one scoped pass for the burst of 100, the full pass at 5:00.
    assert_eq!(exit.passes, 3, "{passes:#?}");
    let scoped: Vec<bool> = passes
        .iter()
        .map(|p| p["groups"][0]["scoped"].as_bool().unwrap())
        .collect();
    assert_eq!(scoped, [false, true, false]);
    assert_eq!(
        passes[1]["groups"][0]["planned"]["create"], 1,
        "{:#}",
        passes[1]
    );
}
