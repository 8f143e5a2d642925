//! The test-control API under `/__fake__/` (no auth) and the matching Rust
//! methods on [`FakeWaldur`]: seed/dump, create orders, flip resource flags,
//! change project membership, read the request log, inject faults, freeze
//! the clock, set the event broker, publish arbitrary events and read what was
//! published. These stand in for what Waldur users and staff would do.

use crate::broker::Broker;
use crate::events::NewEvent;
use crate::faults::FaultSpec;
use crate::http::{json_response, ok, path_uuid, ApiError, ApiResult, Base};
use crate::ids;
use crate::model::*;
use crate::orders::NewOrder;
use crate::state::{FakeWaldur, World};
use crate::views::View;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, patch, post};
use axum::Router;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

/// Body of `PATCH /__fake__/resources/{uuid}`; absent fields are unchanged.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ResourcePatch {
    pub paused: Option<bool>,
    pub downscaled: Option<bool>,
    pub restrict_member_access: Option<bool>,
    pub limits: Option<Object>,
    pub attributes: Option<Object>,
    pub backend_metadata: Option<Object>,
    pub state: Option<String>,
    pub backend_id: Option<String>,
    pub name: Option<String>,
    /// `""` clears the end date.
    pub end_date: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MemberAction {
    #[default]
    Add,
    Remove,
}

/// Body of `POST /__fake__/members`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MemberChange {
    pub action: MemberAction,
    pub project: String,
    /// UUID or username. On `add`, an unknown username creates the user.
    pub user: String,
    /// Default `PROJECT.MEMBER`.
    pub role: Option<String>,
    pub expiration_time: Option<String>,
    /// With `offering`, `add` creates/updates the user's offering user.
    pub offering: Option<String>,
    pub username: Option<String>,
    /// Default `OK` for a new offering user.
    pub offering_user_state: Option<String>,
    pub full_name: Option<String>,
    pub email: Option<String>,
    /// On `remove`: also delete the offering user in `offering`.
    pub remove_offering_user: bool,
}

fn uuid_arg(field: &str, raw: &str) -> ApiResult<String> {
    ids::normalize(raw).ok_or_else(|| ApiError::field(field, "Must be a valid UUID."))
}

impl World {
    pub fn patch_resource(&mut self, uuid: &str, p: ResourcePatch) -> ApiResult<()> {
        if let Some(s) = &p.state {
            if !RESOURCE_STATES.contains(&s.as_str()) {
                return Err(ApiError::field(
                    "state",
                    &format!("\"{s}\" is not a valid choice."),
                ));
            }
        }
        let now = self.now();
        let r = self.resource_mut(uuid).ok_or_else(ApiError::not_found)?;
        let flags = |r: &Resource| (r.paused, r.downscaled, r.restrict_member_access);
        let before = flags(r);
        let set = |dst: &mut bool, v: Option<bool>| {
            if let Some(v) = v {
                *dst = v;
            }
        };
        set(&mut r.paused, p.paused);
        set(&mut r.downscaled, p.downscaled);
        set(&mut r.restrict_member_access, p.restrict_member_access);
        r.limits = p.limits.unwrap_or(std::mem::take(&mut r.limits));
        r.attributes = p.attributes.unwrap_or(std::mem::take(&mut r.attributes));
        r.backend_metadata = p
            .backend_metadata
            .unwrap_or(std::mem::take(&mut r.backend_metadata));
        r.state = p.state.unwrap_or(std::mem::take(&mut r.state));
        r.backend_id = p.backend_id.unwrap_or(std::mem::take(&mut r.backend_id));
        r.name = p.name.unwrap_or(std::mem::take(&mut r.name));
        if let Some(end) = p.end_date {
            r.end_date = (!end.is_empty()).then_some(end);
            r.end_date_updated_at = Some(now.clone());
        }
        r.modified = now;
        if flags(r) != before {
            self.emit_resource_flags(uuid);
        }
        Ok(())
    }

