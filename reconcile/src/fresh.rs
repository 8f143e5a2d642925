//! Names for new allocations. A Create order proposes `prefix + slug`; when SLURM already
//! has an account of that name the allocation gets the first free `NAME-N` instead.
//!
//! An existing account is taken over rather than avoided only when it is visibly the
//! result of an earlier attempt for the same resource: same parent (the project account)
//! and same description (the resource name). That happens when the account was created
//! but `set_backend_id` did not reach Waldur; without this rule every retry would create
//! one more account.

use std::collections::BTreeSet;

use crate::explain::{Diagnostic, Reason};
use crate::state::{AccountField, AccountSpec, AssocKey, Desired, Observed, Value};

/// How many suffixes are tried before the order is given up as a collision.
pub const MAX_SUFFIX: u32 = 50;

/// Returns a desired state in which every fresh account has a usable name, or `None` when
/// nothing needed renaming (the common case, with no copy made).
pub fn resolve(desired: &Desired, observed: &Observed) -> Option<Desired> {
    let fresh: Vec<&AccountSpec> = desired.accounts.values().filter(|s| s.fresh).collect();
    if fresh.is_empty() {
        return None;
    }
    let mut claimed: BTreeSet<String> = desired
        .accounts
        .values()
        .filter(|s| !s.fresh)
        .map(|s| s.name.clone())
        .collect();
    let mut renames: Vec<(String, String)> = Vec::new();
    let mut adopted: Vec<String> = Vec::new();
    for spec in fresh {
        let candidates = std::iter::once(spec.name.clone())
            .chain((1..=MAX_SUFFIX).map(|n| format!("{}-{n}", spec.name)));
        let mut chosen = None;
        for name in candidates {
            if claimed.contains(&name) {
                continue;
            }
            match observed.accounts.get(&name) {
                None => {
                    chosen = Some((name, false));
                    break;
                }
                Some(existing) if is_earlier_attempt(spec, existing) => {
                    chosen = Some((name, true));
                    break;
                }
                Some(_) => {}
            }
        }
        // Exhausted: keep the name; the planner reports the collision and errs the order.
        let (name, adopt) = chosen.unwrap_or_else(|| (spec.name.clone(), false));
        claimed.insert(name.clone());
        if adopt {
            adopted.push(name.clone());
        }
        if name != spec.name {
            renames.push((spec.name.clone(), name));
        }
    }
    if renames.is_empty() && adopted.is_empty() {
        return None;
    }
    let mut out = desired.clone();
    for (from, to) in &renames {
        rename(&mut out, from, to);
    }
    for name in adopted {
        if let Some(spec) = out.accounts.get_mut(&name) {
            spec.fresh = false;
        }
    }
    Some(out)
}

fn text_field(spec: &AccountSpec, field: AccountField) -> Option<&str> {
    match spec.fields.get(&field) {
        Some(Value::Text(t)) | Some(Value::OptText(Some(t))) => Some(t),
        _ => None,
    }
}

fn is_earlier_attempt(spec: &AccountSpec, existing: &crate::state::AccountValues) -> bool {
    existing.parent.as_deref() == spec.parent()
        && text_field(spec, AccountField::Description) == Some(existing.description.as_str())
}

/// Renames one account everywhere the desired state mentions it.
fn rename(d: &mut Desired, from: &str, to: &str) {
    if let Some(mut spec) = d.accounts.remove(from) {
        spec.name = to.to_string();
        spec.reason = Reason::new(
            &spec.reason.code,
            format!(
                "{} (named {to}: {from} is already taken in SLURM)",
                spec.reason.text
            ),
        );
        d.accounts.insert(to.to_string(), spec);
    }
    let keys: Vec<AssocKey> = d
        .associations
        .keys()
        .filter(|k| k.account == from)
        .cloned()
        .collect();
    for key in keys {
        let mut assoc = d.associations.remove(&key).expect("key just listed");
        let new_key = AssocKey::new(to, &key.user, &key.partition);
        assoc.key = new_key.clone();
        d.associations.insert(new_key, assoc);
    }
    for assoc in d.associations.values_mut() {
        if assoc.default_account.as_deref() == Some(from) {
            assoc.default_account = Some(to.to_string());
        }
    }
    if let Some(mut spec) = d.periodic.remove(from) {
        spec.account = to.to_string();
        d.periodic.insert(to.to_string(), spec);
    }
    for call in &mut d.waldur_calls {
        for a in &mut call.accounts {
            if a == from {
                *a = to.to_string();
            }
        }
        if let Some(body) = &mut call.body {
            replace_strings(body, from, to);
        }
        call.reason.text = call.reason.text.replace(from, to);
    }
    // The new name's project directory was not read this cycle, and the old name's
    // directory belongs to the account that holds the name: the next cycle makes it.
    d.storage.projects.remove(from);
    for home in d.storage.homes.values_mut() {
        if home.accounts.remove(from) {
            home.accounts.insert(to.to_string());
        }
    }
    d.diagnostics.push(Diagnostic::info(
        "renamed_allocation",
        format!("SLURM already has an account {from}; the new allocation is named {to}"),
    ));
}

fn replace_strings(v: &mut serde_json::Value, from: &str, to: &str) {
    match v {
        serde_json::Value::String(s) if s == from => *s = to.to_string(),
        serde_json::Value::Array(items) => {
            items.iter_mut().for_each(|i| replace_strings(i, from, to))
        }
        serde_json::Value::Object(map) => {
            map.values_mut().for_each(|i| replace_strings(i, from, to))
        }
        _ => {}
    }
}
