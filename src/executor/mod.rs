//! Applies a plan: one attempt per change, strictly one writer, over the write traits of
//! [`crate::sides`].
//!
//! Order of work: Waldur calls that come first (approving orders), then the SLURM
//! changes (one at a time, as one session for big plans, or their creations as a
//! `sacctmgr load` file and the rest as a session: `batch.rs`), then the storage changes
//! (homes, project directories, quotas: one at a time, after the associations they
//! serve), then the Waldur calls that report the outcome (backend id, limits, order
//! done). No Waldur call waits for storage: a home that cannot be made never errs an
//! order.
//!
//! Guarantees:
//! - a change runs only after every change it depends on succeeded; otherwise it is
//!   skipped, and the rest of the plan still runs;
//! - when a SLURM change fails for good (fatal, not retryable or blocked), the order that
//!   waited for it is marked erred with SLURM's message; any other failure leaves the
//!   order for the next cycle;
//! - every change ends applied, failed (with its class and message) or skipped;
//! - a RawUsage reset that succeeded is recorded at once (the planner reads the record);
//! - a result report (`report-command-result`) is sent whatever its dependencies did,
//!   telling Waldur what ran and how it ended.
//!
//! The executor never decides what to change: the plan carries every argv and request.

mod batch;
mod ledger;
#[cfg(test)]
mod load_tests;
#[cfg(test)]
mod periodic_tests;
mod report;
#[cfg(test)]
mod tests;

use std::future::Future;

use agent_config::ApplyMode;
use agent_observed::answers::FailureClass;
use agent_reconcile::plan::{Action, Address, Change, Command, Kind, Phase, Plan};
use serde_json::json;

use crate::periodic::ResetLedger;
use crate::sides::{SlurmWrites, StorageWrites, WaldurWrites};
use ledger::{Ledger, RootCause};
pub use ledger::{Outcome, Status, Tally};

/// Why Waldur calls are not made when Waldur was read from a snapshot.
const NO_WALDUR_WRITER: &str =
    "Waldur calls need the live Waldur source (snapshot mode reads only)";

/// Why storage changes are not made without a storage writer.
const NO_STORAGE_WRITER: &str = "storage changes need the live filesystem (this source reads only)";

/// Number of sacctmgr commands above which `auto` mode uses one stdin session, and of
/// creations above which it uses `sacctmgr load`.
pub const AUTO_BATCH_THRESHOLD: usize = 50;

fn sacctmgr_commands(plan: &Plan) -> usize {
    plan.changes
        .iter()
        .flat_map(|c| &c.commands)
        .filter(|c| {
            matches!(
                c,
                Command::Slurm {
                    best_effort: false,
                    ..
                }
            )
        })
        .count()
}

/// Creations a `sacctmgr load` file could carry (accounts, user associations).
fn creations(plan: &Plan) -> usize {
    plan.changes
        .iter()
        .filter(|c| {
            c.action == Action::Create && matches!(c.kind, Kind::Account | Kind::Association)
        })
        .count()
}

/// User additions a session would fold into others' lines, above which `auto` uses a
/// session for a small plan too: slurmdbd shifts its nested set once per command, which
/// on a big site costs far more than the session's re-read of what the plan touched.
pub const AUTO_GROUPED_USERS: usize = 2;

/// `add user` commands a session would fold into another line (same account, same
/// options): the commands the session saves.
fn grouped_users(plan: &Plan) -> usize {
    let argvs: Vec<&[String]> = plan
        .changes
        .iter()
        .filter(|c| !matches!(c.address, Address::RawUsage(..)))
        .flat_map(|c| &c.commands)
        .filter_map(|c| match c {
            Command::Slurm {
                argv,
                best_effort: false,
            } => Some(argv.as_slice()),
            _ => None,
        })
        .collect();
    argvs.len() - agent_reconcile::render::sacctmgr_session(&argvs).len()
}

