//! `agent diagnose ACCOUNT`: what SLURM holds for one account next to what Waldur says it
//! should hold, as a unified diff, with the commands that would fix it (the plan's
//! changes for that account) and every diagnostic that names it; for an account a
//! periodic policy manages, the policy and each value it expects ([`periodic`]).

mod periodic;

use std::fmt::Write;

use agent_config::Config;
use agent_reconcile::escape::Esc;
use agent_reconcile::plan::Plan;
use agent_reconcile::render;
use agent_reconcile::state::{AccountField, Desired, Observed, Value};
use anyhow::Result;
use similar::TextDiff;

use crate::cycle;
use crate::groups::Group;
use crate::sides::Sides;

/// One account explained, and the offerings that could not be read on the way.
pub struct Diagnosis {
    pub text: String,
    pub read_failures: Vec<String>,
}

/// Finds the group that knows `account` (desired or observed) and explains it there; the
/// first group when none does.
pub async fn diagnose(
    config: &Config,
    sides: &Sides,
    groups: &[Group<'_>],
    account: &str,
) -> Result<Diagnosis> {
    let account = account.to_ascii_lowercase();
    let mut found = None;
    for group in groups {
        let (desired, observed) = cycle::read_group(group, sides).await?;
        let here = desired.desired.accounts.contains_key(&account)
            || desired.desired.tombstones.contains_key(&account)
            || observed.accounts.contains_key(&account);
        if here || found.is_none() {
            let plan =
                agent_reconcile::plan(&desired.desired, &observed, &group.plan_context(config));
            found = Some(Diagnosis {
                text: explain(&account, &desired.desired, &observed, &plan),
                read_failures: desired.failures.iter().map(|e| format!("{e:#}")).collect(),
            });
            if here {
                break;
            }
        }
    }
    found.ok_or_else(|| anyhow::anyhow!("no offering to look in"))
}

/// The explanation, ready to print.
pub fn explain(account: &str, desired: &Desired, observed: &Observed, plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Account {} on cluster {}",
        Esc(account),
        Esc(&observed.cluster)
    );
    let _ = writeln!(out, "  {}", Esc(&ownership(account, desired, observed)));

    let expected = expected_text(account, desired, observed);
    let actual = actual_text(account, observed);
    let _ = writeln!(out);
    if expected == actual {
        let _ = writeln!(out, "Expected and actual agree:");
        for line in actual.lines() {
            let _ = writeln!(out, "    {line}");
        }
    } else {
        let diff = TextDiff::from_lines(&actual, &expected);
        let _ = write!(
            out,
            "{}",
            diff.unified_diff()
                .context_radius(50)
                .header("actual (SLURM)", "expected (Waldur)")
        );
    }

    out.push_str(&periodic::section(account, desired, observed, plan));

    let changes: Vec<_> = plan
        .changes
        .iter()
        .filter(|c| c.address.account() == Some(account))
        .collect();
    let _ = writeln!(out);
    if changes.is_empty() {
        let _ = writeln!(out, "Nothing to fix.");
    } else {
        let _ = writeln!(
            out,
            "To fix ({} change(s), `agent reconcile` runs them):",
            changes.len()
        );
        for c in changes {
            let address = c.address.to_string();
            for r in &c.reasons {
                let _ = writeln!(
                    out,
                    "  # {}: {} [{}]",
                    Esc(&address),
                    Esc(&r.text),
                    Esc(&r.code)
                );
            }
            for cmd in &c.commands {
                let _ = writeln!(out, "  {}", render::command_line(cmd));
            }
        }
    }
    let notes: Vec<_> = plan
        .diagnostics
        .iter()
        .filter(|d| mentions(&d.text, account))
        .collect();
    if !notes.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "Notes:");
        for d in notes {
            let _ = writeln!(
                out,
                "  {:?}: {} [{}]",
                d.severity,
                Esc(&d.text),
                Esc(&d.code)
            );
        }
    }
    out
}

