//! The agent killed with SIGKILL at a seeded random point of an apply. Each trial gives
//! the next cycle a little work (a Create, a Terminate, an Update, a member joining or
//! leaving), starts `agent reconcile` in its own process group, kills the agent after a
//! seeded delay, waits for the sacctmgr it may have left running, checks the invariants,
//! and runs one clean cycle that must converge.

use std::collections::BTreeSet;
use std::process::Child;
use std::time::{Duration, Instant};

use crate::world::{Slurm, World};
use crate::{Rng, Tally};

/// Whether the process at `/proc/PID` is alive (not a zombie) and in group `pgid`.
fn in_group(proc_dir: &std::path::Path, pgid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(proc_dir.join("stat")) else {
        return false;
    };
    // pid (comm) state ppid pgrp ...: comm may hold spaces, so split after ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    fields.first() != Some(&"Z") && fields.get(2) == Some(&pgid.to_string().as_str())
}

/// Whether any process of process group `pgid` is still alive (an orphaned sacctmgr).
fn group_alive(pgid: u32) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|e| in_group(&e.path(), pgid))
}

/// The sacctmgr writes (`sacctmgr -i ...`) running in process group `pgid` now.
fn writes_running(pgid: u32, seen: &mut BTreeSet<u32>) {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return;
    };
    for e in entries.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        // Children are younger than the agent (pids wrap, rarely: then a write is missed).
        if pid <= pgid || seen.contains(&pid) || !in_group(&e.path(), pgid) {
            continue;
        }
        let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        if args.first().is_some_and(|a| a.ends_with(b"sacctmgr")) && args.contains(&&b"-i"[..]) {
            seen.insert(pid);
        }
    }
}

/// Waits until the agent has started its `k`-th sacctmgr write (or has ended).
fn wait_for_write(child: &mut Child, k: usize) {
    let mut seen = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen.len() < k && child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
        writes_running(child.id(), &mut seen);
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// SIGKILL to the agent alone (its children live on, as after a real crash), then waits
/// for what it left running. Returns whether the kill landed before the agent ended.
fn kill(child: &mut Child) -> bool {
    let pid = child.id();
    let landed = child.try_wait().ok().flatten().is_none();
    let _ = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .stderr(std::process::Stdio::null())
        .status();
    let _ = child.wait();
    let deadline = Instant::now() + Duration::from_secs(30);
    while group_alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    landed
}

/// One trial's work: one or two of the actions, drawn from `rng`.
fn work(world: &World, rng: &mut Rng) -> &'static str {
    let settled = world.settled();
    let action = match rng.below(5) {
        0 | 1 if settled.len() < 4 => "create",
        _ if settled.is_empty() => "create",
        2 => "terminate",
        3 => "update",
        _ => "membership",
    };
    match action {
        "create" => {
            world.create(1 + rng.below(20));
        }
        "terminate" => {
            world.terminate(&settled[rng.below(settled.len() as u64) as usize]);
        }
        "update" => {
            world.update(
                &settled[rng.below(settled.len() as u64) as usize],
                1 + rng.below(50),
            );
        }
        _ => world.membership(2, !world.is_member(2)),
    }
    if rng.below(2) == 0 {
        world.membership(1, !world.is_member(1));
    }
    action
}

/// How long the reads and the apply of an unkilled cycle with a trial's work take (ms):
/// the kills are spread over them.
fn calibrate(world: &World, tally: &mut Tally, rng: &mut Rng) -> (u64, u64) {
    let stats = world.dir.path().join("stats.json");
    let (mut plan, mut apply) = (0.0, 0.0);
    for _ in 0..3 {
        work(world, rng);
        let out = world.agent(&["reconcile", "--stats-file", stats.to_str().unwrap()]);
        if !out.status.success() {
            tally.fail(format!(
                "calibration did not converge:\n{}",
                crate::support::show(&out)
            ));
        }
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&stats).unwrap_or_default())
                .unwrap_or_default();
        plan += v["groups"][0]["seconds"]["plan"].as_f64().unwrap_or(0.0);
        apply += v["groups"][0]["seconds"]["apply"].as_f64().unwrap_or(0.0);
    }
    ((plan * 1000.0 / 3.0) as u64, (apply * 1000.0 / 3.0) as u64)
}

pub fn run(world: &World, tally: &mut Tally, rng: &mut Rng, trials: usize) {
    let (read_ms, apply_ms) = calibrate(world, tally, rng);
    tally.kill_span_ms = apply_ms;
    for trial in 0..trials {
        let action = work(world, rng);
        let before = Slurm::read();
        let mode = ["per-change", "batch", "auto"][rng.below(3) as usize];
        let (mut child, log) = world.spawn(&["reconcile", "--apply-mode", mode]);
        // Most kills at a seeded point of the apply (timed from its first sacctmgr
        // write), one in five at a seeded point of the reads before it.
        let point = if trial % 5 == 4 {
            let delay = rng.below(read_ms.max(1));
            std::thread::sleep(Duration::from_millis(delay));
            format!("{delay} ms after the start")
        } else {
            wait_for_write(&mut child, 1);
            // Half within the first writes, half anywhere in an apply of the usual length
            // (shorter applies end first: those kills find the agent done).
            let span = if rng.below(2) == 0 {
                60
            } else {
                apply_ms.max(1)
            };
            let delay = rng.below(span);
            std::thread::sleep(Duration::from_millis(delay));
            format!("{delay} ms into the apply")
        };
        let landed = kill(&mut child);
        tally.trials += 1;
        tally.runs += 1;
        if landed {
            tally.kills_landed += 1;
        }
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        world.scan(&text);
        let what = format!("trial {trial} ({action}, {mode}, killed {point})");
        if text.contains("panicked") {
            tally.fail(format!("{what}: panicked:\n{text}"));
        }
        tally.after_fault(world, &before, &what);
    }
}
