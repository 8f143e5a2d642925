//! The `/api/` surface. Paths are exact, trailing slash included: a path
//! without it falls through to the 404 fallback, as the agent never follows
//! Django's redirect.

mod agents;
mod misc;
mod offering_users;
mod offerings;
mod orders;
mod policies;
mod resources;
mod usages;
mod users;

use crate::auth;
use crate::http::{ok, path_uuid, project, ApiError, ApiResult, Base, Query};
use crate::pagination::{paginate, Window};
use crate::state::{FakeWaldur, World};
use crate::views::View;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;

/// Runs `build` under the lock, applies `field=` to each item and paginates.
pub(crate) fn list(
    st: &FakeWaldur,
    base: &Base,
    path: &str,
    q: &Query,
    build: impl FnOnce(&View) -> ApiResult<Vec<Value>>,
) -> ApiResult {
    let items = st.read(|w: &World| build(&View { w, base }))?;
    let fields = q.fields();
    let items = items.into_iter().map(|v| project(v, &fields)).collect();
    paginate(items, base, path, q)
}

/// As [`list`], for long lists: `select` picks the items (indices) under the lock and only the
/// requested page is rendered (Mastermind pages in the database; rendering a site's
/// every usage record for each page would make the fake the slow side).
pub(crate) fn list_paged<T>(
    st: &FakeWaldur,
    base: &Base,
    path: &str,
    q: &Query,
    select: impl FnOnce(&View) -> ApiResult<Vec<T>>,
    render: impl Fn(&View, T) -> Value,
) -> ApiResult {
    let fields = q.fields();
    st.read(|w: &World| {
        let view = View { w, base };
        let items = select(&view)?;
        let window = Window::of(items.len(), q)?;
        let body = items
            .into_iter()
            .skip(window.skip())
            .take(window.size)
            .map(|item| project(render(&view, item), &fields))
            .collect();
        window.respond(body, base, path, q)
    })
}

/// Retrieves one object by (hex or dashed) UUID, 404 when absent, with `field=` applied.
pub(crate) fn one(
    st: &FakeWaldur,
    base: &Base,
    q: &Query,
    raw_uuid: &str,
    build: impl FnOnce(&View, &str) -> Option<Value>,
) -> ApiResult {
    let uuid = path_uuid(raw_uuid)?;
    st.read(|w: &World| {
        let item = build(&View { w, base }, &uuid).ok_or_else(ApiError::not_found)?;
        ok(project(item, &q.fields()))
    })
}

/// All authenticated API routes.
pub fn api_router(state: FakeWaldur) -> Router<FakeWaldur> {
    const RES: &str = "/api/marketplace-provider-resources/{uuid}";
    const ORD: &str = "/api/marketplace-orders/{uuid}";
    const OFF: &str = "/api/marketplace-provider-offerings/{uuid}";
    const CU: &str = "/api/marketplace-component-usages";
    const ID: &str = "/api/marketplace-site-agent-identities";
    const SUB: &str = "/api/event-subscriptions/{uuid}";
    const POL: &str = "/api/marketplace-slurm-periodic-usage-policies";
    Router::new()
        .route(&format!("{ID}/"), get(agents::list).post(agents::create))
        .route(
            &format!("{ID}/{{uuid}}/"),
            get(agents::retrieve).put(agents::update),
        )
        .route(
            &format!("{ID}/{{uuid}}/register_service/"),
            post(agents::register_service),
        )
        .route(
            &format!("{ID}/{{uuid}}/register_queue/"),
            post(agents::register_queue),
        )
        .route(
            &format!("{ID}/{{uuid}}/register_event_subscription/"),
            post(agents::register_event_subscription),
        )
        .route(
            "/api/marketplace-site-agent-services/{uuid}/register_processor/",
            post(agents::register_processor),
        )
        .route(
            &format!("{SUB}/"),
            get(agents::retrieve_subscription).delete(agents::delete_subscription),
        )
        .route(&format!("{SUB}/create_queue/"), post(agents::create_queue))
        .route(&format!("{POL}/"), get(policies::list))
        .route(&format!("{POL}/{{uuid}}/"), get(policies::retrieve))
        .route(
            &format!("{POL}/{{uuid}}/report-command-result/"),
            post(policies::report_command_result),
        )
        .route("/api/version/", get(misc::version))
        .route("/api/users/me/", get(users::me))
        .route("/api/users/{uuid}/", get(users::retrieve))
        .route(
            "/api/marketplace-service-providers/",
            get(misc::service_providers),
        )
        .route(&format!("{OFF}/"), get(offerings::retrieve))
        .route(
            &format!("{OFF}/user-attribute-config/"),
            get(offerings::user_attribute_config),
        )
        .route(
            &format!("{OFF}/list_project_service_accounts/"),
            get(offerings::no_accounts),
        )
        .route(
            &format!("{OFF}/list_course_accounts/"),
            get(offerings::no_accounts),
        )
        .route("/api/marketplace-provider-resources/", get(resources::list))
        .route(&format!("{RES}/"), get(resources::retrieve))
        .route(&format!("{RES}/team/"), get(resources::team))
        .route(
            &format!("{RES}/set_backend_id/"),
            post(resources::set_backend_id),
        )
        .route(&format!("{RES}/set_limits/"), post(resources::set_limits))
        .route(
            &format!("{RES}/set_backend_metadata/"),
            post(resources::set_backend_metadata),
        )
        .route(
            &format!("{RES}/refresh_last_sync/"),
            post(resources::refresh_last_sync),
        )
        .route(&format!("{RES}/set_as_ok/"), post(resources::set_as_ok))
        .route(
            &format!("{RES}/set_as_erred/"),
            post(resources::set_as_erred),
        )
        .route(
            "/api/marketplace-offering-users/",
            get(offering_users::list),
        )
        .route(
            "/api/marketplace-offering-users/{uuid}/",
            get(offering_users::retrieve),
        )
        .route("/api/marketplace-orders/", get(orders::list))
        .route(&format!("{ORD}/"), get(orders::retrieve))
        .route(
            &format!("{ORD}/approve_by_provider/"),
            post(orders::approve),
        )
        .route(&format!("{ORD}/reject_by_provider/"), post(orders::reject))
        .route(&format!("{ORD}/set_state_done/"), post(orders::done))
        .route(&format!("{ORD}/set_state_erred/"), post(orders::erred))
        .route(
            &format!("{ORD}/set_backend_id/"),
            post(orders::set_backend_id),
        )
        .route(&format!("{CU}/"), get(usages::list))
        .route(&format!("{CU}/set_usage/"), post(usages::set_usage))
        .route(&format!("{CU}/{{uuid}}/"), get(usages::retrieve))
        .route(
            &format!("{CU}/{{uuid}}/set_user_usages/"),
            post(usages::set_user_usages),
        )
        .route(
            &format!("{CU}/{{uuid}}/set_user_usage/"),
            post(usages::set_user_usage),
        )
        .route(
            "/api/marketplace-component-user-usages/",
            get(usages::list_user_usages),
        )
        .route(
            "/api/component-user-usage-limits/",
            get(usages::list_limits),
        )
        // route_layer: unknown paths get a plain 404, not a 401, like Django.
        .route_layer(from_fn_with_state(state, auth::require_token))
}
