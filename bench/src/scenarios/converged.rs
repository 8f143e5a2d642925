//! (b) The converged cycle: the observe floor, then plan and reconcile with nothing to do.

use std::collections::BTreeMap;

use anyhow::{ensure, Result};
use serde_json::json;

use crate::args::Args;
use crate::measure::{self, median};
use crate::output::{fmt_time, say};
use crate::row::Row;
use crate::site::Site;
use crate::slurm::Slurm;
use crate::stats::{Counts, Stats};

/// The rows of the converged cycle, and the floor's runs (drift builds on them).
pub struct Converged {
    pub floors: Vec<f64>,
    pub floor: Row,
    pub plan: Row,
    pub reconcile: Row,
}

/// Observe floor: the association dump, median of `runs`.
fn observe_floor(slurm: &Slurm, runs: usize) -> Result<Vec<f64>> {
    let mut out = Vec::new();
    for _ in 0..runs.max(1) {
        out.push(slurm.dump_associations()?.0.as_secs_f64());
    }
    Ok(out)
}

pub fn converged(args: &Args, site: &Site) -> Result<Converged> {
    let n = site.world.allocations;
    let floors = observe_floor(site.slurm, args.runs)?;
    let mut floor_row = Row::new(
        &format!("observe_floor_n{n}"),
        &site.label("floor: association dump"),
    );
    floor_row.walls = floors.clone();
    floor_row.counts = Some(Counts {
        waldur_requests: 0,
        processes: BTreeMap::from([("sacctmgr".to_string(), 1)]),
    });
    floor_row.note = "one `sacctmgr show association` of the cluster".into();
    let mut plan = Row::new(
        &format!("converged_plan_n{n}"),
        &site.label("converged plan"),
    );
    let mut reconcile = Row::new(
        &format!("converged_reconcile_n{n}"),
        &site.label("converged reconcile (no-op)"),
    );
    for row in [&mut plan, &mut reconcile] {
        row.n = n;
        row.floors = floors.clone();
        row.floor_what = "observe floor (nothing to apply)".into();
    }
    for _ in 0..args.runs.max(1) {
        plan.add(&site.agent_expect(&["plan", "--detailed-exitcode"], 0)?);
    }
    // One more, untimed, with RUST_LOG=debug: the Waldur requests' timestamps show where
    // the cycle's time goes.
    let debug = site.agent_logging(&["plan", "--detailed-exitcode"], "debug")?;
    if let Some(t) = measure::timeline(&debug.m) {
        plan.note = format!(
            "debug run: startup {}, Waldur requests span {}, last Waldur response to end {}",
            fmt_time(t.before_waldur),
            fmt_time(t.waldur),
            fmt_time(t.after_waldur)
        );
        plan.extra = json!({"debug_timeline_s": {"before_waldur": t.before_waldur,
            "waldur": t.waldur, "after_waldur": t.after_waldur,
            "waldur_requests_logged": t.waldur_requests, "wall": debug.m.wall.as_secs_f64()}});
    }
    for _ in 0..args.runs.max(1) {
        let run = site.agent_expect(&["reconcile"], 0)?;
        ensure!(
            run.stats.as_ref().is_some_and(Stats::unchanged),
            "a converged reconcile changed something:\n{}",
            run.output()
        );
        reconcile.add(&run);
    }
    say(&format!(
        "  converged: floor {:.1} ms, plan {:.1} ms, reconcile {:.1} ms",
        median(&floors) * 1e3,
        plan.wall() * 1e3,
        reconcile.wall() * 1e3
    ));
    Ok(Converged {
        floors,
        floor: floor_row,
        plan,
        reconcile,
    })
}
