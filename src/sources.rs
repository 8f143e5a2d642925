//! Where the two snapshots come from: recorded files or the live systems.
//!
//! Offerings that share a SLURM target (same sacctmgr and cluster) are planned together,
//! so two offerings sharing a customer account yield one change, not two.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use agent_config::{Config, Offering};
use agent_desired::fetch::{self, FetchOptions};
use agent_desired::snapshot as waldur_snapshot;
use agent_desired::WaldurDocs;
use agent_observed::{snapshot as slurm_snapshot, Runner};
use agent_reconcile::commands::SlurmTarget;
use agent_reconcile::{Desired, Observed, PlanContext};
use anyhow::{bail, Context, Result};

use crate::waldur::Clients;

/// Where the Waldur side is read from.
#[derive(Clone)]
pub enum WaldurSource {
    Snapshot(PathBuf),
    Live(Arc<Clients>),
}

impl WaldurSource {
    pub fn clients(&self) -> Option<&Clients> {
        match self {
            WaldurSource::Live(c) => Some(c),
            WaldurSource::Snapshot(_) => None,
        }
    }
}

/// Where the SLURM side is read from.
#[derive(Debug, Clone)]
pub enum SlurmSource {
    Snapshot(PathBuf),
    Live,
}

/// Offerings planned together against one SLURM target.
pub struct Group<'a> {
    pub target: SlurmTarget,
    pub offerings: Vec<&'a Offering>,
}

/// Selects offerings (by name or UUID) and groups them by SLURM target.
pub fn groups<'a>(config: &'a Config, only: Option<&str>) -> Result<Vec<Group<'a>>> {
    let mut groups: Vec<Group> = Vec::new();
    for o in &config.offerings {
        if let Some(sel) = only {
            let sel_hex = sel.replace('-', "").to_ascii_lowercase();
            if o.name != sel && o.uuid != sel_hex {
                continue;
            }
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
    pub fn plan_context(&self, config: &Config) -> PlanContext {
        let first = self.offerings[0];
        PlanContext {
            target: self.target.clone(),
            cancel_jobs: config.agent.cancel_jobs,
            fallback_default_account: Some(first.slurm.default_account.clone()),
        }
    }

    /// The documents of one offering.
    async fn docs(&self, o: &Offering, source: &WaldurSource) -> Result<WaldurDocs> {
        let mut docs = match source {
            WaldurSource::Snapshot(dir) => {
                let dir = waldur_snapshot::offering_dir(dir, &o.uuid);
                waldur_snapshot::load(&dir).with_context(|| {
                    format!("reading the Waldur snapshot of offering {:?}", o.name)
                })?
            }
            WaldurSource::Live(clients) => {
                let client = clients.get(&o.uuid).context("no Waldur client")?;
                fetch::fetch_docs(client, &o.uuid, FetchOptions::default())
                    .await
                    .with_context(|| format!("offering {:?}", o.name))?
            }
        };
        if !o.order_processing {
            docs.orders.clear();
        }
        Ok(docs)
    }

    /// The desired state of every offering in the group, merged.
    pub async fn desired(&self, source: &WaldurSource) -> Result<GroupDesired> {
        let all =
            futures::future::join_all(self.offerings.iter().map(|o| self.docs(o, source))).await;
        let mut desired = Desired::default();
        let mut failures = Vec::new();
        for (o, docs) in self.offerings.iter().zip(all) {
            match docs {
                Ok(docs) => desired.merge(agent_desired::build(o, &docs)),
                Err(e) => {
                    // A snapshot that cannot be read is a usage error: stop.
                    if matches!(source, WaldurSource::Snapshot(_)) {
                        return Err(e);
                    }
                    failures.push(e);
                }
            }
        }
        Ok(GroupDesired { desired, failures })
    }

    /// The observed state of the group's cluster.
    pub async fn observed(&self, source: &SlurmSource, runner: &Runner) -> Result<Observed> {
        match source {
            SlurmSource::Snapshot(dir) => {
                let dir = slurm_dir(dir);
                Ok(slurm_snapshot::load(&dir, self.target.cluster.as_deref())?)
            }
            SlurmSource::Live => Ok(agent_observed::observe(runner, &self.target)
                .await
                .context("reading SLURM")?),
        }
    }
}

/// `DIR/slurm/` of a snapshot.
pub fn slurm_dir(snapshot: &Path) -> PathBuf {
    snapshot.join("slurm")
}
