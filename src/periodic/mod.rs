//! What the periodic policy needs beyond Waldur and SLURM, kept under `agent.state_dir`:
//!
//! - [`store`]: the settings Waldur published per resource (`resource_periodic_limits`
//!   messages): the listener writes them, the desired side reads them;
//! - [`resets`]: the RawUsage resets that succeeded, per cluster and account (the planner
//!   reads them as an input, the executor records each new one);
//! - [`clock`]: the current month in the configured time zone, which periods count in.
//!
//! File layout (`DIR` = `agent.state_dir`):
//!
//! ```text
//! DIR/periodic/settings/<resource-uuid-hex>.json   one stored message (format 1, below)
//! DIR/periodic/settings/.lock                      taken while a message is stored
//! DIR/periodic/resets-<cluster>.json               {"format": 1, "resets": {"<account>": {"period": "2026-Q2", "at": "<RFC 3339>"}}}
//! ```
//!
//! A stored message (`agent_desired::periodic::StoredSettings`):
//!
//! ```json
//! {"format": 1, "resource_uuid": "6f1c…", "backend_id": "a_sim-run", "policy_uuid": "91ab…",
//!  "offering_uuid": "d629…", "timestamp": "2026-04-01T00:10:02.123456",
//!  "received_at": "2026-04-01T00:10:03Z", "settings": {"fairshare": 1166, "…": "…"}}
//! ```
//!
//! `timestamp` is Mastermind's (it orders messages: an older one never replaces a newer
//! one); `received_at` decides which policy period the message belongs to (in the
//! configured time zone): settings of an earlier period are not applied. Every file is
//! written atomically (synced temporary file, rename).

pub mod clock;
pub mod resets;
pub mod store;

use std::path::Path;
use std::sync::Arc;

pub use clock::Clock;
pub use resets::{FileResets, ResetLedger};
pub use store::{FileSettings, Put, SettingsStore};

/// The periodic side of a cycle: stored settings, the reset record, the clock.
#[derive(Clone)]
pub struct Periodic {
    pub settings: Arc<dyn SettingsStore>,
    pub resets: Arc<dyn ResetLedger>,
    pub clock: Clock,
}

impl Periodic {
    /// Both records in files under `state_dir`.
    pub fn files(state_dir: &Path, clock: Clock) -> Periodic {
        Periodic {
            settings: Arc::new(FileSettings::new(state_dir)),
            resets: Arc::new(FileResets::new(state_dir)),
            clock,
        }
    }
}
