//! Helpers shared by the tests that run against the real test cluster.
//!
//! - [`waldur`]: the fake Waldur side and the agent run against it.

#![allow(dead_code)]

pub mod events;
pub mod periodic;
pub mod waldur;

use std::process::{Command, Output};
use std::sync::Mutex;

/// Tests share one cluster, so they run one at a time.
pub static SERIAL: Mutex<()> = Mutex::new(());

pub fn cluster_available() -> bool {
    if std::env::var_os("SLURM_CONF").is_some() {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("CI=true but SLURM_CONF is not set: start the test cluster (scripts/slurm/start-slurm.sh) and source its env.sh");
    }
    eprintln!("skipping: no test cluster (SLURM_CONF unset)");
    false
}

pub fn sacctmgr(args: &[&str]) -> String {
    let out = Command::new("sacctmgr")
        .args(args)
        .output()
        .expect("sacctmgr runs");
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

pub fn assoc_rows(account_prefix: &str) -> Vec<String> {
    sacctmgr(&[
        "-P",
        "-n",
        "show",
        "association",
        "where",
        "cluster=testcluster",
        "WOPLimits",
        "format=Account,User,ParentName,GrpTRESMins,QOS",
    ])
    .lines()
    .filter(|l| l.starts_with(account_prefix))
    .map(str::to_string)
    .collect()
}

pub fn show(out: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn cleanup(prefix: &str) {
    for row in assoc_rows(prefix) {
        let user = row.split('|').nth(1).unwrap_or("");
        if !user.is_empty() {
            sacctmgr(&[
                "-i",
                "remove",
                "user",
                "where",
                &format!("name={user}"),
                "cluster=testcluster",
            ]);
        }
    }
    // Users of the prefix left elsewhere (sacctmgr adds a DefaultAccount's association too).
    let users: Vec<String> = sacctmgr(&["-P", "-n", "show", "user", "format=User"])
        .lines()
        .filter(|u| u.starts_with(prefix))
        .map(str::to_string)
        .collect();
    if !users.is_empty() {
        sacctmgr(&[
            "-i",
            "remove",
            "user",
            "where",
            &format!("name={}", users.join(",")),
        ]);
    }
    for _ in 0..3 {
        for row in assoc_rows(prefix) {
            let acct = row.split('|').next().unwrap();
            sacctmgr(&[
                "-i",
                "remove",
                "account",
                "where",
                &format!("name={acct}"),
                "cluster=testcluster",
            ]);
        }
    }
}

/// An executable script (a wrapper around a SLURM command).
pub fn write_script(path: &std::path::Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// The test broker (`scripts/rabbitmq/start-rabbitmq.sh`'s env.sh sourced): required under
/// `CI=true`, otherwise its absence skips the test.
pub fn broker_available() -> bool {
    if std::env::var_os("RABBITMQ_MGMT_URL").is_some()
        && std::env::var_os("RABBITMQ_WEB_STOMP_PORT").is_some()
    {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("CI=true but RABBITMQ_MGMT_URL/RABBITMQ_WEB_STOMP_PORT are not set: start the test broker (scripts/rabbitmq/start-rabbitmq.sh) and source its env.sh");
    }
    eprintln!("skipping: no test broker (RABBITMQ_MGMT_URL unset)");
    false
}
