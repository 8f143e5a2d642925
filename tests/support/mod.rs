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

/// The agent's config for one offering of the fake Waldur: the waldur-site-agent keys every
/// test sets, and the parts that differ.
pub struct OfferingConfig<'a> {
    pub url: &'a str,
    /// The offering-level line that gives the token, e.g. `waldur_api_token: "T"`.
    pub token_line: String,
    pub offering: &'a str,
    /// `backend_settings` lines besides `default_account` and the homedir switch (each
    /// `key: value`, indented by the builder).
    pub settings: &'a [String],
    /// `backend_components` lines (`name: {...}`).
    pub components: &'a [&'a str],
    /// `agent` lines (`key: value`).
    pub agent: &'a [String],
}

impl OfferingConfig<'_> {
    pub fn yaml(&self) -> String {
        let indent = |lines: &[String], by: &str| -> String {
            lines.iter().map(|l| format!("{by}{l}\n")).collect()
        };
        let components: Vec<String> = self.components.iter().map(|c| c.to_string()).collect();
        format!(
            "timezone: UTC\nofferings:\n  - name: cluster\n    waldur_api_url: \"{url}\"\n    {token}\n    waldur_offering_uuid: \"{offering}\"\n    backend_type: slurm\n    order_processing_backend: slurm\n    membership_sync_backend: slurm\n    reporting_backend: slurm\n    backend_settings:\n      enable_user_homedir_account_creation: false\n      default_account: root\n{settings}    backend_components:\n{components}agent:\n{agent}",
            url = self.url,
            token = self.token_line,
            offering = self.offering,
            settings = indent(self.settings, "      "),
            components = indent(&components, "      "),
            agent = indent(self.agent, "  "),
        )
    }

    /// Writes the config to `path`, readable by its owner only (it holds the token).
    pub fn write(&self, path: &std::path::Path) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(path, self.yaml()).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

/// `backend_settings` lines of a tree with prefixed names: `{prefix}c_`, `{prefix}p_`,
/// `{prefix}a_`.
pub fn prefixed(prefix: &str) -> Vec<String> {
    ["customer", "project", "allocation"]
        .iter()
        .map(|tier| format!("{tier}_prefix: {prefix}{}_", &tier[..1]))
        .collect()
}

/// Writes an executable script (a stand-in for a SLURM program), its directory too.
pub fn write_script(path: &std::path::Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A bin directory under `dir` whose `sacct` prints `rows` for any window (recorded
/// usage, past months) and whose `sacctmgr` and `scancel` are the real ones.
pub fn recorded_sacct(dir: &std::path::Path, rows: &str) -> String {
    let bin = dir.join("bin");
    write_script(
        &bin.join("sacct"),
        &format!("#!/bin/sh\ncat <<'EOF'\n{rows}EOF\n"),
    );
    for p in ["sacctmgr", "scancel"] {
        std::os::unix::fs::symlink(format!("/usr/bin/{p}"), bin.join(p)).unwrap();
    }
    bin.display().to_string()
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

/// The fake Waldur on loopback, served by a runtime of its own (kept with it: the fake
/// stops when the runtime is dropped).
pub fn spawn_fake(seed: fake_waldur::Seed) -> (tokio::runtime::Runtime, fake_waldur::RunningFake) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let fake = rt.block_on(fake_waldur::spawn(seed));
    (rt, fake)
}
