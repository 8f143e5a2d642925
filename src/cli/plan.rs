//! `agent plan` (text or JSON) and `agent reconcile --dry-run` (a shell script): the plan
//! of every selected group, nothing changed.

use std::process::ExitCode;

use agent_reconcile::escape::{self, Esc};
use agent_reconcile::{render, Plan};
use anyhow::Result;
use waldur_slurm_agent::cycle::{self, PassOptions};
use waldur_slurm_agent::settings::Invocation;

use super::{print_read_failures, Sources, Stats, Target};

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    Script,
}

pub async fn plan(
    target: &Target,
    sources: &Sources,
    format: Format,
    detailed_exitcode: bool,
    stats: &Stats,
) -> Result<ExitCode> {
    let inv = Invocation::load(&target.config, target.offering.clone(), &sources.args())?;
    let groups = inv.groups()?;
    let state = inv.state_dir();
    let options = PassOptions {
        apply: false,
        mode: inv.config.agent.apply_mode,
        allow_mass_delete: false,
        verify: false,
        progress: None,
        state: Some(&state),
    };
    let pass = cycle::reconcile(&inv.config, &inv.sides, &groups, &options).await;
    print_read_failures(&pass);
    let plans: Vec<&Plan> = pass.groups.iter().filter_map(|g| g.plan.as_ref()).collect();
    match format {
        Format::Json if plans.len() == 1 => println!("{}", plans[0].to_json()),
        Format::Json => println!(
            "{}",
            escape::json(&serde_json::to_string_pretty(&plans).expect("plans serialise"))
        ),
        Format::Text => plans.iter().for_each(|p| print!("{}", render::text(p))),
        Format::Script => plans
            .iter()
            .for_each(|p| print!("{}", render::shell_script(p))),
    }
    let mut failed = false;
    for g in &pass.groups {
        if let Some(e) = &g.error {
            eprintln!("error: cluster {}: {}", Esc(&g.cluster), Esc(e));
            failed = true;
        }
        failed |= !g.read_failures.is_empty();
    }
    let counts = inv.sides.counts();
    tracing::info!(
        waldur_requests = counts.waldur_requests,
        processes = ?counts.processes,
        "plan finished"
    );
    stats.write(&pass.summary())?;
    Ok(if failed {
        ExitCode::from(1)
    } else if detailed_exitcode && plans.iter().any(|p| !p.is_empty()) {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}
