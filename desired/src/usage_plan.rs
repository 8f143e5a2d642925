//! What to send Waldur for one resource and one billing period: pure planning from the
//! computed amounts and the records Waldur already holds.
//!
//! The plan is idempotent: planning again after it was carried out (and Waldur re-read)
//! gives no calls. That is also how per-user usage reaches components whose aggregate
//! record does not exist yet: `set_user_usages` needs the record's uuid, so the first plan
//! posts the totals only, and a second plan (same cycle after re-reading, or next cycle)
//! posts the per-user values.
//!
//! Rules (the Python agent's, spec §9.1 and waldur-api §2.6, with the choices noted):
//! - Only component types the offering has in Waldur are sent.
//! - `set_usage` is skipped when every type sent has exactly one stored record and it
//!   equals the new amount (amounts are exact hundredths, so no tolerance is needed).
//!   Stored records of types not sent are ignored (the Python also required the same
//!   type set, which re-posts forever when Waldur has a component not configured here).
//! - Anomalies, which block `set_usage`: a new total lower than the stored one (SLURM
//!   usage of a period never decreases, so something else wrote it), and two records of
//!   one type. For the current period an anomaly also blocks all per-user posting; for a
//!   past period per-user posting goes on (as in the Python), except for a type with
//!   duplicate records, whose parent would be ambiguous.
//! - Per-user values go to the type's single record. A user is posted when the amount
//!   differs from Waldur's, a missing record counting as zero: zeros are posted only to
//!   correct a stored non-zero value (including users Waldur has but sacct no longer
//!   shows), never to create empty records. Only changed users are sent: the call is an
//!   upsert per username, so the others stay as they are.

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{json, Value};

use crate::amount::Amount;

/// An aggregate record of the period (`GET marketplace-component-usages`).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredUsage {
    pub uuid: String,
    pub component_type: String,
    pub usage: Amount,
}

/// A per-user record of the period (`GET marketplace-component-user-usages`, fields
/// `component_usage`, `username`, `usage`).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredUserUsage {
    /// uuid of the parent aggregate record; [`uuid_from_url`] extracts it from the URL
    /// Waldur returns.
    pub component_usage: String,
    pub username: String,
    pub usage: Amount,
}

/// Everything known about one resource and one billing period.
#[derive(Debug, Clone, Copy)]
pub struct PeriodInput<'a> {
    /// Resource uuid (hex; a dashed form is normalised).
    pub resource_uuid: &'a str,
    /// `date` of every item: the first of the month at 00:00 (with the configured zone's
    /// offset in report mode, e.g. `2025-05-01T00:00:00+00:00`).
    pub date: &'a str,
    /// The period is the current month.
    pub current_period: bool,
    /// Component types of the offering in Waldur, in the order to send them.
    pub waldur_components: &'a [String],
    /// The account's totals in Waldur units ([`crate::amount::to_waldur`]).
    pub totals: &'a BTreeMap<String, Amount>,
    /// username -> component type -> amount.
    pub users: &'a BTreeMap<String, BTreeMap<String, Amount>>,
    /// username -> offering user URL, for the `user` field when known.
    pub offering_users: &'a BTreeMap<String, String>,
    pub stored: &'a [StoredUsage],
    pub stored_users: &'a [StoredUserUsage],
}

#[derive(Debug, Clone, PartialEq)]
pub enum Anomaly {
    /// The new total is below what Waldur holds.
    Decrease {
        component_type: String,
        stored: Amount,
        new: Amount,
    },
    /// Several aggregate records of one type in the period.
    Duplicate {
        component_type: String,
        uuids: Vec<String>,
    },
}

impl fmt::Display for Anomaly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Anomaly::Decrease {
                component_type,
                stored,
                new,
            } => write!(
                f,
                "{component_type}: new usage {new} is lower than the {stored} Waldur holds"
            ),
            Anomaly::Duplicate {
                component_type,
                uuids,
            } => write!(
                f,
                "{component_type}: {} usage records for one period ({})",
                uuids.len(),
                uuids.join(", ")
            ),
        }
    }
}

