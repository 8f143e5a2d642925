//! Reads one offering's documents from a live Waldur: all of them ([`fetch_docs`]), or
//! those of the part an event names ([`fetch_scoped`], [`order_resource`]).
//!
//! Every list is read whole (all pages, counted against `X-Result-Count`); any failed or
//! partial read fails the offering's fetch, so a Waldur outage can never look like
//! "nothing is wanted any more". Independent reads (teams, per-user limits, resources
//! named by orders) run concurrently within the client's bound. With periodic limits the
//! offering's policy is read too, and its resources' usage in the previous policy period.
//!
//! What a converged full read costs (the requests do not grow with the number of
//! resources where Waldur has an offering-wide list):
//! - [`resources`]: the offering, its resources and open orders (one list each, pages of
//!   300), one read per resource an order names outside the listed states;
//! - [`members`]: one team read per *project* (Waldur has no offering-wide team list), the
//!   per-user limits in one offering-wide list (`offering_uuid`), the offering users;
//! - [`periodic`]: the policy, and one offering-wide usage list per month it carries over.

mod members;
mod periodic;
mod resources;

use crate::client::{ClientError, WaldurClient};
use crate::periodic::{Usages, YearMonth};
use crate::scope::DocScope;
use crate::waldur::{hex, Offering, Order, Resource, UserUsageLimit, WaldurDocs};

pub use members::{ok_offering_users, OfferingUser};
pub use resources::order_resource;

/// Resource states the agent acts on: live ones and those with an order in flight.
pub const RESOURCE_STATES: [&str; 5] = ["OK", "Erred", "Creating", "Updating", "Terminating"];

/// The resource fields the builder reads (`field=` keeps pages small: Waldur's full
/// resource document is several times larger).
pub const RESOURCE_FIELDS: [&str; 20] = [
    "uuid",
    "offering_uuid",
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
    // The offering-wide limits do not depend on the resources: read them alongside.
    let (offering, resources, orders, limits) = tokio::try_join!(
        resources::read_offering(client, &off),
        resources::read_resources(client, &off, &[]),
        resources::read_orders(client, &off, &[]),
        async {
            match options.user_limits {
                true => members::offering_user_limits(client, &off).await.map(Some),
                false => Ok(None),
            }
        },
    )?;
    let limits = Limits::Offering(limits.unwrap_or_default());
    complete(client, offering, resources, orders, options, limits).await
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
                resources::read_offering(client, &off),
                resources::read_resources(client, &off, &filter),
                resources::read_orders(client, &off, &filter),
            )?
        }
        DocScope::Resource(resource) => {
            let filter = [("resource_uuid", resource.clone())];
            let (offering, resource, orders) = tokio::try_join!(
                resources::read_offering(client, &off),
                resources::read_resource(client, &off, resource),
                resources::read_orders(client, &off, &filter),
            )?;
            // As the list would: live states, or named by an open order.
            let listed = resource
                .filter(|r| RESOURCE_STATES.contains(&r.state.as_str()) || !orders.is_empty());
            (offering, listed.into_iter().collect(), orders)
        }
    };
    let resources = resources::with_claimants(client, &off, resources).await?;
    complete(
        client,
        offering,
        resources,
        orders,
        options,
        Limits::PerResource,
    )
    .await
}

/// How the per-user limits are had: the offering's whole list, already read (a full read:
/// one list whatever the number of resources), or one small read per resource (a scoped
/// read, rather than the whole offering's list for one event).
enum Limits {
    Offering(Vec<UserUsageLimit>),
    PerResource,
}

/// Resources named by orders, teams and per-user limits: the reads that follow from the
/// resources and orders.
async fn complete(
    client: &WaldurClient,
    offering: Offering,
    mut resources: Vec<Resource>,
    orders: Vec<Order>,
    options: FetchOptions,
    limits: Limits,
) -> Result<WaldurDocs, FetchError> {
    resources.extend(resources::named_by_orders(client, &resources, &orders).await?);
    let off = hex(&offering.uuid);
    let (teams, user_limits) = tokio::try_join!(members::teams(client, &resources), async {
        if !options.user_limits {
            return Ok(None);
        }
        match limits {
            Limits::Offering(list) => members::by_resource(&off, list, &resources).map(Some),
            Limits::PerResource => members::user_limits_per_resource(client, &resources)
                .await
                .map(Some),
        }
    })?;
    let (policies, usages) = match options.periodic_month {
        Some(month) => {
            periodic::policy_and_usage(client, &offering, &resources, month, options).await?
        }
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
