//! The quota providers this machine does not have (CephFS, Lustre, XFS quotas), through
//! fake getfattr, setfattr, lfs and xfs_quota on PATH that log their argv and answer in
//! the real tools' formats: `agent create-homedirs` as a dry run, applied, and again.
//! Quotas are read back with the provider's own tool and only differing limits written.
//! Needs root (useradd); skipped (with the reason) elsewhere.

mod storage_support;

use std::path::Path;
use std::process::{Command, Output};

use serde_json::json;
use storage_support::{
    base, fake_tools, logged, machine_ok, path_with, requires, text, unique, Accounts, OFFERING,
};

/// `agent create-homedirs` with the fake tools first on PATH.
fn agent(args: &[&str], fakes: &Path, state: &Path, log: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_agent"))
        .args(args)
        .env("PATH", path_with(fakes))
        .env("FAKE_STORAGE_STATE", state)
        .env("FAKE_STORAGE_LOG", log)
        .output()
        .expect("agent runs")
}

/// Makes a home and a quota with `create-homedirs` (dry run, apply, again) for one
/// provider; `seed` is the fake's state for the user whose home exists; returns the
/// writes the fake tools logged for the existing user and the new one.
fn provider_round(quota: &str, seed: impl Fn(&str, u32) -> serde_json::Value) -> Vec<Vec<String>> {
    let tmp = tempfile::tempdir().unwrap();
    let home = base(tmp.path(), "home");
    let fakes = fake_tools(tmp.path());
    let (state, log) = (tmp.path().join("state.json"), tmp.path().join("log.jsonl"));
    // The existing user sorts first, so its quota change comes first.
    let (old, new) = (unique("qa"), unique("qb"));
    let mut accounts = Accounts::default();
    accounts.user(&new, &home.join(&new).display().to_string());
    let old_uid = accounts.user(&old, &home.join(&old).display().to_string());
    std::fs::create_dir(home.join(&old)).unwrap();
    let old_home = home.join(&old).display().to_string();
    std::fs::write(&state, seed(&old_home, old_uid).to_string()).unwrap();
    let snapshot = tmp.path().join("snapshot");
    std::fs::create_dir_all(snapshot.join("waldur")).unwrap();
    std::fs::write(
        snapshot.join("waldur/offering_users.json"),
        json!([{"username": new, "url": "u1"}, {"username": old, "url": "u2"}]).to_string(),
    )
    .unwrap();
    let cfg = tmp.path().join("config.yaml");
    let text_cfg = format!(
        r#"offerings:
  - name: storage
    waldur_api_url: http://127.0.0.1:9/api/
    waldur_api_token: t
    waldur_offering_uuid: "{OFFERING}"
    backend_type: slurm
    backend_settings:
      default_account: root
      homedir_base_path: {}
      homedir_quota: {quota}
    backend_components:
      cpu: {{measured_unit: k-Hours, unit_factor: 60000, accounting_type: limit, label: CPU}}
agent:
  state_dir: {}
"#,
        home.display(),
        tmp.path().display()
    );
    std::fs::write(&cfg, text_cfg).unwrap();
    let args = |extra: &[&str]| -> Vec<String> {
        [
            "create-homedirs",
            "-c",
            cfg.to_str().unwrap(),
            "--waldur-snapshot",
            snapshot.to_str().unwrap(),
        ]
        .iter()
        .chain(extra)
        .map(|s| s.to_string())
        .collect()
    };
    let run = |extra: &[&str]| {
        let a = args(extra);
        agent(
            &a.iter().map(String::as_str).collect::<Vec<_>>(),
            &fakes,
            &state,
            &log,
        )
    };
    let writes = |from: usize| -> Vec<Vec<String>> {
        logged(&log)[from..]
            .iter()
            .filter(|a| {
                a[0] == "setfattr"
                    || (a[0] == "xfs_quota" && a[3].starts_with("limit"))
                    || (a[0] == "lfs" && a[1] == "setquota")
            })
            .cloned()
            .collect()
    };

    let dry = run(&["--dry-run"]);
    assert!(dry.status.success(), "{}", text(&dry));
    let script = String::from_utf8_lossy(&dry.stdout).into_owned();
    assert!(
        script.contains(&format!("\n/sbin/mkhomedir_helper {new} 0077 /etc/skel\n")),
        "{script}"
    );
    assert!(!home.join(&new).exists(), "a dry run changes nothing");
    assert!(writes(0).is_empty(), "a dry run writes no quota");

    let applied = run(&[]);
    assert!(applied.status.success(), "{}", text(&applied));
    assert!(text(&applied).contains("Verified"), "{}", text(&applied));
    assert!(home.join(&new).is_dir());
    let written = writes(0);
    let after_apply = logged(&log).len();

    let again = run(&[]);
    assert!(again.status.success(), "{}", text(&again));
    assert!(text(&again).contains("No changes"), "{}", text(&again));
    assert!(
        writes(after_apply).is_empty(),
        "second run wrote {:?}",
        writes(after_apply)
    );
    assert!(
        logged(&log).len() > after_apply,
        "the second run read the quotas back"
    );
    drop(accounts);
    written
        .into_iter()
        .map(|a| {
            a.into_iter()
                .map(|w| w.replace(&old, "OLD").replace(&new, "NEW"))
                .collect()
        })
        .collect()
}

