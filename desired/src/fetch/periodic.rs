//! Periodic limits: the offering's policy and, when it carries unused allocation over,
//! the usage of the previous policy period.

use std::collections::BTreeSet;

use futures::stream::{self, StreamExt, TryStreamExt};

use super::{FetchError, FetchOptions};
use crate::client::{ClientError, WaldurClient};
use crate::periodic::{self, Period, Policy, Usages, YearMonth};
use crate::waldur::{hex, number, ComponentUsage, Offering, Resource};

/// The offering's periodic policy (`scope_uuid` checked here too: a filter a server
/// ignored must not hand this offering another's policy) and, when it carries unused
/// allocation over, the offering's component usage in each month of the previous period
/// (one request per month for the whole offering, records checked the same way).
pub(super) async fn policy_and_usage(
    client: &WaldurClient,
    offering: &Offering,
    resources: &[Resource],
    month: YearMonth,
    options: FetchOptions,
) -> Result<(Vec<Policy>, Usages), FetchError> {
    let off = hex(&offering.uuid);
    let policies: Vec<Policy> = client
        .list::<Policy>(
            "/api/marketplace-slurm-periodic-usage-policies/",
            &[("scope_uuid", off.clone())],
        )
        .await
        .map_err(FetchError::new(format!(
            "periodic usage policy of offering {off}"
        )))?
        .into_iter()
        .filter(|p| p.scope_uuid == off)
        .collect();
    let mut usages = Usages::new();
    let Some(params) = policies
        .first()
        .and_then(|p| p.params(options.limit_type).ok())
    else {
        return Ok((policies, usages));
    };
    if params.carryover == periodic::policy::Carryover::Off {
        return Ok((policies, usages));
    }
    let kind = periodic::effective_kind(params.period, &offering.components);
    let months = Period::of(kind, month)
        .previous()
        .map(Period::months)
        .unwrap_or_default();
    let ours: BTreeSet<String> = resources.iter().map(|r| hex(&r.uuid)).collect();
    let fields = ["resource_uuid", "type", "usage", "billing_period"];
    let per_month: Vec<(YearMonth, Vec<ComponentUsage>)> = stream::iter(months)
        .map(|m| {
            let mut query: Vec<(&str, String)> = vec![
                ("offering_uuid", off.clone()),
                ("billing_period", m.billing_period()),
            ];
            query.extend(fields.iter().map(|f| ("field", f.to_string())));
            let off = &off;
            async move {
                client
                    .list::<ComponentUsage>("/api/marketplace-component-usages/", &query)
                    .await
                    .map(|list| (m, list))
                    .map_err(FetchError::new(format!(
                        "component usage of offering {off} in {}",
                        m.billing_period()
                    )))
            }
        })
        .buffer_unordered(4)
        .try_collect()
        .await?;
    for (m, list) in per_month {
        for u in list {
            if !ours.contains(&u.resource_uuid) || YearMonth::of_date(&u.billing_period) != Some(m)
            {
                continue;
            }
            let Some(amount) = number(&u.usage).filter(|a| a.is_finite() && *a >= 0.0) else {
                return Err(FetchError {
                    what: format!("component usage of resource {}", u.resource_uuid),
                    source: ClientError::Decode {
                        method: "GET".into(),
                        path: "/api/marketplace-component-usages/".into(),
                        message: format!(
                            "usage {} of {} is not a non-negative number",
                            agent_reconcile::escape::text(&u.usage.to_string()),
                            agent_reconcile::escape::text(&u.kind)
                        ),
                    },
                });
            };
            usages
                .entry(u.resource_uuid)
                .or_default()
                .entry(m)
                .or_default()
                .push((u.kind, amount));
        }
    }
    Ok((policies, usages))
}
