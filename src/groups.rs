//! Cluster groups: offerings that share a SLURM target (same sacctmgr and cluster) are
//! planned together, so two offerings sharing a customer account yield one change, not
//! two. A group's desired state merges its offerings'; its observed state is one read.

use agent_config::{Config, Offering};
use agent_reconcile::commands::SlurmTarget;
use agent_reconcile::{Desired, Observed, PlanContext};
use anyhow::{bail, Result};

use crate::sides::Sides;

/// Offerings planned together against one SLURM target.
pub struct Group<'a> {
    pub target: SlurmTarget,
    pub offerings: Vec<&'a Offering>,
}

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
        }
    }

    /// The desired state of every offering in the group, merged.
    pub async fn desired(&self, sides: &Sides) -> Result<GroupDesired> {
        let all =
            futures::future::join_all(self.offerings.iter().map(|o| sides.waldur.docs(o))).await;
        let mut desired = Desired::default();
        let mut failures = Vec::new();
        for (o, docs) in self.offerings.iter().zip(all) {
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
                    desired.merge(agent_desired::build(o, &docs));
                }
                // A snapshot that cannot be read is a usage error: stop.
                Err(e) if !sides.waldur.is_live() => return Err(e),
                Err(e) => failures.push(e),
            }
        }
        Ok(GroupDesired { desired, failures })
    }

    /// The observed state of the group's cluster.
    pub async fn observed(&self, sides: &Sides) -> Result<Observed> {
        sides.slurm.observe(&self.target).await
    }
}
