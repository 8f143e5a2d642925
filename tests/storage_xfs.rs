//! XFS user quotas for real where the kernel has them: a loop-mounted XFS image with
//! `uquota`, homes on it, `agent create-homedirs` with the real xfs_quota, applied, then
//! run again (nothing left to write). Where the kernel has no XFS quota support (this
//! machine: "XFS (loop0): quota support not available in this kernel") the test is
//! skipped with the kernel's own words; tests/storage.rs covers xfs_quota with a fake
//! that answers in its formats, and observed's parser tests with recorded outputs.

mod storage_support;

use std::path::{Path, PathBuf};
use std::process::Command;

use storage_support::{base, requires, unique, Accounts};

/// Unmounts when dropped.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).output();
    }
}

fn sh(args: &[&str]) -> std::process::Output {
    Command::new(args[0]).args(&args[1..]).output().unwrap()
}

/// What the kernel said about the failed mount (the last XFS lines of its log), or the
/// mount error.
fn kernel_reason(mount_error: &str) -> String {
    let log = sh(&["dmesg"]);
    let text = String::from_utf8_lossy(&log.stdout).into_owned();
    text.lines()
        .rev()
        .find(|l| l.contains("XFS") && l.contains("quota"))
        .map(|l| l.trim().to_string())
        .unwrap_or_else(|| mount_error.trim().to_string())
}

#[test]
fn xfs_user_quotas_for_real_or_skipped_with_the_kernels_reason() {
    if !requires("root (mount, useradd)", storage_support::is_root())
        || !requires(
            "mkfs.xfs and xfs_quota (package xfsprogs)",
            storage_support::have("mkfs.xfs"),
        )
    {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let image = tmp.path().join("xfs.img");
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let file = std::fs::File::create(&image).unwrap();
    file.set_len(320 << 20).unwrap();
    drop(file);
    let mkfs = sh(&["mkfs.xfs", "-q", image.to_str().unwrap()]);
    assert!(
        mkfs.status.success(),
        "{}",
        String::from_utf8_lossy(&mkfs.stderr)
    );
    let mount = sh(&[
        "mount",
        "-o",
        "loop,uquota",
        image.to_str().unwrap(),
        mnt.to_str().unwrap(),
    ]);
    if !mount.status.success() {
        eprintln!(
            "skipping: XFS quotas cannot run on this machine: {}",
            kernel_reason(&String::from_utf8_lossy(&mount.stderr))
        );
        return;
    }
    let _mounted = Mounted(mnt.clone());
    let home = base(&mnt, "home");
    let user = unique("x");
    let mut accounts = Accounts::default();
    accounts.user(&user, &home.join(&user).display().to_string());
    run_and_check(tmp.path(), &mnt, &home, &user);
    drop(accounts);
}

fn run_and_check(tmp: &Path, mnt: &Path, home: &Path, user: &str) {
    let snapshot = tmp.join("snapshot");
    std::fs::create_dir_all(snapshot.join("waldur")).unwrap();
    std::fs::write(
        snapshot.join("waldur/offering_users.json"),
        format!(r#"[{{"username": "{user}", "url": "u"}}]"#),
    )
    .unwrap();
    let cfg = tmp.join("config.yaml");
    std::fs::write(
        &cfg,
        format!(
            r#"offerings:
  - name: xfs
    waldur_api_url: http://127.0.0.1:9/api/
    waldur_api_token: t
    waldur_offering_uuid: "0ff00000000000000000000000000017"
    backend_type: slurm
    backend_settings:
      default_account: root
      homedir_base_path: {}
      homedir_quota: {{provider: xfs, mount_point: {}, block_softlimit: "90m", block_hardlimit: "100m", inode_hardlimit: 1000}}
    backend_components:
      cpu: {{measured_unit: k-Hours, unit_factor: 60000, accounting_type: limit, label: CPU}}
"#,
            home.display(),
            mnt.display()
        ),
    )
    .unwrap();
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_agent"))
            .args(["create-homedirs", "-c", cfg.to_str().unwrap()])
            .args(["--waldur-snapshot", snapshot.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let first = run();
    let out = String::from_utf8_lossy(&first.stdout).into_owned();
    assert!(first.status.success() && out.contains("Verified"), "{out}");
    assert!(home.join(user).is_dir());
    let report = sh(&[
        "xfs_quota",
        "-x",
        "-c",
        &format!("quota -u -N -b {user}"),
        mnt.to_str().unwrap(),
    ]);
    let report = String::from_utf8_lossy(&report.stdout).into_owned();
    assert!(
        report.contains("92160") && report.contains("102400"),
        "{report}"
    );
    let second = run();
    let out = String::from_utf8_lossy(&second.stdout).into_owned();
    assert!(
        second.status.success() && out.contains("No changes"),
        "{out}"
    );
}
