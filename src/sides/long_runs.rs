//! The long sacctmgr runs, live. A stdin session: one process, a timeout that scales with
//! its lines. `sacctmgr -i load file=PATH`: the flat file cut into standalone parts, each
//! written to a private file (0600 in a 0700 directory of its own, removed afterwards)
//! and loaded by its own process with a timeout that scales with its size. Between
//! parts, progress goes to stderr when it is a terminal. What took effect is found by the
//! executor's re-plan, so a part that fails or is killed costs only its own changes,
//! which the next step retries.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use agent_observed::{RunError, Runner};
use agent_reconcile::load::LoadFile;

use super::LongRun;

/// Object lines per `load` process: small enough that a part finishes in seconds and a
/// killed one loses little, big enough that process start and slurmdbd's commit do not
/// add up (about 3 ms a line at 1,000 allocations, 0.3 s a process).
pub const LINES_PER_PART: usize = 5_000;

/// Time allowed per line of a `load`, on top of `agent.command_timeout`. A guard against
/// a hung slurmdbd, not a budget: a line costs about 3 ms at 1,000 allocations but 50 ms
/// at 10,000 (each insert shifts slurmdbd's nested set, which grows with the site), and
/// 30 ms cut the last part of a first sync at 10,000 short.
pub const LOAD_PER_LINE: Duration = Duration::from_millis(200);

/// A part may take this many times the slowest per-line time of the parts before it: the
/// cost per line keeps growing as the tree fills.
pub const LOAD_GROWTH_ALLOWANCE: u32 = 4;

/// The per-line allowance of the next part, given the slowest per-line time so far.
pub fn load_per_line(slowest_so_far: Duration) -> Duration {
    LOAD_PER_LINE.max(slowest_so_far.saturating_mul(LOAD_GROWTH_ALLOWANCE))
}

/// Time allowed per line of a stdin session (a grouped `add user` line carries up to 50
/// users), on top of `agent.command_timeout`.
pub const SESSION_PER_LINE: Duration = Duration::from_millis(500);

/// The timeout of a run of `lines` lines at `per_line` each.
pub fn scaled_timeout(base: Duration, per_line: Duration, lines: usize) -> Duration {
    base + per_line.saturating_mul(u32::try_from(lines).unwrap_or(u32::MAX))
}

/// A private directory, removed (with the files in it) when dropped.
struct PrivateDir(PathBuf);

impl PrivateDir {
    fn new() -> std::io::Result<Self> {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt};
        let base = std::env::temp_dir();
        // sacctmgr reads `file=` up to the first space or quote: keep to plain paths.
        let base = if path_safe(&base) {
            base
        } else {
            PathBuf::from("/tmp")
        };
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = base.join(format!("{DIR_PREFIX}{}-{stamp}", std::process::id()));
        std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
        // Only directories of our own user: the base is shared (/tmp), and a directory
        // another user made under our prefix is theirs, not a leftover of ours.
        let owner = std::fs::symlink_metadata(&dir)?.uid();
        remove_stale(&base, owner);
        Ok(PrivateDir(dir))
    }

    /// Writes a new file (never an existing one) readable by the owner only.
    fn write(&self, name: &str, text: &str) -> std::io::Result<PathBuf> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = self.0.join(name);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        Ok(path)
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The prefix of every load directory; the agent's pid follows it.
const DIR_PREFIX: &str = "waldur-slurm-agent-load-";

