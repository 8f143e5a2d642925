//! The agent-registration endpoints that the event stream needs (waldur-api.md §2.1, §2.8;
//! waldur-events-unified.md): the agent identity (B6 look-up, B7 create, B8 update), the
//! unified queue (`register_queue`) and the older per-type scheme (E1 subscription, E2
//! queue). Every name and UUID in an answer is checked before it is used in a path, a
//! STOMP header or a log line.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{ClientError, WaldurClient};
use crate::waldur::checked_uuid;

/// The identity's name Waldur agents use: `agent-<offering uuid hex>`.
pub fn identity_name(offering_uuid: &str) -> String {
    format!("agent-{offering_uuid}")
}

/// Where and as whom to consume one queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueLogin {
    /// The RabbitMQ user (its password is the API token).
    pub username: String,
    pub vhost: String,
    pub queue: String,
}

#[derive(Deserialize)]
struct Uuid {
    uuid: String,
}

#[derive(Deserialize)]
struct RegisteredQueue {
    rmq_username: String,
    queue_name: String,
    vhost: String,
    #[allow(dead_code)]
    observable_object_types: Vec<String>,
}

#[derive(Deserialize)]
struct Subscription {
    uuid: String,
    user_uuid: String,
}

#[derive(Deserialize)]
struct SubscriptionQueue {
    queue_name: String,
    vhost: String,
}

/// A RabbitMQ name as Waldur builds them (hex, `_`, `-`, `.`): anything else would be an
/// odd STOMP header or destination.
fn broker_name(what: &str, name: &str, path: &str) -> Result<String, ClientError> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    if ok {
        Ok(name.to_string())
    } else {
        Err(decode_error(
            path,
            format!(
                "{what} {:?} is not a RabbitMQ name Waldur would make",
                agent_reconcile::escape::text(name)
            ),
        ))
    }
}

fn decode_error(path: &str, message: String) -> ClientError {
    ClientError::Decode {
        method: "POST".into(),
        path: path.into(),
        message,
    }
}

fn uuid_of(what: &str, text: &str, path: &str) -> Result<String, ClientError> {
    checked_uuid(text).ok_or_else(|| {
        decode_error(
            path,
            format!(
                "{what} {:?} is not a UUID",
                agent_reconcile::escape::text(text)
            ),
        )
    })
}

impl WaldurClient {
    /// The offering's agent identity: looked up by name (B6), updated with this
    /// version and start time (B8), or created (B7). Returns its UUID (hex).
    pub async fn register_identity(
        &self,
        offering_uuid: &str,
        started: &str,
    ) -> Result<String, ClientError> {
        let name = identity_name(offering_uuid);
        let list = "/api/marketplace-site-agent-identities/";
        let found: Vec<Uuid> = self.get(list, &[("name", name.clone())]).await?;
        let body = json!({
            "offering": offering_uuid,
            "name": name,
            "version": env!("CARGO_PKG_VERSION"),
            "last_restarted": started,
            "dependencies": [],
            "config_file_path": "",
            "config_file_content": "",
        });
        let answer = match found.first() {
            Some(existing) => {
                let id = uuid_of("identity uuid", &existing.uuid, list)?;
                let path = format!("{list}{id}/");
                self.call("PUT", &path, Some(&body)).await?
            }
            None => self.call("POST", list, Some(&body)).await?,
        };
        let uuid = answer
            .get("uuid")
            .and_then(Value::as_str)
            .unwrap_or_default();
        uuid_of("identity uuid", uuid, list)
    }

    /// The identity's one queue for `object_types` (`register_queue`). `Ok(None)` when
    /// Waldur answers 404: an older Mastermind without it (or a vanished identity).
    pub async fn register_queue(
        &self,
        identity: &str,
        object_types: &[&str],
    ) -> Result<Option<QueueLogin>, ClientError> {
        let path = format!("/api/marketplace-site-agent-identities/{identity}/register_queue/");
        let answer = match self
            .call(
                "POST",
                &path,
                Some(&json!({ "object_types": object_types })),
            )
            .await
        {
            Ok(v) => v,
            Err(e) if e.status() == Some(404) => return Ok(None),
            Err(e) => return Err(e),
        };
        let q: RegisteredQueue = serde_json::from_value(answer)
            .map_err(|e| decode_error(&path, format!("unexpected answer: {e}")))?;
        Ok(Some(QueueLogin {
            username: broker_name("rmq_username", &q.rmq_username, &path)?,
            vhost: broker_name("vhost", &q.vhost, &path)?,
            queue: broker_name("queue_name", &q.queue_name, &path)?,
        }))
    }

    /// The older scheme for one object type: the caller's event subscription (E1), then
    /// the offering's queue of it (E2).
    pub async fn register_type_queue(
        &self,
        identity: &str,
        offering_uuid: &str,
        object_type: &str,
    ) -> Result<QueueLogin, ClientError> {
        let path = format!(
            "/api/marketplace-site-agent-identities/{identity}/register_event_subscription/"
        );
        let body = json!({
            "observable_object_type": object_type,
            "description": format!("waldur-slurm-agent: {object_type} events of offering {offering_uuid}"),
        });
        let sub: Subscription =
            serde_json::from_value(self.call("POST", &path, Some(&body)).await?)
                .map_err(|e| decode_error(&path, format!("unexpected answer: {e}")))?;
        let sub_uuid = uuid_of("subscription uuid", &sub.uuid, &path)?;
        let user_uuid = uuid_of("user_uuid", &sub.user_uuid, &path)?;
        let path = format!("/api/event-subscriptions/{sub_uuid}/create_queue/");
        let body = json!({ "offering_uuid": offering_uuid, "object_type": object_type });
        let q: SubscriptionQueue =
            serde_json::from_value(self.call("POST", &path, Some(&body)).await?)
                .map_err(|e| decode_error(&path, format!("unexpected answer: {e}")))?;
        // The subscription's RabbitMQ user is its UUID; the vhost is the user's.
        let vhost = broker_name("vhost", &q.vhost, &path)?;
        if vhost != user_uuid {
            tracing::debug!(%vhost, %user_uuid, "the queue's vhost is not the subscription user's");
        }
        Ok(QueueLogin {
            username: sub_uuid,
            vhost,
            queue: broker_name("queue_name", &q.queue_name, &path)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_broker_names_are_refused() {
        assert!(broker_name("q", "consumer_ab12", "/p").is_ok());
        assert!(broker_name("q", "subscription_a_offering_b_order", "/p").is_ok());
        for bad in ["", "a/b", "a\nb", "a:b", "a b"] {
            assert!(broker_name("q", bad, "/p").is_err(), "{bad:?}");
        }
    }
}
