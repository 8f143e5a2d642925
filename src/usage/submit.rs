//! Submitting one offering's usage: what its allocations consumed in SLURM, sent to
//! Waldur per billing period. One sacct call per period for all of the offering's
//! accounts, and alongside it one offering-wide read of the records Waldur holds for the
//! period ([`super::stored`]); per resource only differences are posted, so a second run
//! posts nothing and makes no request per resource.

use std::collections::BTreeMap;

use agent_config::Offering;
use agent_desired::amount::{to_waldur, Amount};
use agent_desired::client::{ClientError, WaldurClient};
use agent_desired::usage_plan;
use agent_desired::waldur::hex;
use agent_observed::sacct::{read_period, SacctUsage};
use agent_observed::Runner;
use agent_reconcile::commands::SlurmTarget;
use anyhow::{Context, Result};
use futures::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::periods::Month;
use super::stored::{self, Stored};

/// Waldur's message for a past-period usage a non-staff token may not backfill.
const BACKFILL: &str = "backfilling past billing periods";

#[derive(Debug, Clone, Default)]
pub struct SubmitOptions {
    pub dry_run: bool,
    pub skip_user_usage: bool,
    /// Only these backend ids (empty: all).
    pub resources: Vec<String>,
    /// Past months without any sacct rows for an account are skipped (the historical
    /// loader and past months of `report`); the current month reports zeros instead.
    pub zeros_for_missing_in_past: bool,
}

/// One period to report, with its `date` string already in the configured zone.
#[derive(Debug, Clone)]
pub struct PeriodSpec {
    pub month: Month,
    pub date: String,
    pub current: bool,
}

/// What was (or, in a dry run, would be) submitted for one resource in one period.
#[derive(Debug, Clone, Serialize)]
pub struct Submission {
    pub period: String,
    pub resource: String,
    pub resource_name: String,
    pub backend_id: String,
    /// Waldur units, per component.
    pub totals: BTreeMap<String, Amount>,
    /// `set_usage` body sent (or, in a dry run, that would be sent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set_usage: Option<Value>,
    /// `set_user_usages` calls: (component usage uuid, body).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub user_usages: Vec<(String, Value)>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub anomalies: Vec<String>,
    /// Why nothing was sent, when that is not simply "unchanged".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Submission {
    pub fn posted(&self) -> bool {
        self.set_usage.is_some() || !self.user_usages.is_empty()
    }
}

#[derive(Debug, Deserialize)]
struct ResourceItem {
    uuid: String,
    name: String,
    #[serde(default)]
    backend_id: Option<String>,
}

#[derive(Debug, Deserialize)]
struct OfferingItem {
    #[serde(default)]
    components: Vec<ComponentItem>,
}

#[derive(Debug, Deserialize)]
struct ComponentItem {
    #[serde(rename = "type")]
    kind: String,
}

/// The offering's resources that have a SLURM account, filtered to `only` when given.
async fn resources(
    client: &WaldurClient,
    offering: &str,
    only: &[String],
) -> Result<Vec<(ResourceItem, String)>> {
    let query: Vec<(&str, String)> = [
        ("offering_uuid", offering.to_string()),
        ("state", "OK".into()),
        ("state", "Erred".into()),
        ("state", "Updating".into()),
        ("state", "Terminating".into()),
        ("field", "uuid".into()),
        ("field", "name".into()),
        ("field", "backend_id".into()),
    ]
    .into();
    let list: Vec<ResourceItem> = client
        .list("/api/marketplace-provider-resources/", &query)
        .await
        .context("listing resources")?;
    let wanted: Vec<String> = only.iter().map(|b| b.to_ascii_lowercase()).collect();
    for w in &wanted {
        if !list.iter().any(|r| {
            r.backend_id
                .as_deref()
                .map(str::to_ascii_lowercase)
                .as_ref()
                == Some(w)
        }) {
            tracing::warn!(backend_id = %w, "no resource of the offering has this backend id");
        }
    }
    Ok(list
        .into_iter()
        .filter_map(|r| {
            let account = r.backend_id.clone()?.trim().to_ascii_lowercase();
            (!account.is_empty() && (wanted.is_empty() || wanted.contains(&account)))
                .then_some((r, account))
        })
        .collect())
}

