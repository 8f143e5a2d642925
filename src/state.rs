//! What outlives one process, under `agent.state_dir`:
//! - a writer lock per cluster (`lock-CLUSTER`): two agents on one host never write the
//!   same cluster at once, and the second says who holds it. Two hosts are not protected
//!   by it (file locks over NFS are unreliable): run one agent per cluster.
//! - the size of the last SLURM read per cluster (`observed-CLUSTER.json`), so a read that
//!   suddenly shows almost nothing is refused rather than acted on;
//! - under `periodic/`: the settings Waldur published per resource and the RawUsage
//!   resets made (see [`crate::periodic`]).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// The state directory.
#[derive(Debug, Clone)]
pub struct StateDir {
    pub path: PathBuf,
}

/// Held while this process may write the cluster; released when dropped.
pub struct ClusterLock {
    _file: File,
}

/// How much a SLURM read showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadSize {
    pub accounts: usize,
    pub associations: usize,
}

/// Below this many accounts a smaller read is never called implausible (small sites
/// change a lot in relative terms).
const MIN_ACCOUNTS_FOR_DROP_CHECK: usize = 20;

impl ReadSize {
    /// Why `self` cannot be a true read when the last one was `last`: a tenth of the
    /// accounts or less, where there were many.
    pub fn implausible_after(&self, last: &ReadSize) -> Option<String> {
        (last.accounts >= MIN_ACCOUNTS_FOR_DROP_CHECK && self.accounts * 10 <= last.accounts)
            .then(|| {
                format!(
                    "SLURM shows {} account(s) and {} association(s) where the last read showed {} and {}",
                    self.accounts, self.associations, last.accounts, last.associations
                )
            })
    }
}

/// The file name part for a cluster (`default` for "the only cluster").
pub(crate) fn file_part(cluster: &str) -> &str {
    // Cluster names are validated SLURM names; "-" stands for "the only cluster".
    if cluster.is_empty() || cluster == "-" {
        "default"
    } else {
        cluster
    }
}

impl StateDir {
    pub fn new(path: &Path) -> Self {
        StateDir {
            path: path.to_path_buf(),
        }
    }

    fn ensure(&self) -> Result<()> {
        std::fs::create_dir_all(&self.path)
            .with_context(|| format!("creating agent.state_dir {}", self.path.display()))
    }

    /// The file holding the size of the last read of `cluster`.
    pub fn size_file(&self, cluster: &str) -> PathBuf {
        self.path
            .join(format!("observed-{}.json", file_part(cluster)))
    }

    /// Takes the writer lock of `cluster`, or says who holds it.
    pub fn lock(&self, cluster: &str) -> Result<ClusterLock> {
        self.ensure()?;
        let path = self.path.join(format!("lock-{}", file_part(cluster)));
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("opening {}", path.display()))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                bail!(
                    "another agent is writing cluster {cluster} ({}); one writer per cluster: stop it first, or wait",
                    agent_reconcile::escape::text(holder.trim())
                );
            }
            Err(TryLockError::Error(e)) => {
                return Err(e).with_context(|| format!("locking {}", path.display()))
            }
        }
        let holder = format!(
            "pid {} on {}, {} since {}",
            std::process::id(),
            hostname(),
            std::env::args().take(2).collect::<Vec<_>>().join(" "),
            jiff::Timestamp::now()
        );
        file.set_len(0)?;
        file.rewind()?;
        file.write_all(holder.as_bytes())?;
        Ok(ClusterLock { _file: file })
    }

    /// The size of the last read of `cluster` recorded, if any.
    pub fn last_read(&self, cluster: &str) -> Option<ReadSize> {
        let text = std::fs::read_to_string(self.size_file(cluster)).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Records the size of a read that was acted on (written atomically).
    pub fn record_read(&self, cluster: &str, size: ReadSize) -> Result<()> {
        self.ensure()?;
        write_atomic(
            &self.size_file(cluster),
            serde_json::to_string(&size)?.as_bytes(),
        )
    }
}

/// Writes `path` so that a reader sees the old content or the new, never a mix, and the
/// new content survives a crash once this returns: a temporary file beside it, synced,
/// renamed over it, and the directory synced.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let write = || -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent() {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    };
    write().with_context(|| format!("writing {}", path.display()))
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "this host".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_second_writer_is_told_who_holds_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        let held = state.lock("c1").unwrap();
        let err = state.lock("c1").err().expect("refused").to_string();
        assert!(err.contains("another agent is writing cluster c1"), "{err}");
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        assert!(state.lock("c2").is_ok(), "other clusters are free");
        drop(held);
        assert!(state.lock("c1").is_ok());
    }

    #[test]
    fn a_read_that_lost_almost_everything_is_implausible() {
        let last = ReadSize {
            accounts: 1200,
            associations: 11000,
        };
        let empty = ReadSize {
            accounts: 1,
            associations: 0,
        };
        assert!(empty.implausible_after(&last).is_some());
        let normal = ReadSize {
            accounts: 1100,
            associations: 10000,
        };
        assert!(normal.implausible_after(&last).is_none());
        let small = ReadSize {
            accounts: 5,
            associations: 3,
        };
        assert!(empty.implausible_after(&small).is_none());
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        state.record_read("c1", last).unwrap();
        assert_eq!(state.last_read("c1"), Some(last));
        assert_eq!(state.last_read("c2"), None);
    }
}
