//! The API token never appears in anything the agent writes: a marker token is given
//! to every command (inline, in a token file, in the environment, in the URL's
//! userinfo) and everything captured is searched for it: stdout, stderr at debug and
//! trace level, the stats file, the state directory. The commands run against the fake
//! Waldur, healthy and failing (401, 500, HTML pages and bodies that echo the token back,
//! a closed port), and with broken configs around the token. SLURM is a recorded
//! stand-in sacctmgr/sacct, so no cluster is needed.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use fake_waldur::Seed;
use serde_json::{json, Value};

const TOKEN: &str = "MARKER7q2w-token-4e5r6t";
const OFFERING: &str = "f0000000000000000000000000000081";

fn seed() -> Seed {
    serde_json::from_value(json!({
        "users": [{"uuid": "a0000000000000000000000000000089", "username": "agent", "is_staff": true, "token": TOKEN},
                  {"uuid": "a0000000000000000000000000000081", "username": "alice"}],
        "customers": [{"uuid": "c0000000000000000000000000000081", "name": "Cust", "slug": "cust"}],
        "projects": [{"uuid": "b0000000000000000000000000000081", "name": "Proj", "slug": "proj",
                      "customer": "c0000000000000000000000000000081",
                      "members": [{"user": "a0000000000000000000000000000081", "role": "PROJECT.MEMBER"}]}],
        "offerings": [{"uuid": OFFERING, "name": "Cluster", "customer": "c0000000000000000000000000000081",
                       "components": [{"type": "cpu", "measured_unit": "k-Hours", "billing_type": "usage"}]}],
        "offering_users": [{"offering": OFFERING, "user": "a0000000000000000000000000000081", "username": "alice"}],
        "resources": [{"uuid": "e0000000000000000000000000000081", "name": "Alloc", "slug": "alloc",
                       "offering": OFFERING, "project": "b0000000000000000000000000000081",
                       "backend_id": "a_alloc", "limits": {"cpu": 5}}],
        "orders": [{"uuid": "d0000000000000000000000000000081", "type": "Update", "state": "pending-provider",
                    "resource": "e0000000000000000000000000000081", "limits": {"cpu": 7}}]
    }))
    .unwrap()
}

/// A stand-in for sacctmgr (the five reads of a small cluster; writes succeed) and sacct.
fn slurm_bin(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    let sacctmgr = r#"#!/bin/sh
case "$*" in
  *"show association"*) printf 'c1|root||||1|normal|||||\nc1|root|root|||1||||||\n' ;;
  *"show account"*) printf 'root|root|default root account\n' ;;
  *"show user"*) printf 'root|root\n' ;;
  *"show qos"*) printf 'normal\n' ;;
  *"show tres"*) printf 'cpu|\nmem|\n' ;;
  *) : ;;
esac
"#;
    let sacct = "#!/bin/sh\nprintf 'a_alloc|cpu=2|01:00:00|alice\\n'\n";
    for (name, text) in [
        ("sacctmgr", sacctmgr),
        ("sacct", sacct),
        ("scancel", "#!/bin/sh\n"),
    ] {
        support::write_script(&bin.join(name), text);
    }
    bin
}

/// The config with the token given by `token_line` (a YAML line at offering level).
fn config(dir: &Path, url: &str, token_line: &str) -> PathBuf {
    let mut settings = vec![
        "cluster_name: c1".to_string(),
        format!("slurm_bin_path: \"{}\"", slurm_bin(dir).display()),
    ];
    settings.extend(support::prefixed(""));
    let path = dir.join("config.yaml");
    support::OfferingConfig {
        url,
        token_line: token_line.to_string(),
        offering: OFFERING,
        settings: &settings,
        components: &[
            "cpu: {measured_unit: k-Hours, unit_factor: 60, accounting_type: usage, label: CPU}",
        ],
        agent: &[
            "http_attempts: 2".into(),
            "http_timeout: 2s".into(),
            format!("state_dir: {}", dir.join("state").display()),
        ],
    }
    .write(&path);
    path
}

struct Capture {
    runs: usize,
    leaks: Vec<String>,
}

impl Capture {
    /// Runs the agent and searches all it printed and wrote.
    fn run(&mut self, dir: &Path, config: &Path, args: &[&str], env: &[(&str, &str)]) {
        let stats = dir.join("stats.json");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_agent"));
        cmd.args(args)
            .arg("-c")
            .arg(config)
            .env_remove("WALDUR_API_TOKEN");
        if ["plan", "reconcile"].contains(&args[0]) {
            cmd.arg("--stats-file").arg(&stats);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("agent runs");
        self.runs += 1;
        let mut all = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        for file in files(dir) {
            all.push_str(&String::from_utf8_lossy(
                &std::fs::read(file).unwrap_or_default(),
            ));
        }
        if all.contains(TOKEN) {
            self.leaks
                .push(format!("agent {} with {env:?}:\n{all}", args.join(" ")));
        }
        if all.contains("panicked") {
            self.leaks
                .push(format!("agent {} panicked:\n{all}", args.join(" ")));
        }
    }
}

/// What the agent may have written: the stats file and the state directory.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.join("stats.json")];
    if let Ok(entries) = std::fs::read_dir(dir.join("state")) {
        out.extend(entries.flatten().map(|e| e.path()));
    }
    out.into_iter().filter(|p| p.is_file()).collect()
}

