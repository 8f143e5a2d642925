//! Waldur's periodic policy as desired state of an allocation account. The values come,
//! in order, from the settings Waldur published for the resource in the current period
//! (a `resource_periodic_limits` message the agent stored), else from the policy and the
//! resource's limits and usage, computed as Mastermind computes them — so a fresh
//! install, a restart or a lost message still converges. SLURM's values play no part.

use std::collections::BTreeMap;

use agent_config::LimitType;
use agent_reconcile::periodic::{PeriodicSpec, ResetRequest, ResultReport, Wanted};
use agent_reconcile::plan::{Diagnostic, Reason};
use agent_reconcile::state::AccountField;

use super::Builder;
use crate::periodic::policy::{limit_type_name, Carryover};
use crate::periodic::{math, published, Period, PolicyParams, Received};
use crate::waldur::{hex, number, Resource};

/// The account field of a limit type.
pub fn limit_field(t: LimitType) -> AccountField {
    match t {
        LimitType::GrpTresMins => AccountField::GrpTresMins,
        LimitType::MaxTresMins => AccountField::MaxTresMins,
        LimitType::GrpTres => AccountField::GrpTres,
    }
}

/// SLURM's unit of a limit type's values.
fn unit(t: LimitType) -> &'static str {
    match t {
        LimitType::GrpTres => "TRES",
        _ => "TRES-minutes",
    }
}

/// How the offering's policy stands, decided once per build.
pub(super) enum PolicyState {
    /// `periodic_limits.enabled` is off, or Waldur has no policy for the offering.
    None,
    /// The policy cannot be used (invalid parameters, no clock): it owns the limits, so
    /// the orders do not write them, and its accounts are left as they are.
    Unusable,
    Usable(Box<PolicyParams>, Period),
}

/// Where one resource's values come from.
enum Source<'a> {
    Published(&'a Received, published::Published),
    /// Computed; with the period of stored settings that are too old, if any.
    Computed(Option<String>),
}

