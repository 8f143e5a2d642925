//! Periodic limits end to end: the agent binary, the fake Waldur (policy, usages, result
//! reports) and the real test cluster, through a sacctmgr that logs every call.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use fake_waldur::{RunningFake, Seed};
use serde_json::{json, Value};
use support::periodic::*;
use support::*;

struct Env {
    _rt: tokio::runtime::Runtime,
    fake: RunningFake,
    dir: tempfile::TempDir,
    account: String,
}

impl Env {
    fn new(prefix: &str, seed: Seed) -> Env {
        cleanup(prefix);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let fake = rt.block_on(fake_waldur::spawn(seed));
        let dir = tempfile::tempdir().unwrap();
        let bin = logging_sacctmgr(dir.path());
        let state = dir.path().join("state");
        let config = config(
            &fake.base_url,
            prefix,
            "testcluster",
            &bin.display().to_string(),
            "{enabled: true}",
            &state.display().to_string(),
        );
        std::fs::write(dir.path().join("config.yaml"), config).unwrap();
        Env {
            _rt: rt,
            fake,
            dir,
            account: format!("{prefix}a_alloc"),
        }
    }

    fn agent(&self, args: &[&str]) -> Output {
        let out = Command::new(env!("CARGO_BIN_EXE_agent"))
            .args(args)
            .arg("-c")
            .arg(self.dir.path().join("config.yaml"))
            .output()
            .expect("agent runs");
        assert!(!show(&out).contains(TOKEN), "the token leaked");
        out
    }

    /// A reconcile that succeeds, then a plan with nothing left.
    fn converge(&self) -> Output {
        let out = self.agent(&["reconcile"]);
        assert!(out.status.success(), "reconcile failed:\n{}", show(&out));
        let plan = self.agent(&["plan", "--detailed-exitcode"]);
        assert_eq!(
            plan.status.code(),
            Some(0),
            "not converged:\n{}",
            show(&plan)
        );
        out
    }

    /// Share and GrpTRESMins of the allocation account, as SLURM shows them.
    fn slurm_values(&self) -> (String, agent_reconcile::tres::TresMap) {
        let out = sacctmgr(&[
            "-P",
            "-n",
            "show",
            "association",
            "where",
            "cluster=testcluster",
            &format!("account={}", self.account),
            "WOPLimits",
            "format=User,Share,GrpTRESMins",
        ]);
        let row = out
            .lines()
            .find(|l| l.starts_with('|'))
            .unwrap_or_else(|| panic!("no account row: {out}"));
        let cols: Vec<&str> = row.split('|').collect();
        (
            cols[1].to_string(),
            agent_reconcile::tres::parse(cols[2]).unwrap(),
        )
    }

    /// The sacctmgr calls so far that contain `needle`.
    fn calls(&self, needle: &str) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("sacctmgr.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_string)
            .collect()
    }

    fn publish(&self, timestamp: &str, settings: Value) {
        publish(
            &self.dir.path().join("state"),
            &self.account,
            timestamp,
            settings,
        );
    }

    fn waldur_limits(&self) -> Value {
        self.fake
            .state
            .read(|w| Value::Object(w.resource(RESOURCE).unwrap().limits.clone()))
    }

    fn limit_writes_to_waldur(&self) -> usize {
        self.fake
            .state
            .requests()
            .iter()
            .filter(|r| r.method == "POST" && r.path.contains("set_limits"))
            .count()
    }
}