const COMMANDS: &[&[&str]] = &[
    &["plan"],
    &["plan", "--json"],
    &["reconcile", "--dry-run"],
    &["reconcile"],
    &["diagnose", "a_alloc"],
    &["report", "--dry-run"],
    &["report", "--json"],
    &[
        "load-historical-usage",
        "--start-date",
        "2025-01",
        "--end-date",
        "2025-02",
        "--dry-run",
    ],
    &["run", "--once"],
];

#[test]
fn the_token_appears_in_no_output() {
    let (rt, fake) = support::spawn_fake(seed());
    let url = fake.base_url.clone();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut capture = Capture {
        runs: 0,
        leaks: Vec::new(),
    };
    let inline = format!("waldur_api_token: \"{TOKEN}\"");
    let debug = [("RUST_LOG", "debug")];
    let trace = [("RUST_LOG", "trace")];

    // Healthy Waldur: every command, at debug and at trace level.
    let cfg = config(d, &url, &inline);
    for args in COMMANDS {
        capture.run(d, &cfg, args, &debug);
    }
    capture.run(d, &cfg, &["plan"], &trace);
    capture.run(d, &cfg, &["reconcile"], &trace);

    // The token from a file and from the environment.
    let token_file = d.join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let cfg = config(
        d,
        &url,
        &format!("waldur_api_token_file: \"{}\"", token_file.display()),
    );
    capture.run(d, &cfg, &["plan"], &debug);
    let cfg = config(d, &url, "x_no_token: 1");
    capture.run(
        d,
        &cfg,
        &["plan"],
        &[("RUST_LOG", "debug"), ("WALDUR_API_TOKEN", TOKEN)],
    );

    // Failing Waldur, some answers echoing the token back.
    let cfg = config(d, &url, &inline);
    let faults: Vec<Value> = vec![
        json!({"times": 0, "kind": "status", "status": 401, "body": {"detail": format!("Invalid token {TOKEN}.")}}),
        json!({"times": 0, "kind": "status", "status": 500, "body": format!("<html><title>500 for Token {TOKEN}</title></html>")}),
        json!({"times": 0, "kind": "status", "status": 400, "body": {"backend_id": [format!("Authorization: Token {TOKEN}")]}}),
        json!({"times": 0, "kind": "html_502"}),
        json!({"times": 0, "kind": "invalid_json"}),
        json!({"times": 0, "kind": "disconnect"}),
        json!({"times": 0, "method": "POST", "kind": "status", "status": 403, "body": {"detail": TOKEN}}),
    ];
    for fault in faults {
        fake.state.clear_faults();
        fake.state.add_fault(serde_json::from_value(fault).unwrap());
        for args in [
            &["plan"][..],
            &["reconcile"],
            &["report"],
            &["run", "--once"],
        ] {
            capture.run(d, &cfg, args, &debug);
        }
    }
    fake.state.clear_faults();

    // Nothing listening.
    let closed = "http://127.0.0.1:9/api/";
    let cfg = config(d, closed, &inline);
    capture.run(d, &cfg, &["plan"], &debug);
    capture.run(d, &cfg, &["report"], &debug);

    // Broken configs around the token.
    let host = url.trim_start_matches("http://");
    for (url, line) in [
        (format!("http://agent:{TOKEN}@{host}"), inline.clone()),
        (format!("http://{TOKEN}@{host}"), inline.clone()),
        (url.clone(), format!("waldur_api_token: \"{TOKEN}")),
        (url.clone(), format!("waldur_api_token: [\"{TOKEN}\"]")),
        (url.clone(), format!("waldur_api_token: {{{TOKEN}: 1}}")),
        (url.clone(), format!("waldur_api_token: \"{TOKEN}\\n\"")),
        (
            url.clone(),
            format!("waldur_api_token: \"{TOKEN} with\\u0007bell\""),
        ),
        (
            url.clone(),
            format!("waldur_api_token: \"{TOKEN}\"\n    waldur_api_token: \"{TOKEN}\""),
        ),
        (
            url.clone(),
            format!("waldur_api_token: \"{TOKEN}\"\n\twaldur_x: 1"),
        ),
        (url.clone(), format!("waldur_api_token: {TOKEN}: {TOKEN}")),
        (url.clone(), format!("{TOKEN}: \"{TOKEN}\"")),
        // The parser shows the source around an error: an unquoted token two lines up.
        (
            url.clone(),
            format!("waldur_api_token: {TOKEN}\n    waldur_x: 1\n    waldur_y: \"a\" b"),
        ),
    ] {
        let cfg = config(d, &url, &line);
        for args in [&["plan"][..], &["report", "--dry-run"], &["run", "--once"]] {
            capture.run(d, &cfg, args, &debug);
        }
    }
    // Straight to stderr: shown in CI logs even when the test passes.
    let line = format!(
        "token check: {} command(s), {} leak(s)\n",
        capture.runs,
        capture.leaks.len()
    );
    let _ = std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes());
    assert!(capture.leaks.is_empty(), "{}", capture.leaks.join("\n\n"));
    drop(rt);
}
