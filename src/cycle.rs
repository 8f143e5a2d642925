//! One reconcile pass over cluster groups, shared by `agent reconcile` and `agent run`:
//! read both sides and plan every group; refuse the whole pass when it deletes more than
//! `agent.max_deletions` (before anything is changed); apply each group's plan; plan
//! again to verify; and return a [`GroupReport`] per group with what happened and what
//! it cost. The CLI prints the reports, the daemon logs them (and will serve them).

use std::time::{Duration, Instant};

use agent_config::{ApplyMode, Config};
use agent_reconcile::plan::{Kind, Severity};
use agent_reconcile::scope::Scope;
use agent_reconcile::{plan, Observed, Plan, PlanContext};
use anyhow::{Context, Result};
use serde_json::json;

use crate::executor::{Executor, Outcome, Progress, Status, Tally};
use crate::groups::{Group, GroupDesired};
use crate::sides::{Counts, Sides};
use crate::state::{ReadSize, StateDir};

/// A group's plan, the offerings left out of it because Waldur could not be read, and
/// how much SLURM showed.
pub struct Planned {
    pub plan: Plan,
    pub failures: Vec<anyhow::Error>,
    pub read: ReadSize,
    /// Planned from a scoped read (an event's pass): its size says nothing about the
    /// cluster's.
    pub scoped: bool,
    /// The full read the plan was made from (`None` for a scoped one): the check after
    /// the apply reads again only what the plan touched, over it.
    pub observed: Option<Observed>,
}

/// Both sides of a group, read at the same time (they are independent), then the
/// storage the desired state needs (what to look up follows from it). A SLURM read that
/// cannot be true is an error.
pub async fn read_group(group: &Group<'_>, sides: &Sides) -> Result<(GroupDesired, Observed)> {
    let (desired, observed) = tokio::join!(group.desired(sides), group.observed(sides));
    let mut observed = observed?;
    agent_observed::plausible::check(&observed).map_err(anyhow::Error::msg)?;
    let desired = desired?;
    observed.storage = sides
        .observe_storage(&desired.desired.storage)
        .await
        .context("reading storage")?;
    Ok((desired, observed))
}

/// A group's plan: the full one, or for an event's pass the plan of its scope — unless
/// the scope terminates an allocation, which only a full pass removes (it sees every
/// child and decides on the project account too).
pub async fn plan_group(group: &Group<'_>, config: &Config, sides: &Sides) -> Result<Planned> {
    if group.scope.is_some() {
        let started = Instant::now();
        let desired = group.desired(sides).await?;
        tracing::debug!(read = ?started.elapsed(), "scoped Waldur read");
        if desired.desired.tombstones.is_empty() {
            return plan_scoped(group, config, sides, desired).await;
        }
        tracing::info!(cluster = %group.label(), "the event terminates an allocation: a full pass");
    }
    let full = Group {
        scope: None,
        ..group.clone()
    };
    let (desired, observed) = read_group(&full, sides).await?;
    Ok(Planned {
        plan: plan(&desired.desired, &observed, &full.plan_context(config)),
        failures: desired.failures,
        read: ReadSize {
            accounts: observed.accounts.len(),
            associations: observed.associations.len(),
        },
        scoped: false,
        observed: Some(observed),
    })
}

/// The plan after `applied` was applied: what did not take effect. Waldur is read again
/// whole (its calls are checked there); SLURM, when the plan was made from a full read,
/// only for the accounts and users `applied` touched ([`Scope::touched_by`]), over that
/// read: the agent wrote nothing else, and the next pass reads everything anyway. A plan
/// that cannot be checked that way, and an event's pass, are planned again as they were.
pub async fn replan_after(
    group: &Group<'_>,
    config: &Config,
    sides: &Sides,
    before: Option<&Observed>,
    applied: &Plan,
) -> Result<Plan> {
    let touched = Scope::touched_by(applied);
    let (Some(before), Some(scope), None) = (before, touched, &group.scope) else {
        return Ok(plan_group(group, config, sides).await?.plan);
    };
    let started = Instant::now();
    let (desired, fresh) = tokio::join!(
        group.desired(sides),
        sides.slurm.observe_scoped(&group.target, &scope)
    );
    let fresh = fresh?;
    agent_observed::plausible::check(&fresh).map_err(anyhow::Error::msg)?;
    let desired = desired?;
    let mut observed = scope.overlay(before, &fresh);
    observed.raw_usage_resets = group.resets(sides, &observed.cluster);
    observed.storage = sides
        .observe_storage(&desired.desired.storage)
        .await
        .context("reading storage")?;
    tracing::debug!(
        accounts = scope.accounts.len(),
        users = scope.users.len(),
        read = ?started.elapsed(),
        "re-read what the plan touched"
    );
    Ok(plan(
        &desired.desired,
        &observed,
        &group.plan_context(config),
    ))
}

