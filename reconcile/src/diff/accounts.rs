//! Account creations and updates, parents first; unmanaged children of managed accounts
//! are reported, never touched.

use std::collections::BTreeMap;

use super::{tier_rank, Planner};
use crate::plan::{Action, Address, Change, Command, Diagnostic, Effect, Phase, Reason};
use crate::state::{AccountField, AccountSpec, AccountValues, Tier, Value};

impl Planner<'_> {
    pub(super) fn plan_accounts(&mut self, specs: &[AccountSpec]) {
        for spec in specs {
            let Some(parent) = spec.parent().map(str::to_string) else {
                continue;
            };
            if self.blocked.contains(&spec.name) {
                continue;
            }
            if self.desired.tombstones.contains_key(&spec.name) {
                self.diagnostics.push(Diagnostic::warning(
                    "wanted_and_terminated",
                    format!(
                        "account {} is both wanted and terminated in Waldur; it is kept",
                        spec.name
                    ),
                ));
            }
            let parent_blocked = self.blocked.contains(&parent);
            let parent_ok = !parent_blocked
                && (self.observed.accounts.contains_key(&parent)
                    || self.desired.accounts.contains_key(&parent));
            if !parent_ok {
                self.blocked.insert(spec.name.clone());
                // A missing anchor or a parent left out has its own diagnostic.
                if !self.desired.anchors.contains(&parent) && !parent_blocked {
                    self.diagnostics.push(Diagnostic::error(
                        "missing_parent",
                        format!(
                            "account {} cannot be placed: its parent {parent} does not exist and is not planned",
                            spec.name
                        ),
                    ));
                }
                continue;
            }
            if spec.fresh && self.observed.accounts.contains_key(&spec.name) {
                self.blocked.insert(spec.name.clone());
                self.collided.insert(spec.name.clone());
                self.diagnostics.push(Diagnostic::error(
                    "name_collision",
                    format!(
                        "the new allocation's account name {0} and {0}-1 .. {0}-{1} are all taken in SLURM; its order is marked erred",
                        spec.name,
                        crate::fresh::MAX_SUFFIX
                    ),
                ));
                continue;
            }
            let parent_created = !self.observed.accounts.contains_key(&parent);
            match self.observed.accounts.get(&spec.name) {
                None => {
                    let depends_on = parent_created.then(|| Address::Account(parent.clone()));
                    self.create_account(spec, depends_on)
                }
                Some(current) => self.update_account(spec, current, &parent, parent_created),
            }
        }
    }

    fn create_account(&mut self, spec: &AccountSpec, depends_on: Option<Address>) {
        let parent = spec.parent().unwrap_or_default().to_string();
        let mut values = AccountValues::new_default(&spec.name, &parent);
        let defaults = values.clone();
        let mut sets = Vec::new();
        let mut fields = Vec::new();
        for (field, value) in &spec.fields {
            let always = matches!(
                field,
                AccountField::Parent | AccountField::Description | AccountField::Organization
            );
            if always || defaults.get(*field) != *value {
                sets.push((*field, value.clone()));
                fields.push((field.name(), value.display()));
            }
            values.set(*field, value);
        }
        let argv = self.ctx.target.add_account(&spec.name, &sets);
        let mut change = Change::new(
            Address::Account(spec.name.clone()),
            Action::Create,
            Phase::AccountCreate,
            Effect::AccountCreate(spec.name.clone(), Box::new(values)),
        )
        .reason(spec.reason.clone())
        .after(depends_on)
        .command(Command::slurm(argv));
        for (field, after) in fields {
            change = change.field(field, None, after);
        }
        self.push(tier_rank(spec.tier), Some(&spec.name), change);
    }

    fn update_account(
        &mut self,
        spec: &AccountSpec,
        current: &AccountValues,
        parent: &str,
        parent_created: bool,
    ) {
        let mut diffs: Vec<(AccountField, Value, Value)> = Vec::new();
        for (field, wanted) in &spec.fields {
            // Only TRES the cluster knows are compared: an entry left out of the desired
            // limits as unknown is left alone, never cleared (-1 would lift its cap).
            let have = match current.get(*field) {
                Value::Tres(m) => {
                    let mut m = self.known_tres(&m);
                    // Entries Waldur's limits do not name stay too (never -1).
                    if *field == AccountField::GrpTresMins {
                        if let Some(unnamed) = self.desired.unnamed_limits.get(&spec.name) {
                            m.retain(|t, _| !unnamed.contains(t));
                        }
                    }
                    Value::Tres(m)
                }
                other => other,
            };
            let equal = match (field, wanted) {
                (AccountField::Parent, _) => current.parent.as_deref() == Some(parent),
                _ => have == *wanted,
            };
            if !equal {
                diffs.push((*field, wanted.clone(), have));
            }
        }
        if diffs.is_empty() {
            return;
        }
        let drift = Reason::new(
            "drift",
            format!(
                "{} differs from Waldur: {}",
                spec.name,
                diffs
                    .iter()
                    .map(|d| d.0.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
        let argv = self.ctx.target.modify_account(&spec.name, &diffs);
        let reparented_under_new =
            parent_created && diffs.iter().any(|d| d.0 == AccountField::Parent);
        let mut change = Change::new(
            Address::Account(spec.name.clone()),
            Action::Update,
            Phase::AccountUpdate,
            Effect::AccountUpdate(
                spec.name.clone(),
                diffs.iter().map(|(f, w, _)| (*f, w.clone())).collect(),
            ),
        )
        .reason(drift)
        .reason(spec.reason.clone())
        .after(reparented_under_new.then(|| Address::Account(parent.to_string())))
        .command(Command::slurm(argv));
        for (field, wanted, have) in &diffs {
            change = change.field(field.name(), have.display(), wanted.display());
        }
        self.push(0, Some(&spec.name), change);
    }

    pub(super) fn report_unmanaged(&mut self, specs: &[AccountSpec]) {
        let mut children: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (name, v) in &self.observed.accounts {
            if let Some(p) = v.parent.as_deref() {
                children.entry(p).or_default().push(name.as_str());
            }
        }
        for spec in specs.iter().filter(|s| s.tier != Tier::Allocation) {
            for child in children
                .get(spec.name.as_str())
                .into_iter()
                .flatten()
                .copied()
            {
                if !self.desired.accounts.contains_key(child)
                    && !self.desired.tombstones.contains_key(child)
                {
                    self.diagnostics.push(Diagnostic::info(
                        "unmanaged_account",
                        format!(
                            "account {child} under managed account {} is not known to Waldur; left alone",
                            spec.name
                        ),
                    ));
                }
            }
        }
    }
}