/// Removes load directories left by agents that were killed (their process is gone).
fn remove_stale(base: &Path, owner: u32) {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(DIR_PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        // Not followed: a symlink with our prefix is neither a directory nor removed.
        let ours = std::fs::symlink_metadata(entry.path())
            .is_ok_and(|m| m.file_type().is_dir() && m.uid() == owner);
        if ours && pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn path_safe(path: &Path) -> bool {
    path.to_str().is_some_and(|p| {
        p.starts_with('/')
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-'))
    })
}

/// Progress on stderr, only when it is a terminal.
pub struct Progress {
    on: bool,
    started: Instant,
}

impl Progress {
    pub fn new() -> Self {
        Progress {
            on: std::io::stderr().is_terminal(),
            started: Instant::now(),
        }
    }

    pub fn show(&self, text: &str) {
        if self.on {
            eprint!(
                "\r\x1b[2K{text} ({:.0} s)",
                self.started.elapsed().as_secs_f64()
            );
        }
    }

    pub fn done(&self) {
        if self.on {
            eprintln!();
        }
    }
}

/// Loads `file` in parts with `sacctmgr` (the program the plan's commands name).
pub async fn load(runner: &Runner, sacctmgr: &str, file: &LoadFile) -> LongRun {
    let dir = match PrivateDir::new() {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "no private directory for the sacctmgr load file; re-planning");
            return LongRun::Ended;
        }
    };
    let parts = file.chunks(LINES_PER_PART);
    let progress = Progress::new();
    let mut lines_done = 0;
    let mut slowest_line = Duration::ZERO;
    for (i, part) in parts.iter().enumerate() {
        let lines = part.lines().count();
        progress.show(&format!(
            "sacctmgr load: part {}/{}, {lines_done}/{} lines",
            i + 1,
            parts.len(),
            file.lines.len()
        ));
        let path = match dir.write(&format!("part-{i:04}.cfg"), part) {
            Ok(p) if path_safe(&p) => p,
            Ok(p) => {
                tracing::warn!(path = %p.display(), "load file path not plain; re-planning");
                break;
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not write the sacctmgr load file; re-planning");
                break;
            }
        };
        let argv = vec![
            sacctmgr.to_string(),
            "-i".to_string(),
            "load".to_string(),
            format!("file={}", path.display()),
        ];
        let timeout = scaled_timeout(runner.timeout(), load_per_line(slowest_line), lines);
        let started = std::time::Instant::now();
        let result = runner.run_within(&argv, None, timeout).await;
        let per_line = started.elapsed() / u32::try_from(lines.max(1)).unwrap_or(u32::MAX);
        slowest_line = slowest_line.max(per_line);
        match result {
            Ok(out) if out.success() => {}
            Ok(out) => {
                let message = out.message();
                let tail: String = message.chars().rev().take(500).collect::<String>();
                let tail: String = tail.chars().rev().collect();
                tracing::warn!(part = i + 1, parts = parts.len(), message = %tail, "sacctmgr load reported errors; the re-plan finds what is left");
            }
            Err(e @ RunError::Timeout { .. }) => {
                tracing::warn!(error = %e, "sacctmgr load timed out; nothing more is sent this cycle");
                progress.done();
                return LongRun::TimedOut(format!(
                    "sacctmgr load part {} of {}: {e}",
                    i + 1,
                    parts.len()
                ));
            }
            Err(e) => {
                tracing::warn!(error = %e, "sacctmgr load did not run; re-planning");
                break;
            }
        }
        lines_done += lines;
    }
    progress.show(&format!(
        "sacctmgr load: {} lines in {} parts",
        file.lines.len(),
        parts.len()
    ));
    progress.done();
    LongRun::Ended
}

/// Runs `input` (the lines of a stdin session, `exit` included) with `sacctmgr -i`.
pub async fn session(runner: &Runner, sacctmgr: &str, input: &str) -> LongRun {
    let lines = input.lines().count();
    let progress = Progress::new();
    progress.show(&format!("sacctmgr session: {lines} lines"));
    let argv = vec![sacctmgr.to_string(), "-i".to_string()];
    let timeout = scaled_timeout(runner.timeout(), SESSION_PER_LINE, lines);
    match runner.run_within(&argv, Some(input), timeout).await {
        Ok(out) if !out.success() => {
            tracing::warn!(stderr = %out.stderr.trim(), "the sacctmgr session reported errors; re-planning to find what is left")
        }
        Ok(_) => {}
        Err(e @ RunError::Timeout { .. }) => {
            tracing::warn!(error = %e, "the sacctmgr session timed out; nothing more is sent this cycle");
            progress.done();
            return LongRun::TimedOut(format!("sacctmgr session: {e}"));
        }
        Err(e) => {
            tracing::warn!(error = %e, "the sacctmgr session did not run; re-planning")
        }
    }
    progress.show(&format!("sacctmgr session: {lines} lines done"));
    progress.done();
    LongRun::Ended
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_grow_with_the_work() {
        let base = Duration::from_secs(120);
        assert_eq!(scaled_timeout(base, LOAD_PER_LINE, 0), base);
        assert_eq!(
            scaled_timeout(base, LOAD_PER_LINE, 5_000),
            Duration::from_secs(1_120)
        );
        // Parts that slowed down to 100 ms a line give the next one 400 ms a line.
        assert_eq!(load_per_line(Duration::from_millis(10)), LOAD_PER_LINE);
        assert_eq!(
            load_per_line(Duration::from_millis(100)),
            Duration::from_millis(400)
        );
        assert!(scaled_timeout(base, SESSION_PER_LINE, usize::MAX) > base);
    }

    #[test]
    fn files_are_private_and_gone_afterwards() {
        use std::os::unix::fs::PermissionsExt;
        let dir = PrivateDir::new().unwrap();
        let path = dir.write("part-0000.cfg", "Cluster - 'c'\n").unwrap();
        assert!(path_safe(&path));
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir.0), 0o700);
        assert!(
            dir.write("part-0000.cfg", "again").is_err(),
            "never overwritten"
        );
        let root = dir.0.clone();
        drop(dir);
        assert!(!root.exists());
        assert!(!path_safe(Path::new("/tmp/a b")));
        // A killed agent's directory goes with the next load; a live one's stays.
        let base = tempfile::tempdir().unwrap();
        let dead = base.path().join(format!("{DIR_PREFIX}{}-1", u32::MAX));
        let live = base
            .path()
            .join(format!("{DIR_PREFIX}{}-1", std::process::id()));
        std::fs::create_dir_all(&dead).unwrap();
        std::fs::create_dir_all(&live).unwrap();
        let owner = {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata(&dead).unwrap().uid()
        };
        // Another user's directory under the prefix is not ours to remove.
        remove_stale(base.path(), owner.wrapping_add(1));
        assert!(dead.exists());
        remove_stale(base.path(), owner);
        assert!(!dead.exists() && live.exists());
        assert!(!path_safe(Path::new("relative")));
    }
}
