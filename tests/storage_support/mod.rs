//! Helpers of the storage tests: real Linux users made with useradd and removed when
//! dropped, the fake quota tools, and what the machine must offer (root, the tools).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// The offering of the storage tests' configs.
pub const OFFERING: &str = "0ff00000000000000000000000000016";

/// Root (useradd, chown) and mkhomedir_helper, or the reason the test is skipped.
pub fn machine_ok() -> bool {
    requires("root (useradd, chown)", is_root())
        && requires(
            "/sbin/mkhomedir_helper",
            Path::new("/sbin/mkhomedir_helper").exists(),
        )
}

/// stdout and stderr together, for failure messages.
pub fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// useradd and userdel lock /etc/passwd: one at a time.
static ACCOUNTS: Mutex<()> = Mutex::new(());

fn ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// Whether the test can run; in CI a missing requirement is a failure, elsewhere a skip
/// with the reason.
pub fn requires(what: &str, ok: bool) -> bool {
    if ok {
        return true;
    }
    if ci() {
        panic!("CI=true but this machine lacks {what} (scripts/test.sh installs it)");
    }
    eprintln!("skipping: {what} not available");
    false
}

pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

pub fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// A name no other call in this test process returns: `wsa<pid>x<n><tag>`.
pub fn unique(tag: &str) -> String {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("wsa{}x{n}{tag}", std::process::id())
}

/// Linux users and groups made for a test; removed when dropped (their homes live in a
/// temporary directory).
#[derive(Default)]
pub struct Accounts {
    users: Vec<String>,
    groups: Vec<String>,
}

fn run(args: &[&str]) {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Accounts {
    /// `useradd -M -U -d HOME NAME`: no home made; returns the uid.
    pub fn user(&mut self, name: &str, home: &str) -> u32 {
        {
            let _one = ACCOUNTS.lock().unwrap_or_else(|e| e.into_inner());
            run(&["useradd", "-M", "-U", "-d", home, "-s", "/bin/sh", name]);
        }
        self.users.push(name.to_string());
        id("-u", name)
    }

    /// `groupadd NAME`; returns the gid.
    pub fn group(&mut self, name: &str) -> u32 {
        {
            let _one = ACCOUNTS.lock().unwrap_or_else(|e| e.into_inner());
            run(&["groupadd", name]);
        }
        self.groups.push(name.to_string());
        let out = Command::new("getent")
            .args(["group", name])
            .output()
            .unwrap();
        let line = String::from_utf8_lossy(&out.stdout).into_owned();
        line.split(':').nth(2).unwrap().parse().unwrap()
    }
}

pub fn id(flag: &str, user: &str) -> u32 {
    let out = Command::new("id").args([flag, user]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

impl Drop for Accounts {
    fn drop(&mut self) {
        let _one = ACCOUNTS.lock().unwrap_or_else(|e| e.into_inner());
        for u in &self.users {
            let _ = Command::new("userdel").arg(u).output();
        }
        for g in &self.groups {
            let _ = Command::new("groupdel").arg(g).output();
        }
    }
}

/// A base directory for homes or project directories: root-owned, mode 0755.
pub fn base(parent: &Path, name: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = parent.join(name);
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// A directory of links named getfattr, setfattr, xfs_quota and lfs to the fake tool.
pub fn fake_tools(parent: &Path) -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/storage-tools/fake_storage_tool.py");
    let dir = parent.join("fake-bin");
    std::fs::create_dir(&dir).unwrap();
    for tool in ["getfattr", "setfattr", "xfs_quota", "lfs"] {
        std::os::unix::fs::symlink(&script, dir.join(tool)).unwrap();
    }
    dir
}

/// `PATH` with the fake tools first.
pub fn path_with(dir: &Path) -> String {
    format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// The argv lines the fake tools logged, one JSON array each.
pub fn logged(log: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
