//! Human renderings of a plan: a readable summary and a copy-pasteable shell script.
//! Every value that came from Waldur or SLURM goes through [`Esc`], so no text can start
//! a line of its own in the script or send escape sequences to a terminal.

use std::fmt::Write;

use crate::escape::Esc;
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
            Esc(&plan.cluster)
        );
    }
    format!(
        "Plan for cluster {}: {} to create, {} to update, {} to delete, {} Waldur call(s).",
        Esc(&plan.cluster),
        s.create,
        s.update,
        s.delete,
        s.waldur_calls
    )
}

/// Diagnostic code of a configured setting the agent does not act on where that changes
/// what SLURM holds: shown at the top of a plan, not among the other diagnostics.
pub const SETTING_IGNORED: &str = "setting_ignored";

fn is_header(d: &crate::plan::Diagnostic) -> bool {
    d.code == SETTING_IGNORED
}

/// Readable plan text, the default output of `agent plan`.
pub fn text(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", headline(plan));
    for d in plan.diagnostics.iter().filter(|d| is_header(d)) {
        let _ = writeln!(out, "WARNING: {}", Esc(&d.text));
    }
    for change in &plan.changes {
        let _ = writeln!(out);
        write_change(&mut out, change);
    }
    write_diagnostics(&mut out, plan);
    out
}

fn write_change(out: &mut String, change: &Change) {
    let address = change.address.to_string();
    let _ = writeln!(out, "{} {}", symbol(change.action), Esc(&address));
    for reason in &change.reasons {
        let _ = writeln!(out, "    # {} [{}]", Esc(&reason.text), Esc(&reason.code));
    }
    let width = change
        .fields
        .iter()
        .map(|f| f.field.len())
        .max()
        .unwrap_or(0);
    for f in &change.fields {
        let show = |v: &Option<String>| {
            v.as_deref()
                .map(|v| Esc(v).to_string())
                .unwrap_or_else(|| "(unset)".to_string())
        };
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
        let _ = writeln!(out, "    after: {}", Esc(&after.join(", ")));
    }
}

fn pad(s: &str, width: usize) -> String {
    let s = Esc(s).to_string();
    format!("{s:<width$}")
}

fn write_diagnostics(out: &mut String, plan: &Plan) {
    let rest: Vec<_> = plan.diagnostics.iter().filter(|d| !is_header(d)).collect();
    if rest.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nDiagnostics:");
    for d in rest {
        let _ = writeln!(
            out,
            "  {}: {} [{}]",
            d.severity.name(),
            Esc(&d.text),
            Esc(&d.code)
        );
    }
}

/// A diagnostic as one escaped line: `Warning: text [code]`.
pub fn diagnostic_line(d: &crate::plan::Diagnostic) -> String {
    format!("{:?}: {} [{}]", d.severity, Esc(&d.text), Esc(&d.code))
}

fn argv_line(argv: &[String]) -> String {
    argv.iter()
        .map(|a| shell_quote(a))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One command as a line: shell-quoted argv, or the Waldur call.
pub fn command_line(cmd: &Command) -> String {
    match cmd {
        Command::Storage { argv } => argv_line(argv),
        Command::Slurm { argv, best_effort } => {
            let line = argv_line(argv);
            if *best_effort {
                format!("{line} || true")
            } else {
                line
            }
        }
        // JSON escapes control characters in the body itself.
        Command::Waldur {
            method, path, body, ..
        } => match body {
            Some(b) => format!("{} {} {b}", Esc(method), Esc(path)),
            None => format!("{} {}", Esc(method), Esc(path)),
        },
        Command::Emulator { url, body } => format!("POST {} {body}", Esc(url)),
    }
}

/// A command as the text Waldur's `commands_executed` lists: argv joined by spaces (as
/// the Python agent reports it), or the emulator request.
pub fn executed_line(cmd: &Command) -> String {
    match cmd {
        Command::Slurm { argv, .. } => argv.join(" "),
        other => command_line(other),
    }
}

/// Quotes an argument for a POSIX shell when it holds anything but safe characters.
/// Arguments are validated names and normalised text, which hold no control characters;
/// should one ever slip through, it is shown escaped (and the line no longer runs as is)
/// rather than written raw into a script.
pub fn shell_quote(arg: &str) -> String {
    let escaped = crate::escape::text(arg);
    let arg: &str = &escaped;
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
    for d in plan.diagnostics.iter().filter(|d| is_header(d)) {
        let _ = writeln!(out, "# WARNING: {}", Esc(&d.text));
    }
    let _ = writeln!(
        out,
        "# Review, then run with: sh <this file>. Stops at the first failing command."
    );
    let _ = writeln!(out, "set -e");
    for change in &plan.changes {
        let _ = writeln!(out);
        let address = change.address.to_string();
        let _ = writeln!(out, "# {} {}", symbol(change.action), Esc(&address));
        for reason in &change.reasons {
            let _ = writeln!(out, "# why: {} [{}]", Esc(&reason.text), Esc(&reason.code));
        }
        for f in &change.fields {
            let _ = writeln!(
                out,
                "#   {}: {} -> {}",
                Esc(&f.field),
                Esc(f.before.as_deref().unwrap_or("(unset)")),
                Esc(f.after.as_deref().unwrap_or("(unset)"))
            );
        }
        for cmd in &change.commands {
            match cmd {
                Command::Slurm { .. } | Command::Storage { .. } => {
                    let _ = writeln!(out, "{}", command_line(cmd));
                }
                Command::Waldur { .. } => {
                    let _ = writeln!(out, "# waldur (done by the agent): {}", command_line(cmd));
                }
                Command::Emulator { url, body } => {
                    let _ = writeln!(
                        out,
                        "curl -fsS -X POST -H 'Content-Type: application/json' --data {} {}",
                        shell_quote(&body.to_string()),
                        shell_quote(url)
                    );
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
    let rest: Vec<_> = plan.diagnostics.iter().filter(|d| !is_header(d)).collect();
    if !rest.is_empty() {
        let _ = writeln!(out);
        for d in rest {
            let _ = writeln!(out, "# {}", diagnostic_line(d));
        }
    }
    out
}

/// Whether a command can be written as a stdin session line: sacctmgr's tokenizer toggles
/// quoting on both `"` and `'`, and a line ends at a newline, so an argument holding one
/// of them cannot be expressed there (names and normalised text never do; such a command
/// is run on its own instead).
pub fn session_safe(argv: &[String]) -> bool {
    argv.iter()
        .all(|a| !a.contains(['"', '\'']) && !a.chars().any(crate::escape::is_unsafe))
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
