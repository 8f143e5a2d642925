//! The live systems: Waldur over HTTP (one client per offering; offerings with the same
//! URL and token share one, and with it the bound on concurrent requests) and SLURM
//! through sacctmgr, one writer, argv only.

use std::collections::BTreeMap;
use std::sync::Arc;

use agent_config::{Config, Offering};
use agent_desired::client::{ClientError, ClientSettings, WaldurClient};
use agent_desired::fetch::{self, FetchOptions};
use agent_desired::WaldurDocs;
use agent_observed::answers::{classify, is_noop, FailureClass};
use agent_observed::{RunError, Runner};
use agent_reconcile::commands::SlurmTarget;
use agent_reconcile::plan::{Change, Command};
use agent_reconcile::{render, Observed};
use anyhow::Context;
use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::Value;

use super::{Failure, SlurmReads, SlurmWrites, WaldurReads, WaldurWrites};

/// One Waldur client per configured offering.
pub struct WaldurClients {
    by_offering: BTreeMap<String, WaldurClient>,
    distinct: Vec<WaldurClient>,
}

impl WaldurClients {
    pub fn new(config: &Config) -> Result<Self, ClientError> {
        let mut by_offering = BTreeMap::new();
        let mut shared: Vec<((String, String, bool), WaldurClient)> = Vec::new();
        for o in &config.offerings {
            let key = (
                o.api_url.clone(),
                o.api_token.expose().to_string(),
                o.verify_ssl,
            );
            let client = match shared.iter().find(|(k, _)| *k == key) {
                Some((_, c)) => c.clone(),
                None => {
                    let mut settings = ClientSettings::new(&o.api_url, o.api_token.clone());
                    settings.verify_ssl = o.verify_ssl;
                    settings.timeout = config.agent.http_timeout;
                    settings.retry.attempts = config.agent.http_attempts;
                    let c = WaldurClient::new(&settings)?;
                    shared.push((key, c.clone()));
                    c
                }
            };
            by_offering.insert(o.uuid.clone(), client);
        }
        Ok(WaldurClients {
            by_offering,
            distinct: shared.into_iter().map(|(_, c)| c).collect(),
        })
    }

    pub fn get(&self, offering_uuid: &str) -> Option<&WaldurClient> {
        self.by_offering.get(offering_uuid)
    }

    /// The client of an offering, or an error naming it.
    pub fn of(&self, offering: &Offering) -> anyhow::Result<&WaldurClient> {
        self.get(&offering.uuid)
            .with_context(|| format!("no Waldur client for offering {:?}", offering.name))
    }

    /// HTTP requests sent so far, over all clients.
    pub fn request_count(&self) -> u64 {
        self.distinct.iter().map(|c| c.request_count()).sum()
    }
}

/// Waldur, live.
pub struct LiveWaldur {
    pub clients: Arc<WaldurClients>,
    /// Which month periodic policies count in (their previous period's usage is read).
    pub clock: crate::periodic::Clock,
}

impl WaldurReads for LiveWaldur {
    fn docs<'a>(&'a self, offering: &'a Offering) -> BoxFuture<'a, anyhow::Result<WaldurDocs>> {
        async move {
            let client = self.clients.of(offering)?;
            let pl = &offering.slurm.periodic_limits;
            let options = FetchOptions {
                periodic_month: pl.enabled.then(|| self.clock.month()),
                limit_type: pl.limit_type,
                ..FetchOptions::default()
            };
            fetch::fetch_docs(client, &offering.uuid, options)
                .await
                .with_context(|| format!("offering {:?}", offering.name))
        }
        .boxed()
    }

    fn is_live(&self) -> bool {
        true
    }

    fn requests(&self) -> u64 {
        self.clients.request_count()
    }
}

impl WaldurWrites for LiveWaldur {
    fn call<'a>(
        &'a self,
        offering: &'a str,
        method: &'a str,
        path: &'a str,
        body: Option<&'a Value>,
    ) -> BoxFuture<'a, Result<(), Failure>> {
        async move {
            let Some(client) = self.clients.get(offering) else {
                return Err(Failure::new(
                    FailureClass::Fatal,
                    format!("the plan names offering {offering:?}, which is not configured"),
                ));
            };
            match client.call(method, path, body).await {
                Ok(_) => Ok(()),
                Err(e) => {
                    let class = if e.is_transient() {
                        FailureClass::Retryable
                    } else {
                        FailureClass::Fatal
                    };
                    Err(Failure::new(class, e.to_string()))
                }
            }
        }
        .boxed()
    }
}

