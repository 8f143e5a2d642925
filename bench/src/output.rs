//! What the bench prints and writes: progress, the table, the targets, the machine and the
//! git state of the agent's sources, and the results file.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::Command;

use anyhow::{Context, Result};
use serde_json::{json, Value};

use crate::args::Args;
use crate::row::Row;

pub fn say(text: &str) {
    eprintln!("[bench] {text}");
}

pub fn fmt_time(s: f64) -> String {
    if s.is_nan() {
        "-".into()
    } else if s < 1.0 {
        format!("{:.1} ms", s * 1e3)
    } else {
        format!("{s:.2} s")
    }
}

pub fn table(rows: &[Row]) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "| scenario | wall time | floor | ratio | sacctmgr procs | HTTP requests | peak RSS | notes |"
    );
    let _ = writeln!(t, "|---|---:|---:|---:|---:|---:|---:|---|");
    for r in rows {
        let procs = match &r.counts {
            None => "-".to_string(),
            Some(c) => {
                let mut s = c.procs("sacctmgr").to_string();
                for (p, n) in c.processes.iter().filter(|(p, _)| *p != "sacctmgr") {
                    let _ = write!(s, " +{n} {p}");
                }
                if r.counts_vary {
                    s.push_str(" (varies)");
                }
                s
            }
        };
        let http = match (
            r.counts.as_ref().map(|c| c.waldur_requests),
            r.fake_requests,
        ) {
            (Some(a), Some(f)) if a != f => format!("{a} (fake saw {f})"),
            (Some(a), _) => a.to_string(),
            (None, Some(f)) => f.to_string(),
            (None, None) => "-".into(),
        };
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            r.scenario,
            fmt_time(r.wall()),
            r.floor().map_or("-".into(), fmt_time),
            r.ratio().map_or("-".into(), |x| format!("{x:.2}x")),
            procs,
            http,
            r.rss_kb
                .map_or("-".into(), |kb| format!("{:.1} MB", kb as f64 / 1024.0)),
            r.note
        );
    }
    t
}

pub struct Target {
    pub name: String,
    pub pass: bool,
    pub detail: String,
}

pub fn targets(
    rows: &[Row],
    big: &BTreeMap<&str, Row>,
    small: &BTreeMap<&str, Row>,
) -> Vec<Target> {
    let mut out = Vec::new();
    for key in ["plan", "reconcile"] {
        if let (Some(b), Some(s)) = (big.get(key), small.get(key)) {
            let ratio = b.ratio().unwrap_or(f64::INFINITY);
            out.push(Target {
                name: format!("{} within 1.5x of the observe floor", b.scenario),
                pass: ratio <= 1.5,
                detail: format!(
                    "{} vs floor {} = {ratio:.2}x",
                    fmt_time(b.wall()),
                    fmt_time(b.floor().unwrap_or(f64::NAN))
                ),
            });
            out.push(Target {
                name: format!(
                    "converged {key}: same sacctmgr processes at N={} and N={}",
                    b.n, s.n
                ),
                pass: b.sacctmgr().is_some() && b.sacctmgr() == s.sacctmgr(),
                detail: format!(
                    "{} vs {}",
                    b.sacctmgr().map_or("?".into(), |n| n.to_string()),
                    s.sacctmgr().map_or("?".into(), |n| n.to_string())
                ),
            });
        }
    }
    if let Some(f) = big.get("first") {
        let ratio = f.ratio().unwrap_or(f64::INFINITY);
        out.push(Target {
            name: format!("{} within 1.5x of its load floor", f.scenario),
            pass: ratio <= 1.5,
            detail: format!(
                "{} vs floor {} = {ratio:.2}x",
                fmt_time(f.wall()),
                fmt_time(f.floor().unwrap_or(f64::NAN))
            ),
        });
    }
    if let Some(p) = rows.iter().find(|r| r.id == "planner") {
        let mb = p.rss_kb.unwrap_or(u64::MAX) as f64 / 1024.0;
        out.push(Target {
            name: format!("{}: under 100 ms and 200 MB", p.scenario),
            pass: p.wall() < 0.1 && mb < 200.0,
            detail: format!("{} (median), {mb:.1} MB peak RSS", fmt_time(p.wall())),
        });
    }
    if let Some(p) = rows.iter().find(|r| r.id == "parse") {
        out.push(Target {
            name: "sacct parsing at 1M rows/s or better".into(),
            pass: p
                .note
                .split(' ')
                .next()
                .and_then(|x| x.parse::<f64>().ok())
                .unwrap_or(0.0)
                >= 1.0,
            detail: p.note.clone(),
        });
    }
    out
}

pub fn machine() -> Value {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let quickack = Command::new("ip")
        .args(["route", "show", "table", "local"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("quickack 1"))
        .ok();
    json!({"cpus": cpus, "kernel": kernel.trim(), "loadavg_at_end": load.trim(),
           "loopback_quickack": quickack})
}

/// `git describe`-like state of the working tree the agent was built from (best effort).
pub fn git_state() -> Value {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    json!({
        "head": git(&["rev-parse", "--short", "HEAD"]),
        "agent_sources_dirty": git(&["status", "--porcelain", "--", "src", "config", "desired",
                                     "observed", "reconcile"]).map(|s| !s.is_empty()),
    })
}

/// The table and the PASS/MISS lines, on stdout.
pub fn print(rows: &[Row], targets: &[Target]) {
    println!();
    print!("{}", table(rows));
    println!();
    for t in targets {
        println!(
            "{}  {} ({})",
            if t.pass { "PASS" } else { "MISS" },
            t.name,
            t.detail
        );
    }
}

/// The results file (`--out`) and the agent's output of each scenario (`--logs`).
pub fn write(args: &Args, rows: &[Row], targets: &[Target], agent: Value) -> Result<()> {
    let doc = json!({
        "machine": machine(),
        "agent": agent,
        "params": {
            "allocations": args.allocations, "users_per_project": args.users,
            "allocations_per_project": args.allocations_per_project,
            "projects_per_customer": args.projects_per_customer,
            "small_allocations": args.small_allocations, "runs": args.runs,
            "first_sync_runs": args.first_sync_runs, "drift_runs": args.drift_runs,
            "report_runs": args.report_runs, "sacct_rows": args.sacct_rows,
            "planner_associations": args.planner_associations, "parse_rows": args.parse_rows,
            "prefix": args.prefix, "cluster": args.cluster,
        },
        "rows": rows.iter().map(Row::to_json).collect::<Vec<_>>(),
        "targets": targets.iter().map(|t| json!({"target": t.name, "pass": t.pass, "detail": t.detail})).collect::<Vec<_>>(),
    });
    std::fs::create_dir_all(&args.logs)?;
    for r in rows {
        if let Some((out, err)) = &r.last_output {
            std::fs::write(args.logs.join(format!("{}.stdout", r.id)), out)?;
            std::fs::write(args.logs.join(format!("{}.stderr", r.id)), err)?;
        }
    }
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.out, serde_json::to_string_pretty(&doc)? + "\n")
        .with_context(|| format!("writing {}", args.out.display()))?;
    println!(
        "\nResults written to {}; the agent's output of each scenario to {}/",
        args.out.display(),
        args.logs.display()
    );
    Ok(())
}
