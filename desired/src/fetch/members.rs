//! Who is on each resource's account and with which per-user limits: teams (one read per
//! project), per-user limits (one offering-wide list, or one read per resource in scope)
//! and the offering's users.

use std::collections::BTreeMap;

use futures::stream::{self, StreamExt, TryStreamExt};

use super::FetchError;
use crate::client::{ClientError, WaldurClient};
use crate::usage_plan::uuid_from_url;
use crate::waldur::{checked_uuid, hex, Resource, TeamMember, UserUsageLimit};

/// One team read per project: every resource of a project in this offering has the same
/// team (project members joined with their offering user), so reading it per resource
/// would only repeat the same answer.
pub(super) async fn teams(
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

const LIMITS: &str = "/api/component-user-usage-limits/";

/// The resources whose per-user limits the builder reads: those with an account.
fn live(resources: &[Resource]) -> Vec<String> {
    resources
        .iter()
        .filter(|r| r.backend_id().is_some())
        .map(|r| hex(&r.uuid))
        .collect()
}

/// Every per-user limit of the offering in one list (Mastermind's
/// `ComponentUserUsageLimitFilter` has `offering_uuid`): the requests grow with the number
/// of limits (pages of 300), not of resources.
pub(super) async fn offering_user_limits(
    client: &WaldurClient,
    off: &str,
) -> Result<Vec<UserUsageLimit>, FetchError> {
    client
        .list(LIMITS, &[("offering_uuid", off.to_string())])
        .await
        .map_err(FetchError::new(format!(
            "per-user limits of offering {off}"
        )))
}

/// The offering's limits grouped by resource, for each resource with an account (none:
/// an empty list). Each item is placed by its own `resource` URL, so a server that ignored
/// the filter cannot hand one resource another's limits; a limit that names no resource
/// fails the read, since leaving it out would clear a limit Waldur holds.
pub(super) fn by_resource(
    off: &str,
    list: Vec<UserUsageLimit>,
    resources: &[Resource],
) -> Result<BTreeMap<String, Vec<UserUsageLimit>>, FetchError> {
    let mut out: BTreeMap<String, Vec<UserUsageLimit>> = live(resources)
        .into_iter()
        .map(|u| (u, Vec::new()))
        .collect();
    for l in list {
        let Some(resource) = l
            .resource
            .as_deref()
            .and_then(|u| checked_uuid(uuid_from_url(u)))
        else {
            return Err(FetchError {
                what: format!("per-user limits of offering {off}"),
                source: ClientError::Decode {
                    method: "GET".into(),
                    path: LIMITS.into(),
                    message: format!(
                        "a limit of user {} names no resource",
                        agent_reconcile::escape::text(&l.user)
                    ),
                },
            });
        };
        if let Some(limits) = out.get_mut(&resource) {
            limits.push(l);
        }
    }
    Ok(out)
}

/// The per-user limits of a few resources (a scoped read), one read each.
pub(super) async fn user_limits_per_resource(
    client: &WaldurClient,
    resources: &[Resource],
) -> Result<BTreeMap<String, Vec<UserUsageLimit>>, FetchError> {
    stream::iter(live(resources))
        .map(|uuid| async move {
            client
                .list::<UserUsageLimit>(LIMITS, &[("resource_uuid", uuid.clone())])
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
