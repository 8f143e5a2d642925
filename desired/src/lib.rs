//! The desired side: what SLURM should hold according to Waldur.
//!
//! - [`waldur`]: the Waldur documents read (offering, resources, teams, orders), API-shaped;
//! - [`client`]: the Waldur REST client (token auth, pagination, retries, readable errors);
//! - [`fetch`]: reads one offering's documents from a live Waldur;
//! - [`snapshot`]: loads those documents from a recorded snapshot directory;
//! - [`limits`]: Waldur limits -> SLURM TRES-minutes (unit factors, prepaid, components);
//! - [`build`](mod@build): documents + config -> [`agent_reconcile::Desired`], pure;
//! - [`usage`]: SLURM usage -> Waldur component amounts (the reverse of [`limits`]);
//! - [`report`]: the usage calls to send Waldur for one resource and billing period.

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
