//! The publisher thread: posts each delivery to the RabbitMQ management API and records
//! the broker's answer in the delivery's status, never blocking the REST call behind it.

use super::DeliveryStatus;
use crate::broker::{Broker, Management};
use crate::state::World;
use std::fmt;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Mutex, Weak};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

/// One delivery for the publisher thread.
pub(super) struct Job {
    pub(super) seq: u64,
    pub(super) vhost: String,
    pub(super) queue: String,
    pub(super) body: String,
    pub(super) message_id: String,
}

/// The broker setting and the channel to its publisher thread.
pub(crate) struct Publisher {
    pub(crate) broker: Broker,
    pub(super) tx: UnboundedSender<Job>,
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
    pub(super) fn start(broker: Broker, world: Weak<Mutex<World>>) -> Self {
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

/// Also the `x-message-id` header: the same body in another delivery gets another id.
pub(super) fn message_id(seq: u64, body: &str) -> String {
    let mut h = DefaultHasher::new();
    seq.hash(&mut h);
    body.hash(&mut h);
    format!("{:016x}", h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_ids_differ_per_delivery() {
        assert_eq!(message_id(1, "{}"), message_id(1, "{}"));
        assert_ne!(message_id(1, "{}"), message_id(2, "{}"));
        assert_eq!(message_id(1, "{}").len(), 16);
    }
}
