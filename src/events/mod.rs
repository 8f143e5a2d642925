//! Waldur's event stream: STOMP 1.2 over WebSocket from RabbitMQ's web-STOMP, one
//! listener per offering with `stomp_enabled`, waking the daemon with the scope each
//! message names. Events only say what to re-read; the periodic full pass stays the
//! truth, so a lost message costs latency, never correctness.
//!
//! - [`stomp`]: the frame codec (frames, header escaping, NUL-terminated bodies,
//!   heart-beats, frames split across WebSocket messages);
//! - [`socket`]: one session: connect, log in, subscribe, consume, heart-beats;
//! - [`listener`]: registration (unified queue, or per-type on an older Waldur) and the
//!   reconnect loop with backoff;
//! - [`route`]: what one message asks for (a wake-up with a scope, stored periodic
//!   settings, or nothing).

pub mod listener;
pub mod route;
pub mod socket;
pub mod stomp;

use agent_config::{Config, Offering};
use tokio::task::JoinHandle;

use crate::daemon::WakeHandle;
use crate::sides::live::WaldurClients;
use listener::Listener;
use route::*;

/// The object types an offering's config implies (waldur-api.md §5.1), minus resource
/// import, which this agent does not do.
pub fn object_types(o: &Offering) -> Vec<&'static str> {
    let mut types = Vec::new();
    if o.order_processing {
        types.extend([ORDER, RESOURCE_API_KEY_ROTATION]);
    }
    if o.events.membership {
        types.extend([
            USER_ROLE,
            RESOURCE,
            SERVICE_ACCOUNT,
            COURSE_ACCOUNT,
            OFFERING_USER,
            OFFERING_RESOURCES_SYNC,
        ]);
    }
    if o.slurm.periodic_limits.enabled {
        types.push(RESOURCE_PERIODIC_LIMITS);
    }
    types
}

/// Called with (offering UUID, connected) when an offering's event stream comes up or
/// goes down.
pub type OnStream = std::sync::Arc<dyn Fn(&str, bool) + Send + Sync>;

/// Starts a listener for every selected offering with `stomp_enabled`; they run until
/// their handles are aborted (or the runtime ends).
pub fn spawn(
    config: &Config,
    selection: Option<&str>,
    clients: &WaldurClients,
    wake: &WakeHandle,
    on_stream: OnStream,
) -> Vec<JoinHandle<()>> {
    let started = jiff::Timestamp::now().to_string();
    let store = std::sync::Arc::new(crate::periodic::FileSettings::new(&config.agent.state_dir));
    let mut handles = Vec::new();
    for o in &config.offerings {
        if !o.events.enabled || selection.is_some_and(|s| !crate::groups::selects(o, s)) {
            continue;
        }
        let object_types = object_types(o);
        if object_types.is_empty() {
            tracing::warn!(offering = %o.name, "stomp_enabled, but neither orders, memberships nor periodic limits are processed: no events to listen to");
            continue;
        }
        let Some(client) = clients.get(&o.uuid) else {
            continue;
        };
        let listener = Listener {
            offering: o.clone(),
            client: client.clone(),
            endpoint: socket::Endpoint {
                url: o.events.url(),
                verify_tls: o.verify_ssl,
            },
            object_types,
            wake: wake.clone(),
            store: store.clone(),
            started: started.clone(),
            on_stream: on_stream.clone(),
        };
        on_stream(&o.uuid, false);
        handles.push(tokio::spawn(listener.run()));
    }
    handles
}
