//! Waldur faults, one per cycle: each time there is work waiting (a Create, a Terminate,
//! a member leaving or joining), the fault is on while the agent reconciles, then off for
//! one clean cycle that must converge.

use serde_json::{json, Value};

use crate::support::show;
use crate::world::{Slurm, World};
use crate::Tally;

const RESOURCES: &str = "/api/marketplace-provider-resources/";
const ORDERS: &str = "/api/marketplace-orders/";

/// (name, fault rules, whether the agent's retries absorb it within the cycle)
fn faults() -> Vec<(&'static str, Vec<Value>, bool)> {
    let get = |prefix: &str, kind: Value| {
        let mut rule = json!({"path_prefix": prefix, "method": "GET", "times": 0});
        rule.as_object_mut()
            .unwrap()
            .extend(kind.as_object().unwrap().clone());
        rule
    };
    let post = |prefix: &str, skip: u32, kind: Value| {
        let mut rule = json!({"path_prefix": prefix, "method": "POST", "times": 0, "skip": skip});
        rule.as_object_mut()
            .unwrap()
            .extend(kind.as_object().unwrap().clone());
        rule
    };
    vec![
        (
            "503 on the resource list",
            vec![get(RESOURCES, json!({"kind": "status", "status": 503}))],
            false,
        ),
        (
            "HTML 502 from the proxy",
            vec![get(RESOURCES, json!({"kind": "html_502"}))],
            false,
        ),
        (
            "every request 500",
            vec![json!({"path_prefix": "/api/", "times": 0, "kind": "status", "status": 500})],
            false,
        ),
        (
            "timeout on the order list",
            vec![get(ORDERS, json!({"kind": "delay", "ms": 1500}))],
            false,
        ),
        (
            "401 mid-cycle (after the first POST)",
            vec![post(
                "/api/",
                1,
                json!({"kind": "status", "status": 401, "body": {"detail": "Invalid token."}}),
            )],
            false,
        ),
        (
            "401 on every read",
            vec![get(
                "/api/",
                json!({"kind": "status", "status": 401, "body": {"detail": "Invalid token."}}),
            )],
            false,
        ),
        (
            "429 with Retry-After",
            vec![
                json!({"path_prefix": RESOURCES, "method": "GET", "times": 1, "kind": "throttle", "retry_after": 1}),
            ],
            true,
        ),
        (
            "truncated pagination",
            vec![get(RESOURCES, json!({"kind": "drop_items", "count": 1}))],
            false,
        ),
        (
            "short list without its count",
            vec![get(
                RESOURCES,
                json!({"kind": "drop_items", "count": 1, "strip_count": true}),
            )],
            false,
        ),
        (
            "empty resource list",
            vec![get(
                RESOURCES,
                json!({"kind": "status", "status": 200, "body": []}),
            )],
            false,
        ),
        (
            "empty teams",
            vec![
                json!({"path_prefix": RESOURCES, "method": "GET", "times": 0, "skip": 1, "kind": "status", "status": 200, "body": []}),
            ],
            false,
        ),
        (
            "empty order list",
            vec![get(
                ORDERS,
                json!({"kind": "status", "status": 200, "body": []}),
            )],
            false,
        ),
        (
            "malformed JSON",
            vec![get(RESOURCES, json!({"kind": "invalid_json"}))],
            false,
        ),
        (
            "body cut in half",
            vec![get(ORDERS, json!({"kind": "truncate"}))],
            false,
        ),
        (
            "connection reset on a read, once",
            vec![
                json!({"path_prefix": RESOURCES, "method": "GET", "times": 1, "kind": "disconnect"}),
            ],
            true,
        ),
        (
            "connection reset after every POST",
            vec![post("/api/", 0, json!({"kind": "disconnect"}))],
            false,
        ),
        (
            "503 on approving orders",
            vec![post(ORDERS, 0, json!({"kind": "status", "status": 503}))],
            false,
        ),
        (
            "slow answers",
            vec![json!({"path_prefix": "/api/", "times": 6, "kind": "delay", "ms": 200})],
            true,
        ),
    ]
}

/// Gives the next cycle work: a new allocation, a member joining or leaving, and (with
/// two allocations live) a Terminate.
fn work(world: &World, round: usize) {
    world.create(5 + round as u64);
    world.membership(2, !world.is_member(2));
    let settled = world.settled();
    if settled.len() >= 3 {
        world.terminate(&settled[0]);
    }
}

pub fn run(world: &World, tally: &mut Tally) {
    for (round, (name, rules, absorbed)) in faults().into_iter().enumerate() {
        work(world, round);
        let before = Slurm::read();
        for rule in &rules {
            world.fault(rule);
        }
        let out = world.agent(&["reconcile"]);
        world.clear_faults();
        tally.faults += 1;
        tally.runs += 1;
        let what = format!("Waldur fault {name:?}");
        if absorbed && !out.status.success() {
            tally.fail(format!(
                "{what}: not absorbed by the retries:\n{}",
                show(&out)
            ));
        }
        if show(&out).contains("panicked") {
            tally.fail(format!("{what}: panicked:\n{}", show(&out)));
        }
        tally.after_fault(world, &before, &what);
    }
}
