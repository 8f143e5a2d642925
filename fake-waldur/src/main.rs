//! `fake-waldur --listen 127.0.0.1:8765 [--seed FILE.json]`: runs the fake
//! Waldur API for local experiments. Without `--seed` the demo seed is used.

use anyhow::{bail, Context};
use clap::Parser;
use fake_waldur::{demo_seed, FakeWaldur, Seed};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser)]
#[command(version, about = "A stateful fake of the Waldur Mastermind REST API")]
struct Args {
    /// Address to listen on; must be a loopback address.
    #[arg(long, default_value = "127.0.0.1:8765")]
    listen: SocketAddr,
    /// Seed document (JSON, same format as POST /__fake__/seed).
    #[arg(long)]
    seed: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if !args.listen.ip().is_loopback() {
        bail!(
            "refusing to listen on {}: the fake binds to loopback only",
            args.listen
        );
    }
    let seed: Seed = match &args.seed {
        None => demo_seed(),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?
        }
    };
    let state = FakeWaldur::new(seed)?;
    // Prefer a staff token: it can also backfill usage for past months.
    let token = state.read(|w| {
        let mut users: Vec<_> = w.data.users.iter().filter(|u| u.token.is_some()).collect();
        users.sort_by_key(|u| !u.is_staff);
        users.first().and_then(|u| u.token.clone())
    });
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    println!("WALDUR_API_URL=http://{addr}/api/");
    match token {
        Some(t) => println!("WALDUR_API_TOKEN={t}"),
        None => println!("WALDUR_API_TOKEN="),
    }
    println!("FAKE_CONTROL_URL=http://{addr}/__fake__/");
    fake_waldur::serve_with_shutdown(listener, state, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
