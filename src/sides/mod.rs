//! The systems a cycle talks to, each behind two small traits: reading and writing
//! Waldur, reading and writing SLURM, reading and writing storage (home and project
//! directories, quotas). The cycle, the executor and the daemon see only the traits, so
//! they run the same against the live systems, recorded snapshots (read only) and the
//! in-memory systems the in-process tests use.
//!
//! - [`live`]: Waldur over HTTP, SLURM through sacctmgr, storage through its tools (the
//!   only writers in production);
//! - [`snapshot`]: every side read from recorded files;
//! - [`memory`]: every side held in memory, applying what is written (tests).
//! - `long_runs`: the live long sacctmgr runs (a stdin session, a `load` in parts):
//!   timeouts that scale with their size, progress on a terminal;
//! - [`emulator`]: slurm-emulator's periodic-settings API (periodic limits in emulator mode).
//!
//! Beside them, [`Sides::periodic`]: the stored periodic settings, the reset record and the
//! clock periodic policies count in.

pub mod emulator;
pub mod live;
mod long_runs;
pub mod memory;
pub mod snapshot;

use std::collections::BTreeMap;
use std::sync::Arc;

use agent_config::Offering;
use agent_desired::client::RequestStats;
use agent_desired::scope::DocScope;
use agent_desired::WaldurDocs;
use agent_observed::answers::FailureClass;
use agent_reconcile::commands::SlurmTarget;
use agent_reconcile::load::LoadFile;
use agent_reconcile::plan::Change;
use agent_reconcile::scope::Scope;
use agent_reconcile::storage::{StorageDesired, StorageObserved};
use agent_reconcile::Observed;
use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::Value;

/// A write that did not happen, classified so the executor knows what follows from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub class: FailureClass,
    pub message: String,
    /// How many of the change's commands ran, the failed one included (`None`: not known).
    pub ran: Option<usize>,
}

impl Failure {
    pub fn new(class: FailureClass, message: impl Into<String>) -> Self {
        Failure {
            class,
            message: message.into(),
            ran: None,
        }
    }
}

/// Where the desired state's documents come from.
pub trait WaldurReads: Send + Sync {
    /// Every document of one offering, read whole.
    fn docs<'a>(&'a self, offering: &'a Offering) -> BoxFuture<'a, anyhow::Result<WaldurDocs>>;
    /// The documents of one scope of an offering (an event's pass): by default the whole
    /// read, cut down the way a scoped read of a live Waldur is.
    fn scoped_docs<'a>(
        &'a self,
        offering: &'a Offering,
        scope: &'a DocScope,
    ) -> BoxFuture<'a, anyhow::Result<WaldurDocs>> {
        async move { Ok(self.docs(offering).await?.narrow(scope)) }.boxed()
    }
    /// The resource (UUID hex) an order names, when the order is the offering's.
    fn order_resource<'a>(
        &'a self,
        offering: &'a Offering,
        order: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<Option<String>>> {
        async move { Ok(self.docs(offering).await?.order_resource(order)) }.boxed()
    }
    /// A live read that fails leaves its offering out of the cycle; a recorded snapshot
    /// that cannot be read is a usage error that stops the command.
    fn is_live(&self) -> bool;
    /// HTTP requests sent so far.
    fn requests(&self) -> u64 {
        0
    }
    /// Answers and latency of those requests (live only).
    fn request_stats(&self) -> RequestStats {
        RequestStats::default()
    }

    /// Usernames of the offering's users in state OK (`agent create-homedirs`).
    fn ok_usernames<'a>(
        &'a self,
        offering: &'a Offering,
    ) -> BoxFuture<'a, anyhow::Result<Vec<String>>> {
        let name = offering.name.clone();
        Box::pin(async move {
            anyhow::bail!("offering {name:?}: this source cannot list offering users")
        })
    }
}

/// The Waldur calls of a plan.
pub trait WaldurWrites: Send + Sync {
    fn call<'a>(
        &'a self,
        offering: &'a str,
        method: &'a str,
        path: &'a str,
        body: Option<&'a Value>,
    ) -> BoxFuture<'a, Result<(), Failure>>;
}

/// Where the observed state comes from.
pub trait SlurmReads: Send + Sync {
    fn observe<'a>(&'a self, target: &'a SlurmTarget) -> BoxFuture<'a, anyhow::Result<Observed>>;
    /// What a scoped pass needs to see (by default the whole read, cut down).
    fn observe_scoped<'a>(
        &'a self,
        target: &'a SlurmTarget,
        scope: &'a Scope,
    ) -> BoxFuture<'a, anyhow::Result<Observed>> {
        async move { Ok(scope.restrict(&self.observe(target).await?)) }.boxed()
    }
    /// SLURM processes run so far, per program.
    fn processes(&self) -> BTreeMap<String, u64> {
        BTreeMap::new()
    }
}

