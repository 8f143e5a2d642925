//! What one event message asks for. Pure: a body in, an [`Action`] out.
//!
//! A message is a wake-up with a scope, never state: the pass that follows re-reads
//! Waldur for what the message names. The fields used are only the ones that name the
//! scope (and the order states the Python agent skips, which only spares a read: a
//! wrongly skipped order waits for the next full pass). The one exception is
//! `resource_periodic_limits`, whose settings exist only in the message: validated here
//! and stored by the listener ([`crate::periodic::store`]) for the desired side.

use agent_desired::waldur::checked_uuid;
use agent_reconcile::escape;
use serde_json::Value;

use crate::daemon::Wake;
use agent_desired::periodic::StoredSettings;

/// Object types, as Waldur names them.
pub const ORDER: &str = "order";
pub const USER_ROLE: &str = "user_role";
pub const RESOURCE: &str = "resource";
pub const SERVICE_ACCOUNT: &str = "service_account";
pub const COURSE_ACCOUNT: &str = "course_account";
pub const OFFERING_USER: &str = "offering_user";
pub const OFFERING_RESOURCES_SYNC: &str = "offering_resources_sync";
pub const RESOURCE_PERIODIC_LIMITS: &str = "resource_periodic_limits";
pub const RESOURCE_API_KEY_ROTATION: &str = "resource_api_key_rotation";

/// Order states in which an order is not the provider's to act on (as the Python agent).
const IDLE_ORDER_STATES: [&str; 7] = [
    "done",
    "erred",
    "pending-consumer",
    "canceled",
    "rejected",
    "pending-project",
    "pending-start-date",
];

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Wake(Wake),
    /// Store these settings, then wake their resource.
    Periodic(Box<StoredSettings>, Wake),
    /// Nothing to do, and why (logged at info).
    Skip(String),
    /// A message that cannot be understood (logged as a warning).
    Bad(String),
}

fn shown(v: &Value) -> String {
    escape::text(&v.to_string()).to_string()
}

/// A UUID field, `None` when absent, an error text when present but not a UUID.
fn uuid(body: &Value, key: &str) -> Result<Option<String>, String> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_str()
            .and_then(checked_uuid)
            .map(Some)
            .ok_or_else(|| format!("{key} {} is not a UUID", shown(v))),
    }
}

/// Routes one message body of `offering` (UUID hex), received at `received_at` (RFC 3339).
pub fn route(offering: &str, body: &[u8], received_at: &str) -> Action {
    let value: Value = match serde_json::from_slice(body) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => return Action::Bad("the body is not a JSON object".into()),
        Err(e) => return Action::Bad(format!("the body is not JSON: {e}")),
    };
    match route_value(offering, &value, received_at) {
        Ok(a) => a,
        Err(why) => Action::Bad(why),
    }
}

