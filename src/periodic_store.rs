//! Periodic-limit settings as Waldur publishes them (`resource_periodic_limits` events),
//! kept under `agent.state_dir` until the desired side can plan them.
//!
//! These are the one kind of event whose content is state: Mastermind computes a
//! resource's fairshare and TRES-minute limits for the period and sends them only as a
//! message (re-sent every 10 minutes while they change). Every field and id is validated
//! before anything is written; unknown settings are named, not kept. One file per
//! resource, `periodic/<resource uuid hex>.json`, written atomically (a temporary file in
//! the same directory, synced, then renamed), holding the settings and the message's
//! timestamp: a message older than the stored one never overwrites it, and the same one
//! again changes nothing.
//!
//! Nothing reads the store into a plan yet: the periodic-limits feature will read it in
//! the desired side (`load`) and plan fairshare, limits and the RawUsage reset through
//! the one planner. Until then `backend_settings.periodic_limits.enabled` stays listed as
//! without effect.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use agent_desired::waldur::checked_uuid;
use agent_reconcile::escape;
use agent_reconcile::names::{self, NameKind};
use anyhow::{Context, Result};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Format of the stored file.
const VERSION: u32 = 1;

/// Settings keys read; others (`carryover_details`, ...) are informational.
const KNOWN: [&str; 8] = [
    "fairshare",
    "limit_type",
    "grp_tres_mins",
    "max_tres_mins",
    "grp_tres",
    "reset_raw_usage",
    "qos_threshold",
    "grace_limit",
];

/// One resource's settings for the period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub version: u32,
    /// UUID hex.
    pub resource_uuid: String,
    pub offering_uuid: String,
    /// The SLURM account the settings are for.
    pub backend_id: String,
    /// Where to report the result (P1); older Mastermind does not send it.
    pub policy_uuid: Option<String>,
    /// When Mastermind computed them (RFC 3339, UTC): what orders two messages.
    pub timestamp: Timestamp,
    pub settings: Settings,
    /// Settings keys the message had that are not kept.
    pub ignored: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub fairshare: Option<u32>,
    /// `GrpTRESMins`, `MaxTRESMins` or `GrpTRES`.
    pub limit_type: Option<String>,
    pub grp_tres_mins: Option<BTreeMap<String, u64>>,
    pub max_tres_mins: Option<BTreeMap<String, u64>>,
    pub grp_tres: Option<BTreeMap<String, u64>>,
    pub reset_raw_usage: bool,
    pub qos_threshold: Option<BTreeMap<String, f64>>,
    pub grace_limit: Option<BTreeMap<String, f64>>,
}

/// What saving a record did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Saved {
    Stored,
    /// The stored record is the same message.
    Same,
    /// The stored record is newer (an out-of-order message).
    Older {
        stored: Timestamp,
    },
}

/// Why a message cannot be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("resource_periodic_limits message: {0}")]
pub struct Invalid(pub String);

fn bad(s: impl Into<String>) -> Invalid {
    Invalid(s.into())
}

fn shown(v: &Value) -> String {
    escape::text(&v.to_string()).to_string()
}

fn uuid(body: &Value, key: &str) -> Result<Option<String>, Invalid> {
    match body.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => checked_uuid(s).map(Some).ok_or_else(|| {
            bad(format!(
                "{key} {} is not a UUID",
                shown(&Value::from(s.as_str()))
            ))
        }),
        Some(v) => Err(bad(format!("{key} {} is not a UUID", shown(v)))),
    }
}

/// A TRES map: names as SLURM writes them, values whole and not negative.
fn tres_map<T>(
    v: &Value,
    key: &str,
    value: impl Fn(&Value) -> Option<T>,
) -> Result<BTreeMap<String, T>, Invalid> {
    let Value::Object(m) = v else {
        return Err(bad(format!("settings.{key} is not a mapping")));
    };
    let mut out = BTreeMap::new();
    for (tres, n) in m {
        let name_ok = !tres.is_empty()
            && tres.len() <= 64
            && tres.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'/' | b'_' | b'-')
            });
        if !name_ok {
            return Err(bad(format!(
                "settings.{key} names TRES {}, which is not a TRES name",
                shown(&Value::from(tres.as_str()))
            )));
        }
        let n = value(n).ok_or_else(|| {
            bad(format!(
                "settings.{key}.{tres} = {} is not a non-negative number",
                shown(n)
            ))
        })?;
        out.insert(tres.clone(), n);
    }
    Ok(out)
}

fn whole(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| *f >= 0.0 && f.fract() == 0.0 && *f < 1e18)
                .map(|f| f as u64)
        }),
        _ => None,
    }
}

fn amount(v: &Value) -> Option<f64> {
    v.as_f64().filter(|f| f.is_finite() && *f >= 0.0)
}

