//! The additive part of a plan as one `sacctmgr load` flat file (the format of
//! `sacctmgr dump`): new accounts with every field, new user associations with their
//! partition, limits, QoS and the new user's default account.
//!
//! `sacctmgr load` makes every object it names look like its line: an account that
//! exists is re-parented and re-described, an association's limits are replaced, a
//! user's default account is moved (docs/decisions.md, "sacctmgr load"). So only
//! creations go in the file, and only those whose parent exists (the planner made the
//! change depend on nothing) or is created earlier in the same file. Everything else,
//! and every value a flat-file field cannot carry (quotes, colons, `#`, control
//! characters), is left to the caller's per-change path: the caller learns which
//! changes the file carries from [`LoadFile::carried`].

use std::collections::{BTreeMap, BTreeSet};

use crate::plan::{Action, Address, Change, Command, Effect};
use crate::state::{AccountValues, AssocKey, ObservedAssoc, Shares};
use crate::tres::{self, TresMap};

/// A flat file and what it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadFile {
    /// One object a line, `Cluster - ` first.
    pub lines: Vec<String>,
    /// The changes the file makes, in plan order.
    pub carried: Vec<Address>,
}

impl LoadFile {
    /// The whole file.
    pub fn text(&self) -> String {
        let mut text = self.lines.join("\n");
        text.push('\n');
        text
    }

    /// The file cut into files of at most `max_lines` object lines each, to be loaded
    /// in order: each opens with the cluster line and the parent its first line needs,
    /// so each stands alone (a bounded run, progress between them, and a run killed
    /// half-way loses at most its own part).
    pub fn chunks(&self, max_lines: usize) -> Vec<String> {
        let Some((cluster, body)) = self.lines.split_first() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut parent: Option<&str> = None;
        let mut current: Vec<&str> = Vec::new();
        let mut objects = 0;
        for line in body {
            if objects == max_lines.max(1) {
                out.push(current.join("\n") + "\n");
                current.clear();
                objects = 0;
            }
            if current.is_empty() {
                current.push(cluster);
                if let (Some(p), false) = (parent, line.starts_with("Parent - ")) {
                    current.push(p);
                }
            }
            if line.starts_with("Parent - ") {
                parent = Some(line);
            } else {
                objects += 1;
            }
            current.push(line);
        }
        if objects > 0 {
            out.push(current.join("\n") + "\n");
        }
        out
    }
}

/// Whether `value` can stand in a flat-file field: sacctmgr splits fields on `:`, ends
/// a line at `#` and has no escape for quotes.
pub fn field_safe(value: &str) -> bool {
    !value.is_empty()
        && !value.contains(['\'', '"', ':', '#', '\\'])
        && !value.chars().any(crate::escape::is_unsafe)
}

/// The flat file for the creations among `changes` that it can carry; `None` when it
/// carries nothing. `cluster` is the cluster the plan was made for (it exists: the
/// planner refuses a read without its root account; `load` would create a missing one).
pub fn render(cluster: &str, changes: &[&Change]) -> Option<LoadFile> {
    if !field_safe(cluster) {
        return None;
    }
    let mut known: BTreeSet<String> = BTreeSet::from(["root".to_string()]);
    let mut created: BTreeSet<String> = BTreeSet::new();
    let mut accounts: Vec<(&Change, &str, &AccountValues)> = Vec::new();
    for change in changes {
        if let Some((name, values)) = account_creation(change) {
            let parent = values.parent.as_deref().unwrap_or("root");
            if change.depends_on.is_empty() {
                known.insert(parent.to_string());
            }
            let deps_in_file = change
                .depends_on
                .iter()
                .all(|d| matches!(d, Address::Account(a) if created.contains(a)));
            if deps_in_file && account_safe(name, values) {
                created.insert(name.to_string());
                accounts.push((change, name, values));
            }
        }
    }
    let mut assocs: Vec<(&Change, &AssocKey, &ObservedAssoc, Option<&str>)> = Vec::new();
    for change in changes {
        if let Some((key, assoc, default)) = assoc_creation(change) {
            if change.depends_on.is_empty() {
                known.insert(key.account.clone());
            }
            assocs.push((change, key, assoc, default));
        }
    }
    known.extend(created.iter().cloned());
    let carriable =
        |(c, key, assoc, default): &(&Change, &AssocKey, &ObservedAssoc, Option<&str>)| {
            c.depends_on
                .iter()
                .all(|d| matches!(d, Address::Account(a) if created.contains(a)))
                && assoc_safe(key, assoc)
                && default.is_none_or(|d| field_safe(d) && known.contains(d))
        };
    // A new user is made by the first line that names them: when the line that gives
    // their default account cannot be carried, none of their lines are.
    let left_out_users: BTreeSet<&str> = assocs
        .iter()
        .filter(|a| a.3.is_some() && !carriable(a))
        .map(|a| a.1.user.as_str())
        .collect();
    let assocs: Vec<_> = assocs
        .into_iter()
        .filter(|a| carriable(a) && !left_out_users.contains(a.1.user.as_str()))
        .collect();
    if accounts.is_empty() && assocs.is_empty() {
        return None;
    }
    Some(write(cluster, &accounts, &assocs))
}