/// SLURM, live: the bulk reads and the writes, through one runner (its counters are the
/// cycle's process counts).
pub struct LiveSlurm {
    pub runner: Arc<Runner>,
}

impl LiveSlurm {
    async fn run(&self, argv: &[String]) -> Result<(), Failure> {
        match self.runner.run(argv, None).await {
            Ok(out) if out.success() => Ok(()),
            Ok(out) if is_noop(&out.stdout, &out.stderr) => Ok(()),
            Ok(out) => {
                let msg = out.message();
                Err(Failure::new(classify(&msg), msg))
            }
            Err(e @ RunError::Timeout { .. }) => {
                Err(Failure::new(FailureClass::Retryable, e.to_string()))
            }
            Err(e) => Err(Failure::new(FailureClass::Fatal, e.to_string())),
        }
    }
}

impl SlurmReads for LiveSlurm {
    fn observe<'a>(&'a self, target: &'a SlurmTarget) -> BoxFuture<'a, anyhow::Result<Observed>> {
        async move {
            agent_observed::observe(&self.runner, target)
                .await
                .context("reading SLURM")
        }
        .boxed()
    }

    fn processes(&self) -> BTreeMap<String, u64> {
        self.runner.counts()
    }
}

impl SlurmWrites for LiveSlurm {
    fn apply<'a>(&'a self, change: &'a Change) -> BoxFuture<'a, Result<(), Failure>> {
        async move {
            for (i, cmd) in change.commands.iter().enumerate() {
                let (result, best_effort) = match cmd {
                    Command::Slurm { argv, best_effort } => (self.run(argv).await, *best_effort),
                    Command::Emulator { url, body } => (super::emulator::post(url, body).await, false),
                    Command::Waldur { .. } => continue,
                };
                if let Err(mut failure) = result {
                    if best_effort {
                        tracing::warn!(change = %change.address, message = %failure.message, "best-effort command failed; continuing");
                        continue;
                    }
                    failure.ran = Some(i + 1);
                    return Err(failure);
                }
            }
            Ok(())
        }
        .boxed()
    }

    /// Job cancellations first (one scancel each), then every sacctmgr command in one
    /// `sacctmgr -i` stdin session over a single database connection. A change with an
    /// argument a session line cannot carry is left out: the re-plan finds it and the
    /// executor runs it on its own.
    fn apply_session<'a>(&'a self, changes: &'a [&'a Change]) -> BoxFuture<'a, ()> {
        async move {
            let mut lines = Vec::new();
            let mut sacctmgr = None;
            let expressible = |c: &&&Change| {
                c.commands.iter().all(|cmd| match cmd {
                    Command::Slurm { argv, .. } => render::session_safe(argv),
                    Command::Waldur { .. } => true,
                    Command::Emulator { .. } => false,
                })
            };
            for change in changes.iter().filter(expressible) {
                for cmd in &change.commands {
                    match cmd {
                        Command::Slurm {
                            argv,
                            best_effort: true,
                        } => {
                            if let Err(failure) = self.run(argv).await {
                                tracing::warn!(change = %change.address, message = %failure.message, "best-effort command failed; continuing");
                            }
                        }
                        Command::Slurm { argv, .. } => {
                            sacctmgr.get_or_insert_with(|| argv[0].clone());
                            lines.push(argv.as_slice());
                        }
                        Command::Waldur { .. } | Command::Emulator { .. } => {}
                    }
                }
            }
            let Some(program) = sacctmgr else { return };
            let mut input = render::sacctmgr_session(&lines).join("\n");
            input.push_str("\nexit\n");
            let argv = vec![program, "-i".to_string()];
            match self.runner.run(&argv, Some(&input)).await {
                Ok(out) if !out.success() => {
                    tracing::warn!(stderr = %out.stderr.trim(), "the sacctmgr session reported errors; re-planning to find what is left")
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "the sacctmgr session did not run; re-planning")
                }
            }
        }
        .boxed()
    }
}
