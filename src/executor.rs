//! Applies a plan: one attempt per change, strictly one writer, argv only.
//!
//! Guarantees:
//! - a change runs only after every change it depends on succeeded; otherwise it is
//!   skipped, and the rest of the plan still runs;
//! - sacctmgr's "Nothing modified / new added / deleted" answers are no-ops, not errors;
//! - failures are classified (retryable, blocked, fatal) so an operator knows what to do.
//!
//! The executor never decides what to change: the plan carries every argv. What is left
//! after an apply is found by observing and planning again (see `cycle`).

use std::collections::{BTreeMap, BTreeSet};

use agent_config::ApplyMode;
use agent_observed::{RunError, Runner};
use agent_reconcile::plan::{Command, Plan};
use agent_reconcile::render;

/// What happened to one change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Applied,
    /// Sent in a batch session; confirmed or not by the re-plan.
    Sent,
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
    /// Try again later (database busy, lock, timeout).
    Retryable,
    /// Needs something else first (jobs still running on the association).
    Blocked,
    /// Will not succeed as is (bad value, unknown option, missing parent).
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
            .filter(|(_, s)| matches!(s, Status::Failed { .. } | Status::Skipped { .. }))
            .count()
    }
}

/// sacctmgr's answer when there was nothing to do (it exits 1 for these). It prints the
/// same "Nothing new added." when a referenced account does not exist, with the reason on
/// stderr, so only a clean stderr makes it a no-op.
fn is_noop(stdout: &str, stderr: &str) -> bool {
    stderr.trim().is_empty()
        && ["Nothing modified", "Nothing new added", "Nothing deleted"]
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

/// Why Waldur calls are not made: this version reads Waldur from snapshots only.
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
    /// Called after each change with (done, total) for progress display.
    pub progress: Option<&'a dyn Fn(usize, usize)>,
}

impl Executor<'_> {
    pub async fn apply(&self, plan: &Plan, mode: ApplyMode) -> Outcome {
        match effective_mode(mode, plan) {
            ApplyMode::Batch => self.apply_batch(plan).await,
            _ => self.apply_each(plan).await,
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

    fn unmet(plan_deps: &[String], failed: &BTreeSet<String>) -> Option<String> {
        plan_deps.iter().find(|d| failed.contains(*d)).cloned()
    }

    async fn apply_each(&self, plan: &Plan) -> Outcome {
        let mut failed: BTreeSet<String> = BTreeSet::new();
        let mut statuses = Vec::new();
        let total = plan.changes.len();
        for (i, change) in plan.changes.iter().enumerate() {
            let status = if let Some(dep) = Self::unmet(&change.depends_on, &failed) {
                Status::Skipped {
                    because: format!("{dep} did not apply"),
                }
            } else {
                self.apply_change(change).await
            };
            if !matches!(status, Status::Applied) {
                failed.insert(change.address.clone());
            }
            statuses.push((change.address.clone(), status));
            if let Some(p) = self.progress {
                p(i + 1, total);
            }
        }
        Outcome { statuses }
    }

    async fn apply_change(&self, change: &agent_reconcile::plan::Change) -> Status {
        for cmd in &change.commands {
            match cmd {
                Command::Slurm { argv, best_effort } => {
                    if let Err((class, message)) = self.run_slurm(argv).await {
                        if *best_effort {
                            tracing::warn!(change = %change.address, %message, "best-effort command failed; continuing");
                            continue;
                        }
                        return Status::Failed { class, message };
                    }
                }
                Command::Waldur { .. } => {
                    return Status::Skipped {
                        because:
                            "Waldur calls need the live Waldur source (snapshot mode reads only)"
                                .into(),
                    };
                }
            }
        }
        Status::Applied
    }

    /// Job cancellations first (one scancel each), then every sacctmgr command in one
    /// `sacctmgr -i` stdin session over a single database connection. sacctmgr does not say
    /// which line failed, so per-change results come from planning again afterwards.
    async fn apply_batch(&self, plan: &Plan) -> Outcome {
        let mut lines = Vec::new();
        let mut sacctmgr = None;
        let mut statuses: BTreeMap<String, Status> = BTreeMap::new();
        for change in &plan.changes {
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
                        lines.push(render::sacctmgr_stdin_line(argv));
                        statuses.insert(change.address.clone(), Status::Sent);
                    }
                    Command::Waldur { .. } => {
                        statuses.insert(
                            change.address.clone(),
                            Status::Skipped {
                                because: NO_WALDUR_CLIENT.into(),
                            },
                        );
                    }
                }
            }
        }
        if let Some(program) = sacctmgr {
            let mut input = lines.join("\n");
            input.push_str("\nexit\n");
            let argv = vec![program, "-i".to_string()];
            match self.runner.run(&argv, Some(&input)).await {
                Ok(out) if !out.success() => {
                    tracing::warn!(stderr = %out.stderr.trim(), "the sacctmgr session reported errors; the re-plan shows what is left")
                }
                Ok(_) => {}
                Err(e) => {
                    for s in statuses.values_mut() {
                        if *s == Status::Sent {
                            *s = Status::Failed {
                                class: FailureClass::Retryable,
                                message: e.to_string(),
                            };
                        }
                    }
                }
            }
        }
        if let Some(p) = self.progress {
            p(plan.changes.len(), plan.changes.len());
        }
        Outcome {
            statuses: plan
                .changes
                .iter()
                .map(|c| {
                    (
                        c.address.clone(),
                        statuses.remove(&c.address).unwrap_or(Status::Applied),
                    )
                })
                .collect(),
        }
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
