//! RawUsage resets are actions, not states: SLURM cannot show whether this period's reset
//! happened, so the agent records each reset that succeeded, per cluster and account, and
//! the planner plans a reset only for a period not recorded yet. A crash between the reset
//! and the record repeats it once; nothing else does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use crate::state::{file_part, write_atomic};

/// The resets that succeeded.
pub trait ResetLedger: Send + Sync {
    /// Account -> period of its last recorded reset on `cluster`.
    fn done(&self, cluster: &str) -> Result<BTreeMap<String, String>>;
    /// Records that `account` was reset for `period` (replacing its earlier period).
    fn record(&self, cluster: &str, account: &str, period: &str) -> Result<()>;
}

const FORMAT: u32 = 1;

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    format: u32,
    resets: BTreeMap<String, Entry>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Entry {
    period: String,
    /// When it was recorded (RFC 3339).
    at: String,
}

/// `DIR/periodic/resets-<cluster>.json`.
pub struct FileResets {
    dir: PathBuf,
    /// One writer at a time within the process (the cluster lock keeps other agents out).
    write: Mutex<()>,
}

impl FileResets {
    pub fn new(state_dir: &Path) -> Self {
        FileResets {
            dir: state_dir.join("periodic"),
            write: Mutex::new(()),
        }
    }

    fn path(&self, cluster: &str) -> PathBuf {
        self.dir.join(format!("resets-{}.json", file_part(cluster)))
    }

    fn read(&self, cluster: &str) -> Result<File> {
        let path = self.path(cluster);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(File::default()),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let file: File =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        if file.format != FORMAT {
            bail!(
                "{}: format {} is not one this agent reads",
                path.display(),
                file.format
            );
        }
        Ok(file)
    }
}

impl ResetLedger for FileResets {
    fn done(&self, cluster: &str) -> Result<BTreeMap<String, String>> {
        Ok(self
            .read(cluster)?
            .resets
            .into_iter()
            .map(|(a, e)| (a, e.period))
            .collect())
    }

    fn record(&self, cluster: &str, account: &str, period: &str) -> Result<()> {
        let _guard = self.write.lock().unwrap_or_else(|e| e.into_inner());
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        let mut file = self.read(cluster)?;
        file.format = FORMAT;
        file.resets.insert(
            account.to_string(),
            Entry {
                period: period.to_string(),
                at: jiff::Timestamp::now().to_string(),
            },
        );
        write_atomic(
            &self.path(cluster),
            serde_json::to_string_pretty(&file)?.as_bytes(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resets_are_recorded_per_cluster_and_account() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = FileResets::new(dir.path());
        assert!(ledger.done("c1").unwrap().is_empty());
        ledger.record("c1", "a_x", "2026-Q1").unwrap();
        ledger.record("c1", "a_y", "2026-Q1").unwrap();
        ledger.record("c1", "a_x", "2026-Q2").unwrap();
        let done = FileResets::new(dir.path()).done("c1").unwrap();
        assert_eq!(done["a_x"], "2026-Q2");
        assert_eq!(done["a_y"], "2026-Q1");
        assert!(ledger.done("c2").unwrap().is_empty());
        std::fs::write(dir.path().join("periodic/resets-c2.json"), "[").unwrap();
        assert!(
            ledger.done("c2").is_err(),
            "a broken record is an error, not 'no resets'"
        );
    }
}
