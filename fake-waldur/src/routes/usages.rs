use crate::auth::Caller;
use crate::http::{
    created_empty, date_filter, parse_body, path_uuid, single_uuid_filter, ApiResult, Base, Query,
};
use crate::state::FakeWaldur;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::Extension;

pub async fn list(State(st): State<FakeWaldur>, base: Base, uri: Uri, q: Query) -> ApiResult {
    let resource = single_uuid_filter(&q, "resource_uuid")?;
    let offering = single_uuid_filter(&q, "offering_uuid")?;
    let period = date_filter(&q, "billing_period")?;
    let ty = q.last("type").filter(|t| !t.is_empty());
    super::list(&st, &base, uri.path(), &q, |v| {
        Ok(v.w
            .data
            .component_usages
            .iter()
            .filter(|cu| resource.as_ref().is_none_or(|r| *r == cu.resource))
            .filter(|cu| {
                offering
                    .as_ref()
                    .is_none_or(|o| v.w.resource(&cu.resource).is_some_and(|r| &r.offering == o))
            })
            .filter(|cu| period.as_ref().is_none_or(|p| *p == cu.billing_period))
            .filter(|cu| ty.is_none_or(|t| t == cu.component_type))
            .map(|cu| v.usage(cu))
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
        v.w.usage(id).map(|x| v.usage(x))
    })
}

pub async fn set_usage(
    State(st): State<FakeWaldur>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> ApiResult {
    let body = parse_body(&body)?;
    st.write(|w| w.set_usage(&body, caller.is_staff))?;
    created_empty()
}

pub async fn set_user_usages(
    State(st): State<FakeWaldur>,
    Path(uuid): Path<String>,
    body: Bytes,
) -> ApiResult {
    let uuid = path_uuid(&uuid)?;
    let body = parse_body(&body)?;
    st.write(|w| w.set_user_usages(&uuid, &body))?;
    created_empty()
}

pub async fn set_user_usage(
    State(st): State<FakeWaldur>,
    Path(uuid): Path<String>,
    body: Bytes,
) -> ApiResult {
    let uuid = path_uuid(&uuid)?;
    let body = parse_body(&body)?;
    st.write(|w| w.set_user_usage(&uuid, &body))?;
    created_empty()
}

pub async fn list_user_usages(
    State(st): State<FakeWaldur>,
    base: Base,
    uri: Uri,
    q: Query,
) -> ApiResult {
    let resource = single_uuid_filter(&q, "resource_uuid")?;
    let offering = single_uuid_filter(&q, "offering_uuid")?;
    // Mastermind's filter is the model path (`Meta.fields`), with the double underscore;
    // `component_usage_billing_period` is the Python client's argument name, and a server
    // ignores it like any unknown parameter.
    let period = date_filter(&q, "component_usage__billing_period")?;
    let username = q.last("username").filter(|u| !u.is_empty());
    super::list(&st, &base, uri.path(), &q, |v| {
        Ok(v.w
            .data
            .component_usages
            .iter()
            .filter(|cu| resource.as_ref().is_none_or(|r| *r == cu.resource))
            .filter(|cu| {
                offering
                    .as_ref()
                    .is_none_or(|o| v.w.resource(&cu.resource).is_some_and(|r| &r.offering == o))
            })
            .filter(|cu| period.as_ref().is_none_or(|p| *p == cu.billing_period))
            .flat_map(|cu| cu.user_usages.iter().map(move |uu| (cu, uu)))
            .filter(|(_, uu)| username.is_none_or(|u| u == uu.username))
            .map(|(cu, uu)| v.user_usage(cu, uu))
            .collect())
    })
}

pub async fn list_limits(
    State(st): State<FakeWaldur>,
    base: Base,
    uri: Uri,
    q: Query,
) -> ApiResult {
    let resource = single_uuid_filter(&q, "resource_uuid")?;
    let offering = single_uuid_filter(&q, "offering_uuid")?;
    super::list(&st, &base, uri.path(), &q, |v| {
        Ok(v.w
            .data
            .user_usage_limits
            .iter()
            .filter(|l| resource.as_ref().is_none_or(|r| *r == l.resource))
            .filter(|l| {
                offering
                    .as_ref()
                    .is_none_or(|o| v.w.resource(&l.resource).is_some_and(|r| &r.offering == o))
            })
            .map(|l| v.usage_limit(l))
            .collect())
    })
}
