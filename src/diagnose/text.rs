//! `diagnose` for people: the verdict, who owns the account, the Waldur resource and the
//! policy, the account as a unified diff (SLURM against what Waldur expects), with
//! `--verbose` every managed field compared and each component's unit conversion, the
//! fix commands and the notes. Every value from Waldur or SLURM passes [`Esc`]. Colour
//! only when asked ([`Paint`]).

use std::fmt::Write;

use agent_reconcile::escape::Esc;
use agent_reconcile::state::{AccountField, Desired, Observed, Value};
use similar::TextDiff;

use super::model::{Diagnosis, Verdict};

/// ANSI colour, or none.
#[derive(Debug, Clone, Copy)]
pub struct Paint(pub bool);

impl Paint {
    fn wrap(self, code: &str, text: &str) -> String {
        if self.0 {
            format!("\u{1b}[{code}m{text}\u{1b}[0m")
        } else {
            text.to_string()
        }
    }
    fn green(self, t: &str) -> String {
        self.wrap("32", t)
    }
    fn red(self, t: &str) -> String {
        self.wrap("31", t)
    }
    fn yellow(self, t: &str) -> String {
        self.wrap("33", t)
    }
    fn bold(self, t: &str) -> String {
        self.wrap("1", t)
    }
}

fn opt(v: &Option<String>) -> String {
    v.as_deref()
        .map(|t| Esc(t).to_string())
        .unwrap_or_else(|| "(unset)".into())
}

fn num(v: Option<f64>) -> String {
    v.map(|n| n.to_string())
        .unwrap_or_else(|| "(not set)".into())
}

