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

use crate::broker::{Broker, Management};
use crate::http::{ApiError, ApiResult};
use crate::ids;
use crate::state::{FakeWaldur, World};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::fmt;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

/// Keeps a long-running binary from growing without bound.
const MAX_PUBLISHED: usize = 10_000;

/// Mastermind only publishes events for offerings of this type.
const SITE_AGENT_OFFERING_TYPE: &str = "Marketplace.Slurm";

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

/// An arbitrary message (`POST /__fake__/events`, [`FakeWaldur::publish`]).
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

/// A queue a message goes to.
struct Target {
    scheme: &'static str,
    vhost: String,
    queue: String,
}

struct Job {
    seq: u64,
    vhost: String,
    queue: String,
    body: String,
    message_id: String,
}

/// The broker setting and the channel to its publisher thread.
pub(crate) struct Publisher {
    pub(crate) broker: Broker,
    tx: UnboundedSender<Job>,
}

impl fmt::Debug for Publisher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Publisher")
            .field("broker", &self.broker)
            .finish_non_exhaustive()
    }
}

impl Publisher {
    /// Starts a thread with its own small runtime, so publishing works whatever runtime
    /// (if any) the caller has; it ends when the publisher is dropped and its queue drained.
    fn start(broker: Broker, world: Weak<Mutex<World>>) -> Self {
        let (tx, rx) = unbounded_channel();
        let for_thread = broker.clone();
        let spawned = std::thread::Builder::new()
            .name("fake-waldur-publisher".into())
            .spawn(move || run_publisher(for_thread, rx, world));
        if let Err(e) = spawned {
            // The receiver is gone with the closure: every delivery will be marked failed.
            tracing::error!("cannot start the event publisher thread: {e}");
        }
        Publisher { broker, tx }
    }
}

fn run_publisher(broker: Broker, mut rx: UnboundedReceiver<Job>, world: Weak<Mutex<World>>) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return tracing::error!("event publisher: no runtime: {e}"),
    };
    rt.block_on(async move {
        let mgmt = Management::new(&broker);
        while let Some(job) = rx.recv().await {
            let outcome = match &mgmt {
                Ok(m) => {
                    m.publish(&job.vhost, &job.queue, &job.body, &job.message_id)
                        .await
                }
                Err(e) => Err(e.clone()),
            };
            let (status, error) = match outcome {
                Ok(true) => (DeliveryStatus::Routed, None),
                Ok(false) => {
                    tracing::warn!(queue = %job.queue, vhost = %job.vhost, "event not routed: no such queue");
                    let why = "the broker has no such queue (routed: false)";
                    (DeliveryStatus::Unroutable, Some(why.to_string()))
                }
                Err(e) => {
                    tracing::warn!(queue = %job.queue, vhost = %job.vhost, "event not published: {e}");
                    (DeliveryStatus::Failed, Some(e.to_string()))
                }
            };
            let Some(world) = world.upgrade() else { break };
            let mut w = world.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(p) = w.events.published.iter_mut().find(|p| p.seq == job.seq) {
                p.status = status;
                p.error = error;
            }
        }
    });
}

fn message_id(seq: u64, body: &str) -> String {
    let mut h = DefaultHasher::new();
    seq.hash(&mut h);
    body.hash(&mut h);
    format!("{:016x}", h.finish())
}

/// `fields` plus `object_type` and `offering_uuid`, unless they are there already.
fn stamped(mut fields: Map<String, Value>, object_type: &str, offering: &str) -> String {
    fields
        .entry("object_type")
        .or_insert_with(|| object_type.into());
    fields
        .entry("offering_uuid")
        .or_insert_with(|| offering.into());
    Value::Object(fields).to_string()
}

impl World {
    /// The queues that observe `object_type` for `offering`, in both schemes.
    fn targets(&self, offering: &str, object_type: &str) -> Vec<Target> {
        let d = &self.data;
        let unified = d.event_consumers.iter().filter(|c| {
            c.observes(object_type)
                && self
                    .agent_identity(&c.identity)
                    .is_some_and(|i| i.offering == offering)
        });
        let per_type = (d.event_subscription_queues.iter())
            .filter(|q| q.offering == offering && q.object_type == object_type);
        (unified.map(|c| Target {
            scheme: "unified",
            vhost: c.vhost().to_string(),
            queue: c.queue_name(),
        }))
        .chain(per_type.map(|q| Target {
            scheme: "per_type",
            vhost: self.subscription_vhost(q),
            queue: q.queue_name(),
        }))
        .collect()
    }

    /// A registered queue by name.
    fn queue_target(&self, name: &str) -> Option<Target> {
        let d = &self.data;
        if let Some(c) = d.event_consumers.iter().find(|c| c.queue_name() == name) {
            return Some(Target {
                scheme: "unified",
                vhost: c.vhost().to_string(),
                queue: c.queue_name(),
            });
        }
        let q = (d.event_subscription_queues.iter()).find(|q| q.queue_name() == name)?;
        Some(Target {
            scheme: "per_type",
            vhost: self.subscription_vhost(q),
            queue: q.queue_name(),
        })
    }

