//! `agent`: keeps SLURM accounting in step with Waldur. This file only parses the
//! arguments, sets up logging and the runtime, and turns the result into an exit code;
//! `cli/` prints, the library (`lib.rs`) does the work.

mod cli;

use std::io::Write;
use std::process::ExitCode;

use agent_reconcile::escape;
use clap::Parser;

/// Log lines go to stderr with everything that could steer a terminal escaped: a Waldur
/// name or a SLURM message may carry newlines (a forged log line) or escape sequences.
/// Each event arrives as one write ending in its own newline. JSON lines get JSON's own
/// `\uXXXX` escapes (every unsafe character is in the BMP), so they stay valid JSON.
struct SafeStderr {
    json: bool,
}

impl Write for SafeStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let (body, end) = match text.strip_suffix('\n') {
            Some(body) => (body, "\n"),
            None => (&*text, ""),
        };
        let body = if self.json {
            escape::json(body)
        } else {
            escape::text(body)
        };
        let mut err = std::io::stderr().lock();
        err.write_all(body.as_bytes())?;
        err.write_all(end.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

fn main() -> ExitCode {
    use tracing_subscriber::layer::{Layer, SubscriberExt};
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{reload, EnvFilter};

    let cli = cli::Cli::parse();
    let from_env = EnvFilter::try_from_default_env().ok();
    let explicit = from_env.is_some();
    let filter = from_env.unwrap_or_else(|| EnvFilter::new(cli.command.default_log_level()));
    let (filter, handle) = reload::Layer::new(filter);
    let json = cli.log_format == cli::LogFormat::Json;
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(move || SafeStderr { json })
        .with_ansi(false);
    let layer = match cli.log_format {
        cli::LogFormat::Human => layer.boxed(),
        cli::LogFormat::Json => layer.json().flatten_event(true).boxed(),
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(layer)
        .init();
    // The config's log_level takes effect once the file is read, unless RUST_LOG is set.
    let set_level = move |level: &str| {
        if !explicit {
            let _ = handle.reload(EnvFilter::new(level));
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(cli::run(cli, &set_level)) {
        Ok(code) => code,
        Err(e) => {
            // Multi-line errors (a config's problem list) keep their lines.
            eprintln!("error: {}", escape::lines(&format!("{e:#}")));
            ExitCode::from(1)
        }
    }
}
