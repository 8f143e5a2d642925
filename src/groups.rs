//! Cluster groups: offerings that share a SLURM target (same sacctmgr and cluster) are
//! planned together, so two offerings sharing a customer account yield one change, not
//! two. A group's desired state merges its offerings'; its observed state is one read.

use std::collections::{BTreeMap, BTreeSet};

use agent_config::{Config, Offering};
use agent_desired::periodic::Received;
use agent_desired::scope::DocScope;
use agent_desired::waldur::hex;
use agent_desired::{BuildContext, WaldurDocs};
use agent_reconcile::commands::SlurmTarget;
use agent_reconcile::{Desired, Observed, PlanContext};
use anyhow::{bail, Context, Result};

use crate::sides::Sides;

/// Offerings planned together against one SLURM target.
#[derive(Clone)]
pub struct Group<'a> {
    pub target: SlurmTarget,
    pub offerings: Vec<&'a Offering>,
    /// Set for an event's pass: only these parts of these offerings (UUID hex) are read
    /// and planned ([`agent_reconcile::scope`]). `None`: the full pass.
    pub scope: Option<GroupScope>,
}

/// What an event's pass re-reads, per offering UUID (hex).
pub type GroupScope = BTreeMap<String, BTreeSet<DocScope>>;

/// Whether an offering is the one a `--offering NAME|UUID` selector names.
pub fn selects(offering: &Offering, selector: &str) -> bool {
    offering.name == selector || offering.uuid == selector.replace('-', "").to_ascii_lowercase()
}

/// Selects offerings (by name or UUID) and groups them by SLURM target.
pub fn groups<'a>(config: &'a Config, only: Option<&str>) -> Result<Vec<Group<'a>>> {
    let mut groups: Vec<Group> = Vec::new();
    for o in &config.offerings {
        if only.is_some_and(|sel| !selects(o, sel)) {
            continue;
        }
        let target = SlurmTarget::new(&o.slurm.slurm_bin_path, o.slurm.cluster_name.as_deref());
        match groups.iter_mut().find(|g| g.target == target) {
            Some(g) => g.offerings.push(o),
            None => groups.push(Group {
                target,
                offerings: vec![o],
                scope: None,
            }),
        }
    }
    if groups.is_empty() {
        bail!("no offering matches {:?}", only.unwrap_or(""));
    }
    Ok(groups)
}

/// The desired state of a group, and the offerings that could not be read. An offering
/// whose Waldur read failed is left out whole: its accounts are then unmanaged for this
/// cycle (never deleted), and its orders wait for the next cycle.
pub struct GroupDesired {
    pub desired: Desired,
    pub failures: Vec<anyhow::Error>,
}