/// The mode a plan is applied in: `auto` is a load when it creates more than the
/// threshold, else a session when it has more commands than that or would fold enough
/// user additions together, else one change at a time.
pub fn effective_mode(mode: ApplyMode, plan: &Plan) -> ApplyMode {
    match mode {
        ApplyMode::Auto if creations(plan) > AUTO_BATCH_THRESHOLD => ApplyMode::Load,
        ApplyMode::Auto if sacctmgr_commands(plan) > AUTO_BATCH_THRESHOLD => ApplyMode::Batch,
        ApplyMode::Auto if grouped_users(plan) >= AUTO_GROUPED_USERS => ApplyMode::Batch,
        ApplyMode::Auto => ApplyMode::PerChange,
        other => other,
    }
}

/// Progress callback: (changes done, total).
pub type Progress<'a> = &'a (dyn Fn(usize, usize) + Sync);

pub struct Executor<'a> {
    pub slurm: &'a dyn SlurmWrites,
    /// `None` when Waldur was read from a snapshot: its calls are skipped.
    pub waldur: Option<&'a dyn WaldurWrites>,
    /// `None` when storage cannot be written: its changes are skipped.
    pub storage: Option<&'a dyn StorageWrites>,
    pub progress: Option<Progress<'a>>,
    /// Whether an erred order carries SLURM's message (`expose_backend_error_details`).
    pub expose_error_details: bool,
    /// Where RawUsage resets that succeeded are recorded (`None`: nowhere; tests).
    pub resets: Option<&'a dyn ResetLedger>,
}