/// The lines in the order of `sacctmgr dump`: each parent's new accounts, then its
/// users, then the same for each of those accounts. slurmdbd keeps associations as a
/// nested set and shifts every row to the right of an insert; in this order each insert
/// lands near the right end, where all accounts first and all users after shift every
/// account row for every user.
fn write(
    cluster: &str,
    accounts: &[(&Change, &str, &AccountValues)],
    assocs: &[(&Change, &AssocKey, &ObservedAssoc, Option<&str>)],
) -> LoadFile {
    let created: BTreeSet<&str> = accounts.iter().map(|a| a.1).collect();
    // Existing accounts the file adds to, in the order the plan first names them.
    let mut tops: Vec<&str> = Vec::new();
    let mut children: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut kids: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut carried = Vec::new();
    for (change, name, values) in accounts {
        let parent = values.parent.as_deref().unwrap_or("root");
        if !created.contains(parent) && !tops.contains(&parent) {
            tops.push(parent);
        }
        children
            .entry(parent)
            .or_default()
            .push(account_line(name, values));
        kids.entry(parent).or_default().push(name);
        carried.push(change.address.clone());
    }
    // A new user whose default account is not the association's own gets that
    // association too, before their other lines (as `add user ... DefaultAccount=D`
    // does, with the same settings): `load` only makes a default of an association it
    // has. Defaults that exist already go first; one the file creates, in its place.
    let mut prelude: Vec<(&str, String)> = Vec::new();
    let mut users: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (change, key, assoc, default) in assocs {
        if let Some(d) = default.filter(|d| *d != key.account) {
            let line = user_line(&AssocKey::new(d, &key.user, &key.partition), assoc, Some(d));
            match created.get(d) {
                Some(d) => users.entry(d).or_default().push(line),
                None => prelude.push((d, line)),
            }
        }
        let account = key.account.as_str();
        if !created.contains(account) && !tops.contains(&account) {
            tops.push(account);
        }
        users
            .entry(account)
            .or_default()
            .push(user_line(key, assoc, *default));
        carried.push(change.address.clone());
    }
    let mut lines = vec![format!("Cluster - '{cluster}'")];
    let mut current: Option<String> = None;
    for (d, line) in prelude {
        parent_line(&mut lines, &mut current, d);
        lines.push(line);
    }
    let tree = Tree {
        children: &children,
        kids: &kids,
        users: &users,
    };
    for top in tops {
        tree.section(&mut lines, &mut current, top);
    }
    LoadFile { lines, carried }
}

/// New accounts and user lines by the account they go under.
struct Tree<'a> {
    children: &'a BTreeMap<&'a str, Vec<String>>,
    kids: &'a BTreeMap<&'a str, Vec<&'a str>>,
    users: &'a BTreeMap<&'a str, Vec<String>>,
}

impl Tree<'_> {
    /// `parent`'s new accounts and users, then each new account's own section (the tree
    /// is a few tiers deep: customer, project, allocation).
    fn section(&self, lines: &mut Vec<String>, current: &mut Option<String>, parent: &str) {
        let own = self.children.get(parent).into_iter().flatten();
        let users = self.users.get(parent).into_iter().flatten();
        for line in own.chain(users) {
            parent_line(lines, current, parent);
            lines.push(line.clone());
        }
        for kid in self.kids.get(parent).into_iter().flatten() {
            self.section(lines, current, kid);
        }
    }
}

