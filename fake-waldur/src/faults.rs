//! Fault injection: for requests matching a method and path prefix, the next
//! N requests (after skipping K) are answered or altered the way a flaky
//! proxy or overloaded server would, so the agent's retry paths get exercised.

use crate::state::FakeWaldur;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// One rule, as posted to `POST /__fake__/faults`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultSpec {
    /// HTTP method to match; `None` or `"*"` matches any.
    #[serde(default)]
    pub method: Option<String>,
    /// Path prefix to match, e.g. `/api/marketplace-orders/`.
    #[serde(default = "default_prefix")]
    pub path_prefix: String,
    /// How many matching requests get the fault; 0 = every one until cleared.
    #[serde(default = "default_times")]
    pub times: u32,
    /// Matching requests let through untouched before the fault starts.
    #[serde(default)]
    pub skip: u32,
    #[serde(flatten)]
    pub action: FaultAction,
}

fn default_prefix() -> String {
    "/api/".into()
}

fn default_times() -> u32 {
    1
}

/// What happens to a faulted request. Serialised with a `kind` tag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultAction {
    /// Answer with this status and JSON body (default `{"detail": "Injected fault."}`),
    /// without touching state.
    Status {
        status: u16,
        #[serde(default)]
        body: Option<Value>,
    },
    /// Answer 502 with nginx's HTML error page.
    #[serde(rename = "html_502")]
    Html502,
    /// Answer 429 with `Retry-After` and DRF's throttle message.
    Throttle {
        #[serde(default = "default_retry_after")]
        retry_after: u64,
    },
    /// Wait, then serve the request normally.
    Delay { ms: u64 },
    /// Serve the request normally (state changes happen) but send only the
    /// first half of the body, so it is malformed JSON.
    Truncate,
    /// Answer 200 with a body that is not JSON, without touching state.
    InvalidJson,
    /// Serve the request normally (state changes happen), then drop the
    /// connection without a complete response: a transport error for the client.
    Disconnect,
    /// Serve normally, then drop the last `count` items of a JSON list body and keep
    /// `X-Result-Count` and `Link` as they were: a page that lost items on the way.
    /// With `strip_count`, `X-Result-Count` goes too (a proxy that drops headers).
    DropItems {
        #[serde(default = "default_count")]
        count: usize,
        #[serde(default)]
        strip_count: bool,
    },
}

fn default_count() -> usize {
    1
}

fn default_retry_after() -> u64 {
    1
}

impl FaultAction {
    pub fn name(&self) -> &'static str {
        match self {
            FaultAction::Status { .. } => "status",
            FaultAction::Html502 => "html_502",
            FaultAction::Throttle { .. } => "throttle",
            FaultAction::Delay { .. } => "delay",
            FaultAction::Truncate => "truncate",
            FaultAction::InvalidJson => "invalid_json",
            FaultAction::Disconnect => "disconnect",
            FaultAction::DropItems { .. } => "drop_items",
        }
    }
}

/// An installed rule with its counters.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultRule {
    pub id: u64,
    #[serde(flatten)]
    pub spec: FaultSpec,
    /// Matching requests seen so far.
    pub matched: u32,
    /// Requests the fault was applied to.
    pub fired: u32,
}

impl FaultRule {
    pub fn new(id: u64, spec: FaultSpec) -> Self {
        FaultRule {
            id,
            spec,
            matched: 0,
            fired: 0,
        }
    }

    fn exhausted(&self) -> bool {
        self.spec.times != 0 && self.fired >= self.spec.times
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        let method_ok = match self.spec.method.as_deref() {
            None | Some("*") => true,
            Some(m) => m.eq_ignore_ascii_case(method),
        };
        method_ok && path.starts_with(&self.spec.path_prefix)
    }
}

/// The fault applied to a response, recorded by the request log.
#[derive(Debug, Clone)]
pub struct AppliedFault(pub &'static str);

/// Picks the fault for this request, if any, updating the rule counters.
/// The first live matching rule decides; it may decide "not yet" (skip).
fn pick(state: &FakeWaldur, method: &str, path: &str) -> Option<FaultAction> {
    state.write(|w| {
        let rule = w
            .faults
            .iter_mut()
            .find(|r| !r.exhausted() && r.matches(method, path))?;
        rule.matched += 1;
        if rule.matched <= rule.spec.skip {
            return None;
        }
        rule.fired += 1;
        Some(rule.spec.action.clone())
    })
}

const NGINX_502: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";

/// A body that fails on first poll, which makes hyper abort the connection.
struct BrokenBody;

impl http_body::Body for BrokenBody {
    type Data = Bytes;
    type Error = std::io::Error;
    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        Poll::Ready(Some(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "injected disconnect",
        ))))
    }
}

pub async fn inject(State(state): State<FakeWaldur>, req: Request, next: Next) -> Response {
    if req.uri().path().starts_with("/__fake__/") {
        return next.run(req).await;
    }
    let action = pick(&state, req.method().as_str(), req.uri().path());
    let Some(action) = action else {
        return next.run(req).await;
    };
    tracing::debug!(
        fault = action.name(),
        path = req.uri().path(),
        "injecting fault"
    );
    let mut resp = match &action {
        FaultAction::Status { status, body } => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let body = body
                .clone()
                .unwrap_or_else(|| json!({"detail": "Injected fault."}));
            crate::http::json_response(status, &body)
        }
        FaultAction::Html502 => (
            StatusCode::BAD_GATEWAY,
            [(header::CONTENT_TYPE, "text/html")],
            NGINX_502,
        )
            .into_response(),
        FaultAction::Throttle { retry_after } => {
            let body = json!({
                "detail": format!("Request was throttled. Expected available in {retry_after} seconds.")
            });
            let mut resp = crate::http::json_response(StatusCode::TOO_MANY_REQUESTS, &body);
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
            resp
        }
        FaultAction::Delay { ms } => {
            tokio::time::sleep(Duration::from_millis(*ms)).await;
            next.run(req).await
        }
        FaultAction::Truncate => {
            let resp = next.run(req).await;
            let (mut parts, body) = resp.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            let cut = bytes.slice(..bytes.len() / 2);
            parts
                .headers
                .insert(header::CONTENT_LENGTH, HeaderValue::from(cut.len()));
            Response::from_parts(parts, Body::from(cut))
        }
        FaultAction::InvalidJson => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            "{\"detail\": \"this is not valid JSON",
        )
            .into_response(),
        FaultAction::DropItems { count, strip_count } => {
            let (mut parts, body) = next.run(req).await.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            let body = match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Array(mut items)) => {
                    items.truncate(items.len().saturating_sub(*count));
                    Bytes::from(serde_json::to_vec(&items).unwrap_or_default())
                }
                _ => bytes,
            };
            parts.headers.remove(header::CONTENT_LENGTH);
            if *strip_count {
                parts.headers.remove("x-result-count");
            }
            Response::from_parts(parts, Body::from(body))
        }
        FaultAction::Disconnect => {
            let (mut parts, _) = next.run(req).await.into_parts();
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, Body::new(BrokenBody))
        }
    };
    resp.extensions_mut().insert(AppliedFault(action.name()));
    resp
}
