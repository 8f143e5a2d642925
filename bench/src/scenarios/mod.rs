//! The scenarios on a site, in the order they run (docs/benchmark.md, "Scenarios"):
//!
//! - [`first_sync`]: (a) the first sync of an empty cluster, and its floors (`sacctmgr
//!   load` of the synced site's dump; the plan's commands in one stdin session);
//! - [`load_floor`]: that load floor alone, from a kept dump (`--load-floor-from`);
//! - [`converged`]: (b) the observe floor, a converged plan and a no-op reconcile;
//! - [`latency`]: the converged plan with every Waldur request delayed (`--latency-ms`);
//! - [`new_order`]: one Create order taken to `done` by one reconcile;
//! - [`drift`]: (c) the 1% drift repair (main site only);
//! - [`report`]: (d) `agent report` over synthetic sacct rows (main site only);
//! - [`in_memory`]: (e) the planner alone and (f) sacct parsing, no SLURM.

mod converged;
mod drift;
mod first_sync;
mod in_memory;
mod latency;
mod load_floor;
mod new_order;
mod report;

use std::collections::BTreeMap;

use anyhow::{Context, Result};

use crate::args::Args;
use crate::output::say;
use crate::row::Row;
use crate::site::Site;
pub use in_memory::in_memory;
pub use load_floor::load_floor;

/// Rows of one site size, appended to `rows`; returns the first sync and the converged
/// rows by name, for the targets. `full` adds drift and report (main site only; each can
/// be left out with `--no-drift`, `--no-report`).
pub fn run_site(
    args: &Args,
    site: &Site,
    full: bool,
    rows: &mut Vec<Row>,
) -> Result<BTreeMap<&'static str, Row>> {
    let w = &site.world;
    say(&format!(
        "site N={} M={}: {} customers, {} projects, {} accounts, {} user associations",
        w.allocations,
        w.users_per_project,
        w.customers(),
        w.projects(),
        w.accounts(),
        w.associations()
    ));
    let (first, session_floor) = if args.synced {
        // One reconcile first: it finishes a sync that was cut short and is a no-op on
        // a synced site.
        let run = site.agent_expect(&["reconcile"], 0)?;
        say(&format!(
            "  --synced: catch-up reconcile {:.2} s",
            run.m.wall.as_secs_f64()
        ));
        site.converged()
            .context("--synced: the site in SLURM is not the synced main site")?;
        (None, None)
    } else {
        site.wipe()?;
        let (first, session) = first_sync::first_sync(args, site)?;
        (Some(first), session)
    };
    let c = converged::converged(args, site)?;
    let mut out = BTreeMap::from([("plan", c.plan.clone()), ("reconcile", c.reconcile.clone())]);
    if let Some(first) = &first {
        out.insert("first", first.clone());
    }
    // The extra rows need a synced site; a sync-only run (N=10000) leaves them out.
    let extras = !args.sync_only;
    let slow = (extras && args.latency_ms > 0)
        .then(|| latency::slow_waldur(args, site, &c.floors))
        .transpose()?;
    let order = (extras && !args.no_new_order)
        .then(|| new_order::new_order(args, site, &c.plan))
        .transpose()?;
    rows.extend(first);
    rows.extend(session_floor);
    rows.extend([c.floor, c.plan, c.reconcile]);
    rows.extend(slow.into_iter().chain(order));
    if full && !args.no_drift {
        rows.push(drift::drift(args, site, &c.floors)?);
    }
    if full && !args.no_report {
        rows.extend(report::report(args, site)?);
    }
    Ok(out)
}
