//! `agent create-homedirs`: a home (and its quota) for every offering user in state OK of
//! every selected offering with home directories enabled, whether or not the agent has
//! associated them yet: the same planner, storage only, no SLURM read or written.

use agent_config::Config;
use agent_reconcile::plan::Change;
use agent_reconcile::{plan, Desired, Observed, Plan};
use anyhow::{Context, Result};
use futures::future::BoxFuture;

use crate::sides::LongRun;
use futures::FutureExt;

use crate::executor::{Executor, Outcome};
use crate::groups::Group;
use crate::sides::{Failure, Sides, SlurmWrites};

/// What the command did for one cluster group.
pub struct HomedirsReport {
    pub cluster: String,
    /// Offerings whose users could not be listed (nothing was done for them).
    pub read_failures: Vec<String>,
    pub plan: Plan,
    pub outcome: Option<Outcome>,
    /// The plan made after applying: what did not take effect.
    pub verified: Option<Plan>,
}

/// The storage-only desired and observed state of a group.
async fn read(group: &Group<'_>, sides: &Sides) -> Result<(Desired, Observed, Vec<String>)> {
    let mut desired = Desired::default();
    let mut failures = Vec::new();
    for o in &group.offerings {
        if o.slurm.storage.homes.is_none() {
            continue;
        }
        match sides.waldur.ok_usernames(o).await {
            Ok(users) => desired.storage.merge(agent_desired::storage::for_users(
                o,
                users.iter().map(String::as_str),
            )),
            Err(e) if !sides.waldur.is_live() => return Err(e),
            Err(e) => failures.push(format!("{e:#}")),
        }
    }
    let storage = sides
        .observe_storage(&desired.storage)
        .await
        .context("reading storage")?;
    let observed = Observed {
        cluster: group.label().to_string(),
        storage,
        ..Observed::default()
    };
    Ok((desired, observed, failures))
}

/// Plans (and with `apply`, makes and verifies) the homes of every group.
pub async fn create_homedirs(
    config: &Config,
    sides: &Sides,
    groups: &[Group<'_>],
    apply: bool,
) -> Result<Vec<HomedirsReport>> {
    let mut reports = Vec::new();
    for group in groups {
        let ctx = group.plan_context(config);
        let (desired, observed, read_failures) = read(group, sides).await?;
        let planned = plan(&desired, &observed, &ctx);
        let mut report = HomedirsReport {
            cluster: group.label().to_string(),
            read_failures,
            plan: planned,
            outcome: None,
            verified: None,
        };
        if apply && !report.plan.is_empty() {
            let executor = Executor {
                slurm: &NoSlurm,
                waldur: None,
                storage: sides.storage_writes.as_deref(),
                resets: None,
                progress: None,
                expose_error_details: config.expose_error_details,
            };
            let outcome = executor
                .apply(&report.plan, config.agent.apply_mode, || async {
                    anyhow::bail!("create-homedirs plans no SLURM change")
                })
                .await;
            report.outcome = Some(outcome);
            let (desired, observed, _) = read(group, sides).await?;
            report.verified = Some(plan(&desired, &observed, &ctx));
        }
        reports.push(report);
    }
    Ok(reports)
}

/// The SLURM writer of a storage-only plan: never called.
struct NoSlurm;

impl SlurmWrites for NoSlurm {
    fn apply<'a>(&'a self, change: &'a Change) -> BoxFuture<'a, Result<(), Failure>> {
        let message = format!("{} is not a storage change", change.address);
        async move {
            Err(Failure::new(
                agent_observed::answers::FailureClass::Fatal,
                message,
            ))
        }
        .boxed()
    }

    fn apply_session<'a>(&'a self, _changes: &'a [&'a Change]) -> BoxFuture<'a, LongRun> {
        async { LongRun::Ended }.boxed()
    }

    fn apply_load<'a>(
        &'a self,
        _file: &'a agent_reconcile::load::LoadFile,
        _changes: &'a [&'a Change],
    ) -> BoxFuture<'a, LongRun> {
        async { LongRun::Ended }.boxed()
    }
}
