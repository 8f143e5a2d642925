//! What must hold whatever the input: checks over a case's outputs, each returning the
//! problems it found (empty = safe).

use std::collections::BTreeSet;

use serde_json::Value;

use crate::fixture::{Run, TOKEN};

/// Characters that must never reach a terminal or a script raw: controls other than the
/// line break, and the Unicode characters that hide or reorder text.
fn unsafe_char(c: char) -> bool {
    (c.is_control() && c != '\n')
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// No panic, an exit code of 0, 1 or 2, no raw control characters, no token.
pub fn output(run: &Run, problems: &mut Vec<String>) {
    let all = run.all();
    if all.contains("panicked") || all.contains("RUST_BACKTRACE") {
        problems.push(format!("{}: panicked:\n{}", run.what, run.stderr));
    }
    if !matches!(run.code, Some(0..=2)) {
        problems.push(format!("{}: exit {:?}", run.what, run.code));
    }
    if let Some(c) = all.chars().find(|c| unsafe_char(*c)) {
        problems.push(format!(
            "{}: raw control character {:?} in the output",
            run.what, c
        ));
    }
    if all.contains(TOKEN) {
        problems.push(format!("{}: the token is in the output", run.what));
    }
}

/// The plans of `plan --json` (one object, or an array of them).
pub fn plans(json: &str) -> Result<Vec<Value>, String> {
    if json.is_empty() {
        return Ok(Vec::new());
    }
    let v: Value = serde_json::from_str(json).map_err(|e| format!("plan --json: {e}"))?;
    Ok(match v {
        Value::Array(a) => a,
        other => vec![other],
    })
}

/// Every change of the plans.
pub fn changes(plans: &[Value]) -> Vec<&Value> {
    plans
        .iter()
        .flat_map(|p| p["changes"].as_array().into_iter().flatten())
        .collect()
}

/// Every command `reconcile --dry-run` prints (SLURM and storage), in the plan's order.
pub fn script_commands(plans: &[Value]) -> Vec<(Vec<String>, bool)> {
    commands_of(plans, &["slurm", "storage"])
}

fn commands_of(plans: &[Value], sinks: &[&str]) -> Vec<(Vec<String>, bool)> {
    changes(plans)
        .into_iter()
        .flat_map(|c| c["commands"].as_array().into_iter().flatten())
        .filter(|cmd| sinks.iter().any(|s| cmd["sink"] == *s))
        .map(|cmd| (strings(&cmd["argv"]), cmd["best_effort"] == true))
        .collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|a| a.as_str().unwrap_or("").to_string())
        .collect()
}

/// A storage command: one of the storage programs, no control character, no `..` path
/// component, and its paths under the demo's bases.
fn storage_argv(argv: &[String], problems: &mut Vec<String>) {
    let shown = format!("{argv:?}");
    let mut bad = |why: &str| problems.push(format!("storage argv {shown}: {why}"));
    let program = argv.first().map(String::as_str).unwrap_or("");
    let name = program.rsplit('/').next().unwrap_or("");
    if ![
        "mkhomedir_helper",
        "mkdir",
        "chown",
        "chmod",
        "setfacl",
        "xfs_quota",
        "setfattr",
        "lfs",
    ]
    .contains(&name)
    {
        bad("not a storage program");
    }
    if argv.iter().any(|a| a.chars().any(unsafe_char)) {
        bad("a control character");
    }
    if argv.iter().any(|a| a.split('/').any(|part| part == "..")) {
        bad("a .. path component");
    }
}

/// A name the agent may put into a command: what SLURM itself and a shell would never
/// read as syntax.
fn plain_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-.".contains(c))
}

const MAX_TRES_MINUTES: u64 = 1 << 53;

/// The argv of a SLURM command: the programs of the config, names from the alphabet,
/// limits that cap (no `-1`, nothing huge), never an account outside the tree as target.
fn argv(argv: &[String], problems: &mut Vec<String>) {
    let shown = format!("{argv:?}");
    let mut bad = |why: &str| problems.push(format!("argv {shown}: {why}"));
    if !matches!(
        argv.first().map(String::as_str),
        Some("/usr/bin/sacctmgr" | "/usr/bin/scancel")
    ) {
        bad("not sacctmgr or scancel from slurm_bin_path");
    }
    if argv.iter().any(|a| a.chars().any(unsafe_char)) {
        bad("a control character");
    }
    let words: Vec<&str> = argv.iter().map(String::as_str).collect();
    for (i, a) in words.iter().enumerate() {
        // Names, whether as `key=value` or as the word after `account`/`user`/`-A`/`-u`.
        let named = match a.split_once('=') {
            Some((k, v))
                if [
                    "name",
                    "account",
                    "parent",
                    "defaultaccount",
                    "user",
                    "qos",
                    "partition",
                    "organization",
                ]
                .contains(&k.to_ascii_lowercase().as_str()) =>
            {
                Some(v)
            }
            _ if i > 0 && ["-A", "-u"].contains(&words[i - 1]) => Some(*a),
            _ if i > 1 && words[i - 2] == "add" && ["account", "user"].contains(&words[i - 1]) => {
                Some(*a)
            }
            _ => None,
        };
        if let Some(v) = named {
            if !v.split(',').all(plain_name) {
                bad(&format!("{v:?} is not a plain name"));
            }
        }
        if let Some((k, v)) = a.split_once('=') {
            if k.to_ascii_lowercase().ends_with("tresmins") || k.eq_ignore_ascii_case("GrpTRES") {
                for part in v.split(',') {
                    let n = part.rsplit('=').next().unwrap_or("");
                    if !n.parse::<u64>().is_ok_and(|n| n <= MAX_TRES_MINUTES) {
                        bad(&format!("limit {part:?} does not cap"));
                    }
                }
            }
            if v == "-1" {
                bad("a -1 (unlimited)");
            }
        }
    }
    // The accounts written: each must carry a prefix of the managed tree (root, the
    // default account and foreign accounts only ever appear as values, e.g. a parent).
    let verb = (words.get(2).copied(), words.get(3).copied());
    let mut targets: Vec<&str> = Vec::new();
    match verb {
        (Some("add"), Some("account")) => targets.extend(words.get(4)),
        (Some("modify" | "remove"), Some("account")) => {
            targets.extend(words.iter().filter_map(|a| a.strip_prefix("name=")))
        }
        (Some(_), Some("user")) => {
            targets.extend(words.iter().filter_map(|a| a.strip_prefix("account=")))
        }
        _ => {}
    }
    targets.extend(words.windows(2).filter(|w| w[0] == "-A").map(|w| w[1]));
    for t in targets {
        if !["a_", "p_", "c_"].iter().any(|p| t.starts_with(p)) {
            bad(&format!("writes account {t:?}, outside the managed tree"));
        }
    }
}

