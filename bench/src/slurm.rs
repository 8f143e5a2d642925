//! The bench's own sacctmgr calls: the floor measurements (one association dump, one
//! `sacctmgr -i` stdin session, `sacctmgr dump` and one `sacctmgr -i load`), the wipe of the bench's accounts and users between runs,
//! and the drift made by hand. Everything it removes starts with the bench's prefix.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use agent_observed::reads::Queries;
use agent_reconcile::commands::SlurmTarget;
use anyhow::{bail, ensure, Context, Result};

pub struct Slurm {
    /// Directory of the real sacctmgr/sacct/scancel.
    pub bin_dir: PathBuf,
    pub cluster: String,
}

/// At most this many names per `remove` command.
const CHUNK: usize = 500;

/// At most this many users per `remove user`: each removal shifts slurmdbd's nested set
/// of associations, and in one transaction the row versions pile up (500 users with a
/// root association each ran for more than 5 minutes; 50 take 0.2 s).
const USER_CHUNK: usize = 50;

fn find_in_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

impl Slurm {
    /// Finds sacctmgr and checks that the cluster answers and knows `cluster`.
    pub fn connect(cluster: &str) -> Result<Slurm> {
        if std::env::var_os("SLURM_CONF").is_none() {
            bail!("SLURM_CONF is not set: start a cluster (scripts/slurm/start-slurm.sh DIR) and `source DIR/env.sh`, or use scripts/bench.sh");
        }
        let sacctmgr = find_in_path("sacctmgr")
            .context("sacctmgr is not on PATH (scripts/slurm/start-slurm.sh installs it)")?;
        let sacctmgr = sacctmgr.canonicalize().unwrap_or(sacctmgr);
        let slurm = Slurm {
            bin_dir: sacctmgr
                .parent()
                .context("sacctmgr has no directory")?
                .to_path_buf(),
            cluster: cluster.to_string(),
        };
        let clusters = slurm.show(&["show", "cluster", "format=Cluster"])?;
        if !clusters.lines().any(|l| l.trim() == cluster) {
            bail!("cluster {cluster:?} is not in slurmdbd (it has: {clusters:?}); pass --cluster");
        }
        Ok(slurm)
    }

    pub fn program(&self, name: &str) -> PathBuf {
        self.bin_dir.join(name)
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(self.program("sacctmgr"));
        cmd.env("LANG", "C").env("LC_ALL", "C");
        cmd
    }

