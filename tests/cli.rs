//! The CLI on recorded snapshots: golden plans, determinism, and bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn agent(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_agent"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("agent runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const DEMO: [&str; 4] = [
    "-c",
    "examples/demo/config.yaml",
    "--from-snapshot",
    "examples/demo/snapshot",
];

fn with(cmd: &[&str], rest: &[&str]) -> Vec<String> {
    cmd.iter().chain(rest).map(|s| s.to_string()).collect()
}

fn run(args: Vec<String>) -> Output {
    agent(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

#[test]
fn demo_plan_text() {
    let out = run(with(&["plan"], &DEMO));
    assert!(out.status.success());
    insta::assert_snapshot!("demo_plan_text", stdout(&out));
}

#[test]
fn demo_plan_json_and_exit_code() {
    let out = run(with(&["plan", "--json", "--detailed-exitcode"], &DEMO));
    assert_eq!(out.status.code(), Some(2));
    insta::assert_snapshot!("demo_plan_json", stdout(&out));
    // Same inputs, byte-identical plan.
    let again = run(with(&["plan", "--json"], &DEMO));
    assert_eq!(stdout(&out), stdout(&again));
}

#[test]
fn demo_dry_run_script() {
    let out = run(with(&["reconcile", "--dry-run"], &DEMO));
    assert!(out.status.success());
    insta::assert_snapshot!("demo_dry_run", stdout(&out));
}

#[test]
fn plan_schema() {
    let out = agent(&["plan-schema"]);
    insta::assert_snapshot!("plan_schema", stdout(&out));
}

/// A copy of the demo snapshot with one file replaced.
fn broken_copy(file: &str, edit: impl Fn(String) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(Path::new("examples/demo/snapshot"), dir.path());
    let path = dir.path().join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, edit(text)).unwrap();
    dir
}

fn copy_dir(from: &Path, to: &Path) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join(from);
    for entry in std::fs::read_dir(&from).unwrap() {
        let entry = entry.unwrap();
        let target: PathBuf = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn plan_with_snapshot(dir: &Path) -> Output {
    agent(&[
        "plan",
        "-c",
        "examples/demo/config.yaml",
        "--from-snapshot",
        dir.to_str().unwrap(),
    ])
}

#[test]
fn malformed_sacctmgr_row_fails_naming_file_and_line() {
    let dir = broken_copy("slurm/associations.txt", |t| {
        t.replacen(
            "hpc1|p_physics|||c_uni-tartu|1||||||",
            "hpc1|p_physics|c_uni-tartu",
            1,
        )
    });
    let out = plan_with_snapshot(dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).is_empty(), "no plan is printed");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("associations.txt, line 5: expected 12 columns"),
        "{err}"
    );
}

#[test]
fn waldur_document_missing_a_field_fails_naming_the_key() {
    let dir = broken_copy("waldur/resources.json", |t| {
        t.replacen("\"slug\": \"lattice-qcd\",", "", 1)
    });
    let out = plan_with_snapshot(dir.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("resources.json")
            && err.contains("missing field `slug`")
            && err.contains("line"),
        "{err}"
    );
}

#[test]
fn config_value_of_the_wrong_type_fails_naming_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string("examples/demo/config.yaml")
        .unwrap()
        .replace("unit_factor: 60000", "unit_factor: [60000]");
    let config = dir.path().join("config.yaml");
    std::fs::write(&config, text).unwrap();
    let out = agent(&[
        "plan",
        "-c",
        config.to_str().unwrap(),
        "--from-snapshot",
        "examples/demo/snapshot",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("offerings[0].backend_components.cpu.unit_factor: expected a number"),
        "{err}"
    );
    assert!(err.contains("line 39"), "{err}");
    assert!(!err.contains("demo-token-not-secret"));
}

#[test]
fn converged_snapshot_plans_nothing() {
    // The demo with its drift repaired and its orders closed: plan is empty, exit 0.
    let out = agent(&[
        "plan",
        "--detailed-exitcode",
        "-c",
        "examples/demo/config.yaml",
        "--from-snapshot",
        "tests/scenarios/converged",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).starts_with("No changes."), "{}", stdout(&out));
}
