//! The Waldur REST client: token auth, `Link` pagination, bounded concurrency, retries
//! with backoff for transient failures only, readable errors, and request counting
//! (attempts, and their answers and latency in [`stats`], for `/metrics`).
//! [`agents`]: the registration calls of the event stream (identity, queues).
//!
//! The token is held as a [`Secret`] and only ever placed in a header marked sensitive;
//! errors and logs name the method and path, never headers.

pub mod agents;
mod error;
mod pagination;
mod retry;
pub mod stats;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agent_config::Secret;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::Semaphore;

pub use error::{describe_body, ClientError};
pub use retry::RetryPolicy;
pub use stats::RequestStats;

/// Waldur's largest page; fewer round trips for big offerings.
pub const PAGE_SIZE: u32 = 300;

/// Everything needed to talk to one Waldur.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// The API root as configured, e.g. `https://waldur.example.com/api/`.
    pub api_url: String,
    pub token: Secret,
    pub verify_ssl: bool,
    pub timeout: Duration,
    pub retry: RetryPolicy,
    /// Requests in flight at once.
    pub concurrency: usize,
}

impl ClientSettings {
    pub fn new(api_url: &str, token: Secret) -> Self {
        ClientSettings {
            api_url: api_url.to_string(),
            token,
            verify_ssl: true,
            timeout: Duration::from_secs(60),
            retry: RetryPolicy::default(),
            concurrency: 8,
        }
    }
}

#[derive(Clone)]
pub struct WaldurClient {
    http: reqwest::Client,
    /// Scheme, host and any path prefix before `/api/`; request paths start with `/api/`.
    origin: String,
    retry: RetryPolicy,
    permits: Arc<Semaphore>,
    requests: Arc<AtomicU64>,
    stats: Arc<Mutex<RequestStats>>,
    /// Only to take it out of what Waldur (or a proxy) says back: an error page or a
    /// field error that echoes the Authorization header must not carry it into logs.
    token: Secret,
}

