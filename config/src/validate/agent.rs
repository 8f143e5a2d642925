//! The `agent:` section: settings only this agent has, each with a default.

use super::leaves::line_of;
use super::Validator;
use crate::raw::RawAgent;
use crate::types::{AgentSettings, ApplyMode};

impl Validator<'_> {
    pub(super) fn agent(&mut self, raw: &RawAgent) -> AgentSettings {
        let d = AgentSettings::default();
        let apply_mode = match self.string(&raw.apply_mode, "agent.apply_mode") {
            None => ApplyMode::Auto,
            Some(text) => text.parse().unwrap_or_else(|why: String| {
                let line = raw.apply_mode.as_ref().and_then(line_of);
                self.error("agent.apply_mode", line, why);
                ApplyMode::Auto
            }),
        };
        AgentSettings {
            max_deletions: self.uint(
                &raw.max_deletions,
                "agent.max_deletions",
                0..=1_000_000,
                d.max_deletions as u64,
            ) as usize,
            cancel_jobs: self.bool(&raw.cancel_jobs, "agent.cancel_jobs", d.cancel_jobs),
            cancel_jobs_on_partition_change: self.bool(
                &raw.cancel_jobs_on_partition_change,
                "agent.cancel_jobs_on_partition_change",
                d.cancel_jobs_on_partition_change,
            ),
            apply_mode,
            command_timeout: self.duration(
                &raw.command_timeout,
                "agent.command_timeout",
                d.command_timeout,
            ),
            cycle_interval: self.duration(
                &raw.cycle_interval,
                "agent.cycle_interval",
                d.cycle_interval,
            ),
            http_timeout: self.duration(&raw.http_timeout, "agent.http_timeout", d.http_timeout),
            http_attempts: self.uint(
                &raw.http_attempts,
                "agent.http_attempts",
                1..=20,
                d.http_attempts as u64,
            ) as u32,
            report_interval: self.duration(
                &raw.report_interval,
                "agent.report_interval",
                d.report_interval,
            ),
            heartbeat_file: self
                .string(&raw.heartbeat_file, "agent.heartbeat_file")
                .filter(|s| !s.is_empty())
                .map(std::path::PathBuf::from),
            state_dir: self
                .string(&raw.state_dir, "agent.state_dir")
                .filter(|s| !s.is_empty())
                .map(std::path::PathBuf::from)
                .unwrap_or(d.state_dir),
            http_listen: self.http_listen(raw, d.http_listen),
        }
    }

    /// `host:port` (an IP address, not a name: nothing is resolved), or `off` (which
    /// YAML may read as `false`; `true` keeps the default).
    fn http_listen(
        &mut self,
        raw: &RawAgent,
        default: Option<std::net::SocketAddr>,
    ) -> Option<std::net::SocketAddr> {
        match raw.http_listen.as_ref().map(|s| &s.value) {
            None | Some(serde_json::Value::Null) => return default,
            Some(serde_json::Value::Bool(on)) => return default.filter(|_| *on),
            _ => {}
        }
        let text = self.string(&raw.http_listen, "agent.http_listen")?;
        let line = raw.http_listen.as_ref().and_then(line_of);
        if matches!(text.trim(), "" | "off" | "false") {
            return None;
        }
        match text.trim().parse::<std::net::SocketAddr>() {
            Ok(addr) => {
                if !addr.ip().is_loopback() {
                    self.warn(
                        "agent.http_listen",
                        line,
                        format!("{addr} is reachable from other hosts: the status page shows account names, plans and settings (never the token), and nothing authenticates its readers; prefer loopback behind a proxy"),
                    );
                }
                Some(addr)
            }
            Err(_) => {
                self.error(
                    "agent.http_listen",
                    line,
                    format!("{:?} is not IP:PORT (e.g. 127.0.0.1:9787) or off", text),
                );
                default
            }
        }
    }
}
