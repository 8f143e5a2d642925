//! The RabbitMQ side of Waldur's event stream: the broker settings and a small client for
//! the RabbitMQ management HTTP API, which is what Mastermind uses to create the vhost,
//! user, permissions and queue behind a registration. The fake also publishes through it
//! (`POST /api/exchanges/{vhost}/amq.default/publish`). Tests use the same client to look
//! at what the broker holds.

use reqwest::header::CONTENT_TYPE;
use reqwest::Method;
use serde_json::{json, Value};
use std::fmt;
use std::time::Duration;

/// Where the management API of the broker is, and an administrator's credentials.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Broker {
    /// `http://127.0.0.1:15672` (no `/api`; a trailing slash is ignored).
    pub mgmt_url: String,
    pub user: String,
    pub password: String,
}

impl fmt::Debug for Broker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Broker")
            .field("mgmt_url", &self.mgmt_url)
            .field("user", &self.user)
            .field("password", &"<hidden>")
            .finish()
    }
}

impl Broker {
    pub fn new(mgmt_url: &str, user: &str, password: &str) -> Self {
        Broker {
            mgmt_url: mgmt_url.trim_end_matches('/').to_string(),
            user: user.to_string(),
            password: password.to_string(),
        }
    }

    /// From `RABBITMQ_MGMT_URL`, `RABBITMQ_MGMT_USER` and `RABBITMQ_MGMT_PASSWORD`
    /// (what `scripts/rabbitmq/start-rabbitmq.sh` writes to its env.sh); `None` unless all
    /// three are set and not empty.
    pub fn from_env() -> Option<Self> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Some(Broker::new(
            &var("RABBITMQ_MGMT_URL")?,
            &var("RABBITMQ_MGMT_USER")?,
            &var("RABBITMQ_MGMT_PASSWORD")?,
        ))
    }
}

/// The arguments Mastermind declares every event queue with (waldur-api.md §5.1).
pub fn queue_arguments() -> Value {
    json!({
        "x-message-ttl": 3_600_000,
        "x-max-length": 10_000,
        "x-overflow": "reject-publish-dlx",
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": "waldur.dlq.messages",
    })
}

/// A failed management API call: transport trouble or an unexpected status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("RabbitMQ management API: {0}")]
pub struct BrokerError(pub String);

/// Percent-encodes one path segment (vhost, user and queue names).
pub fn segment(raw: &str) -> String {
    let mut out = String::new();
    for b in raw.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A client for the management API, authenticated as the broker's administrator.
#[derive(Clone)]
pub struct Management {
    http: reqwest::Client,
    broker: Broker,
}

impl fmt::Debug for Management {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Management")
            .field("broker", &self.broker)
            .finish_non_exhaustive()
    }
}

impl Management {
    pub fn new(broker: &Broker) -> Result<Self, BrokerError> {
        // reqwest is built without a TLS provider of its own; a client needs one installed
        // even for plain http (only the first install in a process can succeed).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(3))
            .build()
            .map_err(|e| BrokerError(format!("cannot build the HTTP client: {e}")))?;
        Ok(Management {
            http,
            broker: broker.clone(),
        })
    }