impl std::fmt::Debug for WaldurClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaldurClient")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// A URL as it may be shown: any `user:password@` replaced by `***@`.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((s, r)) => (format!("{s}://"), r),
        None => (String::new(), url),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{scheme}***@{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

/// The part of the API root before `/api/`. A suffix strip, not the Python agent's
/// character-set strip that mangles hosts ending in `a`, `p` or `i`. Credentials in the
/// URL are refused (reqwest would send them as basic auth) and never shown.
pub fn origin_of(api_url: &str) -> Result<String, String> {
    let shown = redact_url(api_url);
    let url = Url::parse(api_url).map_err(|e| format!("{shown:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{shown:?} must be an http or https URL"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{shown:?} must not carry user:password@"));
    }
    let trimmed = api_url.trim_end_matches('/');
    match trimmed.strip_suffix("/api") {
        Some(origin) => Ok(origin.to_string()),
        None => Err(format!("{shown:?} must end with /api/")),
    }
}

/// rustls with the ring provider, for every HTTP client of the agent.
pub fn install_crypto_provider() {
    // Several clients may be built; only the first install can succeed, which is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl WaldurClient {
    pub fn new(settings: &ClientSettings) -> Result<Self, ClientError> {
        let config_error = |message: String| ClientError::Transport {
            method: "SETUP".into(),
            path: redact_url(&settings.api_url),
            message,
        };
        let origin = origin_of(&settings.api_url).map_err(config_error)?;
        install_crypto_provider();
        let mut auth = HeaderValue::from_str(&format!("Token {}", settings.token.expose()))
            .map_err(|_| {
                config_error(
                    "the API token contains characters not allowed in an HTTP header".into(),
                )
            })?;
        auth.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, auth);
        headers.insert(
            USER_AGENT,
            HeaderValue::from_static(concat!("waldur-slurm-agent/", env!("CARGO_PKG_VERSION"))),
        );
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout.min(Duration::from_secs(10)))
            // Waldur answers a missing trailing slash with a redirect; following it would
            // turn a POST into a GET. Paths are built with the slash instead.
            .redirect(reqwest::redirect::Policy::none())
            .danger_accept_invalid_certs(!settings.verify_ssl)
            .build()
            .map_err(|e| config_error(format!("cannot build the HTTP client: {e}")))?;
        Ok(WaldurClient {
            http,
            origin,
            retry: settings.retry.clone(),
            permits: Arc::new(Semaphore::new(settings.concurrency.max(1))),
            requests: Arc::new(AtomicU64::new(0)),
            stats: Arc::new(Mutex::new(RequestStats::default())),
            token: settings.token.clone(),
        })
    }

    /// HTTP requests sent so far (retries included).
    pub fn request_count(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Answers and latency of every attempt so far.
    pub fn stats(&self) -> RequestStats {
        self.stats.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn record(&self, status: Option<u16>, elapsed: Duration) {
        self.stats
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .record(status, elapsed);
    }

    fn url(&self, path: &str, query: &[(&str, String)]) -> Result<Url, ClientError> {
        let mut url =
            Url::parse(&format!("{}{path}", self.origin)).map_err(|e| ClientError::Decode {
                method: "-".into(),
                path: path.into(),
                message: format!("bad URL: {e}"),
            })?;
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        Ok(url)
    }

    /// One request with retries. Returns the status, headers and body of a 2xx answer.
    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> Result<(StatusCode, HeaderMap, String), ClientError> {
        let url = self.url(path, query)?;
        let idempotent = method == Method::GET;
        let mut attempt = 1;
        loop {
            let result = self.send_once(&method, path, url.clone(), body).await;
            match result {
                Ok(ok) => return Ok(ok),
                Err(e)
                    if attempt < self.retry.attempts
                        && (e.is_transient()
                            || (idempotent && matches!(e, ClientError::Decode { .. }))) =>
                {
                    let retry_after = match &e {
                        ClientError::Status { retry_after, .. } => *retry_after,
                        _ => None,
                    };
                    let delay = self.retry.delay(attempt, retry_after);
                    tracing::warn!(%method, path, attempt, error = %e, ?delay, "transient Waldur error; retrying");
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn send_once(
        &self,
        method: &Method,
        path: &str,
        url: Url,
        body: Option<&Value>,
    ) -> Result<(StatusCode, HeaderMap, String), ClientError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("semaphore never closed");
        self.requests.fetch_add(1, Ordering::Relaxed);
        let started = std::time::Instant::now();
        let mut req = self.http.request(method.clone(), url);
        if let Some(b) = body {
            req = req
                .header(CONTENT_TYPE, "application/json")
                .body(serde_json::to_vec(b).expect("JSON serialises"));
        }
        let transport = |e: reqwest::Error| ClientError::Transport {
            method: method.to_string(),
            path: path.to_string(),
            // Without the URL: it is ours anyway, and keeps query values out of logs.
            message: error_chain(&e.without_url()),
        };
        let resp = match req.send().await {
            Ok(resp) => resp,
            Err(e) => {
                self.record(None, started.elapsed());
                return Err(transport(e));
            }
        };
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await;
        self.record(Some(status.as_u16()), started.elapsed());
        let text = text.map_err(transport)?;
        tracing::debug!(%method, path, status = status.as_u16(), elapsed = ?started.elapsed(), "waldur");
        if status.is_success() {
            return Ok((status, headers, text));
        }
        let retry_after = headers
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(retry::parse_retry_after);
        Err(ClientError::Status {
            method: method.to_string(),
            path: path.to_string(),
            status: status.as_u16(),
            detail: self.redact(describe_body(&text)),
            retry_after,
        })
    }

    /// `text` with the token replaced by `***`.
    fn redact(&self, text: String) -> String {
        let token = self.token.expose();
        if token.is_empty() || !text.contains(token) {
            return text;
        }
        text.replace(token, "***")
    }

    /// The body as `T`; serde's message may quote the body, so it is redacted too.
    fn decode<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        text: &str,
    ) -> Result<T, ClientError> {
        serde_json::from_str(text).map_err(|e| ClientError::Decode {
            method: method.into(),
            path: path.into(),
            message: self.redact(e.to_string()),
        })
    }

    /// GET one object.
    pub async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, ClientError> {
        let (_, _, text) = self.send(Method::GET, path, query, None).await?;
        self.decode("GET", path, &text)
    }

    /// GET a whole list, following `rel="next"` pages. The items must add up to
    /// `X-Result-Count` when Waldur sends it: a short read is an error, never a smaller
    /// desired state.
    pub async fn list<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<Vec<T>, ClientError> {
        let mut items: Vec<T> = Vec::new();
        let mut expected: Option<usize> = None;
        let mut page: Option<String> = None;
        loop {
            let mut q: Vec<(&str, String)> = query.to_vec();
            q.push(("page_size", PAGE_SIZE.to_string()));
            if let Some(p) = &page {
                q.push(("page", p.clone()));
            }
            let (_, headers, text) = self.send(Method::GET, path, &q, None).await?;
            let batch: Vec<T> = self.decode("GET", path, &text)?;
            if expected.is_none() {
                expected = headers
                    .get("x-result-count")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse().ok());
            }
            let batch_len = batch.len();
            items.extend(batch);
            let next = headers
                .get(reqwest::header::LINK)
                .and_then(|v| v.to_str().ok())
                .and_then(pagination::next_page);
            match next {
                Some(n) if batch_len > 0 && Some(&n) != page.as_ref() => page = Some(n),
                _ => break,
            }
        }
        if let Some(total) = expected {
            if total != items.len() {
                return Err(ClientError::Decode {
                    method: "GET".into(),
                    path: path.into(),
                    message: format!(
                        "partial list: Waldur counted {total} item(s) but the pages held {}",
                        items.len()
                    ),
                });
            }
        }
        Ok(items)
    }

    /// POST (or another method) with an optional JSON body; returns the JSON answer, or
    /// `null` for an empty body.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ClientError> {
        let m = Method::from_bytes(method.as_bytes()).map_err(|_| ClientError::Decode {
            method: method.into(),
            path: path.into(),
            message: "unknown HTTP method".into(),
        })?;
        let (_, _, text) = self.send(m, path, &[], body).await?;
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        self.decode(method, path, &text)
    }
}

/// reqwest's error with its causes ("error sending request: connection refused").
fn error_chain(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_is_a_suffix_strip() {
        assert_eq!(
            origin_of("https://waldur.example.com/api/").unwrap(),
            "https://waldur.example.com"
        );
        // The Python agent's rstrip("/api") would make this "http://waldur-".
        assert_eq!(
            origin_of("http://waldur-api/api/").unwrap(),
            "http://waldur-api"
        );
        assert_eq!(
            origin_of("https://h/prefix/api").unwrap(),
            "https://h/prefix"
        );
        assert!(origin_of("https://h/v2/").is_err());
        let e = origin_of("https://user:SECRET-TOKEN@h/api/").unwrap_err();
        assert!(!e.contains("SECRET-TOKEN") && e.contains("***@h"), "{e}");
        assert_eq!(
            redact_url("https://a:b@h:8/api/?x=@"),
            "https://***@h:8/api/?x=@"
        );
        assert_eq!(redact_url("https://h/api/"), "https://h/api/");
        assert!(origin_of("ftp://h/api/").is_err());
    }
}
