//! (a) The first full sync of an empty cluster, and its floors: the **load floor** (the
//! synced site dumped with `sacctmgr dump`, wiped, and re-created by one `sacctmgr -i
//! load` of that dump: what SLURM itself needs to create the tree), and the **session
//! floor** (the plan's sacctmgr commands in one stdin session, as the batch mode sends
//! them), reported as its own row against the load floor.

use std::fmt::Write as _;

use anyhow::{Context, Result};
use serde_json::json;

use crate::args::Args;
use crate::measure::median;
use crate::output::{fmt_time, say};
use crate::row::Row;
use crate::site::Site;
use crate::stats::Stats;

pub fn first_sync(args: &Args, site: &Site) -> Result<(Row, Option<Row>)> {
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
    first.floor_what =
        "sacctmgr dump of the synced site, wipe, one sacctmgr -i load of the dump".into();
    let mut session = (!args.no_session_floor).then(|| {
        let mut r = Row::new(
            &format!("first_sync_session_floor_n{n}"),
            &site.label("first sync floor: one stdin session"),
        );
        r.n = n;
        r.floor_what = "the load floor".into();
        r.note = format!(
            "the plan's {commands} sacctmgr commands in one sacctmgr -i session ({} lines, grouped as the batch mode does)",
            lines.len()
        );
        r
    });
    let dir = tempfile::tempdir()?;
    let dump = dir.path().join("site.cfg");
    let mut dump_lines = 0;
    let mut applies = Vec::new();
    // The agent goes first in the first run (the floor needs its dump); later runs
    // alternate, so neither always meets the database just after the other's wipe.
    // Every order ends in the synced state.
    for k in 0..args.first_sync_runs.max(1) {
        let agent_first = k == 0 || (k % 2 == 0) != args.agent_first;
        let steps: &[u8] = if agent_first { &[0, 1, 2] } else { &[1, 2, 0] };
        let with_session = session.is_some();
        let with_load = !args.no_load_floor;
        for step in steps
            .iter()
            .filter(|s| (**s != 2 || with_session) && (**s != 1 || with_load))
        {
            site.wipe()?;
            match step {
                0 => {
                    let run = site.agent_expect(&["reconcile"], 0)?;
                    say(&format!(
                        "  first sync run {}: {:.2} s",
                        k + 1,
                        run.m.wall.as_secs_f64()
                    ));
                    applies.extend(run.stats.as_ref().and_then(Stats::apply_seconds));
                    first.add(&run);
                    site.expect_objects()
                        .context("after the agent's first sync")?;
                    if k == 0 {
                        site.slurm.dump(&dump)?;
                        dump_lines = std::fs::read_to_string(&dump)?
                            .lines()
                            .filter(|l| !l.starts_with('#'))
                            .count();
                        if let Some(to) = &args.dump_to {
                            std::fs::copy(&dump, to)
                                .with_context(|| format!("keeping the dump at {}", to.display()))?;
                            say(&format!("  the dump is kept at {}", to.display()));
                        }
                    }
                }
                1 => {
                    let (t, stderr) = site.slurm.load(&dump)?;
                    site.expect_objects()
                        .with_context(|| format!("after the load floor (stderr: {stderr})"))?;
                    first.floors.push(t.as_secs_f64());
                    say(&format!(
                        "  load floor run {}: {:.2} s",
                        k + 1,
                        t.as_secs_f64()
                    ));
                }
                _ => {
                    let Some(s) = session.as_mut() else { continue };
                    let (t, stderr) = site.slurm.session(&lines)?;
                    site.expect_objects()
                        .with_context(|| format!("after the session floor (stderr: {stderr})"))?;
                    s.walls.push(t.as_secs_f64());
                    say(&format!(
                        "  session floor run {}: {:.2} s",
                        k + 1,
                        t.as_secs_f64()
                    ));
                }
            }
        }
    }
    if let Some(s) = session.as_mut() {
        s.floors = first.floors.clone();
    }
    site.expect_objects()?;
    site.converged()?;
    first.note = format!(
        "{} accounts + {} associations; the dump is {dump_lines} lines",
        w.accounts(),
        w.associations(),
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
    Ok((first, session))
}
