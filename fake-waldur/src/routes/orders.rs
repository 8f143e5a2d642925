use crate::clock;
use crate::http::{
    admits, choice_filter, ok, parse_body, path_uuid, single_uuid_filter, uuid_filter, ApiError,
    ApiResult, Base, Query,
};
use crate::model::{ORDER_STATES, ORDER_TYPES};
use crate::state::{FakeWaldur, World};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::Uri;
use serde_json::{json, Value};

fn datetime_filter(w: &World, q: &Query, key: &str) -> ApiResult<Option<i64>> {
    match q.last(key).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => clock::parse_datetime(v, w.data.settings.utc_offset_minutes)
            .map(Some)
            .ok_or_else(|| ApiError::field(key, "Enter a valid date/time.")),
    }
}

pub async fn list(State(st): State<FakeWaldur>, base: Base, uri: Uri, q: Query) -> ApiResult {
    let offerings = uuid_filter(&q, "offering_uuid")?;
    let states = choice_filter(&q, "state", ORDER_STATES)?;
    let types = choice_filter(&q, "type", ORDER_TYPES)?;
    let resource = single_uuid_filter(&q, "resource_uuid")?;
    let project_uuid = single_uuid_filter(&q, "project_uuid")?;
    super::list(&st, &base, uri.path(), &q, |v| {
        let offset = v.w.data.settings.utc_offset_minutes;
        let before = datetime_filter(v.w, &q, "modified_before")?;
        let after = datetime_filter(v.w, &q, "modified_after")?;
        let modified = |s: &str| clock::parse_datetime(s, offset).unwrap_or(0);
        Ok(v.w
            .data
            .orders
            .iter()
            .filter(|o| admits(&states, &o.state) && admits(&types, &o.order_type))
            .filter(|o| {
                let r = v.w.resource(&o.resource);
                admits(&offerings, r.map_or("", |r| r.offering.as_str()))
                    && project_uuid
                        .as_ref()
                        .is_none_or(|p| r.is_some_and(|r| r.project == *p))
            })
            .filter(|o| resource.as_ref().is_none_or(|r| *r == o.resource))
            .filter(|o| before.is_none_or(|t| modified(&o.modified) < t))
            .filter(|o| after.is_none_or(|t| modified(&o.modified) >= t))
            .map(|o| v.order(o))
            .collect())
    })
}

pub async fn retrieve(
    State(st): State<FakeWaldur>,
    base: Base,
    q: Query,
    Path(uuid): Path<String>,
) -> ApiResult {
    super::one(&st, &base, &q, &uuid, |v, id| {
        v.w.order(id).map(|x| v.order(x))
    })
}

/// Runs a state-machine action and answers `{"detail": msg}`.
fn action(
    st: &FakeWaldur,
    raw_uuid: &str,
    msg: &str,
    f: impl FnOnce(&mut World, &str) -> ApiResult<()>,
) -> ApiResult {
    let uuid = path_uuid(raw_uuid)?;
    st.write(|w| f(w, &uuid))?;
    ok(json!({ "detail": msg }))
}

pub async fn approve(State(st): State<FakeWaldur>, Path(uuid): Path<String>) -> ApiResult {
    action(&st, &uuid, "Order has been approved.", |w, u| {
        w.approve_order(u)
    })
}

pub async fn reject(State(st): State<FakeWaldur>, Path(uuid): Path<String>) -> ApiResult {
    action(&st, &uuid, "Order has been rejected.", |w, u| {
        w.reject_order(u)
    })
}

pub async fn done(State(st): State<FakeWaldur>, Path(uuid): Path<String>) -> ApiResult {
    action(&st, &uuid, "Order has been marked as done.", |w, u| {
        w.complete_order(u)
    })
}

pub async fn erred(
    State(st): State<FakeWaldur>,
    Path(uuid): Path<String>,
    body: Bytes,
) -> ApiResult {
    let body = parse_body(&body)?;
    let text = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let (message, traceback) = (text("error_message"), text("error_traceback"));
    action(&st, &uuid, "Order has been marked as erred.", |w, u| {
        w.fail_order(u, &message, &traceback)
    })
}

pub async fn set_backend_id(
    State(st): State<FakeWaldur>,
    Path(uuid): Path<String>,
    body: Bytes,
) -> ApiResult {
    let body = parse_body(&body)?;
    let backend_id = match body.get("backend_id") {
        Some(Value::String(s)) => s.clone(),
        None | Some(Value::Null) => return Err(ApiError::required("backend_id")),
        Some(_) => return Err(ApiError::field("backend_id", "Not a valid string.")),
    };
    let uuid = path_uuid(&uuid)?;
    st.write(|w| w.set_order_backend_id(&uuid, &backend_id))?;
    ok(json!({ "status": "Order backend_id has been changed." }))
}
