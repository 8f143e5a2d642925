//! Parsers for `sacctmgr show ... --parsable2 --noheader` output.
//!
//! `-P` output has no escaping: one record per line, `|` between fields. Every row's column
//! count is checked, and a bad row is an error naming its source and line: a half-read
//! snapshot must never look like "these accounts are gone".

use std::collections::{BTreeMap, BTreeSet};

use agent_reconcile::state::{AccountValues, AssocKey, ObservedAssoc, Shares};
use agent_reconcile::tres::{self, TresMap};
use agent_reconcile::Observed;

use crate::reads::ASSOC_COLUMNS;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{source_name}{}: {message}", at_line(*.line))]
pub struct ParseError {
    /// File path or command that produced the text.
    pub source_name: String,
    /// 1-based; 0 when the error is about the whole text (it could not be read).
    pub line: usize,
    pub message: String,
}

fn at_line(line: usize) -> String {
    if line == 0 {
        String::new()
    } else {
        format!(", line {line}")
    }
}

/// The text of each read, with the name of where it came from.
pub struct RawOutputs {
    pub associations: (String, String),
    pub accounts: (String, String),
    pub users: (String, String),
    pub qos: (String, String),
    pub tres: (String, String),
}

struct Rows<'a> {
    source: &'a str,
}

impl Rows<'_> {
    fn err(&self, line: usize, message: impl Into<String>) -> ParseError {
        ParseError {
            source_name: self.source.to_string(),
            line,
            message: message.into(),
        }
    }

    /// Splits into rows of exactly `columns` fields (1-based line numbers kept).
    fn fixed<'t>(
        &self,
        text: &'t str,
        columns: usize,
    ) -> Result<Vec<(usize, Vec<&'t str>)>, ParseError> {
        let mut rows = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let fields: Vec<&str> = line.split('|').collect();
            if fields.len() != columns {
                return Err(self.err(
                    i + 1,
                    format!(
                        "expected {columns} columns, found {}: {line:?}",
                        fields.len()
                    ),
                ));
            }
            rows.push((i + 1, fields));
        }
        Ok(rows)
    }
}

fn shares(row: &Rows, line: usize, text: &str) -> Result<Shares, ParseError> {
    match text {
        "" => Ok(Shares::Value(1)),
        "parent" => Ok(Shares::Parent),
        n => n.parse().map(Shares::Value).map_err(|_| {
            row.err(
                line,
                format!("Share {n:?} is neither a number nor 'parent'"),
            )
        }),
    }
}

fn tres_map(row: &Rows, line: usize, column: &str, text: &str) -> Result<TresMap, ParseError> {
    tres::parse(text).map_err(|e| row.err(line, format!("{column}: {e}")))
}

fn qos_list(text: &str) -> BTreeSet<String> {
    // WithRawQOSLevel may show "+a,-b" edits; the agent compares plain sets.
    text.split(',')
        .map(|q| q.trim_start_matches(['+', '=']).to_string())
        .filter(|q| !q.is_empty() && !q.starts_with('-'))
        .collect()
}

fn opt(text: &str) -> Option<String> {
    Some(text.to_string()).filter(|t| !t.is_empty())
}

/// One association row.
struct AssocRow {
    cluster: String,
    account: String,
    user: String,
    partition: String,
    parent: Option<String>,
    shares: Shares,
    qos: BTreeSet<String>,
    default_qos: Option<String>,
    grp_tres_mins: TresMap,
    max_tres_mins: TresMap,
    grp_tres: TresMap,
    grp_submit_jobs: Option<u64>,
}

fn associations(source: &str, text: &str) -> Result<Vec<AssocRow>, ParseError> {
    let rows = Rows { source };
    let mut out = Vec::new();
    for (line, f) in rows.fixed(text, ASSOC_COLUMNS)? {
        if f[1].is_empty() {
            return Err(rows.err(line, "empty account name"));
        }
        let grp_submit_jobs = match f[11] {
            "" => None,
            n => Some(
                n.parse()
                    .map_err(|_| rows.err(line, format!("GrpSubmitJobs {n:?} is not a number")))?,
            ),
        };
        out.push(AssocRow {
            cluster: f[0].to_string(),
            account: f[1].to_string(),
            user: f[2].to_string(),
            partition: f[3].to_string(),
            parent: opt(f[4]),
            shares: shares(&rows, line, f[5])?,
            qos: qos_list(f[6]),
            default_qos: opt(f[7]),
            grp_tres_mins: tres_map(&rows, line, "GrpTRESMins", f[8])?,
            max_tres_mins: tres_map(&rows, line, "MaxTRESMins", f[9])?,
            grp_tres: tres_map(&rows, line, "GrpTRES", f[10])?,
            grp_submit_jobs,
        });
    }
    Ok(out)
}

/// `Account|Organization|Description` rows. Description is last so that a description
/// holding `|` (extra columns) or a newline (a continuation line with no `|`) written by
/// another tool can be put back together instead of failing the whole read.
fn accounts(source: &str, text: &str) -> Result<BTreeMap<String, (String, String)>, ParseError> {
    let rows = Rows { source };
    let mut out: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut last: Option<String> = None;
    for (i, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.splitn(3, '|').collect();
        if fields.len() < 3 {
            match &last {
                Some(name) => {
                    let entry = out.get_mut(name).expect("last row present");
                    entry.1.push('\n');
                    entry.1.push_str(line);
                    continue;
                }
                None if line.trim().is_empty() => continue,
                None => return Err(rows.err(i + 1, format!("expected 3 columns: {line:?}"))),
            }
        }
        if fields[0].is_empty() {
            return Err(rows.err(i + 1, "empty account name"));
        }
        out.insert(
            fields[0].to_string(),
            (fields[1].to_string(), fields[2].to_string()),
        );
        last = Some(fields[0].to_string());
    }
    Ok(out)
}

