//! The desired side: what SLURM should hold according to Waldur.
//!
//! - [`waldur`]: the Waldur documents the agent reads (offering, resources, teams, orders),
//!   in the real API's JSON shapes, with the fields the agent relies on required;
//! - [`snapshot`]: loads those documents from a recorded snapshot directory;
//! - [`limits`]: Waldur limits -> SLURM TRES-minutes (unit factors, usage-type fixed
//!   limits, prepaid months, component mapping);
//! - [`build`]: the pure function from documents + config to [`agent_reconcile::Desired`].

pub mod build;
pub mod client;
pub mod fetch;
pub mod limits;
pub mod report;
pub mod snapshot;
pub mod usage;
pub mod waldur;

pub use build::build;
pub use waldur::WaldurDocs;
