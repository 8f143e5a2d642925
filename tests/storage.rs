//! Storage for real on this machine: homes made with mkhomedir_helper for users created
//! with useradd, project directories with mkdir, chown, setfacl and chmod; and the quota
//! providers this machine does not have (CephFS, Lustre, XFS quotas) through fake tools
//! on PATH that log their argv and answer like the real ones. Each is applied, then
//! planned again: nothing may be left. Needs root; skipped (with the reason) elsewhere.

mod storage_support;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use agent_config::ApplyMode;
use agent_desired::WaldurDocs;
use agent_observed::Runner;
use agent_reconcile::plan::Severity;
use agent_reconcile::testkit;
use serde_json::json;
use storage_support::{base, fake_tools, logged, path_with, requires, unique, Accounts};
use waldur_slurm_agent::cycle::{self, Pass, PassOptions};
use waldur_slurm_agent::executor::Status;
use waldur_slurm_agent::groups;
use waldur_slurm_agent::sides::live::LiveStorage;
use waldur_slurm_agent::sides::memory::{MemorySlurm, MemoryWaldur};
use waldur_slurm_agent::sides::Sides;

const OFFERING: &str = "0ff00000000000000000000000000016";

fn machine_ok() -> bool {
    requires("root (useradd, chown)", storage_support::is_root())
        && requires(
            "/sbin/mkhomedir_helper",
            Path::new("/sbin/mkhomedir_helper").exists(),
        )
}

fn config(storage: &str) -> agent_config::Config {
    let yaml = format!(
        r#"
offerings:
  - name: storage
    waldur_api_url: http://127.0.0.1:9/api/
    waldur_api_token: t
    waldur_offering_uuid: "{OFFERING}"
    backend_type: slurm
    order_processing_backend: slurm
    membership_sync_backend: slurm
    backend_settings:
      cluster_name: c1
      default_account: root
      customer_prefix: c_
      project_prefix: p_
      allocation_prefix: a_
{storage}
    backend_components:
      cpu: {{measured_unit: k-Hours, unit_factor: 60000, accounting_type: limit, label: CPU}}
"#
    );
    agent_config::load_str("storage-test.yaml", &yaml, None, None)
        .expect("valid config")
        .config
}

/// One live allocation `account` with these team members.
fn docs(account: &str, members: &[&str]) -> WaldurDocs {
    let resource = json!([{
        "uuid": "e0000000000000000000000000000016", "name": "Alloc", "slug": "alloc",
        "state": "OK", "backend_id": account, "project_uuid": "b0000000000000000000000000000016",
        "project_slug": "proj", "project_name": "Project", "customer_slug": "cust",
        "customer_name": "Customer", "limits": {"cpu": 10}, "paused": false,
        "downscaled": false, "restrict_member_access": false, "attributes": {},
        "offering_plugin_options": {}, "backend_metadata": {}
    }]);
    let team: Vec<_> = members
        .iter()
        .map(|u| json!({"username": u, "offering_user_username": u, "offering_user_state": "OK"}))
        .collect();
    WaldurDocs {
        offering: serde_json::from_value(json!({"uuid": OFFERING, "name": "storage"})).unwrap(),
        resources: serde_json::from_value(resource).unwrap(),
        teams: BTreeMap::from([(
            "e0000000000000000000000000000016".to_string(),
            serde_json::from_value(json!(team)).unwrap(),
        )]),
        orders: vec![],
        user_limits: None,
    }
}

/// Memory SLURM and Waldur, the real filesystem.
fn sides(docs: WaldurDocs) -> (Sides, Arc<MemoryWaldur>) {
    let slurm = Arc::new(MemorySlurm::new(testkit::cluster(
        "c1",
        &["cpu"],
        &["normal"],
    )));
    let waldur = Arc::new(MemoryWaldur::new(BTreeMap::from([(
        OFFERING.to_string(),
        docs,
    )])));
    let storage = Arc::new(LiveStorage {
        runner: Arc::new(Runner::new(Duration::from_secs(60))),
    });
    let sides = Sides {
        waldur: waldur.clone(),
        waldur_writes: Some(waldur.clone()),
        slurm: slurm.clone(),
        slurm_writes: Some(slurm),
        storage: Some(storage.clone()),
        storage_writes: Some(storage),
    };
    (sides, waldur)
}

