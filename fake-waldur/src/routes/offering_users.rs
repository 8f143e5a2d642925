use crate::http::{
    admits, bool_filter, choice_filter, single_uuid_filter, uuid_filter, ApiResult, Base, Query,
};
use crate::model::OFFERING_USER_STATES;
use crate::state::FakeWaldur;
use axum::extract::{Path, State};
use axum::http::Uri;

pub async fn list(State(st): State<FakeWaldur>, base: Base, uri: Uri, q: Query) -> ApiResult {
    let offerings = uuid_filter(&q, "offering_uuid")?;
    let states = choice_filter(&q, "state", OFFERING_USER_STATES)?;
    let restricted = bool_filter(&q, "is_restricted")?;
    let user = single_uuid_filter(&q, "user_uuid")?;
    super::list(&st, &base, uri.path(), &q, |v| {
        Ok(v.w
            .data
            .offering_users
            .iter()
            .filter(|ou| admits(&offerings, &ou.offering) && admits(&states, &ou.state))
            .filter(|ou| restricted.is_none_or(|r| r == ou.is_restricted))
            .filter(|ou| user.as_ref().is_none_or(|u| *u == ou.user))
            .map(|ou| v.offering_user(ou))
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
        v.w.offering_user(id).map(|x| v.offering_user(x))
    })
}
