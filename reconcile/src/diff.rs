//! Compares desired and observed state and produces the ordered plan.
//!
//! Rules, in the words an operator would use:
//! - Only what the agent owns is changed: the accounts in the desired state, the user
//!   associations on those accounts, and accounts that Waldur says are terminated
//!   (tombstones). Anything else is at most reported as a diagnostic.
//! - Accounts are created parents first and deleted children first; a user's default
//!   account is moved off an association before that association is removed.
//! - A change that cannot succeed (its parent account is missing, it names a QoS the
//!   cluster does not have) is left out and reported, rather than planned to fail.
//! - The result depends only on the inputs: the same snapshots give the same bytes.

use std::collections::{BTreeMap, BTreeSet};

use crate::commands::SlurmTarget;
use crate::plan::{
    Action, Change, Command, Diagnostic, Effect, FieldChange, Kind, Phase, Plan, Reason,
};
use crate::state::{
    AccountField, AccountSpec, AccountValues, AssocKey, Desired, Observed, ObservedAssoc, Shares,
    Stage, Tier, Value,
};
use crate::tres::TresMap;

/// Settings that shape the commands, not the state.
#[derive(Debug, Clone)]
pub struct PlanContext {
    pub target: SlurmTarget,
    /// Cancel the jobs of an association or account before removing it.
    pub cancel_jobs: bool,
    /// Preferred new default account when a user's default account goes away.
    pub fallback_default_account: Option<String>,
}

/// Plans the changes that make `observed` look like `desired`.
pub fn plan(desired: &Desired, observed: &Observed, ctx: &PlanContext) -> Plan {
    let renamed = crate::fresh::resolve(desired, observed);
    let desired = renamed.as_ref().unwrap_or(desired);
    let mut p = Planner {
        desired,
        observed,
        ctx,
        changes: Vec::new(),
        diagnostics: desired.diagnostics.clone(),
        blocked: BTreeSet::new(),
        account_addresses: BTreeMap::new(),
        deleted_accounts: BTreeSet::new(),
        collided: BTreeSet::new(),
    };
    p.check_anchors();
    let specs = p.effective_specs();
    p.plan_accounts(&specs);
    p.plan_associations();
    p.plan_tombstones();
    p.plan_default_account_moves();
    p.report_unmanaged(&specs);
    p.plan_waldur_calls();
    p.finish()
}

struct Planner<'a> {
    desired: &'a Desired,
    observed: &'a Observed,
    ctx: &'a PlanContext,
    changes: Vec<(SortKey, Change)>,
    diagnostics: Vec<Diagnostic>,
    /// Accounts whose changes were left out: nothing that depends on them is planned.
    blocked: BTreeSet<String>,
    /// Account name -> addresses of the changes planned for it (its own and its users').
    account_addresses: BTreeMap<String, Vec<String>>,
    deleted_accounts: BTreeSet<String>,
    /// New allocations for which no free name was found: their orders are erred.
    collided: BTreeSet<String>,
}

/// Sort key within a phase.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct SortKey {
    phase: Phase,
    rank: i32,
    seq: usize,
    address: String,
}

fn account_address(name: &str) -> String {
    format!("account/{name}")
}

fn assoc_address(key: &AssocKey) -> String {
    if key.partition.is_empty() {
        format!("association/{}/{}", key.account, key.user)
    } else {
        format!("association/{}/{}/{}", key.account, key.user, key.partition)
    }
}

fn tier_rank(tier: Tier) -> i32 {
    match tier {
        Tier::Customer => 0,
        Tier::Project => 1,
        Tier::Allocation => 2,
    }
}

