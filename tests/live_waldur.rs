//! End-to-end: the agent binary against the fake Waldur (in this process, on loopback)
//! and the real test cluster. Each test has its own fake and its own account prefix.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use fake_waldur::{NewOrder, RunningFake, Seed};
use serde_json::{json, Value};
use support::*;

const OFFERING: &str = "f0000000000000000000000000000001";
const PROJECT: &str = "b0000000000000000000000000000001";
const TOKEN: &str = "tok-9f8e7d6c5b4a-never-printed";

fn seed(prefix: &str, resources: Value) -> Seed {
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
            {"offering": OFFERING, "user": "a0000000000000000000000000000003", "username": format!("{prefix}carol")}
        ],
        "resources": resources
    }))
    .expect("seed parses")
}

/// A live resource already provisioned as `<prefix>a_alloc`.
fn existing_resource(prefix: &str) -> Value {
    json!([{"uuid": "e0000000000000000000000000000001", "name": "Alloc", "slug": "alloc",
            "offering": OFFERING, "project": PROJECT, "backend_id": format!("{prefix}a_alloc"),
            "limits": {"cpu": 5}, "backend_metadata": {"qos": "normal"}}])
}

struct Env {
    rt: tokio::runtime::Runtime,
    fake: RunningFake,
    dir: tempfile::TempDir,
    prefix: String,
}

impl Env {
    fn new(prefix: &str, resources: Value) -> Env {
        Self::with_bin(prefix, resources, "")
    }

    fn with_bin(prefix: &str, resources: Value, slurm_bin_path: &str) -> Env {
        Self::with(prefix, resources, slurm_bin_path, 60000)
    }

    fn with(prefix: &str, resources: Value, slurm_bin_path: &str, cpu_factor: u32) -> Env {
        cleanup(prefix);
        for q in ["wpaused", "wlimited"] {
            sacctmgr(&["-i", "add", "qos", q]);
        }
        let (rt, fake) = spawn_fake(seed(prefix, resources));
        let dir = tempfile::tempdir().unwrap();
        let mut settings = vec![
            "cluster_name: testcluster".to_string(),
            format!("slurm_bin_path: \"{slurm_bin_path}\""),
            "qos_default: normal".into(),
            "qos_paused: wpaused".into(),
            "qos_downscaled: wlimited".into(),
        ];
        settings.extend(prefixed(prefix));
        let cpu = format!(
            "cpu: {{measured_unit: k-Hours, unit_factor: {cpu_factor}, accounting_type: limit, label: CPU}}"
        );
        OfferingConfig {
            url: &fake.base_url,
            token_line: format!("waldur_api_token: {TOKEN}"),
            offering: OFFERING,
            settings: &settings,
            components: &[&cpu],
            agent: &[
                "max_deletions: 10".into(),
                "http_attempts: 3".into(),
                format!("state_dir: {}", dir.path().join("state").display()),
            ],
        }
        .write(&dir.path().join("config.yaml"));
        Env {
            rt,
            fake,
            dir,
            prefix: prefix.to_string(),
        }
    }

    fn agent(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_agent"));
        cmd.args(args)
            .arg("-c")
            .arg(self.dir.path().join("config.yaml"))
            .env("RUST_LOG", "debug");
        let out = cmd.output().expect("agent runs");
        let all = show(&out);
        assert!(!all.contains(TOKEN), "the token leaked:\n{all}");
        out
    }

    fn reconcile(&self) -> Output {
        self.agent(&["reconcile"])
    }

    /// Reconciles, expects success, then a plan with nothing left (exit 0).
    fn converge(&self) {
        let out = self.reconcile();
        assert!(out.status.success(), "reconcile failed:\n{}", show(&out));
        let plan = self.agent(&["plan", "--detailed-exitcode"]);
        assert_eq!(
            plan.status.code(),
            Some(0),
            "not converged:\n{}",
            show(&plan)
        );
    }

    fn order(&self, spec: Value) -> String {
        let order: NewOrder = serde_json::from_value(spec).unwrap();
        let created = self.fake.state.create_order(order).expect("order created");
        created.uuid.clone()
    }

    fn order_state(&self, uuid: &str) -> String {
        self.fake
            .state
            .read(|w| w.order(uuid).unwrap().state.clone())
    }

    fn resource(&self, uuid: &str) -> fake_waldur::Resource {
        self.fake.state.read(|w| w.resource(uuid).unwrap().clone())
    }

    fn patch(&self, uuid: &str, patch: Value) {
        self.fake
            .state
            .patch_resource(uuid, serde_json::from_value(patch).unwrap())
            .unwrap();
    }

