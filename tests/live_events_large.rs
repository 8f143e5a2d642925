//! The event latency on a large site: `EVENTS_LARGE_N=1000 cargo test --release --test
//! live_events_large -- --ignored --nocapture` provisions N allocations (ten per project,
//! one member each) on the test cluster, then measures publish -> SLURM change for a
//! pause and a membership change against the time of a full pass. Not part of CI: the
//! first sync alone takes minutes. The accounts (prefix `evl_`) are kept, so a second run
//! starts converged.

mod support;

use std::time::{Duration, Instant};

use fake_waldur::{NewEvent, Seed};
use serde_json::{json, Value};
use support::events::*;
use support::*;

fn uuid(tag: u32, i: usize) -> String {
    format!("{tag:08x}{i:024x}")
}

fn seed(prefix: &str, n: usize) -> Seed {
    let projects = n.div_ceil(10);
    let customers = projects.div_ceil(10);
    let mut users = vec![
        json!({"uuid": "a0000000000000000000000000000099", "username": "agent", "is_staff": true, "token": TOKEN}),
    ];
    let mut offering_users = Vec::new();
    for p in 0..=projects {
        users.push(json!({"uuid": uuid(0xa1, p), "username": format!("user{p}")}));
        offering_users.push(json!({"offering": OFFERING, "user": uuid(0xa1, p), "username": format!("{prefix}u{p}")}));
    }
    let customers: Vec<Value> = (0..customers)
        .map(|c| json!({"uuid": uuid(0xc1, c), "name": format!("Customer {c}"), "slug": format!("c{c}")}))
        .collect();
    let projects: Vec<Value> = (0..projects)
        .map(|p| {
            json!({"uuid": uuid(0xb1, p), "name": format!("Project {p}"), "slug": format!("p{p}"),
                        "customer": uuid(0xc1, p / 10),
                        "members": [{"user": uuid(0xa1, p), "role": "PROJECT.MEMBER"}]})
        })
        .collect();
    let resources: Vec<Value> = (0..n)
        .map(|i| {
            json!({"uuid": uuid(0xe1, i), "name": format!("Alloc {i}"), "slug": format!("r{i}"),
                        "offering": OFFERING, "project": uuid(0xb1, i / 10),
                        "backend_id": format!("{prefix}a_r{i}"), "limits": {"cpu": 5},
                        "backend_metadata": {"qos": "normal"}})
        })
        .collect();
    serde_json::from_value(json!({
        "users": users, "customers": customers, "projects": projects,
        "offerings": [{"uuid": OFFERING, "name": "Cluster", "customer": uuid(0xc1, 0),
                       "components": [{"type": "cpu", "measured_unit": "k-Hours", "billing_type": "limit"}]}],
        "offering_users": offering_users, "resources": resources
    }))
    .unwrap()
}

#[test]
#[ignore]
fn event_latency_on_a_large_site() {
    let Some(n) = std::env::var("EVENTS_LARGE_N")
        .ok()
        .and_then(|n| n.parse().ok())
    else {
        eprintln!("skipping: EVENTS_LARGE_N unset");
        return;
    };
    if !cluster_available() || !broker_available() {
        return;
    }
    let prefix = "evl_";
    let started = Instant::now();
    let r = Run::start(
        prefix,
        seed(prefix, n),
        Opts {
            broker: true,
            register_queue_missing: false,
            cycle: "1h",
            keep_accounts: true,
        },
    );
    r.wait_log("listening to events", 1, Duration::from_secs(30));
    r.wait_log("round finished", 1, Duration::from_secs(3600));
    eprintln!("first sync of {n} allocations: {:?}", started.elapsed());
    // slurmdbd settles after a large apply before the measured changes.
    std::thread::sleep(Duration::from_secs(3));
    let last = n - 1;
    let project = last / 10;
    let target = format!("r{last}");
    let pause = latency(
        &format!("pause on a site of {n} allocations"),
        || r.patch(&uuid(0xe1, last), json!({"paused": true})),
        || r.qos(&format!("a_{target}")) == "wpaused",
    );
    std::thread::sleep(Duration::from_secs(2));
    let newcomer = uuid(0xa1, project + 1);
    let user = format!("u{}", project + 1);
    let first = format!("a_r{}", project * 10);
    let start = Instant::now();
    r.fake
        .state
        .change_member(
            serde_json::from_value(
                json!({"action": "add", "project": uuid(0xb1, project), "user": newcomer}),
            )
            .unwrap(),
        )
        .unwrap();
    let one = wait(Duration::from_secs(30), || r.has_user(&first, &user)).expect("granted");
    let all = wait(Duration::from_secs(30), || {
        r.has_user(&format!("a_{target}"), &user)
    })
    .map(|_| start.elapsed())
    .expect("granted on all");
    eprintln!(
        "LATENCY user_role grant on a site of {n} allocations: first of the project's 10 associations {} ms, all {} ms",
        one.as_millis(),
        all.as_millis()
    );
    // A full pass for comparison: offering_resources_sync forces one.
    let rounds = r.log().matches("round finished").count();
    let full_started = Instant::now();
    r.fake
        .state
        .publish(NewEvent::json(
            OFFERING,
            "offering_resources_sync",
            json!({}),
        ))
        .unwrap();
    r.wait_log("round finished", rounds + 1, Duration::from_secs(120));
    let full = full_started.elapsed();
    if let Ok(path) = std::env::var("EVENTS_LARGE_LOG") {
        std::fs::write(path, r.log()).unwrap();
    }
    eprintln!(
        "LARGE N={n}: pause {} ms, grant {} ms (first) / {} ms (all 10); a full pass {} ms",
        pause.as_millis(),
        one.as_millis(),
        all.as_millis(),
        full.as_millis()
    );
}
