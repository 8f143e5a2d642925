//! Reads one offering's documents from a live Waldur.
//!
//! Every list is read whole (all pages, counted against `X-Result-Count`); any failed or
//! partial read fails the offering's fetch, so a Waldur outage can never look like
//! "nothing is wanted any more". Independent reads (teams, per-user limits, resources
//! named by orders) run concurrently within the client's bound.

use std::collections::{BTreeMap, BTreeSet};

use futures::stream::{self, StreamExt, TryStreamExt};

use crate::client::{ClientError, WaldurClient};
use crate::waldur::{
    hex, Offering, Order, OrderState, Resource, TeamMember, UserUsageLimit, WaldurDocs,
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
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions { user_limits: true }
    }
}

/// Everything [`crate::build`] needs for one offering.
pub async fn fetch_docs(
    client: &WaldurClient,
    offering_uuid: &str,
    options: FetchOptions,
) -> Result<WaldurDocs, FetchError> {
    let off = hex(offering_uuid);
    let offering_path = format!("/api/marketplace-provider-offerings/{off}/");
    let resources_query: Vec<(&str, String)> = std::iter::once(("offering_uuid", off.clone()))
        .chain(RESOURCE_STATES.iter().map(|s| ("state", s.to_string())))
        .chain(RESOURCE_FIELDS.iter().map(|f| ("field", f.to_string())))
        .collect();
    let orders_query: Vec<(&str, String)> = std::iter::once(("offering_uuid", off.clone()))
        .chain(OrderState::DRIVEN.iter().map(|s| ("state", s.to_string())))
        .collect();
    let (offering, mut resources, orders) = tokio::try_join!(
        async {
            client
                .get::<Offering>(&offering_path, &[])
                .await
                .map_err(FetchError::new(format!("offering {off}")))
        },
        async {
            client
                .list::<Resource>("/api/marketplace-provider-resources/", &resources_query)
                .await
                .map_err(FetchError::new(format!("resources of offering {off}")))
        },
        async {
            client
                .list::<Order>("/api/marketplace-orders/", &orders_query)
                .await
                .map_err(FetchError::new(format!("orders of offering {off}")))
        },
    )?;
    resources.extend(resources_named_by_orders(client, &resources, &orders).await?);

    let teams = teams(client, &resources).await?;
    let user_limits = if options.user_limits {
        Some(user_limits(client, &resources).await?)
    } else {
        None
    };
    Ok(WaldurDocs {
        offering,
        resources,
        teams,
        orders,
        user_limits,
    })
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
