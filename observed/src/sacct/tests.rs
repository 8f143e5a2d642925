use agent_reconcile::commands::SlurmTarget;

use super::parse::elapsed_seconds;
use super::*;
use crate::runner::Runner;

const MONTH: &str = include_str!("../../tests/fixtures/sacct/month.txt");
/// Verbatim from SLURM 22.05 (`sacct -a -X -P --noheader ... --format=Account,ReqTRES,Elapsed,User`,
/// without --noconvert, hence `mem=1G`).
const DEMO_22_05: &str = include_str!("../../tests/fixtures/sacct/slurm-22.05-demo.txt");

fn tres(pairs: &[(&str, f64)]) -> TresMinutes {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

fn parse(text: &str) -> SacctUsage {
    parse_sacct("sacct.txt", text).unwrap()
}

#[test]
fn period_bounds_know_month_lengths_and_leap_years() {
    assert_eq!(
        period_bounds(2025, 1),
        (
            "2025-01-01T00:00:00".to_string(),
            "2025-01-31T23:59:59".to_string()
        )
    );
    assert_eq!(period_bounds(2025, 4).1, "2025-04-30T23:59:59");
    assert_eq!(period_bounds(2025, 2).1, "2025-02-28T23:59:59");
    assert_eq!(period_bounds(2024, 2).1, "2024-02-29T23:59:59");
    assert_eq!(period_bounds(1900, 2).1, "1900-02-28T23:59:59");
    assert_eq!(period_bounds(2000, 2).1, "2000-02-29T23:59:59");
    assert_eq!(period_bounds(2025, 12).1, "2025-12-31T23:59:59");
}

#[test]
#[should_panic(expected = "out of range")]
fn period_bounds_reject_month_13() {
    period_bounds(2025, 13);
}

#[test]
fn sacct_sits_next_to_sacctmgr() {
    assert_eq!(sacct_path("/usr/bin/sacctmgr"), "/usr/bin/sacct");
    assert_eq!(
        sacct_path("/opt/slurm/bin/sacctmgr"),
        "/opt/slurm/bin/sacct"
    );
    assert_eq!(sacct_path("sacctmgr"), "sacct");
}

#[test]
fn one_call_for_all_accounts() {
    let (start, end) = period_bounds(2025, 5);
    let argv = sacct_argv(
        "/usr/bin/sacct",
        Some("hpc1"),
        &["a_one".to_string(), "a_two".to_string()],
        &start,
        &end,
    );
    assert_eq!(
        argv.join(" "),
        "/usr/bin/sacct --clusters=hpc1 --allocations --allusers --noconvert --truncate -P \
         --noheader --format=Account,ReqTRES,Elapsed,User --starttime=2025-05-01T00:00:00 \
         --endtime=2025-05-31T23:59:59 --accounts=a_one,a_two"
    );
    let argv = sacct_argv("sacct", None, &["a".to_string()], &start, &end);
    assert!(!argv.iter().any(|a| a.starts_with("--clusters")));
    assert_eq!(argv.last().unwrap(), "--accounts=a");
}

#[test]
fn spec_example() {
    let r = parse("a1|billing=4,cpu=4,mem=4000M,node=1|01:00:00|alice\n");
    let a1 = &r.accounts["a1"];
    assert_eq!(a1.total["cpu"], 240.0);
    assert_eq!(a1.total["mem"], 240_000.0);
    assert_eq!(a1.users["alice"], a1.total);
}

#[test]
fn a_month_with_every_edge_case() {
    let r = parse(MONTH);
    assert_eq!(r.accounts.len(), 2, "A_Alloc folds into a_alloc");
    let a = &r.accounts["a_alloc"];
    // alice: 4 cpu × 60 min + 1 cpu × 30 min (MM:SS); 4000M × 60 + 512000K (500 MB) × 30.
    assert_eq!(
        a.users["alice"],
        tres(&[
            ("billing", 270.0),
            ("cpu", 270.0),
            ("mem", 255_000.0),
            ("node", 90.0)
        ])
    );
    // bob: 1-02:00:00 = 1560 min; gres/gpu counted under its SLURM name; 8G = 8192 MB.
    assert_eq!(
        a.users["bob"],
        tres(&[
            ("billing", 3120.0),
            ("cpu", 3120.0),
            ("gres/gpu", 3120.0),
            ("mem", 12_779_520.0),
            ("node", 1560.0)
        ])
    );
    // dave: 700:00:00.123456 = 42000 min (hours past 23, fraction dropped); a typed GRES
    // entry stays a separate TRES and does not add to gres/gpu.
    assert_eq!(a.users["dave"]["gres/gpu"], 42_000.0);
    assert_eq!(a.users["dave"]["gres/gpu:a100"], 42_000.0);
    assert_eq!(a.users["dave"]["mem"], 1024.0 * 42_000.0);
    // erin: a job with no ReqTRES (cancelled before it started) — present, no usage.
    assert!(a.users["erin"].is_empty());
    assert_eq!(a.total["cpu"], 270.0 + 3120.0 + 42_000.0);
    assert_eq!(a.total["gres/gpu"], 3120.0 + 42_000.0);
    assert_eq!(a.total["mem"], 255_000.0 + 12_779_520.0 + 43_008_000.0);
    assert_eq!(a.total["node"], 90.0 + 1560.0 + 42_000.0);

    let o = &r.accounts["a_other"];
    // 1T = 1048576 MB for 30 s; a bare mem number is MB: 2048 MB for 10 min.
    assert_eq!(
        o.users["carol"],
        tres(&[
            ("billing", 4.0),
            ("cpu", 14.0),
            ("mem", 524_288.0 + 20_480.0),
            ("node", 1.0)
        ])
    );
    assert_eq!(o.total, o.users["carol"]);

    assert_eq!(r.skipped_no_account, 1);
    assert_eq!(r.skipped_invalid_elapsed, 1);
    assert_eq!(r.first_invalid_elapsed_line, Some(7));
}

#[test]
fn real_slurm_output() {
    let r = parse(DEMO_22_05);
    let acct = &r.accounts["limited_acct"];
    // 2 cpu × 35 s + 1 cpu × 1 s = 71 cpu-seconds; 1G = 1024 MB × 36 s.
    assert_eq!(acct.total["cpu"], 71.0 / 60.0);
    assert_eq!(acct.total["mem"], 1024.0 * 36.0 / 60.0);
    assert_eq!(acct.users["root"], acct.total);
}

#[test]
fn kilobytes_stay_exact() {
    // 1K for one minute is 1/1024 MB-minute; the Python agent floored this away.
    let r = parse("a|mem=1K|01:00|u\n");
    assert_eq!(r.accounts["a"].total["mem"], 1.0 / 1024.0);
    let r = parse("a|mem=1P|01:00|u\n");
    assert_eq!(r.accounts["a"].total["mem"], 1024.0 * 1024.0 * 1024.0);
}

#[test]
fn rows_without_a_user_count_in_the_total_only() {
    let r = parse("a|cpu=1|01:00|\na|cpu=2|01:00|bob\n");
    assert_eq!(r.accounts["a"].total["cpu"], 3.0);
    assert_eq!(r.accounts["a"].users.len(), 1);
}

#[test]
fn elapsed_forms() {
    assert_eq!(elapsed_seconds("00:59"), Ok(59));
    assert_eq!(elapsed_seconds("59:59"), Ok(3599));
    assert_eq!(elapsed_seconds("01:00:00"), Ok(3600));
    assert_eq!(elapsed_seconds("850:00:00"), Ok(3_060_000));
    assert_eq!(elapsed_seconds("2-00:00:01"), Ok(172_801));
    assert_eq!(elapsed_seconds("45-00:00:00"), Ok(45 * 86_400));
    assert_eq!(elapsed_seconds("00:00:05.999"), Ok(5));
    for bad in [
        "1",
        "1:60",
        "1:00:60",
        "2-01:00",
        "a:00",
        "1:2:3:4",
        "-01:00:00",
        ":",
    ] {
        assert!(elapsed_seconds(bad).is_err(), "{bad} accepted");
    }
}

fn parse_err(name: &str, text: &str) -> UsageParseError {
    parse_sacct(name, text).unwrap_err()
}

#[test]
fn bad_rows_name_line_and_column() {
    let e = parse_err(
        "bad-columns.txt",
        include_str!("../../tests/fixtures/sacct/bad-columns.txt"),
    );
    assert_eq!(e.line, 3);
    assert_eq!(e.column, None);
    assert!(e
        .to_string()
        .starts_with("bad-columns.txt, line 3: expected 4 columns"));

    let e = parse_err(
        "bad-number.txt",
        include_str!("../../tests/fixtures/sacct/bad-number.txt"),
    );
    assert_eq!((e.line, e.column), (2, Some("ReqTRES")));
    assert_eq!(
        e.to_string(),
        "bad-number.txt, line 2, column ReqTRES: \"cpu=x\": amount is not a whole number"
    );

    let e = parse_err(
        "bad-elapsed.txt",
        include_str!("../../tests/fixtures/sacct/bad-elapsed.txt"),
    );
    assert_eq!((e.line, e.column), (3, Some("Elapsed")));

    for (row, column) in [
        ("a|cpu|01:00|u", Some("ReqTRES")),
        ("a|=1|01:00|u", Some("ReqTRES")),
        ("a|cpu=|01:00|u", Some("ReqTRES")),
        ("a|cpu=1.5|01:00|u", Some("ReqTRES")),
        ("a|cpu=99999999999999999999|01:00|u", Some("ReqTRES")),
        ("a|cpu=1|01:00|u|extra", None),
        // Longer than any month: --truncate clips jobs to the window.
        ("a|cpu=1|99999999999-00:00:00|u", Some("Elapsed")),
        ("a|cpu=1|31-01:00:01|u", Some("Elapsed")),
    ] {
        let e = parse_err("x", row);
        assert_eq!((e.line, e.column), (1, column), "{row}");
    }
}

#[test]
fn a_failed_row_adds_nothing() {
    let mut agg = UsageAggregator::new("x");
    agg.feed_line(1, "a|cpu=1|01:00|u").unwrap();
    assert!(agg.feed_line(2, "a|cpu=1,mem=x|01:00|u").is_err());
    let r = agg.finish();
    assert_eq!(r.accounts["a"].total, tres(&[("cpu", 1.0)]));
}

#[test]
fn crlf_and_blank_lines() {
    let r = parse("a|cpu=1|01:00|u\r\n\r\n  \na|cpu=1|01:00|u\r\n");
    assert_eq!(r.accounts["a"].users["u"]["cpu"], 2.0);
}

#[test]
fn empty_output_is_an_empty_report() {
    assert_eq!(parse(""), SacctUsage::default());
}

/// Expected sums of the synthetic rows, computed without parsing anything.
fn synthetic_expected(n: usize, accounts: usize) -> BTreeMap<usize, (u128, u128, u128)> {
    let mut out: BTreeMap<usize, (u128, u128, u128)> = BTreeMap::new();
    for i in 0..n {
        let (cpu, mem, gpu) = synthetic_tres(i);
        let s = u128::from(synthetic_seconds(i));
        let e = out.entry(i % accounts).or_default();
        e.0 += u128::from(cpu) * s;
        e.1 += u128::from(mem) * s;
        e.2 += u128::from(gpu) * s;
    }
    out
}

/// A million rows (about 70 MB of text) through the streaming parser; totals must be
/// exact. Not timed: about 2 s in a debug build, well under a second in release.
#[test]
fn a_million_rows() {
    let n = 1_000_000;
    let accounts: Vec<String> = (0..7).map(|i| format!("a_Acct{i}")).collect();
    let users: Vec<String> = (0..13).map(|i| format!("user{i}")).collect();
    let text = synthetic_sacct_rows(n, &accounts, &users);
    let r = parse(&text);
    assert_eq!(r.accounts.len(), 7);
    for (i, (cpu, mem, gpu)) in synthetic_expected(n, accounts.len()) {
        let a = &r.accounts[&format!("a_acct{i}")];
        assert_eq!(a.total["cpu"], cpu as f64 / 60.0);
        assert_eq!(a.total["billing"], cpu as f64 / 60.0);
        assert_eq!(a.total["mem"], mem as f64 / 60.0);
        assert_eq!(a.total["gres/gpu"], gpu as f64 / 60.0);
        assert_eq!(a.users.len(), 13);
        let user_cpu: f64 = a.users.values().map(|u| u["cpu"]).sum();
        assert!((user_cpu - a.total["cpu"]).abs() < 1e-6 * a.total["cpu"]);
    }
}

fn scratch_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("agent-usage-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[cfg(unix)]
fn fake_sacct(dir: &std::path::Path, output: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(dir.join("output.txt"), output).unwrap();
    let script = format!(
        "#!/bin/sh\necho \"$@\" > '{d}/argv.txt'\ncat '{d}/output.txt'\n",
        d = dir.display()
    );
    let path = dir.join("sacct");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[cfg(unix)]
#[tokio::test]
async fn read_usage_runs_one_sacct_call() {
    let dir = scratch_dir("read");
    fake_sacct(&dir, MONTH);
    let bin = dir.display().to_string();
    let target = SlurmTarget::new(&bin, Some("hpc1"));
    let runner = Runner::new(std::time::Duration::from_secs(20));
    let accounts = vec!["a_alloc".to_string(), "a_other".to_string()];
    let r = read_period(&runner, &target, &accounts, (2024, 2))
        .await
        .unwrap();
    assert_eq!(r, parse(MONTH));
    assert_eq!(runner.counts()["sacct"], 1);
    let argv = std::fs::read_to_string(dir.join("argv.txt")).unwrap();
    assert!(argv.contains("--clusters=hpc1"), "{argv}");
    assert!(argv.contains("--endtime=2024-02-29T23:59:59"), "{argv}");
    assert!(argv.contains("--accounts=a_alloc,a_other"), "{argv}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(unix)]
#[tokio::test]
async fn read_usage_reports_bad_output_with_the_command() {
    let dir = scratch_dir("bad");
    fake_sacct(&dir, "a|cpu=1|01:00\n");
    let target = SlurmTarget::new(&dir.display().to_string(), None);
    let runner = Runner::new(std::time::Duration::from_secs(20));
    let e = read_period(&runner, &target, &["a".to_string()], (2025, 1))
        .await
        .unwrap_err();
    match e {
        UsageError::Parse(p) => {
            assert!(p.source_name.contains("sacct --allocations"), "{p}");
            assert_eq!(p.line, 1);
        }
        other => panic!("unexpected {other}"),
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn no_accounts_no_call() {
    let target = SlurmTarget::new("/nonexistent", None);
    let runner = Runner::new(std::time::Duration::from_secs(1));
    let r = read_period(&runner, &target, &[], (2025, 1)).await.unwrap();
    assert_eq!(r, SacctUsage::default());
    assert!(runner.counts().is_empty());
}
