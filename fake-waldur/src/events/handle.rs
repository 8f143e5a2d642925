//! The test handle's side of events: the broker setting, arbitrary messages and the
//! publication log.

use super::{DeliveryStatus, NewEvent, PublishedEvent, Publisher};
use crate::broker::Broker;
use crate::http::ApiError;
use crate::state::FakeWaldur;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
