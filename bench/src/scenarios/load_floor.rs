//! The first sync's load floor on its own (`--load-floor-from DUMP`): one `sacctmgr -i
//! load` of a dump of the synced site, on this cluster. At N=10,000 the sync and its floor
//! each take more than an hour, so the floor runs apart, best on a fresh cluster (no
//! wipe, no rows a wipe leaves behind), and its row sits beside the sync's in the plot.

use std::path::Path;

use anyhow::{ensure, Context, Result};

use crate::output::say;
use crate::row::Row;
use crate::site::Site;

pub fn load_floor(site: &Site, dump: &Path) -> Result<Row> {
    let w = &site.world;
    let lines = std::fs::read_to_string(dump)
        .with_context(|| format!("reading the dump {}", dump.display()))?
        .lines()
        .filter(|l| !l.starts_with('#'))
        .count();
    let before = site.slurm.associations(&w.prefix)?;
    ensure!(
        before.is_empty(),
        "--load-floor-from wants a cluster without {}* ({} associations found): start a fresh one, or wipe it",
        w.prefix,
        before.len()
    );
    say(&format!(
        "  load floor: one sacctmgr -i load of {} ({lines} lines)",
        dump.display()
    ));
    let (t, stderr) = site.slurm.load(dump)?;
    site.expect_objects()
        .with_context(|| format!("after the load floor (stderr: {stderr})"))?;
    say(&format!("  load floor: {:.2} s", t.as_secs_f64()));
    let n = w.allocations;
    let mut row = Row::new(
        &format!("first_sync_load_floor_n{n}"),
        &site.label("first sync floor: one sacctmgr -i load, apart"),
    );
    row.n = n;
    row.walls.push(t.as_secs_f64());
    row.note = format!(
        "{} accounts + {} associations; the dump is {lines} lines; a cluster without the site before",
        w.accounts(),
        w.associations()
    );
    Ok(row)
}
