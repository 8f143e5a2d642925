//! The event tests' harness: `agent run` as a process against an in-process fake Waldur
//! that publishes into the real test broker, on the real test cluster.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fake_waldur::{Broker, RunningFake, Seed};
use serde_json::Value;

use super::*;

pub const OFFERING: &str = "f0000000000000000000000000000001";
pub const TOKEN: &str = "tok-ev-5d4c3b2a-never-printed";

/// What a run differs in.
pub struct Opts {
    /// The fake creates queues in the broker (else registration answers 503).
    pub broker: bool,
    pub register_queue_missing: bool,
    pub cycle: &'static str,
    /// Leave the accounts in SLURM before and after (a large site, provisioned once).
    pub keep_accounts: bool,
}

pub struct Run {
    pub rt: tokio::runtime::Runtime,
    pub fake: RunningFake,
    pub dir: tempfile::TempDir,
    pub child: Child,
    pub log: PathBuf,
    pub prefix: String,
    keep_accounts: bool,
}

impl Run {
    pub fn start(prefix: &str, seed: Seed, opts: Opts) -> Run {
        if !opts.keep_accounts {
            cleanup(prefix);
        }
        sacctmgr(&["-i", "add", "qos", "wpaused"]);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let fake = rt.block_on(fake_waldur::spawn(seed));
        if opts.broker {
            fake.state.set_broker(Broker::from_env());
        }
        fake.state
            .set_register_queue_missing(opts.register_queue_missing);
        let dir = tempfile::tempdir().unwrap();
        let ws_port = std::env::var("RABBITMQ_WEB_STOMP_PORT").unwrap();
        let config = format!(
            r#"
timezone: UTC
offerings:
  - name: cluster
    waldur_api_url: {url}
    waldur_api_token: {TOKEN}
    waldur_offering_uuid: "{OFFERING}"
    backend_type: slurm
    order_processing_backend: slurm
    membership_sync_backend: slurm
    stomp_enabled: true
    stomp_ws_host: 127.0.0.1
    stomp_ws_port: {ws_port}
    stomp_ws_path: /ws
    websocket_use_tls: false
    backend_settings:
      cluster_name: testcluster
      default_account: root
      customer_prefix: {prefix}c_
      project_prefix: {prefix}p_
      allocation_prefix: {prefix}a_
      qos_default: normal
      qos_paused: wpaused
      periodic_limits: {{enabled: true}}
    backend_components:
      cpu: {{measured_unit: k-Hours, unit_factor: 60000, accounting_type: limit, label: CPU}}
agent:
  cycle_interval: {cycle}
  report_interval: 24h
  state_dir: {state}
"#,
            url = fake.base_url,
            cycle = opts.cycle,
            state = dir.path().join("state").display(),
        );
        let cfg = dir.path().join("config.yaml");
        std::fs::write(&cfg, config).unwrap();
        let log = dir.path().join("agent.log");
        let child = Command::new(env!("CARGO_BIN_EXE_agent"))
            .args(["run", "-c"])
            .arg(&cfg)
            .env(
                "RUST_LOG",
                std::env::var("EVENTS_RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("agent runs");
        Run {
            rt,
            fake,
            dir,
            child,
            log,
            prefix: prefix.to_string(),
            keep_accounts: opts.keep_accounts,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for `needle` to appear in the log `n` times.
    pub fn wait_log(&self, needle: &str, n: usize, timeout: Duration) {
        let ok = wait(timeout, || self.log().matches(needle).count() >= n);
        assert!(
            ok.is_some(),
            "{needle:?} not logged {n}x in {timeout:?}:\n{}",
            self.log()
        );
    }

    /// The rows of one account (`Account|User|ParentName|GrpTRESMins|QOS`), read alone so
    /// that polling stays cheap for slurmdbd on a large site.
    fn rows(&self, account: &str) -> Vec<String> {
        sacctmgr(&[
            "-P",
            "-n",
            "show",
            "association",
            "where",
            "cluster=testcluster",
            &format!("account={}{account}", self.prefix),
            "WOPLimits",
            "format=Account,User,ParentName,GrpTRESMins,QOS",
        ])
        .lines()
        .map(str::to_string)
        .collect()
    }

    pub fn account(&self, name: &str) -> Option<String> {
        self.rows(name)
            .into_iter()
            .find(|r| r.starts_with(&format!("{}{name}||", self.prefix)))
    }

    pub fn has_user(&self, account: &str, user: &str) -> bool {
        let (a, u) = (
            format!("{}{account}", self.prefix),
            format!("{}{user}", self.prefix),
        );
        self.rows(account)
            .iter()
            .any(|r| r.starts_with(&format!("{a}|{u}|")))
    }

    pub fn qos(&self, account: &str) -> String {
        self.account(account)
            .and_then(|r| r.rsplit('|').next().map(str::to_string))
            .unwrap_or_default()
    }

    pub fn patch(&self, resource: &str, patch: Value) {
        self.fake
            .state
            .patch_resource(resource, serde_json::from_value(patch).unwrap())
            .unwrap();
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        // SIGTERM: the agent stops after the current round, so no sacctmgr of it is
        // still running (and re-adding what the cleanup removes) when the cleanup starts.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let stopped = wait(Duration::from_secs(15), || {
            matches!(self.child.try_wait(), Ok(Some(_)))
        });
        if stopped.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        assert!(!self.log().contains(TOKEN), "the token leaked into the log");
        let _ = &self.rt;
        let _ = &self.dir;
        if !self.keep_accounts {
            cleanup(&self.prefix);
        }
    }
}

/// Polls `f` until it holds; how long that took.
pub fn wait(timeout: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if f() {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// Runs `change` and measures until `done` holds; prints and returns the latency.
pub fn latency(what: &str, change: impl FnOnce(), done: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    change();
    let Some(_) = wait(Duration::from_secs(10), done) else {
        panic!("{what}: not in SLURM 10 s after the event");
    };
    let took = start.elapsed();
    eprintln!(
        "LATENCY {what}: {} ms from publish to the SLURM change",
        took.as_millis()
    );
    took
}

pub fn ready(r: &Run) {
    r.wait_log("listening to events", 1, Duration::from_secs(20));
    assert!(
        wait(Duration::from_secs(20), || r.has_user("a_alloc", "bob")).is_some(),
        "the first full pass did not provision:\n{}",
        r.log()
    );
    r.wait_log("round finished", 1, Duration::from_secs(10));
}

pub fn restart_broker() -> Duration {
    let dir = std::env::var("RABBITMQ_DIR").expect("RABBITMQ_DIR (env.sh) names the broker");
    let mgmt_port = std::env::var("RABBITMQ_MGMT_URL")
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .to_string();
    let script = |name: &str| format!("{}/scripts/rabbitmq/{name}", env!("CARGO_MANIFEST_DIR"));
    let started = Instant::now();
    let stop = Command::new("bash")
        .args([&script("stop-rabbitmq.sh"), &dir, "--wipe"])
        .output()
        .unwrap();
    assert!(stop.status.success(), "{}", show(&stop));
    let start = Command::new("bash")
        .args([&script("start-rabbitmq.sh"), &dir])
        .env("RABBITMQ_MGMT_PORT", mgmt_port)
        .output()
        .unwrap();
    assert!(start.status.success(), "{}", show(&start));
    started.elapsed()
}
