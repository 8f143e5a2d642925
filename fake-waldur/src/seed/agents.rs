//! The agent side of a seed: identities, services, processors and the event
//! queues of both schemes (unified consumers, per-type subscriptions).

use super::rules::{err, one_of, own_uuid, reference, stamp};
use super::SeedError;
use crate::model::*;
use std::collections::HashSet;

fn object_type(kind: &str, value: &str) -> Result<(), SeedError> {
    if OBSERVABLE_OBJECT_TYPES.contains(&value) {
        return Ok(());
    }
    err(format!(
        "{kind}: {value:?} is not one of {OBSERVABLE_OBJECT_TYPES:?}"
    ))
}

/// Agent identities, services, processors and the event queues of both schemes.
pub(super) fn load_agents(
    seed: &mut Seed,
    now: &str,
    offering_ids: &HashSet<String>,
    user_ids: &HashSet<String>,
) -> Result<(), SeedError> {
    let mut identity_ids = HashSet::new();
    let mut names = HashSet::new();
    for i in &mut seed.agent_identities {
        own_uuid("agent_identities", &mut i.uuid, &mut identity_ids)?;
        reference(
            "agent_identities",
            "offering",
            &mut i.offering,
            offering_ids,
        )?;
        if let Some(u) = &mut i.created_by {
            reference("agent_identities", "created_by", u, user_ids)?;
        }
        if i.name.is_empty() || !names.insert(i.name.clone()) {
            return err(format!(
                "agent_identities: empty or duplicate name {:?}",
                i.name
            ));
        }
        stamp(&mut i.created, now);
        stamp(&mut i.modified, now);
    }
    let mut service_ids = HashSet::new();
    for s in &mut seed.agent_services {
        own_uuid("agent_services", &mut s.uuid, &mut service_ids)?;
        reference("agent_services", "identity", &mut s.identity, &identity_ids)?;
        one_of(
            "agent_services",
            "state",
            &mut s.state,
            "Active",
            AGENT_SERVICE_STATES,
        )?;
        stamp(&mut s.created, now);
        stamp(&mut s.modified, now);
    }
    let mut processor_ids = HashSet::new();
    for p in &mut seed.agent_processors {
        own_uuid("agent_processors", &mut p.uuid, &mut processor_ids)?;
        reference("agent_processors", "service", &mut p.service, &service_ids)?;
        stamp(&mut p.created, now);
        stamp(&mut p.modified, now);
    }
    let mut consumer_ids = HashSet::new();
    let mut consumer_identities = HashSet::new();
    for c in &mut seed.event_consumers {
        own_uuid("event_consumers", &mut c.uuid, &mut consumer_ids)?;
        reference(
            "event_consumers",
            "identity",
            &mut c.identity,
            &identity_ids,
        )?;
        reference("event_consumers", "user", &mut c.user, user_ids)?;
        if !consumer_identities.insert(c.identity.clone()) {
            return err(format!("event_consumers: identity {} has two", c.identity));
        }
        for t in &c.object_types {
            object_type("event_consumers.object_types", t)?;
        }
        stamp(&mut c.created, now);
        stamp(&mut c.modified, now);
    }
    let mut subscription_ids = HashSet::new();
    for s in &mut seed.event_subscriptions {
        own_uuid("event_subscriptions", &mut s.uuid, &mut subscription_ids)?;
        reference("event_subscriptions", "user", &mut s.user, user_ids)?;
        object_type("event_subscriptions.object_type", &s.object_type)?;
        stamp(&mut s.created, now);
        stamp(&mut s.modified, now);
    }
    let mut queue_ids = HashSet::new();
    for q in &mut seed.event_subscription_queues {
        own_uuid("event_subscription_queues", &mut q.uuid, &mut queue_ids)?;
        let kind = "event_subscription_queues";
        reference(kind, "subscription", &mut q.subscription, &subscription_ids)?;
        reference(kind, "offering", &mut q.offering, offering_ids)?;
        object_type("event_subscription_queues.object_type", &q.object_type)?;
        stamp(&mut q.created, now);
    }
    Ok(())
}
