//! Waldur's periodic policy: the fairshare and the limit entries it owns, written only
//! where they differ (a limit map is a partial update: one `modify` per TRES, the TRES
//! not named left alone); the RawUsage reset, planned once per (account, period) against
//! the agent's record of the resets it made; and the `report-command-result` call that
//! tells Waldur what ran. These changes never hold back an order's calls.

use serde_json::{json, Value as Json};

use super::{tier_rank, Planner};
use crate::periodic::{PeriodicSpec, ResetRequest, ResultReport};
use crate::plan::{Action, Address, Change, Command, Diagnostic, Effect, Phase, Reason};
use crate::state::{AccountField, AccountValues, Shares, Tier, Value};
use crate::tres::TresMap;

/// What the policy's limit field holds now.
fn current_map(current: Option<&AccountValues>, field: AccountField) -> TresMap {
    match current.map(|c| c.get(field)) {
        Some(Value::Tres(m)) => m,
        _ => TresMap::new(),
    }
}

/// Mastermind's name of a limit field's map in settings and the emulator's API.
fn settings_key(field: AccountField) -> &'static str {
    match field {
        AccountField::MaxTresMins => "max_tres_mins",
        AccountField::GrpTres => "grp_tres",
        _ => "grp_tres_mins",
    }
}

/// The writes of one account's periodic fields, as sacctmgr argv or emulator requests.
struct Writes<'a> {
    target: &'a crate::commands::SlurmTarget,
    spec: &'a PeriodicSpec,
}

impl Writes<'_> {
    fn emulator(&self, body: Json) -> Command {
        let base = self.spec.emulator.as_deref().unwrap_or_default();
        let mut body = body;
        body["resource_id"] = json!(self.spec.account);
        Command::Emulator {
            url: format!("{}/api/apply-periodic-settings", base.trim_end_matches('/')),
            body,
        }
    }

    fn slurm(&self, setting: String) -> Command {
        Command::slurm(self.target.modify_account_one(&self.spec.account, &setting))
    }

    fn fairshare(&self, n: u32) -> Command {
        match self.spec.emulator {
            Some(_) => self.emulator(json!({ "fairshare": n })),
            None => self.slurm(format!("fairshare={n}")),
        }
    }

    /// One command per TRES with sacctmgr; one request for all with the emulator.
    fn limits(&self, changed: &TresMap) -> Vec<Command> {
        let keyword = crate::commands::keyword(self.spec.limit_field);
        match self.spec.emulator {
            Some(_) => vec![self.emulator(json!({ settings_key(self.spec.limit_field): changed }))],
            None => changed
                .iter()
                .map(|(t, v)| self.slurm(format!("{keyword}={t}={v}")))
                .collect(),
        }
    }

    fn reset(&self) -> Command {
        match self.spec.emulator {
            Some(_) => self.emulator(json!({ "reset_raw_usage": true })),
            None => self.slurm("RawUsage=0".into()),
        }
    }
}