    /// Records one delivery per target and hands it to the publisher (never blocks).
    fn deliver(
        &mut self,
        object_type: &str,
        offering: &str,
        body: &str,
        targets: Vec<Target>,
    ) -> Vec<PublishedEvent> {
        let now = self.now();
        let mut out = Vec::new();
        for t in targets {
            self.events.next_seq += 1;
            let seq = self.events.next_seq;
            let mut event = PublishedEvent {
                seq,
                object_type: object_type.to_string(),
                offering_uuid: offering.to_string(),
                scheme: t.scheme.to_string(),
                vhost: t.vhost,
                queue: t.queue,
                body: body.to_string(),
                message_id: message_id(seq, body),
                created: now.clone(),
                status: DeliveryStatus::NoBroker,
                error: None,
            };
            if let Some(p) = &self.publisher {
                let job = Job {
                    seq,
                    vhost: event.vhost.clone(),
                    queue: event.queue.clone(),
                    body: event.body.clone(),
                    message_id: event.message_id.clone(),
                };
                event.status = match p.tx.send(job) {
                    Ok(()) => DeliveryStatus::Pending,
                    Err(_) => {
                        tracing::error!("event publisher is not running; event dropped");
                        event.error = Some("the publisher thread is not running".into());
                        DeliveryStatus::Failed
                    }
                };
            }
            tracing::debug!(queue = %event.queue, object_type, "event published");
            if self.events.published.len() >= MAX_PUBLISHED {
                self.events.published.remove(0);
            }
            self.events.published.push(event.clone());
            out.push(event);
        }
        out
    }

    /// What Mastermind does on a state change: publish `fields` (+ `object_type`,
    /// `offering_uuid`) to the queues of a site-agent offering.
    pub(crate) fn emit(&mut self, offering: &str, object_type: &str, fields: Value) {
        let site_agent = self
            .offering(offering)
            .is_some_and(|o| o.offering_type == SITE_AGENT_OFFERING_TYPE);
        let targets = self.targets(offering, object_type);
        if !site_agent || targets.is_empty() {
            return;
        }
        let Value::Object(fields) = fields else {
            return;
        };
        let body = stamped(fields, object_type, offering);
        self.deliver(object_type, offering, &body, targets);
    }

    /// An arbitrary message, for tests.
    pub fn publish_event(&mut self, e: NewEvent) -> ApiResult<Vec<PublishedEvent>> {
        let offering = ids::normalize(&e.offering)
            .ok_or_else(|| ApiError::field("offering", "Must be a valid UUID."))?;
        if e.object_type.is_empty() {
            return Err(ApiError::required("object_type"));
        }
        let body = match (e.body, e.raw) {
            (Some(_), Some(_)) => {
                return Err(ApiError::non_field("Give either body or raw, not both."))
            }
            (None, Some(raw)) => raw,
            (Some(Value::Object(map)), None) => stamped(map, &e.object_type, &offering),
            (Some(other), None) => other.to_string(),
            (None, None) => stamped(Map::new(), &e.object_type, &offering),
        };
        let targets = match e.queue.as_deref() {
            Some(name) => vec![self
                .queue_target(name)
                .ok_or_else(|| ApiError::field("queue", "No registered queue of that name."))?],
            None => self.targets(&offering, &e.object_type),
        };
        Ok(self.deliver(&e.object_type, &offering, &body, targets))
    }

    /// `order`: `{order_uuid, order_state}` (on creation and on every state change).
    pub(crate) fn emit_order(&mut self, order_uuid: &str) {
        let Some(order) = self.order(order_uuid) else {
            return;
        };
        let fields = json!({ "order_uuid": order.uuid, "order_state": order.state });
        if let Some(offering) = self.resource(&order.resource).map(|r| r.offering.clone()) {
            self.emit(&offering, "order", fields);
        }
    }

    /// `resource`, when `paused`, `downscaled` or `restrict_member_access` changed.
    pub(crate) fn emit_resource_flags(&mut self, resource_uuid: &str) {
        let seq = self
            .events
            .resource_sequence
            .entry(resource_uuid.to_string())
            .or_insert(0);
        *seq += 1;
        let seq = *seq;
        let Some(r) = self.resource(resource_uuid) else {
            return;
        };
        let fields = json!({
            "resource_uuid": r.uuid,
            "resource_backend_id": r.backend_id,
            "downscaled": r.downscaled,
            "restrict_member_access": r.restrict_member_access,
            "paused": r.paused,
            "sequence_number": seq,
        });
        let offering = r.offering.clone();
        self.emit(&offering, "resource", fields);
    }

    /// `user_role` grant or revoke, for each offering with an OK resource in the project.
    pub(crate) fn emit_user_role(&mut self, project: &str, user: &str, role: &str, granted: bool) {
        let (Some(p), Some(u)) = (self.project(project), self.user(user)) else {
            return;
        };
        let fields = json!({
            "user_uuid": u.uuid,
            "user_username": u.username,
            "project_uuid": p.uuid,
            "project_name": p.name,
            "role_name": crate::views::new_role(role),
            "granted": granted,
        });
        let mut offerings: Vec<String> = (self.data.resources.iter())
            .filter(|r| r.project == project && r.state == "OK")
            .map(|r| r.offering.clone())
            .collect();
        offerings.sort();
        offerings.dedup();
        for o in offerings {
            self.emit(&o, "user_role", fields.clone());
        }
    }

