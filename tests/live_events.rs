//! End to end with events: `agent run` as a process, the fake Waldur (in this process)
//! publishing into the real test RabbitMQ, and the real test cluster. The cycle interval
//! is long, so what reaches SLURM within seconds came through the event stream. Prints
//! the latency from publish to the SLURM change.

mod support;

use std::time::{Duration, Instant};

use fake_waldur::{Broker, NewEvent, NewOrder, Seed};
use serde_json::{json, Value};
use support::events::*;
use support::*;

const PROJECT: &str = "b0000000000000000000000000000001";
const RESOURCE: &str = "e0000000000000000000000000000001";
const CAROL: &str = "a0000000000000000000000000000003";

fn seed(prefix: &str) -> Seed {
    let user = |n: u32, name: &str| json!({"uuid": format!("a00000000000000000000000000000{n:02}"), "username": name});
    serde_json::from_value(json!({
        "users": [
            {"uuid": "a0000000000000000000000000000099", "username": "agent", "is_staff": true, "token": TOKEN},
            user(1, "alice"), user(2, "bob"), user(3, "carol")
        ],
        "customers": [{"uuid": "c0000000000000000000000000000001", "name": "Physics Dept", "slug": "cust"}],
        "projects": [{"uuid": PROJECT, "name": "Quarks", "slug": "proj",
                      "customer": "c0000000000000000000000000000001",
                      "members": [{"user": "a0000000000000000000000000000001", "role": "PROJECT.MEMBER"},
                                  {"user": "a0000000000000000000000000000002", "role": "PROJECT.MEMBER"}]}],
        "offerings": [{"uuid": OFFERING, "name": "Cluster", "customer": "c0000000000000000000000000000001",
                       "components": [{"type": "cpu", "measured_unit": "k-Hours", "billing_type": "limit"}]}],
        "offering_users": [
            {"offering": OFFERING, "user": "a0000000000000000000000000000001", "username": format!("{prefix}alice")},
            {"offering": OFFERING, "user": "a0000000000000000000000000000002", "username": format!("{prefix}bob")},
            {"offering": OFFERING, "user": CAROL, "username": format!("{prefix}carol")}
        ],
        "resources": [{"uuid": RESOURCE, "name": "Alloc", "slug": "alloc",
            "offering": OFFERING, "project": PROJECT, "backend_id": format!("{prefix}a_alloc"),
            "limits": {"cpu": 5}, "backend_metadata": {"qos": "normal"}}],
        // A periodic policy, so that the settings a message carries are applied.
        "periodic_policies": [{"uuid": "91ab0000000000000000000000000001", "offering": OFFERING,
                               "period": 1, "actions": "request_slurm_resource_downscaling"}]
    }))
    .expect("seed parses")
}

