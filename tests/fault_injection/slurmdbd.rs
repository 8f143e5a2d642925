//! slurmdbd stopped in the middle of an apply and started again. Only the cluster of
//! this test run is touched: its directory comes from SLURM_CONF (DIR/etc/slurm.conf),
//! the daemon is found through DIR/run/slurmdbd.pid and checked by name before it is
//! signalled, never looked up by name, and started again the way start-slurm.sh does.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::sacctmgr;
use crate::world::{Slurm, World};
use crate::Tally;

/// The cluster directory of SLURM_CONF.
fn cluster_dir() -> PathBuf {
    let conf = PathBuf::from(std::env::var_os("SLURM_CONF").expect("SLURM_CONF"));
    conf.parent()
        .and_then(|etc| etc.parent())
        .expect("DIR/etc/slurm.conf")
        .to_path_buf()
}

fn pid_file() -> PathBuf {
    cluster_dir().join("run/slurmdbd.pid")
}

/// The pid in `file`, if that process is a live slurmdbd (not a zombie).
fn live_in(file: &std::path::Path) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(file).ok()?.trim().parse().ok()?;
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let state = stat.rsplit_once(')')?.1.split_whitespace().next()?;
    (comm.trim() == "slurmdbd" && state != "Z").then_some(pid)
}

/// The slurmdbd of DIR/run/slurmdbd.pid, if it is running.
fn running() -> Option<u32> {
    live_in(&pid_file())
}

/// Restarts slurmdbd when dropped if it is down (a failed assertion in between must not
/// leave the cluster without its database daemon).
pub struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        if running().is_none() {
            start();
        }
    }
}

pub fn stop() {
    let pid = running().expect("this cluster's slurmdbd is running");
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(20);
    while running() == Some(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(running().is_none(), "slurmdbd {pid} did not stop");
}

/// Starts slurmdbd as start-slurm.sh does (`setsid slurmdbd -D`, log appended, pid in
/// DIR/run/slurmdbd.pid) and waits until sacctmgr is answered.
pub fn start() {
    let dir = cluster_dir();
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("log/slurmdbd.log"))
        .unwrap();
    // -f: setsid forks, so the daemon is never this process's child (no zombie when it
    // stops); it writes its pid to DIR/run/slurmdbd.self.pid (PidFile=).
    let self_pid = dir.join("run/slurmdbd.self.pid");
    let _ = std::fs::remove_file(&self_pid);
    Command::new("setsid")
        .args(["-f", "slurmdbd", "-D"])
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .status()
        .expect("slurmdbd starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    let pid = loop {
        if let Some(pid) = live_in(&self_pid) {
            break pid;
        }
        assert!(Instant::now() < deadline, "slurmdbd wrote no pid file");
        std::thread::sleep(Duration::from_millis(20));
    };
    std::fs::write(pid_file(), format!("{pid}\n")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let out = Command::new("sacctmgr")
            .args(["-n", "show", "cluster"])
            .output();
        if out.is_ok_and(|o| o.status.success()) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "slurmdbd did not come back: {}",
        sacctmgr(&["-n", "show", "cluster"])
    );
}

/// Rounds of: work waiting, the agent applying, slurmdbd stopped at a seeded point of the
/// apply, the agent finishing against a dead database, slurmdbd back, one clean cycle.
pub fn run(world: &World, tally: &mut Tally, rng: &mut crate::Rng, rounds: usize) {
    let _guard = Guard;
    for round in 0..rounds {
        // Enough commands that the stop lands inside the apply.
        for _ in 0..3 {
            world.create(3);
        }
        world.membership(2, !world.is_member(2));
        let settled = world.settled();
        if let Some(r) = settled.first().filter(|_| settled.len() >= 4) {
            world.terminate(r);
        }
        let before = Slurm::read();
        let mode = if round % 2 == 0 {
            "per-change"
        } else {
            "batch"
        };
        let (mut child, log) = world.spawn(&["reconcile", "--apply-mode", mode]);
        std::thread::sleep(Duration::from_millis(rng.below(400)));
        stop();
        tally.faults += 1;
        tally.runs += 1;
        let status = child.wait().unwrap();
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        world.scan(&text);
        let what = format!("slurmdbd stopped mid-apply ({mode}, round {round}, exit {status})");
        if text.contains("panicked") {
            tally.fail(format!("{what}: panicked:\n{text}"));
        }
        start();
        tally.after_fault(world, &before, &what);
    }
}
