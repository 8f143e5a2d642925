//! (d) `agent report`: the first posts everything, the repeats find nothing changed.

use anyhow::{ensure, Result};

use crate::args::Args;
use crate::output::say;
use crate::row::Row;
use crate::site::Site;

/// (d) `agent report` over R synthetic sacct rows: each project's users on its own
/// allocations, R split evenly over the projects.
pub fn report(args: &Args, site: &Site) -> Result<Vec<Row>> {
    let w = &site.world;
    let n = w.allocations;
    let r = args.sacct_rows;
    let projects = w.projects();
    let mut text = String::with_capacity(r * 72);
    for p in 0..projects {
        let share = r / projects + usize::from(p < r % projects);
        if share > 0 {
            text.push_str(&agent_observed::sacct::synthetic_sacct_rows(
                share,
                &w.allocations_of_project(p),
                &w.users_of_project(p),
            ));
        }
    }
    std::fs::write(site.dir.path().join("sacct-rows.txt"), &text)?;
    let mut first = Row::new(
        &format!("report_first_n{n}"),
        &format!("report, first (posts all), R={r} rows, N={n}"),
    );
    let mut repeat = Row::new(
        &format!("report_repeat_n{n}"),
        &format!("report, repeat (unchanged), R={r} rows, N={n}"),
    );
    for i in 0..args.report_runs.max(1) {
        let run = site.agent_expect(&["report"], 0)?;
        let number = |key| run.stats.as_ref().and_then(|s| s.number(key));
        // No periods: the agent declined, this close to a new month.
        if number("periods") == Some(0) {
            first.note = "skipped: too close to a month boundary".into();
            return Ok(vec![first]);
        }
        // The agent's summary line, shown as the note.
        let summary = run
            .m
            .stdout
            .lines()
            .find(|l| l.starts_with("Summary:"))
            .unwrap_or("")
            .to_string();
        say(&format!(
            "  report run {}: {:.2} s; {summary}",
            i + 1,
            run.m.wall.as_secs_f64()
        ));
        if i == 0 {
            ensure!(
                number("submissions") == Some(n as u64),
                "the first report did not submit for every resource:\n{}",
                run.output()
            );
            first.add(&run);
            first.note = summary;
        } else {
            ensure!(
                number("submissions") == Some(0),
                "a repeated report submitted again:\n{}",
                run.output()
            );
            repeat.add(&run);
            repeat.note = summary;
        }
    }
    Ok(if repeat.walls.is_empty() {
        vec![first]
    } else {
        vec![first, repeat]
    })
}
