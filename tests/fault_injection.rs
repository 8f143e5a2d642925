//! The fault-injection suite, on the real test cluster (slurmdbd) and the fake Waldur:
//! - Waldur faults: 5xx, an HTML 502, timeouts, 401 mid-cycle and on every read, 429 with
//!   Retry-After, truncated pagination (with and without its count), empty lists,
//!   malformed and cut-off JSON, connection resets on reads and after POSTs;
//! - slurmdbd stopped in the middle of an apply and started again;
//! - the agent killed with SIGKILL at seeded random points of an apply (100+ trials).
//!
//! After every fault: no allocation Waldur still has is missing from SLURM (nor a member
//! from it), no order was erred, every order marked done is true in SLURM, and the next
//! clean cycle converges (applies, verifies, leaves nothing, closes every order). The
//! token appears in no output. The tally is printed at the end. `FAULT_SEED` picks
//! another seed, `FAULT_TRIALS` another number of kill trials.

#[path = "fault_injection/kill.rs"]
mod kill;
#[path = "fault_injection/slurmdbd.rs"]
mod slurmdbd;
#[path = "support/mod.rs"]
mod support;
#[path = "fault_injection/waldur_faults.rs"]
mod waldur_faults;
#[path = "fault_injection/world.rs"]
mod world;

use std::io::Write;

use world::{Slurm, World};

/// splitmix64: a seeded, dependency-free source of trial parameters.
pub struct Rng(u64);

impl Rng {
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % n.max(1)
    }
}

/// What the suite saw.
#[derive(Default)]
pub struct Tally {
    pub runs: usize,
    pub faults: usize,
    pub trials: usize,
    pub kills_landed: usize,
    pub kill_span_ms: u64,
    pub deletions: usize,
    pub converged: usize,
    pub not_converged: usize,
    pub failures: Vec<String>,
}

impl Tally {
    pub fn fail(&mut self, problem: String) {
        self.failures.push(problem);
    }

    pub fn problems(&mut self, problems: Vec<String>) {
        self.failures.extend(problems);
    }

    pub fn converge(&mut self, result: Result<(), String>) {
        match result {
            Ok(()) => self.converged += 1,
            Err(e) => {
                self.not_converged += 1;
                self.failures.push(e);
            }
        }
    }

    /// The invariants right after a faulted run, then one clean cycle, the invariants
    /// again, and the accounts it all removed (only Terminate orders may remove any;
    /// the invariants check that none of them was still live).
    pub fn after_fault(&mut self, world: &World, before: &Slurm, what: &str) {
        self.problems(world.check(before, &Slurm::read(), what));
        self.converge(world.clean_cycle(what));
        let now = Slurm::read();
        self.problems(world.check(before, &now, &format!("{what}, after the clean cycle")));
        self.deletions += before.accounts.keys().filter(|a| !now.has(a)).count();
    }
}

#[test]
fn fault_injection_suite() {
    if !support::cluster_available() {
        return;
    }
    let _g = support::SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let started = std::time::Instant::now();
    let seed: u64 = std::env::var("FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261201);
    let trials: usize = std::env::var("FAULT_TRIALS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let mut rng = Rng(seed);
    let mut tally = Tally::default();
    let world = World::new();
    let t0 = std::time::Instant::now();
    waldur_faults::run(&world, &mut tally);
    let waldur_secs = t0.elapsed().as_secs_f64();
    let t0 = std::time::Instant::now();
    slurmdbd::run(&world, &mut tally, &mut rng, 4);
    let dbd_secs = t0.elapsed().as_secs_f64();
    let t0 = std::time::Instant::now();
    kill::run(&world, &mut tally, &mut rng, trials);
    let kill_secs = t0.elapsed().as_secs_f64();
    let leaks = world.leaks.get() as usize;
    let mut text = String::new();
    for f in &tally.failures {
        text.push_str(&format!("FAILED {f}\n\n"));
    }
    text.push_str(&format!(
        "fault-injection suite (seed {seed}) in {:.1?}: {} agent run(s) under a fault\n",
        started.elapsed(),
        tally.runs
    ));
    text.push_str(&format!(
        "  Waldur faults and slurmdbd stops: {} ({waldur_secs:.1} s + {dbd_secs:.1} s)\n",
        tally.faults
    ));
    text.push_str(&format!(
        "  SIGKILL trials: {} ({} landed before the agent ended; apply ~{} ms; {kill_secs:.1} s)\n",
        tally.trials, tally.kills_landed, tally.kill_span_ms
    ));
    text.push_str(&format!(
        "  deletions: {} (each by a Terminate order; 0 of a live allocation)\n",
        tally.deletions
    ));
    text.push_str(&format!(
        "  convergence: {} clean cycle(s) converged, {} did not\n",
        tally.converged, tally.not_converged
    ));
    text.push_str(&format!(
        "  token leaks: {leaks}\n  dangerous outcomes: {}\n",
        tally.failures.len()
    ));
    let _ = std::io::stderr().write_all(text.as_bytes());
    assert!(trials < 100 || tally.trials >= 100);
    assert_eq!(leaks, 0, "the token appeared in an output");
    assert!(
        tally.failures.is_empty(),
        "{} dangerous outcome(s)",
        tally.failures.len()
    );
}
