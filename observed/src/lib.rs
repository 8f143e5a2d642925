//! The observed side: what SLURM holds.
//!
//! - [`reads`]: the fixed set of bulk `sacctmgr show ... -P` queries, one per object type,
//!   whatever the number of accounts;
//! - [`parse`]: their parsers, strict about column counts, into [`agent_reconcile::Observed`];
//! - [`runner`]: runs SLURM programs (argv only, `LANG=C`, a timeout, call counters);
//! - [`answers`]: what sacctmgr's answers to a write mean (no-op, failure class);
//! - [`snapshot`]: the same outputs read from a recorded snapshot directory;
//! - [`plausible`]: whether a read can be true (a cluster always has its root account);
//! - [`sacct`]: one billing period's usage from one `sacct` call, summed exactly;
//! - [`storage`]: the filesystem and quota reads the desired homes and project
//!   directories need (getent, lstat, getfattr, xfs_quota, lfs, getfacl), and their
//!   recorded form.

pub mod answers;
pub mod parse;
pub mod plausible;
pub mod reads;
pub mod runner;
pub mod sacct;
pub mod snapshot;
pub mod storage;

pub use parse::{ParseError, RawOutputs};
pub use runner::{RunError, RunOutput, Runner};

use agent_reconcile::commands::SlurmTarget;
use agent_reconcile::Observed;

#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    Parse(#[from] ParseError),
}

/// Observes the cluster with the fixed set of bulk reads, run concurrently.
pub async fn observe(runner: &Runner, target: &SlurmTarget) -> Result<Observed, ObserveError> {
    let q = reads::Queries::new(target);
    let (assoc, accounts, users, qos, tres) = tokio::try_join!(
        runner.read(&q.associations),
        runner.read(&q.accounts),
        runner.read(&q.users),
        runner.read(&q.qos),
        runner.read(&q.tres),
    )?;
    let outputs = RawOutputs {
        associations: (q.associations.join(" "), assoc),
        accounts: (q.accounts.join(" "), accounts),
        users: (q.users.join(" "), users),
        qos: (q.qos.join(" "), qos),
        tres: (q.tres.join(" "), tres),
    };
    Ok(parse::observed(&outputs, target.cluster.as_deref())?)
}
