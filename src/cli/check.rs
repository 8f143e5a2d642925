//! `agent check`: one line per check (or `--json`), exit 0 when nothing failed (warnings
//! allowed), 1 otherwise: usable as a probe.

use std::process::ExitCode;

use agent_reconcile::escape::{self, Esc};
use anyhow::Result;
use waldur_slurm_agent::check::{self, Check, Level};
use waldur_slurm_agent::settings::{Invocation, SourceArgs};

use super::Target;

pub async fn check(target: &Target, json: bool) -> Result<ExitCode> {
    let checks = match Invocation::load(
        &target.config,
        target.offering.clone(),
        &SourceArgs::default(),
    ) {
        Err(e) => vec![Check {
            check: "config".into(),
            level: Level::Fail,
            detail: format!("{}: {e:#}", target.config.display()),
        }],
        Ok(inv) => match inv.groups() {
            Err(e) => vec![Check {
                check: "config".into(),
                level: Level::Fail,
                detail: format!("{e:#}"),
            }],
            Ok(groups) => {
                let offerings: Vec<_> = groups.iter().flat_map(|g| g.offerings.clone()).collect();
                let mut out = vec![check::config(
                    &inv.config_path,
                    &inv.config,
                    groups.len(),
                    inv.warnings.len(),
                )];
                let (waldur, slurm) = tokio::join!(
                    check::waldur(&inv.config, &offerings),
                    check::slurm(&inv.config, &groups)
                );
                out.extend(waldur);
                out.extend(slurm);
                out
            }
        },
    };
    if json {
        let text = serde_json::to_string_pretty(&checks).expect("checks serialise");
        println!("{}", escape::json(&text));
    } else {
        let width = checks.iter().map(|c| c.check.len()).max().unwrap_or(0);
        for c in &checks {
            println!(
                "{:<4}  {:<width$}  {}",
                c.level.name(),
                Esc(&c.check).to_string(),
                escape::lines(&c.detail).replace('\n', " / ")
            );
        }
    }
    let failed = checks.iter().any(|c| c.level == Level::Fail);
    Ok(ExitCode::from(u8::from(failed)))
}
