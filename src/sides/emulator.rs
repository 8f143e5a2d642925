//! slurm-emulator's periodic-settings API (`POST <emulator_base_url>/api/apply-periodic-settings`,
//! 10 s per request, as the Python agent): where periodic settings go in emulator mode.

use std::sync::OnceLock;
use std::time::Duration;

use agent_observed::answers::FailureClass;
use serde_json::Value;

use super::Failure;

fn client() -> Result<&'static reqwest::Client, Failure> {
    static CLIENT: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            agent_desired::client::install_crypto_provider();
            reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| format!("cannot build the HTTP client: {e}"))
        })
        .as_ref()
        .map_err(|e| Failure::new(FailureClass::Fatal, e.clone()))
}

/// One request; an answer other than 2xx is a failure (5xx and no answer: retryable).
pub async fn post(url: &str, body: &Value) -> Result<(), Failure> {
    let shown = agent_desired::client::redact_url(url);
    let answer = client()?
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| Failure::new(FailureClass::Retryable, format!("POST {shown}: {e}")))?;
    let status = answer.status();
    if status.is_success() {
        return Ok(());
    }
    let text = answer.text().await.unwrap_or_default();
    let class = if status.is_server_error() {
        FailureClass::Retryable
    } else {
        FailureClass::Fatal
    };
    Err(Failure::new(
        class,
        format!(
            "POST {shown}: HTTP {}: {}",
            status.as_u16(),
            agent_reconcile::escape::text(text.trim())
        ),
    ))
}
