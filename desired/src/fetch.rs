//! Reads one offering's documents from a live Waldur: all of them ([`fetch_docs`]), or
//! those of the part an event names ([`fetch_scoped`], [`order_resource`]).
//!
//! Every list is read whole (all pages, counted against `X-Result-Count`); any failed or
//! partial read fails the offering's fetch, so a Waldur outage can never look like
//! "nothing is wanted any more". Independent reads (teams, per-user limits, resources
//! named by orders) run concurrently within the client's bound. With periodic limits the
//! offering's policy is read too, and its resources' usage in the previous policy period.

use std::collections::{BTreeMap, BTreeSet};

use futures::stream::{self, StreamExt, TryStreamExt};

use crate::client::{ClientError, WaldurClient};
use crate::periodic::{self, Period, Policy, Usages, YearMonth};
use crate::scope::DocScope;
use crate::waldur::{
    checked_uuid, hex, number, ComponentUsage, Offering, Order, OrderState, Resource, TeamMember,
    UserUsageLimit, WaldurDocs,
};

/// Resource states the agent acts on: live ones and those with an order in flight.
pub const RESOURCE_STATES: [&str; 5] = ["OK", "Erred", "Creating", "Updating", "Terminating"];

/// The resource fields the builder reads (`field=` keeps pages small: Waldur's full
/// resource document is several times larger).
pub const RESOURCE_FIELDS: [&str; 19] = [
    "uuid",
    "name",
    "slug",
    "state",
    "backend_id",
    "project_uuid",
    "project_slug",
    "project_name",
    "customer_slug",
    "customer_name",
    "limits",
    "paused",
    "downscaled",
    "restrict_member_access",
    "attributes",
    "offering_plugin_options",
    "backend_metadata",
    "created",
    "end_date",
];

/// A read that failed, and which one.
#[derive(Debug, thiserror::Error)]
#[error("reading {what} from Waldur: {source}")]
pub struct FetchError {
    pub what: String,
    #[source]
    pub source: ClientError,
}

impl FetchError {
    fn new(what: impl Into<String>) -> impl FnOnce(ClientError) -> FetchError {
        let what = what.into();
        move |source| FetchError { what, source }
    }
}

/// What to read besides the offering, its resources, orders and teams.
#[derive(Debug, Clone, Copy)]
pub struct FetchOptions {
    /// Per-user limits (`component-user-usage-limits`), one request per live resource.
    pub user_limits: bool,
    /// The current month (configured time zone) when periodic limits are enabled: the
    /// offering's periodic policy is read, and the usage of the previous policy period.
    pub periodic_month: Option<YearMonth>,
    /// `periodic_limits.limit_type`, the policy's fallback.
    pub limit_type: agent_config::LimitType,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            user_limits: true,
            periodic_month: None,
            limit_type: agent_config::LimitType::GrpTresMins,
        }
    }
}

/// Everything [`crate::build`] needs for one offering.
pub async fn fetch_docs(
    client: &WaldurClient,
    offering_uuid: &str,
    options: FetchOptions,
) -> Result<WaldurDocs, FetchError> {
    let off = hex(offering_uuid);
    let (offering, resources, orders) = tokio::try_join!(
        read_offering(client, &off),
        read_resources(client, &off, &[]),
        read_orders(client, &off, &[]),
    )?;
    complete(client, offering, resources, orders, options).await
}

/// The documents of one scope of an offering: the offering itself, the scope's resources
/// (in the states a full read lists, or named by one of their open orders) and any other
/// resource claiming one of their accounts, their orders, teams and per-user limits — the
/// same documents a full read has for them, so the builder makes the same desired state
/// for them.
pub async fn fetch_scoped(
    client: &WaldurClient,
    offering_uuid: &str,
    scope: &DocScope,
    options: FetchOptions,
) -> Result<WaldurDocs, FetchError> {
    let off = hex(offering_uuid);
    let (offering, resources, orders) = match scope {
        DocScope::Project(project) => {
            let filter = [("project_uuid", project.clone())];
            tokio::try_join!(
                read_offering(client, &off),
                read_resources(client, &off, &filter),
                read_orders(client, &off, &filter),
            )?
        }
        DocScope::Resource(resource) => {
            let filter = [("resource_uuid", resource.clone())];
            let (offering, resource, orders) = tokio::try_join!(
                read_offering(client, &off),
                read_resource(client, &off, resource),
                read_orders(client, &off, &filter),
            )?;
            // As the list would: live states, or named by an open order.
            let listed = resource
                .filter(|r| RESOURCE_STATES.contains(&r.state.as_str()) || !orders.is_empty());
            (offering, listed.into_iter().collect(), orders)
        }
    };
    let resources = with_claimants(client, &off, resources).await?;
    complete(client, offering, resources, orders, options).await
}

