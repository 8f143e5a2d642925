//! The shared in-memory state and the handle tests hold on to.

use crate::clock;
use crate::events::{EventLog, Publisher};
use crate::faults::{FaultRule, FaultSpec};
use crate::model::*;
use crate::seed::{self, SeedError};
use serde::Serialize;
use serde_json::Value;
use std::sync::{Arc, Mutex, MutexGuard};

/// Keeps a long-running binary from growing without bound.
const MAX_LOGGED_REQUESTS: usize = 10_000;

/// One served `/api/` request. The token value is never recorded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoggedRequest {
    pub seq: u64,
    pub method: String,
    pub path: String,
    /// Raw query string ("" if none).
    pub query: String,
    pub status: u16,
    /// Whether an `Authorization` header was sent.
    pub authorization: bool,
    pub user_agent: Option<String>,
    /// JSON body (or the raw text if not JSON; `null` if empty).
    pub body: Value,
    /// Name of the injected fault, if one answered or altered this request.
    pub fault: Option<String>,
}

#[derive(Debug, Default)]
pub struct World {
    pub data: Seed,
    pub requests: Vec<LoggedRequest>,
    pub faults: Vec<FaultRule>,
    pub next_seq: u64,
    pub next_fault_id: u64,
    /// What was published to the broker (or would have been, without one).
    pub events: EventLog,
    /// The broker connection; `None` = no broker configured.
    pub(crate) publisher: Option<Publisher>,
}

/// "Now" as Waldur prints it, honouring a frozen clock.
pub fn now_iso(settings: &Settings) -> String {
    clock::format_datetime(now_micros(settings))
}

pub fn now_micros(settings: &Settings) -> i64 {
    settings
        .now
        .as_deref()
        .and_then(|n| clock::parse_datetime(n, settings.utc_offset_minutes))
        .unwrap_or_else(clock::system_now)
}

impl World {
    pub fn now(&self) -> String {
        now_iso(&self.data.settings)
    }
    pub fn now_micros(&self) -> i64 {
        now_micros(&self.data.settings)
    }
    pub fn user(&self, uuid: &str) -> Option<&User> {
        self.data.users.iter().find(|u| u.uuid == uuid)
    }
    pub fn user_by_token(&self, token: &str) -> Option<&User> {
        self.data
            .users
            .iter()
            .find(|u| u.token.as_deref() == Some(token))
    }
    pub fn customer(&self, uuid: &str) -> Option<&Customer> {
        self.data.customers.iter().find(|c| c.uuid == uuid)
    }
    pub fn project(&self, uuid: &str) -> Option<&Project> {
        self.data.projects.iter().find(|p| p.uuid == uuid)
    }
    pub fn offering(&self, uuid: &str) -> Option<&Offering> {
        self.data.offerings.iter().find(|o| o.uuid == uuid)
    }
    pub fn offering_user(&self, uuid: &str) -> Option<&OfferingUser> {
        self.data.offering_users.iter().find(|o| o.uuid == uuid)
    }
    pub fn offering_user_for(&self, offering: &str, user: &str) -> Option<&OfferingUser> {
        self.data
            .offering_users
            .iter()
            .find(|o| o.offering == offering && o.user == user)
    }
    pub fn resource(&self, uuid: &str) -> Option<&Resource> {
        self.data.resources.iter().find(|r| r.uuid == uuid)
    }
    pub fn resource_mut(&mut self, uuid: &str) -> Option<&mut Resource> {
        self.data.resources.iter_mut().find(|r| r.uuid == uuid)
    }
    pub fn order(&self, uuid: &str) -> Option<&Order> {
        self.data.orders.iter().find(|o| o.uuid == uuid)
    }
    pub fn order_mut(&mut self, uuid: &str) -> Option<&mut Order> {
        self.data.orders.iter_mut().find(|o| o.uuid == uuid)
    }
    pub fn usage(&self, uuid: &str) -> Option<&ComponentUsage> {
        self.data.component_usages.iter().find(|c| c.uuid == uuid)
    }
    pub fn agent_identity(&self, uuid: &str) -> Option<&AgentIdentity> {
        self.data.agent_identities.iter().find(|i| i.uuid == uuid)
    }
    pub fn agent_service(&self, uuid: &str) -> Option<&AgentService> {
        self.data.agent_services.iter().find(|s| s.uuid == uuid)
    }
    pub fn agent_processor(&self, uuid: &str) -> Option<&AgentProcessor> {
        self.data.agent_processors.iter().find(|p| p.uuid == uuid)
    }
    pub fn event_subscription(&self, uuid: &str) -> Option<&EventSubscription> {
        self.data
            .event_subscriptions
            .iter()
            .find(|s| s.uuid == uuid)
    }
    /// The vhost of a per-type queue: its subscription user's UUID.
    pub fn subscription_vhost(&self, q: &EventSubscriptionQueue) -> String {
        self.event_subscription(&q.subscription)
            .map(|s| s.user.clone())
            .unwrap_or_default()
    }