    /// Returns (user uuid, offering user uuid if any).
    pub fn change_member(&mut self, c: MemberChange) -> ApiResult<(String, Option<String>)> {
        let project = uuid_arg("project", &c.project)?;
        if self.project(&project).is_none() {
            return Err(ApiError::field("project", "Project not found."));
        }
        let offering = match c.offering.as_deref() {
            None => None,
            Some(o) => {
                let o = uuid_arg("offering", o)?;
                self.offering(&o)
                    .ok_or_else(|| ApiError::field("offering", "Offering not found."))?;
                Some(o)
            }
        };
        if c.user.is_empty() {
            return Err(ApiError::required("user"));
        }
        let as_uuid = ids::normalize(&c.user);
        let existing = self
            .data
            .users
            .iter()
            .find(|u| Some(&u.uuid) == as_uuid.as_ref() || u.username == c.user)
            .map(|u| u.uuid.clone());
        let now = self.now();

        if c.action == MemberAction::Remove {
            let user = existing.ok_or_else(|| ApiError::field("user", "User not found."))?;
            let p = self.data.projects.iter_mut().find(|p| p.uuid == project);
            let members = &mut p.ok_or_else(ApiError::not_found)?.members;
            let role = members
                .iter()
                .find(|m| m.user == user)
                .map(|m| m.role.clone());
            members.retain(|m| m.user != user);
            let Some(role) = role else {
                return Err(ApiError::field(
                    "user",
                    "User is not a member of the project.",
                ));
            };
            self.emit_user_role(&project, &user, &role, false);
            if let (true, Some(o)) = (c.remove_offering_user, &offering) {
                self.data
                    .offering_users
                    .retain(|ou| !(ou.offering == *o && ou.user == user));
            }
            return Ok((user, None));
        }

        let state = c.offering_user_state.clone();
        if let Some(s) = &state {
            if !OFFERING_USER_STATES.contains(&s.as_str()) {
                return Err(ApiError::field(
                    "offering_user_state",
                    &format!("\"{s}\" is not a valid choice."),
                ));
            }
        }
        let user = match existing {
            Some(u) => u,
            None if as_uuid.is_some() => return Err(ApiError::field("user", "User not found.")),
            None => {
                let uuid = ids::new_uuid();
                self.data.users.push(User {
                    uuid: uuid.clone(),
                    username: c.user.clone(),
                    full_name: c.full_name.clone().unwrap_or_else(|| c.user.clone()),
                    email: c
                        .email
                        .clone()
                        .unwrap_or_else(|| format!("{}@example.org", c.user)),
                    ..Default::default()
                });
                uuid
            }
        };
        let role = c.role.clone().unwrap_or_else(|| "PROJECT.MEMBER".into());
        let mut granted = false;
        if let Some(p) = self.data.projects.iter_mut().find(|p| p.uuid == project) {
            match p.members.iter_mut().find(|m| m.user == user) {
                Some(m) => {
                    granted = m.role != role;
                    m.role = role.clone();
                    m.expiration_time = c.expiration_time.clone();
                }
                None => {
                    granted = true;
                    p.members.push(Member {
                        user: user.clone(),
                        role: role.clone(),
                        expiration_time: c.expiration_time.clone(),
                    })
                }
            }
        }
        if granted {
            self.emit_user_role(&project, &user, &role, true);
        }
        let Some(offering) = offering else {
            return Ok((user, None));
        };
        let found = self
            .data
            .offering_users
            .iter_mut()
            .find(|ou| ou.offering == offering && ou.user == user);
        let (ou_uuid, created, username_set) = match found {
            Some(ou) => {
                let username_set = c.username.is_some() && c.username != ou.username;
                if c.username.is_some() {
                    ou.username = c.username;
                }
                if let Some(s) = state {
                    ou.state = s;
                }
                ou.modified = now;
                (ou.uuid.clone(), false, username_set)
            }
            None => {
                let uuid = ids::new_uuid();
                let username_set = c.username.is_some();
                self.data.offering_users.push(OfferingUser {
                    uuid: uuid.clone(),
                    offering,
                    user: user.clone(),
                    username: c.username,
                    state: state.unwrap_or_else(|| "OK".into()),
                    created: now.clone(),
                    modified: now,
                    ..Default::default()
                });
                (uuid, true, username_set)
            }
        };
        if created {
            self.emit_offering_user(&ou_uuid, "create", &[]);
        }
        if username_set {
            self.emit_offering_user(&ou_uuid, "username_set", &["username"]);
        }
        Ok((user, Some(ou_uuid)))
    }
}

