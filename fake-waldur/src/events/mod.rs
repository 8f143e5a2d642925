//! Publishing events as Mastermind does: when state changes that Mastermind announces
//! (orders, project roles, resource flags, offering-user usernames), one JSON message goes
//! to every registered queue that observes that object type for the offering — the
//! unified `consumer_<uuid>` queues and the older per-type `subscription_…` queues alike.
//! Every body carries `object_type` and `offering_uuid` (hex).
//!
//! Each delivery is recorded (see [`PublishedEvent`]) and handed to a publisher thread that
//! posts it to the RabbitMQ management API (`POST /api/exchanges/{vhost}/amq.default/publish`,
//! routing key = queue name, persistent, `application/json`). The REST call that caused it
//! never waits for the broker and never fails because of it, like Mastermind's asynchronous
//! publisher: failures are logged and recorded in the delivery's status.
//!
//! - `publisher`: the thread that posts deliveries to the broker and records the outcome.
//! - `routing`: which queues a message goes to, its body, and the delivery log.
//! - `messages`: the messages Mastermind sends on state changes (order, resource,
//!   user_role, offering_user).
//! - `handle`: the [`FakeWaldur`](crate::FakeWaldur) methods (broker setting, arbitrary
//!   messages, the publication log).

mod handle;
mod messages;
mod publisher;
mod routing;

pub(crate) use publisher::Publisher;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Handed to the publisher, no answer from the broker yet.
    Pending,
    /// The broker put it in the queue.
    Routed,
    /// The broker took it but no queue of that name exists (`routed: false`).
    Unroutable,
    /// The management API call failed (see `error`).
    Failed,
    /// No broker is configured: recorded only.
    NoBroker,
}

/// One message for one queue.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PublishedEvent {
    pub seq: u64,
    pub object_type: String,
    pub offering_uuid: String,
    /// `unified` (a `consumer_…` queue) or `per_type` (a `subscription_…` queue).
    pub scheme: String,
    pub vhost: String,
    pub queue: String,
    /// Exactly the text published.
    pub body: String,
    /// Also sent as the `x-message-id` header (a hash of the body, not Mastermind's sha256).
    pub message_id: String,
    pub created: String,
    pub status: DeliveryStatus,
    pub error: Option<String>,
}

impl PublishedEvent {
    /// The body as JSON, if it is JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.body).ok()
    }
}

#[derive(Debug, Default)]
pub struct EventLog {
    pub published: Vec<PublishedEvent>,
    pub next_seq: u64,
    /// Per resource: the last `sequence_number` of its `resource` messages.
    pub resource_sequence: HashMap<String, u64>,
}

/// An arbitrary message (`POST /__fake__/events`,
/// [`FakeWaldur::publish`](crate::FakeWaldur::publish)).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NewEvent {
    /// Offering UUID: the message goes to every queue observing `object_type` for it.
    pub offering: String,
    /// Any string: known types follow the queues' type lists; a queue that observes every
    /// type also gets unknown ones.
    pub object_type: String,
    /// A JSON body. An object gets `object_type` and `offering_uuid` added unless present;
    /// anything else is sent as it is. Absent (and no `raw`): `{}` plus those two keys.
    pub body: Option<Value>,
    /// A body sent verbatim (malformed messages); excludes `body`.
    pub raw: Option<String>,
    /// Only this queue (by name, either scheme), whatever it observes.
    pub queue: Option<String>,
}

impl NewEvent {
    pub fn json(offering: &str, object_type: &str, body: Value) -> Self {
        NewEvent {
            offering: offering.into(),
            object_type: object_type.into(),
            body: Some(body),
            ..Default::default()
        }
    }

    pub fn raw(offering: &str, object_type: &str, raw: &str) -> Self {
        NewEvent {
            offering: offering.into(),
            object_type: object_type.into(),
            raw: Some(raw.into()),
            ..Default::default()
        }
    }
}
