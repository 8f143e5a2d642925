//! What one command works with, resolved once from its flags and the config file: the
//! validated configuration, the offering selection, and the two sides (live, or read
//! from a snapshot).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use agent_config::{Config, Problem};
use agent_observed::Runner;
use anyhow::{Context, Result};

use crate::groups::{self, Group};
use crate::periodic::{Clock, Periodic};
use crate::sides::live::{LiveSlurm, LiveStorage, LiveWaldur, WaldurClients};
use crate::sides::snapshot::{SnapshotSlurm, SnapshotStorage, SnapshotWaldur};
use crate::sides::Sides;
use crate::state::{ClusterLock, StateDir};

/// Where the two sides are read from.
#[derive(Debug, Clone, Default)]
pub struct SourceArgs {
    /// Every side from a recorded snapshot directory (DIR/waldur, DIR/slurm, DIR/storage).
    pub from_snapshot: Option<PathBuf>,
    /// Waldur from a snapshot, SLURM live.
    pub waldur_snapshot: Option<PathBuf>,
}

/// A loaded command context.
pub struct Invocation {
    pub config_path: PathBuf,
    pub config: Config,
    /// Keys the file has that this agent ignores, and other notes from loading.
    pub warnings: Vec<Problem>,
    /// `--offering NAME|UUID`.
    pub selection: Option<String>,
    pub sides: Sides,
    /// The live Waldur clients (the event listeners register with them); `None` when
    /// Waldur is read from a snapshot.
    pub clients: Option<Arc<WaldurClients>>,
}

impl Invocation {
    /// Loads and validates the config and sets up the sides; logs the config warnings.
    pub fn load(config: &Path, selection: Option<String>, sources: &SourceArgs) -> Result<Self> {
        let loaded = agent_config::load(config)?;
        for w in &loaded.warnings {
            tracing::warn!("{}: {w}", config.display());
        }
        let (sides, clients) = sides(&loaded.config, sources)?;
        Ok(Invocation {
            config_path: config.to_path_buf(),
            config: loaded.config,
            warnings: loaded.warnings,
            selection,
            sides,
            clients,
        })
    }

    /// The selected offerings, grouped by SLURM target.
    pub fn groups(&self) -> Result<Vec<Group<'_>>> {
        groups::groups(&self.config, self.selection.as_deref())
    }

    /// Whether SLURM is the live cluster (and so can be written).
    pub fn slurm_is_live(&self) -> bool {
        self.sides.slurm_writes.is_some()
    }

    pub fn state_dir(&self) -> StateDir {
        StateDir::new(&self.config.agent.state_dir)
    }

    /// The writer lock of every group's cluster, held until dropped.
    pub fn lock(&self, groups: &[Group<'_>]) -> Result<Vec<ClusterLock>> {
        let state = self.state_dir();
        groups.iter().map(|g| state.lock(g.label())).collect()
    }
}

/// The live sides, or the recorded ones `sources` names; and the live Waldur clients. The
/// periodic records are read from `agent.state_dir` either way (plans show what a
/// reconcile would do).
pub fn sides(config: &Config, sources: &SourceArgs) -> Result<(Sides, Option<Arc<WaldurClients>>)> {
    let clock = Clock::system(&config.timezone)?;
    let periodic = Periodic::files(&config.agent.state_dir, clock.clone());
    // SLURM and storage share one runner: its counts are the cycle's process counts.
    let runner = Arc::new(Runner::new(config.agent.command_timeout));
    let live_slurm = || {
        let slurm = Arc::new(LiveSlurm {
            runner: runner.clone(),
        });
        (slurm.clone(), slurm)
    };
    let live_storage = || {
        let storage = Arc::new(LiveStorage {
            runner: runner.clone(),
        });
        (
            Some(storage.clone() as Arc<dyn crate::sides::StorageReads>),
            Some(storage as Arc<dyn crate::sides::StorageWrites>),
        )
    };
    Ok(match (&sources.from_snapshot, &sources.waldur_snapshot) {
        (Some(dir), _) => (
            Sides {
                waldur: Arc::new(SnapshotWaldur { dir: dir.clone() }),
                waldur_writes: None,
                slurm: Arc::new(SnapshotSlurm { dir: dir.clone() }),
                slurm_writes: None,
                storage: Some(Arc::new(SnapshotStorage { dir: dir.clone() })),
                storage_writes: None,
                periodic,
            },
            None,
        ),
        (None, Some(dir)) => {
            let (reads, writes) = live_slurm();
            let (storage, storage_writes) = live_storage();
            let sides = Sides {
                waldur: Arc::new(SnapshotWaldur { dir: dir.clone() }),
                waldur_writes: None,
                slurm: reads,
                slurm_writes: Some(writes),
                storage,
                storage_writes,
                periodic,
            };
            (sides, None)
        }
        (None, None) => {
            let clients =
                Arc::new(WaldurClients::new(config).context("setting up the Waldur client")?);
            let waldur = Arc::new(LiveWaldur {
                clients: clients.clone(),
                clock,
            });
            let (reads, writes) = live_slurm();
            let (storage, storage_writes) = live_storage();
            let sides = Sides {
                waldur: waldur.clone(),
                waldur_writes: Some(waldur),
                slurm: reads,
                slurm_writes: Some(writes),
                storage,
                storage_writes,
                periodic,
            };
            (sides, Some(clients))
        }
    })
}
