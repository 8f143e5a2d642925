//! The pure core of the agent: what SLURM should look like, what it looks like, and the
//! ordered plan that turns one into the other.
//!
//! Nothing here performs I/O, reads a clock, spawns a process or is async; every function
//! is deterministic, so the same inputs always give a byte-identical plan.
//!
//! Layout:
//! - [`names`]: validation and normalisation of account, user, QoS and partition names.
//! - [`tres`]: TRES maps (`cpu=10,mem=600G`) parsed into MB-based integers and rendered back.
//! - [`explain`]: reasons (why a change is planned) and diagnostics (what else to know).
//! - [`state`]: the two snapshots, [`state::Desired`] and [`state::Observed`].
//! - [`storage`]: the storage side of both (homes, quotas, project directories), which
//!   paths may be written, quota sizes, and the argv of storage writes.
//! - [`address`]: what a change is about (`account/…`, `association/…`, `user/…`, `waldur/…`,
//!   `directory/…`, `quota/…`, `periodic/…`, `raw_usage/…`).
//! - [`periodic`]: Waldur's periodic policy per account (fairshare, owned limit entries,
//!   RawUsage reset, result report) as desired state.
//! - [`plan`]: the plan model (changes, commands, reasons, diagnostics) serialised as JSON.
//! - [`commands`]: builds the exact sacctmgr/scancel argv vectors.
//! - [`fresh`]: free names for new allocations (`NAME-1` ..), adopting an earlier attempt.
//! - [`diff`]: compares the snapshots and produces the ordered [`plan::Plan`], pass by pass.
//! - [`scope`]: scoped plans: what an event's pass reads, and what it may change; what the
//!   check after an apply reads again.
//! - [`load`]: the additive part of a plan as one `sacctmgr load` flat file.
//! - [`render`]: human text, a copy-pasteable shell script, sacctmgr stdin sessions.
//! - [`escape`]: the one escaping layer for text shown to terminals, logs and scripts.
//! - [`simulate`]: applies a plan to an observed snapshot in memory (tests and dry checks).
//! - [`testkit`]: builders of small desired/observed worlds for tests and benchmarks.

pub mod address;
pub mod commands;
pub mod diff;
pub mod escape;
pub mod explain;
pub mod fresh;
pub mod load;
pub mod names;
pub mod periodic;
pub mod plan;
pub mod render;
pub mod scope;
pub mod simulate;
pub mod state;
pub mod storage;
pub mod testkit;
pub mod tres;

pub use diff::{plan, PlanContext};
pub use plan::Plan;
pub use state::{Desired, Observed};
