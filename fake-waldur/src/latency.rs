//! The per-request latency knob (`Settings::latency_ms`, `--latency-ms`, `PATCH
//! /__fake__/settings {"latency_ms": N}`): every `/api/` request waits that long before it
//! is served. A tokio sleep, not a lock held: requests in flight overlap as they would
//! over a real network, so an agent's concurrency shows in its timings.

use crate::state::FakeWaldur;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use std::time::Duration;

pub async fn delay(State(state): State<FakeWaldur>, req: Request, next: Next) -> Response {
    if req.uri().path().starts_with("/api/") {
        let ms = state.read(|w| w.data.settings.latency_ms);
        if ms > 0 {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
    }
    next.run(req).await
}
