//! The live systems: Waldur over HTTP (one client per offering; offerings with the same
//! URL and token share one, and with it the bound on concurrent requests), SLURM
//! through sacctmgr, one writer, argv only, and storage through its tools (the same
//! runner: argv only, `LANG=C`, a timeout, counted per program).

use std::collections::BTreeMap;
use std::sync::Arc;

use agent_config::{Config, Offering};
use agent_desired::client::{ClientError, ClientSettings, RequestStats, WaldurClient};
use agent_desired::fetch::{self, FetchOptions};
use agent_desired::scope::DocScope;
use agent_desired::WaldurDocs;
use agent_observed::answers::{classify, is_noop, FailureClass};
use agent_observed::{RunError, Runner};
use agent_reconcile::commands::SlurmTarget;
use agent_reconcile::load::LoadFile;
use agent_reconcile::plan::{Change, Command};
use agent_reconcile::scope::Scope;
use agent_reconcile::storage::{Lookup, PathState, StorageDesired, StorageObserved};
use agent_reconcile::{render, Observed};
use anyhow::Context;
use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::Value;

use super::{
    Failure, LongRun, SlurmReads, SlurmWrites, StorageReads, StorageWrites, WaldurReads,
    WaldurWrites,
};

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

    /// Answers and latency of those requests, over all clients.
    pub fn request_stats(&self) -> RequestStats {
        self.distinct
            .iter()
            .fold(RequestStats::default(), |acc, c| acc.plus(&c.stats()))
    }
}

/// Waldur, live.
pub struct LiveWaldur {
    pub clients: Arc<WaldurClients>,
    /// Which month periodic policies count in (their previous period's usage is read).
    pub clock: crate::periodic::Clock,
}

impl LiveWaldur {
    /// What a read of `offering` includes; a scoped read includes the same, so a scoped
    /// pass computes the same periodic limits as a full one.
    fn options(&self, offering: &Offering) -> FetchOptions {
        let pl = &offering.slurm.periodic_limits;
        FetchOptions {
            periodic_month: pl.enabled.then(|| self.clock.month()),
            limit_type: pl.limit_type,
            ..FetchOptions::default()
        }
    }
}

impl WaldurReads for LiveWaldur {
    fn docs<'a>(&'a self, offering: &'a Offering) -> BoxFuture<'a, anyhow::Result<WaldurDocs>> {
        async move {
            let client = self.clients.of(offering)?;
            fetch::fetch_docs(client, &offering.uuid, self.options(offering))
                .await
                .with_context(|| format!("offering {:?}", offering.name))
        }
        .boxed()
    }

