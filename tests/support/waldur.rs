//! The fake Waldur side of the end-to-end tests: one offering, one project, three users,
//! a config for the agent against the test cluster, and the agent run with it.

use std::process::{Command, Output};

use fake_waldur::{NewOrder, RunningFake, Seed};
use serde_json::{json, Value};

use super::*;

pub const OFFERING: &str = "f0000000000000000000000000000001";
pub const PROJECT: &str = "b0000000000000000000000000000001";
pub const TOKEN: &str = "tok-9f8e7d6c5b4a-never-printed";

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
pub fn existing_resource(prefix: &str) -> Value {
    json!([{"uuid": "e0000000000000000000000000000001", "name": "Alloc", "slug": "alloc",
            "offering": OFFERING, "project": PROJECT, "backend_id": format!("{prefix}a_alloc"),
            "limits": {"cpu": 5}, "backend_metadata": {"qos": "normal"}}])
}

pub struct Env {
    pub rt: tokio::runtime::Runtime,
    pub fake: RunningFake,
    pub dir: tempfile::TempDir,
    pub prefix: String,
}

impl Env {
    pub fn new(prefix: &str, resources: Value) -> Env {
        Self::with_bin(prefix, resources, "")
    }

    pub fn with_bin(prefix: &str, resources: Value, slurm_bin_path: &str) -> Env {
        Self::with(prefix, resources, slurm_bin_path, 60000)
    }

    pub fn with(prefix: &str, resources: Value, slurm_bin_path: &str, cpu_factor: u32) -> Env {
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

    pub fn agent(&self, args: &[&str]) -> Output {
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

    /// Runs the agent with `--stats-file`; returns its output and the stats it wrote.
    pub fn agent_stats(&self, args: &[&str]) -> (Output, Value) {
        let path = self.dir.path().join("stats.json");
        let _ = std::fs::remove_file(&path);
        let path_arg = path.display().to_string();
        let out = self.agent(&[args, &["--stats-file", &path_arg]].concat());
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("no stats file ({e}):\n{}", show(&out)));
        (
            out,
            serde_json::from_str(&text).expect("the stats are JSON"),
        )
    }

    pub fn reconcile(&self) -> Output {
        self.agent(&["reconcile"])
    }

    /// Reconciles, expects success, then a plan with nothing left (exit 0).
    pub fn converge(&self) {
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

    pub fn order(&self, spec: Value) -> String {
        let order: NewOrder = serde_json::from_value(spec).unwrap();
        let created = self.fake.state.create_order(order).expect("order created");
        created.uuid.clone()
    }

    pub fn order_state(&self, uuid: &str) -> String {
        self.fake
            .state
            .read(|w| w.order(uuid).unwrap().state.clone())
    }

    pub fn resource(&self, uuid: &str) -> fake_waldur::Resource {
        self.fake.state.read(|w| w.resource(uuid).unwrap().clone())
    }

    pub fn patch(&self, uuid: &str, patch: Value) {
        self.fake
            .state
            .patch_resource(uuid, serde_json::from_value(patch).unwrap())
            .unwrap();
    }

    pub fn member(&self, change: Value) {
        self.fake
            .state
            .change_member(serde_json::from_value(change).unwrap())
            .unwrap();
    }

    pub fn fault(&self, spec: Value) {
        self.fake
            .state
            .add_fault(serde_json::from_value(spec).unwrap());
    }

    pub fn users_of(&self, account: &str) -> Vec<String> {
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

    pub fn account_row(&self, account: &str) -> Option<String> {
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
