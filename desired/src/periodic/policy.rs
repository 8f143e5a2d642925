//! Waldur's `SlurmPeriodicUsagePolicy` (`GET /api/marketplace-slurm-periodic-usage-policies/`)
//! and its parameters resolved with Mastermind's defaults.
//!
//! Only what the agent's decisions depend on is read; a value of the wrong type is an
//! error naming the key, never a silent default.

use serde::Deserialize;
use serde_json::Value;

use agent_config::LimitType;

use super::period::PeriodKind;

/// One policy document.
#[derive(Debug, Clone, Deserialize)]
pub struct Policy {
    #[serde(deserialize_with = "crate::waldur::uuid")]
    pub uuid: String,
    /// The offering the policy belongs to (checked: a list filter a server ignores must
    /// not hand one offering another's policy).
    #[serde(deserialize_with = "crate::waldur::uuid")]
    pub scope_uuid: String,
    #[serde(default)]
    pub period: Option<i64>,
    #[serde(default)]
    pub period_name: Option<String>,
    #[serde(default)]
    pub limit_type: Option<String>,
    #[serde(default)]
    pub tres_billing_enabled: Option<bool>,
    #[serde(default)]
    pub tres_billing_weights: Option<Value>,
    #[serde(default)]
    pub carryover_factor: Option<Value>,
    #[serde(default)]
    pub grace_ratio: Option<Value>,
    #[serde(default)]
    pub carryover_enabled: Option<bool>,
    #[serde(default)]
    pub raw_usage_reset: Option<bool>,
    #[serde(default)]
    pub qos_strategy: Option<String>,
    /// Older Mastermind (before `carryover_factor`): the decay half-life in days.
    #[serde(default)]
    pub fairshare_decay_half_life: Option<Value>,
    #[serde(default)]
    pub component_limits_set: Vec<ComponentLimit>,
}

/// An item of `component_limits_set`: the policy's threshold per component.
#[derive(Debug, Clone, Deserialize)]
pub struct ComponentLimit {
    #[serde(rename = "type")]
    pub kind: String,
    pub limit: Value,
}

/// Mastermind's default billing weights, used when the policy has none.
pub const DEFAULT_WEIGHTS: [(&str, f64); 3] =
    [("CPU", 0.015625), ("Mem", 0.001953125), ("GRES/gpu", 0.25)];

/// How unused allocation carries into the next period.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Carryover {
    Off,
    /// Unused previous-period allocation, capped at this percentage of the base.
    Capped(u32),
    /// Older Mastermind: previous usage decays with this half-life (days); no cap.
    Decay {
        half_life_days: f64,
    },
}

/// A policy's parameters with every default filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyParams {
    pub uuid: String,
    /// From `period`; the offering's `limit_period` may override it (see [`super::effective_kind`]).
    pub period: PeriodKind,
    pub limit_type: LimitType,
    pub billing: bool,
    /// Weight per component key, in the policy's order; Mastermind's defaults when empty.
    pub weights: Vec<(String, f64)>,
    pub weights_are_default: bool,
    pub carryover: Carryover,
    pub grace_ratio: f64,
    pub raw_usage_reset: bool,
    pub qos_strategy: String,
    /// `(component, limit)` of `component_limits_set`, for diagnose.
    pub component_limits: Vec<(String, String)>,
}

/// Sacctmgr's name of a limit type.
pub fn limit_type_name(t: LimitType) -> &'static str {
    match t {
        LimitType::GrpTresMins => "GrpTRESMins",
        LimitType::MaxTresMins => "MaxTRESMins",
        LimitType::GrpTres => "GrpTRES",
    }
}

/// A limit type by its sacctmgr name.
pub fn parse_limit_type(s: &str) -> Option<LimitType> {
    match s {
        "GrpTRESMins" => Some(LimitType::GrpTresMins),
        "MaxTRESMins" => Some(LimitType::MaxTresMins),
        "GrpTRES" => Some(LimitType::GrpTres),
        _ => None,
    }
}

/// The largest `grace_ratio` accepted: 10 lets a resource use 11 times its allocation.
pub const MAX_GRACE_RATIO: f64 = 10.0;

fn number(v: &Value, key: &str) -> Result<f64, String> {
    match crate::waldur::number(v) {
        Some(n) if n.is_finite() && n >= 0.0 => Ok(n),
        _ => Err(format!(
            "{key} {} is not a non-negative number",
            agent_reconcile::escape::text(&v.to_string())
        )),
    }
}

