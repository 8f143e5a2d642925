//! The offering, its resources and orders: the lists every read starts from, and the
//! single reads that complete them (a resource an order names, another claimant of an
//! account in scope).

use std::collections::BTreeSet;

use futures::stream::{self, StreamExt, TryStreamExt};

use super::{FetchError, RESOURCE_FIELDS, RESOURCE_STATES};
use crate::client::{ClientError, WaldurClient};
use crate::waldur::{checked_uuid, hex, Offering, Order, OrderState, Resource};

/// Every other resource of the offering with the same `backend_id` as one in scope: a
/// full read would see both and leave the account alone as claimed twice, so a scoped
/// read must see them too.
pub(super) async fn with_claimants(
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

pub(super) async fn read_offering(
    client: &WaldurClient,
    off: &str,
) -> Result<Offering, FetchError> {
    client
        .get::<Offering>(&format!("/api/marketplace-provider-offerings/{off}/"), &[])
        .await
        .map_err(FetchError::new(format!("offering {off}")))
}

/// The offering's resources in the states the agent acts on, narrowed by `filter`.
pub(super) async fn read_resources(
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
pub(super) async fn read_resource(
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

pub(super) async fn read_orders(
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

/// Orders can name resources outside the listed states (a Restore of a terminated
/// resource): read those one by one. A resource Waldur no longer shows is left out; the
/// builder reports the order as referring to an unknown resource.
pub(super) async fn named_by_orders(
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
