//! Runs a child process and measures it: wall time (spawn to reap), exit code, output,
//! and peak RSS: the child's own high-water mark (`VmHWM`), sampled from /proc every 5 ms
//! while it runs (monotonic, so the last sample is the peak up to then).
//!
//! Not `wait4`'s `ru_maxrss`: Linux folds the memory the process had before `exec` into
//! it, and a child of this bench starts as a copy of the bench (hundreds of MB after the
//! parsing scenario); nor does it tell the agent from its sacctmgr children.

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};

#[derive(Debug, Clone)]
pub struct Measured {
    /// When the child was spawned (wall clock, for matching its log timestamps).
    pub started_at: SystemTime,
    pub wall: Duration,
    /// Exit code; -1 when killed by a signal.
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
    /// The child's own peak RSS (KiB), from /proc/PID/status `VmHWM`.
    pub rss_kb: u64,
}

/// `VmHWM` of a process (`"self"` for this one), KiB.
pub fn vm_hwm_kb(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn drain(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// Runs `cmd` to completion (stdin closed, stdout and stderr captured).
pub fn run(mut cmd: Command) -> Result<Measured> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started_at = SystemTime::now();
    let started = Instant::now();
    let mut child = cmd.spawn().with_context(|| format!("starting {cmd:?}"))?;
    let pid = child.id();
    let out = drain(child.stdout.take().expect("piped"));
    let err = drain(child.stderr.take().expect("piped"));
    let done = Arc::new(AtomicBool::new(false));
    let hwm = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (done, hwm) = (done.clone(), hwm.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                if let Some(kb) = vm_hwm_kb(&pid.to_string()) {
                    hwm.fetch_max(kb, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let status = child.wait();
    let wall = started.elapsed();
    done.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    let status = status.with_context(|| format!("waiting for {cmd:?}"))?;
    Ok(Measured {
        started_at,
        wall,
        status: status.code().unwrap_or(-1),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
        rss_kb: hwm.load(Ordering::Relaxed),
    })
}

/// Seconds since the epoch of a log line's leading RFC 3339 UTC timestamp
/// (`2025-01-31T12:34:56.123456Z ...`, tracing-subscriber's default).
fn log_time(line: &str) -> Option<f64> {
    let ts = line.split_whitespace().next()?.strip_suffix('Z')?;
    let (date, time) = ts.split_once('T')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>());
    let (y, m, day) = (d.next()?.ok()?, d.next()?.ok()?, d.next()?.ok()?);
    let mut t = time.split(':');
    let (h, min, sec) = (
        t.next()?.parse::<f64>().ok()?,
        t.next()?.parse::<f64>().ok()?,
        t.next()?.parse::<f64>().ok()?,
    );
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days as f64 * 86_400.0 + h * 3600.0 + min * 60.0 + sec)
}

/// Where the time of an agent run went, from its `RUST_LOG=debug` log: seconds from
/// spawn to the first Waldur request, spent on Waldur requests (first to last), and
/// from the last Waldur response to the "finished" line (SLURM reads, planning, output).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timeline {
    pub before_waldur: f64,
    pub waldur: f64,
    pub after_waldur: f64,
    pub waldur_requests: usize,
}

pub fn timeline(m: &Measured) -> Option<Timeline> {
    let start = m
        .started_at
        .duration_since(SystemTime::UNIX_EPOCH)
        .ok()?
        .as_secs_f64();
    let mut waldur: Vec<f64> = Vec::new();
    let mut end = None;
    // Plain text: the agent colours its log only on a terminal.
    for line in m.stderr.lines() {
        if line.contains("agent_desired::client") && line.contains(" waldur ") {
            waldur.extend(log_time(line));
        } else if line.contains("finished") && line.contains("waldur_requests=") {
            end = log_time(line);
        }
    }
    let (first, last, end) = (*waldur.first()?, *waldur.last()?, end?);
    Some(Timeline {
        before_waldur: first - start,
        waldur: last - first,
        after_waldur: end - last,
        waldur_requests: waldur.len(),
    })
}

pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_times() {
        assert_eq!(log_time("1970-01-02T00:00:01.5Z  INFO x"), Some(86_401.5));
        assert_eq!(log_time("2000-03-01T00:00:00Z"), Some(951_868_800.0));
        assert_eq!(log_time("no time"), None);
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }

    #[test]
    fn measures_a_child() {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo out; echo err >&2; exit 3"]);
        let m = run(cmd).unwrap();
        assert_eq!(m.status, 3);
        assert_eq!(m.stdout, "out\n");
        assert_eq!(m.stderr, "err\n");
    }
}
