//! The pure core of the agent: what SLURM should look like, what it looks like, and the
//! ordered plan that turns one into the other.
//!
//! Nothing here performs I/O, reads a clock, spawns a process or is async; every function
//! is deterministic, so the same inputs always give a byte-identical plan.
//!
//! Layout:
//! - [`names`]: validation and normalisation of account, user, QoS and partition names.
//! - [`tres`]: TRES maps (`cpu=10,mem=600G`) parsed into MB-based integers and rendered back.
//! - [`state`]: the two snapshots, [`state::Desired`] and [`state::Observed`].
//! - [`plan`]: the plan model (changes, commands, reasons, diagnostics) serialised as JSON.
//! - [`commands`]: builds the exact sacctmgr/scancel argv vectors.
//! - [`diff`]: compares the snapshots and produces the ordered [`plan::Plan`].
//! - [`render`]: human text and a copy-pasteable shell script.
//! - [`simulate`]: applies a plan to an observed snapshot in memory (tests and dry checks).

pub mod commands;
pub mod diff;
pub mod fresh;
pub mod names;
pub mod plan;
pub mod render;
pub mod simulate;
pub mod state;
pub mod tres;

pub use diff::{plan, PlanContext};
pub use plan::Plan;
pub use state::{Desired, Observed};