/// The name as a whole word (so `a_x` does not match `a_x-1`).
fn mentions(text: &str, account: &str) -> bool {
    text.match_indices(account).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + account.len()..].chars().next();
        let part =
            |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        !part(before) && !part(after)
    })
}

fn ownership(account: &str, desired: &Desired, observed: &Observed) -> String {
    if let Some(spec) = desired.accounts.get(account) {
        return format!("managed ({:?} account): {}", spec.tier, spec.reason.text);
    }
    if let Some(t) = desired.tombstones.get(account) {
        return format!("to be removed: {}", t.reason.text);
    }
    if desired.anchors.contains(account) {
        return "an anchor of the managed tree: must exist, never changed".into();
    }
    if observed.accounts.contains_key(account) {
        return "not managed by this agent: no Waldur resource maps to it; it is never changed"
            .into();
    }
    "unknown: neither SLURM nor Waldur has it".into()
}

fn show(v: &Value) -> String {
    v.display()
        .map(|t| Esc(&t).to_string())
        .unwrap_or_else(|| "(unset)".into())
}

/// The desired state of the account in the same shape as [`actual_text`]; fields the
/// agent does not manage are shown with their actual value, so they never differ.
fn expected_text(account: &str, desired: &Desired, observed: &Observed) -> String {
    let mut out = String::new();
    let actual = observed.accounts.get(account);
    if desired.tombstones.contains_key(account) {
        return "(no account)\n".into();
    }
    let Some(spec) = desired.accounts.get(account) else {
        return actual_text(account, observed);
    };
    for field in AccountField::ALL {
        let value = match spec.fields.get(&field) {
            Some(v) => show(v),
            None => actual
                .map(|a| show(&a.get(field)))
                .unwrap_or_else(|| "(unset)".into()),
        };
        let _ = writeln!(out, "{:<14} {value}", field.name());
    }
    let mut users: Vec<String> = desired
        .associations
        .values()
        .filter(|a| a.key.account == account)
        .map(|a| {
            let limits = match &a.max_tres_mins {
                Some(m) => show(&Value::Tres(m.clone())),
                None => observed
                    .associations
                    .get(&a.key)
                    .map(|o| show(&Value::Tres(o.max_tres_mins.clone())))
                    .unwrap_or_else(|| "(unset)".into()),
            };
            user_line(&a.key.user, &a.key.partition, &limits)
        })
        .collect();
    if desired.keep_users.contains(account) {
        users = observed_users(account, observed);
    }
    users.sort();
    push_users(&mut out, users);
    out
}

fn actual_text(account: &str, observed: &Observed) -> String {
    let Some(a) = observed.accounts.get(account) else {
        return "(no account)\n".into();
    };
    let mut out = String::new();
    for field in AccountField::ALL {
        let _ = writeln!(out, "{:<14} {}", field.name(), show(&a.get(field)));
    }
    push_users(&mut out, observed_users(account, observed));
    out
}

fn observed_users(account: &str, observed: &Observed) -> Vec<String> {
    let mut users: Vec<String> = observed
        .associations_of(account)
        .map(|(k, o)| {
            user_line(
                &k.user,
                &k.partition,
                &show(&Value::Tres(o.max_tres_mins.clone())),
            )
        })
        .collect();
    users.sort();
    users
}

fn user_line(user: &str, partition: &str, limits: &str) -> String {
    let partition = if partition.is_empty() { "-" } else { partition };
    let (user, partition) = (Esc(user).to_string(), Esc(partition).to_string());
    format!("user {user:<16} partition={partition:<10} MaxTRESMins={limits}")
}

fn push_users(out: &mut String, users: Vec<String>) {
    if users.is_empty() {
        let _ = writeln!(out, "(no users)");
    }
    for u in users {
        let _ = writeln!(out, "{u}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_word_mentions() {
        assert!(mentions("account a_x is gone", "a_x"));
        assert!(!mentions("account a_x-1 is gone", "a_x"));
        assert!(mentions("users of a_x.", "a_x"));
    }
}
