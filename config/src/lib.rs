//! The agent's configuration file.
//!
//! It reads the waldur-site-agent YAML as it is (`offerings:` with `backend_settings` and
//! `backend_components` for SLURM offerings), plus an optional `agent:` section for settings
//! only this agent has. Loading runs in two stages:
//! - [`raw`]: what the file says, every leaf with its line, nothing interpreted yet;
//! - [`validate`]: types checked, defaults filled, durations parsed, into [`Config`]; every
//!   problem is collected and reported at once with its key path and line. One file per
//!   section, so a key is validated in the file named after its section:
//!   - `validate/mod.rs`: [`load`], [`load_str`], [`ConfigError`], [`Problem`], the top-level
//!     keys (`timezone`, `log_level`, `reporting_periods`, the `offerings` list);
//!   - `validate/leaves.rs`: reading one typed leaf (string, bool, number, duration, SLURM
//!     name) or collecting why not;
//!   - `validate/unknown.rs`: unknown keys, reported as warnings;
//!   - `validate/agent.rs`: the `agent:` section;
//!   - `validate/offering.rs`: one offering (name, URL, UUID, backend type, flags);
//!   - `validate/token.rs`: the API token (inline, file, environment);
//!   - `validate/backend.rs`: `backend_settings` (SLURM settings, `periodic_limits`);
//!   - `validate/components.rs`: `backend_components` and their `target_components`;
//!   - `validate/storage.rs`: the storage keys of `backend_settings` (homes, home quotas,
//!     project directories), sizes in the provider's unit;
//!   - `validate/events.rs`: the event-stream keys (`stomp_*`, `websocket_use_tls`);
//!   - `validate/tests/`: tests of the whole load, by theme (`general.rs`, `storage.rs`,
//!     `periodic.rs`, `token.rs`; `mod.rs` holds the config they vary);
//! - [`types`]: the validated [`Config`] and its parts;
//! - [`secret`]: [`Secret`], which holds an API token and never prints its value.

pub mod raw;
pub mod secret;
pub mod types;
pub mod validate;

pub use secret::Secret;
pub use types::*;
pub use validate::{load, load_str, ConfigError, Problem};