fn users(source: &str, text: &str) -> Result<BTreeMap<String, String>, ParseError> {
    let rows = Rows { source };
    Ok(rows
        .fixed(text, 2)?
        .into_iter()
        .map(|(_, f)| (f[0].to_string(), f[1].to_string()))
        .collect())
}

fn qos_names(source: &str, text: &str) -> Result<BTreeSet<String>, ParseError> {
    let rows = Rows { source };
    Ok(rows
        .fixed(text, 1)?
        .into_iter()
        .map(|(_, f)| f[0].to_string())
        .collect())
}

/// `Type|Name` rows: `cpu|` -> `cpu`, `gres|gpu` -> `gres/gpu`.
fn tres_names(source: &str, text: &str) -> Result<BTreeSet<String>, ParseError> {
    let rows = Rows { source };
    Ok(rows
        .fixed(text, 2)?
        .into_iter()
        .map(|(_, f)| {
            if f[1].is_empty() {
                f[0].to_string()
            } else {
                format!("{}/{}", f[0], f[1])
            }
        })
        .collect())
}

/// Builds the observed state from the five reads. `cluster` limits it to one cluster;
/// without it the database must hold exactly one.
pub fn observed(out: &RawOutputs, cluster: Option<&str>) -> Result<Observed, ParseError> {
    let (assoc_src, assoc_text) = &out.associations;
    let rows = associations(assoc_src, assoc_text)?;
    let clusters: BTreeSet<&str> = rows.iter().map(|r| r.cluster.as_str()).collect();
    let cluster = match cluster {
        Some(c) => c.to_string(),
        None if clusters.len() <= 1 => clusters.iter().next().map(|c| c.to_string()).unwrap_or_default(),
        None => {
            return Err(ParseError {
                source_name: assoc_src.clone(),
                line: 0,
                message: format!(
                    "the accounting database holds several clusters ({}); set backend_settings.cluster_name",
                    clusters.into_iter().collect::<Vec<_>>().join(", ")
                ),
            })
        }
    };
    let (acct_src, acct_text) = &out.accounts;
    let records = accounts(acct_src, acct_text)?;
    let mut state = Observed {
        cluster: cluster.clone(),
        ..Observed::default()
    };
    for r in rows.into_iter().filter(|r| r.cluster == cluster) {
        if r.user.is_empty() {
            let (organization, description) = records.get(&r.account).cloned().unwrap_or_default();
            state.accounts.insert(
                r.account.clone(),
                AccountValues {
                    parent: r.parent,
                    description,
                    organization,
                    fairshare: r.shares,
                    qos: r.qos,
                    default_qos: r.default_qos,
                    grp_tres_mins: r.grp_tres_mins,
                    max_tres_mins: r.max_tres_mins,
                    grp_tres: r.grp_tres,
                    grp_submit_jobs: r.grp_submit_jobs,
                },
            );
        } else {
            state.associations.insert(
                AssocKey::new(&r.account, &r.user, &r.partition),
                ObservedAssoc {
                    fairshare: r.shares,
                    qos: r.qos,
                    default_qos: r.default_qos,
                    max_tres_mins: r.max_tres_mins,
                },
            );
        }
    }
    let (user_src, user_text) = &out.users;
    state.users = users(user_src, user_text)?;
    let (qos_src, qos_text) = &out.qos;
    state.qos = qos_names(qos_src, qos_text)?;
    let (tres_src, tres_text) = &out.tres;
    state.tres = tres_names(tres_src, tres_text)?;
    Ok(state)
}

/// Renders an observed state back into the five `-P` texts (the inverse of [`observed`]),
/// for recording snapshots and for round-trip tests.
pub fn render(state: &Observed) -> RawOutputs {
    let mut assoc = String::new();
    let mut accounts = String::new();
    let q = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>().join(",");
    for (name, a) in &state.accounts {
        assoc.push_str(&format!(
            "{}|{}|||{}|{}|{}|{}|{}|{}|{}|{}\n",
            state.cluster,
            name,
            a.parent.as_deref().unwrap_or(""),
            a.fairshare.render(),
            q(&a.qos),
            a.default_qos.clone().unwrap_or_default(),
            tres::render(&a.grp_tres_mins),
            tres::render(&a.max_tres_mins),
            tres::render(&a.grp_tres),
            a.grp_submit_jobs.map(|n| n.to_string()).unwrap_or_default(),
        ));
        accounts.push_str(&format!("{name}|{}|{}\n", a.organization, a.description));
    }
    for (k, a) in &state.associations {
        assoc.push_str(&format!(
            "{}|{}|{}|{}||{}|{}|{}||{}||\n",
            state.cluster,
            k.account,
            k.user,
            k.partition,
            a.fairshare.render(),
            q(&a.qos),
            a.default_qos.clone().unwrap_or_default(),
            tres::render(&a.max_tres_mins),
        ));
    }
    let users: String = state
        .users
        .iter()
        .map(|(u, d)| format!("{u}|{d}\n"))
        .collect();
    let qos: String = state.qos.iter().map(|n| format!("{n}\n")).collect();
    let tres: String = state
        .tres
        .iter()
        .map(|t| match t.split_once('/') {
            Some((a, b)) => format!("{a}|{b}\n"),
            None => format!("{t}|\n"),
        })
        .collect();
    RawOutputs {
        associations: ("associations.txt".into(), assoc),
        accounts: ("accounts.txt".into(), accounts),
        users: ("users.txt".into(), users),
        qos: ("qos.txt".into(), qos),
        tres: ("tres.txt".into(), tres),
    }
}

#[cfg(test)]
mod tests;