impl Builder<'_> {
    /// Reads the offering's policy once and says at the top of the plan who owns what.
    pub(super) fn policy_state(&mut self) -> PolicyState {
        let pl = &self.cfg.slurm.periodic_limits;
        let name = &self.cfg.name;
        if !pl.enabled {
            return PolicyState::None;
        }
        let Some(policy) = self.docs.policies.first() else {
            self.out.diagnostics.push(Diagnostic::info(
                "no_periodic_policy",
                format!("offering {name:?}: periodic_limits.enabled, but Waldur has no periodic usage policy for it; limits come from orders"),
            ));
            return PolicyState::None;
        };
        if self.docs.policies.len() > 1 {
            self.out.diagnostics.push(Diagnostic::warning(
                "several_periodic_policies",
                format!("offering {name:?} has {} periodic usage policies in Waldur; the first, {}, is used", self.docs.policies.len(), policy.uuid),
            ));
        }
        let params = match policy.params(pl.limit_type) {
            Ok(p) => p,
            Err(e) => {
                self.out.diagnostics.push(Diagnostic::error(
                    "invalid_periodic_policy",
                    format!("offering {name:?}: periodic usage policy {}: {e}; fairshare and limits of its accounts are left as they are", policy.uuid),
                ));
                return PolicyState::Unusable;
            }
        };
        let Some(month) = self.ctx.month else {
            self.out.diagnostics.push(Diagnostic::error(
                "no_clock",
                format!("offering {name:?}: the periodic policy needs the current month, which this caller did not give; fairshare and limits are left as they are"),
            ));
            return PolicyState::Unusable;
        };
        let kind = crate::periodic::effective_kind(params.period, &self.docs.offering.components);
        let period = Period::of(kind, month);
        let field = limit_type_name(params.limit_type);
        let orders = if params.limit_type == LimitType::GrpTresMins {
            "order limits are not written"
        } else {
            "GrpTRESMins still follows the orders"
        };
        self.out.diagnostics.push(Diagnostic::info(
            "periodic_policy",
            format!("offering {name:?}: Waldur's periodic usage policy {} ({}, {field}, period {period}) owns fairshare and the {field} entries it names on the allocation accounts; {orders}", params.uuid, kind.describe()),
        ));
        PolicyState::Usable(Box::new(params), period)
    }

    /// The limit field the policy owns on this account (`None`: no policy manages the
    /// offering), and the account's periodic spec when its values can be decided.
    pub(super) fn periodic(&mut self, r: &Resource, account: &str) -> Option<AccountField> {
        let (params, period) = match &self.policy {
            PolicyState::None => return None,
            PolicyState::Unusable => {
                return Some(limit_field(self.cfg.slurm.periodic_limits.limit_type))
            }
            PolicyState::Usable(p, period) => ((**p).clone(), *period),
        };
        let res = hex(&r.uuid);
        let source = match self.ctx.stored.get(&res) {
            Some(Err(e)) => {
                self.periodic_error(
                    r,
                    "unreadable_stored_settings",
                    format!("its stored periodic settings cannot be read: {e}"),
                );
                return Some(limit_field(params.limit_type));
            }
            Some(Ok(rcv)) if Period::of(period.kind(), rcv.month) == period => {
                match published::parse(&rcv.stored.settings) {
                    Err(e) => {
                        self.periodic_error(
                            r,
                            "invalid_stored_settings",
                            format!(
                                "the periodic settings Waldur published for it are invalid: {e}"
                            ),
                        );
                        return Some(limit_field(params.limit_type));
                    }
                    Ok(_)
                        if rcv
                            .stored
                            .backend_id
                            .as_deref()
                            .is_some_and(|b| b != account) =>
                    {
                        self.out.diagnostics.push(Diagnostic::warning(
                            "stored_settings_other_account",
                            format!("the periodic settings stored for resource {res} name account {:?}, but the resource's account is {account}; they are not used", rcv.stored.backend_id.as_deref().unwrap_or_default()),
                        ));
                        Source::Computed(None)
                    }
                    Ok(p) => Source::Published(rcv, p),
                }
            }
            Some(Ok(rcv)) if Some(rcv.month) > self.ctx.month => {
                self.out.diagnostics.push(Diagnostic::warning(
                    "stored_settings_from_a_later_period",
                    format!("the periodic settings stored for resource {res} were received at {}, in a later period than now (is the clock right?); they are not used", rcv.stored.received_at),
                ));
                Source::Computed(None)
            }
            Some(Ok(rcv)) => {
                Source::Computed(Some(Period::of(period.kind(), rcv.month).to_string()))
            }
            None => Source::Computed(None),
        };
        let spec = match source {
            Source::Published(rcv, p) => self.published_spec(r, account, &params, period, rcv, p),
            Source::Computed(stale) => self.computed_spec(r, account, &params, period, stale),
        };
        let field = spec
            .as_ref()
            .map_or(limit_field(params.limit_type), |s| s.limit_field);
        if let Some(mut spec) = spec {
            let mut lines = self.policy_lines(&params, period);
            lines.append(&mut spec.policy);
            spec.policy = lines;
            self.out.periodic.insert(account.to_string(), spec);
        }
        Some(field)
    }

    fn periodic_error(&mut self, r: &Resource, code: &str, why: String) {
        self.out.diagnostics.push(Diagnostic::error(
            code,
            format!(
                "resource {:?} ({}): {why}; its fairshare and limits are left as they are",
                r.name,
                hex(&r.uuid)
            ),
        ));
    }

    fn spec(
        &self,
        r: &Resource,
        account: &str,
        policy: &str,
        t: LimitType,
        source: Reason,
    ) -> PeriodicSpec {
        let pl = &self.cfg.slurm.periodic_limits;
        PeriodicSpec {
            account: account.to_string(),
            limit_field: limit_field(t),
            fairshare: None,
            limits: BTreeMap::new(),
            reset: None,
            report: Some(ResultReport {
                offering: self.cfg.uuid.clone(),
                policy: policy.to_string(),
                resource: hex(&r.uuid),
                mode: if pl.emulator_mode {
                    "emulator"
                } else {
                    "production"
                }
                .into(),
            }),
            source,
            emulator: pl.emulator_mode.then(|| pl.emulator_base_url.clone()),
            policy: Vec::new(),
        }
    }

    fn published_spec(
        &mut self,
        r: &Resource,
        account: &str,
        params: &PolicyParams,
        period: Period,
        rcv: &Received,
        p: published::Published,
    ) -> Option<PeriodicSpec> {
        let t = p.limit_type.unwrap_or(params.limit_type);
        let s = &rcv.stored;
        let policy = s.policy_uuid.clone().unwrap_or_else(|| params.uuid.clone());
        let source = Reason::new(
            "periodic_published",
            format!(
                "Waldur's periodic policy {policy} owns fairshare and {} of {account}: settings Waldur published for resource {} (sent {}, received {}, period {period})",
                limit_type_name(t),
                hex(&r.uuid),
                s.timestamp.as_deref().unwrap_or("without a timestamp"),
                s.received_at
            ),
        );
        let mut spec = self.spec(r, account, &policy, t, source);
        if p.fairshare_zero {
            self.out.diagnostics.push(Diagnostic::info(
                "fairshare_zero",
                format!("the periodic settings of {account} say fairshare 0, which is never applied (Mastermind's formula gives at least 1); its fairshare is left as it is"),
            ));
        }
        let published = format!("{} as Waldur published them", unit(t));
        fill(
            &mut spec,
            p.fairshare
                .map(|n| (n, "as Waldur published it".to_string())),
            p.limits.iter().map(|(k, v)| (k, *v, published.clone())),
            p.reset_raw_usage.then(|| ResetRequest {
                period: period.to_string(),
                needs_earlier_reset: false,
                why: "Waldur's message asks for it (reset_raw_usage)".into(),
            }),
        );
        Some(spec)
    }

    fn computed_spec(
        &mut self,
        r: &Resource,
        account: &str,
        params: &PolicyParams,
        period: Period,
        stale: Option<String>,
    ) -> Option<PeriodicSpec> {
        let res = hex(&r.uuid);
        let mut base = BTreeMap::new();
        for (k, v) in &r.limits {
            if !agent_reconcile::tres::valid_name(k) {
                self.periodic_error(
                    r,
                    "invalid_limit",
                    format!(
                        "limit {:?} is not a TRES name",
                        agent_reconcile::escape::text(k)
                    ),
                );
                return None;
            }
            match number(v) {
                Some(n) if n.is_finite() && n >= 0.0 => {
                    if n > 0.0 {
                        base.insert(k.clone(), n);
                    }
                }
                _ => {
                    self.periodic_error(
                        r,
                        "invalid_limit",
                        format!("limit {k}={v} is not a non-negative number"),
                    );
                    return None;
                }
            }
        }
        if base.is_empty() {
            self.out.diagnostics.push(Diagnostic::info(
                "periodic_no_limits",
                format!("resource {:?} ({res}) has no limits in Waldur: no periodic settings are computed for {account}", r.name),
            ));
            return None;
        }
        let previous = match (params.carryover, period.previous()) {
            (Carryover::Off, _) | (_, None) => None,
            (_, Some(prev)) => {
                let mut used: BTreeMap<String, f64> = BTreeMap::new();
                if let Some(months) = self.docs.usages.get(&res) {
                    for m in prev.months() {
                        for (kind, amount) in months.get(&m).into_iter().flatten() {
                            *used.entry(kind.clone()).or_default() += amount;
                        }
                    }
                }
                Some(used)
            }
        };
        let computed = match math::compute(params, &base, previous.as_ref()) {
            Ok(c) => c,
            Err(e) => {
                self.periodic_error(r, "invalid_periodic_settings", e);
                return None;
            }
        };
        let why_computed = match &stale {
            Some(p) => format!("the settings stored for it are from period {p}"),
            None => "no settings Waldur published for it are stored".into(),
        };
        let t = params.limit_type;
        let source = Reason::new(
            "periodic_computed",
            format!(
                "Waldur's periodic policy {} owns fairshare and {} of {account}: computed from the policy and resource {res}'s limits{} for period {period} ({why_computed})",
                params.uuid,
                limit_type_name(t),
                match period.previous() {
                    Some(prev) if previous.is_some() => format!(" and its usage in {prev}"),
                    _ => String::new(),
                }
            ),
        );
        let mut spec = self.spec(r, account, &params.uuid, t, source);
        let reset = params.raw_usage_reset.then(|| ResetRequest {
            period: period.to_string(),
            // Stored settings of an earlier period show Waldur manages this account and
            // the message for this one is missing: the period did change.
            needs_earlier_reset: stale.is_none(),
            why: "the policy resets raw usage once per period (raw_usage_reset)".into(),
        });
        fill(
            &mut spec,
            u32::try_from(computed.fairshare)
                .ok()
                .filter(|n| *n > 0)
                .map(|n| (n, computed.fairshare_why.clone())),
            computed
                .limits
                .iter()
                .map(|(k, (v, why))| (k, *v, format!("{why} {}", unit(t)))),
            reset,
        );
        spec.policy.push(("thresholds".into(), format!(
            "qos_threshold {}={}, grace_limit {}={} (informational: QoS follows the resource's paused/downscaled flags)",
            computed.qos_threshold.0, computed.qos_threshold.1, computed.grace_limit.0, computed.grace_limit.1
        )));
        Some(spec)
    }

    /// The policy's parameters and the config's units, for diagnose.
    fn policy_lines(&self, p: &PolicyParams, period: Period) -> Vec<(String, String)> {
        let mut lines = vec![
            ("policy".to_string(), p.uuid.clone()),
            ("period".into(), format!("{} (now {period}{})", period.kind().describe(), period.previous().map(|q| format!(", previous {q}")).unwrap_or_default())),
            ("limit type".into(), format!("{} ({})", limit_type_name(p.limit_type), unit(p.limit_type))),
            ("TRES billing".into(), if p.billing {
                format!("enabled, weights {}{}", p.weights.iter().map(|(k, w)| format!("{k}={w}")).collect::<Vec<_>>().join(", "), if p.weights_are_default { " (Mastermind's defaults)" } else { "" })
            } else { "disabled".into() }),
            ("grace".into(), format!("{} ({}% overconsumption allowed)", p.grace_ratio, p.grace_ratio * 100.0)),
            ("carry-over".into(), match p.carryover {
                Carryover::Off => "disabled".into(),
                Carryover::Capped(f) => format!("enabled, at most {f}% of the base allocation"),
                Carryover::Decay { half_life_days } => format!("legacy decay, half-life {half_life_days} days, no cap"),
            }),
            ("raw usage reset".into(), if p.raw_usage_reset { "once per period".into() } else { "off".into() }),
            ("QoS strategy".into(), format!("{} (QoS follows the resource's paused/downscaled flags; never set from periodic settings)", p.qos_strategy)),
        ];
        if !p.component_limits.is_empty() {
            lines.push((
                "component limits".into(),
                p.component_limits
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            ));
        }
        for (name, c) in &self.cfg.components {
            lines.push((
                format!("unit of {name}"),
                format!(
                    "Waldur {}, unit_factor {} in this config{}",
                    c.measured_unit,
                    c.unit_factor,
                    if c.unit_factor == 60.0 {
                        ""
                    } else {
                        "; Mastermind converts hours to minutes with ×60 whatever the unit_factor"
                    }
                ),
            ));
        }
        lines
    }
}

/// Puts the values into a spec.
fn fill<'a>(
    spec: &mut PeriodicSpec,
    fairshare: Option<(u32, String)>,
    limits: impl Iterator<Item = (&'a String, u64, String)>,
    reset: Option<ResetRequest>,
) {
    spec.fairshare = fairshare.map(|(value, why)| Wanted { value, why });
    spec.limits = limits
        .map(|(k, value, why)| (k.clone(), Wanted { value, why }))
        .collect();
    spec.reset = reset;
}
