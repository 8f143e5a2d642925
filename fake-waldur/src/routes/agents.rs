//! Agent identities (B6–B10) and event queue registration: the unified `register_queue`
//! and the older per-type `register_event_subscription` (E1), `create_queue` (E2) and
//! subscription deletion (E3). Each registration (re)creates its RabbitMQ objects through
//! the management API before answering, as Mastermind does; without a configured broker
//! (or when the broker fails) it answers 503 and stores nothing.

use crate::agents::Body;
use crate::auth::Caller;
use crate::broker::{segment, Management};
use crate::http::{
    json_response, not_a_list, parse_body, path_uuid, single_uuid_filter, ApiError, ApiResult,
    Base, Query,
};
use crate::ids;
use crate::model::*;
use crate::state::{FakeWaldur, World};
use crate::views::View;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde_json::Value;

fn created_or_ok(created: bool, body: &Value) -> Response {
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    json_response(status, body)
}

pub async fn list(State(st): State<FakeWaldur>, base: Base, uri: Uri, q: Query) -> ApiResult {
    let name = q.last("name").filter(|n| !n.is_empty()).map(str::to_string);
    let offering = single_uuid_filter(&q, "offering_uuid")?;
    super::list(&st, &base, uri.path(), &q, |v| {
        Ok(v.w
            .data
            .agent_identities
            .iter()
            .filter(|i| name.as_ref().is_none_or(|n| *n == i.name))
            .filter(|i| offering.as_ref().is_none_or(|o| *o == i.offering))
            .map(|i| v.agent_identity(i))
            .collect())
    })
}

pub async fn retrieve(
    State(st): State<FakeWaldur>,
    base: Base,
    q: Query,
    Path(uuid): Path<String>,
) -> ApiResult {
    super::one(&st, &base, &q, &uuid, identity_of)
}

/// 201 (`created`) or 200 with what `render` finds (404 if nothing).
fn answer(
    w: &World,
    base: &Base,
    created: bool,
    render: impl FnOnce(&View) -> Option<Value>,
) -> ApiResult {
    let view = render(&View { w, base }).ok_or_else(ApiError::not_found)?;
    Ok(created_or_ok(created, &view))
}

pub async fn create(
    State(st): State<FakeWaldur>,
    base: Base,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> ApiResult {
    let body = parse_body(&body)?;
    st.write(|w| {
        let uuid = w.create_agent_identity(&body, &caller.user_uuid)?;
        answer(w, &base, true, |v| identity_of(v, &uuid))
    })
}

/// A POST/PUT on `…/{uuid}/…`: `change` runs under the lock on (world, uuid, body) and
/// names the object to answer with and whether it was created; `render` shows it.
fn on_object(
    st: &FakeWaldur,
    base: &Base,
    raw_uuid: &str,
    body: &[u8],
    change: impl FnOnce(&mut World, &str, &Object) -> ApiResult<(String, bool)>,
    render: impl FnOnce(&View, &str) -> Option<Value>,
) -> ApiResult {
    let (uuid, body) = (path_uuid(raw_uuid)?, parse_body(body)?);
    st.write(|w| {
        let (target, created) = change(w, &uuid, &body)?;
        answer(w, base, created, |v| render(v, &target))
    })
}

fn identity_of(v: &View, uuid: &str) -> Option<Value> {
    v.w.agent_identity(uuid).map(|i| v.agent_identity(i))
}

pub async fn update(
    State(st): State<FakeWaldur>,
    base: Base,
    Path(uuid): Path<String>,
    body: Bytes,
) -> ApiResult {
    let change = |w: &mut World, u: &str, b: &Object| {
        w.update_agent_identity(u, b)?;
        Ok((u.to_string(), false))
    };
    on_object(&st, &base, &uuid, &body, change, identity_of)
}

pub async fn register_service(
    State(st): State<FakeWaldur>,
    base: Base,
    Path(uuid): Path<String>,
    body: Bytes,
) -> ApiResult {
    on_object(
        &st,
        &base,
        &uuid,
        &body,
        |w, u, b| w.register_agent_service(u, b),
        |v, id| v.w.agent_service(id).map(|s| v.agent_service(s)),
    )
}

pub async fn register_processor(
    State(st): State<FakeWaldur>,
    base: Base,
    Path(uuid): Path<String>,
    body: Bytes,
) -> ApiResult {
    on_object(
        &st,
        &base,
        &uuid,
        &body,
        |w, u, b| w.register_agent_processor(u, b),
        |v, id| v.w.agent_processor(id).map(|p| v.agent_processor(p)),
    )
}

/// The management API client, or the 503 of a Mastermind without its broker.
fn management(st: &FakeWaldur) -> ApiResult<Management> {
    let broker = st.broker().ok_or_else(|| {
        ApiError::detail(
            StatusCode::SERVICE_UNAVAILABLE,
            "The event broker is not available.",
        )
    })?;
    Management::new(&broker).map_err(broker_failed)
}

fn broker_failed(e: crate::broker::BrokerError) -> ApiError {
    tracing::warn!("event queue registration failed: {e}");
    ApiError::detail(
        StatusCode::SERVICE_UNAVAILABLE,
        &format!("The event broker failed: {e}"),
    )
}

/// `object_types` of a `register_queue` body: absent or empty = every type.
fn object_types(body: &Object) -> ApiResult<Vec<String>> {
    let items = match body.get("object_types") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(other) => return Err(not_a_list("object_types", other)),
    };
    let mut out: Vec<String> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match item.as_str() {
            Some(t) if OBSERVABLE_OBJECT_TYPES.contains(&t) => {
                if !out.iter().any(|o| o == t) {
                    out.push(t.to_string());
                }
            }
            _ => {
                let shown = item.as_str().map_or(item.to_string(), str::to_string);
                let msg = format!("\"{shown}\" is not a valid choice.");
                let body = serde_json::json!({ "object_types": { i.to_string(): [msg] } });
                return Err(ApiError::new(StatusCode::BAD_REQUEST, body));
            }
        }
    }
    Ok(out)
}