    /// `sacctmgr -P -n ARGS`; fails on a non-zero exit.
    pub fn show(&self, args: &[&str]) -> Result<String> {
        let out = self
            .command()
            .args(["-P", "-n"])
            .args(args)
            .output()
            .context("running sacctmgr")?;
        if !out.status.success() {
            bail!(
                "sacctmgr {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `sacctmgr -i ARGS`, output ignored ("Nothing deleted" exits 1).
    fn change(&self, args: &[String]) -> Result<()> {
        self.command()
            .arg("-i")
            .args(args)
            .output()
            .context("running sacctmgr")?;
        Ok(())
    }

    /// The observe floor: the agent's own association query (the biggest of its five
    /// reads), run once. Returns its wall time and the number of rows.
    pub fn dump_associations(&self) -> Result<(Duration, usize)> {
        let target = SlurmTarget::new(&self.bin_dir.display().to_string(), Some(&self.cluster));
        let argv = Queries::new(&target).associations;
        let started = Instant::now();
        let out = Command::new(&argv[0])
            .args(&argv[1..])
            .env("LANG", "C")
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .output()
            .context("running the association dump")?;
        let wall = started.elapsed();
        if !out.status.success() {
            bail!(
                "the association dump failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok((wall, out.stdout.iter().filter(|b| **b == b'\n').count()))
    }

    /// One `sacctmgr -i` session reading `lines` from stdin (as the agent's batch mode
    /// does). Returns its wall time; an error when sacctmgr could not run at all.
    pub fn session(&self, lines: &[String]) -> Result<(Duration, String)> {
        let mut input = lines.join("\n");
        input.push_str("\nexit\n");
        let started = Instant::now();
        let mut child = self
            .command()
            .arg("-i")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting sacctmgr -i")?;
        let mut stdin = child.stdin.take().expect("piped");
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(input.as_bytes());
        });
        let out = child
            .wait_with_output()
            .context("waiting for sacctmgr -i")?;
        let wall = started.elapsed();
        let _ = writer.join();
        Ok((
            wall,
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ))
    }

    /// `sacctmgr dump CLUSTER file=PATH`: the cluster's whole tree as a flat file.
    pub fn dump(&self, path: &Path) -> Result<()> {
        let out = self
            .command()
            .arg("dump")
            .arg(&self.cluster)
            .arg(format!("file={}", path.display()))
            .output()
            .context("running sacctmgr dump")?;
        ensure!(
            out.status.success() && path.exists(),
            "sacctmgr dump failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Ok(())
    }

    /// One `sacctmgr -i load file=PATH`. Returns its wall time and stderr.
    pub fn load(&self, path: &Path) -> Result<(Duration, String)> {
        let started = Instant::now();
        let out = self
            .command()
            .args(["-i", "load"])
            .arg(format!("file={}", path.display()))
            .stdin(Stdio::null())
            .output()
            .context("running sacctmgr load")?;
        let wall = started.elapsed();
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        ensure!(out.status.success(), "sacctmgr load failed: {stderr}");
        Ok((wall, stderr))
    }

    /// `(account, user)` of every association whose account starts with `prefix`
    /// (user empty for the account's own association).
    pub fn associations(&self, prefix: &str) -> Result<Vec<(String, String)>> {
        let where_cluster = format!("cluster={}", self.cluster);
        let text = self.show(&[
            "show",
            "association",
            "where",
            &where_cluster,
            "format=Account,User",
        ])?;
        Ok(text
            .lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.split_once('|'))
            .map(|(a, u)| (a.to_string(), u.to_string()))
            .collect())
    }

    /// User -> default account, for users starting with `prefix`.
    pub fn default_accounts(&self, prefix: &str) -> Result<Vec<(String, String)>> {
        let text = self.show(&["show", "user", "format=User,DefaultAccount"])?;
        Ok(text
            .lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.split_once('|'))
            .map(|(u, a)| (u.to_string(), a.to_string()))
            .collect())
    }

    /// Removes every association, user and account whose name starts with `prefix`.
    /// Removing an account removes every association below it in one go, so the
    /// top-most accounts go first (fast even for thousands of associations; removing users
    /// first costs seconds per thousand associations on 22.05); then the user and account
    /// records left without associations.
    pub fn wipe(&self, prefix: &str) -> Result<Duration> {
        if prefix.len() < 2 {
            bail!("refusing to wipe with the short prefix {prefix:?}");
        }
        let started = Instant::now();
        for _ in 0..4 {
            let tops = self.top_accounts(prefix)?;
            if tops.is_empty() {
                break;
            }
            self.remove("account", &tops)?;
        }
        let users: Vec<String> = self
            .show(&["show", "user", "format=User"])?
            .lines()
            .filter(|u| u.starts_with(prefix))
            .map(str::to_string)
            .collect();
        self.remove("user", &users)?;
        self.remove("account", &self.accounts(prefix)?)?;
        let left = self.accounts(prefix)?;
        let assocs = self.associations(prefix)?;
        if !left.is_empty() || !assocs.is_empty() {
            bail!(
                "the wipe left {} account(s) and {} association(s) of {prefix}*",
                left.len(),
                assocs.len()
            );
        }
        Ok(started.elapsed())
    }

    /// `sacctmgr -i remove WHAT where name=...`, in chunks.
    fn remove(&self, what: &str, names: &[String]) -> Result<()> {
        let size = if what == "user" { USER_CHUNK } else { CHUNK };
        for chunk in names.chunks(size) {
            self.change(&[
                "remove".into(),
                what.into(),
                "where".into(),
                format!("name={}", chunk.join(",")),
            ])?;
        }
        Ok(())
    }

    /// Accounts of `prefix` on the cluster whose parent is not one of them.
    fn top_accounts(&self, prefix: &str) -> Result<Vec<String>> {
        let where_cluster = format!("cluster={}", self.cluster);
        let text = self.show(&[
            "show",
            "association",
            "where",
            &where_cluster,
            "format=Account,User,ParentName",
        ])?;
        let mut tops: Vec<String> = text
            .lines()
            .filter_map(|l| {
                let mut cols = l.split('|');
                let (account, user, parent) = (cols.next()?, cols.next()?, cols.next()?);
                (account.starts_with(prefix) && user.is_empty() && !parent.starts_with(prefix))
                    .then(|| account.to_string())
            })
            .collect();
        tops.sort();
        tops.dedup();
        Ok(tops)
    }

    fn accounts(&self, prefix: &str) -> Result<Vec<String>> {
        Ok(self
            .show(&["show", "account", "format=Account"])?
            .lines()
            .filter(|a| a.starts_with(prefix))
            .map(str::to_string)
            .collect())
    }

    /// A bin directory for `agent report`: the real sacctmgr and scancel, and a `sacct`
    /// that prints `rows_file` whatever it is asked.
    pub fn stub_bin(&self, dir: &Path, rows_file: &Path) -> Result<PathBuf> {
        use std::os::unix::fs::PermissionsExt;
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin)?;
        for p in ["sacctmgr", "scancel"] {
            let link = bin.join(p);
            if !link.exists() {
                std::os::unix::fs::symlink(self.program(p), &link)?;
            }
        }
        let sacct = bin.join("sacct");
        std::fs::write(
            &sacct,
            format!("#!/bin/sh\nexec cat '{}'\n", rows_file.display()),
        )?;
        std::fs::set_permissions(&sacct, std::fs::Permissions::from_mode(0o755))?;
        Ok(bin)
    }
}