/// 32 hex digits, or the dashed 8-4-4-4-12 form.
fn uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    let hex = |g: &str| g.chars().all(|c| c.is_ascii_hexdigit());
    match groups.as_slice() {
        [all] => all.len() == 32 && hex(all),
        [a, b, c, d, e] => {
            [a.len(), b.len(), c.len(), d.len(), e.len()] == [8, 4, 4, 4, 12]
                && groups.iter().all(|g| hex(g))
        }
        _ => false,
    }
}

/// The Waldur calls: `/api/` paths of UUIDs and action names only.
fn waldur_call(cmd: &Value, problems: &mut Vec<String>) {
    let path = cmd["path"].as_str().unwrap_or("");
    let parts: Vec<&str> = path.split('/').collect();
    let ok = parts.len() == 6
        && parts[0].is_empty()
        && parts[1] == "api"
        && parts[2].chars().all(|c| c.is_ascii_lowercase() || c == '-')
        && uuid(parts[3])
        && parts[4]
            .chars()
            .all(|c| c.is_ascii_lowercase() || c == '_' || c == '-')
        && parts[5].is_empty();
    if !ok || cmd["method"] != "POST" {
        problems.push(format!(
            "Waldur call {} {path:?} is not a plain action",
            cmd["method"]
        ));
    }
}

/// The JSON plan: every command safe, and nothing outside what the baseline plans plus
/// what the case allows (no new deletions, no account outside the tree), nothing it
/// forbids (address prefixes, or `ACTION prefix`).
pub fn plan(
    plans: &[Value],
    baseline: &BTreeSet<String>,
    allow: &[String],
    forbid: &[String],
    problems: &mut Vec<String>,
) {
    for change in changes(plans) {
        let address = change["address"].as_str().unwrap_or("").to_string();
        for cmd in change["commands"].as_array().into_iter().flatten() {
            match cmd["sink"].as_str() {
                Some("slurm") => argv(&strings(&cmd["argv"]), problems),
                Some("storage") => storage_argv(&strings(&cmd["argv"]), problems),
                Some("waldur") => waldur_call(cmd, problems),
                other => problems.push(format!("{address}: a command for sink {other:?}")),
            }
        }
        let action = change["action"].as_str().unwrap_or("");
        let matches = |pattern: &String| match pattern.split_once(' ') {
            // "delete account/x": only that action.
            Some((a, prefix)) => a == action && address.starts_with(prefix),
            None => address.starts_with(pattern.as_str()),
        };
        if forbid.iter().any(matches) {
            problems.push(format!("plans {address}, which this input must not cause"));
        }
        if !baseline.contains(&address) && !allow.iter().any(|a| address.starts_with(a.as_str())) {
            problems.push(format!(
                "plans {} {address}, which the demo does not and this input does not ask for",
                change["action"]
            ));
        }
    }
}

/// Splits a script line into words the way `sh` would, for the quoting the agent writes
/// (bare words and single quotes); anything else a shell would act on is an error.
fn shell_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' => {
                if let Some(w) = word.take() {
                    words.push(w);
                }
            }
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.push(c),
                        None => return Err("unclosed quote".into()),
                    }
                }
            }
            '\\' => match chars.next() {
                Some('\'') => word.get_or_insert_with(String::new).push('\''),
                _ => return Err("a backslash outside quotes".into()),
            },
            c if c.is_ascii_alphanumeric() || "_-./=,:@+%".contains(c) => {
                word.get_or_insert_with(String::new).push(c)
            }
            c => return Err(format!("{c:?} outside quotes")),
        }
    }
    words.extend(word);
    Ok(words)
}

/// `reconcile --dry-run`: every line is a comment, the script's own frame, or exactly one
/// SLURM or storage command of the JSON plan, in the plan's order.
pub fn script(script: &str, commands: &[(Vec<String>, bool)], problems: &mut Vec<String>) {
    let mut expected = commands.iter();
    for line in script.lines() {
        if line.is_empty() || line.starts_with('#') || line == "set -e" {
            continue;
        }
        let (body, best_effort) = match line.strip_suffix(" || true") {
            Some(b) => (b, true),
            None => (line, false),
        };
        let parsed = shell_words(body);
        match (parsed, expected.next()) {
            (Ok(words), Some((argv, be))) if &words == argv && *be == best_effort => {}
            (parsed, want) => problems.push(format!(
                "dry-run line {line:?} ({parsed:?}) is not the plan's next command {want:?}"
            )),
        }
    }
    if let Some(missing) = expected.next() {
        problems.push(format!("dry-run script lacks {missing:?}"));
    }
}
