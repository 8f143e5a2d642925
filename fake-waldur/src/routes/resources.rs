use crate::http::{
    admits, choice_filter, ok, parse_body, path_uuid, project, single_uuid_filter, uuid_filter,
    ApiError, ApiResult, Base, Query,
};
use crate::model::{Object, Resource, RESOURCE_STATES};
use crate::state::{FakeWaldur, World};
use crate::views::View;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::Uri;
use serde_json::{json, Value};

pub async fn list(State(st): State<FakeWaldur>, base: Base, uri: Uri, q: Query) -> ApiResult {
    let offerings = uuid_filter(&q, "offering_uuid")?;
    let states = choice_filter(&q, "state", RESOURCE_STATES)?;
    let project_uuid = single_uuid_filter(&q, "project_uuid")?;
    let customer_uuid = single_uuid_filter(&q, "customer_uuid")?;
    let backend_id = q.last("backend_id").filter(|b| !b.is_empty());
    super::list(&st, &base, uri.path(), &q, |v| {
        Ok(v.w
            .data
            .resources
            .iter()
            .filter(|r| admits(&offerings, &r.offering) && admits(&states, &r.state))
            .filter(|r| project_uuid.as_ref().is_none_or(|p| *p == r.project))
            .filter(|r| {
                customer_uuid
                    .as_ref()
                    .is_none_or(|c| v.w.project(&r.project).is_some_and(|p| p.customer == *c))
            })
            .filter(|r| backend_id.is_none_or(|b| b == r.backend_id))
            .map(|r| v.resource(r))
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
        v.w.resource(id).map(|x| v.resource(x))
    })
}

/// Not paginated: the whole team in one array.
pub async fn team(
    State(st): State<FakeWaldur>,
    base: Base,
    q: Query,
    Path(uuid): Path<String>,
) -> ApiResult {
    let uuid = path_uuid(&uuid)?;
    let fields = q.fields();
    st.read(|w| {
        let r = w.resource(&uuid).ok_or_else(ApiError::not_found)?;
        let team = View { w, base: &base }.team(r);
        ok(Value::Array(
            team.into_iter().map(|m| project(m, &fields)).collect(),
        ))
    })
}

/// Applies `change` to the resource and answers `{"status": msg}`.
fn update(
    st: &FakeWaldur,
    raw_uuid: &str,
    body: &[u8],
    msg: &str,
    change: impl FnOnce(&mut Resource, &Object, String) -> ApiResult<()>,
) -> ApiResult {
    let uuid = path_uuid(raw_uuid)?;
    let body = parse_body(body)?;
    st.write(|w: &mut World| {
        let now = w.now();
        let r = w.resource_mut(&uuid).ok_or_else(ApiError::not_found)?;
        change(r, &body, now.clone())?;
        r.modified = now;
        ok(json!({ "status": msg }))
    })
}

fn object_field(body: &Object, field: &str) -> ApiResult<Object> {
    match body.get(field) {
        None | Some(Value::Null) => Err(ApiError::required(field)),
        Some(Value::Object(m)) => Ok(m.clone()),
        Some(_) => Err(ApiError::field(field, "Expected a dictionary of items.")),
    }
}

fn text(body: &Object, field: &str) -> String {
    body.get(field)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

pub async fn set_backend_id(
    State(st): State<FakeWaldur>,
    Path(uuid): Path<String>,
    body: Bytes,
) -> ApiResult {
    update(
        &st,
        &uuid,
        &body,
        "Resource backend_id has been changed.",
        |r, b, _| match b.get("backend_id") {
            Some(Value::String(id)) => {
                r.backend_id = id.clone();
                Ok(())
            }
            None | Some(Value::Null) => Err(ApiError::required("backend_id")),
            Some(_) => Err(ApiError::field("backend_id", "Not a valid string.")),
        },
    )
}

pub async fn set_limits(
    State(st): State<FakeWaldur>,
    Path(uuid): Path<String>,
    body: Bytes,
) -> ApiResult {
    update(
        &st,
        &uuid,
        &body,
        "Resource limits have been set.",
        |r, b, _| {
            r.limits = object_field(b, "limits")?;
            Ok(())
        },
    )
}

pub async fn set_backend_metadata(
    State(st): State<FakeWaldur>,
    Path(uuid): Path<String>,
    body: Bytes,
) -> ApiResult {
    update(
        &st,
        &uuid,
        &body,
        "Resource backend_metadata has been changed.",
        |r, b, _| {
            r.backend_metadata = object_field(b, "backend_metadata")?;
            Ok(())
        },
    )
}

pub async fn refresh_last_sync(
    State(st): State<FakeWaldur>,
    Path(uuid): Path<String>,
    body: Bytes,
) -> ApiResult {
    update(
        &st,
        &uuid,
        &body,
        "Last sync has been refreshed.",
        |r, _, now| {
            r.last_sync = Some(now);
            Ok(())
        },
    )
}

pub async fn set_as_ok(
    State(st): State<FakeWaldur>,
    Path(uuid): Path<String>,
    body: Bytes,
) -> ApiResult {
    update(
        &st,
        &uuid,
        &body,
        "Resource has been marked as OK.",
        |r, _, _| {
            r.state = "OK".into();
            r.error_message.clear();
            r.error_traceback.clear();
            Ok(())
        },
    )
}

pub async fn set_as_erred(
    State(st): State<FakeWaldur>,
    Path(uuid): Path<String>,
    body: Bytes,
) -> ApiResult {
    update(
        &st,
        &uuid,
        &body,
        "Resource has been marked as erred.",
        |r, b, _| {
            r.state = "Erred".into();
            r.error_message = text(b, "error_message");
            r.error_traceback = text(b, "error_traceback");
            Ok(())
        },
    )
}
