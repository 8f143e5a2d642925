use super::list;
use crate::http::{ok, path_uuid, ApiError, ApiResult, Base, Query};
use crate::state::FakeWaldur;
use axum::extract::{Path, State};
use axum::http::Uri;
use serde_json::json;

pub async fn retrieve(
    State(st): State<FakeWaldur>,
    base: Base,
    q: Query,
    Path(uuid): Path<String>,
) -> ApiResult {
    super::one(&st, &base, &q, &uuid, |v, id| {
        v.w.offering(id).map(|x| v.offering(x))
    })
}

/// Waldur's default exposure when no config was saved.
pub async fn user_attribute_config(
    State(st): State<FakeWaldur>,
    Path(uuid): Path<String>,
) -> ApiResult {
    let uuid = path_uuid(&uuid)?;
    st.read(|w| {
        let o = w.offering(&uuid).ok_or_else(ApiError::not_found)?;
        ok(json!({
            "uuid": o.uuid, "created": o.created, "modified": o.created,
            "exposed_fields": ["username", "full_name", "email"], "is_default": true,
            "offering_uuid": o.uuid, "offering_name": o.name,
        }))
    })
}

/// Service and course accounts are not modelled: always an empty page.
pub async fn no_accounts(
    State(st): State<FakeWaldur>,
    base: Base,
    uri: Uri,
    q: Query,
    Path(uuid): Path<String>,
) -> ApiResult {
    let uuid = path_uuid(&uuid)?;
    list(&st, &base, uri.path(), &q, |v| {
        v.w.offering(&uuid).ok_or_else(ApiError::not_found)?;
        Ok(Vec::new())
    })
}
