//! `agent check`: can this agent work here? The Python agent's diagnostics and probe
//! commands in one: the config is valid; each offering's Waldur answers with a valid
//! token (who the token is, the offering and its components); each cluster's SLURM
//! answers (sacctmgr's version, the cluster listed, its TRES, the accounts and QoS the
//! config names). One result per check, nothing changed anywhere.

use std::collections::BTreeSet;

use agent_config::{Config, Offering};
use agent_observed::Runner;
use serde::Serialize;
use serde_json::Value;

use crate::groups::Group;
use crate::sides::live::WaldurClients;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Ok,
    /// Works, but something deserves a look.
    Warn,
    Fail,
}

impl Level {
    pub fn name(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Fail => "FAIL",
        }
    }
}

/// One check's result; `detail` may hold Waldur or SLURM text (escape it to print).
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub check: String,
    pub level: Level,
    pub detail: String,
}

fn check(name: impl Into<String>, level: Level, detail: impl Into<String>) -> Check {
    Check {
        check: name.into(),
        level,
        detail: detail.into(),
    }
}

/// The config line: it loaded (the caller got this far), with how many warnings.
pub fn config(path: &std::path::Path, config: &Config, groups: usize, warnings: usize) -> Check {
    let level = if warnings > 0 { Level::Warn } else { Level::Ok };
    check(
        "config",
        level,
        format!(
            "{} is valid: {} offering(s), {groups} cluster group(s), {warnings} warning(s)",
            path.display(),
            config.offerings.len()
        ),
    )
}

/// Who the token is, and the offering as Waldur has it.
/// One attempt per request: a probe answers now, not after the backoff of the retries.
pub async fn waldur(config: &Config, offerings: &[&Offering]) -> Vec<Check> {
    let mut config = config.clone();
    config.agent.http_attempts = 1;
    let clients = match WaldurClients::new(&config) {
        Ok(c) => c,
        Err(e) => return vec![check("waldur", Level::Fail, e.to_string())],
    };
    let mut out = Vec::new();
    for o in offerings {
        let name = format!("waldur {}", o.name);
        let client = match clients.of(o) {
            Ok(c) => c,
            Err(e) => {
                out.push(check(name, Level::Fail, format!("{e:#}")));
                continue;
            }
        };
        match client.get::<Value>("/api/users/me/", &[]).await {
            Ok(me) => out.push(check(
                format!("{name}: token"),
                Level::Ok,
                format!(
                    "valid, user {}{}",
                    me["username"].as_str().unwrap_or("?"),
                    if me["is_staff"] == true {
                        " (staff)"
                    } else {
                        ""
                    }
                ),
            )),
            Err(e) => {
                out.push(check(format!("{name}: token"), Level::Fail, e.to_string()));
                continue;
            }
        }
        let path = format!("/api/marketplace-provider-offerings/{}/", o.uuid);
        match client.get::<Value>(&path, &[]).await {
            Ok(offering) => out.push(offering_check(&name, o, &offering)),
            Err(e) => out.push(check(
                format!("{name}: offering"),
                Level::Fail,
                e.to_string(),
            )),
        }
    }
    out
}