/// The unified queue of an identity: 201 the first time, 200 afterwards. Every call resets
/// the RabbitMQ user's password to the token presented and re-declares everything.
pub async fn register_queue(
    State(st): State<FakeWaldur>,
    base: Base,
    Path(uuid): Path<String>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> ApiResult {
    let identity = path_uuid(&uuid)?;
    let planned = st.read(|w| {
        if w.data.settings.register_queue_missing {
            return Err(ApiError::not_found());
        }
        let i = w
            .agent_identity(&identity)
            .ok_or_else(ApiError::not_found)?;
        let existing = (w.data.event_consumers.iter()).find(|c| c.identity == identity);
        let now = w.now();
        Ok(existing.cloned().unwrap_or_else(|| EventConsumer {
            uuid: ids::new_uuid(),
            identity: identity.clone(),
            user: i.created_by.clone().unwrap_or(caller.user_uuid.clone()),
            created: now.clone(),
            modified: now,
            ..Default::default()
        }))
    })?;
    let types = object_types(&parse_body(&body)?)?;
    let mgmt = management(&st)?;
    let vhost = planned.vhost();
    mgmt.ensure_account(vhost, planned.rmq_username(), &caller.token)
        .await
        .map_err(broker_failed)?;
    mgmt.declare_queue(vhost, &planned.queue_name())
        .await
        .map_err(broker_failed)?;
    st.write(|w| {
        let now = w.now();
        let consumers = &mut w.data.event_consumers;
        let created = match consumers.iter_mut().find(|c| c.identity == identity) {
            Some(c) => {
                c.object_types = types;
                c.modified = now;
                false
            }
            None => {
                consumers.push(EventConsumer {
                    object_types: types,
                    ..planned
                });
                true
            }
        };
        answer(w, &base, created, |v| {
            let mut consumers = v.w.data.event_consumers.iter();
            consumers
                .find(|c| c.identity == identity)
                .map(|c| v.event_consumer(c))
        })
    })
}

/// E1: one subscription per (caller, object type), reused across identities and offerings.
pub async fn register_event_subscription(
    State(st): State<FakeWaldur>,
    base: Base,
    Path(uuid): Path<String>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> ApiResult {
    let identity = path_uuid(&uuid)?;
    st.read(|w| w.agent_identity(&identity).map(|_| ()))
        .ok_or_else(ApiError::not_found)?;
    let body = parse_body(&body)?;
    let b = Body(&body);
    let object_type = b.object_type("observable_object_type")?;
    let description = b.text("description")?;
    let user = caller.user_uuid.clone();
    let planned = st.read(|w| {
        let existing = (w.data.event_subscriptions.iter())
            .find(|s| s.user == user && s.object_type == object_type);
        let now = w.now();
        existing.cloned().unwrap_or_else(|| EventSubscription {
            uuid: ids::new_uuid(),
            user: user.clone(),
            object_type: object_type.clone(),
            created: now.clone(),
            modified: now,
            ..Default::default()
        })
    });
    let mgmt = management(&st)?;
    mgmt.ensure_account(&planned.user, &planned.uuid, &caller.token)
        .await
        .map_err(broker_failed)?;
    st.write(|w| {
        let now = w.now();
        let subs = &mut w.data.event_subscriptions;
        let created = match subs.iter_mut().find(|s| s.uuid == planned.uuid) {
            Some(s) => {
                s.description = description.unwrap_or(std::mem::take(&mut s.description));
                s.modified = now;
                false
            }
            None => {
                subs.push(EventSubscription {
                    description: description.unwrap_or_default(),
                    ..planned.clone()
                });
                true
            }
        };
        answer(w, &base, created, |v| {
            (v.w.event_subscription(&planned.uuid)).map(|s| v.event_subscription(s))
        })
    })
}

/// E2: the queue of (subscription, offering, object type).
pub async fn create_queue(
    State(st): State<FakeWaldur>,
    base: Base,
    Path(uuid): Path<String>,
    body: Bytes,
) -> ApiResult {
    let subscription = path_uuid(&uuid)?;
    let vhost = st
        .read(|w| w.event_subscription(&subscription).map(|s| s.user.clone()))
        .ok_or_else(ApiError::not_found)?;
    let body = parse_body(&body)?;
    let b = Body(&body);
    let offering = b.uuid("offering_uuid")?;
    if st.read(|w| w.offering(&offering).is_none()) {
        return Err(ApiError::field("offering_uuid", "Offering not found."));
    }
    let object_type = b.object_type("object_type")?;
    let planned = st.read(|w| {
        let existing = w.data.event_subscription_queues.iter().find(|q| {
            q.subscription == subscription && q.offering == offering && q.object_type == object_type
        });
        existing.cloned().unwrap_or_else(|| EventSubscriptionQueue {
            uuid: ids::new_uuid(),
            subscription: subscription.clone(),
            offering: offering.clone(),
            object_type: object_type.clone(),
            created: w.now(),
        })
    });
    let mgmt = management(&st)?;
    mgmt.declare_queue(&vhost, &planned.queue_name())
        .await
        .map_err(broker_failed)?;
    st.write(|w| {
        let queues = &mut w.data.event_subscription_queues;
        let created = !queues.iter().any(|q| q.uuid == planned.uuid);
        if created {
            queues.push(planned.clone());
        }
        answer(w, &base, created, |v| {
            Some(v.event_subscription_queue(&planned))
        })
    })
}

pub async fn retrieve_subscription(
    State(st): State<FakeWaldur>,
    base: Base,
    q: Query,
    Path(uuid): Path<String>,
) -> ApiResult {
    super::one(&st, &base, &q, &uuid, |v, id| {
        v.w.event_subscription(id).map(|s| v.event_subscription(s))
    })
}

/// E3: 204; the subscription's queues go too. The RabbitMQ user and queues are removed
/// best-effort (a failure is only logged).
pub async fn delete_subscription(
    State(st): State<FakeWaldur>,
    Path(uuid): Path<String>,
) -> ApiResult {
    let subscription = path_uuid(&uuid)?;
    let (vhost, queues) = st.write(|w| {
        let vhost = w
            .event_subscription(&subscription)
            .map(|s| s.user.clone())
            .ok_or_else(ApiError::not_found)?;
        let d = &mut w.data;
        let queues: Vec<String> = (d.event_subscription_queues.iter())
            .filter(|q| q.subscription == subscription)
            .map(|q| q.queue_name())
            .collect();
        d.event_subscription_queues
            .retain(|q| q.subscription != subscription);
        d.event_subscriptions.retain(|s| s.uuid != subscription);
        Ok::<_, ApiError>((vhost, queues))
    })?;
    if let Ok(mgmt) = management(&st) {
        let v = segment(&vhost);
        let paths = (queues
            .iter()
            .map(|q| format!("/api/queues/{v}/{}", segment(q))))
        .chain([format!("/api/users/{}", segment(&subscription))]);
        for path in paths {
            if let Err(e) = mgmt.delete(&path).await {
                tracing::warn!("deleting an event subscription: {e}");
            }
        }
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
