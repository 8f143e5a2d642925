//! End-to-end tests against a real slurmdbd (scripts/slurm/start-slurm.sh).
//!
//! They run when `SLURM_CONF` points at the test cluster (`source DIR/env.sh`); in CI
//! (`CI=true`) a missing cluster is a failure, not a skip. Tests share one cluster, so they
//! run one at a time and each uses its own account names.

use std::process::{Command, Output};

mod support;

use support::*;

/// A test world: a config and a Waldur snapshot in a temp dir.
struct World {
    dir: tempfile::TempDir,
    prefix: String,
}

impl World {
    fn new(prefix: &str, default_account: &str) -> World {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state").display().to_string();
        let config = format!(
            r#"
offerings:
  - name: live
    waldur_api_url: http://127.0.0.1:9/api/
    waldur_api_token: test-token
    waldur_offering_uuid: "11111111111111111111111111111111"
    backend_type: slurm
    backend_settings:
      cluster_name: testcluster
      slurm_bin_path: ""
      default_account: {default_account}
      root_account: root
      customer_prefix: {prefix}c_
      project_prefix: {prefix}p_
      allocation_prefix: {prefix}a_
      qos_default: normal
    backend_components:
      cpu: {{measured_unit: k-Hours, unit_factor: 60000, accounting_type: limit, label: CPU}}
      mem: {{limit: 10, measured_unit: GB-Hours, unit_factor: 61440, accounting_type: usage, label: RAM}}
agent:
  max_deletions: 5
  state_dir: {state}
"#
        );
        std::fs::write(dir.path().join("config.yaml"), config).unwrap();
        std::fs::create_dir_all(dir.path().join("waldur/teams")).unwrap();
        std::fs::write(
            dir.path().join("waldur/offering.json"),
            r#"{"uuid": "11111111111111111111111111111111", "name": "live", "components": [], "partitions": [], "plugin_options": {}}"#,
        )
        .unwrap();
        World {
            dir,
            prefix: prefix.to_string(),
        }
    }

    /// Writes resources (slug, project name, cpu limit, members) and their teams.
    fn resources(&self, list: &[(&str, &str, u32, &[&str])]) {
        let mut resources = Vec::new();
        for (i, (slug, project_name, cpu, members)) in list.iter().enumerate() {
            let uuid = format!("{:032x}", i + 1);
            resources.push(serde_json::json!({
                "uuid": uuid, "name": format!("Resource {slug}"), "slug": slug, "state": "OK",
                "backend_id": format!("{}a_{}", self.prefix, slug.to_lowercase()),
                "project_uuid": "22222222222222222222222222222222", "project_slug": "proj",
                "project_name": project_name, "customer_slug": "cust", "customer_name": "Customer \"Q\"",
                "limits": {"cpu": cpu}, "backend_metadata": {"qos": "normal"}, "paused": false, "downscaled": false, "restrict_member_access": false
            }));
            let team: Vec<_> = members
                .iter()
                .map(|m| serde_json::json!({"username": m, "offering_user_username": m, "offering_user_state": "OK"}))
                .collect();
            std::fs::write(
                self.dir.path().join(format!("waldur/teams/{uuid}.json")),
                serde_json::to_string(&team).unwrap(),
            )
            .unwrap();
        }
        std::fs::write(
            self.dir.path().join("waldur/resources.json"),
            serde_json::to_string(&resources).unwrap(),
        )
        .unwrap();
    }

    fn agent(&self, args: &[&str]) -> Output {
        let config = self.dir.path().join("config.yaml");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_agent"));
        cmd.args(args)
            .arg("-c")
            .arg(&config)
            .arg("--waldur-snapshot")
            .arg(self.dir.path());
        cmd.output().expect("agent runs")
    }