/// One `POST marketplace-component-usages/{component_usage}/set_user_usages/`.
#[derive(Debug, Clone, PartialEq)]
pub struct UserUsagePost {
    /// uuid of the aggregate record, as Waldur gave it.
    pub component_usage: String,
    pub component_type: String,
    pub body: Value,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct PeriodPlan {
    /// Body of `POST marketplace-component-usages/set_usage/`, if anything changed.
    pub set_usage: Option<Value>,
    pub anomalies: Vec<Anomaly>,
    /// To post after `set_usage`.
    pub user_usages: Vec<UserUsagePost>,
}

impl PeriodPlan {
    pub fn is_empty(&self) -> bool {
        self.set_usage.is_none() && self.user_usages.is_empty()
    }
}

/// The last non-empty path segment: `.../marketplace-component-usages/<uuid>/` -> uuid.
pub fn uuid_from_url(url: &str) -> &str {
    url.trim_end_matches('/').rsplit('/').next().unwrap_or(url)
}

/// uuids compare in any form: Waldur prints hex, some paths use the dashed form.
fn same_uuid(a: &str, b: &str) -> bool {
    let norm = |s: &str| {
        s.chars()
            .filter(|c| *c != '-')
            .map(|c| c.to_ascii_lowercase())
            .collect::<String>()
    };
    norm(a) == norm(b)
}

pub fn plan_period(input: &PeriodInput) -> PeriodPlan {
    // Types to send: Waldur knows them and we computed them.
    let sent: Vec<(&str, Amount)> = input
        .waldur_components
        .iter()
        .filter_map(|t| input.totals.get(t).map(|a| (t.as_str(), *a)))
        .collect();
    let records = |t: &str| -> Vec<&StoredUsage> {
        input
            .stored
            .iter()
            .filter(|r| r.component_type == t)
            .collect()
    };

    let mut anomalies = Vec::new();
    let mut unchanged = true;
    for (t, new) in &sent {
        match records(t).as_slice() {
            [one] => {
                if one.usage != *new {
                    unchanged = false;
                }
                if *new < one.usage {
                    anomalies.push(Anomaly::Decrease {
                        component_type: t.to_string(),
                        stored: one.usage,
                        new: *new,
                    });
                }
            }
            [] => unchanged = false,
            many => {
                unchanged = false;
                anomalies.push(Anomaly::Duplicate {
                    component_type: t.to_string(),
                    uuids: many.iter().map(|r| r.uuid.clone()).collect(),
                });
            }
        }
    }

    let set_usage = (!unchanged && anomalies.is_empty() && !sent.is_empty()).then(|| {
        let usages: Vec<Value> = sent
            .iter()
            .map(|(t, a)| json!({"type": t, "amount": a.to_string(), "recurring": false}))
            .collect();
        json!({
            "usages": usages,
            "resource": input.resource_uuid.replace('-', ""),
            "date": input.date,
        })
    });

    let mut user_usages = Vec::new();
    // An anomaly in the current period stops per-user posting too.
    let blocked = input.current_period && !anomalies.is_empty();
    if !blocked {
        for (t, _) in &sent {
            // No record yet: wait for the re-plan. Several: ambiguous parent.
            if let [parent] = records(t).as_slice() {
                if let Some(post) = user_post(input, t, parent) {
                    user_usages.push(post);
                }
            }
        }
    }

    PeriodPlan {
        set_usage,
        anomalies,
        user_usages,
    }
}

/// The `set_user_usages` call for one component, if any user's value differs.
fn user_post(
    input: &PeriodInput,
    component_type: &str,
    parent: &StoredUsage,
) -> Option<UserUsagePost> {
    let mut stored: BTreeMap<&str, Vec<Amount>> = BTreeMap::new();
    for r in input
        .stored_users
        .iter()
        .filter(|r| same_uuid(&r.component_usage, &parent.uuid))
    {
        stored.entry(r.username.as_str()).or_default().push(r.usage);
    }
    let mut wanted: BTreeMap<&str, Amount> = input
        .users
        .iter()
        .map(|(u, m)| {
            let amount = m.get(component_type).copied().unwrap_or(Amount::ZERO);
            (u.as_str(), amount)
        })
        .collect();
    // Users Waldur has but sacct does not: their usage of the period is zero.
    for u in stored.keys() {
        wanted.entry(u).or_insert(Amount::ZERO);
    }
    let items: Vec<Value> = wanted
        .into_iter()
        .filter(|(u, amount)| match stored.get(u) {
            None => *amount != Amount::ZERO,
            Some(values) => values.iter().any(|v| v != amount),
        })
        .map(|(u, amount)| {
            let mut item = json!({
                "username": u,
                "usage": amount.to_string(),
                "date": input.date,
            });
            if let Some(url) = input.offering_users.get(u) {
                item["user"] = Value::String(url.clone());
            }
            item
        })
        .collect();
    (!items.is_empty()).then(|| UserUsagePost {
        component_usage: parent.uuid.clone(),
        component_type: component_type.to_string(),
        body: json!({ "usages": items }),
    })
}

#[cfg(test)]
mod tests;
