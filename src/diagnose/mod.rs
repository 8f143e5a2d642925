//! `agent diagnose ACCOUNT`: what SLURM holds for one account next to what Waldur says it
//! should hold, who owns it, the Waldur resource behind it, each managed field compared,
//! each component's unit conversion, the commands that would fix it (exactly the plan's
//! changes for that account, what `agent reconcile` runs) and every diagnostic naming it.
//!
//! - [`model`]: the findings as data (also the `--json` form);
//! - [`periodic`]: the periodic policy section (its values, sources and units);
//! - [`storage`]: the account's project directory and its users' homes on the filesystem;
//! - [`text`]: the human rendering (a unified diff, colour on request).

pub mod model;
mod periodic;
pub mod storage;
pub mod text;

use agent_config::Config;
use agent_reconcile::plan::Plan;
use agent_reconcile::render;
use agent_reconcile::state::{Desired, Observed};
use agent_reconcile::storage::DIAGNOSTIC_CODES;
use anyhow::{Context, Result};

use crate::groups::Group;
use crate::sides::Sides;
use model::{Diagnosis, Fix, Note, Verdict};

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
        let ((desired, read), mut observed) =
            tokio::try_join!(group.desired_with_docs(sides), async {
                let o = group.observed(sides).await?;
                agent_observed::plausible::check(&o).map_err(anyhow::Error::msg)?;
                Ok(o)
            })?;
        // As a cycle reads it: what storage to look up follows from the desired state.
        observed.storage = sides
            .observe_storage(&desired.desired.storage)
            .await
            .context("reading storage")?;
        let d = &desired.desired;
        let here = d.accounts.contains_key(&account)
            || d.tombstones.contains_key(&account)
            || observed.accounts.contains_key(&account);
        if here || found.is_none() {
            let plan = agent_reconcile::plan(d, &observed, &group.plan_context(config));
            let failures: Vec<String> = desired.failures.iter().map(|e| format!("{e:#}")).collect();
            found = Some(explain(&account, d, &observed, &plan, &read, failures));
            if here {
                break;
            }
        }
    }
    found.ok_or_else(|| anyhow::anyhow!("no offering to look in"))
}

/// Who owns the account: a kind and a sentence.
fn ownership(account: &str, desired: &Desired, observed: &Observed) -> (&'static str, String) {
    if let Some(spec) = desired.accounts.get(account) {
        return (
            "managed",
            format!("managed ({:?} account): {}", spec.tier, spec.reason.text),
        );
    }
    if let Some(t) = desired.tombstones.get(account) {
        return ("to_be_removed", format!("to be removed: {}", t.reason.text));
    }
    if desired.anchors.contains(account) {
        return (
            "anchor",
            "an anchor of the managed tree: must exist, never changed".into(),
        );
    }
    if observed.accounts.contains_key(account) {
        return (
            "not_managed",
            "not managed by this agent: no Waldur resource maps to it; it is never changed".into(),
        );
    }
    ("unknown", "unknown: neither SLURM nor Waldur has it".into())
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

/// The findings for one account of one group.
pub fn explain(
    account: &str,
    desired: &Desired,
    observed: &Observed,
    plan: &Plan,
    read: &[(&agent_config::Offering, agent_desired::WaldurDocs)],
    read_failures: Vec<String>,
) -> Diagnosis {
    let (owner, owner_text) = ownership(account, desired, observed);
    let found = model::find_resource(account, read);
    let users = storage::users_of(account, desired, observed);
    let fixes: Vec<Fix> = plan
        .changes
        .iter()
        .filter(|c| {
            c.address.account() == Some(account)
                || c.address.home_user().is_some_and(|u| users.contains(u))
        })
        .map(|c| Fix {
            address: c.address.to_string(),
            reasons: c
                .reasons
                .iter()
                .map(|r| format!("{} [{}]", r.text, r.code))
                .collect(),
            commands: c.commands.iter().map(render::command_line).collect(),
        })
        .collect();
    let notes: Vec<Note> = plan
        .diagnostics
        .iter()
        .filter(|d| {
            mentions(&d.text, account)
                || (DIAGNOSTIC_CODES.contains(&d.code.as_str())
                    && users.iter().any(|u| mentions(&d.text, u)))
        })
        .map(|d| Note {
            severity: d.severity.name().to_string(),
            code: d.code.clone(),
            text: d.text.clone(),
        })
        .collect();
    let actual_text = text::actual_text(account, observed);
    let expected_text = text::expected_text(account, desired, observed);
    let exists = observed.accounts.contains_key(account);
    let errors = notes.iter().any(|n| n.severity == "error");
    let verdict = if !read_failures.is_empty() {
        Verdict::Error
    } else {
        match owner {
            "unknown" => Verdict::Unknown,
            "not_managed" => Verdict::NotManaged,
            _ if owner == "managed" && !exists => Verdict::Missing,
            _ if !fixes.is_empty() || errors || actual_text != expected_text => Verdict::Mismatch,
            _ => Verdict::Ok,
        }
    };
    let reason = desired
        .accounts
        .get(account)
        .map(|s| s.reason.text.clone())
        .unwrap_or_default();
    let fix_commands = fixes.iter().flat_map(|f| f.commands.clone()).collect();
    Diagnosis {
        format_version: "1",
        account: account.to_string(),
        cluster: observed.cluster.clone(),
        verdict,
        ownership: owner.to_string(),
        ownership_text: owner_text,
        slurm: model::slurm_side(account, observed),
        waldur: model::waldur_side(found),
        policy: model::policy_side(
            found.map(|(o, _, _)| o).or(read.first().map(|r| r.0)),
            desired.periodic.contains_key(account),
        ),
        comparisons: model::comparisons(account, desired, observed, &reason),
        unit_conversions: model::unit_rows(account, found, desired, observed),
        storage: storage::storage_side(account, &users, desired, observed),
        periodic: periodic::side(account, desired, observed, plan),
        fixes,
        fix_commands,
        notes,
        read_failures,
        actual_text,
        expected_text,
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
