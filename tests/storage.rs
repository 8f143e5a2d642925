//! Storage for real on this machine: homes made with mkhomedir_helper for users created
//! with useradd, project directories with mkdir, chown, setfacl and chmod (the Lustre
//! project quota through a fake lfs on PATH). Each is applied, then planned again:
//! nothing may be left. Needs root; skipped (with the reason) elsewhere. The quota
//! providers are in storage_quotas.rs.

mod storage_support;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use agent_config::ApplyMode;
use agent_desired::WaldurDocs;
use agent_observed::Runner;
use agent_reconcile::plan::Severity;
use agent_reconcile::testkit;
use serde_json::json;
use storage_support::{
    base, fake_tools, machine_ok, path_with, requires, text, unique, Accounts, OFFERING,
};
use waldur_slurm_agent::cycle::{self, Pass, PassOptions};
use waldur_slurm_agent::executor::Status;
use waldur_slurm_agent::groups;
use waldur_slurm_agent::sides::live::LiveStorage;
use waldur_slurm_agent::sides::memory::{MemorySlurm, MemoryWaldur};
use waldur_slurm_agent::sides::Sides;

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
        policies: Vec::new(),
        usages: Default::default(),
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
        periodic: waldur_slurm_agent::periodic::Periodic::files(
            &std::env::temp_dir().join("agent-periodic-unused"),
            waldur_slurm_agent::periodic::Clock::system("UTC").unwrap(),
        ),
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
