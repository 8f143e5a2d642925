//! (a) The first full sync of an empty cluster, and its floor: the same sacctmgr commands
//! in one stdin session.

use std::fmt::Write as _;

use anyhow::{Context, Result};
use serde_json::json;

use crate::args::Args;
use crate::measure::median;
use crate::output::{fmt_time, say};
use crate::row::Row;
use crate::site::Site;
use crate::stats::Stats;

pub fn first_sync(args: &Args, site: &Site) -> Result<Row> {
    let w = &site.world;
    let n = w.allocations;
    let (commands, lines) = site.sacctmgr_session()?;
    say(&format!(
        "  first sync: {commands} sacctmgr commands, {} session lines",
        lines.len()
    ));
    let mut first = Row::new(
        &format!("first_sync_n{n}"),
        &site.label("first sync (reconcile)"),
    );
    first.n = n;
    first.floor_what = format!(
        "one sacctmgr -i session of the plan's {commands} commands ({} lines, as the agent groups them)",
        lines.len()
    );
    // Floor and agent alternate which goes first, so neither always meets the database
    // just after the other's wipe. Either way the cluster ends in the synced state.
    let mut applies = Vec::new();
    for k in 0..args.first_sync_runs.max(1) {
        let agent_first = (k % 2 == 1) != args.agent_first;
        for step in if agent_first { [1, 0] } else { [0, 1] } {
            site.wipe()?;
            if step == 0 {
                let (t, stderr) = site.slurm.session(&lines)?;
                site.expect_objects()
                    .with_context(|| format!("after the floor session (stderr: {stderr})"))?;
                first.floors.push(t.as_secs_f64());
                say(&format!(
                    "  apply floor run {}: {:.2} s",
                    k + 1,
                    t.as_secs_f64()
                ));
            } else {
                let run = site.agent_expect(&["reconcile"], 0)?;
                say(&format!(
                    "  first sync run {}: {:.2} s",
                    k + 1,
                    run.m.wall.as_secs_f64()
                ));
                applies.extend(run.stats.as_ref().and_then(Stats::apply_seconds));
                first.add(&run);
            }
        }
    }
    site.expect_objects()?;
    site.converged()?;
    first.note = format!(
        "{} accounts + {} associations, {commands} commands in {} session lines",
        w.accounts(),
        w.associations(),
        lines.len()
    );
    if applies.len() == first.walls.len() {
        let apply = median(&applies);
        let _ = write!(
            first.note,
            "; apply phase {} (agent's own figure), reads/plans/verify {}",
            fmt_time(apply),
            fmt_time(first.wall() - apply)
        );
        first.extra = json!({"apply_phase_s": applies});
    }
    Ok(first)
}
