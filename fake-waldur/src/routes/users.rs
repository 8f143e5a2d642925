use crate::auth::Caller;
use crate::http::{ok, project, ApiError, ApiResult, Base, Query};
use crate::state::FakeWaldur;
use crate::views::View;
use axum::extract::{Path, State};
use axum::Extension;

pub async fn me(
    State(st): State<FakeWaldur>,
    base: Base,
    q: Query,
    Extension(caller): Extension<Caller>,
) -> ApiResult {
    st.read(|w| {
        let user = w.user(&caller.user_uuid).ok_or_else(ApiError::not_found)?;
        ok(project(View { w, base: &base }.user(user), &q.fields()))
    })
}

pub async fn retrieve(
    State(st): State<FakeWaldur>,
    base: Base,
    q: Query,
    Path(uuid): Path<String>,
) -> ApiResult {
    super::one(&st, &base, &q, &uuid, |v, id| {
        v.w.user(id).map(|x| v.user(x))
    })
}
