use crate::http::{ok, parse_body, path_uuid, single_uuid_filter, ApiResult, Base, Query};
use crate::state::FakeWaldur;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::Uri;
use serde_json::json;

pub async fn list(State(st): State<FakeWaldur>, base: Base, uri: Uri, q: Query) -> ApiResult {
    let scope = single_uuid_filter(&q, "scope_uuid")?;
    super::list(&st, &base, uri.path(), &q, |v| {
        Ok(v.w
            .data
            .periodic_policies
            .iter()
            .filter(|p| scope.as_ref().is_none_or(|s| *s == p.offering))
            .map(|p| v.periodic_policy(p))
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
        v.w.periodic_policy(id).map(|p| v.periodic_policy(p))
    })
}

pub async fn report_command_result(
    State(st): State<FakeWaldur>,
    Path(uuid): Path<String>,
    body: Bytes,
) -> ApiResult {
    let uuid = path_uuid(&uuid)?;
    let body = parse_body(&body)?;
    st.write(|w| w.record_command_result(&uuid, &body))?;
    ok(json!({"status": "Command result recorded."}))
}
