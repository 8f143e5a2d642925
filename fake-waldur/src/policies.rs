//! SLURM periodic usage policies: stored per offering with Mastermind's defaults, listed
//! and shown with every key the SDK requires, and the `report-command-result` calls
//! agents make, recorded for tests (`FakeWaldur::command_results`).

use std::collections::HashSet;

use serde_json::{json, Value};

use crate::http::{ApiError, ApiResult};
use crate::ids;
use crate::model::*;
use crate::seed::{err, one_of, own_uuid, reference, stamp, SeedError};
use crate::state::{FakeWaldur, World};
use crate::views::View;

pub const LIMIT_TYPES: &[&str] = &["GrpTRESMins", "MaxTRESMins", "GrpTRES"];
pub const QOS_STRATEGIES: &[&str] = &["threshold", "progressive"];
pub const MODES: &[&str] = &["production", "emulator"];

/// Validates the seed's policies and fills Mastermind's defaults.
pub(crate) fn load(
    seed: &mut Seed,
    now: &str,
    offerings: &HashSet<String>,
) -> Result<(), SeedError> {
    let mut ids = HashSet::new();
    let mut scopes = HashSet::new();
    for p in &mut seed.periodic_policies {
        own_uuid("periodic_policies", &mut p.uuid, &mut ids)?;
        reference("periodic_policies", "offering", &mut p.offering, offerings)?;
        if !scopes.insert(p.offering.clone()) {
            return err(format!(
                "periodic_policies: offering {} has two policies",
                p.offering
            ));
        }
        one_of(
            "periodic_policies",
            "limit_type",
            &mut p.limit_type,
            "GrpTRESMins",
            LIMIT_TYPES,
        )?;
        one_of(
            "periodic_policies",
            "qos_strategy",
            &mut p.qos_strategy,
            "threshold",
            QOS_STRATEGIES,
        )?;
        let period = *p.period.get_or_insert(3);
        if !(1..=4).contains(&period) {
            return err(format!("periodic_policies.period: {period} is not 1..4"));
        }
        if p.fairshare_decay_half_life.is_none() {
            let f = *p.carryover_factor.get_or_insert(50);
            if !(0..=100).contains(&f) {
                return err(format!(
                    "periodic_policies.carryover_factor: {f} is not 0..100"
                ));
            }
        }
        p.tres_billing_enabled.get_or_insert(true);
        p.grace_ratio.get_or_insert(0.2);
        p.carryover_enabled.get_or_insert(true);
        p.raw_usage_reset.get_or_insert(true);
        stamp(&mut p.created, now);
    }
    Ok(())
}

fn period_name(period: Option<i64>) -> &'static str {
    match period {
        Some(1) => "Total",
        Some(2) => "1 month",
        Some(4) => "12 months",
        _ => "3 months",
    }
}

impl View<'_> {
    pub fn periodic_policy(&self, p: &PeriodicPolicy) -> Value {
        let offering = self.w.offering(&p.offering);
        let affected = self
            .w
            .data
            .resources
            .iter()
            .filter(|r| r.offering == p.offering && r.state != "Terminated")
            .count();
        let mut v = json!({
            "uuid": p.uuid,
            "url": self.base.url("marketplace-slurm-periodic-usage-policies", &p.uuid),
            "scope": self.base.url("marketplace-provider-offerings", &p.offering),
            "scope_name": offering.map_or("", |o| o.name.as_str()),
            "scope_uuid": p.offering,
            "actions": p.actions,
            "created": p.created,
            "created_by_full_name": "",
            "created_by_username": "",
            "has_fired": false,
            "fired_datetime": null,
            "affected_resources_count": affected,
            "component_limits_set": p.component_limits.iter().map(|c| json!({"type": c.component_type, "limit": c.limit})).collect::<Vec<_>>(),
            "period": p.period,
            "period_name": period_name(p.period),
            "warnings": [],
            "options": {},
            "organization_groups": [],
            "apply_to_all": true,
            "limit_type": p.limit_type,
            "tres_billing_enabled": p.tres_billing_enabled,
            "tres_billing_weights": p.tres_billing_weights,
            "grace_ratio": p.grace_ratio,
            "carryover_enabled": p.carryover_enabled,
            "raw_usage_reset": p.raw_usage_reset,
            "qos_strategy": p.qos_strategy,
        });
        match (p.carryover_factor, p.fairshare_decay_half_life) {
            (Some(f), _) => v["carryover_factor"] = json!(f),
            (None, Some(h)) => v["fairshare_decay_half_life"] = json!(h),
            (None, None) => {}
        }
        v
    }
}

impl World {
    pub fn periodic_policy(&self, uuid: &str) -> Option<&PeriodicPolicy> {
        self.data.periodic_policies.iter().find(|p| p.uuid == uuid)
    }

    /// `report-command-result`: checked like the serializer checks it, then recorded.
    pub fn record_command_result(&mut self, policy: &str, body: &Object) -> ApiResult<()> {
        if self.periodic_policy(policy).is_none() {
            return Err(ApiError::not_found());
        }
        let resource_uuid = match body.get("resource_uuid").and_then(Value::as_str) {
            Some(r) => ids::normalize(r)
                .ok_or_else(|| ApiError::field("resource_uuid", "Must be a valid UUID."))?,
            None => return Err(ApiError::required("resource_uuid")),
        };
        let success = match body.get("success") {
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(ApiError::field("success", "Must be a valid boolean.")),
            None => return Err(ApiError::required("success")),
        };
        let error_message = match body.get("error_message") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(ApiError::field("error_message", "Not a valid string.")),
        };
        let mode = body
            .get("mode")
            .and_then(Value::as_str)
            .unwrap_or("production");
        if !MODES.contains(&mode) {
            return Err(ApiError::field(
                "mode",
                &format!("\"{mode}\" is not a valid choice."),
            ));
        }
        let commands_executed = match body.get("commands_executed") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|c| c.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| ApiError::field("commands_executed", "Not a valid string."))?,
            Some(_) => {
                return Err(ApiError::field(
                    "commands_executed",
                    "Expected a list of items.",
                ))
            }
        };
        let received = self.now();
        self.data.command_results.push(CommandResult {
            policy: policy.to_string(),
            resource_uuid,
            success,
            error_message,
            mode: mode.to_string(),
            commands_executed,
            received,
        });
        Ok(())
    }
}

impl FakeWaldur {
    /// Every `report-command-result` received, oldest first.
    pub fn command_results(&self) -> Vec<CommandResult> {
        self.read(|w| w.data.command_results.clone())
    }
}
