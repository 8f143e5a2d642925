//! waldur-slurm-agent as a library: everything but argument parsing and printing, which
//! the binary does (`main.rs` and `cli/`, not part of this library).
//!
//! Data flows one way: sources -> snapshots -> plan -> executor.
//! - [`settings`]: a command's flags and config file resolved into one [`settings::Invocation`];
//! - [`sides`]: Waldur, SLURM and storage behind small read/write traits: live, recorded,
//!   in memory;
//! - [`groups`]: offerings grouped by SLURM target, and a group's desired and observed state;
//! - [`executor`]: applies a plan over the write traits (phases, dependencies, failure classes;
//!   per change, one stdin session, or `sacctmgr load` of the creations plus a session);
//! - [`check`]: `agent check`: config, Waldur and SLURM probed, one result per check;
//! - [`cycle`]: one reconcile pass (plan, mass-delete guard, apply, verify by re-reading what
//!   the plan touched) -> [`cycle::GroupReport`];
//! - [`daemon`]: the loop: interval, wake-ups, requeue with backoff, shutdown, heartbeat;
//! - [`diagnose`]: one account, SLURM next to Waldur, as a diff with its fix commands;
//! - [`http`]: the daemon's `/metrics`, `/healthz`, `/readyz` and status page, fed by its observer;
//! - [`service`]: `agent run` as a service: reload on SIGHUP, systemd readiness and watchdog;
//! - [`notify`]: systemd's notification socket (`sd_notify`), in a few lines;
//! - [`homedirs`]: `create-homedirs`, the homes of every OK offering user (storage only);
//! - [`events`]: Waldur's STOMP-over-WebSocket events, waking the daemon with a scope;
//! - [`state`]: what outlives a process (`agent.state_dir`): writer locks, the last read's size;
//! - [`periodic`]: the stored periodic settings, the RawUsage reset record, the policy clock;
//! - [`usage`]: usage from sacct submitted to Waldur per billing month.
//!
//! Where the coming features go: docs/architecture.md.

pub mod check;
pub mod cycle;
pub mod daemon;
pub mod diagnose;
pub mod events;
pub mod executor;
pub mod groups;
pub mod homedirs;
pub mod http;
pub mod notify;
pub mod periodic;
pub mod service;
pub mod settings;
pub mod sides;
pub mod state;
pub mod usage;
