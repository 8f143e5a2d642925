//! End-to-end, usage: real jobs' usage reported to the fake Waldur once, and past months
//! loaded from recorded sacct output. SLURM is the real test cluster.

mod support;

use std::process::Command;

use serde_json::json;
use support::waldur::*;
use support::*;

/// The stored aggregate and per-user usages of a resource for a billing period.
fn stored_usage(env: &Env, resource: &str, period: &str) -> (String, Vec<(String, String)>) {
    env.fake.state.read(|w| {
        let u = w.data.component_usages.iter().find(|u| {
            u.resource == resource && u.billing_period == period && u.component_type == "cpu"
        });
        match u {
            None => (String::new(), vec![]),
            Some(u) => (
                u.usage.to_string(),
                u.user_usages
                    .iter()
                    .map(|x| (x.username.clone(), x.usage.to_string()))
                    .collect(),
            ),
        }
    })
}

fn this_month() -> String {
    let out = Command::new("date")
        .args(["-u", "+%Y-%m-01"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn usage_of_real_jobs_reaches_waldur_once() {
    if !cluster_available() {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // cpu in CPU-minutes (unit_factor 1) so short jobs give visible amounts.
    let env = Env::with("w6", existing_resource("w6"), "", 1);
    env.member(json!({"action": "add", "project": PROJECT, "user": "runner", "offering": OFFERING, "username": "root"}));
    env.converge();
    let account = "w6a_alloc";
    assert!(env.users_of(account).contains(&"root".to_string()));
    let mut job_ids = Vec::new();
    for cpus in ["1", "2"] {
        let out = Command::new("sbatch")
            .args([
                "--parsable",
                "--output=/dev/null",
                "-A",
                account,
                "-c",
                cpus,
                "--mem=50",
                "--wrap",
                "sleep 2",
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", show(&out));
        job_ids.push(String::from_utf8_lossy(&out.stdout).trim().to_string());
    }
    // Wait for the jobs to end and reach the accounting database. Earlier runs of this
    // test leave jobs under the same account name this month: they count too.
    let month_start = format!("{}T00:00:00", this_month());
    let mut expected_secs = 0u64;
    for _ in 0..60 {
        std::thread::sleep(std::time::Duration::from_millis(500));
        let out = Command::new("sacct")
            .args([
                "-a",
                "-X",
                "-P",
                "-n",
                "-A",
                account,
                "--format=ReqTRES,ElapsedRaw,State,JobID",
                "-S",
                &month_start,
                "-E",
                "now",
            ])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let rows: Vec<&str> = text.lines().collect();
        let finished = |id: &String| {
            rows.iter()
                .any(|r| r.ends_with(&format!("|COMPLETED|{id}")))
        };
        if job_ids.iter().all(finished) && rows.iter().all(|r| r.contains("|COMPLETED|")) {
            expected_secs = rows
                .iter()
                .map(|r| {
                    let cols: Vec<&str> = r.split('|').collect();
                    let cpu: u64 = cols[0]
                        .split(',')
                        .find_map(|kv| kv.strip_prefix("cpu="))
                        .unwrap()
                        .parse()
                        .unwrap();
                    cpu * cols[1].parse::<u64>().unwrap()
                })
                .sum();
            break;
        }
    }
    let expected = format!("{:.2}", expected_secs as f64 / 60.0);

    env.fake.state.clear_requests();
    let (out, stats) = env.agent_stats(&["report"]);
    assert!(out.status.success(), "{}", show(&out));
    // One sacct call per period; every request the fake saw is counted.
    assert_eq!(stats["submissions"], 1, "{stats}");
    assert_eq!(stats["errors"], 0, "{stats}");
    assert_eq!(stats["processes"]["sacct"], stats["periods"], "{stats}");
    assert_eq!(
        stats["waldur_requests"],
        env.fake.state.requests().len(),
        "{stats}"
    );
    let (total, users) = stored_usage(&env, "e0000000000000000000000000000001", &this_month());
    assert_eq!(total, expected, "{}", show(&out));
    assert_eq!(
        users,
        [("root".to_string(), expected.clone())],
        "{}",
        show(&out)
    );

    // A second run posts nothing.
    let posts_before = env
        .fake
        .state
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .count();
    let (out, stats) = env.agent_stats(&["report"]);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(stats["submissions"], 0, "{stats}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("unchanged"),
        "{}",
        show(&out)
    );
    let posts_after = env
        .fake
        .state
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(posts_before, posts_after);
    cleanup("w6");
}

#[test]
fn historical_loader_fills_past_months_and_tolerates_backfill_refusals() {
    if !cluster_available() {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let bin_dir = tempfile::tempdir().unwrap();
    let bin = recorded_sacct(
        bin_dir.path(),
        "w7a_alloc|billing=4,cpu=4,mem=4000M,node=1|01:00:00|w7alice\nw7a_alloc|cpu=2|00:30:00|w7bob\n",
    );
    let env = Env::with("w7", existing_resource("w7"), &bin, 60);
    // cpu: 4 × 60 min + 2 × 30 min = 300 CPU-minutes / 60 = 5.00 (alice 4.00, bob 1.00).
    let dry = env.agent(&[
        "load-historical-usage",
        "--start-date",
        "2025-01",
        "--end-date",
        "2025-03",
        "--dry-run",
    ]);
    assert!(dry.status.success(), "{}", show(&dry));
    assert!(
        String::from_utf8_lossy(&dry.stdout).contains("would send"),
        "{}",
        show(&dry)
    );
    assert!(env.fake.state.read(|w| w.data.component_usages.is_empty()));

    // February: Waldur refuses the backfill; March: one 503 that the retry absorbs.
    env.fault(json!({"path_prefix": "/api/marketplace-component-usages/set_usage/", "times": 1, "skip": 1,
                     "kind": "status", "status": 400,
                     "body": {"date": ["Service providers can only specify date for limit-based or prepaid billing components when backfilling past billing periods."]}}));
    env.fault(json!({"path_prefix": "/api/marketplace-component-usages/set_usage/", "times": 1, "skip": 2, "kind": "status", "status": 503}));
    env.fake.state.clear_requests();
    let (out, stats) = env.agent_stats(&[
        "load-historical-usage",
        "--start-date",
        "2025-01",
        "--end-date",
        "2025-03",
    ]);
    let text = show(&out);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("staff token"), "{text}");
    assert!(
        text.contains("Summary: 3 period(s), 1 resource(s); 2 submission(s)"),
        "{text}"
    );
    assert_eq!(
        (&stats["periods"], &stats["submissions"], &stats["errors"]),
        (&json!(3), &json!(2), &json!(0)),
        "{stats}"
    );
    assert_eq!(stats["processes"]["sacct"], 3, "{stats}");
    // The staff check's request and the retried 503 included.
    assert_eq!(
        stats["waldur_requests"],
        env.fake.state.requests().len(),
        "{stats}\n{text}"
    );
    let res = "e0000000000000000000000000000001";
    for month in ["2025-01-01", "2025-03-01"] {
        let (total, mut users) = stored_usage(&env, res, month);
        users.sort();
        assert_eq!(total, "5.00", "{month}\n{text}");
        assert_eq!(
            users,
            [
                ("w7alice".to_string(), "4.00".to_string()),
                ("w7bob".to_string(), "1.00".to_string())
            ],
            "{month}"
        );
    }
    assert_eq!(stored_usage(&env, res, "2025-02-01").0, "");
}