impl Planner<'_> {
    fn push(&mut self, rank: i32, account: Option<&str>, change: Change) {
        if let Some(a) = account {
            self.account_addresses
                .entry(a.to_string())
                .or_default()
                .push(change.address.clone());
        }
        let key = SortKey {
            phase: change.phase,
            rank,
            seq: 0,
            address: change.address.clone(),
        };
        self.changes.push((key, change));
    }

    fn exists_or_planned(&self, account: &str) -> bool {
        self.observed.accounts.contains_key(account)
            || (self.desired.accounts.contains_key(account) && !self.blocked.contains(account))
    }

    fn check_anchors(&mut self) {
        for anchor in &self.desired.anchors {
            if !self.observed.accounts.contains_key(anchor) {
                self.diagnostics.push(Diagnostic::error(
                    "missing_anchor_account",
                    format!(
                        "account {anchor} is configured as a root/parent/default account but does not exist on cluster {}; \
                         create it (sacctmgr add account {anchor}) — accounts below it are not planned",
                        self.observed.cluster
                    ),
                ));
            }
        }
    }

    /// Desired specs with what the cluster cannot take removed: TRES it does not know
    /// (one warning per TRES) and QoS it does not have (an error per use).
    fn effective_specs(&mut self) -> Vec<AccountSpec> {
        let mut unknown_tres: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut specs: Vec<AccountSpec> = Vec::new();
        for spec in self.desired.accounts.values() {
            let mut spec = spec.clone();
            for value in spec.fields.values_mut() {
                if let Value::Tres(map) = value {
                    if !self.observed.tres.is_empty() {
                        map.retain(|k, _| {
                            let known = self.observed.tres.contains(k);
                            if !known {
                                unknown_tres
                                    .entry(k.clone())
                                    .or_default()
                                    .push(spec.name.clone());
                            }
                            known
                        });
                    }
                }
            }
            let mut missing_qos = Vec::new();
            if let Some(Value::List(levels)) = spec.fields.get(&AccountField::Qos) {
                missing_qos.extend(
                    levels
                        .iter()
                        .filter(|q| !self.observed.qos.contains(*q))
                        .cloned(),
                );
            }
            if let Some(Value::OptText(Some(q))) = spec.fields.get(&AccountField::DefaultQos) {
                if !self.observed.qos.contains(q) {
                    missing_qos.push(q.clone());
                }
            }
            if !missing_qos.is_empty() {
                spec.fields.remove(&AccountField::Qos);
                spec.fields.remove(&AccountField::DefaultQos);
                self.diagnostics.push(Diagnostic::error(
                    "missing_qos",
                    format!(
                        "account {} should get QoS {} but the cluster has no such QoS; its QoS is left as is \
                         (create it with: sacctmgr add qos {})",
                        spec.name,
                        missing_qos.join(","),
                        missing_qos[0]
                    ),
                ));
            }
            specs.push(spec);
        }
        for (tres, accounts) in unknown_tres {
            self.diagnostics.push(Diagnostic::warning(
                "unknown_tres",
                format!(
                    "TRES {tres} is not known to cluster {} (sacctmgr show tres); it is left out of the limits of {} account(s), e.g. {}",
                    self.observed.cluster,
                    accounts.len(),
                    accounts[0]
                ),
            ));
        }
        specs.sort_by(|a, b| (a.tier, &a.name).cmp(&(b.tier, &b.name)));
        specs
    }

    fn plan_accounts(&mut self, specs: &[AccountSpec]) {
        for spec in specs {
            let Some(parent) = spec.parent().map(str::to_string) else {
                continue;
            };
            if self.desired.tombstones.contains_key(&spec.name) {
                self.diagnostics.push(Diagnostic::warning(
                    "wanted_and_terminated",
                    format!(
                        "account {} is both wanted and terminated in Waldur; it is kept",
                        spec.name
                    ),
                ));
            }
            let parent_ok = self.observed.accounts.contains_key(&parent)
                || (self.desired.accounts.contains_key(&parent) && !self.blocked.contains(&parent));
            if !parent_ok {
                self.blocked.insert(spec.name.clone());
                if !self.desired.anchors.contains(&parent) {
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
            let depends_on = if parent_created {
                vec![account_address(&parent)]
            } else {
                vec![]
            };
            match self.observed.accounts.get(&spec.name) {
                None => self.create_account(spec, depends_on),
                Some(current) => self.update_account(spec, current, &parent, parent_created),
            }
        }
    }

    fn create_account(&mut self, spec: &AccountSpec, depends_on: Vec<String>) {
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
                fields.push(FieldChange {
                    field: field.name().to_string(),
                    before: None,
                    after: value.display(),
                });
            }
            values.set(*field, value);
        }
        let argv = self.ctx.target.add_account(&spec.name, &sets);
        let change = Change {
            address: account_address(&spec.name),
            kind: Kind::Account,
            action: Action::Create,
            phase: Phase::AccountCreate,
            fields,
            reasons: vec![spec.reason.clone()],
            depends_on,
            commands: vec![Command::slurm(argv)],
            on_failure: None,
            effect: Effect::AccountCreate(spec.name.clone(), Box::new(values)),
        };
        self.push(tier_rank(spec.tier), Some(&spec.name.clone()), change);
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
            let have = current.get(*field);
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
        let mut reasons = vec![Reason::new(
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
        )];
        reasons.push(spec.reason.clone());
        let fields = diffs
            .iter()
            .map(|(f, wanted, have)| FieldChange {
                field: f.name().to_string(),
                before: have.display(),
                after: wanted.display(),
            })
            .collect();
        let argv = self.ctx.target.modify_account(&spec.name, &diffs);
        let depends_on = if parent_created && diffs.iter().any(|d| d.0 == AccountField::Parent) {
            vec![account_address(parent)]
        } else {
            vec![]
        };
        let change = Change {
            address: account_address(&spec.name),
            kind: Kind::Account,
            action: Action::Update,
            phase: Phase::AccountUpdate,
            fields,
            reasons,
            depends_on,
            commands: vec![Command::slurm(argv)],
            on_failure: None,
            effect: Effect::AccountUpdate(
                spec.name.clone(),
                diffs.into_iter().map(|(f, w, _)| (f, w)).collect(),
            ),
        };
        self.push(0, Some(&spec.name.clone()), change);
    }

    fn plan_associations(&mut self) {
        let mut users_with_default: BTreeSet<String> =
            self.observed.users.keys().cloned().collect();
        let mut have = self.observed.associations.iter().peekable();
        let mut last_account: Option<(&str, bool)> = None;
        for (key, spec) in &self.desired.associations {
            let ok = match last_account {
                Some((a, ok)) if a == key.account => ok,
                _ => {
                    let ok = self.exists_or_planned(&key.account)
                        && !self.blocked.contains(&key.account);
                    last_account = Some((&key.account, ok));
                    ok
                }
            };
            while have.peek().is_some_and(|(k, _)| *k < key) {
                have.next();
            }
            let current = have.peek().filter(|(k, _)| *k == key).map(|(_, v)| *v);
            if !ok {
                continue;
            }
            let mut grant = spec.qos_grant.clone();
            if let Some(g) = &grant {
                let missing: Vec<_> = g
                    .levels
                    .iter()
                    .chain(g.default.iter())
                    .filter(|q| !self.observed.qos.contains(*q))
                    .cloned()
                    .collect();
                if !missing.is_empty() {
                    self.diagnostics.push(Diagnostic::error(
                        "missing_qos",
                        format!(
                            "association {} should be granted QoS {} which the cluster does not have; created without it",
                            assoc_address(key),
                            missing.join(",")
                        ),
                    ));
                    grant = None;
                }
            }
            let limits = spec.max_tres_mins.as_ref().map(|m| self.known_tres(m));
            match current {
                None => {
                    // DefaultAccount only for a user SLURM does not know yet: an existing
                    // user's default is theirs to keep.
                    let default_account = if users_with_default.insert(key.user.clone()) {
                        spec.default_account.clone()
                    } else {
                        None
                    };
                    let levels = grant
                        .as_ref()
                        .map(|g| g.levels.iter().cloned().collect::<Vec<_>>().join(","));
                    let argv = self.ctx.target.add_user(
                        key,
                        default_account.as_deref(),
                        levels
                            .as_deref()
                            .map(|l| (l, grant.as_ref().and_then(|g| g.default.as_deref()))),
                        limits.as_ref(),
                    );
                    let mut fields = vec![];
                    if let Some(d) = &default_account {
                        fields.push(FieldChange {
                            field: "default_account".into(),
                            before: None,
                            after: Some(d.clone()),
                        });
                    }
                    if let Some(l) = &levels {
                        fields.push(FieldChange {
                            field: "qos".into(),
                            before: None,
                            after: Some(l.clone()),
                        });
                    }
                    if let Some(m) = limits.as_ref().filter(|m| !m.is_empty()) {
                        fields.push(FieldChange {
                            field: "MaxTRESMins".into(),
                            before: None,
                            after: Some(crate::tres::render(m)),
                        });
                    }
                    let depends_on = if self.observed.accounts.contains_key(&key.account) {
                        vec![]
                    } else {
                        vec![account_address(&key.account)]
                    };
                    let assoc = ObservedAssoc {
                        fairshare: Shares::Parent,
                        qos: grant.as_ref().map(|g| g.levels.clone()).unwrap_or_default(),
                        default_qos: grant.as_ref().and_then(|g| g.default.clone()),
                        max_tres_mins: limits.clone().unwrap_or_default(),
                    };
                    let change = Change {
                        address: assoc_address(key),
                        kind: Kind::Association,
                        action: Action::Create,
                        phase: Phase::AssociationCreate,
                        fields,
                        reasons: vec![spec.reason.clone()],
                        depends_on,
                        commands: vec![Command::slurm(argv)],
                        on_failure: None,
                        effect: Effect::AssocCreate(key.clone(), assoc, default_account),
                    };
                    self.push(0, Some(&key.account), change);
                }
                Some(current) => {
                    let Some(wanted) = limits else { continue };
                    let own = self.own_user_limits(key, current, &wanted);
                    if wanted == own {
                        continue;
                    }
                    let argv = self.ctx.target.modify_user_limits(key, &wanted, &own);
                    let change = Change {
                        address: assoc_address(key),
                        kind: Kind::Association,
                        action: Action::Update,
                        phase: Phase::AssociationUpdate,
                        fields: vec![FieldChange {
                            field: "MaxTRESMins".into(),
                            before: Value::Tres(own.clone()).display(),
                            after: Value::Tres(wanted.clone()).display(),
                        }],
                        reasons: vec![
                            Reason::new(
                                "drift",
                                format!("per-user limits of {} differ from Waldur", key.user),
                            ),
                            spec.reason.clone(),
                        ],
                        depends_on: vec![],
                        commands: vec![Command::slurm(argv)],
                        on_failure: None,
                        effect: Effect::AssocUpdate(key.clone(), wanted),
                    };
                    self.push(0, Some(&key.account), change);
                }
            }
        }

        // Users on owned accounts that Waldur does not list are removed.
        let stray: Vec<AssocKey> = self
            .observed
            .associations
            .keys()
            .filter({
                let desired = self.desired;
                // Both maps are sorted by key: one ordered pass instead of a lookup each.
                let mut wanted = desired.associations.keys().peekable();
                let mut last: Option<(&str, bool)> = None;
                move |k: &&AssocKey| {
                    while wanted.peek().is_some_and(|d| *d < *k) {
                        wanted.next();
                    }
                    if wanted.peek() == Some(k) {
                        return false;
                    }
                    match last {
                        Some((a, owned)) if a == k.account => owned,
                        _ => {
                            let owned = desired.accounts.contains_key(&k.account)
                                && !desired.keep_users.contains(&k.account);
                            last = Some((&k.account, owned));
                            owned
                        }
                    }
                }
            })
            .cloned()
            .collect();
        for key in stray {
            let mut commands = Vec::new();
            if self.ctx.cancel_jobs {
                commands.push(Command::Slurm {
                    argv: self.ctx.target.cancel_jobs(&key.account, Some(&key.user)),
                    best_effort: true,
                });
            }
            commands.push(Command::slurm(self.ctx.target.remove_user(&key)));
            let change = Change {
                address: assoc_address(&key),
                kind: Kind::Association,
                action: Action::Delete,
                phase: Phase::AssociationDelete,
                fields: vec![],
                reasons: vec![Reason::new(
                    "not_a_member",
                    format!(
                        "{} is not a member of the Waldur resource behind {} (or has no offering user in state OK)",
                        key.user, key.account
                    ),
                )],
                depends_on: vec![],
                commands,
                on_failure: None,
                effect: Effect::AssocDelete(key.clone()),
            };
            self.push(0, Some(&key.account.clone()), change);
        }
    }

    /// A user's MaxTRESMins without entries that merely repeat the account's. Real
    /// sacctmgr shows only the row's own limits (`WOPLimits`), but accounting front-ends
    /// such as slurm-emulator fill them in from the parents, and an inherited entry the
    /// agent does not want would otherwise be "cleared" with -1 on every cycle.
    fn own_user_limits(
        &self,
        key: &AssocKey,
        current: &ObservedAssoc,
        wanted: &TresMap,
    ) -> TresMap {
        let account = self.observed.accounts.get(&key.account);
        current
            .max_tres_mins
            .iter()
            .filter(|(tres, value)| {
                wanted.contains_key(*tres)
                    || account.and_then(|a| a.max_tres_mins.get(*tres)) != Some(*value)
            })
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }

    fn known_tres(&self, map: &TresMap) -> TresMap {
        if self.observed.tres.is_empty() {
            return map.clone();
        }
        map.iter()
            .filter(|(k, _)| self.observed.tres.contains(*k))
            .map(|(k, v)| (k.clone(), *v))
            .collect()
    }

    fn plan_tombstones(&mut self) {
        let mut deleting: BTreeMap<String, (Tier, Reason)> = BTreeMap::new();
        for stone in self.desired.tombstones.values() {
            if self.desired.accounts.contains_key(&stone.account)
                || !self.observed.accounts.contains_key(&stone.account)
            {
                continue;
            }
            deleting.insert(stone.account.clone(), (stone.tier, stone.reason.clone()));
            // The project account goes too once nothing else lives under it.
            if let Some(parent) = &stone.cascade_parent {
                if !self.desired.accounts.contains_key(parent)
                    && self.observed.accounts.contains_key(parent)
                {
                    deleting.entry(parent.clone()).or_insert((
                        Tier::Project,
                        Reason::new(
                            "project_empty",
                            format!(
                                "{parent} has no allocation left after {} is removed",
                                stone.account
                            ),
                        ),
                    ));
                }
            }
        }
        // Drop candidates that still have children or users we are not removing.
        loop {
            let keep: Vec<String> = deleting
                .keys()
                .filter(|name| {
                    let (tier, _) = &deleting[*name];
                    let live_child = self
                        .observed
                        .children_of(name)
                        .any(|c| !deleting.contains_key(c));
                    let users_block = *tier != Tier::Allocation
                        && self.observed.associations_of(name).next().is_some();
                    live_child || users_block
                })
                .cloned()
                .collect();
            if keep.is_empty() {
                break;
            }
            for name in keep {
                let (tier, _) = deleting.remove(&name).expect("present");
                if tier == Tier::Allocation {
                    self.diagnostics.push(Diagnostic::error(
                        "delete_blocked",
                        format!("account {name} is terminated in Waldur but has sub-accounts the agent does not own; not removed"),
                    ));
                }
            }
        }
        for (name, (tier, reason)) in deleting {
            let users: Vec<String> = self
                .observed
                .associations_of(&name)
                .map(|(k, _)| k.user.clone())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let mut commands = Vec::new();
            if !users.is_empty() {
                if self.ctx.cancel_jobs {
                    commands.push(Command::Slurm {
                        argv: self.ctx.target.cancel_jobs(&name, None),
                        best_effort: true,
                    });
                }
                commands.push(Command::slurm(self.ctx.target.remove_all_users(&name)));
            }
            commands.push(Command::slurm(self.ctx.target.remove_account(&name)));
            let mut fields = vec![];
            if !users.is_empty() {
                fields.push(FieldChange {
                    field: "users".into(),
                    before: Some(users.join(",")),
                    after: None,
                });
            }
            let depends_on = self
                .observed
                .children_of(&name)
                .map(account_address)
                .collect();
            let change = Change {
                address: account_address(&name),
                kind: Kind::Account,
                action: Action::Delete,
                phase: Phase::AccountDelete,
                fields,
                reasons: vec![reason],
                depends_on,
                commands,
                on_failure: None,
                effect: Effect::AccountDelete(name.clone()),
            };
            self.deleted_accounts.insert(name.clone());
            self.push(-tier_rank(tier), Some(&name), change);
        }
    }

    /// Moves a user's default account off an association about to be removed, to one that
    /// stays (the configured default account when the user has it).
    fn plan_default_account_moves(&mut self) {
        let mut removed: BTreeSet<AssocKey> = BTreeSet::new();
        let mut added: BTreeSet<AssocKey> = BTreeSet::new();
        for (_, c) in &self.changes {
            match &c.effect {
                Effect::AssocDelete(k) => {
                    removed.insert(k.clone());
                }
                Effect::AssocCreate(k, _, _) => {
                    added.insert(k.clone());
                }
                _ => {}
            }
        }
        let mut moves = Vec::new();
        for (user, default) in &self.observed.users {
            let loses_default = self.deleted_accounts.contains(default)
                || removed
                    .iter()
                    .any(|k| &k.user == user && &k.account == default);
            if !loses_default {
                continue;
            }
            let remaining: BTreeSet<String> = self
                .observed
                .associations
                .keys()
                .filter(|k| &k.user == user)
                .filter(|k| !removed.contains(*k) && !self.deleted_accounts.contains(&k.account))
                .chain(added.iter().filter(|k| &k.user == user))
                .map(|k| k.account.clone())
                .collect();
            if remaining.contains(default) {
                continue;
            }
            let target = match &self.ctx.fallback_default_account {
                Some(f) if remaining.contains(f) => Some(f.clone()),
                _ => remaining.iter().next().cloned(),
            };
            if let Some(target) = target {
                moves.push((user.clone(), default.clone(), target));
            }
        }
        for (user, from, to) in moves {
            let depends_on = added
                .iter()
                .filter(|k| k.user == user && k.account == to)
                .map(assoc_address)
                .collect();
            let change = Change {
                address: format!("user/{user}"),
                kind: Kind::User,
                action: Action::Update,
                phase: Phase::DefaultAccountMove,
                fields: vec![FieldChange {
                    field: "default_account".into(),
                    before: Some(from.clone()),
                    after: Some(to.clone()),
                }],
                reasons: vec![Reason::new(
                    "default_account_removed",
                    format!("{user}'s default account {from} is being removed"),
                )],
                depends_on,
                commands: vec![Command::slurm(
                    self.ctx.target.set_default_account(&user, &to),
                )],
                on_failure: None,
                effect: Effect::DefaultAccount(user.clone(), to.clone()),
            };
            self.push(0, None, change);
        }
    }

    fn report_unmanaged(&mut self, specs: &[AccountSpec]) {
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

    fn plan_waldur_calls(&mut self) {
        for (seq, call) in self.desired.waldur_calls.iter().enumerate() {
            if let (Some(b), Some(erred)) = (
                call.accounts.iter().find(|a| self.collided.contains(*a)),
                &call.on_failure,
            ) {
                let change = Change {
                    address: format!("waldur/{}/erred", call.id),
                    kind: Kind::Waldur,
                    action: Action::Call,
                    phase: Phase::WaldurAfter,
                    fields: vec![],
                    reasons: vec![Reason::new(
                        "name_collision",
                        format!(
                            "no free SLURM account name for {b}; the order cannot be carried out"
                        ),
                    )],
                    depends_on: vec![],
                    commands: vec![Command::Waldur {
                        offering: call.offering.clone(),
                        method: "POST".into(),
                        path: erred.clone(),
                        body: Some(serde_json::json!({
                            "error_message": format!("SLURM account {b} and {b}-1 .. {b}-{} already exist; rename the resource or remove the stale accounts, then order again", crate::fresh::MAX_SUFFIX),
                            "error_traceback": ""
                        })),
                    }],
                    on_failure: None,
                    effect: Effect::None,
                };
                self.push_waldur(seq, change);
                continue;
            }
            if let Some(b) = call.accounts.iter().find(|a| self.blocked.contains(*a)) {
                self.diagnostics.push(Diagnostic::warning(
                    "waldur_call_held",
                    format!(
                        "{} {} is held back: the SLURM changes for {b} cannot be planned",
                        call.method, call.path
                    ),
                ));
                continue;
            }
            let mut depends_on: Vec<String> = call
                .accounts
                .iter()
                .flat_map(|a| self.account_addresses.get(a).cloned().unwrap_or_default())
                .collect();
            depends_on.extend(call.after_calls.iter().map(|id| format!("waldur/{id}")));
            depends_on.sort();
            depends_on.dedup();
            let change = Change {
                address: format!("waldur/{}", call.id),
                kind: Kind::Waldur,
                action: Action::Call,
                phase: match call.stage {
                    Stage::Before => Phase::WaldurBefore,
                    Stage::After => Phase::WaldurAfter,
                },
                fields: vec![],
                reasons: vec![call.reason.clone()],
                depends_on,
                commands: vec![Command::Waldur {
                    offering: call.offering.clone(),
                    method: call.method.clone(),
                    path: call.path.clone(),
                    body: call.body.clone(),
                }],
                on_failure: call.on_failure.as_ref().map(|path| Command::Waldur {
                    offering: call.offering.clone(),
                    method: "POST".into(),
                    path: path.clone(),
                    body: Some(serde_json::json!({
                        "error_message": "<the failed SLURM change and its message>",
                        "error_traceback": ""
                    })),
                }),
                effect: Effect::None,
            };
            self.push_waldur(seq, change);
        }
    }

    /// Waldur calls keep the order the builder gave them (seq), not address order.
    fn push_waldur(&mut self, seq: usize, change: Change) {
        let key = SortKey {
            phase: change.phase,
            rank: 0,
            seq,
            address: String::new(),
        };
        self.changes.push((key, change));
    }

    fn finish(mut self) -> Plan {
        self.changes.sort_by(|a, b| a.0.cmp(&b.0));
        // Only keep dependencies on changes that are in the plan.
        let present: BTreeSet<String> = self
            .changes
            .iter()
            .map(|(_, c)| c.address.clone())
            .collect();
        let changes = self
            .changes
            .into_iter()
            .map(|(_, mut c)| {
                c.depends_on
                    .retain(|d| present.contains(d) && d != &c.address);
                c.depends_on.sort();
                c.depends_on.dedup();
                c
            })
            .collect();
        self.diagnostics.sort();
        self.diagnostics.dedup();
        Plan::new(&self.observed.cluster, changes, self.diagnostics)
    }
}
