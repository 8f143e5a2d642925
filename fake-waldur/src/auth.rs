//! DRF `TokenAuthentication`: `Authorization: Token <key>`, with DRF's 401
//! messages and `WWW-Authenticate: Token`.

use crate::http::ApiError;
use crate::state::FakeWaldur;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The authenticated caller, available to handlers as an extension.
#[derive(Clone)]
pub struct Caller {
    pub user_uuid: String,
    pub is_staff: bool,
    /// The token presented: Mastermind makes it the password of the RabbitMQ user behind
    /// an event queue registration.
    pub token: String,
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller")
            .field("user_uuid", &self.user_uuid)
            .field("is_staff", &self.is_staff)
            .finish_non_exhaustive()
    }
}

/// Checks the header against the users' tokens, or answers 401.
pub fn authenticate(state: &FakeWaldur, header_value: Option<&str>) -> Result<Caller, ApiError> {
    let not_provided = || ApiError::unauthorized("Authentication credentials were not provided.");
    let raw = header_value.ok_or_else(not_provided)?;
    let mut parts = raw.split_whitespace();
    let scheme = parts.next().unwrap_or("");
    if !scheme.eq_ignore_ascii_case("token") {
        // Other schemes belong to other authenticators; for DRF that is "no credentials".
        return Err(not_provided());
    }
    let key = match (parts.next(), parts.next()) {
        (None, _) => {
            return Err(ApiError::unauthorized(
                "Invalid token header. No credentials provided.",
            ))
        }
        (Some(_), Some(_)) => {
            return Err(ApiError::unauthorized(
                "Invalid token header. Token string should not contain spaces.",
            ))
        }
        (Some(key), None) => key,
    };
    state
        .read(|w| {
            w.user_by_token(key).map(|u| Caller {
                user_uuid: u.uuid.clone(),
                is_staff: u.is_staff,
                token: key.to_string(),
            })
        })
        .ok_or_else(|| ApiError::unauthorized("Invalid token."))
}

pub async fn require_token(
    State(state): State<FakeWaldur>,
    mut req: Request,
    next: Next,
) -> Response {
    let header_value = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match authenticate(&state, header_value) {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}
