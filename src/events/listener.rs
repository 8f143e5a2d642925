//! One offering's listener: register, connect, consume, and keep doing so forever.
//!
//! Registration (identity, then the unified queue, or one queue per object type when
//! Waldur answers `register_queue` with 404) is retried with backoff until it works.
//! Every session that ends is followed by another after a backoff of 250 ms doubling to
//! at most 5 s, with ±25 % jitter, reset once a subscription is confirmed, so the listener
//! is consuming again within seconds of the broker coming back, however long it was away.
//! A refused login or a missing queue registers again first (registration resets the
//! password and declares the queue). Failures are logged (the first few, then one in ten)
//! and never reach the reconcile loop, which goes on with its interval.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use agent_config::Offering;
use agent_desired::client::agents::QueueLogin;
use agent_desired::client::WaldurClient;
use futures::future::select_all;
use futures::FutureExt;

use super::route::{route, Action};
use super::socket::{self, End, Endpoint, Handler};
use super::stomp::Frame;
use crate::daemon::WakeHandle;
use crate::periodic::{FileSettings, Put};

const FIRST_DELAY: Duration = Duration::from_millis(250);
const MAX_DELAY: Duration = Duration::from_secs(5);

/// Exponential backoff with jitter.
pub struct Backoff {
    next: Duration,
    pub failures: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            next: FIRST_DELAY,
            failures: 0,
        }
    }
}

impl Backoff {
    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        self.failures += 1;
        let base = self.next;
        self.next = (self.next * 2).min(MAX_DELAY);
        // ±25 %: listeners of several offerings do not retry in step.
        let jitter = (random() % 501) as f64 / 1000.0 - 0.25;
        base.mul_f64(1.0 + jitter)
    }

    pub fn reset(&mut self) {
        *self = Backoff::default();
    }

    /// Whether this failure is worth a warning: the first three, then one in ten.
    pub fn loud(&self) -> bool {
        self.failures <= 3 || self.failures.is_multiple_of(10)
    }
}

/// A random number from the standard library's per-process hash keys.
fn random() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.finish()
}

pub struct Listener {
    pub offering: Offering,
    pub client: WaldurClient,
    pub endpoint: Endpoint,
    pub object_types: Vec<&'static str>,
    pub wake: WakeHandle,
    pub store: std::sync::Arc<FileSettings>,
    /// When the agent started (the identity's `last_restarted`).
    pub started: String,
    /// Told when the stream of this offering comes up or goes down (`/metrics`).
    pub on_stream: super::OnStream,
}

impl Listener {
    /// Runs until the task is dropped.
    pub async fn run(self) {
        let mut backoff = Backoff::default();
        loop {
            let logins = match self.register().await {
                Ok(l) => l,
                Err(e) => {
                    let delay = backoff.next_delay();
                    if backoff.loud() {
                        tracing::warn!(offering = %self.offering.name, attempt = backoff.failures, ?delay, "cannot register the event queue: {e:#}; events wait, the reconcile loop goes on");
                    }
                    tokio::time::sleep(delay).await;
                    continue;
                }
            };
            backoff.reset();
            // One consumer per queue; the first that needs a new registration stops all.
            let consumers = logins.iter().map(|l| self.consume(l).boxed());
            let (why, _, _) = select_all(consumers).await;
            tracing::warn!(offering = %self.offering.name, "{why}; registering the event queue again");
        }
    }

    /// Identity, then the unified queue, or the per-type queues of an older Waldur.
    async fn register(&self) -> anyhow::Result<Vec<QueueLogin>> {
        let c = &self.client;
        let identity = c
            .register_identity(&self.offering.uuid, &self.started)
            .await?;
        if let Some(q) = c.register_queue(&identity, &self.object_types).await? {
            tracing::info!(offering = %self.offering.name, queue = %q.queue, types = ?self.object_types, "registered the event queue");
            return Ok(vec![q]);
        }
        tracing::info!(offering = %self.offering.name, "Waldur has no register_queue (404): one queue per object type, the older scheme");
        let mut logins = Vec::new();
        for t in &self.object_types {
            match c
                .register_type_queue(&identity, &self.offering.uuid, t)
                .await
            {
                Ok(q) => logins.push(q),
                // As the Python agent: a type whose queue cannot be made is skipped.
                Err(e) => {
                    tracing::warn!(offering = %self.offering.name, object_type = t, "cannot register the {t} queue: {e}; those events wait for the cycle")
                }
            }
        }
        if logins.is_empty() {
            anyhow::bail!("no per-type queue could be registered");
        }
        Ok(logins)
    }

