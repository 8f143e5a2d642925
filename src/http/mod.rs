//! The daemon's HTTP endpoints, read only (GET and HEAD; anything else is 405):
//!
//! - `/metrics`: Prometheus/OpenMetrics text ([`metrics`]);
//! - `/healthz`: live, the loop is turning; `/readyz`: ready, every group's last cycle
//!   succeeded recently ([`health`]); 200 or 503 with a JSON body saying why;
//! - `/`: the status page ([`page`]).
//!
//! Everything is fed by [`monitor::Monitor`], the daemon's observer. The listener is
//! `agent.http_listen` (loopback by default).

pub mod health;
pub mod metrics;
pub mod monitor;
pub mod page;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio::time::Instant;

pub use monitor::Monitor;

/// Binds the listener (before the first cycle, so a taken port fails the start).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("agent.http_listen: cannot listen on {addr}"))
}

/// The routes over a monitor.
pub fn router(monitor: Arc<Monitor>) -> Router {
    Router::new()
        .route("/", get(status_page))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(monitor)
}

/// Serves until `shutdown` completes.
pub async fn serve<S>(
    listener: TcpListener,
    monitor: Arc<Monitor>,
    shutdown: S,
) -> std::io::Result<()>
where
    S: Future<Output = ()> + Send + 'static,
{
    axum::serve(listener, router(monitor))
        .with_graceful_shutdown(shutdown)
        .await
}

fn answer(status: StatusCode, content_type: &'static str, body: String) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    r
}

async fn status_page(State(m): State<Arc<Monitor>>) -> Response {
    let body = page::render(&m.snapshot(), m.now(), Instant::now());
    let mut r = answer(StatusCode::OK, "text/html; charset=utf-8", body);
    // Should escaping ever miss, nothing on the page may run or load.
    r.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
        ),
    );
    r
}

async fn metrics(State(m): State<Arc<Monitor>>) -> Response {
    answer(
        StatusCode::OK,
        "application/openmetrics-text; version=1.0.0; charset=utf-8",
        m.metrics.encode(),
    )
}

fn verdict(v: health::Verdict) -> Response {
    let status = if v.ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    answer(status, "application/json", format!("{:#}\n", v.body))
}

async fn healthz(State(m): State<Arc<Monitor>>) -> Response {
    verdict(health::live(&m.snapshot(), Instant::now()))
}

async fn readyz(State(m): State<Arc<Monitor>>) -> Response {
    verdict(health::ready(&m.snapshot(), Instant::now()))
}