impl Planner<'_> {
    pub(super) fn plan_periodic(&mut self) {
        let first_seq = self.desired.waldur_calls.len();
        for (i, spec) in self.desired.periodic.values().enumerate() {
            let account = spec.account.as_str();
            if self.blocked.contains(account) || !self.desired.accounts.contains_key(account) {
                continue;
            }
            let current = self.observed.accounts.get(account);
            // A new account: its periodic fields follow its creation.
            let after_creation = current.is_none().then(|| Address::Account(account.into()));
            let mut planned = Vec::new();
            if let Some(change) = self.periodic_fields(spec, current) {
                planned.push(change.address.clone());
                self.push(
                    tier_rank(Tier::Allocation),
                    None,
                    change.after(after_creation.clone()),
                );
            }
            if let Some(reset) = &spec.reset {
                if let Some(change) = self.raw_usage_reset(spec, reset) {
                    let change = change
                        .after(planned.first().cloned())
                        .after(after_creation.clone());
                    planned.push(change.address.clone());
                    self.push(tier_rank(Tier::Allocation), None, change);
                }
            }
            if let (Some(report), false) = (&spec.report, planned.is_empty()) {
                let change = self.report(account, report, planned);
                self.push_waldur(first_seq + i, change);
            }
        }
    }

    /// `report-command-result` for the changes at `planned`: the body shows the success
    /// case; the executor puts in what happened.
    fn report(&self, account: &str, report: &ResultReport, planned: Vec<Address>) -> Change {
        let commands: Vec<String> = self
            .changes
            .iter()
            .filter(|(_, c)| planned.contains(&c.address))
            .flat_map(|(_, c)| c.commands.iter().map(crate::render::executed_line))
            .collect();
        Change::new(
            Address::Waldur(format!(
                "periodic/{}/report-command-result",
                report.resource
            )),
            Action::Call,
            Phase::WaldurAfter,
            Effect::None,
        )
        .reason(Reason::new(
            "periodic_report",
            format!(
                "tell Waldur's policy {} what was applied to {account}",
                report.policy
            ),
        ))
        .command(Command::Waldur {
            offering: report.offering.clone(),
            method: "POST".into(),
            path: format!(
                "/api/marketplace-slurm-periodic-usage-policies/{}/report-command-result/",
                dashed(&report.policy)
            ),
            body: Some(json!({
                "resource_uuid": dashed(&report.resource),
                "success": true,
                "error_message": "",
                "mode": report.mode,
                "commands_executed": commands,
            })),
        })
        .after(planned)
        .reports_outcome()
    }

    /// Fairshare and limit entries that differ from what SLURM holds.
    fn periodic_fields(
        &mut self,
        spec: &PeriodicSpec,
        current: Option<&AccountValues>,
    ) -> Option<Change> {
        let ctx = self.ctx;
        let writes = Writes {
            target: &ctx.target,
            spec,
        };
        let mut commands = Vec::new();
        let mut fields = Vec::new();
        let mut reasons = Vec::new();
        let mut effect = Vec::new();
        if let Some(w) = &spec.fairshare {
            let have = current.map(|c| c.fairshare.clone());
            if have != Some(Shares::Value(w.value)) {
                commands.push(writes.fairshare(w.value));
                fields.push((
                    "fairshare".to_string(),
                    have.map(|h| h.render()),
                    w.value.to_string(),
                ));
                reasons.push(format!("fairshare {}: {}", w.value, w.why));
                effect.push((
                    AccountField::Fairshare,
                    Value::Shares(Shares::Value(w.value)),
                ));
            }
        }
        let have = current_map(current, spec.limit_field);
        let keyword = crate::commands::keyword(spec.limit_field);
        let mut changed = TresMap::new();
        let mut unknown = Vec::new();
        for (tres, w) in &spec.limits {
            if !self.observed.tres.is_empty() && !self.observed.tres.contains(tres) {
                unknown.push(tres.as_str());
                continue;
            }
            if have.get(tres) != Some(&w.value) {
                changed.insert(tres.clone(), w.value);
                fields.push((
                    format!("{keyword}[{tres}]"),
                    have.get(tres).map(u64::to_string),
                    w.value.to_string(),
                ));
                reasons.push(format!("{keyword}[{tres}] {}: {}", w.value, w.why));
            }
        }
        if !unknown.is_empty() {
            self.diagnostics.push(Diagnostic::warning(
                "unknown_tres",
                format!(
                    "TRES {} of the periodic settings of {} not known to cluster {} (sacctmgr show tres); left out",
                    unknown.join(", "),
                    spec.account,
                    self.observed.cluster
                ),
            ));
        }
        if !changed.is_empty() {
            commands.extend(writes.limits(&changed));
            let mut merged = have;
            merged.extend(changed);
            effect.push((spec.limit_field, Value::Tres(merged)));
        }
        if commands.is_empty() {
            return None;
        }
        let mut change = Change::new(
            Address::Periodic(spec.account.clone()),
            Action::Update,
            Phase::AccountUpdate,
            Effect::AccountUpdate(spec.account.clone(), effect),
        )
        .reason(spec.source.clone());
        for r in reasons {
            change = change.reason(Reason::new(&spec.source.code, r));
        }
        for (field, before, after) in fields {
            change = change.field(&field, before, Some(after));
        }
        for c in commands {
            change = change.command(c);
        }
        Some(change)
    }

    /// `RawUsage=0` unless the agent's record shows this period's reset done.
    fn raw_usage_reset(&mut self, spec: &PeriodicSpec, reset: &ResetRequest) -> Option<Change> {
        let account = &spec.account;
        let observed = self.observed;
        let Some(done) = &observed.raw_usage_resets else {
            self.diagnostics.push(Diagnostic::error(
                "raw_usage_reset_held",
                format!(
                    "the RawUsage reset of {account} for period {} is held back: the agent's record of the resets it made could not be read",
                    reset.period
                ),
            ));
            return None;
        };
        let last = done.get(account);
        if last == Some(&reset.period) {
            return None;
        }
        if reset.needs_earlier_reset && last.is_none() {
            self.diagnostics.push(Diagnostic::info(
                "raw_usage_reset_not_due",
                format!(
                    "no RawUsage reset of {account} for period {}: the agent has not reset it in an earlier period, so this may be the middle of the period (the first reset comes with Waldur's message or the next period change)",
                    reset.period
                ),
            ));
            return None;
        }
        let command = Writes {
            target: &self.ctx.target,
            spec,
        }
        .reset();
        Some(
            Change::new(
                Address::RawUsage(account.clone(), reset.period.clone()),
                Action::Update,
                Phase::AccountUpdate,
                Effect::RawUsageReset(account.clone(), reset.period.clone()),
            )
            .reason(spec.source.clone())
            .reason(Reason::new(
                &spec.source.code,
                format!("RawUsage reset for period {}: {}", reset.period, reset.why),
            ))
            .field(
                "RawUsage",
                Some(match last {
                    Some(p) => format!("last reset in {p}"),
                    None => "no reset recorded".into(),
                }),
                Some(format!("0 (period {})", reset.period)),
            )
            .command(command),
        )
    }
}

/// A hex UUID in Waldur's dashed form (the periodic-policy paths use it).
fn dashed(hex: &str) -> String {
    if hex.len() != 32 {
        return hex.to_string();
    }
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}