    /// One call; returns the status and the JSON body (`null` when empty or not JSON).
    /// `path` starts with `/api/` and has its segments encoded.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), BrokerError> {
        let url = format!("{}{path}", self.broker.mgmt_url.trim_end_matches('/'));
        let mut req = self
            .http
            .request(method.clone(), &url)
            .basic_auth(&self.broker.user, Some(&self.broker.password));
        if let Some(b) = body {
            req = req
                .header(CONTENT_TYPE, "application/json")
                .body(b.to_string());
        }
        let resp = req
            .send()
            .await
            .map_err(|e| BrokerError(format!("{method} {path}: {e}")))?;
        let status = resp.status().as_u16();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| BrokerError(format!("{method} {path}: reading the answer: {e}")))?;
        Ok((
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        ))
    }

    /// A call that must answer 2xx.
    async fn expect_ok(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, BrokerError> {
        let (status, answer) = self.call(method.clone(), path, body).await?;
        if (200..300).contains(&status) {
            Ok(answer)
        } else {
            Err(BrokerError(format!("{method} {path}: {status} {answer}")))
        }
    }

    /// GET; `None` for a 404.
    pub async fn get(&self, path: &str) -> Result<Option<Value>, BrokerError> {
        match self.call(Method::GET, path, None).await? {
            (404, _) => Ok(None),
            (s, v) if (200..300).contains(&s) => Ok(Some(v)),
            (s, v) => Err(BrokerError(format!("GET {path}: {s} {v}"))),
        }
    }

    /// The vhost, a user whose password is `password` (reset if the user exists), and
    /// full permissions for that user and for the administrator on the vhost.
    pub async fn ensure_account(
        &self,
        vhost: &str,
        user: &str,
        password: &str,
    ) -> Result<(), BrokerError> {
        let v = segment(vhost);
        self.expect_ok(Method::PUT, &format!("/api/vhosts/{v}"), Some(&json!({})))
            .await?;
        let account = json!({ "password": password, "tags": "" });
        let path = format!("/api/users/{}", segment(user));
        self.expect_ok(Method::PUT, &path, Some(&account)).await?;
        let all = json!({ "configure": ".*", "write": ".*", "read": ".*" });
        for who in [user, self.broker.user.as_str()] {
            let path = format!("/api/permissions/{v}/{}", segment(who));
            self.expect_ok(Method::PUT, &path, Some(&all)).await?;
        }
        Ok(())
    }

    /// Declares the durable event queue with [`queue_arguments`] (a no-op if it exists
    /// with the same arguments; a 400 "inequivalent arg" error otherwise).
    pub async fn declare_queue(&self, vhost: &str, queue: &str) -> Result<(), BrokerError> {
        let path = format!("/api/queues/{}/{}", segment(vhost), segment(queue));
        let body = json!({ "durable": true, "auto_delete": false, "arguments": queue_arguments() });
        self.expect_ok(Method::PUT, &path, Some(&body)).await?;
        Ok(())
    }

    /// Best-effort removal (404 counts as done).
    pub async fn delete(&self, path: &str) -> Result<(), BrokerError> {
        match self.call(Method::DELETE, path, None).await? {
            (s, _) if (200..300).contains(&s) || s == 404 => Ok(()),
            (s, v) => Err(BrokerError(format!("DELETE {path}: {s} {v}"))),
        }
    }

    /// Publishes `payload` to `queue` through the default exchange as a persistent
    /// `application/json` message; returns whether a queue took it (`routed`).
    pub async fn publish(
        &self,
        vhost: &str,
        queue: &str,
        payload: &str,
        message_id: &str,
    ) -> Result<bool, BrokerError> {
        let path = format!("/api/exchanges/{}/amq.default/publish", segment(vhost));
        let body = json!({
            "properties": {
                "delivery_mode": 2,
                "content_type": "application/json",
                "message_id": message_id,
                "headers": { "x-message-id": message_id },
            },
            "routing_key": queue,
            "payload": payload,
            "payload_encoding": "string",
        });
        let answer = self.expect_ok(Method::POST, &path, Some(&body)).await?;
        Ok(answer.get("routed").and_then(Value::as_bool) == Some(true))
    }

    /// Takes up to `count` messages off the queue (they are not requeued).
    pub async fn get_messages(
        &self,
        vhost: &str,
        queue: &str,
        count: usize,
    ) -> Result<Vec<Value>, BrokerError> {
        let path = format!("/api/queues/{}/{}/get", segment(vhost), segment(queue));
        let body = json!({ "count": count, "ackmode": "ack_requeue_false", "encoding": "auto" });
        match self.expect_ok(Method::POST, &path, Some(&body)).await? {
            Value::Array(messages) => Ok(messages),
            other => Err(BrokerError(format!("POST {path}: not a list: {other}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_percent_encoded() {
        assert_eq!(segment("/"), "%2F");
        assert_eq!(segment("consumer_ab-1.~"), "consumer_ab-1.~");
        assert_eq!(segment("a b"), "a%20b");
    }

    #[test]
    fn debug_hides_the_password() {
        let b = Broker::new("http://127.0.0.1:15672/", "admin", "s3cret");
        assert_eq!(b.mgmt_url, "http://127.0.0.1:15672");
        assert!(!format!("{b:?}").contains("s3cret"));
    }
}
