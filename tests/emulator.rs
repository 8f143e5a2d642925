//! The same observe/apply/re-plan against slurm-emulator (PyPI), selected by
//! `slurm_bin_path`. Runs when `SLURM_EMULATOR_BIN` names the bin dir made by
//! scripts/emulator/setup.sh; in CI (`CI=true`) a missing emulator is a failure.

use std::path::Path;
use std::process::{Command, Output};

fn emulator_bin() -> Option<String> {
    match std::env::var("SLURM_EMULATOR_BIN") {
        Ok(b) if !b.is_empty() => Some(b),
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("CI=true but SLURM_EMULATOR_BIN is not set: run scripts/emulator/setup.sh")
        }
        _ => {
            eprintln!("skipping: SLURM_EMULATOR_BIN unset");
            None
        }
    }
}

fn show(out: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs a program with the emulator's state kept in `state`.
fn run(program: &str, args: &[&str], state: &Path) -> Output {
    Command::new(program)
        .args(args)
        .env("SLURM_EMULATOR_STATE_FILE", state.join("db.json"))
        .env("SLURM_EMULATOR_TIME_FILE", state.join("time.json"))
        .env("SLURM_EMULATOR_CLUSTER_NAME", "hpc1")
        .output()
        .expect("runs")
}

fn slurm_changes(plan: &serde_json::Value) -> Vec<String> {
    plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] != "waldur")
        .map(|c| c["address"].as_str().unwrap().to_string())
        .collect()
}

fn converge_with(mode: &str, bin: &str) {
    let state = tempfile::tempdir().unwrap();
    let sacctmgr = format!("{bin}/sacctmgr");
    for qos in ["limited", "paused"] {
        run(&sacctmgr, &["-i", "add", "qos", qos], state.path());
    }
    let config = std::fs::read_to_string("examples/demo/config.yaml")
        .unwrap()
        .replace(
            "slurm_bin_path: \"/usr/bin\"",
            &format!("slurm_bin_path: \"{bin}\""),
        )
        + &format!("  state_dir: {}\n", state.path().join("state").display());
    let config_path = state.path().join("config.yaml");
    std::fs::write(&config_path, config).unwrap();
    let agent = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend([
            "-c",
            config_path.to_str().unwrap(),
            "--waldur-snapshot",
            "examples/demo/snapshot",
        ]);
        run(env!("CARGO_BIN_EXE_agent"), &all, state.path())
    };
    let before: serde_json::Value =
        serde_json::from_slice(&agent(&["plan", "--json"]).stdout).expect("plan JSON");
    assert!(slurm_changes(&before).len() > 20, "{before}");
    let out = agent(&["reconcile", "--apply-mode", mode]);
    let text = show(&out);
    assert!(text.contains("Verified"), "{mode}: {text}");
    let after: serde_json::Value =
        serde_json::from_slice(&agent(&["plan", "--json"]).stdout).expect("plan JSON");
    assert_eq!(
        slurm_changes(&after),
        Vec::<String>::new(),
        "{mode}: {after}"
    );
}

#[test]
fn demo_converges_on_the_emulator_per_change_and_batch() {
    let Some(bin) = emulator_bin() else { return };
    converge_with("per-change", &bin);
    converge_with("batch", &bin);
}
