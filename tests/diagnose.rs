//! `agent diagnose` on the recorded demo: goldens of the text, verbose and JSON reports
//! for an account in order, a missing account, a wrong limit, a wrong QoS and a missing
//! user, with the exit codes (0 in order, 2 differs, 1 error) and colour rules.

use std::path::Path;
use std::process::{Command, Output};

const DEMO_CONFIG: &str = "examples/demo/config.yaml";

fn agent(args: &[&str], snapshot: &Path, env: &[(&str, &str)]) -> Output {
    agent_with(args, Path::new(DEMO_CONFIG), snapshot, env)
}

fn agent_with(args: &[&str], config: &Path, snapshot: &Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_agent"));
    cmd.arg("diagnose")
        .args(args)
        .arg("-c")
        .arg(config)
        .arg("--from-snapshot")
        .arg(snapshot)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("NO_COLOR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("agent runs")
}

/// The demo's Waldur and SLURM sides without its storage: these cases are about the
/// account's SLURM fields (storage has its own cases in tests/storage.rs).
fn demo() -> &'static Path {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo/snapshot");
        for side in ["waldur", "slurm"] {
            copy_dir(&src.join(side), &dir.path().join(side));
        }
        dir
    })
    .path()
}

/// The demo with rupert's association on a_zk-proofs removed by hand.
fn without_rupert() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo/snapshot");
    for side in ["waldur", "slurm"] {
        copy_dir(&src.join(side), &dir.path().join(side));
    }
    let assoc = dir.path().join("slurm/associations.txt");
    let text = std::fs::read_to_string(&assoc).unwrap();
    let kept: String = text
        .lines()
        .filter(|l| !l.starts_with("hpc1|a_zk-proofs|rupert|"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(kept.len(), text.len());
    std::fs::write(assoc, kept).unwrap();
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// Text, verbose and JSON goldens of one case, and its exit code.
fn case(name: &str, account: &str, snapshot: &Path, code: i32) {
    case_with(name, account, Path::new(DEMO_CONFIG), snapshot, code)
}

fn case_with(name: &str, account: &str, config: &Path, snapshot: &Path, code: i32) {
    for (form, flags) in [
        ("text", &[][..]),
        ("verbose", &["-v"][..]),
        ("json", &["--json"][..]),
    ] {
        let mut args = vec![account];
        args.extend(flags);
        let out = agent_with(&args, config, snapshot, &[]);
        assert_eq!(out.status.code(), Some(code), "{name} {form}: {out:?}");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(!text.contains('\u{1b}'), "no colour off a terminal");
        if form == "json" {
            let v: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
            assert_eq!(v["account"], account);
        }
        insta::assert_snapshot!(format!("diagnose_{name}_{form}"), text);
    }
}

#[test]
fn account_in_order() {
    case("ok", "a_zk-proofs", demo(), 0);
}

#[test]
fn missing_account() {
    case("missing_account", "a_pq-kem", demo(), 2);
}

#[test]
fn wrong_limit() {
    case("wrong_limit", "a_lattice-qcd", demo(), 2);
}

#[test]
fn wrong_qos() {
    case("wrong_qos", "a_detector-sim", demo(), 2);
}

#[test]
fn missing_user() {
    let dir = without_rupert();
    case("missing_user", "a_zk-proofs", dir.path(), 2);
}

/// Periodic limits on and a policy in Waldur (period `total`, so the values do not
/// depend on today's date): fairshare and GrpTRESMins are the policy's, not the order's,
/// and the periodic section shows each value with its arithmetic.
#[test]
fn policy_managed_limits() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(DEMO_CONFIG)).unwrap();
    let text = text.replace(
        "      qos_paused: \"paused\"\n",
        "      qos_paused: \"paused\"\n      periodic_limits:\n        enabled: true\n",
    );
    assert!(text.contains("periodic_limits"));
    std::fs::write(&config, text).unwrap();
    let snapshot = dir.path().join("snapshot");
    copy_dir(demo(), &snapshot);
    std::fs::write(
        snapshot.join("waldur/periodic_policies.json"),
        r#"[{"uuid": "91ab0000000000000000000000000001",
             "scope_uuid": "d629d5e45567425da9cdbdc1af67b32c",
             "period": 1, "limit_type": "GrpTRESMins"}]"#,
    )
    .unwrap();
    case_with("policy_limits", "a_lattice-qcd", &config, &snapshot, 2);
}

#[test]
fn unmanaged_and_unknown_accounts() {
    let out = agent(&["scratch"], demo(), &[]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("not managed by this agent") && text.contains("Nothing to fix."));
    let out = agent(&["no_such_account"], demo(), &[]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("UNKNOWN"));
}

/// The fix commands are the plan's own: what `agent reconcile --dry-run` would run.
#[test]
fn fix_commands_are_the_plans() {
    let out = agent(&["a_lattice-qcd", "--json"], demo(), &[]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let script = Command::new(env!("CARGO_BIN_EXE_agent"))
        .args([
            "reconcile",
            "--dry-run",
            "-c",
            "examples/demo/config.yaml",
            "--from-snapshot",
            "examples/demo/snapshot",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let script = String::from_utf8(script.stdout).unwrap();
    for cmd in v["fix_commands"].as_array().unwrap() {
        assert!(
            script.lines().any(|l| l == cmd.as_str().unwrap()),
            "{cmd} not in the dry run"
        );
    }
}

/// Colour on a terminal (util-linux `script` gives it one), never with `--no-color` or
/// `NO_COLOR`.
#[test]
fn colour_on_a_terminal_only() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipping: no `script` to give the agent a terminal");
        return;
    }
    let on_tty = |extra: &str, env: &str| {
        let line = format!(
            "{env} {} diagnose a_lattice-qcd -c examples/demo/config.yaml --from-snapshot examples/demo/snapshot {extra}",
            env!("CARGO_BIN_EXE_agent")
        );
        let out = Command::new("script")
            .args(["-qec", &line, "/dev/null"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env_remove("NO_COLOR")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    assert!(on_tty("", "").contains("\u{1b}[31mMISMATCH"));
    assert!(!on_tty("--no-color", "").contains('\u{1b}'));
    assert!(!on_tty("", "NO_COLOR=1").contains('\u{1b}'));
}
