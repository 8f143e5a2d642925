//! `bench`: how fast the agent is on a steady-state site, next to the floor — the least
//! work SLURM itself needs for the same result, measured in the same run.
//!
//! It seeds an in-process fake Waldur with N allocations × M users, runs the release
//! `agent` binary against it and a real slurmdbd, and measures the first full sync, a
//! converged cycle, a 1% drift repair and a usage report; then the planner alone on a
//! large site and sacct parsing, in memory. See docs/benchmark.md.
//!
//! - `args.rs`: the command line;
//! - `world.rs`: the synthetic site;
//! - `site.rs`: one site in the fake Waldur, the agent run against it, wipes and checks;
//! - `scenarios/`: first sync, its load floor apart, converged cycle, drift, report, in-memory;
//! - `row.rs`: one result row and its JSON;
//! - `output.rs`: progress, the table, the targets, the machine and git state, the results file;
//! - `slurm.rs`: floors, wipes, drift, straight to sacctmgr;
//! - `measure.rs`: child processes (wall time, peak RSS), the debug log's timeline;
//! - `stats.rs`: the agent's own counts, from its `--stats-file`;
//! - `planner.rs`: the in-memory workloads (planner, sacct parsing).

mod args;
mod measure;
mod output;
mod planner;
mod row;
mod scenarios;
mod site;
mod slurm;
mod stats;
mod world;

use std::collections::BTreeMap;

use anyhow::{ensure, Result};
use clap::Parser;
use serde_json::Value;

use crate::args::Args;
use crate::output::say;
use crate::row::Row;
use crate::site::{AgentBinary, Site};
use crate::slurm::Slurm;
use crate::world::World;

fn main() {
    if let Err(e) = run(Args::parse()) {
        eprintln!("bench: error: {e:#}");
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<()> {
    if args.planner_only {
        return planner::planner_child(args.planner_associations, args.users, args.runs);
    }
    ensure!(
        args.allocations > 0 && args.users > 0,
        "--allocations and --users must be positive"
    );
    let world = |n: usize| World {
        prefix: args.prefix.clone(),
        allocations: n,
        users_per_project: args.users,
        allocs_per_project: args.allocations_per_project.max(1),
        projects_per_customer: args.projects_per_customer.max(1),
    };
    let mut rows = Vec::new();
    if !args.sync_only && args.load_floor_from.is_none() {
        scenarios::in_memory(&args, &world(args.allocations), &mut rows)?;
    }

    let (mut big, mut small) = (BTreeMap::new(), BTreeMap::new());
    let mut agent_info = Value::Null;
    if !args.in_memory_only {
        let agent = AgentBinary::copy(args.agent.as_deref())?;
        agent_info = agent.info.clone();
        let slurm = Slurm::connect(&args.cluster)?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        if let Some(dump) = &args.load_floor_from {
            let site = Site::new(world(args.allocations), &rt, &agent.path, &slurm)?;
            rows.push(scenarios::load_floor(&site, dump)?);
            if !args.keep {
                site.wipe()?;
            }
            return finish(&args, &rows, &big, &small, agent_info);
        }
        if !args.sync_only {
            let site = Site::new(world(args.small_allocations), &rt, &agent.path, &slurm)?;
            small = scenarios::run_site(&args, &site, false, &mut rows)?;
            site.wipe()?;
            drop(site);
        }
        let site = Site::new(world(args.allocations), &rt, &agent.path, &slurm)?;
        big = scenarios::run_site(&args, &site, !args.sync_only, &mut rows)?;
        if args.keep || args.synced {
            say(&format!(
                "--keep: the {}* accounts stay in SLURM",
                args.prefix
            ));
        } else {
            site.wipe()?;
        }
    }

    finish(&args, &rows, &big, &small, agent_info)
}

fn finish(
    args: &Args,
    rows: &[Row],
    big: &BTreeMap<&'static str, Row>,
    small: &BTreeMap<&'static str, Row>,
    agent_info: Value,
) -> Result<()> {
    let targets = output::targets(rows, big, small);
    output::print(rows, &targets);
    output::write(args, rows, &targets, agent_info)
}
