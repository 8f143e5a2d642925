//! Recorded snapshots: every side read from files (`DIR/waldur/…`, `DIR/slurm/…`,
//! `DIR/storage/…`, see README). Read only: nothing recorded can be written to.

use std::path::PathBuf;

use agent_config::Offering;
use agent_desired::snapshot as waldur_snapshot;
use agent_desired::WaldurDocs;
use agent_observed::snapshot as slurm_snapshot;
use agent_reconcile::commands::SlurmTarget;
use agent_reconcile::Observed;
use anyhow::Context;
use futures::future::BoxFuture;
use futures::FutureExt;

use super::{SlurmReads, StorageReads, WaldurReads};
use agent_reconcile::storage::{StorageDesired, StorageObserved};

/// Waldur documents under `DIR/waldur/` (or `DIR/waldur/<offering-uuid>/`).
pub struct SnapshotWaldur {
    pub dir: PathBuf,
}

impl WaldurReads for SnapshotWaldur {
    fn docs<'a>(&'a self, offering: &'a Offering) -> BoxFuture<'a, anyhow::Result<WaldurDocs>> {
        async move {
            let dir = waldur_snapshot::offering_dir(&self.dir, &offering.uuid);
            waldur_snapshot::load(&dir).with_context(|| {
                format!(
                    "reading the Waldur snapshot of offering {:?}",
                    offering.name
                )
            })
        }
        .boxed()
    }

    fn is_live(&self) -> bool {
        false
    }

    /// `DIR/waldur/offering_users.json` (or `DIR/waldur/<offering-uuid>/…`): the list
    /// `GET /api/marketplace-offering-users/?offering_uuid=…&state=OK` returns.
    fn ok_usernames<'a>(
        &'a self,
        offering: &'a Offering,
    ) -> BoxFuture<'a, anyhow::Result<Vec<String>>> {
        async move {
            let dir = waldur_snapshot::offering_dir(&self.dir, &offering.uuid);
            let path = dir.join("offering_users.json");
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let users: Vec<agent_desired::fetch::OfferingUser> = serde_json::from_str(&text)
                .with_context(|| format!("reading {}", path.display()))?;
            Ok(users
                .into_iter()
                .filter_map(|u| u.username.filter(|n| !n.is_empty()))
                .collect())
        }
        .boxed()
    }
}

/// The five sacctmgr read outputs under `DIR/slurm/`.
pub struct SnapshotSlurm {
    pub dir: PathBuf,
}

impl SlurmReads for SnapshotSlurm {
    fn observe<'a>(&'a self, target: &'a SlurmTarget) -> BoxFuture<'a, anyhow::Result<Observed>> {
        async move {
            let dir = self.dir.join("slurm");
            Ok(slurm_snapshot::load(&dir, target.cluster.as_deref())?)
        }
        .boxed()
    }
}

/// Home and project directories and quotas under `DIR/storage/`; a snapshot without that
/// directory has no storage, which is then not planned.
pub struct SnapshotStorage {
    pub dir: PathBuf,
}

impl StorageReads for SnapshotStorage {
    fn observe<'a>(
        &'a self,
        want: &'a StorageDesired,
    ) -> BoxFuture<'a, anyhow::Result<StorageObserved>> {
        async move {
            let dir = self.dir.join("storage");
            if !dir.is_dir() {
                return Ok(StorageObserved::unread(
                    "the snapshot has no storage/ directory",
                ));
            }
            let recorded = agent_observed::storage::snapshot::load(&dir)?;
            Ok(agent_observed::storage::observe(&recorded, want).await)
        }
        .boxed()
    }
}