/// Mastermind's `timestamp`: ISO 8601, with an offset or naive (then UTC).
fn timestamp(v: Option<&Value>) -> Result<Timestamp, Invalid> {
    let Some(Value::String(s)) = v else {
        return Err(bad("no timestamp: two messages could not be ordered"));
    };
    if let Ok(t) = s.parse::<Timestamp>() {
        return Ok(t);
    }
    s.parse::<jiff::civil::DateTime>()
        .ok()
        .and_then(|dt| jiff::tz::TimeZone::UTC.to_timestamp(dt).ok())
        .ok_or_else(|| {
            bad(format!(
                "timestamp {} is not an ISO 8601 time",
                shown(&Value::from(s.as_str()))
            ))
        })
}

impl Record {
    /// Validates a message of `offering` (UUID hex).
    pub fn from_message(offering: &str, body: &Value) -> Result<Record, Invalid> {
        match body.get("action").and_then(Value::as_str) {
            Some("apply_periodic_settings") => {}
            other => {
                return Err(bad(format!(
                    "action {} is not apply_periodic_settings",
                    shown(&other.map(Value::from).unwrap_or(Value::Null))
                )))
            }
        }
        let resource_uuid = uuid(body, "resource_uuid")?.ok_or_else(|| bad("no resource_uuid"))?;
        let policy_uuid = uuid(body, "policy_uuid")?;
        let backend_id = match body.get("backend_id") {
            Some(Value::String(b)) if names::writable(NameKind::Account, b) => b.clone(),
            Some(v) => {
                return Err(bad(format!(
                    "backend_id {} is not a SLURM account name",
                    shown(v)
                )))
            }
            None => return Err(bad("no backend_id")),
        };
        let timestamp = timestamp(body.get("timestamp"))?;
        let Some(Value::Object(raw)) = body.get("settings") else {
            return Err(bad("settings is not a mapping"));
        };
        let mut s = Settings::default();
        for (key, v) in raw {
            if v.is_null() {
                continue;
            }
            match key.as_str() {
                "fairshare" => {
                    s.fairshare = Some(whole(v).and_then(|n| u32::try_from(n).ok()).ok_or_else(
                        || {
                            bad(format!(
                                "settings.fairshare {} is not a share count",
                                shown(v)
                            ))
                        },
                    )?)
                }
                "limit_type" => match v.as_str() {
                    Some(t @ ("GrpTRESMins" | "MaxTRESMins" | "GrpTRES")) => {
                        s.limit_type = Some(t.to_string())
                    }
                    _ => {
                        return Err(bad(format!(
                            "settings.limit_type {} is not GrpTRESMins, MaxTRESMins or GrpTRES",
                            shown(v)
                        )))
                    }
                },
                "grp_tres_mins" => s.grp_tres_mins = Some(tres_map(v, key, whole)?),
                "max_tres_mins" => s.max_tres_mins = Some(tres_map(v, key, whole)?),
                "grp_tres" => s.grp_tres = Some(tres_map(v, key, whole)?),
                "qos_threshold" => s.qos_threshold = Some(tres_map(v, key, amount)?),
                "grace_limit" => s.grace_limit = Some(tres_map(v, key, amount)?),
                "reset_raw_usage" => {
                    s.reset_raw_usage = v.as_bool().ok_or_else(|| {
                        bad(format!(
                            "settings.reset_raw_usage {} is not true or false",
                            shown(v)
                        ))
                    })?
                }
                _ => {}
            }
        }
        let ignored = raw
            .keys()
            .filter(|k| !KNOWN.contains(&k.as_str()))
            .map(|k| escape::text(k).to_string())
            .collect();
        Ok(Record {
            version: VERSION,
            resource_uuid,
            offering_uuid: offering.to_string(),
            backend_id,
            policy_uuid,
            timestamp,
            settings: s,
            ignored,
        })
    }
}

/// The store under `agent.state_dir`.
#[derive(Debug, Clone)]
pub struct PeriodicStore {
    dir: PathBuf,
}

impl PeriodicStore {
    pub fn new(state_dir: &Path) -> Self {
        PeriodicStore {
            dir: state_dir.join("periodic"),
        }
    }

    /// The file of one resource (UUID hex, already checked).
    pub fn path(&self, resource_uuid: &str) -> PathBuf {
        self.dir.join(format!("{resource_uuid}.json"))
    }

    /// The stored record of a resource, if any. A file that cannot be read or parsed is an
    /// error naming it (never silently "no settings").
    pub fn load(&self, resource_uuid: &str) -> Result<Option<Record>> {
        let path = self.path(resource_uuid);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        let record: Record = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a periodic-settings record", path.display()))?;
        Ok(Some(record))
    }

