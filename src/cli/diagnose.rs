//! `agent diagnose ACCOUNT`: the report (text, or JSON as docs/diagnose-format.md
//! describes), and the exit code: 0 in order or not managed, 2 differs or missing, 1 an
//! error (an unreadable offering, an account neither side knows).

use std::io::IsTerminal;
use std::process::ExitCode;

use agent_reconcile::escape::{self, Esc};
use anyhow::Result;
use waldur_slurm_agent::diagnose::{self, text::Paint};
use waldur_slurm_agent::settings::Invocation;

use super::{Sources, Target};

#[derive(clap::Args, Clone)]
pub struct Options {
    /// Print the findings as JSON (docs/diagnose-format.md).
    #[arg(long)]
    pub json: bool,
    /// Also compare every managed field and show each component's unit conversion.
    #[arg(short, long)]
    pub verbose: bool,
    /// No colour (also when NO_COLOR is set, or stdout is not a terminal).
    #[arg(long)]
    pub no_color: bool,
}

pub async fn diagnose(
    account: &str,
    target: &Target,
    sources: &Sources,
    options: &Options,
) -> Result<ExitCode> {
    let inv = Invocation::load(&target.config, target.offering.clone(), &sources.args())?;
    let groups = inv.groups()?;
    let d = diagnose::diagnose(&inv.config, &inv.sides, &groups, account).await?;
    for f in &d.read_failures {
        eprintln!("error: {}; this offering is left out", Esc(f));
    }
    if options.json {
        let text = serde_json::to_string_pretty(&d).expect("the findings serialise");
        println!("{}", escape::json(&text));
    } else {
        let colour = !options.no_color
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            && std::io::stdout().is_terminal();
        print!(
            "{}",
            diagnose::text::render(&d, options.verbose, Paint(colour))
        );
    }
    Ok(ExitCode::from(d.verdict.exit_code()))
}
