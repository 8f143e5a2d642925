//! Runs SLURM programs: argv only (never a shell), `LANG=C` so messages can be classified,
//! a timeout per call (the process is killed when it expires), and a count of calls per
//! program for benchmarks and the fixed-read-count tests.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{program}: command not found (check backend_settings.slurm_bin_path)")]
    NotFound { program: String },
    #[error("`{command}` did not finish within {after:?}")]
    Timeout { command: String, after: Duration },
    #[error("`{command}` could not run: {message}")]
    Io { command: String, message: String },
    #[error("`{command}` failed (exit {status}): {message}")]
    Failed {
        command: String,
        status: i32,
        message: String,
    },
}

/// What a program printed and how it ended.
/// How much of stdout an error message keeps.
pub const MESSAGE_STDOUT_CHARS: usize = 400;

#[derive(Debug, Clone)]
pub struct RunOutput {
    /// Exit code; -1 when killed by a signal.
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl RunOutput {
    pub fn success(&self) -> bool {
        self.status == 0
    }

    /// stdout and stderr together, trimmed, for error messages. stdout is cut after
    /// [`MESSAGE_STDOUT_CHARS`]: a failing report tool may still print a whole report,
    /// and the message is repeated for every object it was about.
    pub fn message(&self) -> String {
        let mut m = self.stderr.trim().to_string();
        let out = self.stdout.trim();
        if !out.is_empty() {
            if !m.is_empty() {
                m.push_str(" / ");
            }
            match out.char_indices().nth(MESSAGE_STDOUT_CHARS) {
                Some((cut, _)) => {
                    m.push_str(&out[..cut]);
                    m.push_str(&format!(" … ({} more bytes)", out.len() - cut));
                }
                None => m.push_str(out),
            }
        }
        m
    }
}

pub struct Runner {
    timeout: Duration,
    counts: Mutex<BTreeMap<String, u64>>,
}

fn program_name(argv0: &str) -> String {
    argv0.rsplit('/').next().unwrap_or(argv0).to_string()
}

impl Runner {
    pub fn new(timeout: Duration) -> Self {
        Runner {
            timeout,
            counts: Mutex::new(BTreeMap::new()),
        }
    }

    /// Calls made so far, per program name (`sacctmgr`, `sacct`, `scancel`).
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.counts.lock().expect("counter lock").clone()
    }

    /// The timeout of one call (`agent.command_timeout`).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Runs a program to completion; a non-zero exit is returned, not raised.
    pub async fn run(&self, argv: &[String], stdin: Option<&str>) -> Result<RunOutput, RunError> {
        self.run_within(argv, stdin, self.timeout).await
    }

    /// [`Runner::run`] with its own timeout (a session or load that scales with its size).
    pub async fn run_within(
        &self,
        argv: &[String],
        stdin: Option<&str>,
        timeout: Duration,
    ) -> Result<RunOutput, RunError> {
        let command = argv.join(" ");
        let program = argv.first().ok_or_else(|| RunError::Io {
            command: command.clone(),
            message: "empty argv".into(),
        })?;
        *self
            .counts
            .lock()
            .expect("counter lock")
            .entry(program_name(program))
            .or_default() += 1;
        let mut cmd = Command::new(program);
        cmd.args(&argv[1..])
            .env("LANG", "C")
            .env("LC_ALL", "C")
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => RunError::NotFound {
                program: program.clone(),
            },
            _ => RunError::Io {
                command: command.clone(),
                message: e.to_string(),
            },
        })?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            let input = input.to_string();
            // Written from a task so a large input cannot deadlock against a full stdout pipe.
            tokio::spawn(async move {
                let _ = pipe.write_all(input.as_bytes()).await;
                let _ = pipe.shutdown().await;
            });
        }
        let started = std::time::Instant::now();
        let output = tokio::time::timeout(timeout, child.wait_with_output())
            .await
            .map_err(|_| RunError::Timeout {
                command: command.clone(),
                after: timeout,
            })?
            .map_err(|e| RunError::Io {
                command: command.clone(),
                message: e.to_string(),
            })?;
        tracing::debug!(%command, status = output.status.code(), elapsed = ?started.elapsed(), "slurm");
        Ok(RunOutput {
            status: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }

    /// Runs a read; a non-zero exit is an error carrying SLURM's message.
    pub async fn read(&self, argv: &[String]) -> Result<String, RunError> {
        let out = self.run(argv, None).await?;
        if out.success() {
            Ok(out.stdout)
        } else {
            Err(RunError::Failed {
                command: argv.join(" "),
                status: out.status,
                message: out.message(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_stdout_is_cut_in_messages() {
        let out = |stdout: &str| RunOutput {
            status: 1,
            stdout: stdout.to_string(),
            stderr: "boom\n".to_string(),
        };
        assert_eq!(out("").message(), "boom");
        assert_eq!(out(" short \n").message(), "boom / short");
        let long = "é".repeat(MESSAGE_STDOUT_CHARS + 10);
        let m = out(&long).message();
        assert!(m.starts_with("boom / é"));
        assert!(m.ends_with(" … (20 more bytes)"), "{m}");
    }
}