    /// Stores a record unless the stored one is the same message or newer.
    pub fn save(&self, record: &Record) -> Result<Saved> {
        if let Some(stored) = self.load(&record.resource_uuid)? {
            if stored.timestamp > record.timestamp {
                return Ok(Saved::Older {
                    stored: stored.timestamp,
                });
            }
            if stored == *record {
                return Ok(Saved::Same);
            }
        }
        std::fs::create_dir_all(&self.dir)
            .with_context(|| format!("creating {}", self.dir.display()))?;
        let path = self.path(&record.resource_uuid);
        let tmp = self.dir.join(format!(".{}.tmp", record.resource_uuid));
        let text = serde_json::to_string_pretty(record).expect("a record serialises");
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.write_all(b"\n")?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            // The rename itself is durable once the directory is synced.
            std::fs::File::open(&self.dir)?.sync_all()
        };
        write().with_context(|| format!("writing {}", path.display()))?;
        Ok(Saved::Stored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const OFF: &str = "d6290000000000000000000000000001";

    fn message(ts: &str, fairshare: u64) -> Value {
        json!({
            "resource_uuid": "6f1c0000-0000-0000-0000-000000000001", "backend_id": "a_sim-run",
            "offering_uuid": OFF, "policy_uuid": "91ab0000000000000000000000000001",
            "action": "apply_periodic_settings", "timestamp": ts,
            "settings": {
                "fairshare": fairshare, "limit_type": "GrpTRESMins",
                "grp_tres_mins": {"cpu": 108000, "mem": 144000, "billing": 1968},
                "reset_raw_usage": true, "qos_threshold": {"billing": 1640},
                "grace_limit": {"billing": 1968.5},
                "carryover_details": {"carryover_applied": true}
            }
        })
    }

    #[test]
    fn a_message_is_validated_and_kept_field_by_field() {
        let r = Record::from_message(OFF, &message("2026-04-01T00:10:02.123456", 1166)).unwrap();
        assert_eq!(r.resource_uuid, "6f1c0000000000000000000000000001");
        assert_eq!(r.backend_id, "a_sim-run");
        assert_eq!(r.settings.fairshare, Some(1166));
        assert_eq!(r.settings.grp_tres_mins.as_ref().unwrap()["billing"], 1968);
        assert!(r.settings.reset_raw_usage);
        assert_eq!(r.ignored, vec!["carryover_details"]);
        assert_eq!(r.timestamp.to_string(), "2026-04-01T00:10:02.123456Z");
    }

    #[test]
    fn bad_fields_are_refused_with_their_name() {
        let cases: Vec<(Value, &str)> = vec![
            (json!({"action": "other"}), "action"),
            (json!({"resource_uuid": "../../etc"}), "resource_uuid"),
            (json!({"backend_id": "a b; rm"}), "backend_id"),
            (json!({"timestamp": null}), "timestamp"),
            (json!({"timestamp": "yesterday"}), "timestamp"),
            (json!({"settings": {"fairshare": -1}}), "fairshare"),
            (json!({"settings": {"fairshare": 1.5}}), "fairshare"),
            (json!({"settings": {"limit_type": "Wall"}}), "limit_type"),
            (
                json!({"settings": {"grp_tres_mins": {"CPU=1,x": 5}}}),
                "grp_tres_mins",
            ),
            (
                json!({"settings": {"grp_tres_mins": {"cpu": "lots"}}}),
                "grp_tres_mins",
            ),
            (
                json!({"settings": {"reset_raw_usage": "yes"}}),
                "reset_raw_usage",
            ),
            (json!({"settings": []}), "settings"),
        ];
        for (patch, field) in cases {
            let mut m = message("2026-04-01T00:10:02Z", 1);
            for (k, v) in patch.as_object().unwrap() {
                if k == "settings" && v.is_object() {
                    for (sk, sv) in v.as_object().unwrap() {
                        m["settings"][sk] = sv.clone();
                    }
                } else {
                    m[k] = v.clone();
                }
            }
            let e = Record::from_message(OFF, &m).unwrap_err();
            assert!(e.to_string().contains(field), "{field}: {e}");
        }
    }

    #[test]
    fn older_messages_never_overwrite_newer_ones() {
        let dir = tempfile::tempdir().unwrap();
        let store = PeriodicStore::new(dir.path());
        let newer = Record::from_message(OFF, &message("2026-04-01T00:20:00Z", 2)).unwrap();
        let older = Record::from_message(OFF, &message("2026-04-01T00:10:00+00:00", 1)).unwrap();
        assert_eq!(store.save(&newer).unwrap(), Saved::Stored);
        assert_eq!(store.save(&newer).unwrap(), Saved::Same);
        assert!(matches!(store.save(&older).unwrap(), Saved::Older { .. }));
        let back = store.load(&newer.resource_uuid).unwrap().unwrap();
        assert_eq!(back, newer);
        let later = Record::from_message(OFF, &message("2026-04-01T00:30:00Z", 3)).unwrap();
        assert_eq!(store.save(&later).unwrap(), Saved::Stored);
        assert_eq!(
            store
                .load(&later.resource_uuid)
                .unwrap()
                .unwrap()
                .settings
                .fairshare,
            Some(3)
        );
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path().join("periodic"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, vec![format!("{}.json", newer.resource_uuid)]);
        // A damaged file is an error naming it.
        std::fs::write(store.path(&newer.resource_uuid), "{").unwrap();
        let e = store.load(&newer.resource_uuid).unwrap_err();
        assert!(format!("{e:#}").contains(".json"), "{e:#}");
    }
}
