//! The desired side: what SLURM should hold according to Waldur, and what Waldur should
//! hold of SLURM's usage.
//!
//! - [`waldur`]: the Waldur documents the agent reads (offering, resources, teams, orders),
//!   in the real API's JSON shapes, with the fields the agent relies on required;
//! - [`client`]: the Waldur REST client (token, pagination, retries, readable errors), and
//!   the agent-registration calls of the event stream (`client::agents`);
//! - [`fetch`]: reads one offering's documents from a live Waldur, whole or for one scope
//!   (`fetch/resources.rs` offering, resources and orders; `members.rs` teams, per-user
//!   limits offering-wide, offering users; `periodic.rs` the policy and carried-over usage);
//! - [`scope`]: the part of an offering an event names ([`scope::DocScope`]), and the
//!   same cut made on documents in memory;
//! - [`snapshot`]: loads the same documents from a recorded snapshot directory;
//! - [`limits`]: Waldur limits -> SLURM TRES-minutes (unit factors, usage-type fixed
//!   limits, prepaid months, component mapping);
//! - [`build`](mod@build): the pure function from documents + config to [`agent_reconcile::Desired`];
//! - [`storage`]: the storage side of the desired state (homes of associated users, project
//!   directories of allocations, their quotas in the providers' units);
//! - [`periodic`]: Waldur's periodic usage policies: periods, parameters, Mastermind's
//!   computation, the published settings as stored;
//! - [`build`](mod@build): the pure function from documents + config (+ clock and stored
//!   periodic settings) to [`agent_reconcile::Desired`];
//! - [`amount`]: SLURM usage -> Waldur amounts (two-place decimals held exactly);
//! - [`usage_plan`]: what to post for one resource and billing period, against what
//!   Waldur already holds (only differences; decreases are anomalies).

pub mod amount;
pub mod build;
pub mod client;
pub mod fetch;
pub mod limits;
pub mod periodic;
pub mod scope;
pub mod snapshot;
pub mod storage;
pub mod usage_plan;
pub mod waldur;

pub use build::{build, build_with, BuildContext};
pub use waldur::WaldurDocs;
