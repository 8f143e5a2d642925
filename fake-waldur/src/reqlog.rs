//! Request log for assertions in tests: method, path, query, status, body,
//! user agent and whether an Authorization header was sent (never its value).

use crate::faults::AppliedFault;
use crate::state::{FakeWaldur, LoggedRequest};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

const MAX_BODY: usize = 16 * 1024 * 1024;

pub async fn record(State(state): State<FakeWaldur>, req: Request, next: Next) -> Response {
    if req.uri().path().starts_with("/__fake__/") {
        return next.run(req).await;
    }
    let seq = state.write(|w| {
        w.next_seq += 1;
        w.next_seq
    });
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let authorization = req.headers().contains_key(header::AUTHORIZATION);
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);

    // Buffer the body so it can be both logged and handed on.
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return axum::http::StatusCode::PAYLOAD_TOO_LARGE.into_response(),
    };
    let logged_body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    let resp = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;

    let fault = resp
        .extensions()
        .get::<AppliedFault>()
        .map(|f| f.0.to_string());
    tracing::debug!(%method, %path, status = resp.status().as_u16(), "served");
    state.write(|w| {
        w.log_request(LoggedRequest {
            seq,
            method,
            path,
            query,
            status: resp.status().as_u16(),
            authorization,
            user_agent,
            body: logged_body,
            fault,
        })
    });
    resp
}
