//! `agent run` as a service: the daemon, restarted on a new configuration when asked to
//! reload (SIGHUP), with the service manager told how it goes (systemd readiness after
//! the first cycle, reloading, the watchdog fed while the loop is live).
//!
//! A reload loads and validates the file first: an invalid one is refused and logged,
//! and the running daemon goes on with the old configuration. A valid one stops the
//! running daemon between rounds (never in the middle of an apply), and the new one
//! starts with a full pass. The monitor (metrics, status page) lives across reloads.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::cycle::Pass;
use crate::daemon::{self, Clock, Daemon, Exit, Observer, Settings, Wakes};
use crate::http::{health, monitor, Monitor};
use crate::notify::Notifier;
use crate::settings::{Invocation, SourceArgs};
use crate::sides::Sides;

/// What the service is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Read the config file again and, if it is valid, continue with it.
    Reload,
    /// Stop after the current round.
    Stop,
}

/// Logs one pass (the CLI's), given the sides it ran on.
pub type PassLog<'a> = &'a (dyn Fn(&Pass, &Sides) + Sync);

/// Everything a service run needs besides its first configuration.
pub struct Service<'a> {
    pub config_path: PathBuf,
    /// `--offering`.
    pub selection: Option<String>,
    pub once: bool,
    pub allow_mass_delete: bool,
    pub monitor: Arc<Monitor>,
    pub notifier: Notifier,
    pub log: PassLog<'a>,
    pub clock: &'a dyn Clock,
    /// Settings of the daemon that tests shorten; applied after the config's.
    pub tune: &'a (dyn Fn(&mut Settings) + Sync),
}

/// One generation's observer: the log, the monitor, and readiness after its first pass.
struct Tee<'a> {
    log: PassLog<'a>,
    sides: &'a Sides,
    monitor: &'a Monitor,
    notifier: &'a Notifier,
    ready: std::sync::atomic::AtomicBool,
}

impl Observer for Tee<'_> {
    fn pass(&self, pass: &Pass) {
        (self.log)(pass, self.sides);
        self.monitor.pass(pass);
        let problems = pass.problems(self.sides.waldur_writes.is_some());
        let status = format!(
            "{} pass(es); last: {} group(s), {problems} problem(s)",
            self.monitor.snapshot().passes,
            pass.groups.len()
        );
        if !self.ready.swap(true, std::sync::atomic::Ordering::Relaxed) {
            self.notifier.ready(&status);
        } else {
            self.notifier.status(&status);
        }
    }
    fn busy(&self) {
        self.monitor.busy()
    }
    fn step(&self) {
        self.monitor.step()
    }
    fn idle(&self, until: Instant) {
        self.monitor.idle(until)
    }
}

impl Service<'_> {
    /// Loads the config file as a command would (warnings logged).
    pub fn load(&self) -> Result<Invocation> {
        Invocation::load(
            &self.config_path,
            self.selection.clone(),
            &SourceArgs::default(),
        )
    }

    /// One daemon on one configuration, until it stops; with the configuration to go on
    /// with when it stopped for a reload.
    async fn generation(
        &self,
        inv: &Invocation,
        control: &mut mpsc::UnboundedReceiver<Control>,
        wakes: &mut Wakes,
    ) -> Result<(Exit, Option<Invocation>)> {
        let groups = inv.groups()?;
        // Held while this configuration runs; released before the next one takes its own.
        let _locks = inv.lock(&groups)?;
        let configured: Vec<(String, Vec<String>)> = groups
            .iter()
            .map(|g| {
                let offerings = g.offerings.iter().map(|o| o.uuid.clone()).collect();
                (g.label().to_string(), offerings)
            })
            .collect();
        self.monitor.configure(
            &configured,
            inv.config.agent.cycle_interval,
            monitor::shown(&inv.config, &inv.config_path),
        );
        let mut settings = Settings {
            allow_mass_delete: self.allow_mass_delete,
            selection: self.selection.clone(),
            once: self.once,
            ..Settings::from_config(&inv.config)
        };
        (self.tune)(&mut settings);
        let state = inv.state_dir();
        let tee = Tee {
            log: self.log,
            sides: &inv.sides,
            monitor: &self.monitor,
            notifier: &self.notifier,
            ready: Default::default(),
        };
        let d = Daemon {
            config: &inv.config,
            sides: &inv.sides,
            clock: self.clock,
            settings,
            observer: &tee,
            state: Some(&state),
        };
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let mut stop_tx = Some(stop_tx);
        let (wake, generation_wakes) = daemon::wake_channel();
        let run = d.run(
            async {
                let _ = stop_rx.await;
            },
            generation_wakes,
        );
        tokio::pin!(run);
        let mut next: Option<Invocation> = None;
        let mut listening = true;
        let exit = loop {
            tokio::select! {
                exit = &mut run => break exit,
                Some(w) = wakes.recv() => wake.wake(w),
                c = control.recv(), if listening => {
                    match c {
                        // A stop already asked for wins over a reload.
                        Some(Control::Reload) if stop_tx.is_some() || next.is_some() => match self.load().and_then(|new| {
                            // The new file must also select something to run on.
                            new.groups()?;
                            Ok(new)
                        }) {
                            Ok(new) => {
                                if new.config.agent.http_listen != inv.config.agent.http_listen {
                                    tracing::warn!("agent.http_listen changed: the listener moves at the next restart, not on reload");
                                }
                                tracing::info!(config = %self.config_path.display(), "configuration reloaded; the daemon continues with it after the current round");
                                self.monitor.reloaded(true);
                                self.notifier.reloading();
                                next = Some(new);
                            }
                            Err(e) => {
                                self.monitor.reloaded(false);
                                tracing::error!("reload refused, the running configuration stays: {e:#}");
                                continue;
                            }
                        },
                        Some(Control::Reload) => continue,
                        Some(Control::Stop) => next = None,
                        None => {
                            listening = false;
                            next = None;
                        }
                    }
                    if let Some(t) = stop_tx.take() {
                        let _ = t.send(());
                    }
                }
            }
        };
        Ok((exit, next))
    }

    /// Runs until stopped (or one round with `once`), reloading on request.
    pub async fn run(
        &self,
        first: Invocation,
        mut control: mpsc::UnboundedReceiver<Control>,
        mut wakes: Wakes,
    ) -> Result<Exit> {
        let watchdog = self.notifier.watchdog_every().map(|every| {
            let (monitor, notifier) = (self.monitor.clone(), self.notifier.clone());
            tokio::spawn(async move {
                loop {
                    // Fed only while the loop is live: a hung loop gets restarted.
                    if health::live(&monitor.snapshot(), Instant::now()).ok {
                        notifier.watchdog();
                    }
                    tokio::time::sleep(every).await;
                }
            })
        });
        let mut inv = first;
        let mut total = Exit::default();
        let result = loop {
            match self.generation(&inv, &mut control, &mut wakes).await {
                Err(e) => break Err(e),
                Ok((exit, next)) => {
                    total.passes += exit.passes;
                    total.last_problems = exit.last_problems;
                    match next {
                        Some(new) if !self.once => inv = new,
                        _ => break Ok(total),
                    }
                }
            }
        };
        if let Some(w) = watchdog {
            w.abort();
        }
        self.notifier.stopping();
        result
    }
}