/// Every other resource of the offering with the same `backend_id` as one in scope: a
/// full read would see both and leave the account alone as claimed twice, so a scoped
/// read must see them too.
async fn with_claimants(
    client: &WaldurClient,
    off: &str,
    mut resources: Vec<Resource>,
) -> Result<Vec<Resource>, FetchError> {
    let backend_ids: BTreeSet<String> = resources
        .iter()
        .filter_map(|r| r.backend_id().map(str::to_string))
        .collect();
    let found: Vec<Vec<Resource>> = stream::iter(backend_ids)
        .map(|b| async move { read_resources(client, off, &[("backend_id", b)]).await })
        .buffer_unordered(8)
        .try_collect()
        .await?;
    for r in found.into_iter().flatten() {
        if !resources.iter().any(|have| hex(&have.uuid) == hex(&r.uuid)) {
            resources.push(r);
        }
    }
    Ok(resources)
}

/// The order an `order` event names: its resource (hex), when it is this offering's.
pub async fn order_resource(
    client: &WaldurClient,
    offering_uuid: &str,
    order_uuid: &str,
) -> Result<Option<String>, FetchError> {
    let path = format!("/api/marketplace-orders/{}/", hex(order_uuid));
    let what = || FetchError::new(format!("order {}", hex(order_uuid)));
    let doc: serde_json::Value = match client.get(&path, &[]).await {
        Ok(v) => v,
        Err(e) if e.status() == Some(404) => return Ok(None),
        Err(e) => return Err(what()(e)),
    };
    let of_offering = doc
        .get("offering_uuid")
        .and_then(|v| v.as_str())
        .and_then(checked_uuid);
    if of_offering.as_deref() != Some(hex(offering_uuid).as_str()) {
        return Ok(None);
    }
    Ok(doc
        .get("marketplace_resource_uuid")
        .and_then(|v| v.as_str())
        .and_then(checked_uuid))
}

async fn read_offering(client: &WaldurClient, off: &str) -> Result<Offering, FetchError> {
    client
        .get::<Offering>(&format!("/api/marketplace-provider-offerings/{off}/"), &[])
        .await
        .map_err(FetchError::new(format!("offering {off}")))
}

/// The offering's resources in the states the agent acts on, narrowed by `filter`.
async fn read_resources(
    client: &WaldurClient,
    off: &str,
    filter: &[(&str, String)],
) -> Result<Vec<Resource>, FetchError> {
    let query: Vec<(&str, String)> = std::iter::once(("offering_uuid", off.to_string()))
        .chain(filter.iter().cloned())
        .chain(RESOURCE_STATES.iter().map(|s| ("state", s.to_string())))
        .chain(RESOURCE_FIELDS.iter().map(|f| ("field", f.to_string())))
        .collect();
    client
        .list::<Resource>("/api/marketplace-provider-resources/", &query)
        .await
        .map_err(FetchError::new(format!("resources of offering {off}")))
}

/// One resource, if Waldur has it and it belongs to the offering.
async fn read_resource(
    client: &WaldurClient,
    off: &str,
    uuid: &str,
) -> Result<Option<Resource>, FetchError> {
    let path = format!("/api/marketplace-provider-resources/{uuid}/");
    let query: Vec<(&str, String)> = RESOURCE_FIELDS
        .iter()
        .chain(&["offering_uuid"])
        .map(|f| ("field", f.to_string()))
        .collect();
    let what = || FetchError::new(format!("resource {uuid}"));
    let doc: serde_json::Value = match client.get(&path, &query).await {
        Ok(v) => v,
        Err(e) if e.status() == Some(404) => return Ok(None),
        Err(e) => return Err(what()(e)),
    };
    let of_offering = doc
        .get("offering_uuid")
        .and_then(|v| v.as_str())
        .and_then(checked_uuid);
    if of_offering.as_deref() != Some(off) {
        return Ok(None);
    }
    serde_json::from_value(doc).map(Some).map_err(|e| {
        what()(ClientError::Decode {
            method: "GET".into(),
            path,
            message: e.to_string(),
        })
    })
}

async fn read_orders(
    client: &WaldurClient,
    off: &str,
    filter: &[(&str, String)],
) -> Result<Vec<Order>, FetchError> {
    let query: Vec<(&str, String)> = std::iter::once(("offering_uuid", off.to_string()))
        .chain(filter.iter().cloned())
        .chain(OrderState::DRIVEN.iter().map(|s| ("state", s.to_string())))
        .collect();
    client
        .list::<Order>("/api/marketplace-orders/", &query)
        .await
        .map_err(FetchError::new(format!("orders of offering {off}")))
}

