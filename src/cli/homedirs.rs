//! `agent create-homedirs`: the homes of every OK offering user, as a script
//! (`--dry-run`) or made and verified; exit 1 when anything is left.

use std::process::ExitCode;

use agent_reconcile::escape::Esc;
use agent_reconcile::render;
use anyhow::{bail, Result};
use waldur_slurm_agent::cycle::remaining;
use waldur_slurm_agent::executor::Status;
use waldur_slurm_agent::homedirs::{self, HomedirsReport};
use waldur_slurm_agent::settings::Invocation;

use super::{Sources, Target};

pub async fn create_homedirs(
    target: &Target,
    sources: &Sources,
    dry_run: bool,
) -> Result<ExitCode> {
    let inv = Invocation::load(&target.config, target.offering.clone(), &sources.args())?;
    if !dry_run && inv.sides.storage_writes.is_none() {
        bail!("--from-snapshot reads a recorded filesystem and cannot be applied; use --dry-run, or --waldur-snapshot to make the homes on this machine");
    }
    let groups = inv.groups()?;
    let reports = homedirs::create_homedirs(&inv.config, &inv.sides, &groups, !dry_run).await?;
    let mut problems = 0;
    for r in &reports {
        for f in &r.read_failures {
            eprintln!("error: {}; its users are left out", Esc(f));
        }
        problems += r.read_failures.len();
        if dry_run {
            print!("{}", render::shell_script(&r.plan));
        } else {
            problems += print_applied(r);
        }
    }
    Ok(if problems > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Prints what happened; returns the number of problems (not applied, left over).
fn print_applied(r: &HomedirsReport) -> usize {
    let Some(outcome) = &r.outcome else {
        let left = remaining(&r.plan, false);
        if left == 0 {
            println!(
                "No changes: every home of cluster {} is in place.",
                Esc(&r.cluster)
            );
        } else {
            println!("Not converged: {left} problem(s):");
            print!("{}", render::text(&r.plan));
        }
        return left;
    };
    for (address, status) in &outcome.statuses {
        let address = address.to_string();
        match status {
            Status::Applied => println!("  applied  {}", Esc(&address)),
            Status::Failed { class, message } => {
                println!("  FAILED   {} ({class}): {}", Esc(&address), Esc(message))
            }
            Status::Skipped { because } => {
                println!("  skipped  {}: {}", Esc(&address), Esc(because))
            }
        }
    }
    let left = r.verified.as_ref().map_or(0, |p| remaining(p, false));
    match &r.verified {
        Some(_) if left == 0 => println!(
            "Verified: every home of cluster {} is in place.",
            Esc(&r.cluster)
        ),
        Some(after) => {
            println!("Not converged: {left} change(s) or problem(s) left:");
            print!("{}", render::text(after));
        }
        None => {}
    }
    outcome.failed() + left
}