/// A sacctmgr that appends its arguments to DIR/sacctmgr.log, then runs the real one.
fn logging_sacctmgr(dir: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = format!(
        "#!/bin/sh\necho \"$*\" >> {}/sacctmgr.log\nexec /usr/bin/sacctmgr \"$@\"\n",
        dir.display()
    );
    std::fs::write(bin.join("sacctmgr"), script).unwrap();
    std::fs::set_permissions(bin.join("sacctmgr"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink("/usr/bin/scancel", bin.join("scancel")).unwrap();
    bin
}

fn tres(pairs: &[(&str, u64)]) -> agent_reconcile::tres::TresMap {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[test]
fn a_policy_managed_offering_converges_from_empty_and_reports_what_ran() {
    if !cluster_available() {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // The worked example: limits cpu 1000, mem 2000; last quarter cpu 400, mem 2500 used.
    let env = Env::new(
        "pp1",
        seed(
            "pp1",
            json!({"cpu": 1000, "mem": 2000}),
            json!({}),
            &[("cpu", "400.00"), ("mem", "2500.00")],
        ),
    );
    let plan = env.agent(&["plan"]);
    let text = String::from_utf8_lossy(&plan.stdout).to_string();
    assert!(
        text.contains("[periodic_computed]") && text.contains("owns fairshare and GrpTRESMins"),
        "{text}"
    );
    let out = env.converge();
    assert_eq!(
        env.slurm_values(),
        (
            "1166".into(),
            tres(&[("billing", 1968), ("cpu", 108000), ("mem", 144000)])
        ),
        "{}",
        show(&out)
    );
    let results = env.fake.state.command_results();
    assert_eq!(results.len(), 1, "{results:?}");
    let r = &results[0];
    assert!(
        r.success && r.error_message.is_empty() && r.mode == "production",
        "{r:?}"
    );
    assert_eq!(r.resource_uuid, RESOURCE);
    let expected: Vec<String> = env
        .calls("set fairshare=")
        .into_iter()
        .chain(env.calls("set GrpTRESMins="))
        .collect();
    assert_eq!(expected.len(), 4, "one fairshare, one modify per TRES");
    for call in &expected {
        assert!(
            r.commands_executed
                .iter()
                .any(|c| c.ends_with(call.as_str())),
            "{call} not reported: {:?}",
            r.commands_executed
        );
    }
    // No reset on first sight mid-period, Waldur's limits untouched, nothing more to report.
    assert!(env.calls("RawUsage").is_empty());
    assert_eq!(env.waldur_limits(), json!({"cpu": 1000, "mem": 2000}));
    env.converge();
    assert_eq!(env.fake.state.command_results().len(), 1);
    cleanup("pp1");
}

#[test]
fn stored_settings_override_and_a_reset_happens_once_per_period_across_restarts() {
    if !cluster_available() {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let env = Env::new("pp2", seed("pp2", json!({"cpu": 1000}), json!({}), &[]));
    let settings = json!({"fairshare": 333, "limit_type": "GrpTRESMins", "grp_tres_mins": {"billing": 119640},
                          "reset_raw_usage": true, "qos_threshold": {"billing": 99700}});
    env.publish("2026-04-01T00:10:02.123456", settings.clone());
    let plan = env.agent(&["plan"]);
    let text = String::from_utf8_lossy(&plan.stdout).to_string();
    assert!(
        text.contains("raw_usage/pp2a_alloc/") && text.contains("[periodic_published]"),
        "{text}"
    );
    env.converge();
    let (share, limits) = env.slurm_values();
    assert_eq!(share, "333");
    assert_eq!(limits["billing"], 119640);
    assert_eq!(env.calls("RawUsage=0").len(), 1);
    assert!(
        env.calls("qos").iter().all(|c| !c.contains("set qos")),
        "QoS never from a periodic message"
    );
    let results = env.fake.state.command_results();
    assert!(
        results[0]
            .commands_executed
            .iter()
            .any(|c| c.ends_with("set RawUsage=0")),
        "{results:?}"
    );
    // A restart (a new process), the same message re-sent, a newer one for the same period:
    // no second reset.
    env.converge();
    env.publish("2026-04-01T00:20:02", settings.clone());
    env.converge();
    env.publish(
        "2026-04-01T00:30:02",
        json!({"fairshare": 334, "grp_tres_mins": {"billing": 119640}, "reset_raw_usage": true}),
    );
    env.converge();
    assert_eq!(env.slurm_values().0, "334");
    assert_eq!(
        env.calls("RawUsage=0").len(),
        1,
        "{:?}",
        env.calls("RawUsage")
    );
    // An older message never replaces the newer one.
    env.publish("2026-04-01T00:00:01", json!({"fairshare": 7}));
    env.converge();
    assert_eq!(env.slurm_values().0, "334");
    cleanup("pp2");
}

#[test]
fn the_echo_loop_setup_stays_still_for_ten_cycles() {
    if !cluster_available() {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // Spec §4.7: grace 0.3, ordered node = 18800 (unit_factor 60). A reverse sync would
    // grow Waldur's limit by 1.3 each round; here SLURM settles at 1466400 minutes and
    // Waldur keeps 18800.
    let env = Env::new(
        "pp3",
        seed(
            "pp3",
            json!({"node": 18800}),
            json!({"grace_ratio": 0.3, "tres_billing_enabled": false, "carryover_enabled": false, "raw_usage_reset": false}),
            &[],
        ),
    );
    for cycle in 1..=10 {
        let out = env.agent(&["reconcile"]);
        assert!(out.status.success(), "cycle {cycle}:\n{}", show(&out));
        assert_eq!(
            env.slurm_values().1,
            tres(&[("node", 1_466_400)]),
            "cycle {cycle}"
        );
        assert_eq!(env.waldur_limits(), json!({"node": 18800}), "cycle {cycle}");
    }
    assert_eq!(env.limit_writes_to_waldur(), 0);
    assert_eq!(
        env.calls("set GrpTRESMins=").len(),
        1,
        "written once, then left alone"
    );
    assert_eq!(env.fake.state.command_results().len(), 1);
    // Mastermind publishing the same numbers changes nothing either.
    env.publish(
        "2026-04-01T00:10:02",
        json!({"fairshare": 6266, "grp_tres_mins": {"node": 1_466_400}}),
    );
    let out = env.agent(&["reconcile"]);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(env.calls("set GrpTRESMins=").len(), 1, "{}", show(&out));
    cleanup("pp3");
}
