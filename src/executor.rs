//! Applies a plan: one attempt per change, strictly one writer, argv only.
//!
//! Order of work: Waldur calls that come first (approving orders), then the SLURM
//! changes (one process per change, or one `sacctmgr -i` session for big plans), then the
//! Waldur calls that report the outcome (backend id, limits, order done).
//!
//! Guarantees:
//! - a change runs only after every change it depends on succeeded; otherwise it is
//!   skipped, and the rest of the plan still runs;
//! - when a SLURM change fails for good (not a retryable failure), the order that waited
//!   for it is marked erred with SLURM's message; a retryable failure leaves the order for
//!   the next cycle;
//! - sacctmgr's "Nothing modified / new added / deleted" answers are no-ops, not errors;
//! - failures are classified (retryable, blocked, fatal) so an operator knows what to do.
//!
//! The executor never decides what to change: the plan carries every argv and request.

use std::collections::BTreeMap;
use std::future::Future;

use agent_config::ApplyMode;
use agent_observed::{RunError, Runner};
use agent_reconcile::plan::{Change, Command, Kind, Phase, Plan};
use agent_reconcile::render;
use serde_json::json;

use crate::waldur::Clients;

/// What happened to one change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Applied,
    Failed {
        class: FailureClass,
        message: String,
    },
    Skipped {
        because: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureClass {
    /// Try again later (database busy, lock, timeout, Waldur 5xx).
    Retryable,
    /// Needs something else first (jobs still running on the association).
    Blocked,
    /// Will not succeed as is (bad value, unknown option, missing parent, Waldur 4xx).
    Fatal,
}

impl std::fmt::Display for FailureClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FailureClass::Retryable => "retryable",
            FailureClass::Blocked => "blocked",
            FailureClass::Fatal => "fatal",
        })
    }
}

/// Per-change outcome, in plan order.
pub struct Outcome {
    pub statuses: Vec<(String, Status)>,
}

impl Outcome {
    pub fn failed(&self) -> usize {
        self.statuses
            .iter()
            .filter(|(_, s)| !matches!(s, Status::Applied))
            .count()
    }
}

/// sacctmgr's answer when there was nothing to do (it exits 1 for these). It prints the
/// same "Nothing new added." when a referenced account does not exist, with the reason on
/// stderr, so only a clean stderr makes it a no-op.
fn is_noop(stdout: &str, stderr: &str) -> bool {
    stderr.trim().is_empty()
        && [
            "Nothing modified",
            "Nothing new added",
            "Nothing deleted",
            // slurm-emulator's answer to adding an account that exists.
            "Already existing account",
        ]
        .iter()
        .any(|m| stdout.contains(m))
}

pub fn classify(message: &str) -> FailureClass {
    let m = message.to_ascii_lowercase();
    if m.contains("database is busy")
        || m.contains("lock")
        || m.contains("timed out")
        || m.contains("did not finish within")
        || m.contains("unable to connect")
        || m.contains("connection refused")
    {
        FailureClass::Retryable
    } else if m.contains("job(s) running")
        || m.contains("jobs running")
        || m.contains("running jobs")
    {
        FailureClass::Blocked
    } else {
        FailureClass::Fatal
    }
}

/// Why Waldur calls are not made when Waldur was read from a snapshot.
const NO_WALDUR_CLIENT: &str =
    "Waldur calls need the live Waldur source (snapshot mode reads only)";

/// Number of sacctmgr commands above which `auto` mode uses one stdin session.
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

pub fn effective_mode(mode: ApplyMode, plan: &Plan) -> ApplyMode {
    match mode {
        ApplyMode::Auto if sacctmgr_commands(plan) > AUTO_BATCH_THRESHOLD => ApplyMode::Batch,
        ApplyMode::Auto => ApplyMode::PerChange,
        other => other,
    }
}

pub struct Executor<'a> {
    pub runner: &'a Runner,
    /// Waldur clients per offering; `None` when Waldur was read from a snapshot.
    pub waldur: Option<&'a Clients>,
    /// Called after each change with (done, total) for progress display.
    pub progress: Option<&'a dyn Fn(usize, usize)>,
}

/// The first failure behind a change that did not apply: what failed, how, and why.
#[derive(Clone)]
struct RootCause {
    address: String,
    class: FailureClass,
    message: String,
}

#[derive(Default)]
struct Ledger {
    statuses: BTreeMap<String, Status>,
    causes: BTreeMap<String, RootCause>,
}