    /// `offering_user` (`create`, `username_set`, …) with the backend IDs of the offering's
    /// resources in the user's projects.
    pub(crate) fn emit_offering_user(&mut self, ou_uuid: &str, action: &str, changed: &[&str]) {
        let Some(ou) = self.offering_user(ou_uuid) else {
            return;
        };
        let projects: Vec<&str> = (self.data.projects.iter())
            .filter(|p| p.members.iter().any(|m| m.user == ou.user))
            .map(|p| p.uuid.as_str())
            .collect();
        let backend_ids: Vec<&str> = (self.data.resources.iter())
            .filter(|r| r.offering == ou.offering && projects.contains(&r.project.as_str()))
            .filter(|r| !r.backend_id.is_empty() && r.state != "Terminated")
            .map(|r| r.backend_id.as_str())
            .collect();
        let fields = json!({
            "offering_user_uuid": ou.uuid,
            "user_uuid": ou.user,
            "username": ou.username,
            "state": ou.state,
            "action": action,
            "attributes": {},
            "changed_fields": changed,
            "resource_backend_ids": backend_ids,
        });
        let offering = ou.offering.clone();
        self.emit(&offering, "offering_user", fields);
    }
}

/// Broker setting, arbitrary messages and the publication log.
impl FakeWaldur {
    /// Configures (or, with `None`, removes) the broker behind queue registration and
    /// publishing. Without one, registration answers 503 and events are only recorded.
    pub fn set_broker(&self, broker: Option<Broker>) {
        let publisher = broker.map(|b| Publisher::start(b, Arc::downgrade(&self.inner)));
        self.write(|w| w.publisher = publisher);
    }

    pub fn broker(&self) -> Option<Broker> {
        self.read(|w| w.publisher.as_ref().map(|p| p.broker.clone()))
    }

    /// Makes `register_queue` answer 404, as a Mastermind that predates it (or undoes it).
    pub fn set_register_queue_missing(&self, missing: bool) {
        self.write(|w| w.data.settings.register_queue_missing = missing);
    }

    /// Publishes an arbitrary message; returns one delivery per queue it went to.
    pub fn publish(&self, event: NewEvent) -> Result<Vec<PublishedEvent>, ApiError> {
        self.write(|w| w.publish_event(event))
    }

    pub fn published(&self) -> Vec<PublishedEvent> {
        self.read(|w| w.events.published.clone())
    }

    pub fn clear_published(&self) {
        self.write(|w| w.events.published.clear());
    }

    /// Waits until no delivery is pending (or `timeout` passed); returns the log.
    pub async fn wait_for_deliveries(&self, timeout: Duration) -> Vec<PublishedEvent> {
        let deadline = Instant::now() + timeout;
        loop {
            let log = self.published();
            let pending = log.iter().any(|e| e.status == DeliveryStatus::Pending);
            if !pending || Instant::now() >= deadline {
                return log;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EventConsumer, EventSubscriptionQueue};

    #[test]
    fn bodies_get_type_and_offering_unless_they_have_them() {
        let fields = json!({"order_uuid": "o", "order_state": "done"});
        let Value::Object(map) = fields else {
            unreachable!()
        };
        assert_eq!(
            stamped(map, "order", "f1"),
            r#"{"order_uuid":"o","order_state":"done","object_type":"order","offering_uuid":"f1"}"#
        );
        let Value::Object(own) = json!({"object_type": "x", "offering_uuid": "y"}) else {
            unreachable!()
        };
        assert_eq!(
            stamped(own, "order", "f1"),
            r#"{"object_type":"x","offering_uuid":"y"}"#
        );
    }

    #[test]
    fn queue_names_and_type_lists() {
        let c = EventConsumer {
            uuid: "ab".into(),
            user: "u1".into(),
            object_types: vec!["order".into()],
            ..Default::default()
        };
        assert_eq!(
            (c.queue_name(), c.rmq_username(), c.vhost()),
            ("consumer_ab".into(), "ab", "u1")
        );
        assert!(c.observes("order") && !c.observes("resource"));
        let all = EventConsumer::default();
        assert!(all.observes("resource") && all.observes("anything"));
        let q = EventSubscriptionQueue {
            subscription: "s1".into(),
            offering: "f1".into(),
            object_type: "user_role".into(),
            ..Default::default()
        };
        assert_eq!(q.queue_name(), "subscription_s1_offering_f1_user_role");
    }

    #[test]
    fn message_ids_differ_per_delivery() {
        assert_eq!(message_id(1, "{}"), message_id(1, "{}"));
        assert_ne!(message_id(1, "{}"), message_id(2, "{}"));
        assert_eq!(message_id(1, "{}").len(), 16);
    }
}