/// Offering users in state OK: username -> URL (the `user` of per-user usage).
async fn offering_users(client: &WaldurClient, offering: &str) -> Result<BTreeMap<String, String>> {
    let list = agent_desired::fetch::ok_offering_users(client, offering)
        .await
        .context("listing offering users")?;
    Ok(list
        .into_iter()
        .filter_map(|u| Some((u.username.filter(|n| !n.is_empty())?, u.url?)))
        .collect())
}

/// Everything computed from SLURM for one period.
struct PeriodUsage {
    totals: BTreeMap<String, BTreeMap<String, Amount>>,
    users: BTreeMap<String, BTreeMap<String, BTreeMap<String, Amount>>>,
}

fn convert(offering: &Offering, raw: &SacctUsage) -> PeriodUsage {
    let mut totals = BTreeMap::new();
    let mut users = BTreeMap::new();
    for (account, usage) in &raw.accounts {
        totals.insert(
            account.clone(),
            to_waldur(&offering.components, &usage.total),
        );
        users.insert(
            account.clone(),
            usage
                .users
                .iter()
                .map(|(u, m)| (u.clone(), to_waldur(&offering.components, m)))
                .collect(),
        );
    }
    PeriodUsage { totals, users }
}

/// Shared, read-only inputs of one offering's submission.
struct Submitter<'a> {
    client: &'a WaldurClient,
    offering: &'a Offering,
    components: Vec<String>,
    offering_users: BTreeMap<String, String>,
    options: &'a SubmitOptions,
}