async fn pass(config: &agent_config::Config, sides: &Sides, apply: bool) -> Pass {
    let groups = groups::groups(config, None).unwrap();
    let options = PassOptions {
        apply,
        mode: ApplyMode::PerChange,
        allow_mass_delete: false,
        verify: apply,
        progress: None,
        state: None,
    };
    cycle::reconcile(config, sides, &groups, &options).await
}

fn status(p: &Pass, address: &str) -> Option<Status> {
    let outcome = p.groups[0].outcome.as_ref()?;
    outcome
        .statuses
        .iter()
        .find(|(a, _)| a.to_string() == address)
        .map(|(_, s)| s.clone())
}

fn codes(p: &agent_reconcile::Plan) -> Vec<(Severity, String)> {
    p.diagnostics
        .iter()
        .map(|d| (d.severity, d.code.clone()))
        .collect()
}

#[tokio::test]
async fn homes_of_associated_users_are_made_once_and_nothing_else_is_touched() {
    if !machine_ok() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let home = base(tmp.path(), "home");
    let h = |u: &str| home.join(u).display().to_string();
    let (new, pre, link, dots) = (unique("n"), unique("p"), unique("l"), unique("d"));
    let mut accounts = Accounts::default();
    let new_uid = accounts.user(&new, &h(&new));
    accounts.user(&pre, &h(&pre));
    accounts.user(&link, &h(&link));
    // Path traversal in the passwd entry itself.
    accounts.user(&dots, &format!("{}/../{dots}", home.display()));
    // A home that exists (someone else's owner and mode): never touched.
    std::fs::create_dir(h(&pre)).unwrap();
    std::fs::set_permissions(h(&pre), std::fs::Permissions::from_mode(0o750)).unwrap();
    std::fs::write(home.join(&pre).join("marker"), "mine").unwrap();
    // A home that is a link elsewhere: never followed.
    let elsewhere = tmp.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, h(&link)).unwrap();
    let config = config(&format!("      homedir_base_path: {}", home.display()));
    let ghost = unique("ghost");
    let account = format!("a_{}", unique("h"));
    let team = [new.as_str(), &pre, &link, &dots, &ghost, "Bad;Name"];
    let (sides, _) = sides(docs(&account, &team));

    let first = pass(&config, &sides, true).await;
    assert_eq!(
        status(&first, &format!("directory/home/{new}")),
        Some(Status::Applied),
        "{:?}",
        first.groups[0].outcome
    );
    let made = std::fs::metadata(h(&new)).unwrap();
    assert!(made.is_dir());
    assert_eq!((made.uid(), made.mode() & 0o7777), (new_uid, 0o700));
    let bashrc = std::fs::metadata(home.join(&new).join(".bashrc")).unwrap();
    assert_eq!(
        (bashrc.uid(), bashrc.mode() & 0o777),
        (new_uid, 0o600),
        "skeleton copied with the umask"
    );
    let kept = std::fs::metadata(h(&pre)).unwrap();
    assert_eq!((kept.uid(), kept.mode() & 0o7777), (0, 0o750));
    assert_eq!(
        std::fs::read_to_string(home.join(&pre).join("marker")).unwrap(),
        "mine"
    );
    assert!(std::fs::symlink_metadata(h(&link))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(std::fs::read_dir(&elsewhere).unwrap().count(), 0);
    assert!(!tmp.path().join(&dots).exists());

    let verified = first.groups[0].verified.as_ref().expect("verified");
    assert!(verified.changes.is_empty(), "{verified:?}");
    let found = codes(verified);
    for expected in [
        (Severity::Error, "home_not_a_directory"),
        (Severity::Error, "unsafe_home_path"),
        (Severity::Warning, "linux_user_missing"),
        (Severity::Error, "invalid_name"),
    ] {
        assert!(
            found.contains(&(expected.0, expected.1.to_string())),
            "{expected:?} not in {found:?}"
        );
    }
    let again = pass(&config, &sides, false).await;
    let plan = again.groups[0].plan.as_ref().unwrap();
    assert!(plan.changes.is_empty(), "second run: {plan:?}");
    drop(accounts);
}