/// The offering exists; its components against `backend_components`, its backend id
/// against `cluster_name` (the Python diagnostics compare these too).
fn offering_check(name: &str, o: &Offering, offering: &Value) -> Check {
    let components: BTreeSet<String> = offering["components"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c["type"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let missing: Vec<&str> = o
        .components
        .keys()
        .filter(|k| !components.contains(*k))
        .map(String::as_str)
        .collect();
    let mut detail = format!(
        "{:?} ({}), components: {}",
        offering["name"].as_str().unwrap_or("?"),
        offering["state"].as_str().unwrap_or("state unknown"),
        components.iter().cloned().collect::<Vec<_>>().join(", ")
    );
    let mut level = Level::Ok;
    if !missing.is_empty() {
        level = Level::Warn;
        detail.push_str(&format!(
            "; backend_components not in the offering (never reported): {}",
            missing.join(", ")
        ));
    }
    let backend_id = offering["backend_id"].as_str().unwrap_or("");
    match o.slurm.cluster_name.as_deref() {
        Some(c) if !backend_id.is_empty() && backend_id != c => {
            level = Level::Warn;
            detail.push_str(&format!(
                "; the offering's backend_id {backend_id:?} is not cluster_name {c:?}"
            ));
        }
        None => {
            level = Level::Warn;
            detail.push_str("; no cluster_name: sacctmgr's default cluster is used");
        }
        _ => {}
    }
    check(format!("{name}: offering"), level, detail)
}

/// sacctmgr answers, knows the cluster, and has what the config names.
pub async fn slurm(config: &Config, groups: &[Group<'_>]) -> Vec<Check> {
    let runner = Runner::new(config.agent.command_timeout);
    let mut out = Vec::new();
    for g in groups {
        let name = format!("slurm {}", g.label());
        let sacctmgr = &g.target.sacctmgr;
        let version = runner
            .read(&[sacctmgr.clone(), "--version".into()])
            .await
            .map(|v| v.trim().to_string());
        match version {
            Ok(v) if v.to_ascii_lowercase().contains("slurm") => out.push(check(
                format!("{name}: sacctmgr"),
                Level::Ok,
                format!("{sacctmgr}: {v}"),
            )),
            Ok(v) => out.push(check(
                format!("{name}: sacctmgr"),
                Level::Fail,
                format!("{sacctmgr} --version says {v:?}, not SLURM: check slurm_bin_path"),
            )),
            Err(e) => {
                out.push(check(
                    format!("{name}: sacctmgr"),
                    Level::Fail,
                    e.to_string(),
                ));
                continue;
            }
        }
        let argv: Vec<String> = [
            sacctmgr.as_str(),
            "--parsable2",
            "--noheader",
            "show",
            "cluster",
            "format=Cluster",
        ]
        .map(str::to_string)
        .to_vec();
        match (runner.read(&argv).await, &g.target.cluster) {
            (Ok(list), Some(c)) if list.lines().any(|l| l.trim() == c) => out.push(check(
                format!("{name}: cluster"),
                Level::Ok,
                format!("{c} is listed"),
            )),
            (Ok(list), Some(c)) => out.push(check(
                format!("{name}: cluster"),
                Level::Fail,
                format!(
                    "cluster_name {c} is not among sacctmgr's clusters ({})",
                    list.split_whitespace().collect::<Vec<_>>().join(", ")
                ),
            )),
            (Ok(_), None) => out.push(check(
                format!("{name}: cluster"),
                Level::Warn,
                "no cluster_name: commands go to sacctmgr's default cluster",
            )),
            (Err(e), _) => out.push(check(
                format!("{name}: cluster"),
                Level::Fail,
                e.to_string(),
            )),
        }
        match agent_observed::observe(&runner, &g.target).await {
            Ok(observed) => out.extend(contents(&name, g, &observed)),
            Err(e) => out.push(check(format!("{name}: read"), Level::Fail, e.to_string())),
        }
    }
    out
}

/// TRES, QoS and anchor accounts the group's offerings name, against the cluster.
fn contents(name: &str, g: &Group<'_>, observed: &agent_reconcile::Observed) -> Vec<Check> {
    let mut out = Vec::new();
    let tres: Vec<&str> = observed.tres.iter().map(String::as_str).collect();
    let wanted: BTreeSet<String> = g
        .offerings
        .iter()
        .flat_map(|o| {
            o.components
                .iter()
                .flat_map(|(k, c)| match &c.target_components {
                    Some(t) => t.keys().cloned().collect::<Vec<_>>(),
                    None => vec![k.clone()],
                })
        })
        .collect();
    let unknown: Vec<&String> = wanted
        .iter()
        .filter(|t| !observed.tres.contains(*t))
        .collect();
    out.push(if unknown.is_empty() {
        check(format!("{name}: tres"), Level::Ok, tres.join(", "))
    } else {
        check(
            format!("{name}: tres"),
            Level::Warn,
            format!(
                "{}; components the cluster has no TRES for (their limits are left out): {}",
                tres.join(", "),
                unknown
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    });
    let qos: BTreeSet<&str> = g
        .offerings
        .iter()
        .flat_map(|o| {
            let s = &o.slurm;
            [
                Some(s.qos_default.as_str()),
                s.qos_paused.as_deref(),
                s.qos_downscaled.as_deref(),
            ]
        })
        .flatten()
        .filter(|q| !q.is_empty())
        .collect();
    let missing: Vec<&str> = qos
        .iter()
        .copied()
        .filter(|q| !observed.qos.contains(*q))
        .collect();
    out.push(if missing.is_empty() {
        check(
            format!("{name}: qos"),
            Level::Ok,
            format!("{} exist", qos.into_iter().collect::<Vec<_>>().join(", ")),
        )
    } else {
        check(
            format!("{name}: qos"),
            Level::Fail,
            format!(
                "missing on the cluster: {} (sacctmgr add qos NAME)",
                missing.join(", ")
            ),
        )
    });
    let anchors: BTreeSet<&str> = g
        .offerings
        .iter()
        .flat_map(|o| {
            let s = &o.slurm;
            [
                Some(s.root_account.as_str()),
                Some(s.default_account.as_str()),
                s.parent_account.as_deref(),
            ]
        })
        .flatten()
        .filter(|a| !a.is_empty())
        .collect();
    let missing: Vec<&str> = anchors
        .iter()
        .copied()
        .filter(|a| !observed.accounts.contains_key(*a))
        .collect();
    out.push(if missing.is_empty() {
        check(
            format!("{name}: accounts"),
            Level::Ok,
            format!(
                "{} exist; {} account(s), {} association(s)",
                anchors.into_iter().collect::<Vec<_>>().join(", "),
                observed.accounts.len(),
                observed.associations.len()
            ),
        )
    } else {
        check(
            format!("{name}: accounts"),
            Level::Fail,
            format!(
                "missing on the cluster: {} (the managed tree hangs from them)",
                missing.join(", ")
            ),
        )
    });
    out
}