fn route_value(offering: &str, body: &Value, received_at: &str) -> Result<Action, String> {
    let kind = match body.get("object_type") {
        Some(Value::String(s)) => s.as_str(),
        Some(v) => return Err(format!("object_type {} is not a string", shown(v))),
        None => return Err("no object_type".into()),
    };
    if let Some(other) = uuid(body, "offering_uuid")? {
        if other != offering {
            return Ok(Action::Skip(format!(
                "a {kind} event of offering {other}, not this one"
            )));
        }
    }
    let off = || offering.to_string();
    let need = |key: &str| -> Result<String, String> {
        uuid(body, key)?.ok_or_else(|| format!("a {kind} event without {key}"))
    };
    Ok(match kind {
        ORDER => {
            let order = need("order_uuid")?;
            match body.get("order_state").and_then(Value::as_str) {
                Some(state) if IDLE_ORDER_STATES.contains(&state) => {
                    Action::Skip(format!("order {order} is {state}"))
                }
                _ => Action::Wake(Wake::Order {
                    offering: off(),
                    order,
                }),
            }
        }
        USER_ROLE | SERVICE_ACCOUNT | COURSE_ACCOUNT => match uuid(body, "resource_uuid")? {
            Some(resource) => Action::Wake(Wake::Resource {
                offering: off(),
                resource,
            }),
            None => Action::Wake(Wake::Project {
                offering: off(),
                project: need("project_uuid")?,
            }),
        },
        RESOURCE => Action::Wake(Wake::Resource {
            offering: off(),
            resource: need("resource_uuid")?,
        }),
        // A username set or changed reaches every project of the user: the whole offering.
        OFFERING_USER => match body.get("action").and_then(Value::as_str) {
            Some("attribute_update") => {
                Action::Skip("offering-user attributes do not reach SLURM".into())
            }
            _ => Action::Wake(Wake::Offering(off())),
        },
        OFFERING_RESOURCES_SYNC => Action::Wake(Wake::Offering(off())),
        RESOURCE_PERIODIC_LIMITS => {
            let record =
                StoredSettings::from_message(body, received_at).map_err(|e| e.to_string())?;
            let wake = Wake::Resource {
                offering: off(),
                resource: record.resource_uuid.clone(),
            };
            Action::Periodic(Box::new(record), wake)
        }
        RESOURCE_API_KEY_ROTATION => Action::Skip("SLURM resources have no API keys".into()),
        other => Action::Skip(format!(
            "object type {} is not one this agent acts on",
            escape::text(other)
        )),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const OFF: &str = "d0000000000000000000000000000030";
    const R: &str = "e0000000000000000000000000000040";
    const P: &str = "b0000000000000000000000000000020";
    const RECEIVED: &str = "2026-04-01T00:10:03Z";

    fn r(body: Value) -> Action {
        route(OFF, body.to_string().as_bytes(), RECEIVED)
    }

    #[test]
    fn each_type_wakes_its_scope() {
        assert_eq!(
            r(
                json!({"object_type": "order", "order_uuid": R, "order_state": "pending-provider", "offering_uuid": OFF})
            ),
            Action::Wake(Wake::Order {
                offering: OFF.into(),
                order: R.into()
            })
        );
        assert!(matches!(
            r(json!({"object_type": "order", "order_uuid": R, "order_state": "done"})),
            Action::Skip(_)
        ));
        assert_eq!(
            r(
                json!({"object_type": "user_role", "user_uuid": R, "project_uuid": P, "granted": true})
            ),
            Action::Wake(Wake::Project {
                offering: OFF.into(),
                project: P.into()
            })
        );
        assert_eq!(
            r(json!({"object_type": "user_role", "project_uuid": P, "resource_uuid": R})),
            Action::Wake(Wake::Resource {
                offering: OFF.into(),
                resource: R.into()
            })
        );
        let dashed = "e0000000-0000-0000-0000-000000000040";
        assert_eq!(
            r(json!({"object_type": "resource", "resource_uuid": dashed, "paused": true})),
            Action::Wake(Wake::Resource {
                offering: OFF.into(),
                resource: R.into()
            })
        );
        assert_eq!(
            r(json!({"object_type": "offering_resources_sync", "offering_uuid": OFF})),
            Action::Wake(Wake::Offering(OFF.into()))
        );
        assert_eq!(
            r(json!({"object_type": "offering_user", "action": "username_set"})),
            Action::Wake(Wake::Offering(OFF.into()))
        );
        let periodic = r(json!({
            "object_type": "resource_periodic_limits", "resource_uuid": R, "backend_id": "a1",
            "action": "apply_periodic_settings", "timestamp": "2026-04-01T00:10:02",
            "settings": {"fairshare": 5}
        }));
        let Action::Periodic(record, wake) = periodic else {
            panic!("{periodic:?}")
        };
        assert_eq!(record.settings["fairshare"], 5);
        assert_eq!(record.offering_uuid, None, "not sent, so not stored");
        assert_eq!(
            wake,
            Wake::Resource {
                offering: OFF.into(),
                resource: R.into()
            }
        );
    }

    #[test]
    fn odd_messages_are_skipped_or_refused_never_trusted() {
        for (body, bad) in [
            (&b"not json"[..], true),
            (b"[1,2]", true),
            (br#"{"order_uuid": "x"}"#, true),
            (br#"{"object_type": "resource"}"#, true),
            (
                br#"{"object_type": "resource", "resource_uuid": "../x"}"#,
                true,
            ),
            (br#"{"object_type": "order", "order_uuid": 7}"#, true),
            (
                br#"{"object_type": "resource_periodic_limits", "action": "x"}"#,
                true,
            ),
            (br#"{"object_type": "user_lifecycle"}"#, false),
            (br#"{"object_type": "resource_api_key_rotation"}"#, false),
        ] {
            let a = route(OFF, body, RECEIVED);
            match a {
                Action::Bad(_) => assert!(bad, "{a:?}"),
                Action::Skip(_) => assert!(!bad, "{a:?}"),
                other => panic!("{}: {other:?}", String::from_utf8_lossy(body)),
            }
        }
        // Another offering's message is not ours to act on.
        let other = r(json!({"object_type": "resource", "resource_uuid": R,
                            "offering_uuid": "d0000000000000000000000000000031"}));
        assert!(matches!(other, Action::Skip(_)), "{other:?}");
    }
}