    fn plan_json(&self) -> serde_json::Value {
        let out = self.agent(&["plan", "--json"]);
        assert!(
            out.status.success(),
            "plan failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn reconcile(&self, extra: &[&str]) -> Output {
        let mut args = vec!["reconcile"];
        args.extend_from_slice(extra);
        self.agent(&args)
    }
}

fn changes(plan: &serde_json::Value) -> Vec<String> {
    plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["address"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn empty_cluster_converges_and_stays_converged() {
    if !cluster_available() {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    cleanup("t1");
    let w = World::new("t1", "root");
    w.resources(&[
        ("Sim-Run", "Proj \"A\"\nsecond line", 100, &["alice", "bob"]),
        ("other", "Proj \"A\"\nsecond line", 5, &["bob"]),
    ]);
    let out = w.reconcile(&[]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Verified"),
        "{}",
        show(&out)
    );
    let plan = w.plan_json();
    assert!(changes(&plan).is_empty(), "not converged: {plan:#}");
    let rows = assoc_rows("t1");
    assert!(
        rows.iter()
            .any(|r| r.starts_with("t1a_sim-run||t1p_proj|cpu=6000000,mem=600G|normal")),
        "{rows:?}"
    );
    // Batch mode gives the same result from scratch.
    cleanup("t1");
    let out = w.reconcile(&["--apply-mode", "batch"]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(changes(&w.plan_json()).is_empty());
    cleanup("t1");
}

#[test]
fn drift_made_by_hand_is_named_and_repaired() {
    if !cluster_available() {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    cleanup("t2");
    let w = World::new("t2", "root");
    w.resources(&[("alloc", "Project", 10, &["carol", "dave"])]);
    assert!(w.reconcile(&[]).status.success());
    sacctmgr(&[
        "-i",
        "add",
        "account",
        "t2p_other",
        "cluster=testcluster",
        "parent=root",
    ]);
    sacctmgr(&[
        "-i",
        "modify",
        "account",
        "where",
        "name=t2a_alloc",
        "cluster=testcluster",
        "set",
        "GrpTRESMins=cpu=1",
    ]);
    sacctmgr(&[
        "-i",
        "remove",
        "user",
        "where",
        "name=dave",
        "account=t2a_alloc",
        "cluster=testcluster",
    ]);
    sacctmgr(&[
        "-i",
        "add",
        "user",
        "mallory",
        "account=t2a_alloc",
        "cluster=testcluster",
    ]);
    sacctmgr(&[
        "-i",
        "modify",
        "account",
        "where",
        "name=t2p_proj",
        "cluster=testcluster",
        "set",
        "parent=t2p_other",
    ]);
    let plan = w.plan_json();
    let addresses = changes(&plan);
    for expected in [
        "account/t2a_alloc",
        "association/t2a_alloc/dave",
        "association/t2a_alloc/mallory",
        "account/t2p_proj",
    ] {
        assert!(
            addresses.contains(&expected.to_string()),
            "{expected} missing from {addresses:?}"
        );
    }
    let text = serde_json::to_string(&plan).unwrap();
    assert!(
        text.contains("not_a_member") && text.contains("drift"),
        "{text}"
    );
    let out = w.reconcile(&[]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(changes(&w.plan_json()).is_empty());
    // The account outside the managed tree was left alone.
    assert!(assoc_rows("t2p_other")
        .iter()
        .any(|r| r.starts_with("t2p_other||root")));
    cleanup("t2");
}

#[test]
fn accounts_outside_the_tree_are_never_touched() {
    if !cluster_available() {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    cleanup("t3");
    sacctmgr(&[
        "-i",
        "add",
        "account",
        "t3outsider",
        "cluster=testcluster",
        "parent=root",
        "GrpTRESMins=cpu=7",
    ]);
    sacctmgr(&[
        "-i",
        "add",
        "user",
        "outsideuser",
        "account=t3outsider",
        "cluster=testcluster",
    ]);
    let before_root = assoc_rows("root");
    let w = World::new("t3", "root");
    w.resources(&[("a", "P", 1, &["erin"])]);
    let out = w.reconcile(&[]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(assoc_rows("t3outsider").iter().any(|r| r.contains("cpu=7")));
    assert!(assoc_rows("t3outsider")
        .iter()
        .any(|r| r.contains("outsideuser")));
    let after_root: Vec<_> = assoc_rows("root")
        .into_iter()
        .filter(|r| !r.contains("erin"))
        .collect();
    assert_eq!(
        before_root
            .into_iter()
            .filter(|r| !r.contains("erin"))
            .collect::<Vec<_>>(),
        after_root
    );
    cleanup("t3");
}

#[test]
fn a_failing_command_skips_its_dependents_and_the_next_cycle_converges() {
    if !cluster_available() {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    cleanup("t4");
    // The default account does not exist: adding new users with DefaultAccount=t4ghost fails.
    let w = World::new("t4", "t4ghost");
    w.resources(&[("alloc", "P", 3, &["newuser4a", "newuser4b"])]);
    let out = w.reconcile(&["--apply-mode", "per-change"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("applied  account/t4a_alloc"),
        "{}",
        show(&out)
    );
    assert!(stdout.contains("FAILED   association/t4a_alloc/newuser4a (fatal): This account 't4ghost' doesn't exist"), "{}", show(&out));
    let plan = w.plan_json();
    assert!(serde_json::to_string(&plan)
        .unwrap()
        .contains("missing_anchor_account"));
    assert!(stdout.contains("Not converged"), "{}", show(&out));
    sacctmgr(&[
        "-i",
        "add",
        "account",
        "t4ghost",
        "cluster=testcluster",
        "parent=root",
    ]);
    let out = w.reconcile(&[]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(changes(&w.plan_json()).is_empty());
    cleanup("t4");
    cleanup("t4ghost");
}

#[test]
fn observe_issues_the_same_calls_for_few_and_many_accounts() {
    if !cluster_available() {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    cleanup("t5");
    let target = agent_reconcile::commands::SlurmTarget::new("", Some("testcluster"));
    let count =
        |runner: &agent_observed::Runner| runner.counts().get("sacctmgr").copied().unwrap_or(0);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let few = agent_observed::Runner::new(std::time::Duration::from_secs(60));
    let before = rt.block_on(agent_observed::observe(&few, &target)).unwrap();
    // Add 300 accounts in one sacctmgr session, then observe again.
    let input: String = (0..300)
        .map(|i| format!("add account t5acct{i} cluster=testcluster parent=root\n"))
        .collect();
    let mut child = Command::new("sacctmgr")
        .arg("-i")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), input.as_bytes()).unwrap();
    drop(child.stdin.take());
    child.wait().unwrap();
    let many = agent_observed::Runner::new(std::time::Duration::from_secs(60));
    let after = rt
        .block_on(agent_observed::observe(&many, &target))
        .unwrap();
    assert!(after.accounts.len() >= before.accounts.len() + 300);
    assert_eq!(count(&few), 5);
    assert_eq!(
        count(&many),
        count(&few),
        "observe must not grow with the number of accounts"
    );
    cleanup("t5");
}