/// Rust-side equivalents of the control endpoints.
impl FakeWaldur {
    pub fn create_order(&self, order: NewOrder) -> Result<Order, ApiError> {
        self.write(|w| {
            let uuid = w.create_order(order)?;
            w.order(&uuid).cloned().ok_or_else(ApiError::not_found)
        })
    }

    pub fn patch_resource(&self, uuid: &str, patch: ResourcePatch) -> Result<Resource, ApiError> {
        let uuid = path_uuid(uuid)?;
        self.write(|w| {
            w.patch_resource(&uuid, patch)?;
            w.resource(&uuid).cloned().ok_or_else(ApiError::not_found)
        })
    }

    /// Returns (user uuid, offering user uuid if one was created/updated).
    pub fn change_member(
        &self,
        change: MemberChange,
    ) -> Result<(String, Option<String>), ApiError> {
        self.write(|w| w.change_member(change))
    }
}

fn body_as<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::detail(StatusCode::BAD_REQUEST, &e.to_string()))
}

async fn seed(State(st): State<FakeWaldur>, body: Bytes) -> ApiResult {
    let seed: Seed = body_as(&body)?;
    st.reseed(seed)
        .map_err(|e| ApiError::detail(StatusCode::BAD_REQUEST, &e.to_string()))?;
    let counts = st.read(|w| {
        let d = &w.data;
        json!({
            "users": d.users.len(), "customers": d.customers.len(), "projects": d.projects.len(),
            "offerings": d.offerings.len(), "offering_users": d.offering_users.len(),
            "resources": d.resources.len(), "orders": d.orders.len(),
            "component_usages": d.component_usages.len(), "user_usage_limits": d.user_usage_limits.len(),
            "agent_identities": d.agent_identities.len(), "agent_services": d.agent_services.len(),
            "agent_processors": d.agent_processors.len(), "event_consumers": d.event_consumers.len(),
            "event_subscriptions": d.event_subscriptions.len(),
            "event_subscription_queues": d.event_subscription_queues.len(),
        })
    });
    ok(json!({ "status": "seeded", "counts": counts }))
}

async fn dump(State(st): State<FakeWaldur>) -> ApiResult {
    ok(serde_json::to_value(st.snapshot()).unwrap_or(Value::Null))
}

async fn create_order(State(st): State<FakeWaldur>, base: Base, body: Bytes) -> ApiResult {
    let req: NewOrder = body_as(&body)?;
    let order = st.create_order(req)?;
    let view = st.read(|w| View { w, base: &base }.order(&order));
    Ok(json_response(StatusCode::CREATED, &view))
}

async fn patch_resource(
    State(st): State<FakeWaldur>,
    base: Base,
    Path(uuid): Path<String>,
    body: Bytes,
) -> ApiResult {
    let p: ResourcePatch = body_as(&body)?;
    let r = st.patch_resource(&uuid, p)?;
    ok(st.read(|w| View { w, base: &base }.resource(&r)))
}

async fn members(State(st): State<FakeWaldur>, body: Bytes) -> ApiResult {
    let change: MemberChange = body_as(&body)?;
    let (user, offering_user) = st.change_member(change)?;
    ok(json!({ "user": user, "offering_user": offering_user }))
}

async fn command_results(State(st): State<FakeWaldur>) -> ApiResult {
    ok(serde_json::to_value(st.command_results()).unwrap_or(Value::Null))
}

async fn requests(State(st): State<FakeWaldur>) -> ApiResult {
    ok(serde_json::to_value(st.requests()).unwrap_or(Value::Null))
}

