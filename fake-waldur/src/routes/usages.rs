use crate::auth::Caller;
use crate::http::{
    created_empty, date_filter, parse_body, path_uuid, single_uuid_filter, ApiResult, Base, Query,
};
use crate::state::{FakeWaldur, World};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::Uri;
use axum::Extension;
use std::collections::HashSet;

/// The resources of the `offering_uuid` filter, looked up once per request (a site's
/// usages are thousands; a scan of the resources for each would make the fake, not the
/// agent, the slow part of a report).
fn offering_resources<'a>(w: &'a World, offering: Option<&str>) -> Option<HashSet<&'a str>> {
    offering.map(|o| {
        w.data
            .resources
            .iter()
            .filter(|r| r.offering == o)
            .map(|r| r.uuid.as_str())
            .collect()
    })
}

fn in_offering(ours: &Option<HashSet<&str>>, resource: &str) -> bool {
    ours.as_ref().is_none_or(|s| s.contains(resource))
}

pub async fn list(State(st): State<FakeWaldur>, base: Base, uri: Uri, q: Query) -> ApiResult {
    let resource = single_uuid_filter(&q, "resource_uuid")?;
    let offering = single_uuid_filter(&q, "offering_uuid")?;
    let period = date_filter(&q, "billing_period")?;
    let ty = q.last("type").filter(|t| !t.is_empty());
    super::list(&st, &base, uri.path(), &q, |v| {
        let ours = offering_resources(v.w, offering.as_deref());
        Ok(v.w
            .data
            .component_usages
            .iter()
            .filter(|cu| resource.as_ref().is_none_or(|r| *r == cu.resource))
            .filter(|cu| in_offering(&ours, &cu.resource))
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
    let select = |v: &crate::views::View| {
        let ours = offering_resources(v.w, offering.as_deref());
        Ok(v.w
            .data
            .component_usages
            .iter()
            .enumerate()
            .filter(|(_, cu)| resource.as_ref().is_none_or(|r| *r == cu.resource))
            .filter(|(_, cu)| in_offering(&ours, &cu.resource))
            .filter(|(_, cu)| period.as_ref().is_none_or(|p| *p == cu.billing_period))
            .flat_map(|(i, cu)| {
                cu.user_usages
                    .iter()
                    .enumerate()
                    .map(move |(j, uu)| (i, j, uu))
            })
            .filter(|(_, _, uu)| username.is_none_or(|u| u == uu.username))
            .map(|(i, j, _)| (i, j))
            .collect())
    };
    super::list_paged(&st, &base, uri.path(), &q, select, |v, (i, j)| {
        let cu = &v.w.data.component_usages[i];
        v.user_usage(cu, &cu.user_usages[j])
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
        let ours = offering_resources(v.w, offering.as_deref());
        Ok(v.w
            .data
            .user_usage_limits
            .iter()
            .filter(|l| resource.as_ref().is_none_or(|r| *r == l.resource))
            .filter(|l| in_offering(&ours, &l.resource))
            .map(|l| v.usage_limit(l))
            .collect())
    })
}
