//! `agent diagnose ACCOUNT`: the explanation, and exit 1 when an offering could not be
//! read on the way.

use std::process::ExitCode;

use agent_reconcile::escape::Esc;
use anyhow::Result;
use waldur_slurm_agent::diagnose;
use waldur_slurm_agent::settings::Invocation;

use super::{Sources, Target};

pub async fn diagnose(account: &str, target: &Target, sources: &Sources) -> Result<ExitCode> {
    let inv = Invocation::load(&target.config, target.offering.clone(), &sources.args())?;
    let groups = inv.groups()?;
    let d = diagnose::diagnose(&inv.config, &inv.sides, &groups, account).await?;
    for f in &d.read_failures {
        eprintln!("error: {}; this offering is left out", Esc(f));
    }
    print!("{}", d.text);
    Ok(if d.read_failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