impl Ledger {
    fn record(&mut self, address: &str, status: Status, cause: Option<RootCause>) {
        if let Some(c) = cause {
            self.causes.insert(address.to_string(), c);
        } else if let Status::Failed { class, message } = &status {
            self.causes.insert(
                address.to_string(),
                RootCause {
                    address: address.to_string(),
                    class: *class,
                    message: message.clone(),
                },
            );
        }
        self.statuses.insert(address.to_string(), status);
    }

    /// The first dependency that did not apply, with the failure behind it.
    fn unmet(&self, change: &Change) -> Option<RootCause> {
        change
            .depends_on
            .iter()
            .find_map(|d| self.causes.get(d).cloned())
    }
}

impl Executor<'_> {
    /// Applies `plan`. In batch mode `replan` is called after the sacctmgr session to find
    /// what did not take effect; those changes are then run one by one for exact messages.
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
        let (after, slurm): (Vec<&Change>, Vec<&Change>) =
            rest.into_iter().partition(|c| c.kind == Kind::Waldur);

        for change in before {
            self.apply_waldur(change, &mut ledger).await;
            done += 1;
            tick(done);
        }
        match effective_mode(mode, plan) {
            ApplyMode::Batch if !slurm.is_empty() => {
                self.apply_batch(&slurm, &mut ledger, replan).await;
                done += slurm.len();
                tick(done);
            }
            _ => {
                for change in slurm {
                    self.apply_slurm_change(change, &mut ledger).await;
                    done += 1;
                    tick(done);
                }
            }
        }
        for change in after {
            self.apply_waldur(change, &mut ledger).await;
            done += 1;
            tick(done);
        }
        Outcome {
            statuses: plan
                .changes
                .iter()
                .map(|c| {
                    let status = ledger
                        .statuses
                        .remove(&c.address)
                        .unwrap_or(Status::Applied);
                    (c.address.clone(), status)
                })
                .collect(),
        }
    }

    async fn run_slurm(&self, argv: &[String]) -> Result<(), (FailureClass, String)> {
        match self.runner.run(argv, None).await {
            Ok(out) if out.success() => Ok(()),
            Ok(out) if is_noop(&out.stdout, &out.stderr) => Ok(()),
            Ok(out) => {
                let msg = out.message();
                Err((classify(&msg), msg))
            }
            Err(e @ RunError::Timeout { .. }) => Err((FailureClass::Retryable, e.to_string())),
            Err(e) => Err((FailureClass::Fatal, e.to_string())),
        }
    }

    async fn apply_slurm_change(&self, change: &Change, ledger: &mut Ledger) {
        if let Some(cause) = ledger.unmet(change) {
            let because = format!("{} did not apply", cause.address);
            ledger.record(&change.address, Status::Skipped { because }, Some(cause));
            return;
        }
        for cmd in &change.commands {
            let Command::Slurm { argv, best_effort } = cmd else {
                continue;
            };
            if let Err((class, message)) = self.run_slurm(argv).await {
                if *best_effort {
                    tracing::warn!(change = %change.address, %message, "best-effort command failed; continuing");
                    continue;
                }
                ledger.record(&change.address, Status::Failed { class, message }, None);
                return;
            }
        }
        ledger.record(&change.address, Status::Applied, None);
    }

    /// Job cancellations first (one scancel each), then every sacctmgr command in one
    /// `sacctmgr -i` stdin session over a single database connection. sacctmgr does not
    /// say which line failed, so the re-plan tells what is left, and the leftovers run one
    /// by one to get each one's message.
    async fn apply_batch<F, Fut>(&self, changes: &[&Change], ledger: &mut Ledger, replan: F)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = anyhow::Result<Plan>>,
    {
        let mut lines = Vec::new();
        let mut sacctmgr = None;
        for change in changes {
            for cmd in &change.commands {
                match cmd {
                    Command::Slurm {
                        argv,
                        best_effort: true,
                    } => {
                        if let Err((_, message)) = self.run_slurm(argv).await {
                            tracing::warn!(change = %change.address, %message, "best-effort command failed; continuing");
                        }
                    }
                    Command::Slurm { argv, .. } => {
                        sacctmgr.get_or_insert_with(|| argv[0].clone());
                        lines.push(argv.as_slice());
                    }
                    Command::Waldur { .. } => {}
                }
            }
        }
        if let Some(program) = sacctmgr {
            let mut input = render::sacctmgr_session(&lines).join("\n");
            input.push_str("\nexit\n");
            let argv = vec![program, "-i".to_string()];
            match self.runner.run(&argv, Some(&input)).await {
                Ok(out) if !out.success() => {
                    tracing::warn!(stderr = %out.stderr.trim(), "the sacctmgr session reported errors; re-planning to find what is left")
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "the sacctmgr session did not run; re-planning")
                }
            }
        }
        let leftovers = match replan().await {
            Ok(p) => p,
            Err(e) => {
                // Without a fresh view nothing can be confirmed: report every change as
                // unknown (retryable) so no order is marked done or erred on a guess.
                let message = format!("could not verify the batch: {e:#}");
                for c in changes {
                    ledger.record(
                        &c.address,
                        Status::Failed {
                            class: FailureClass::Retryable,
                            message: message.clone(),
                        },
                        None,
                    );
                }
                return;
            }
        };
        let left: Vec<&Change> = leftovers
            .changes
            .iter()
            .filter(|c| c.kind != Kind::Waldur)
            .collect();
        if !left.is_empty() && left.len() >= changes.len() {
            tracing::warn!(
                changes = left.len(),
                "the sacctmgr session changed nothing; running the changes one by one (if this sacctmgr cannot read commands from stdin, set agent.apply_mode: per-change)"
            );
        }
        let mut retry_ledger = Ledger::default();
        for change in left {
            self.apply_slurm_change(change, &mut retry_ledger).await;
        }
        for change in changes {
            match retry_ledger.statuses.remove(&change.address) {
                Some(status) => {
                    let cause = retry_ledger.causes.get(&change.address).cloned();
                    ledger.record(&change.address, status, cause);
                }
                None => ledger.record(&change.address, Status::Applied, None),
            }
        }
    }

    async fn apply_waldur(&self, change: &Change, ledger: &mut Ledger) {
        let Some(clients) = self.waldur else {
            let cause = RootCause {
                address: change.address.clone(),
                class: FailureClass::Retryable,
                message: NO_WALDUR_CLIENT.into(),
            };
            ledger.record(
                &change.address,
                Status::Skipped {
                    because: NO_WALDUR_CLIENT.into(),
                },
                Some(cause),
            );
            return;
        };
        if let Some(cause) = ledger.unmet(change) {
            let mut because = format!("{} did not apply", cause.address);
            // Only SLURM failures err an order: a Waldur call that failed is retried next
            // cycle instead, since the SLURM side is in place.
            let slurm_cause = !cause.address.starts_with("waldur/");
            if cause.class == FailureClass::Fatal && slurm_cause {
                if let Some(Command::Waldur { offering, path, .. }) = &change.on_failure {
                    let message =
                        format!("SLURM change {} failed: {}", cause.address, cause.message);
                    let body = json!({ "error_message": message, "error_traceback": "" });
                    match clients.call(offering, "POST", path, Some(&body)).await {
                        Ok(_) => because.push_str("; the order is marked erred"),
                        Err(e) => {
                            because.push_str(&format!("; marking the order erred failed: {e}"))
                        }
                    }
                }
            }
            ledger.record(&change.address, Status::Skipped { because }, Some(cause));
            return;
        }
        for cmd in &change.commands {
            let Command::Waldur {
                offering,
                method,
                path,
                body,
            } = cmd
            else {
                continue;
            };
            if let Err(e) = clients.call(offering, method, path, body.as_ref()).await {
                let class = if e.is_transient() {
                    FailureClass::Retryable
                } else {
                    FailureClass::Fatal
                };
                ledger.record(
                    &change.address,
                    Status::Failed {
                        class,
                        message: e.to_string(),
                    },
                    None,
                );
                return;
            }
        }
        ledger.record(&change.address, Status::Applied, None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        assert_eq!(
            classify("Database is busy or waiting for lock from other user."),
            FailureClass::Retryable
        );
        assert_eq!(
            classify("Job(s) running, cancel job(s) before remove"),
            FailureClass::Blocked
        );
        assert_eq!(
            classify(" Unknown option: GrpTRESMins=bogus=1"),
            FailureClass::Fatal
        );
        assert!(is_noop(" Nothing modified", ""));
        assert!(is_noop(" Nothing new added.", ""));
        assert!(!is_noop(
            " Nothing new added.",
            "This account 'x' doesn't exist."
        ));
    }
}