    /// Sessions on one queue until one needs a new registration; returns why.
    async fn consume(&self, login: &QueueLogin) -> String {
        let mut backoff = Backoff::default();
        let mut down_since: Option<Instant> = None;
        loop {
            let mut h = Messages {
                listener: self,
                queue: &login.queue,
                backoff: &mut backoff,
                down_since: &mut down_since,
            };
            let end =
                socket::session(&self.endpoint, login, &self.offering.api_token, &mut h).await;
            (self.on_stream)(&self.offering.uuid, false);
            match end {
                End::Refused(why) | End::QueueGone(why) => return why,
                End::Dropped(why) => {
                    down_since.get_or_insert_with(Instant::now);
                    let delay = backoff.next_delay();
                    if backoff.loud() {
                        tracing::warn!(offering = %self.offering.name, queue = %login.queue, attempt = backoff.failures, ?delay, "event stream down: {why}; reconnecting");
                    } else {
                        tracing::debug!(offering = %self.offering.name, queue = %login.queue, attempt = backoff.failures, ?delay, "event stream down: {why}; reconnecting");
                    }
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }
}

/// What one session's frames do.
struct Messages<'a> {
    listener: &'a Listener,
    queue: &'a str,
    backoff: &'a mut Backoff,
    down_since: &'a mut Option<Instant>,
}

impl Handler for Messages<'_> {
    fn subscribed(&mut self) {
        let name = &self.listener.offering.name;
        match self.down_since.take() {
            Some(since) => {
                tracing::info!(offering = %name, queue = %self.queue, after = ?since.elapsed(), attempts = self.backoff.failures, "event stream back")
            }
            None => {
                tracing::info!(offering = %name, queue = %self.queue, url = %self.listener.endpoint.url, "listening to events")
            }
        }
        self.backoff.reset();
        (self.listener.on_stream)(&self.listener.offering.uuid, true);
    }

    fn message(&mut self, frame: Frame) {
        let l = self.listener;
        let name = &l.offering.name;
        let received_at = jiff::Timestamp::now().to_string();
        match route(&l.offering.uuid, &frame.body, &received_at) {
            Action::Wake(w) => {
                tracing::info!(offering = %name, wake = ?w, "event");
                l.wake.wake(w);
            }
            Action::Periodic(record, w) => {
                let sent = record.timestamp.as_deref().unwrap_or("-");
                match l.store.put(&record) {
                    Ok(Put::Stored) => {
                        tracing::info!(offering = %name, resource = %record.resource_uuid, timestamp = %sent, "periodic settings stored")
                    }
                    Ok(Put::KeptNewer) => {
                        tracing::info!(offering = %name, resource = %record.resource_uuid, timestamp = %sent, "periodic settings not newer than the stored ones; kept the stored")
                    }
                    Err(e) => {
                        tracing::error!(offering = %name, "cannot store periodic settings: {e:#}")
                    }
                }
                l.wake.wake(w);
            }
            Action::Skip(why) => tracing::info!(offering = %name, "event skipped: {why}"),
            Action::Bad(why) => {
                tracing::warn!(offering = %name, queue = %self.queue, "event dropped: {why}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_five_seconds_with_jitter() {
        let mut b = Backoff::default();
        let delays: Vec<Duration> = (0..8).map(|_| b.next_delay()).collect();
        assert!(delays[0] >= Duration::from_millis(187) && delays[0] <= Duration::from_millis(313));
        assert!(delays.iter().all(|d| *d <= Duration::from_millis(6250)));
        assert!(delays[7] >= Duration::from_millis(3750));
        // Within 10 s of the broker coming back, whatever the outage: the wait never
        // exceeds the cap.
        let total: Duration = delays.iter().sum();
        assert!(total < Duration::from_secs(40), "{total:?}");
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(313));
    }
}