fn fakes_ok() -> bool {
    machine_ok()
        && requires(
            "python3 (the fake quota tools)",
            storage_support::have("python3"),
        )
}

#[test]
fn ceph_xattr_quotas_read_back_with_getfattr_and_only_differences_written() {
    if !fakes_ok() {
        return;
    }
    let written = provider_round(
        r#"{provider: ceph_xattr, max_bytes: "10g", max_files: 1000}"#,
        |old_home, _| json!({"xattr": {old_home: {"ceph.quota.max_bytes": 10u64 << 30, "ceph.quota.max_files": 5}}}),
    );
    let shapes: Vec<String> = written.iter().map(|a| a[..6].join(" ")).collect();
    assert_eq!(
        shapes,
        [
            "setfattr -h -n ceph.quota.max_files -v 1000",
            "setfattr -h -n ceph.quota.max_bytes -v 10737418240",
            "setfattr -h -n ceph.quota.max_files -v 1000",
        ]
    );
    assert!(written[0][6].ends_with("/OLD"), "{written:?}");
    assert!(written[1][6].ends_with("/NEW"), "{written:?}");
}

#[test]
fn lustre_user_quotas_read_back_with_lfs_quota_and_only_differences_written() {
    if !fakes_ok() {
        return;
    }
    let written = provider_round(
        r#"{provider: lustre, mount_point: /lustre-fake, block_softlimit: 900000, block_hardlimit: "1g", inode_hardlimit: 100000}"#,
        |_, uid| json!({"lustre_usr": {"/lustre-fake": {uid.to_string(): {"bsoft": 900000, "bhard": 5, "isoft": 0, "ihard": 100000}}}}),
    );
    let lines: Vec<String> = written
        .iter()
        .map(|a| {
            let mut a = a.clone();
            a[3] = "UID".into();
            a.join(" ")
        })
        .collect();
    assert_eq!(
        lines,
        [
            "lfs setquota -u UID -B 1048576 /lustre-fake",
            "lfs setquota -u UID -b 900000 -B 1048576 -I 100000 /lustre-fake",
        ]
    );
}

#[test]
fn xfs_user_quotas_read_back_with_xfs_quota_report_and_only_differences_written() {
    if !fakes_ok() {
        return;
    }
    let written = provider_round(
        r#"{provider: xfs, mount_point: /xfs-fake, block_softlimit: "900g", block_hardlimit: "1t", inode_softlimit: 90000}"#,
        |_, uid| json!({"xfs": {"/xfs-fake": {uid.to_string(): {"bsoft": 943718400, "bhard": 1, "isoft": 90000, "ihard": 0}}}}),
    );
    let commands: Vec<String> = written
        .iter()
        .map(|a| a[3].rsplit_once(' ').unwrap().0.to_string())
        .collect();
    assert_eq!(
        commands,
        [
            "limit -u bhard=1t",
            "limit -u bsoft=900g bhard=1t isoft=90000"
        ]
    );
}
