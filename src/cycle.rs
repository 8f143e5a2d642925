//! One reconcile cycle for one cluster group: read both sides, plan, and (for
//! `reconcile`) apply and verify. The daemon loop and the one-shot commands share it.

use agent_config::{ApplyMode, Config};
use agent_observed::Runner;
use agent_reconcile::plan::{Kind, Severity};
use agent_reconcile::{plan, Plan};
use anyhow::Result;

use crate::executor::{Executor, Outcome};
use crate::sources::{Group, GroupDesired, SlurmSource, WaldurSource};
use agent_reconcile::Observed;

/// Where a cycle reads from.
pub struct Inputs<'a> {
    pub config: &'a Config,
    pub waldur: &'a WaldurSource,
    pub slurm: &'a SlurmSource,
    pub runner: &'a Runner,
}

/// A group's plan and the offerings left out of it because Waldur could not be read.
pub struct Planned {
    pub plan: Plan,
    pub failures: Vec<anyhow::Error>,
}

/// Both sides of a group.
pub async fn read_group(
    group: &Group<'_>,
    inputs: &Inputs<'_>,
) -> Result<(GroupDesired, Observed)> {
    // The two sides are independent: read them at the same time.
    let (desired, observed) = tokio::join!(
        group.desired(inputs.waldur),
        group.observed(inputs.slurm, inputs.runner)
    );
    Ok((desired?, observed?))
}

pub async fn plan_group(group: &Group<'_>, inputs: &Inputs<'_>) -> Result<Planned> {
    let (desired, observed) = read_group(group, inputs).await?;
    Ok(Planned {
        plan: plan(
            &desired.desired,
            &observed,
            &group.plan_context(inputs.config),
        ),
        failures: desired.failures,
    })
}

/// Applies a group's plan; in batch mode the group is re-planned to find leftovers.
pub async fn apply_group(
    group: &Group<'_>,
    inputs: &Inputs<'_>,
    plan: &Plan,
    mode: ApplyMode,
    progress: Option<&dyn Fn(usize, usize)>,
) -> Outcome {
    let executor = Executor {
        runner: inputs.runner,
        waldur: inputs.waldur.clients(),
        progress,
    };
    executor
        .apply(plan, mode, || async {
            Ok(plan_group(group, inputs).await?.plan)
        })
        .await
}

/// Changes still planned after an apply, plus errors that hold changes back (a missing
/// parent or default account, an invalid name). Waldur calls count only when Waldur is
/// live: a snapshot cannot record that they were made.
pub fn remaining(plan: &Plan, waldur: &WaldurSource) -> usize {
    let changes = plan
        .changes
        .iter()
        .filter(|c| c.kind != Kind::Waldur || matches!(waldur, WaldurSource::Live(_)))
        .count();
    let errors = plan
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    changes + errors
}
