use super::list;
use crate::http::{ok, single_uuid_filter, ApiResult, Base, Query};
use crate::state::FakeWaldur;
use axum::extract::State;
use axum::http::Uri;
use serde_json::json;

pub async fn version() -> ApiResult {
    ok(
        json!({"version": concat!(env!("CARGO_PKG_VERSION"), "-fake-waldur"), "latest_version": null}),
    )
}

/// Every customer acts as a service provider.
pub async fn service_providers(
    State(st): State<FakeWaldur>,
    base: Base,
    uri: Uri,
    q: Query,
) -> ApiResult {
    let customer = single_uuid_filter(&q, "customer_uuid")?;
    list(&st, &base, uri.path(), &q, |v| {
        Ok(v.w
            .data
            .customers
            .iter()
            .filter(|c| customer.as_ref().is_none_or(|u| *u == c.uuid))
            .map(|c| v.service_provider(c))
            .collect())
    })
}