/// Resources named by orders, teams and per-user limits: the reads that follow from the
/// resources and orders.
async fn complete(
    client: &WaldurClient,
    offering: Offering,
    mut resources: Vec<Resource>,
    orders: Vec<Order>,
    options: FetchOptions,
) -> Result<WaldurDocs, FetchError> {
    resources.extend(resources_named_by_orders(client, &resources, &orders).await?);
    let teams = teams(client, &resources).await?;
    let user_limits = if options.user_limits {
        Some(user_limits(client, &resources).await?)
    } else {
        None
    };
    let (policies, usages) = match options.periodic_month {
        Some(month) => policy_and_usage(client, &offering, &resources, month, options).await?,
        None => (Vec::new(), Usages::new()),
    };
    Ok(WaldurDocs {
        offering,
        resources,
        teams,
        orders,
        user_limits,
        policies,
        usages,
    })
}

/// The offering's periodic policy (`scope_uuid` checked here too: a filter a server
/// ignored must not hand this offering another's policy) and, when it carries unused
/// allocation over, the offering's component usage in each month of the previous period
/// (one request per month for the whole offering, records checked the same way).
async fn policy_and_usage(
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

/// Orders can name resources outside the listed states (a Restore of a terminated
/// resource): read those one by one. A resource Waldur no longer shows is left out; the
/// builder reports the order as referring to an unknown resource.
async fn resources_named_by_orders(
    client: &WaldurClient,
    listed: &[Resource],
    orders: &[Order],
) -> Result<Vec<Resource>, FetchError> {
    let known: BTreeSet<String> = listed.iter().map(|r| hex(&r.uuid)).collect();
    let missing: BTreeSet<String> = orders
        .iter()
        .map(|o| hex(&o.marketplace_resource_uuid))
        .filter(|u| !known.contains(u))
        .collect();
    let found: Vec<Option<Resource>> = stream::iter(missing)
        .map(|uuid| async move {
            let path = format!("/api/marketplace-provider-resources/{uuid}/");
            match client.get::<Resource>(&path, &[]).await {
                Ok(r) => Ok(Some(r)),
                Err(e) if e.status() == Some(404) => Ok(None),
                Err(e) => Err(FetchError::new(format!("resource {uuid}"))(e)),
            }
        })
        .buffer_unordered(16)
        .try_collect()
        .await?;
    Ok(found.into_iter().flatten().collect())
}

/// One team read per project: every resource of a project in this offering has the same
/// team (project members joined with their offering user), so reading it per resource
/// would only repeat the same answer.
async fn teams(
    client: &WaldurClient,
    resources: &[Resource],
) -> Result<BTreeMap<String, Vec<TeamMember>>, FetchError> {
    let mut by_project: BTreeMap<String, String> = BTreeMap::new();
    for r in resources {
        by_project
            .entry(hex(&r.project_uuid))
            .or_insert_with(|| hex(&r.uuid));
    }
    let per_project: BTreeMap<String, Vec<TeamMember>> = stream::iter(by_project)
        .map(|(project, resource)| async move {
            let path = format!("/api/marketplace-provider-resources/{resource}/team/");
            client
                .get::<Vec<TeamMember>>(&path, &[])
                .await
                .map(|team| (project, team))
                .map_err(FetchError::new(format!("team of resource {resource}")))
        })
        .buffer_unordered(16)
        .try_collect()
        .await?;
    Ok(resources
        .iter()
        .map(|r| {
            let team = per_project
                .get(&hex(&r.project_uuid))
                .cloned()
                .unwrap_or_default();
            (hex(&r.uuid), team)
        })
        .collect())
}

async fn user_limits(
    client: &WaldurClient,
    resources: &[Resource],
) -> Result<BTreeMap<String, Vec<UserUsageLimit>>, FetchError> {
    let live: Vec<String> = resources
        .iter()
        .filter(|r| r.backend_id().is_some())
        .map(|r| hex(&r.uuid))
        .collect();
    stream::iter(live)
        .map(|uuid| async move {
            client
                .list::<UserUsageLimit>(
                    "/api/component-user-usage-limits/",
                    &[("resource_uuid", uuid.clone())],
                )
                .await
                .map(|l| (uuid.clone(), l))
                .map_err(FetchError::new(format!(
                    "per-user limits of resource {uuid}"
                )))
        })
        .buffer_unordered(16)
        .try_collect()
        .await
}

/// An offering user as `GET /api/marketplace-offering-users/?field=username&field=url`
/// lists it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct OfferingUser {
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
}

/// The offering's users in state OK (unrestricted), read whole: per-user usage names
/// them, `agent create-homedirs` makes their homes.
pub async fn ok_offering_users(
    client: &WaldurClient,
    offering: &str,
) -> Result<Vec<OfferingUser>, FetchError> {
    let query: Vec<(&str, String)> = vec![
        ("offering_uuid", offering.to_string()),
        ("state", "OK".into()),
        ("is_restricted", "false".into()),
        ("field", "username".into()),
        ("field", "url".into()),
    ];
    client
        .list("/api/marketplace-offering-users/", &query)
        .await
        .map_err(FetchError::new("offering users"))
}