/// Reports one offering for the given periods.
pub async fn submit_offering(
    client: &WaldurClient,
    runner: &Runner,
    offering: &Offering,
    periods: &[PeriodSpec],
    options: &SubmitOptions,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Vec<Submission>> {
    let off = &offering.uuid;
    let waldur_offering: OfferingItem = client
        .get(
            &format!("/api/marketplace-provider-offerings/{off}/"),
            &[("field", "components".to_string())],
        )
        .await
        .context("reading the offering's components")?;
    let known: Vec<String> = waldur_offering
        .components
        .into_iter()
        .map(|c| c.kind)
        .collect();
    // Config order, limited to what Waldur has: Waldur rejects unknown types.
    let components: Vec<String> = offering
        .components
        .keys()
        .filter(|k| known.contains(k))
        .cloned()
        .collect();
    let resources = resources(client, off, &options.resources).await?;
    let offering_users = if options.skip_user_usage {
        BTreeMap::new()
    } else {
        offering_users(client, off).await?
    };
    let ctx = Submitter {
        client,
        offering,
        components,
        offering_users,
        options,
    };
    let accounts: Vec<String> = {
        let mut a: Vec<String> = resources.iter().map(|(_, acc)| acc.clone()).collect();
        a.sort();
        a.dedup();
        a
    };
    let target = SlurmTarget::new(
        &offering.slurm.slurm_bin_path,
        offering.slurm.cluster_name.as_deref(),
    );
    let mut out = Vec::new();
    let total = periods.len() * resources.len();
    // A few resources asked for by name: their own records, not the whole offering's.
    let whole_offering = options.resources.is_empty();
    for period in periods {
        let (raw, mut held) = tokio::try_join!(
            async {
                read_period(
                    runner,
                    &target,
                    &accounts,
                    (period.month.year, period.month.month),
                )
                .await
                .with_context(|| format!("reading usage of {} from sacct", period.month.label()))
            },
            async {
                if !whole_offering {
                    return Ok(None);
                }
                stored::offering(client, off, period.month, !options.skip_user_usage)
                    .await
                    .map(Some)
                    .with_context(|| {
                        format!(
                            "reading the usage Waldur holds for {}",
                            period.month.label()
                        )
                    })
            }
        )?;
        let usage = convert(offering, &raw);
        let done_before = out.len();
        let held: Vec<Option<Stored>> = resources
            .iter()
            .map(|(r, _)| {
                held.as_mut()
                    .map(|h| h.remove(&hex(&r.uuid)).unwrap_or_default())
            })
            .collect();
        let submissions: Vec<Submission> = stream::iter(resources.iter().zip(held))
            .map(|((r, account), held)| ctx.resource(r, account, period, &usage, held))
            .buffer_unordered(8)
            .enumerate()
            .map(|(i, r)| {
                progress(done_before + i + 1, total);
                r
            })
            .collect()
            .await;
        out.extend(submissions);
    }
    out.sort_by(|a, b| (&a.period, &a.backend_id).cmp(&(&b.period, &b.backend_id)));
    Ok(out)
}

impl Submitter<'_> {
    async fn resource(
        &self,
        r: &ResourceItem,
        account: &str,
        period: &PeriodSpec,
        usage: &PeriodUsage,
        held: Option<Stored>,
    ) -> Submission {
        let mut rep = Submission {
            period: period.month.label(),
            resource: hex(&r.uuid),
            resource_name: r.name.clone(),
            backend_id: account.to_string(),
            totals: BTreeMap::new(),
            set_usage: None,
            user_usages: Vec::new(),
            anomalies: Vec::new(),
            skipped: None,
            error: None,
        };
        let totals = match usage.totals.get(account) {
            Some(t) => t.clone(),
            None if period.current || self.options.zeros_for_missing_in_past => {
                // No jobs this month: a usage of zero, not an unknown one.
                to_waldur(&self.offering.components, &BTreeMap::new())
            }
            None => {
                rep.skipped = Some("no jobs in this period".into());
                return rep;
            }
        };
        rep.totals = totals.clone();
        let empty = BTreeMap::new();
        let users = if self.options.skip_user_usage {
            &empty
        } else {
            usage.users.get(account).unwrap_or(&empty)
        };
        if let Err(e) = self.submit(&mut rep, period, &totals, users, held).await {
            if !period.current && e.status() == Some(400) && e.detail().contains(BACKFILL) {
                rep.skipped = Some(format!(
                    "Waldur accepts past usage of this component only from a staff token: {}",
                    e.detail()
                ));
            } else {
                rep.error = Some(e.to_string());
            }
        }
        rep
    }

    /// Plans against what Waldur holds (`held`, read for the whole offering, else read
    /// here) and posts the difference. When the aggregate records are new, the per-user
    /// values need their uuids: read this resource's records and plan once more.
    async fn submit(
        &self,
        rep: &mut Submission,
        period: &PeriodSpec,
        totals: &BTreeMap<String, Amount>,
        users: &BTreeMap<String, BTreeMap<String, Amount>>,
        mut held: Option<Stored>,
    ) -> Result<(), ClientError> {
        let resource = rep.resource.clone();
        for round in 0..2 {
            let Stored {
                usages: stored,
                users: stored_users,
            } = match held.take() {
                Some(h) => h,
                None => {
                    stored::resource(
                        self.client,
                        &resource,
                        period.month,
                        !self.options.skip_user_usage,
                    )
                    .await?
                }
            };
            let plan = usage_plan::plan_period(&usage_plan::PeriodInput {
                resource_uuid: &resource,
                date: &period.date,
                current_period: period.current,
                waldur_components: &self.components,
                totals,
                users,
                offering_users: &self.offering_users,
                stored: &stored,
                stored_users: &stored_users,
            });
            if round == 0 {
                rep.anomalies = plan.anomalies.iter().map(|a| a.to_string()).collect();
                for a in &rep.anomalies {
                    tracing::warn!(resource = %rep.backend_id, period = %rep.period, anomaly = %a, "usage not submitted");
                }
            }
            if let Some(body) = &plan.set_usage {
                if !self.options.dry_run {
                    self.client
                        .call(
                            "POST",
                            "/api/marketplace-component-usages/set_usage/",
                            Some(body),
                        )
                        .await?;
                }
                rep.set_usage = Some(body.clone());
            }
            for post in &plan.user_usages {
                if !self.options.dry_run {
                    let path = format!(
                        "/api/marketplace-component-usages/{}/set_user_usages/",
                        post.component_usage
                    );
                    self.client.call("POST", &path, Some(&post.body)).await?;
                }
                rep.user_usages
                    .push((post.component_usage.clone(), post.body.clone()));
            }
            // A second round only helps when totals were just created for users to hang on.
            if plan.set_usage.is_none() || users.is_empty() || self.options.dry_run {
                break;
            }
        }
        Ok(())
    }
}
