//! Human renderings of a plan: a readable summary and a copy-pasteable shell script.

use std::fmt::Write;

use crate::plan::{Action, Change, Command, Plan};

fn symbol(action: Action) -> &'static str {
    match action {
        Action::Create => "+",
        Action::Update => "~",
        Action::Delete => "-",
        Action::Call => ">",
    }
}

fn headline(plan: &Plan) -> String {
    let s = &plan.summary;
    if plan.is_empty() {
        return format!(
            "No changes. Cluster {} is in step with Waldur.",
            plan.cluster
        );
    }
    format!(
        "Plan for cluster {}: {} to create, {} to update, {} to delete, {} Waldur call(s).",
        plan.cluster, s.create, s.update, s.delete, s.waldur_calls
    )
}

/// Readable plan text, the default output of `agent plan`.
pub fn text(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", headline(plan));
    for change in &plan.changes {
        let _ = writeln!(out);
        write_change(&mut out, change);
    }
    write_diagnostics(&mut out, plan);
    out
}

fn write_change(out: &mut String, change: &Change) {
    let _ = writeln!(out, "{} {}", symbol(change.action), change.address);
    for reason in &change.reasons {
        let _ = writeln!(out, "    # {} [{}]", reason.text, reason.code);
    }
    let width = change
        .fields
        .iter()
        .map(|f| f.field.len())
        .max()
        .unwrap_or(0);
    for f in &change.fields {
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(unset)".to_string());
        let line = match (change.action, &f.before, &f.after) {
            (Action::Create, None, after) => format!("{} = {}", pad(&f.field, width), show(after)),
            _ => format!(
                "{} : {} -> {}",
                pad(&f.field, width),
                show(&f.before),
                show(&f.after)
            ),
        };
        let _ = writeln!(out, "    {line}");
    }
    for cmd in &change.commands {
        let _ = writeln!(out, "    $ {}", command_line(cmd));
    }
    if let Some(cmd) = &change.on_failure {
        let _ = writeln!(out, "    if a dependency fails: {}", command_line(cmd));
    }
    if !change.depends_on.is_empty() {
        let after: Vec<String> = change.depends_on.iter().map(|a| a.to_string()).collect();
        let _ = writeln!(out, "    after: {}", after.join(", "));
    }
}

fn pad(s: &str, width: usize) -> String {
    format!("{s:<width$}")
}

fn write_diagnostics(out: &mut String, plan: &Plan) {
    if plan.diagnostics.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nDiagnostics:");
    for d in &plan.diagnostics {
        let _ = writeln!(out, "  {}: {} [{}]", d.severity.name(), d.text, d.code);
    }
}

/// One command as a line: shell-quoted argv, or the Waldur call.
pub fn command_line(cmd: &Command) -> String {
    match cmd {
        Command::Slurm { argv, best_effort } => {
            let line = argv
                .iter()
                .map(|a| shell_quote(a))
                .collect::<Vec<_>>()
                .join(" ");
            if *best_effort {
                format!("{line} || true")
            } else {
                line
            }
        }
        Command::Waldur {
            method, path, body, ..
        } => match body {
            Some(b) => format!("{method} {path} {b}"),
            None => format!("{method} {path}"),
        },
    }
}