    fn scoped_docs<'a>(
        &'a self,
        offering: &'a Offering,
        scope: &'a DocScope,
    ) -> BoxFuture<'a, anyhow::Result<WaldurDocs>> {
        async move {
            let client = self.clients.of(offering)?;
            fetch::fetch_scoped(client, &offering.uuid, scope, self.options(offering))
                .await
                .with_context(|| format!("offering {:?}", offering.name))
        }
        .boxed()
    }

    fn order_resource<'a>(
        &'a self,
        offering: &'a Offering,
        order: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<Option<String>>> {
        async move {
            let client = self.clients.of(offering)?;
            Ok(fetch::order_resource(client, &offering.uuid, order).await?)
        }
        .boxed()
    }

    fn is_live(&self) -> bool {
        true
    }

    fn requests(&self) -> u64 {
        self.clients.request_count()
    }

    fn request_stats(&self) -> RequestStats {
        self.clients.request_stats()
    }

    fn ok_usernames<'a>(
        &'a self,
        offering: &'a Offering,
    ) -> BoxFuture<'a, anyhow::Result<Vec<String>>> {
        async move {
            let client = self.clients.of(offering)?;
            let users = fetch::ok_offering_users(client, &offering.uuid)
                .await
                .with_context(|| format!("offering {:?}", offering.name))?;
            Ok(users
                .into_iter()
                .filter_map(|u| u.username.filter(|n| !n.is_empty()))
                .collect())
        }
        .boxed()
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

    fn observe_scoped<'a>(
        &'a self,
        target: &'a SlurmTarget,
        scope: &'a Scope,
    ) -> BoxFuture<'a, anyhow::Result<Observed>> {
        async move {
            agent_observed::observe_scoped(&self.runner, target, scope)
                .await
                .context("reading SLURM (scoped)")
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
                    Command::Waldur { .. } | Command::Storage { .. } => continue,
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
    fn apply_session<'a>(&'a self, changes: &'a [&'a Change]) -> BoxFuture<'a, LongRun> {
        async move {
            let mut lines = Vec::new();
            let mut sacctmgr = None;
            let expressible = |c: &&&Change| {
                c.commands.iter().all(|cmd| match cmd {
                    Command::Slurm { argv, .. } => render::session_safe(argv),
                    Command::Waldur { .. } | Command::Storage { .. } => true,
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
                        Command::Waldur { .. } | Command::Storage { .. } | Command::Emulator { .. } => {}
                    }
                }
            }
            let Some(program) = sacctmgr else {
                return LongRun::Ended;
            };
            let mut input = render::sacctmgr_session(&lines).join("\n");
            input.push_str("\nexit\n");
            super::long_runs::session(&self.runner, &program, &input).await
        }
        .boxed()
    }

    /// The file in parts, by the sacctmgr the carried changes name.
    fn apply_load<'a>(
        &'a self,
        file: &'a LoadFile,
        changes: &'a [&'a Change],
    ) -> BoxFuture<'a, LongRun> {
        async move {
            let program = changes
                .iter()
                .flat_map(|c| &c.commands)
                .find_map(|cmd| match cmd {
                    Command::Slurm { argv, .. } => argv.first().cloned(),
                    _ => None,
                });
            match program {
                Some(program) => super::long_runs::load(&self.runner, &program, file).await,
                None => LongRun::Ended,
            }
        }
        .boxed()
    }
}

/// Storage, live: the filesystem and the quota tools through the same runner.
pub struct LiveStorage {
    pub runner: Arc<Runner>,
}

impl agent_observed::storage::Tools for LiveStorage {
    fn run<'a>(
        &'a self,
        argv: Vec<String>,
    ) -> BoxFuture<'a, Result<agent_observed::RunOutput, String>> {
        async move {
            self.runner
                .run(&argv, None)
                .await
                .map_err(|e| e.to_string())
        }
        .boxed()
    }

    fn lstat(&self, path: &str) -> Lookup<PathState> {
        agent_observed::storage::fs::lstat(path)
    }
}

impl StorageReads for LiveStorage {
    fn observe<'a>(
        &'a self,
        want: &'a StorageDesired,
    ) -> BoxFuture<'a, anyhow::Result<StorageObserved>> {
        async move { Ok(agent_observed::storage::observe(self, want).await) }.boxed()
    }
}

impl StorageWrites for LiveStorage {
    /// Each command in order; the first that fails (non-zero exit) fails the change with
    /// the tool's message. A timeout is retryable; anything else is for a person to look
    /// at, and never errs an order (no Waldur call waits for storage).
    fn apply<'a>(&'a self, change: &'a Change) -> BoxFuture<'a, Result<(), Failure>> {
        async move {
            for cmd in &change.commands {
                let Command::Storage { argv } = cmd else {
                    continue;
                };
                match self.runner.run(argv, None).await {
                    Ok(out) if out.success() => {}
                    Ok(out) => {
                        return Err(Failure::new(
                            FailureClass::Fatal,
                            format!(
                                "`{}` exited {}: {}",
                                argv.join(" "),
                                out.status,
                                out.message()
                            ),
                        ))
                    }
                    Err(e @ RunError::Timeout { .. }) => {
                        return Err(Failure::new(FailureClass::Retryable, e.to_string()))
                    }
                    Err(e) => return Err(Failure::new(FailureClass::Fatal, e.to_string())),
                }
            }
            Ok(())
        }
        .boxed()
    }
}
