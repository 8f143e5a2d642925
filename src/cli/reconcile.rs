//! `agent reconcile`: apply every selected group's plan, print a line per change, verify
//! by planning again, and exit 1 when anything is left.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use agent_config::ApplyMode;
use agent_reconcile::escape::Esc;
use agent_reconcile::render;
use anyhow::{bail, Result};
use waldur_slurm_agent::cycle::{self, GroupReport, PassOptions};
use waldur_slurm_agent::executor::Status;
use waldur_slurm_agent::settings::Invocation;

use super::{print_read_failures, Sources, Stats, Target};

pub async fn reconcile(
    target: &Target,
    sources: &Sources,
    allow_mass_delete: bool,
    apply_mode: Option<ApplyMode>,
    stats: &Stats,
) -> Result<ExitCode> {
    let inv = Invocation::load(&target.config, target.offering.clone(), &sources.args())?;
    if !inv.slurm_is_live() {
        bail!("--from-snapshot reads recorded SLURM output and cannot be applied; use --dry-run, or --waldur-snapshot to apply to the live cluster");
    }
    let groups = inv.groups()?;
    let _locks = inv.lock(&groups)?;
    let state = inv.state_dir();
    let tty = std::io::stderr().is_terminal();
    let progress = |done: usize, total: usize| {
        if tty && total > 20 {
            eprint!("\r  applying {done}/{total}");
            if done == total {
                eprintln!();
            }
        }
    };
    let options = PassOptions {
        apply: true,
        mode: apply_mode.unwrap_or(inv.config.agent.apply_mode),
        allow_mass_delete,
        verify: true,
        progress: Some(&progress),
        state: Some(&state),
    };
    let pass = cycle::reconcile(&inv.config, &inv.sides, &groups, &options).await;
    print_read_failures(&pass);
    stats.write(&pass.summary())?;
    if let Some(why) = &pass.refused {
        bail!("{why}");
    }
    for g in &pass.groups {
        print_group(g);
    }
    let writable = inv.sides.waldur_writes.is_some();
    let counts = inv.sides.counts();
    tracing::info!(
        waldur_requests = counts.waldur_requests,
        processes = ?counts.processes,
        "reconcile finished"
    );
    Ok(if pass.problems(writable) > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn print_group(g: &GroupReport) {
    if let Some(e) = &g.error {
        eprintln!("error: cluster {}: {}", Esc(&g.cluster), Esc(e));
    }
    let Some(plan) = &g.plan else { return };
    let Some(outcome) = &g.outcome else {
        if g.left == 0 {
            println!("No changes for cluster {}.", plan.cluster);
        } else {
            println!("Not converged: {} problem(s) hold changes back:", g.left);
            print!("{}", render::text(plan));
        }
        return;
    };
    for (address, status) in &outcome.statuses {
        let address = address.to_string();
        let address = Esc(&address);
        match status {
            Status::Applied => println!("  applied  {address}"),
            Status::Failed { class, message } => {
                println!("  FAILED   {address} ({class}): {}", Esc(message))
            }
            Status::Skipped { because } => println!("  skipped  {address}: {}", Esc(because)),
        }
    }
    println!(
        "Applied plan for cluster {} in {:.2?} ({} change(s), {} not applied).",
        plan.cluster,
        Duration::from_secs_f64(g.durations.apply.as_secs_f64()),
        plan.changes.len(),
        outcome.failed()
    );
    match &g.verified {
        Some(_) if g.left == 0 => println!(
            "Verified: cluster {} now matches the desired state.",
            plan.cluster
        ),
        Some(after) => {
            println!("Not converged: {} change(s) or problem(s) left:", g.left);
            print!("{}", render::text(after));
        }
        None => {}
    }
}
