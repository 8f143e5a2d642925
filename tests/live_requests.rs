//! Waldur requests per converged cycle and per report with nothing new do not grow with
//! the number of resources: a site of 5 allocations and one of 50 cost the same requests
//! (per-user limits and stored usage are read offering-wide, not per resource). SLURM is
//! the real test cluster; `sacct` is a stand-in printing one row per allocation.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use fake_waldur::{Amount, UserUsageLimit};
use serde_json::{json, Value};
use support::waldur::*;
use support::*;

fn resources(prefix: &str, n: usize) -> Value {
    (0..n)
        .map(|i| {
            json!({"uuid": format!("e{:031x}", i + 1), "name": format!("Alloc {i}"),
                   "slug": format!("r{i}"), "offering": OFFERING, "project": PROJECT,
                   "backend_id": format!("{prefix}a_r{i}"), "limits": {"cpu": 5},
                   "backend_metadata": {"qos": "normal"}})
        })
        .collect()
}

/// A sacct that prints one hour of 2 CPUs for alice and for bob on every allocation.
fn sacct_stub(dir: &Path, prefix: &str, n: usize) -> String {
    let rows: String = (0..n)
        .flat_map(|i| {
            ["alice", "bob"]
                .map(|u| format!("{prefix}a_r{i}|cpu=2|01:00:00|{prefix}{u}\n"))
                .into_iter()
        })
        .collect();
    recorded_sacct(dir, &rows)
}

/// Requests the fake saw, by path with every uuid replaced, for the failure message.
fn by_path(env: &Env) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for r in env.fake.state.requests() {
        let path: Vec<String> = r
            .path
            .split('/')
            .map(|s| match s.len() == 32 {
                true => "{uuid}".to_string(),
                false => s.to_string(),
            })
            .collect();
        *out.entry(format!("{} {}", r.method, path.join("/")))
            .or_default() += 1;
    }
    out
}

/// (converged plan, repeated report) requests on a converged site of `n` allocations.
fn requests_at(prefix: &str, n: usize) -> (u64, u64, String) {
    let bin_dir = tempfile::tempdir().unwrap();
    let bin = sacct_stub(bin_dir.path(), prefix, n);
    let env = Env::with(prefix, resources(prefix, n), &bin, 60);
    // Per-user limits on two of the allocations: read, placed and applied.
    env.fake.state.write(|w| {
        for (i, resource) in [1, n].into_iter().enumerate() {
            w.data.user_usage_limits.push(UserUsageLimit {
                uuid: format!("d{:031x}", i + 1),
                resource: format!("e{resource:031x}"),
                component_type: "cpu".into(),
                user: format!("{prefix}alice"),
                limit: Some(Amount(200)),
            });
        }
    });
    env.converge();
    let account = format!("{prefix}a_r{}", n - 1);
    let user = format!("{prefix}alice");
    let limits = sacctmgr(&[
        "-P",
        "-n",
        "show",
        "association",
        "where",
        "cluster=testcluster",
        &format!("account={account}"),
        &format!("user={user}"),
        "format=MaxTRESMins",
    ]);
    assert_eq!(
        limits.trim(),
        "cpu=120",
        "the per-user limit of the last allocation is applied"
    );

    env.fake.state.clear_requests();
    let (out, stats) = env.agent_stats(&["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let plan: u64 = stats["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["waldur_requests"].as_u64().unwrap())
        .sum();
    assert_eq!(plan as usize, env.fake.state.requests().len(), "{stats}");
    let plan_paths = by_path(&env);

    let (out, stats) = env.agent_stats(&["report"]);
    assert!(out.status.success(), "{}", show(&out));
    let periods = stats["periods"].as_u64().unwrap() as usize;
    assert_eq!(stats["submissions"], n * periods, "{stats}\n{}", show(&out));
    env.fake.state.clear_requests();
    let (out, stats) = env.agent_stats(&["report"]);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(stats["submissions"], 0, "{stats}\n{}", show(&out));
    let report = stats["waldur_requests"].as_u64().unwrap();
    assert_eq!(report as usize, env.fake.state.requests().len(), "{stats}");
    let shown = format!("plan {plan_paths:#?}\nreport {:#?}", by_path(&env));
    cleanup(prefix);
    (plan, report, shown)
}

#[test]
fn converged_plan_and_report_requests_do_not_grow_with_resources() {
    if !cluster_available() {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (plan_small, report_small, small) = requests_at("wn", 5);
    let (plan_big, report_big, big) = requests_at("wm", 50);
    eprintln!("5 resources: {small}\n50 resources: {big}");
    assert_eq!(plan_small, plan_big, "5:\n{small}\n50:\n{big}");
    assert_eq!(report_small, report_big, "5:\n{small}\n50:\n{big}");
    // The offering, resources, orders, the project's team, the limits: a handful.
    assert!(plan_big <= 6, "{big}");
    assert!(report_big <= 8, "{big}");
}