#[tokio::test]
async fn project_directories_are_kept_and_never_removed() {
    if !machine_ok()
        || !requires(
            "setfacl and getfacl (package acl)",
            storage_support::have("setfacl"),
        )
        || !requires("python3 (the fake lfs)", storage_support::have("python3"))
    {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let proj = base(tmp.path(), "proj");
    let fakes = fake_tools(tmp.path());
    // The only in-process user of the fakes in this binary: lfs for the project quota.
    std::env::set_var("PATH", path_with(&fakes));
    std::env::set_var("FAKE_STORAGE_STATE", tmp.path().join("state.json"));
    std::env::set_var("FAKE_STORAGE_LOG", tmp.path().join("log.jsonl"));
    let account = format!("a_{}", unique("pj"));
    let mut accounts = Accounts::default();
    let gid = accounts.group(&account);
    let config = config(&format!(
        r#"      enable_user_homedir_account_creation: false
      project_directory:
        enabled: true
        base_path: {}
        lustre_quota: {{mount_point: /lustre-fake, block_hardlimit: "1g", inode_hardlimit: 5000}}"#,
        proj.display()
    ));
    let (sides, waldur) = sides(docs(&account, &["ann"]));
    let dir = proj.join(&account);

    let first = pass(&config, &sides, true).await;
    assert_eq!(first.groups[0].left, 0, "{:?}", first.groups[0].verified);
    let m = std::fs::metadata(&dir).unwrap();
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (65534, gid, 0o2770));
    let acl = Command::new("getfacl")
        .args(["-n", "-p"])
        .arg(&dir)
        .output()
        .unwrap();
    let acl = String::from_utf8_lossy(&acl.stdout);
    assert!(acl.contains(&format!("\ngroup:{gid}:rwx")), "{acl}");
    assert!(acl.contains(&format!("default:group:{gid}:rwx")), "{acl}");
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(tmp.path().join("state.json")).unwrap())
            .unwrap();
    assert_eq!(
        state["lustre_prj"]["/lustre-fake"][gid.to_string()]["bhard"],
        1 << 20
    );
    assert_eq!(
        state["projects"][dir.display().to_string()],
        json!([gid, true])
    );

    // Drift by hand: mode and ACL put back, nothing else.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert!(Command::new("setfacl")
        .arg("-b")
        .arg(&dir)
        .status()
        .unwrap()
        .success());
    let repaired = pass(&config, &sides, true).await;
    let plan = repaired.groups[0].plan.as_ref().unwrap();
    let addresses: Vec<String> = plan.changes.iter().map(|c| c.address.to_string()).collect();
    assert_eq!(addresses, [format!("directory/project/{account}")]);
    assert_eq!(repaired.groups[0].left, 0);
    assert_eq!(std::fs::metadata(&dir).unwrap().mode() & 0o7777, 0o2770);

    // Terminated: the account goes, the directory stays.
    waldur.edit(OFFERING, |d| {
        d.orders = serde_json::from_value(json!([{
            "uuid": "d0000000000000000000000000000016", "type": "Terminate",
            "state": "executing", "marketplace_resource_uuid": "e0000000000000000000000000000016"
        }]))
        .unwrap();
    });
    let terminated = pass(&config, &sides, true).await;
    let plan = terminated.groups[0].plan.as_ref().unwrap();
    assert!(
        plan.changes.iter().all(|c| !c.kind.is_storage()),
        "{plan:?}"
    );
    assert!(plan
        .changes
        .iter()
        .any(|c| c.address.to_string() == format!("account/{account}")));
    assert!(dir.is_dir());
    drop(accounts);
}

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

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
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

#[test]
fn create_homedirs_dry_run_on_the_demo_snapshot() {
    // Every OK offering user, associated or not (trent is in no allocation); recorded
    // storage, so nothing here needs root.
    let out = Command::new(env!("CARGO_BIN_EXE_agent"))
        .args([
            "create-homedirs",
            "--dry-run",
            "-c",
            "examples/demo/config.yaml",
        ])
        .args(["--from-snapshot", "examples/demo/snapshot"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    insta::assert_snapshot!("create_homedirs_demo", String::from_utf8_lossy(&out.stdout));
    // Applying needs the live filesystem.
    let refused = Command::new(env!("CARGO_BIN_EXE_agent"))
        .args(["create-homedirs", "-c", "examples/demo/config.yaml"])
        .args(["--from-snapshot", "examples/demo/snapshot"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused).contains("cannot be applied"),
        "{}",
        text(&refused)
    );
}
