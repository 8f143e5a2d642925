//! A stateful, in-memory fake of the Waldur Mastermind REST API as used by
//! the SLURM site agent: real paths (trailing slash required), DRF-shaped
//! errors, page-number pagination with `Link`/`X-Result-Count`, `field=`
//! projection, hex-or-dashed UUIDs, the provider order state machine and
//! usage-reporting rules, agent identities and event queue registration
//! backed by a real RabbitMQ (management API), publishing events as
//! Mastermind does — plus a control API under `/__fake__/` for tests
//! (seed, create orders, flip resource flags, membership, request log,
//! fault injection, events). See README.md for the seed format and the endpoints.
//!
//! ```no_run
//! # async fn demo() {
//! let fake = fake_waldur::spawn(fake_waldur::demo_seed()).await;
//! // point the agent at fake.base_url with token fake_waldur::demo::STAFF_TOKEN
//! assert!(fake.base_url.ends_with("/api/"));
//! # }
//! ```
//!
//! Layout:
//! - [`model`]: the stored objects, which are also the seed and dump format.
//! - [`seed`]: loading a seed (`seed/rules.rs` per-field checks, `graph.rs` the marketplace
//!   objects, `agents.rs` agent identities and queues) and the demo world (`demo.rs`
//!   identifiers, `demo_seed.rs` the world).
//! - `state`: the shared in-memory [`World`] and the [`FakeWaldur`] handle tests hold.
//! - `routes`: the `/api/` surface, one file per endpoint group; `views`: the JSON
//!   renderings; `http`: DRF errors, queries, projection, filters; `pagination`: DRF pages.
//! - `auth`: DRF token authentication.
//! - `orders`: the order state machine; `usage`: usage reporting rules; `policies`:
//!   periodic usage policies and command results; `agents`: site-agent registration.
//! - `events`: publishing events as Mastermind does (`events/routing.rs` queues, bodies and
//!   the delivery log, `messages.rs` what each state change sends, `publisher.rs` the
//!   thread posting to the broker, `handle.rs` the [`FakeWaldur`] methods), over [`broker`]
//!   (the RabbitMQ management API client).
//! - `control`: the test-control API under `/__fake__/`; `faults`: fault injection;
//!   `latency`: the per-request latency knob; `reqlog`: the request log.
//! - [`clock`], [`decimal`], [`ids`]: calendar arithmetic, two-place amounts, UUIDs.

mod agents;
mod auth;
pub mod broker;
pub mod clock;
mod control;
pub mod decimal;
mod events;
mod faults;
mod http;
pub mod ids;
mod latency;
pub mod model;
mod orders;
mod pagination;
mod policies;
mod reqlog;
mod routes;
pub mod seed;
mod state;
mod usage;
mod views;

pub use broker::{Broker, Management};
pub use control::{MemberAction, MemberChange, ResourcePatch};
pub use decimal::Amount;
pub use events::{DeliveryStatus, EventLog, NewEvent, PublishedEvent};
pub use faults::{FaultAction, FaultRule, FaultSpec};
pub use http::ApiError;
pub use model::*;
pub use orders::NewOrder;
pub use seed::{demo, demo_seed, SeedError};
pub use state::{FakeWaldur, LoggedRequest, World};
pub use usage::BACKFILL_MESSAGE;

use axum::http::Method;
use axum::middleware::from_fn_with_state;
use axum::Router;
use std::future::Future;
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

async fn not_found() -> ApiError {
    ApiError::not_found()
}

async fn method_not_allowed(method: Method) -> ApiError {
    let msg = format!("Method \"{method}\" not allowed.");
    ApiError::detail(axum::http::StatusCode::METHOD_NOT_ALLOWED, &msg)
}

/// The complete application: API, control API, faults and request log.
pub fn router(state: FakeWaldur) -> Router {
    Router::new()
        .merge(routes::api_router(state.clone()))
        .merge(control::control_router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // Last added runs first: the log sees the final (possibly faulted) status.
        .layer(from_fn_with_state(state.clone(), faults::inject))
        // Inside the log: a logged request has already waited its latency.
        .layer(from_fn_with_state(state.clone(), latency::delay))
        .layer(from_fn_with_state(state.clone(), reqlog::record))
        .with_state(state)
}

/// Serves until the listener fails.
pub async fn serve(listener: TcpListener, state: FakeWaldur) -> std::io::Result<()> {
    axum::serve(listener, router(state)).await
}

/// Serves until `shutdown` completes, then finishes in-flight requests.
pub async fn serve_with_shutdown(
    listener: TcpListener,
    state: FakeWaldur,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// A server running in the current tokio runtime. Dropping it stops the server.
#[derive(Debug)]
pub struct RunningFake {
    /// `http://127.0.0.1:PORT/api/` — what the agent's `waldur_api_url` should be.
    pub base_url: String,
    /// `http://127.0.0.1:PORT` (control API lives at `{origin}/__fake__/…`).
    pub origin: String,
    pub addr: SocketAddr,
    /// Shared with the server: inspect or change state directly.
    pub state: FakeWaldur,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl RunningFake {
    /// Absolute URL for a path under `/api/`, e.g. `url("users/me/")`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path.trim_start_matches('/'))
    }

    /// Stops accepting connections and waits for in-flight requests.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningFake {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Serves `state` on an ephemeral port of 127.0.0.1.
pub async fn spawn_state(state: FakeWaldur) -> std::io::Result<RunningFake> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr = listener.local_addr()?;
    let (tx, rx) = oneshot::channel::<()>();
    let server_state = state.clone();
    let task = tokio::spawn(async move {
        serve_with_shutdown(listener, server_state, async {
            let _ = rx.await;
        })
        .await
    });
    let origin = format!("http://{addr}");
    Ok(RunningFake {
        base_url: format!("{origin}/api/"),
        origin,
        addr,
        state,
        shutdown: Some(tx),
        task: Some(task),
    })
}

/// Validates `seed` and serves it on an ephemeral port of 127.0.0.1.
pub async fn try_spawn(seed: Seed) -> anyhow::Result<RunningFake> {
    Ok(spawn_state(FakeWaldur::new(seed)?).await?)
}

/// Test helper: like [`try_spawn`] but panics on a bad seed or bind failure.
pub async fn spawn(seed: Seed) -> RunningFake {
    match try_spawn(seed).await {
        Ok(fake) => fake,
        Err(e) => panic!("fake-waldur failed to start: {e:#}"),
    }
}
