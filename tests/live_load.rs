//! `apply_mode: load` against the real test cluster (scripts/slurm/start-slurm.sh): a
//! fresh tree by `sacctmgr load`, and an agent killed half-way through its load, after
//! which the next reconcile converges and the plan after it is empty.

use std::path::Path;
use std::process::{Command, Output};

mod support;

use support::*;

const PREFIX: &str = "t9";

/// 12 allocations of one project, 5 members each (72 creations: above the `auto`
/// threshold); one project name with quotes the flat file cannot carry.
fn world(dir: &Path, bin: &str) {
    let state = dir.join("state").display().to_string();
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
      slurm_bin_path: "{bin}"
      default_account: root
      root_account: root
      customer_prefix: {PREFIX}c_
      project_prefix: {PREFIX}p_
      allocation_prefix: {PREFIX}a_
      qos_default: normal
    backend_components:
      cpu: {{measured_unit: k-Hours, unit_factor: 60000, accounting_type: limit, label: CPU}}
agent:
  max_deletions: 5
  state_dir: {state}
"#
    );
    std::fs::write(dir.join("config.yaml"), config).unwrap();
    std::fs::create_dir_all(dir.join("waldur/teams")).unwrap();
    std::fs::write(
        dir.join("waldur/offering.json"),
        r#"{"uuid": "11111111111111111111111111111111", "name": "live", "components": [], "partitions": [], "plugin_options": {}}"#,
    )
    .unwrap();
    let mut resources = Vec::new();
    for i in 0..12 {
        let uuid = format!("{:032x}", i + 1);
        let (project, project_uuid) = if i < 10 {
            ("Plain project", "22222222222222222222222222222222")
        } else {
            ("It's \"quoted\"", "33333333333333333333333333333333")
        };
        resources.push(serde_json::json!({
            "uuid": uuid, "name": format!("Resource {i}"), "slug": format!("r{i}"), "state": "OK",
            "backend_id": format!("{PREFIX}a_r{i}"),
            "project_uuid": project_uuid, "project_slug": format!("proj{}", i / 10),
            "project_name": project, "customer_slug": "cust", "customer_name": "Customer",
            "limits": {"cpu": 10 + i}, "backend_metadata": {"qos": "normal"}, "paused": false,
            "downscaled": false, "restrict_member_access": false
        }));
        let team: Vec<_> = (0..5)
            .map(|u| {
                let name = format!("{PREFIX}u{}", (i + u) % 8);
                serde_json::json!({"username": name, "offering_user_username": name, "offering_user_state": "OK"})
            })
            .collect();
        std::fs::write(
            dir.join(format!("waldur/teams/{uuid}.json")),
            serde_json::to_string(&team).unwrap(),
        )
        .unwrap();
    }
    std::fs::write(
        dir.join("waldur/resources.json"),
        serde_json::to_string(&resources).unwrap(),
    )
    .unwrap();
}

fn agent(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_agent"))
        .args(args)
        .arg("-c")
        .arg(dir.join("config.yaml"))
        .arg("--waldur-snapshot")
        .arg(dir)
        .env("RUST_LOG", "info")
        // A killed agent's private load directory stays in the test's own dir.
        .env("TMPDIR", dir)
        .output()
        .expect("agent runs")
}

fn planned(dir: &Path) -> Vec<String> {
    let out = agent(dir, &["plan", "--json"]);
    assert!(out.status.success(), "{}", show(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["address"].as_str().unwrap().to_string())
        .collect()
}

fn real_sacctmgr() -> String {
    let out = Command::new("sh")
        .args(["-c", "command -v sacctmgr"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn a_fresh_tree_loads_and_what_the_file_cannot_carry_goes_through_the_session() {
    if !cluster_available() {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    cleanup(PREFIX);
    let dir = tempfile::tempdir().unwrap();
    world(dir.path(), "");
    let before = planned(dir.path()).len();
    assert!(before > 50, "{before} changes");
    let out = agent(dir.path(), &["reconcile", "--apply-mode", "load"]);
    assert!(out.status.success(), "{}", show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("sacctmgr load of the plan's creations"),
        "{stderr}"
    );
    assert!(planned(dir.path()).is_empty());
    // The quoted project's description stays as Waldur has it (through the session).
    let descr = sacctmgr(&["-n", "-P", "show", "account", "t9p_proj1", "format=descr"]);
    assert!(descr.contains("quoted"), "{descr}");
    cleanup(PREFIX);
}

#[test]
fn an_agent_killed_half_way_through_its_load_converges_next_cycle() {
    if !cluster_available() {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    cleanup(PREFIX);
    let dir = tempfile::tempdir().unwrap();
    // A sacctmgr that loads the first half of the file, then kills the agent that ran it.
    let bin = dir.path().join("bin");
    write_script(
        &bin.join("sacctmgr"),
        &format!(
            r#"#!/bin/sh
f=""
for a in "$@"; do case "$a" in file=*) f="${{a#file=}}";; esac; done
if [ "$2" = "load" ] && [ -n "$f" ]; then
  n=$(wc -l < "$f")
  head -n $((n / 2)) "$f" > "$f.half"
  {real} -i load "file=$f.half" > /dev/null 2>&1
  kill -9 $PPID
  exit 137
fi
exec {real} "$@"
"#,
            real = real_sacctmgr()
        ),
    );
    world(dir.path(), &bin.display().to_string());
    let total = planned(dir.path()).len();
    let out = agent(dir.path(), &["reconcile", "--apply-mode", "load"]);
    assert!(
        !out.status.success(),
        "the agent was not killed: {}",
        show(&out)
    );
    let left = planned(dir.path()).len();
    assert!(left > 0 && left < total, "half-way: {left} of {total} left");
    // The next cycle, with the real sacctmgr, converges; the plan after it is empty.
    world(dir.path(), "");
    let out = agent(dir.path(), &["reconcile"]);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(planned(dir.path()), Vec::<String>::new());
    cleanup(PREFIX);
}