/// Quotes an argument for a POSIX shell when it holds anything but safe characters.
pub fn shell_quote(arg: &str) -> String {
    let safe = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./=,:@+%".contains(c));
    if safe {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// The plan as a shell script (`agent reconcile --dry-run`): a `# why` comment above each
/// command. Waldur calls are listed as comments: they need the API token, which never
/// appears in output.
pub fn shell_script(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "#!/bin/sh");
    let _ = writeln!(out, "# {}", headline(plan));
    let _ = writeln!(
        out,
        "# Review, then run with: sh <this file>. Stops at the first failing command."
    );
    let _ = writeln!(out, "set -e");
    for change in &plan.changes {
        let _ = writeln!(out);
        let _ = writeln!(out, "# {} {}", symbol(change.action), change.address);
        for reason in &change.reasons {
            let _ = writeln!(out, "# why: {} [{}]", reason.text, reason.code);
        }
        for f in &change.fields {
            let _ = writeln!(
                out,
                "#   {}: {} -> {}",
                f.field,
                f.before.as_deref().unwrap_or("(unset)"),
                f.after.as_deref().unwrap_or("(unset)")
            );
        }
        for cmd in &change.commands {
            match cmd {
                Command::Slurm { .. } => {
                    let _ = writeln!(out, "{}", command_line(cmd));
                }
                Command::Waldur { .. } => {
                    let _ = writeln!(out, "# waldur (done by the agent): {}", command_line(cmd));
                }
            }
        }
        if let Some(cmd) = &change.on_failure {
            let _ = writeln!(
                out,
                "# waldur, if a dependency fails: {}",
                command_line(cmd)
            );
        }
    }
    if !plan.diagnostics.is_empty() {
        let _ = writeln!(out);
        for d in &plan.diagnostics {
            let _ = writeln!(out, "# {:?}: {} [{}]", d.severity, d.text, d.code);
        }
    }
    out
}

/// The line sacctmgr reads in a stdin session: the argv after `sacctmgr -i`, with values
/// quoted by sacctmgr's own rules (double quotes around anything with spaces).
pub fn sacctmgr_stdin_line(argv: &[String]) -> String {
    argv.iter()
        .skip(2)
        .map(|a| match a.split_once('=') {
            Some((k, v)) if v.contains(char::is_whitespace) => format!("{k}=\"{v}\""),
            _ => a.clone(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Most users one grouped `add user` line carries.
const USERS_PER_LINE: usize = 50;

/// The lines of one sacctmgr stdin session for these commands (`sacctmgr -i ...` argvs).
/// `add user U ...` commands that differ only in the user become `add user U1,U2,... ...`:
/// slurmdbd's cost is per command, so ten users in one line cost about one (measured: a
/// 1,000-allocation tree in 191 s grouped, over 900 s one association a line). Groups take
/// the place of their first member; user additions only follow the account creations they
/// need, so no line moves before something it depends on.
pub fn sacctmgr_session(argvs: &[&[String]]) -> Vec<String> {
    let mut lines: Vec<Line> = Vec::new();
    let mut open: std::collections::HashMap<Vec<String>, usize> = std::collections::HashMap::new();
    for argv in argvs {
        let is_add_user = argv.len() > 5 && argv[2] == "add" && argv[3] == "user";
        if !is_add_user {
            lines.push(Line::Plain(argv.to_vec()));
            continue;
        }
        let rest: Vec<String> = argv[5..].to_vec();
        match open.get(&rest) {
            Some(&i) if matches!(&lines[i], Line::Users(u, _) if u.len() < USERS_PER_LINE) => {
                if let Line::Users(users, _) = &mut lines[i] {
                    users.push(argv[4].clone());
                }
            }
            _ => {
                open.insert(rest.clone(), lines.len());
                lines.push(Line::Users(vec![argv[4].clone()], argv.to_vec()));
            }
        }
    }
    lines
        .into_iter()
        .map(|l| match l {
            Line::Plain(argv) => sacctmgr_stdin_line(&argv),
            Line::Users(users, mut argv) => {
                argv[4] = users.join(",");
                sacctmgr_stdin_line(&argv)
            }
        })
        .collect()
}

enum Line {
    Plain(Vec<String>),
    /// Users, and the argv of the first one.
    Users(Vec<String>, Vec<String>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_additions_are_grouped_per_account_and_options() {
        let v = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        let cmds = [
            v("sacctmgr -i add account a cluster=c parent=p"),
            v("sacctmgr -i add user ann account=a cluster=c DefaultAccount=root fairshare=parent"),
            v("sacctmgr -i add user bob account=a cluster=c DefaultAccount=root fairshare=parent"),
            v("sacctmgr -i add user cat account=a cluster=c fairshare=parent"),
            v("sacctmgr -i add user dan account=b cluster=c DefaultAccount=root fairshare=parent"),
            v("sacctmgr -i add user eve account=a cluster=c DefaultAccount=root fairshare=parent"),
            v("sacctmgr -i modify account where name=a cluster=c set qos=normal"),
        ];
        let refs: Vec<&[String]> = cmds.iter().map(|c| c.as_slice()).collect();
        assert_eq!(
            sacctmgr_session(&refs),
            [
                "add account a cluster=c parent=p",
                "add user ann,bob,eve account=a cluster=c DefaultAccount=root fairshare=parent",
                "add user cat account=a cluster=c fairshare=parent",
                "add user dan account=b cluster=c DefaultAccount=root fairshare=parent",
                "modify account where name=a cluster=c set qos=normal",
            ]
        );
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("cpu=1,mem=2"), "cpu=1,mem=2");
        assert_eq!(shell_quote("description=a b"), "'description=a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
