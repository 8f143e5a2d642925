//! The agent's configuration file.
//!
//! It reads the waldur-site-agent YAML as it is (`offerings:` with `backend_settings` and
//! `backend_components` for SLURM offerings), plus an optional `agent:` section for settings
//! only this agent has. Loading runs in two stages:
//! - [`raw`]: what the file says, every leaf with its line, nothing interpreted yet;
//! - [`validate`]: types checked, defaults filled, durations parsed, into [`Config`]; every
//!   problem is collected and reported at once with its key path and line.
//!
//! Secrets (API tokens) are held in [`Secret`], which never prints its value.

pub mod raw;
pub mod secret;
pub mod types;
pub mod validate;

pub use secret::Secret;
pub use types::*;
pub use validate::{load, load_str, ConfigError, Problem};
