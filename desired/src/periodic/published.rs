//! Settings Waldur published for a resource (a `resource_periodic_limits` message) as the
//! agent keeps them, and what of them it applies.
//!
//! Read from `settings`: `fairshare`, `limit_type`, the limit map (`grp_tres_mins`, else
//! `max_tres_mins`, else `grp_tres`, as Mastermind names them), `reset_raw_usage`.
//! Ignored on purpose: `qos_threshold`, `grace_limit` (QoS follows the resource's
//! paused/downscaled flags, never a periodic message) and `carryover_details`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use agent_config::LimitType;
use agent_reconcile::tres::{self, TresMap};

use super::policy::parse_limit_type;
use crate::limits::MAX_TRES_MINUTES;
use crate::waldur::checked_uuid;

/// Version of the stored-settings file format.
pub const STORED_FORMAT: u32 = 1;

/// One stored message: the file `<agent.state_dir>/periodic/settings/<resource-uuid>.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredSettings {
    /// [`STORED_FORMAT`].
    pub format: u32,
    /// 32 lower-case hex digits.
    pub resource_uuid: String,
    /// The SLURM account the message names.
    #[serde(default)]
    pub backend_id: Option<String>,
    #[serde(default)]
    pub policy_uuid: Option<String>,
    #[serde(default)]
    pub offering_uuid: Option<String>,
    /// Mastermind's `timestamp`, as sent (its local time, no offset).
    #[serde(default)]
    pub timestamp: Option<String>,
    /// When the agent received it, RFC 3339 in UTC: decides which period it belongs to.
    pub received_at: String,
    /// The message's `settings` object, as sent.
    pub settings: Value,
}

/// Why a message cannot be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid periodic limits message: {0}")]
pub struct MessageError(pub String);

impl StoredSettings {
    /// A `resource_periodic_limits` message body, checked, as it is stored.
    pub fn from_message(body: &Value, received_at: &str) -> Result<StoredSettings, MessageError> {
        let bad = |why: &str| MessageError(why.to_string());
        let text = |key: &str| body.get(key).and_then(Value::as_str).map(str::to_string);
        if text("action").as_deref() != Some("apply_periodic_settings") {
            return Err(bad("action is not apply_periodic_settings"));
        }
        let resource_uuid = text("resource_uuid")
            .as_deref()
            .and_then(checked_uuid)
            .ok_or_else(|| bad("resource_uuid is missing or not a UUID"))?;
        let backend_id = text("backend_id").filter(|b| !b.is_empty());
        match &backend_id {
            None => return Err(bad("backend_id is missing")),
            Some(b)
                if !agent_reconcile::names::writable(
                    agent_reconcile::names::NameKind::Account,
                    b,
                ) =>
            {
                return Err(MessageError(format!(
                    "backend_id {:?} is not a SLURM account name",
                    agent_reconcile::escape::text(b)
                )))
            }
            Some(_) => {}
        }
        let settings = body
            .get("settings")
            .filter(|s| s.is_object())
            .cloned()
            .ok_or_else(|| bad("settings is not an object"))?;
        // Refused on receipt, not only when planned: a bad message is dropped with a
        // warning and never replaces good settings stored before it.
        parse(&settings).map_err(MessageError)?;
        Ok(StoredSettings {
            format: STORED_FORMAT,
            resource_uuid,
            backend_id,
            policy_uuid: text("policy_uuid").as_deref().and_then(checked_uuid),
            offering_uuid: text("offering_uuid").as_deref().and_then(checked_uuid),
            timestamp: text("timestamp"),
            received_at: received_at.to_string(),
            settings,
        })
    }

    /// Whether this message is newer than `other` (Mastermind's timestamps when both
    /// have one, else the time each was received). An older message never replaces a
    /// newer one; the same message received twice is not newer.
    pub fn is_newer_than(&self, other: &StoredSettings) -> bool {
        match (comparable(&self.timestamp), comparable(&other.timestamp)) {
            (Some(a), Some(b)) => a > b,
            _ => self.received_at > other.received_at,
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.ffffff]` (what Python's `isoformat()` writes) compares as text.
fn comparable(ts: &Option<String>) -> Option<&str> {
    let t = ts.as_deref()?;
    let b = t.as_bytes();
    let shape = b.len() >= 19
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && t[19..].chars().all(|c| c == '.' || c.is_ascii_digit());
    shape.then_some(t)
}

/// What of the published settings is applied.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Published {
    /// `None` when absent or 0 (0 is never applied: Mastermind's formula gives at least 1).
    pub fairshare: Option<u32>,
    pub fairshare_zero: bool,
    /// `limit_type` of the message, else the type its map's key names.
    pub limit_type: Option<LimitType>,
    /// The TRES the message names (an empty map names none: nothing to change).
    pub limits: TresMap,
    pub reset_raw_usage: bool,
}

fn whole(key: &str, v: &Value) -> Result<u64, String> {
    let n = match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= MAX_TRES_MINUTES)
                .map(|f| f as u64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    n.filter(|n| (*n as f64) <= MAX_TRES_MINUTES)
        .ok_or_else(|| {
            format!(
                "{key} {} is not a whole non-negative number",
                agent_reconcile::escape::text(&v.to_string())
            )
        })
}

/// The applied part of a message's `settings`; an invalid value is an error naming it.
pub fn parse(settings: &Value) -> Result<Published, String> {
    let mut out = Published::default();
    let Some(map) = settings.as_object() else {
        return Err("settings is not an object".into());
    };
    match map.get("fairshare") {
        None | Some(Value::Null) => {}
        Some(v) => {
            let n = whole("fairshare", v)?;
            out.fairshare_zero = n == 0;
            out.fairshare = match u32::try_from(n) {
                Ok(0) => None,
                Ok(n) => Some(n),
                Err(_) => return Err(format!("fairshare {n} is above SLURM's maximum")),
            };
        }
    }
    out.limit_type = match map.get("limit_type") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(parse_limit_type(s).ok_or_else(|| {
            format!(
                "limit_type {:?} is not one of GrpTRESMins, MaxTRESMins, GrpTRES",
                agent_reconcile::escape::text(s)
            )
        })?),
        Some(v) => return Err(format!("limit_type {v} is not text")),
    };
    for (key, kind) in [
        ("grp_tres_mins", LimitType::GrpTresMins),
        ("max_tres_mins", LimitType::MaxTresMins),
        ("grp_tres", LimitType::GrpTres),
    ] {
        let entries = match map.get(key) {
            None | Some(Value::Null) => continue,
            Some(Value::Object(m)) if m.is_empty() => continue,
            Some(Value::Object(m)) => m,
            Some(v) => return Err(format!("{key} {v} is not an object")),
        };
        for (tres_name, v) in entries {
            if !tres::valid_name(tres_name) {
                return Err(format!(
                    "{key} names TRES {:?}, which is not a TRES name",
                    agent_reconcile::escape::text(tres_name)
                ));
            }
            out.limits
                .insert(tres_name.clone(), whole(&format!("{key}.{tres_name}"), v)?);
        }
        out.limit_type.get_or_insert(kind);
        break;
    }
    out.reset_raw_usage = match map.get("reset_raw_usage") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(v) => return Err(format!("reset_raw_usage {v} is not true or false")),
    };
    Ok(out)
}
