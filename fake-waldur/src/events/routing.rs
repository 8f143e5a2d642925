//! Routing: the queues of both schemes that observe an object type for an offering,
//! the body every message carries, and one recorded delivery per queue.

use super::publisher::{message_id, Job};
use super::{DeliveryStatus, NewEvent, PublishedEvent};
use crate::http::{ApiError, ApiResult};
use crate::ids;
use crate::state::World;
use serde_json::{Map, Value};

/// Keeps a long-running binary from growing without bound.
const MAX_PUBLISHED: usize = 10_000;

/// Mastermind only publishes events for offerings of this type.
const SITE_AGENT_OFFERING_TYPE: &str = "Marketplace.Slurm";

/// A queue a message goes to.
struct Target {
    scheme: &'static str,
    vhost: String,
    queue: String,
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EventConsumer, EventSubscriptionQueue};
    use serde_json::json;

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
}