/// SLURM read and planned for the scope's accounts only.
async fn plan_scoped(
    group: &Group<'_>,
    config: &Config,
    sides: &Sides,
    desired: GroupDesired,
) -> Result<Planned> {
    let scope = Scope::of(&desired.desired);
    let started = Instant::now();
    let mut observed = sides.slurm.observe_scoped(&group.target, &scope).await?;
    tracing::debug!(
        accounts = scope.accounts.len(),
        read = ?started.elapsed(),
        "scoped SLURM read"
    );
    agent_observed::plausible::check(&observed).map_err(anyhow::Error::msg)?;
    observed.storage = sides
        .observe_storage(&desired.desired.storage)
        .await
        .context("reading storage")?;
    let ctx = PlanContext {
        scope: Some(scope),
        ..group.plan_context(config)
    };
    Ok(Planned {
        plan: plan(&desired.desired, &observed, &ctx),
        failures: desired.failures,
        read: ReadSize {
            accounts: observed.accounts.len(),
            associations: observed.associations.len(),
        },
        scoped: true,
        observed: None,
    })
}

/// Changes still planned, plus errors that hold changes back (a missing parent or
/// default account, an invalid name). Waldur calls count only when they can be made: a
/// snapshot cannot record that they were.
pub fn remaining(plan: &Plan, waldur_writable: bool) -> usize {
    let changes = plan
        .changes
        .iter()
        .filter(|c| c.kind != Kind::Waldur || waldur_writable)
        .count();
    let errors = plan
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    changes + errors
}

/// How a pass applies.
pub struct PassOptions<'a> {
    /// False: plan and guard only, change nothing.
    pub apply: bool,
    pub mode: ApplyMode,
    pub allow_mass_delete: bool,
    /// Plan again after applying; otherwise the next pass verifies.
    pub verify: bool,
    pub progress: Option<Progress<'a>>,
    /// Where the size of the last read is kept: a read that lost almost everything since
    /// is refused; a read that is acted on is recorded.
    pub state: Option<&'a StateDir>,
}

/// Wall time of the steps of one group.
#[derive(Debug, Clone, Copy, Default)]
pub struct Durations {
    pub plan: Duration,
    pub apply: Duration,
    pub verify: Duration,
}

/// What one pass did to one cluster group.
pub struct GroupReport {
    pub cluster: String,
    /// UUIDs of the group's offerings.
    pub offerings: Vec<String>,
    /// Offerings left out because Waldur could not be read (nothing of them changed).
    pub read_failures: Vec<String>,
    /// The group could not be planned at all (SLURM unreadable, a broken snapshot).
    pub error: Option<String>,
    pub plan: Option<Plan>,
    /// Per-change statuses; `None` when nothing was applied.
    pub outcome: Option<Outcome>,
    /// The plan made after applying: what did not take effect.
    pub verified: Option<Plan>,
    /// Changes and blocking errors still outstanding (0 = in step).
    pub left: usize,
    /// How much SLURM showed (`None` when the read failed or was refused).
    pub read: Option<ReadSize>,
    /// Planned for an event's scope only.
    pub scoped: bool,
    pub counts: Counts,
    pub durations: Durations,
}

impl GroupReport {
    fn new(group: &Group) -> Self {
        GroupReport {
            cluster: group.label().to_string(),
            offerings: group.offerings.iter().map(|o| o.uuid.clone()).collect(),
            read_failures: Vec::new(),
            error: None,
            plan: None,
            outcome: None,
            verified: None,
            left: 0,
            read: None,
            scoped: false,
            counts: Counts::default(),
            durations: Durations::default(),
        }
    }

    pub fn tally(&self) -> Tally {
        self.outcome
            .as_ref()
            .map(Outcome::tally)
            .unwrap_or_default()
    }

    /// Something here is worth trying again soon: a retryable failure, or a read failure.
    pub fn retry_soon(&self) -> bool {
        self.tally().failed_retryable > 0 || !self.read_failures.is_empty() || self.error.is_some()
    }

    /// Problems that make the command fail: unread offerings, an unplanned group, changes
    /// that did not apply (Waldur calls skipped because Waldur is a snapshot excepted),
    /// and whatever is left.
    pub fn problems(&self, waldur_writable: bool) -> usize {
        let not_applied = self.outcome.as_ref().map_or(0, |o| {
            o.statuses
                .iter()
                .filter(|(a, s)| {
                    !matches!(s, Status::Applied) && (waldur_writable || !a.is_waldur())
                })
                .count()
        });
        self.read_failures.len() + usize::from(self.error.is_some()) + not_applied + self.left
    }

    /// The machine-readable summary (`--stats-file`, the benchmark).
    pub fn summary(&self) -> serde_json::Value {
        let plan = self.plan.as_ref();
        json!({
            "cluster": self.cluster,
            "read_failures": self.read_failures,
            "error": self.error,
            "planned": plan.map(|p| &p.summary),
            "outcome": self.outcome.as_ref().map(|_| self.tally()),
            "left": self.left,
            "scoped": self.scoped,
            "waldur_requests": self.counts.waldur_requests,
            "processes": self.counts.processes,
            "seconds": {
                "plan": self.durations.plan.as_secs_f64(),
                "apply": self.durations.apply.as_secs_f64(),
                "verify": self.durations.verify.as_secs_f64(),
            },
        })
    }
}