#[test]
fn events_reach_slurm_within_seconds_and_survive_a_broker_restart() {
    if !cluster_available() || !broker_available() {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = Run::start(
        "ev1_",
        seed("ev1_"),
        Opts {
            broker: true,
            register_queue_missing: false,
            cycle: "10m",
            keep_accounts: false,
        },
    );
    ready(&r);

    // 1. A Create order: approved, account created, backend_id set, done.
    let order: NewOrder = serde_json::from_value(json!({
        "type": "Create", "offering": OFFERING, "project": PROJECT, "name": "Fresh",
        "limits": {"cpu": 5}
    }))
    .unwrap();
    let mut uuid = String::new();
    let order_ms = latency(
        "Create order",
        || uuid = r.fake.state.create_order(order).unwrap().uuid,
        || r.account("a_fresh").is_some(),
    );
    let done = wait(Duration::from_secs(5), || {
        r.fake.state.order(&uuid).is_some_and(|o| o.state == "done")
    });
    assert!(done.is_some(), "order not done:\n{}", r.log());
    // Its state changes published more order events; none did anything twice.
    std::thread::sleep(Duration::from_millis(300));
    for call in ["approve_by_provider", "set_backend_id", "set_state_done"] {
        let n = r
            .fake
            .state
            .requests()
            .iter()
            .filter(|q| q.method == "POST" && q.path.ends_with(&format!("{call}/")))
            .count();
        assert_eq!(n, 1, "{call} sent {n} times:\n{}", r.log());
    }

    // 2. A user_role grant: carol joins the project.
    let grant_ms = latency(
        "user_role grant",
        || {
            r.fake
                .state
                .change_member(
                    serde_json::from_value(
                        json!({"action": "add", "project": PROJECT, "user": CAROL}),
                    )
                    .unwrap(),
                )
                .unwrap();
        },
        || r.has_user("a_alloc", "carol"),
    );

    // 3. A pause: the QoS.
    let pause_ms = latency(
        "resource paused",
        || r.patch(RESOURCE, json!({"paused": true})),
        || r.qos("a_alloc") == "wpaused",
    );

    // 4. Periodic settings are stored; an older message does not overwrite them.
    let periodic = |ts: &str, fairshare: u32| {
        NewEvent::json(
            OFFERING,
            "resource_periodic_limits",
            json!({"resource_uuid": RESOURCE, "backend_id": format!("{}a_alloc", r.prefix),
                   "policy_uuid": "91ab0000000000000000000000000001",
                   "action": "apply_periodic_settings", "timestamp": ts,
                   "settings": {"fairshare": fairshare, "limit_type": "GrpTRESMins",
                                "grp_tres_mins": {"cpu": 6000}, "reset_raw_usage": false}}),
        )
    };
    let file = r
        .dir
        .path()
        .join(format!("state/periodic/settings/{RESOURCE}.json"));
    let stored = |fairshare: u32| {
        std::fs::read_to_string(&file)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .is_some_and(|v| v["settings"]["fairshare"] == fairshare)
    };
    r.fake
        .state
        .publish(periodic("2026-04-01T00:20:00", 333))
        .unwrap();
    assert!(
        wait(Duration::from_secs(5), || stored(333)).is_some(),
        "{}",
        r.log()
    );
    // ... and applied by the scoped pass the message wakes: the policy owns GrpTRESMins.
    assert!(
        wait(Duration::from_secs(5), || r
            .account("a_alloc")
            .is_some_and(|a| a.contains("cpu=6000")))
        .is_some(),
        "{:?}\n{}",
        r.account("a_alloc"),
        r.log()
    );
    // Malformed and unknown messages are skipped; an older one changes nothing.
    r.fake
        .state
        .publish(NewEvent::raw(OFFERING, "resource", "{not json"))
        .unwrap();
    r.fake
        .state
        .publish(NewEvent::json(OFFERING, "user_lifecycle", json!({"x": 1})))
        .unwrap();
    r.fake
        .state
        .publish(periodic("2026-04-01T00:10:00", 111))
        .unwrap();
    r.wait_log("not newer than the stored", 1, Duration::from_secs(5));
    assert!(stored(333));
    assert!(r.account("a_alloc").is_some_and(|a| a.contains("cpu=6000")));
    r.wait_log("event dropped", 1, Duration::from_secs(5));

    // 5. The broker restarts (wiped: the queue and its user are gone): the agent logs in
    // again, registers again, and goes on applying.
    let restart = restart_broker();
    eprintln!("broker restarted in {} ms", restart.as_millis());
    let back = Instant::now();
    r.wait_log("registered the event queue", 2, Duration::from_secs(20));
    r.wait_log("listening to events", 2, Duration::from_secs(20));
    eprintln!(
        "RECONNECT: consuming again {} ms after the broker was ready",
        back.elapsed().as_millis()
    );
    assert!(back.elapsed() < Duration::from_secs(10), "{}", r.log());
    let unpause_ms = latency(
        "resource unpaused after the broker restart",
        || r.patch(RESOURCE, json!({"paused": false})),
        || r.qos("a_alloc") == "normal",
    );

    let log = r.log();
    assert!(log.contains("scoped=true"), "no scoped pass:\n{log}");
    for ms in [order_ms, grant_ms, pause_ms, unpause_ms] {
        assert!(ms < Duration::from_secs(5), "{ms:?}:\n{log}");
    }
}

#[test]
fn broker_down_at_start_leaves_the_cycle_running_and_events_follow() {
    if !cluster_available() || !broker_available() {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = Run::start(
        "ev2_",
        seed("ev2_"),
        Opts {
            broker: false,
            register_queue_missing: false,
            cycle: "2s",
            keep_accounts: false,
        },
    );
    // Registration fails (Waldur's broker is down), the cycle provisions all the same.
    r.wait_log(
        "cannot register the event queue",
        1,
        Duration::from_secs(10),
    );
    assert!(wait(Duration::from_secs(10), || r.has_user("a_alloc", "bob")).is_some());
    r.patch(RESOURCE, json!({"paused": true}));
    assert!(
        wait(Duration::from_secs(6), || r.qos("a_alloc") == "wpaused").is_some(),
        "the cycle did not run:\n{}",
        r.log()
    );
    // The broker is back: the listener registers and consumes.
    r.fake.state.set_broker(Broker::from_env());
    r.wait_log("listening to events", 1, Duration::from_secs(10));
    latency(
        "resource unpaused, once the broker is back",
        || r.patch(RESOURCE, json!({"paused": false})),
        || r.qos("a_alloc") == "normal",
    );
}

#[test]
fn an_older_waldur_without_register_queue_gets_one_queue_per_type() {
    if !cluster_available() || !broker_available() {
        return;
    }
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let r = Run::start(
        "ev3_",
        seed("ev3_"),
        Opts {
            broker: true,
            register_queue_missing: true,
            cycle: "10m",
            keep_accounts: false,
        },
    );
    r.wait_log("the older scheme", 1, Duration::from_secs(10));
    ready(&r);
    // One session per object type.
    r.wait_log("listening to events", 9, Duration::from_secs(10));
    latency(
        "resource paused (per-type queue)",
        || r.patch(RESOURCE, json!({"paused": true})),
        || r.qos("a_alloc") == "wpaused",
    );
}