    fn member(&self, change: Value) {
        self.fake
            .state
            .change_member(serde_json::from_value(change).unwrap())
            .unwrap();
    }

    fn fault(&self, spec: Value) {
        self.fake
            .state
            .add_fault(serde_json::from_value(spec).unwrap());
    }

    fn users_of(&self, account: &str) -> Vec<String> {
        let mut users: Vec<String> = assoc_rows(&self.prefix)
            .iter()
            .filter_map(|r| {
                let cols: Vec<&str> = r.split('|').collect();
                (cols[0] == account && !cols[1].is_empty()).then(|| cols[1].to_string())
            })
            .collect();
        users.sort();
        users
    }

    fn account_row(&self, account: &str) -> Option<String> {
        assoc_rows(&self.prefix)
            .into_iter()
            .find(|r| r.starts_with(&format!("{account}||")))
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = &self.rt;
    }
}

#[test]
fn full_order_and_membership_lifecycle() {
    if !cluster_available() {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let env = Env::new("w1", json!([]));
    let p = "w1";

    // Create: tree, users, backend_id, limits, order done.
    let create = env.order(
        json!({"type": "Create", "offering": OFFERING, "project": PROJECT,
                                  "name": "Alloc One", "limits": {"cpu": 10}}),
    );
    env.converge();
    assert_eq!(env.order_state(&create), "done");
    let res_uuid = env
        .fake
        .state
        .read(|w| w.order(&create).unwrap().resource.clone());
    let r = env.resource(&res_uuid);
    let account = format!("{p}a_alloc-one");
    assert_eq!(r.backend_id, account);
    assert_eq!(r.state, "OK");
    assert_eq!(r.backend_metadata.get("qos"), Some(&json!("normal")));
    let row = env
        .account_row(&account)
        .expect("allocation account exists");
    assert!(row.contains(&format!("|{p}p_proj|cpu=600000|")), "{row}");
    assert_eq!(
        env.users_of(&account),
        [format!("{p}alice"), format!("{p}bob")]
    );

    // Membership: carol joins, bob leaves.
    env.member(json!({"action": "add", "project": PROJECT, "user": "carol"}));
    env.member(json!({"action": "remove", "project": PROJECT, "user": "bob"}));
    env.converge();
    assert_eq!(
        env.users_of(&account),
        [format!("{p}alice"), format!("{p}carol")]
    );

    // Paused, downscaled, restored: QoS follows, and Waldur records it.
    for (patch, qos) in [
        (json!({"paused": true}), "wpaused"),
        (json!({"paused": false, "downscaled": true}), "wlimited"),
        (json!({"downscaled": false}), "normal"),
    ] {
        env.patch(&res_uuid, patch);
        env.converge();
        let row = env.account_row(&account).unwrap();
        assert!(row.ends_with(&format!("|{qos}")), "{row}");
        assert_eq!(
            env.resource(&res_uuid).backend_metadata.get("qos"),
            Some(&json!(qos))
        );
    }

    // Update: new limits.
    let update = env.order(json!({"type": "Update", "resource": res_uuid, "limits": {"cpu": 20}}));
    env.converge();
    assert_eq!(env.order_state(&update), "done");
    assert!(env.account_row(&account).unwrap().contains("|cpu=1200000|"));
    assert_eq!(env.resource(&res_uuid).limits.get("cpu"), Some(&json!(20)));

    // Terminate: account and the now empty project account go; order done.
    let terminate = env.order(json!({"type": "Terminate", "resource": res_uuid}));
    env.converge();
    assert_eq!(env.order_state(&terminate), "done");
    assert_eq!(env.resource(&res_uuid).state, "Terminated");
    assert!(env.account_row(&account).is_none());
    assert!(env.account_row(&format!("{p}p_proj")).is_none());

    // Restore: recreated under the same name, with its users.
    let restore = env.order(json!({"type": "Restore", "resource": res_uuid}));
    env.converge();
    assert_eq!(env.order_state(&restore), "done");
    assert!(env.account_row(&account).is_some());
    assert_eq!(
        env.users_of(&account),
        [format!("{p}alice"), format!("{p}carol")]
    );
    cleanup(p);
}

#[test]
fn waldur_faults_never_delete_and_never_err_orders() {
    if !cluster_available() {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let env = Env::new("w2", existing_resource("w2"));
    env.converge();
    let account = "w2a_alloc";
    assert_eq!(env.users_of(account), ["w2alice", "w2bob"]);

    // Bob leaves in Waldur, and a Create order waits; but the reads fail.
    env.member(json!({"action": "remove", "project": PROJECT, "user": "bob"}));
    let create = env.order(
        json!({"type": "Create", "offering": OFFERING, "project": PROJECT, "name": "Second"}),
    );
    let faults = [
        json!({"path_prefix": "/api/marketplace-provider-resources/", "times": 0, "kind": "status", "status": 503}),
        json!({"path_prefix": "/api/marketplace-provider-resources/", "times": 0, "kind": "html_502"}),
        json!({"path_prefix": "/api/marketplace-orders/", "times": 0, "kind": "truncate"}),
        json!({"path_prefix": "/api/marketplace-provider-resources/", "times": 0, "kind": "invalid_json"}),
        json!({"path_prefix": "/api/marketplace-provider-resources/e0000000000000000000000000000001/team/", "times": 0, "kind": "status", "status": 200, "body": []}),
        json!({"path_prefix": "/api/marketplace-provider-resources/", "times": 0, "kind": "status", "status": 200, "body": []}),
    ];
    for fault in faults {
        env.fake.state.clear_faults();
        env.fault(fault.clone());
        let out = env.reconcile();
        assert_eq!(
            env.users_of(account),
            ["w2alice", "w2bob"],
            "{fault}\n{}",
            show(&out)
        );
        assert_ne!(env.order_state(&create), "erred", "{fault}");
        assert!(
            !show(&out).contains("remove user"),
            "{fault}\n{}",
            show(&out)
        );
    }
    // A transient fault that clears within the retries is absorbed.
    env.fake.state.clear_faults();
    env.fault(json!({"path_prefix": "/api/marketplace-orders/", "times": 2, "kind": "throttle", "retry_after": 1}));
    env.converge();
    assert_eq!(env.users_of(account), ["w2alice"]);
    assert_eq!(env.order_state(&create), "done");
    cleanup("w2");
}

#[test]
fn taken_names_get_a_suffix_and_retries_adopt_their_own_account() {
    if !cluster_available() {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let env = Env::new("w3", json!([]));
    // Someone else's account already has the name the order would get.
    sacctmgr(&[
        "-i",
        "add",
        "account",
        "w3a_busy",
        "cluster=testcluster",
        "description=other",
    ]);
    let create = env
        .order(json!({"type": "Create", "offering": OFFERING, "project": PROJECT, "name": "Busy"}));
    // set_backend_id fails for good the first time: the account exists, Waldur does not know it.
    env.fault(json!({"path_prefix": "/api/marketplace-provider-resources/", "method": "POST", "times": 1, "kind": "status", "status": 400, "body": {"backend_id": ["Injected."]}}));
    let out = env.reconcile();
    assert!(!out.status.success(), "{}", show(&out));
    assert!(env.account_row("w3a_busy-1").is_some(), "{}", show(&out));
    assert_ne!(env.order_state(&create), "done");
    // The next cycle recognises w3a_busy-1 as its own and does not create w3a_busy-2.
    env.converge();
    let res = env
        .fake
        .state
        .read(|w| w.order(&create).unwrap().resource.clone());
    assert_eq!(env.resource(&res).backend_id, "w3a_busy-1");
    assert_eq!(env.order_state(&create), "done");
    assert!(env.account_row("w3a_busy-2").is_none());
    sacctmgr(&[
        "-i",
        "remove",
        "account",
        "where",
        "name=w3a_busy",
        "cluster=testcluster",
    ]);
    cleanup("w3");
}

/// A sacctmgr that fails `add account` for names containing "doomed" (fatal) or "flaky"
/// (database busy), and runs the real one otherwise.
fn failing_sacctmgr(dir: &Path) -> String {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = r#"#!/bin/sh
case "$*" in
  *"add account"*doomed*) echo " Invalid parent account, cannot add" >&2; exit 1 ;;
  *"add account"*flaky*) if [ ! -e "$0.flaky-done" ]; then touch "$0.flaky-done"; echo "Database is busy or waiting for lock from other user." >&2; exit 1; fi ;;
esac
exec /usr/bin/sacctmgr "$@"
"#;
    write_script(&bin.join("sacctmgr"), script);
    std::os::unix::fs::symlink("/usr/bin/scancel", bin.join("scancel")).unwrap();
    bin.display().to_string()
}

#[test]
fn fatal_slurm_failures_err_the_order_retryable_ones_wait() {
    if !cluster_available() {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let bin_dir = tempfile::tempdir().unwrap();
    let bin = failing_sacctmgr(bin_dir.path());
    let env = Env::with_bin("w4", json!([]), &bin);
    let doomed = env.order(
        json!({"type": "Create", "offering": OFFERING, "project": PROJECT, "name": "Doomed"}),
    );
    let flaky = env.order(
        json!({"type": "Create", "offering": OFFERING, "project": PROJECT, "name": "Flaky"}),
    );
    let out = env.agent(&["reconcile", "--apply-mode", "per-change"]);
    assert!(!out.status.success());
    let text = show(&out);
    assert_eq!(env.order_state(&doomed), "erred", "{text}");
    let message = env
        .fake
        .state
        .read(|w| w.order(&doomed).unwrap().error_message.clone());
    assert!(message.contains("Invalid parent account"), "{message}");
    assert_eq!(env.order_state(&flaky), "executing", "{text}");
    // The busy database has cleared: the flaky order completes.
    let out = env.agent(&["reconcile"]);
    assert_eq!(env.order_state(&flaky), "done", "{}", show(&out));
    cleanup("w4");
}

#[test]
fn bad_token_fails_clearly_without_printing_it() {
    if !cluster_available() {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let env = Env::new("w5", existing_resource("w5"));
    env.fault(
        json!({"times": 0, "kind": "status", "status": 401, "body": {"detail": "Invalid token."}}),
    );
    let out = env.agent(&["plan"]);
    assert_eq!(out.status.code(), Some(1));
    let text = show(&out);
    assert!(text.contains("HTTP 401: Invalid token."), "{text}");
    assert!(text.contains("left out of the cycle"), "{text}");
}

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

    let out = env.agent(&["report"]);
    assert!(out.status.success(), "{}", show(&out));
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
    let out = env.agent(&["report"]);
    assert!(out.status.success(), "{}", show(&out));
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

/// A sacct that prints the same recorded rows for any window, to stand in for past months.
fn recorded_sacct(dir: &Path, rows: &str) -> String {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    write_script(
        &bin.join("sacct"),
        &format!("#!/bin/sh\ncat <<'EOF'\n{rows}EOF\n"),
    );
    for p in ["sacctmgr", "scancel"] {
        std::os::unix::fs::symlink(format!("/usr/bin/{p}"), bin.join(p)).unwrap();
    }
    bin.display().to_string()
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
    let out = env.agent(&[
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

#[test]
fn daemon_picks_up_orders_and_stops_cleanly_on_sigterm() {
    if !cluster_available() {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let env = Env::new("w8", json!([]));
    let config = env.dir.path().join("config.yaml");
    let heartbeat = env.dir.path().join("heartbeat");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "  cycle_interval: 1s\n  report_interval: 1h\n  heartbeat_file: {}\n",
        heartbeat.display()
    ));
    std::fs::write(&config, text).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_agent"))
        .args(["run", "-c"])
        .arg(&config)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let create = env.order(
        json!({"type": "Create", "offering": OFFERING, "project": PROJECT, "name": "Daemon"}),
    );
    let mut done = false;
    for _ in 0..40 {
        std::thread::sleep(std::time::Duration::from_millis(250));
        if env.order_state(&create) == "done" {
            done = true;
            break;
        }
    }
    // SIGTERM: the daemon finishes its round and exits 0.
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let log = show(&out);
    assert!(done, "the order was not completed by the daemon:\n{log}");
    assert!(out.status.success(), "{log}");
    assert!(log.contains("stop requested"), "{log}");
    assert!(!log.contains(TOKEN));
    assert!(heartbeat.exists());
    assert!(env.account_row("w8a_daemon").is_some());
    cleanup("w8");
}

#[test]
fn removal_goes_on_when_scancel_cannot_reach_the_controller() {
    if !cluster_available() {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink("/usr/bin/sacctmgr", bin.join("sacctmgr")).unwrap();
    write_script(
        &bin.join("scancel"),
        "#!/bin/sh\necho 'scancel: error: Unable to contact slurm controller (connect failure)' >&2\nexit 1\n",
    );
    let env = Env::with_bin("w9", existing_resource("w9"), bin.to_str().unwrap());
    env.converge();
    env.member(json!({"action": "remove", "project": PROJECT, "user": "bob"}));
    let out = env.reconcile();
    let log = show(&out);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("best-effort command failed"), "{log}");
    assert!(log.contains("Unable to contact slurm controller"), "{log}");
    assert_eq!(env.users_of("w9a_alloc"), ["w9alice"]);
    cleanup("w9");
}
