//! (c) The 1% drift repair.

use std::collections::BTreeMap;

use anyhow::{ensure, Context, Result};

use crate::args::Args;
use crate::measure::median;
use crate::output::say;
use crate::row::Row;
use crate::site::Site;
use crate::stats::Stats;

/// (c) 1% of allocations drifted by hand (half GrpTRESMins, half a removed user
/// association), then `agent reconcile` repairs it.
pub fn drift(args: &Args, site: &Site, observe: &[f64]) -> Result<Row> {
    let w = &site.world;
    let n = w.allocations;
    let k = (n / 100).max(1);
    let c = &site.slurm.cluster;
    let defaults: BTreeMap<String, String> = site
        .slurm
        .default_accounts(&w.prefix)?
        .into_iter()
        .collect();
    let mut lines = Vec::new();
    for j in 0..k {
        let i = j * n / k;
        let account = w.allocation(i);
        if j % 2 == 0 {
            lines.push(format!(
                "modify account where name={account} cluster={c} set GrpTRESMins=cpu=1"
            ));
        } else {
            let user = w
                .users_of_project(w.project_of(i))
                .into_iter()
                .find(|u| defaults.get(u) != Some(&account))
                .context("no user of the allocation has another default account")?;
            lines.push(format!(
                "remove user where name={user} account={account} cluster={c}"
            ));
        }
    }
    let mut row = Row::new(
        &format!("drift_n{n}"),
        &format!("1% drift repair ({k} changes), N={n}"),
    );
    row.floor_what = "observe floor + one sacctmgr -i session of the same number of changes".into();
    let observe = median(observe);
    for r in 0..args.drift_runs.max(1) {
        let (t, stderr) = site.slurm.session(&lines)?;
        ensure!(stderr.is_empty(), "making the drift failed: {stderr}");
        let run = site.agent_expect(&["reconcile"], 0)?;
        let applied = run.stats.as_ref().map_or(0, Stats::applied);
        ensure!(
            applied == k as u64,
            "the drift repair applied {applied} changes, expected {k}:\n{}",
            run.output()
        );
        row.floors.push(observe + t.as_secs_f64());
        say(&format!(
            "  drift run {}: {:.1} ms (drift session {:.1} ms)",
            r + 1,
            run.m.wall.as_secs_f64() * 1e3,
            t.as_secs_f64() * 1e3
        ));
        row.add(&run);
    }
    site.converged()?;
    Ok(row)
}
