//! The storage sink: home directories, home quotas, project directories and Lustre
//! project quotas, in the same desired / observed / plan shape as SLURM.
//!
//! - [`model`]: [`StorageDesired`], [`StorageObserved`] and their parts;
//! - [`paths`]: which paths may be written (absolute, normalised, plain characters);
//! - [`size`]: quota sizes shown exactly in binary units;
//! - [`commands`]: the argv of every storage write.
//!
//! The planner's pass is `diff/storage/`.

pub mod commands;
pub mod model;
pub mod paths;
pub mod size;

pub use commands::StorageTools;
pub use model::*;
