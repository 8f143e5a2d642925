//! Synthetic sacct output with known sums, for load tests and the benchmark.

use std::fmt::Write as _;

/// `n` rows in sacct's format for load tests and benchmarks, cycling through `accounts`
/// and `users`. Row `i`: account `accounts[i % A]`, user `users[(i / A) % U]`,
/// `cpu = 1 + i % 4`, `mem = (1 + i % 3) * 1000M`, `gres/gpu = i % 2`, plus `billing` and
/// `node`, and elapsed `i % 7200` seconds, written in the `MM:SS` / `HH:MM:SS` /
/// `D-HH:MM:SS` forms in turn (day rows add one day).
pub fn synthetic_sacct_rows(n: usize, accounts: &[String], users: &[String]) -> String {
    assert!(!accounts.is_empty() && !users.is_empty());
    let mut out = String::with_capacity(n * 72);
    for i in 0..n {
        let account = &accounts[i % accounts.len()];
        let user = &users[(i / accounts.len()) % users.len()];
        let (cpu, mem, gpu) = synthetic_tres(i);
        let secs = synthetic_seconds(i);
        let elapsed = match i % 3 {
            0 if secs < 3600 => format!("{:02}:{:02}", secs / 60, secs % 60),
            2 => format!(
                "{}-{:02}:{:02}:{:02}",
                secs / 86_400,
                secs % 86_400 / 3600,
                secs % 3600 / 60,
                secs % 60
            ),
            _ => format!(
                "{:02}:{:02}:{:02}",
                secs / 3600,
                secs % 3600 / 60,
                secs % 60
            ),
        };
        let _ = writeln!(
            out,
            "{account}|billing={cpu},cpu={cpu},gres/gpu={gpu},mem={mem}M,node=1|{elapsed}|{user}"
        );
    }
    out
}

/// `(cpu, mem MB, gpu)` of synthetic row `i`.
pub fn synthetic_tres(i: usize) -> (u64, u64, u64) {
    (
        1 + (i % 4) as u64,
        (1 + (i % 3) as u64) * 1000,
        (i % 2) as u64,
    )
}

/// Elapsed seconds of synthetic row `i`.
pub fn synthetic_seconds(i: usize) -> u64 {
    let base = (i % 7200) as u64;
    if i % 3 == 2 {
        base + 86_400
    } else {
        base
    }
}