/// `Parent - 'P'` when the lines that follow need another parent than the last.
fn parent_line(lines: &mut Vec<String>, current: &mut Option<String>, parent: &str) {
    if current.as_deref() != Some(parent) {
        lines.push(format!("Parent - '{parent}'"));
        *current = Some(parent.to_string());
    }
}

/// An account creation that is nothing but its one sacctmgr command.
fn account_creation(change: &Change) -> Option<(&str, &AccountValues)> {
    match &change.effect {
        Effect::AccountCreate(name, values) if plain(change) => Some((name, values)),
        _ => None,
    }
}

fn assoc_creation(change: &Change) -> Option<(&AssocKey, &ObservedAssoc, Option<&str>)> {
    match &change.effect {
        Effect::AssocCreate(key, assoc, default) if plain(change) => {
            Some((key, assoc, default.as_deref()))
        }
        _ => None,
    }
}

fn plain(change: &Change) -> bool {
    change.action == Action::Create
        && change.commands.len() == 1
        && matches!(
            change.commands[0],
            Command::Slurm {
                best_effort: false,
                ..
            }
        )
}

fn tres_safe(m: &TresMap) -> bool {
    m.is_empty() || field_safe(&tres::render(m))
}

fn account_safe(name: &str, v: &AccountValues) -> bool {
    field_safe(name)
        && v.parent.as_deref().is_none_or(field_safe)
        && field_safe(&v.description)
        && field_safe(&v.organization)
        && v.qos.iter().all(|q| field_safe(q))
        && v.default_qos.as_deref().is_none_or(field_safe)
        && tres_safe(&v.grp_tres_mins)
        && tres_safe(&v.max_tres_mins)
        && tres_safe(&v.grp_tres)
}

fn assoc_safe(key: &AssocKey, a: &ObservedAssoc) -> bool {
    field_safe(&key.account)
        && field_safe(&key.user)
        && (key.partition.is_empty() || field_safe(&key.partition))
        && a.qos.iter().all(|q| field_safe(q))
        && a.default_qos.as_deref().is_none_or(field_safe)
        && tres_safe(&a.max_tres_mins)
}

fn qos_fields(out: &mut String, qos: &BTreeSet<String>, default: Option<&str>) {
    if !qos.is_empty() {
        let list: Vec<&str> = qos.iter().map(String::as_str).collect();
        out.push_str(&format!(":QOS='{}'", list.join(",")));
    }
    if let Some(d) = default {
        out.push_str(&format!(":DefaultQOS='{d}'"));
    }
}

fn tres_field(out: &mut String, key: &str, m: &TresMap) {
    if !m.is_empty() {
        out.push_str(&format!(":{key}={}", tres::render(m)));
    }
}

/// Every field of a new account that differs from what sacctmgr gives one by default,
/// and the two text fields always.
fn account_line(name: &str, v: &AccountValues) -> String {
    let mut out = format!(
        "Account - '{name}':Description='{}':Organization='{}'",
        v.description, v.organization
    );
    if v.fairshare != Shares::Value(1) {
        out.push_str(&format!(":Fairshare={}", v.fairshare.render()));
    }
    qos_fields(&mut out, &v.qos, v.default_qos.as_deref());
    tres_field(&mut out, "GrpTRESMins", &v.grp_tres_mins);
    tres_field(&mut out, "MaxTRESMins", &v.max_tres_mins);
    tres_field(&mut out, "GrpTRES", &v.grp_tres);
    if let Some(n) = v.grp_submit_jobs {
        out.push_str(&format!(":GrpSubmitJobs={n}"));
    }
    out
}

/// A user association line, as `add user` makes it (fairshare `parent`).
fn user_line(key: &AssocKey, a: &ObservedAssoc, default: Option<&str>) -> String {
    let mut out = format!("User - '{}'", key.user);
    if let Some(d) = default {
        out.push_str(&format!(":DefaultAccount='{d}'"));
    }
    if !key.partition.is_empty() {
        out.push_str(&format!(":Partition='{}'", key.partition));
    }
    out.push_str(&format!(":Fairshare={}", a.fairshare.render()));
    qos_fields(&mut out, &a.qos, a.default_qos.as_deref());
    tres_field(&mut out, "MaxTRESMins", &a.max_tres_mins);
    out
}

#[cfg(test)]
mod tests;