async fn clear_requests(State(st): State<FakeWaldur>) -> StatusCode {
    st.clear_requests();
    StatusCode::NO_CONTENT
}

async fn list_faults(State(st): State<FakeWaldur>) -> ApiResult {
    ok(st.read(|w| serde_json::to_value(&w.faults).unwrap_or(Value::Null)))
}

async fn add_fault(State(st): State<FakeWaldur>, body: Bytes) -> ApiResult {
    let spec: FaultSpec = body_as(&body)?;
    let id = st.add_fault(spec);
    Ok(json_response(StatusCode::CREATED, &json!({ "id": id })))
}

async fn clear_faults(State(st): State<FakeWaldur>) -> StatusCode {
    st.clear_faults();
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockBody {
    now: Option<String>,
}

async fn clock(State(st): State<FakeWaldur>, body: Bytes) -> ApiResult {
    let b: ClockBody = body_as(&body)?;
    st.set_now(b.now.as_deref())
        .map_err(|e| ApiError::field("now", &e.0))?;
    ok(json!({ "now": st.read(|w| w.now()), "frozen": b.now.is_some() }))
}

async fn list_events(State(st): State<FakeWaldur>) -> ApiResult {
    ok(serde_json::to_value(st.published()).unwrap_or(Value::Null))
}

async fn publish_event(State(st): State<FakeWaldur>, body: Bytes) -> ApiResult {
    let event: NewEvent = body_as(&body)?;
    let sent = st.publish(event)?;
    let sent = serde_json::to_value(sent).unwrap_or(Value::Null);
    Ok(json_response(StatusCode::CREATED, &sent))
}

async fn clear_events(State(st): State<FakeWaldur>) -> StatusCode {
    st.clear_published();
    StatusCode::NO_CONTENT
}

fn broker_view(st: &FakeWaldur) -> Value {
    match st.broker() {
        None => json!({ "configured": false }),
        Some(b) => json!({ "configured": true, "mgmt_url": b.mgmt_url, "user": b.user }),
    }
}

async fn get_broker(State(st): State<FakeWaldur>) -> ApiResult {
    ok(broker_view(&st))
}

async fn put_broker(State(st): State<FakeWaldur>, body: Bytes) -> ApiResult {
    let b: Broker = body_as(&body)?;
    st.set_broker(Some(Broker::new(&b.mgmt_url, &b.user, &b.password)));
    ok(broker_view(&st))
}

async fn delete_broker(State(st): State<FakeWaldur>) -> StatusCode {
    st.set_broker(None);
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsPatch {
    register_queue_missing: Option<bool>,
    latency_ms: Option<u64>,
}

async fn patch_settings(State(st): State<FakeWaldur>, body: Bytes) -> ApiResult {
    let p: SettingsPatch = body_as(&body)?;
    if let Some(missing) = p.register_queue_missing {
        st.set_register_queue_missing(missing);
    }
    if let Some(ms) = p.latency_ms {
        st.set_latency_ms(ms);
    }
    ok(st.read(|w| serde_json::to_value(&w.data.settings).unwrap_or(Value::Null)))
}

pub fn control_router() -> Router<FakeWaldur> {
    Router::new()
        .route("/__fake__/seed", post(seed))
        .route("/__fake__/state", get(dump))
        .route("/__fake__/orders", post(create_order))
        .route("/__fake__/resources/{uuid}", patch(patch_resource))
        .route("/__fake__/members", post(members))
        .route("/__fake__/command-results", get(command_results))
        .route("/__fake__/requests", get(requests).delete(clear_requests))
        .route(
            "/__fake__/faults",
            get(list_faults).post(add_fault).delete(clear_faults),
        )
        .route("/__fake__/clock", post(clock))
        .route(
            "/__fake__/events",
            get(list_events).post(publish_event).delete(clear_events),
        )
        .route(
            "/__fake__/broker",
            get(get_broker).put(put_broker).delete(delete_broker),
        )
        .route("/__fake__/settings", patch(patch_settings))
}