impl Policy {
    /// The parameters, Mastermind's defaults filled in (limit type falls back to
    /// `periodic_limits.limit_type` of the config); an invalid value is an error naming it.
    pub fn params(&self, fallback_limit_type: LimitType) -> Result<PolicyParams, String> {
        let limit_type = match self.limit_type.as_deref() {
            None | Some("") => fallback_limit_type,
            Some(s) => parse_limit_type(s).ok_or_else(|| {
                format!(
                    "limit_type {:?} is not one of GrpTRESMins, MaxTRESMins, GrpTRES",
                    agent_reconcile::escape::text(s)
                )
            })?,
        };
        let mut weights = Vec::new();
        match &self.tres_billing_weights {
            None | Some(Value::Null) => {}
            Some(Value::Object(map)) => {
                for (k, v) in map {
                    weights.push((k.clone(), number(v, &format!("tres_billing_weights.{k}"))?));
                }
            }
            Some(other) => {
                return Err(format!(
                    "tres_billing_weights {} is not an object",
                    agent_reconcile::escape::text(&other.to_string())
                ))
            }
        }
        let weights_are_default = weights.is_empty();
        if weights_are_default {
            weights = DEFAULT_WEIGHTS
                .iter()
                .map(|(k, w)| (k.to_string(), *w))
                .collect();
        }
        let grace_ratio = match &self.grace_ratio {
            None | Some(Value::Null) => 0.2,
            Some(v) => number(v, "grace_ratio")?,
        };
        // Mastermind's grace is a fraction of the allocation (0.2 = 20 % over). Above
        // MAX_GRACE_RATIO the hard limit is no cap at all: the value cannot be meant.
        if grace_ratio > MAX_GRACE_RATIO {
            return Err(format!(
                "grace_ratio {grace_ratio:e} is above {MAX_GRACE_RATIO} (a hard limit above {}x the allocation caps nothing)",
                MAX_GRACE_RATIO + 1.0
            ));
        }
        let period = PeriodKind::from_number(self.period).ok_or_else(|| {
            format!(
                "period {} is not one of 1 (total), 2 (month), 3 (quarter), 4 (year)",
                self.period.unwrap_or_default()
            )
        })?;
        let enabled = self.carryover_enabled.unwrap_or(true);
        let carryover = match (&self.carryover_factor, &self.fairshare_decay_half_life) {
            _ if !enabled => Carryover::Off,
            (None | Some(Value::Null), Some(h)) if !h.is_null() => {
                let half_life_days = number(h, "fairshare_decay_half_life")?;
                if half_life_days <= 0.0 {
                    return Err("fairshare_decay_half_life must be above 0".into());
                }
                Carryover::Decay { half_life_days }
            }
            (None | Some(Value::Null), _) => Carryover::Capped(50),
            (Some(v), _) => {
                let f = number(v, "carryover_factor")?;
                if f > 100.0 || f.fract() != 0.0 {
                    return Err(format!("carryover_factor {f} is not a whole number 0-100"));
                }
                Carryover::Capped(f as u32)
            }
        };
        Ok(PolicyParams {
            uuid: self.uuid.clone(),
            period,
            limit_type,
            billing: self.tres_billing_enabled.unwrap_or(true),
            weights,
            weights_are_default,
            carryover,
            grace_ratio,
            raw_usage_reset: self.raw_usage_reset.unwrap_or(true),
            qos_strategy: self
                .qos_strategy
                .clone()
                .unwrap_or_else(|| "threshold".into()),
            component_limits: self
                .component_limits_set
                .iter()
                .map(|c| {
                    let limit = match &c.limit {
                        Value::String(s) => s.clone(),
                        v => v.to_string(),
                    };
                    (c.kind.clone(), limit)
                })
                .collect(),
        })
    }
}

impl PolicyParams {
    /// The weight of a component: the exact key, else the first key equal ignoring case
    /// (weights say `CPU`, limits `cpu`); 0 when none matches. A weight of 0 under the
    /// exact key also looks further, as Mastermind does.
    pub fn weight(&self, component: &str) -> Option<(&str, f64)> {
        if let Some((k, w)) = self.weights.iter().find(|(k, _)| k == component) {
            if *w != 0.0 {
                return Some((k, *w));
            }
        }
        self.weights
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(component))
            .map(|(k, w)| (k.as_str(), *w))
    }
}