/// The SLURM changes of a plan.
/// How a stdin session or a load ended, as far as the executor must know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LongRun {
    /// It ended, whatever it did (the re-plan finds out).
    Ended,
    /// It was stopped at its timeout (the message says which run): slurmdbd may still be
    /// applying what it was sent, so nothing more should be sent behind it.
    TimedOut(String),
}

pub trait SlurmWrites: Send + Sync {
    /// Makes one change happen: its commands in order; a best-effort command (job
    /// cancellation) may fail without failing the change.
    fn apply<'a>(&'a self, change: &'a Change) -> BoxFuture<'a, Result<(), Failure>>;
    /// Runs many changes over one session. What took effect is not reported here: the
    /// executor finds out by observing again.
    fn apply_session<'a>(&'a self, changes: &'a [&'a Change]) -> BoxFuture<'a, LongRun>;
    /// Runs `file` with `sacctmgr load`; `changes` are the changes it carries. What took
    /// effect is not reported here either: the executor re-plans.
    fn apply_load<'a>(
        &'a self,
        file: &'a LoadFile,
        changes: &'a [&'a Change],
    ) -> BoxFuture<'a, LongRun>;
}

/// Where the storage side of the observed state comes from.
pub trait StorageReads: Send + Sync {
    /// Reads what `want` needs (passwd and group entries, paths, quotas). A lookup that
    /// fails is kept in the result; `Err` is for a source that cannot be read at all (a
    /// malformed recorded snapshot).
    fn observe<'a>(
        &'a self,
        want: &'a StorageDesired,
    ) -> BoxFuture<'a, anyhow::Result<StorageObserved>>;
}

/// The storage changes of a plan (homes, project directories, quotas).
pub trait StorageWrites: Send + Sync {
    /// Makes one change happen: its commands in order, stopping at the first failure.
    fn apply<'a>(&'a self, change: &'a Change) -> BoxFuture<'a, Result<(), Failure>>;
}

/// The systems as one cycle sees them. A side without a writer is read only; without a
/// storage reader, storage is not planned.
#[derive(Clone)]
pub struct Sides {
    pub waldur: Arc<dyn WaldurReads>,
    pub waldur_writes: Option<Arc<dyn WaldurWrites>>,
    pub slurm: Arc<dyn SlurmReads>,
    pub slurm_writes: Option<Arc<dyn SlurmWrites>>,
    pub storage: Option<Arc<dyn StorageReads>>,
    pub storage_writes: Option<Arc<dyn StorageWrites>>,
    pub periodic: crate::periodic::Periodic,
}

impl Sides {
    /// The storage side of the observed state for `want`.
    pub async fn observe_storage(&self, want: &StorageDesired) -> anyhow::Result<StorageObserved> {
        match &self.storage {
            _ if want.is_empty() => Ok(StorageObserved::default()),
            Some(s) => s.observe(want).await,
            None => Ok(StorageObserved::unread("this source does not read storage")),
        }
    }

    /// Work done against both systems so far.
    pub fn counts(&self) -> Counts {
        Counts {
            waldur_requests: self.waldur.requests(),
            processes: self.slurm.processes(),
            waldur: self.waldur.request_stats(),
        }
    }
}

/// Requests and processes, for reports, logs and the benchmark.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub waldur_requests: u64,
    pub processes: BTreeMap<String, u64>,
    /// The Waldur requests' answers and latency (for `/metrics`).
    #[serde(skip)]
    pub waldur: RequestStats,
}

impl Counts {
    /// Both together.
    pub fn plus(&self, other: &Counts) -> Counts {
        let mut processes = self.processes.clone();
        for (p, n) in &other.processes {
            *processes.entry(p.clone()).or_default() += n;
        }
        Counts {
            waldur_requests: self.waldur_requests + other.waldur_requests,
            processes,
            waldur: self.waldur.plus(&other.waldur),
        }
    }

    /// What was done between `earlier` and `self`.
    pub fn since(&self, earlier: &Counts) -> Counts {
        Counts {
            waldur_requests: self.waldur_requests.saturating_sub(earlier.waldur_requests),
            processes: self
                .processes
                .iter()
                .map(|(p, n)| {
                    let before = earlier.processes.get(p).copied().unwrap_or(0);
                    (p.clone(), n.saturating_sub(before))
                })
                .filter(|(_, n)| *n > 0)
                .collect(),
            waldur: self.waldur.since(&earlier.waldur),
        }
    }
}
