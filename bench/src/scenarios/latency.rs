//! The converged plan with every Waldur request delayed (the fake's latency knob): what a
//! real Waldur over HTTPS costs, where only requests made one after another add up.

use anyhow::Result;

use crate::args::Args;
use crate::output::say;
use crate::row::Row;
use crate::site::Site;

pub fn slow_waldur(args: &Args, site: &Site, floors: &[f64]) -> Result<Row> {
    let n = site.world.allocations;
    let ms = args.latency_ms;
    let mut row = Row::new(
        &format!("converged_plan_latency{ms}_n{n}"),
        &site.label(&format!("converged plan at {ms} ms per Waldur request")),
    );
    row.n = n;
    row.floors = floors.to_vec();
    row.floor_what = "observe floor (nothing to apply; Waldur not included)".into();
    site.set_latency_ms(ms);
    let runs: Result<()> = (0..args.runs.max(1)).try_for_each(|_| {
        row.add(&site.agent_expect(&["plan", "--detailed-exitcode"], 0)?);
        Ok(())
    });
    site.set_latency_ms(0);
    runs?;
    let requests = row.counts.as_ref().map_or(0, |c| c.waldur_requests);
    row.note = format!(
        "{requests} requests; {ms} ms each would be {:.1} s one after another",
        requests as f64 * ms as f64 / 1e3
    );
    say(&format!(
        "  converged plan at {ms} ms/request: {:.1} ms",
        row.wall() * 1e3
    ));
    Ok(row)
}
