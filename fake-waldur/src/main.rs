//! `fake-waldur --listen 127.0.0.1:8765 [--seed FILE.json] [--rabbitmq-mgmt-url URL
//! --rabbitmq-user USER --rabbitmq-password PASSWORD]`: runs the fake Waldur API for local
//! experiments. Without `--seed` the demo seed is used. The broker flags default to
//! `RABBITMQ_MGMT_URL`, `RABBITMQ_MGMT_USER` and `RABBITMQ_MGMT_PASSWORD`
//! (`scripts/rabbitmq/start-rabbitmq.sh` writes them to its env.sh). `--latency-ms N`
//! delays every API request by N ms.

use anyhow::{bail, Context};
use clap::Parser;
use fake_waldur::{demo_seed, Broker, FakeWaldur, Seed};
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
    /// RabbitMQ management API for event queues and publishing, e.g. http://127.0.0.1:15672
    /// [default: $RABBITMQ_MGMT_URL; none = registration answers 503]
    #[arg(long)]
    rabbitmq_mgmt_url: Option<String>,
    /// Administrator of that API [default: $RABBITMQ_MGMT_USER]
    #[arg(long)]
    rabbitmq_user: Option<String>,
    /// Its password [default: $RABBITMQ_MGMT_PASSWORD]
    #[arg(long)]
    rabbitmq_password: Option<String>,
    /// Delay every /api/ request by this many milliseconds (a real Waldur over HTTPS:
    /// 10-50). Also settable at run time: PATCH /__fake__/settings {"latency_ms": N}
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
}

impl Args {
    fn broker(&self) -> anyhow::Result<Option<Broker>> {
        let pick = |flag: &Option<String>, var: &str| {
            flag.clone()
                .or_else(|| std::env::var(var).ok())
                .filter(|v| !v.is_empty())
        };
        let url = pick(&self.rabbitmq_mgmt_url, "RABBITMQ_MGMT_URL");
        let user = pick(&self.rabbitmq_user, "RABBITMQ_MGMT_USER");
        let password = pick(&self.rabbitmq_password, "RABBITMQ_MGMT_PASSWORD");
        match (url, user, password) {
            (None, _, _) => Ok(None),
            (Some(url), Some(user), Some(password)) => {
                Ok(Some(Broker::new(&url, &user, &password)))
            }
            (Some(_), _, _) => bail!("a RabbitMQ management URL needs a user and a password"),
        }
    }
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
    if args.latency_ms > 0 {
        state.set_latency_ms(args.latency_ms);
    }
    let broker = args.broker()?;
    let broker_line = match &broker {
        Some(b) => format!("EVENT_BROKER={} (user {})", b.mgmt_url, b.user),
        None => "EVENT_BROKER=none".to_string(),
    };
    state.set_broker(broker);
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
    println!("{broker_line}");
    fake_waldur::serve_with_shutdown(listener, state, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