impl Executor<'_> {
    /// Applies `plan`. In batch mode `replan` is called after the session to find what did
    /// not take effect; those changes are then run one by one for exact messages.
    pub async fn apply<F, Fut>(&self, plan: &Plan, mode: ApplyMode, replan: F) -> Outcome
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = anyhow::Result<Plan>>,
    {
        let total = plan.changes.len();
        let mut done = 0;
        let mut ledger = Ledger::default();
        let tick = |done: usize| {
            if let Some(p) = self.progress {
                p(done, total);
            }
        };
        let (before, rest): (Vec<&Change>, Vec<&Change>) = plan
            .changes
            .iter()
            .partition(|c| c.phase == Phase::WaldurBefore);
        let (after, rest): (Vec<&Change>, Vec<&Change>) =
            rest.into_iter().partition(|c| c.kind == Kind::Waldur);
        let (storage, slurm): (Vec<&Change>, Vec<&Change>) =
            rest.into_iter().partition(|c| c.kind.is_storage());

        for change in before {
            self.apply_waldur(plan, change, &mut ledger).await;
            done += 1;
            tick(done);
        }
        match effective_mode(mode, plan) {
            ApplyMode::Batch if !slurm.is_empty() => {
                self.apply_batch(&plan.cluster, &slurm, &mut ledger, replan, false)
                    .await;
                done += slurm.len();
                tick(done);
            }
            ApplyMode::Load if !slurm.is_empty() => {
                self.apply_batch(&plan.cluster, &slurm, &mut ledger, replan, true)
                    .await;
                done += slurm.len();
                tick(done);
            }
            _ => {
                for change in slurm {
                    self.apply_slurm(&plan.cluster, change, &mut ledger).await;
                    done += 1;
                    tick(done);
                }
            }
        }
        for change in storage {
            self.apply_storage(change, &mut ledger).await;
            done += 1;
            tick(done);
        }
        for change in after {
            self.apply_waldur(plan, change, &mut ledger).await;
            done += 1;
            tick(done);
        }
        ledger.outcome(plan)
    }

    async fn apply_slurm(&self, cluster: &str, change: &Change, ledger: &mut Ledger) {
        if let Some(cause) = ledger.unmet(change) {
            let because = format!("{} did not apply", cause.address);
            ledger.record(&change.address, Status::Skipped { because }, Some(cause));
            return;
        }
        match self.slurm.apply(change).await {
            Ok(()) => {
                ledger.record(&change.address, Status::Applied, None);
                self.record_reset(cluster, &change.address);
            }
            Err(f) => {
                ledger.record_ran(&change.address, f.ran);
                ledger.record(
                    &change.address,
                    Status::Failed {
                        class: f.class,
                        message: f.message,
                    },
                    None,
                )
            }
        }
    }

    async fn apply_storage(&self, change: &Change, ledger: &mut Ledger) {
        if let Some(cause) = ledger.unmet(change) {
            let because = format!("{} did not apply", cause.address);
            ledger.record(&change.address, Status::Skipped { because }, Some(cause));
            return;
        }
        let Some(storage) = self.storage else {
            let cause = RootCause {
                address: change.address.clone(),
                class: FailureClass::Blocked,
                message: NO_STORAGE_WRITER.into(),
            };
            let because = NO_STORAGE_WRITER.to_string();
            ledger.record(&change.address, Status::Skipped { because }, Some(cause));
            return;
        };
        match storage.apply(change).await {
            Ok(()) => ledger.record(&change.address, Status::Applied, None),
            Err(f) => ledger.record(
                &change.address,
                Status::Failed {
                    class: f.class,
                    message: f.message,
                },
                None,
            ),
        }
    }

    /// A reset that succeeded is recorded before anything else runs, so a restart never
    /// repeats it; a record that cannot be written is an error (the next plan shows the
    /// reset again).
    fn record_reset(&self, cluster: &str, address: &Address) {
        let (Some(ledger), Address::RawUsage(account, period)) = (self.resets, address) else {
            return;
        };
        if let Err(e) = ledger.record(cluster, account, period) {
            tracing::error!(change = %address, "RawUsage was reset but could not be recorded: {e:#}");
        }
    }

    async fn apply_waldur(&self, plan: &Plan, change: &Change, ledger: &mut Ledger) {
        let Some(waldur) = self.waldur else {
            let cause = RootCause {
                address: change.address.clone(),
                class: FailureClass::Retryable,
                message: NO_WALDUR_WRITER.into(),
            };
            let because = NO_WALDUR_WRITER.to_string();
            ledger.record(&change.address, Status::Skipped { because }, Some(cause));
            return;
        };
        if change.reports_outcome {
            let body = report::outcome_body(plan, change, ledger, self.expose_error_details);
            let status = self.send(waldur, change, Some(&body)).await;
            ledger.record(&change.address, status, None);
            return;
        }
        if let Some(cause) = ledger.unmet(change) {
            let mut because = format!("{} did not apply", cause.address);
            // Only SLURM failures err an order: a Waldur call that failed is retried next
            // cycle instead, since the SLURM side is in place.
            if cause.class == FailureClass::Fatal && !cause.address.is_waldur() {
                if let Some(note) = self.err_order(waldur, change, &cause).await {
                    because.push_str(&note);
                }
            }
            ledger.record(&change.address, Status::Skipped { because }, Some(cause));
            return;
        }
        let status = self.send(waldur, change, None).await;
        ledger.record(&change.address, status, None);
    }

    /// The change's Waldur requests, with `body` instead of the planned one when given (a
    /// report is one request).
    async fn send(
        &self,
        waldur: &dyn WaldurWrites,
        change: &Change,
        body: Option<&serde_json::Value>,
    ) -> Status {
        for cmd in &change.commands {
            let Command::Waldur {
                offering,
                method,
                path,
                body: planned,
            } = cmd
            else {
                continue;
            };
            let body = body.or(planned.as_ref());
            if let Err(f) = waldur.call(offering, method, path, body).await {
                return Status::Failed {
                    class: f.class,
                    message: f.message,
                };
            }
        }
        Status::Applied
    }

    /// Sends the change's `on_failure` call (an order's `set_state_erred`) with the SLURM
    /// failure behind it; returns what to add to the skip note.
    async fn err_order(
        &self,
        waldur: &dyn WaldurWrites,
        change: &Change,
        cause: &RootCause,
    ) -> Option<String> {
        let Some(Command::Waldur { offering, path, .. }) = &change.on_failure else {
            return None;
        };
        let message = if self.expose_error_details {
            format!("SLURM change {} failed: {}", cause.address, cause.message)
        } else {
            tracing::warn!(change = %cause.address, message = %cause.message, "the order is erred without SLURM's message (expose_backend_error_details: false)");
            format!(
                "SLURM change {} failed ({}); the site's agent log has the details",
                cause.address, cause.class
            )
        };
        let body = json!({ "error_message": message, "error_traceback": "" });
        Some(
            match waldur.call(offering, "POST", path, Some(&body)).await {
                Ok(()) => "; the order is marked erred".to_string(),
                Err(f) => format!("; marking the order erred failed: {}", f.message),
            },
        )
    }
}