impl Group<'_> {
    /// The cluster's name as plans and reports show it before SLURM was read.
    pub fn label(&self) -> &str {
        self.target.cluster.as_deref().unwrap_or("-")
    }

    pub fn plan_context(&self, config: &Config) -> PlanContext {
        let first = self.offerings[0];
        PlanContext {
            target: self.target.clone(),
            cancel_jobs: config.agent.cancel_jobs,
            cancel_jobs_on_partition_change: config.agent.cancel_jobs_on_partition_change,
            fallback_default_account: Some(first.slurm.default_account.clone()),
            scope: None,
        }
    }

    /// The desired state of every offering in the group (or of the scope), merged.
    pub async fn desired(&self, sides: &Sides) -> Result<GroupDesired> {
        Ok(self.desired_with_docs(sides).await?.0)
    }

    /// [`Group::desired`], and the documents each readable offering gave (for `diagnose`).
    pub async fn desired_with_docs(
        &self,
        sides: &Sides,
    ) -> Result<(GroupDesired, Vec<(&Offering, WaldurDocs)>)> {
        let offerings: Vec<&Offering> = self
            .offerings
            .iter()
            .copied()
            .filter(|o| self.scope.as_ref().is_none_or(|s| s.contains_key(&o.uuid)))
            .collect();
        let all = futures::future::join_all(offerings.iter().map(|o| self.docs(o, sides))).await;
        let mut desired = Desired::default();
        let mut failures = Vec::new();
        let mut read = Vec::new();
        for (o, docs) in offerings.iter().zip(all) {
            let docs = docs.and_then(|docs| {
                docs.consistent(&o.uuid)
                    .map_err(|e| anyhow::anyhow!("offering {:?}: {e}", o.name))?;
                Ok(docs)
            });
            match docs {
                Ok(mut docs) => {
                    if !o.order_processing {
                        docs.orders.clear();
                    }
                    let ctx = build_context(o, &docs, sides);
                    desired.merge(agent_desired::build_with(o, &docs, &ctx));
                    read.push((*o, docs));
                }
                // A snapshot that cannot be read is a usage error: stop.
                Err(e) if !sides.waldur.is_live() => return Err(e),
                Err(e) => failures.push(e),
            }
        }
        Ok((GroupDesired { desired, failures }, read))
    }

    /// One offering's documents: all of them, or those of the scope's parts.
    async fn docs(&self, o: &Offering, sides: &Sides) -> Result<WaldurDocs> {
        let Some(parts) = self.scope.as_ref().and_then(|s| s.get(&o.uuid)) else {
            return sides.waldur.docs(o).await;
        };
        let reads =
            futures::future::try_join_all(parts.iter().map(|p| sides.waldur.scoped_docs(o, p)))
                .await?;
        let mut reads = reads.into_iter();
        let first = reads.next().context("an empty scope")?;
        let docs = reads.fold(first, |all, more| all.union(more));
        // A resource still without an account gets a new name, which must not be one a
        // sibling already holds (same slug, same project): read its whole project.
        let projects: BTreeSet<String> = docs
            .resources
            .iter()
            .filter(|r| r.backend_id().is_none())
            .map(|r| agent_desired::waldur::hex(&r.project_uuid))
            .filter(|p| !parts.contains(&DocScope::Project(p.clone())))
            .collect();
        let siblings = futures::future::try_join_all(
            projects
                .into_iter()
                .map(|p| async move { sides.waldur.scoped_docs(o, &DocScope::Project(p)).await }),
        )
        .await?;
        Ok(siblings.into_iter().fold(docs, |all, more| all.union(more)))
    }

    /// The observed state of the group's cluster, with the agent's record of the RawUsage
    /// resets it made there.
    pub async fn observed(&self, sides: &Sides) -> Result<Observed> {
        let mut observed = sides.slurm.observe(&self.target).await?;
        observed.raw_usage_resets = self.resets(sides, &observed.cluster);
        Ok(observed)
    }

    /// The agent's record of the RawUsage resets it made on `cluster` (`None` when it
    /// cannot be read: no reset is then planned).
    pub fn resets(&self, sides: &Sides, cluster: &str) -> Option<BTreeMap<String, String>> {
        let periodic = self
            .offerings
            .iter()
            .any(|o| o.slurm.periodic_limits.enabled);
        if !periodic {
            // Nothing can ask for a reset: no need to read the record.
            return Some(Default::default());
        }
        match sides.periodic.resets.done(cluster) {
            Ok(done) => Some(done),
            Err(e) => {
                tracing::error!("{e:#}; no RawUsage reset is planned");
                None
            }
        }
    }
}

/// The clock and, for an offering a periodic policy manages, the settings stored for
/// each of its resources.
fn build_context(o: &Offering, docs: &WaldurDocs, sides: &Sides) -> BuildContext {
    let clock = &sides.periodic.clock;
    let mut ctx = BuildContext {
        month: Some(clock.month()),
        stored: Default::default(),
    };
    if !o.slurm.periodic_limits.enabled || docs.policies.is_empty() {
        return ctx;
    }
    for r in &docs.resources {
        let uuid = hex(&r.uuid);
        let entry = match sides.periodic.settings.stored(&uuid) {
            Ok(None) => continue,
            Ok(Some(stored)) => match clock.month_of(&stored.received_at) {
                Some(month) => Ok(Received { stored, month }),
                None => Err(format!(
                    "received_at {:?} is not an RFC 3339 time",
                    agent_reconcile::escape::text(&stored.received_at)
                )),
            },
            Err(e) => Err(format!("{e:#}")),
        };
        ctx.stored.insert(uuid, entry);
    }
    ctx
}