    pub fn log_request(&mut self, entry: LoggedRequest) {
        if self.requests.len() >= MAX_LOGGED_REQUESTS {
            self.requests.remove(0);
        }
        self.requests.push(entry);
    }
}

/// Cheap-to-clone handle on the fake's state, shared with the server.
#[derive(Clone, Debug, Default)]
pub struct FakeWaldur {
    pub(crate) inner: Arc<Mutex<World>>,
}

impl FakeWaldur {
    pub fn new(seed: Seed) -> Result<Self, SeedError> {
        let data = seed::load(seed)?;
        Ok(FakeWaldur {
            inner: Arc::new(Mutex::new(World {
                data,
                ..Default::default()
            })),
        })
    }

    fn lock(&self) -> MutexGuard<'_, World> {
        // A panicking handler must not wedge every later test request.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn read<R>(&self, f: impl FnOnce(&World) -> R) -> R {
        f(&self.lock())
    }

    pub fn write<R>(&self, f: impl FnOnce(&mut World) -> R) -> R {
        f(&mut self.lock())
    }

    /// Replaces all data and clears the request log, the faults and the published
    /// events; the broker setting stays.
    pub fn reseed(&self, seed: Seed) -> Result<(), SeedError> {
        let data = seed::load(seed)?;
        self.write(|w| {
            *w = World {
                data,
                next_seq: w.next_seq,
                events: EventLog {
                    next_seq: w.events.next_seq,
                    ..Default::default()
                },
                publisher: w.publisher.take(),
                ..Default::default()
            }
        });
        Ok(())
    }

    /// The current data, in seed format.
    pub fn snapshot(&self) -> Seed {
        self.read(|w| w.data.clone())
    }

    pub fn order(&self, uuid: &str) -> Option<Order> {
        let uuid = crate::ids::normalize(uuid)?;
        self.read(|w| w.order(&uuid).cloned())
    }

    pub fn resource(&self, uuid: &str) -> Option<Resource> {
        let uuid = crate::ids::normalize(uuid)?;
        self.read(|w| w.resource(&uuid).cloned())
    }

    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.read(|w| w.requests.clone())
    }

    pub fn clear_requests(&self) {
        self.write(|w| w.requests.clear());
    }

    /// Installs a fault rule; returns its id.
    pub fn add_fault(&self, spec: FaultSpec) -> u64 {
        self.write(|w| {
            w.next_fault_id += 1;
            let id = w.next_fault_id;
            w.faults.push(FaultRule::new(id, spec));
            id
        })
    }

    pub fn clear_faults(&self) {
        self.write(|w| w.faults.clear());
    }

    /// Delay added to every `/api/` request (0: none).
    pub fn set_latency_ms(&self, ms: u64) {
        self.write(|w| w.data.settings.latency_ms = ms);
    }

    /// Freezes the clock at an ISO datetime, or unfreezes it with `None`.
    pub fn set_now(&self, now: Option<&str>) -> Result<(), SeedError> {
        self.write(|w| {
            let s = &mut w.data.settings;
            s.now = match now {
                None => None,
                Some(n) => Some(clock::format_datetime(
                    clock::parse_datetime(n, s.utc_offset_minutes)
                        .ok_or_else(|| SeedError(format!("bad datetime {n:?}")))?,
                )),
            };
            Ok(())
        })
    }
}