/// The report, ready to print.
pub fn render(d: &Diagnosis, verbose: bool, paint: Paint) -> String {
    let mut out = String::new();
    let verdict = match d.verdict {
        Verdict::Ok | Verdict::NotManaged => paint.green(d.verdict.name()),
        Verdict::Mismatch | Verdict::Missing => paint.red(d.verdict.name()),
        Verdict::Unknown | Verdict::Error => paint.yellow(d.verdict.name()),
    };
    let _ = writeln!(
        out,
        "Account {} on cluster {}: {verdict}",
        paint.bold(&Esc(&d.account).to_string()),
        Esc(&d.cluster)
    );
    let _ = writeln!(out, "  {}", Esc(&d.ownership_text));

    if let Some(r) = &d.waldur.resource {
        let _ = writeln!(out, "\nWaldur resource:");
        let row = |out: &mut String, k: &str, v: String| {
            let _ = writeln!(out, "  {k:<14} {v}");
        };
        row(
            &mut out,
            "name",
            format!("{:?} ({})", Esc(&r.name).to_string(), Esc(&r.uuid)),
        );
        row(&mut out, "state", Esc(&r.state).to_string());
        row(
            &mut out,
            "offering",
            format!("{} ({})", Esc(&r.offering_name), Esc(&r.offering_uuid)),
        );
        row(
            &mut out,
            "project",
            format!("{} ({})", Esc(&r.project_name), Esc(&r.project_uuid)),
        );
        row(&mut out, "customer", Esc(&r.customer_name).to_string());
        row(&mut out, "backend_id", opt(&r.backend_id));
        let limits: Vec<String> = r
            .limits
            .iter()
            .map(|(k, v)| format!("{}={}", Esc(k), Esc(&v.to_string())))
            .collect();
        row(
            &mut out,
            "limits",
            if limits.is_empty() {
                "(none)".into()
            } else {
                limits.join(", ")
            },
        );
        row(
            &mut out,
            "paused",
            if r.paused { "yes" } else { "no" }.into(),
        );
        row(
            &mut out,
            "downscaled",
            if r.downscaled { "yes" } else { "no" }.into(),
        );
    } else if d.ownership == "managed" {
        let _ = writeln!(
            out,
            "\nWaldur resource: none (a customer or project account of the managed tree)"
        );
    }
    let _ = writeln!(
        out,
        "\nPolicy: {} (limit type {})",
        Esc(&d.policy.note),
        Esc(&d.policy.limit_type)
    );

    let _ = writeln!(out);
    if d.actual_text == d.expected_text {
        let _ = writeln!(out, "Expected and actual agree:");
        for line in d.actual_text.lines() {
            let _ = writeln!(out, "    {line}");
        }
    } else {
        let diff = TextDiff::from_lines(&d.actual_text, &d.expected_text);
        let text = diff
            .unified_diff()
            .context_radius(50)
            .header("actual (SLURM)", "expected (Waldur)")
            .to_string();
        for line in text.lines() {
            let line = if line.starts_with('+') && !line.starts_with("+++") {
                paint.green(line)
            } else if line.starts_with('-') && !line.starts_with("---") {
                paint.red(line)
            } else {
                line.to_string()
            };
            let _ = writeln!(out, "{line}");
        }
    }
    if let Some(p) = &d.periodic {
        out.push_str(&super::periodic::render(p));
    }

    if verbose && !d.comparisons.is_empty() {
        let _ = writeln!(out, "\nExpected vs actual:");
        for c in &d.comparisons {
            let (tag, op) = if c.ok {
                (paint.green("[OK]"), "==")
            } else {
                (paint.red("[MISMATCH]"), "!=")
            };
            let pad = if c.ok { 6 } else { 0 };
            let _ = writeln!(
                out,
                "  {tag}{:pad$} {}: {} {op} {}",
                "",
                c.field,
                opt(&c.actual),
                opt(&c.expected)
            );
            let _ = writeln!(out, "             Reason: {}", Esc(&c.reason));
        }
    }
    if verbose && !d.unit_conversions.is_empty() {
        let _ = writeln!(out, "\nUnit conversions (GrpTRESMins):");
        for u in &d.unit_conversions {
            let have = u
                .actual_slurm_value
                .map(|v| v.to_string())
                .unwrap_or_else(|| "(unset)".into());
            let want = u
                .expected_slurm_value
                .map(|v| v.to_string())
                .unwrap_or_else(|| "(not written)".into());
            let _ = writeln!(
                out,
                "  {} -> {}: Waldur {} {} x unit_factor {} -> expected {want} {}, SLURM has {have}",
                Esc(&u.component),
                Esc(&u.tres),
                num(u.waldur_value),
                Esc(&u.waldur_unit),
                u.unit_factor,
                u.slurm_unit,
            );
            let _ = writeln!(out, "      {}", Esc(&u.note));
        }
    }

    let _ = writeln!(out);
    if d.fixes.is_empty() {
        let _ = writeln!(out, "Nothing to fix.");
    } else {
        let _ = writeln!(
            out,
            "To fix ({} change(s), `agent reconcile` runs them):",
            d.fixes.len()
        );
        for f in &d.fixes {
            for r in &f.reasons {
                let _ = writeln!(out, "  # {}: {}", Esc(&f.address), Esc(r));
            }
            for cmd in &f.commands {
                let _ = writeln!(out, "  {cmd}");
            }
        }
    }
    match &d.storage {
        None => {}
        Some(Err(why)) => {
            let _ = writeln!(out, "\nStorage: not read ({})", Esc(why));
        }
        Some(Ok(rows)) => {
            let _ = writeln!(out, "\nStorage:");
            for r in rows {
                let _ = writeln!(out, "  {}: {}", Esc(&r.what), Esc(&r.state));
            }
        }
    }
    if !d.notes.is_empty() {
        let _ = writeln!(out, "\nNotes:");
        for n in &d.notes {
            let _ = writeln!(out, "  {}: {} [{}]", n.severity, Esc(&n.text), Esc(&n.code));
        }
    }
    let issues = d.comparisons.iter().filter(|c| !c.ok).count();
    let _ = writeln!(
        out,
        "\nOverall: {verdict}{}",
        if issues > 0 {
            format!(" ({issues} field(s) differ)")
        } else {
            String::new()
        }
    );
    out
}

fn show(v: &Value) -> String {
    v.display()
        .map(|t| Esc(&t).to_string())
        .unwrap_or_else(|| "(unset)".into())
}

/// The desired state of the account in the same shape as [`actual_text`]; fields the
/// agent does not manage are shown with their actual value, so they never differ.
pub fn expected_text(account: &str, desired: &Desired, observed: &Observed) -> String {
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
            Some(v) => show(&super::model::expected_value(
                account, field, v, desired, observed,
            )),
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

pub fn actual_text(account: &str, observed: &Observed) -> String {
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
    use super::Paint;

    #[test]
    fn colour_only_when_on() {
        assert_eq!(Paint(false).red("MISMATCH"), "MISMATCH");
        assert_eq!(Paint(true).red("MISMATCH"), "\u{1b}[31mMISMATCH\u{1b}[0m");
        assert_eq!(Paint(true).green("OK"), "\u{1b}[32mOK\u{1b}[0m");
    }
}
