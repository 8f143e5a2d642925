//! Helpers shared by the tests that run against the real test cluster.

#![allow(dead_code)]

pub mod periodic;

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
