//! A seed with registered queues of both schemes, and reading what was published to them.

use fake_waldur::{
    demo, demo_seed, AgentIdentity, EventConsumer, EventSubscription, EventSubscriptionQueue,
    Offering, PublishedEvent, Resource, Seed,
};
use serde_json::Value;

const IDENTITY: &str = "e1000000000000000000000000000001";
const NARROW_IDENTITY: &str = "e1000000000000000000000000000002";
pub const CONSUMER: &str = "e2000000000000000000000000000001";
pub const NARROW_CONSUMER: &str = "e2000000000000000000000000000002";
const SUBSCRIPTION: &str = "e3000000000000000000000000000001";
const BASIC_OFFERING: &str = "e4000000000000000000000000000001";

/// The demo seed plus: an identity observing everything and one observing only orders
/// (both unified), a per-type `order` queue, and a non-SLURM offering with a consumer.
pub fn seed_with_queues() -> Seed {
    let mut seed = demo_seed();
    let identity = |uuid: &str, offering: &str, name: &str| AgentIdentity {
        uuid: uuid.into(),
        offering: offering.into(),
        name: name.into(),
        created_by: Some(demo::STAFF_USER.into()),
        ..Default::default()
    };
    let consumer = |uuid: &str, identity: &str, types: &[&str]| EventConsumer {
        uuid: uuid.into(),
        identity: identity.into(),
        user: demo::STAFF_USER.into(),
        object_types: types.iter().map(|t| t.to_string()).collect(),
        ..Default::default()
    };
    seed.offerings.push(Offering {
        uuid: BASIC_OFFERING.into(),
        name: "VMs".into(),
        customer: demo::CUSTOMER.into(),
        offering_type: "Marketplace.Basic".into(),
        ..Default::default()
    });
    seed.resources.push(Resource {
        uuid: "e5000000000000000000000000000001".into(),
        offering: BASIC_OFFERING.into(),
        project: demo::PROJECT.into(),
        ..Default::default()
    });
    seed.agent_identities = vec![
        identity(IDENTITY, demo::OFFERING, "agent-all"),
        identity(NARROW_IDENTITY, demo::OFFERING, "agent-orders"),
        identity(
            "e1000000000000000000000000000003",
            BASIC_OFFERING,
            "agent-vm",
        ),
    ];
    seed.event_consumers = vec![
        consumer(CONSUMER, IDENTITY, &[]),
        consumer(NARROW_CONSUMER, NARROW_IDENTITY, &["order"]),
        consumer(
            "e2000000000000000000000000000003",
            "e1000000000000000000000000000003",
            &[],
        ),
    ];
    seed.event_subscriptions = vec![EventSubscription {
        uuid: SUBSCRIPTION.into(),
        user: demo::STAFF_USER.into(),
        object_type: "order".into(),
        ..Default::default()
    }];
    seed.event_subscription_queues = vec![EventSubscriptionQueue {
        subscription: SUBSCRIPTION.into(),
        offering: demo::OFFERING.into(),
        object_type: "order".into(),
        ..Default::default()
    }];
    seed
}

pub fn per_type_queue(object_type: &str) -> String {
    format!(
        "subscription_{SUBSCRIPTION}_offering_{}_{object_type}",
        demo::OFFERING
    )
}

/// (queue, body) of each delivery, in order.
pub fn deliveries(log: &[PublishedEvent]) -> Vec<(String, Value)> {
    log.iter()
        .map(|e| (e.queue.clone(), e.json().expect("JSON body")))
        .collect()
}
