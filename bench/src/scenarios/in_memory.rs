//! (e) The planner alone on a large site, in a child process; (f) sacct parsing, here.

use std::process::Command;

use anyhow::{ensure, Context, Result};
use serde_json::Value;

use crate::args::Args;
use crate::output::say;
use crate::row::Row;
use crate::world::World;
use crate::{measure, planner};

/// (e) The planner in a child process (its own RSS), (f) sacct parsing here.
pub fn in_memory(args: &Args, world: &World, rows: &mut Vec<Row>) -> Result<()> {
    let a = args.planner_associations;
    say(&format!("planner on {a} associations (child process)"));
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.args([
        "--planner-only",
        "--planner-associations",
        &a.to_string(),
        "--users",
        &args.users.to_string(),
        "--runs",
        &args.runs.max(5).to_string(),
    ]);
    let m = measure::run(cmd)?;
    ensure!(
        m.status == 0,
        "the planner child failed (exit {}): {}",
        m.status,
        m.stderr
    );
    let doc: Value = serde_json::from_str(m.stdout.trim()).context("planner child output")?;
    let mut row = Row::new("planner", &format!("planner alone, {a} associations"));
    row.walls = doc["plan_ms"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_f64)
        .map(|ms| ms / 1e3)
        .collect();
    // The child's own VmHWM at its end (exact), else what was sampled.
    row.rss_kb = doc["rss_kb"].as_u64().or(Some(m.rss_kb));
    row.note = format!(
        "{} accounts, {} changes (1% drift); building the state took {:.0} ms",
        doc["accounts"],
        doc["changes"],
        doc["build_ms"].as_f64().unwrap_or(0.0)
    );
    rows.push(row);

    // Realistic: each allocation's rows come from its M users (N×M account/user pairs).
    // Worst case: every row is a new pair (every user on every account), which is all
    // allocation and hashing and says how the parser degrades.
    let p = args.parse_rows;
    let accounts = world.allocation_names();
    let all_users: Vec<String> = (0..world.projects())
        .flat_map(|q| world.users_of_project(q))
        .collect();
    let cases = [
        ("parse", world.users_of_project(0), "realistic"),
        ("parse_worst", all_users, "worst case"),
    ];
    for (id, users, what) in cases {
        say(&format!("parse_sacct on {p} rows ({what})"));
        let (times, bytes) = planner::parse_throughput(p, &accounts, &users, args.runs.max(5))?;
        let pairs = (accounts.len() * users.len()).min(p);
        let mut row = Row::new(
            id,
            &format!(
                "sacct parsing, {p} rows, {} accounts x {} users ({what})",
                accounts.len(),
                users.len()
            ),
        );
        row.walls = times;
        let rate = p as f64 / row.wall();
        row.note = format!(
            "{:.2} M rows/s, {:.0} MB/s, {pairs} account/user pairs",
            rate / 1e6,
            bytes as f64 / row.wall() / 1e6,
        );
        rows.push(row);
    }
    Ok(())
}
