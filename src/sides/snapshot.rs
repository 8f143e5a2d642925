//! Recorded snapshots: both sides read from files (`DIR/waldur/…`, `DIR/slurm/…`, see
//! README). Read only: nothing recorded can be written to.

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

use super::{SlurmReads, WaldurReads};

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