/// A pass over several groups.
pub struct Pass {
    pub groups: Vec<GroupReport>,
    /// Why nothing was applied although there was something to apply.
    pub refused: Option<String>,
}

impl Pass {
    pub fn problems(&self, waldur_writable: bool) -> usize {
        self.groups
            .iter()
            .map(|g| g.problems(waldur_writable))
            .sum::<usize>()
            + usize::from(self.refused.is_some())
    }

    pub fn summary(&self) -> serde_json::Value {
        json!({
            "refused": self.refused,
            "groups": self.groups.iter().map(GroupReport::summary).collect::<Vec<_>>(),
        })
    }
}

/// Plans every group, checks the mass-delete guard over all of them, then (when asked)
/// applies and verifies each.
pub async fn reconcile(
    config: &Config,
    sides: &Sides,
    groups: &[Group<'_>],
    options: &PassOptions<'_>,
) -> Pass {
    let mut reports = Vec::new();
    let mut reads: Vec<Option<Observed>> = Vec::new();
    for group in groups {
        let before = sides.counts();
        let started = Instant::now();
        let mut report = GroupReport::new(group);
        let mut read = None;
        match plan_group(group, config, sides).await {
            Ok(planned) => {
                report.cluster = planned.plan.cluster.clone();
                report.read_failures = planned.failures.iter().map(|e| format!("{e:#}")).collect();
                report.scoped = planned.scoped;
                let last = options
                    .state
                    .filter(|_| !planned.scoped)
                    .and_then(|s| s.last_read(&report.cluster));
                match last.and_then(|l| planned.read.implausible_after(&l)) {
                    Some(why) => {
                        report.error = Some(format!(
                            "{why}; nothing is planned from this read. If SLURM really lost them, remove {} and run again",
                            options
                                .state
                                .map(|s| s.size_file(&report.cluster).display().to_string())
                                .unwrap_or_default()
                        ))
                    }
                    None => {
                        report.read = Some(planned.read);
                        report.plan = Some(planned.plan);
                        read = planned.observed;
                    }
                }
            }
            Err(e) => report.error = Some(format!("{e:#}")),
        }
        report.durations.plan = started.elapsed();
        report.counts = sides.counts().since(&before);
        reports.push(report);
        reads.push(read);
    }
    let deletions: usize = reports
        .iter()
        .filter_map(|r| r.plan.as_ref())
        .map(Plan::deletions)
        .sum();
    let max = config.agent.max_deletions;
    let refused = (options.apply && deletions > max && !options.allow_mass_delete).then(|| {
        format!(
            "the plan deletes {deletions} objects, more than agent.max_deletions ({max}); nothing was changed. Review it with `agent plan` and rerun with --allow-mass-delete"
        )
    });
    let writable = sides.waldur_writes.is_some();
    for ((group, report), read) in groups.iter().zip(&mut reports).zip(&reads) {
        let Some(plan) = report.plan.as_ref() else {
            continue;
        };
        if let (Some(state), Some(read), true, false) =
            (options.state, report.read, options.apply, report.scoped)
        {
            if let Err(e) = state.record_read(&report.cluster, read) {
                tracing::warn!("{e:#}");
            }
        }
        if plan.is_empty() || !options.apply || refused.is_some() {
            // This plan, just made, is the verification.
            report.left = remaining(plan, writable);
            continue;
        }
        let before = sides.counts();
        let started = Instant::now();
        let outcome = apply_group(group, config, sides, plan, read.as_ref(), options).await;
        report.durations.apply = started.elapsed();
        match outcome {
            Ok(outcome) => report.outcome = Some(outcome),
            Err(e) => report.error = Some(format!("{e:#}")),
        }
        if options.verify && report.error.is_none() {
            let started = Instant::now();
            match replan_after(group, config, sides, read.as_ref(), plan)
                .await
                .context("re-planning after apply")
            {
                Ok(after) => {
                    report.left = remaining(&after, writable);
                    report.verified = Some(after);
                }
                Err(e) => report.error = Some(format!("{e:#}")),
            }
            report.durations.verify = started.elapsed();
        }
        report.counts = report.counts.plus(&sides.counts().since(&before));
    }
    Pass {
        groups: reports,
        refused,
    }
}

/// Applies one group's plan; in batch mode the group is re-planned (what the plan touched)
/// to find leftovers.
async fn apply_group(
    group: &Group<'_>,
    config: &Config,
    sides: &Sides,
    plan: &Plan,
    read: Option<&Observed>,
    options: &PassOptions<'_>,
) -> Result<Outcome> {
    let slurm = sides.slurm_writes.as_deref().context(
        "--from-snapshot reads recorded SLURM output and cannot be applied; use --dry-run, or --waldur-snapshot to apply to the live cluster",
    )?;
    let executor = Executor {
        slurm,
        waldur: sides.waldur_writes.as_deref(),
        storage: sides.storage_writes.as_deref(),
        progress: options.progress,
        expose_error_details: config.expose_error_details,
        resets: Some(sides.periodic.resets.as_ref()),
    };
    Ok(executor
        .apply(plan, options.mode, || {
            replan_after(group, config, sides, read, plan)
        })
        .await)
}
