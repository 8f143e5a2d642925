//! `agent run` as a site runs it: the binary with JSON logs against the fake Waldur (in
//! this process) and the real test cluster, serving on a loopback port. A change made by
//! hand in SLURM whose repair fails shows on the status page as pending, seen by a real
//! headless Chromium (a screenshot lands in target/); no Waldur text becomes markup;
//! SIGHUP with an invalid config is refused (the daemon goes on), with a valid one it
//! reloads; SIGTERM stops it.

mod support;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::*;

const OFFERING: &str = "f0000000000000000000000000000020";
const PROJECT: &str = "b0000000000000000000000000000020";
const TOKEN: &str = "tok-service-test-never-printed";
const EVIL: &str = "<script>alert(1)</script><img src=x onerror=alert(2)> \u{202e}";

fn seed() -> fake_waldur::Seed {
    serde_json::from_value(json!({
        "users": [
            {"uuid": "a0000000000000000000000000000099", "username": "agent", "is_staff": true, "token": TOKEN},
            {"uuid": "a0000000000000000000000000000001", "username": "alice"}
        ],
        "customers": [{"uuid": "c0000000000000000000000000000020", "name": "Cust", "slug": "cust"}],
        "projects": [{"uuid": PROJECT, "name": "Proj", "slug": "proj",
                      "customer": "c0000000000000000000000000000020",
                      "members": [{"user": "a0000000000000000000000000000001", "role": "PROJECT.MEMBER"}]}],
        "offerings": [{"uuid": OFFERING, "name": "Cluster", "customer": "c0000000000000000000000000000020",
                       "components": [{"type": "cpu", "measured_unit": "k-Hours", "billing_type": "limit"}]}],
        "offering_users": [
            {"offering": OFFERING, "user": "a0000000000000000000000000000001", "username": "w20alice"}
        ],
        "resources": [{"uuid": "e0000000000000000000000000000020", "name": EVIL, "slug": "alloc",
                       "offering": OFFERING, "project": PROJECT, "backend_id": "w20a_alloc",
                       "limits": {"cpu": 5}, "backend_metadata": {"qos": "normal"}}]
    }))
    .expect("seed parses")
}

fn config(url: &str, dir: &Path, bin: &Path, cycle: &str) -> String {
    format!(
        r#"
timezone: UTC
offerings:
  - name: cluster
    waldur_api_url: {url}
    waldur_api_token: {TOKEN}
    waldur_offering_uuid: "{OFFERING}"
    backend_type: slurm
    order_processing_backend: slurm
    membership_sync_backend: slurm
    backend_settings:
      cluster_name: testcluster
      slurm_bin_path: "{bin}"
      default_account: root
      customer_prefix: w20c_
      project_prefix: w20p_
      allocation_prefix: w20a_
      qos_default: normal
      enable_user_homedir_account_creation: false
    backend_components:
      cpu: {{measured_unit: k-Hours, unit_factor: 60000, accounting_type: limit, label: CPU}}
agent:
  cycle_interval: {cycle}
  report_interval: 1h
  http_listen: 127.0.0.1:0
  http_attempts: 2
  state_dir: {state}
"#,
        bin = bin.display(),
        state = dir.join("state").display()
    )
}

/// One GET over a plain socket: (status, body).
fn get(addr: &str, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).expect("the agent listens");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out[9..12].parse().unwrap();
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// Waits up to `secs` for `what` to hold.
fn wait(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < until {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out waiting for {what}");
}

fn log_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {l}"))
        })
        .collect()
}

fn logged(path: &Path, needle: &str) -> bool {
    log_lines(path)
        .iter()
        .any(|l| l["message"].as_str().is_some_and(|m| m.contains(needle)))
}

fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser"].into_iter().find_map(|c| {
        let out = Command::new("sh")
            .args(["-c", &format!("command -v {c}")])
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
    });
    if found.is_none() && std::env::var("CI").as_deref() == Ok("true") {
        panic!("CI=true but chromium is missing: scripts/test.sh installs it");
    }
    found
}

/// Chromium's flags that work here as root, with a fresh profile.
fn browse(chromium: &Path, profile: &Path, args: &[&str], url: &str) -> std::process::Output {
    Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .output()
        .expect("chromium runs")
}

#[test]
fn the_service_shows_drift_in_a_browser_and_reloads_on_sighup() {
    if !cluster_available() {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    cleanup("w20");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let fake = rt.block_on(fake_waldur::spawn(seed()));
    let dir = tempfile::tempdir().unwrap();
    // sacctmgr, except that every `modify` fails while the flag file exists.
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let flag = dir.path().join("fail-modify");
    let wrapper = format!(
        "#!/bin/sh\nif [ -e {flag} ]; then for a in \"$@\"; do if [ \"$a\" = modify ]; then echo 'sacctmgr: error: Database is busy or waiting for lock from other user.' >&2; exit 1; fi; done; fi\nexec /usr/bin/sacctmgr \"$@\"\n",
        flag = flag.display()
    );
    let sacctmgr = bin.join("sacctmgr");
    std::fs::write(&sacctmgr, wrapper).unwrap();
    Command::new("chmod")
        .arg("755")
        .arg(&sacctmgr)
        .status()
        .unwrap();
    std::os::unix::fs::symlink("/usr/bin/scancel", bin.join("scancel")).unwrap();
    let cfg = dir.path().join("config.yaml");
    let write_config = |cycle: &str| {
        std::fs::write(&cfg, config(&fake.base_url, dir.path(), &bin, cycle)).unwrap();
        Command::new("chmod").arg("600").arg(&cfg).status().unwrap();
    };
    write_config("2s");

    // `agent check` first: everything answers; with a wrong token the Waldur check fails.
    let check = |cfg: &Path| {
        Command::new(env!("CARGO_BIN_EXE_agent"))
            .args(["check", "-c"])
            .arg(cfg)
            .output()
            .unwrap()
    };
    let out = check(&cfg);
    let lines = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{}", show(&out));
    assert!(lines.contains("valid, user agent (staff)"), "{lines}");
    assert!(
        lines.contains("testcluster is listed") && lines.contains("normal exist"),
        "{lines}"
    );
    let wrong = dir.path().join("wrong-token.yaml");
    std::fs::write(
        &wrong,
        std::fs::read_to_string(&cfg)
            .unwrap()
            .replace(TOKEN, "not-a-token"),
    )
    .unwrap();
    Command::new("chmod")
        .arg("600")
        .arg(&wrong)
        .status()
        .unwrap();
    let out = check(&wrong);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("FAIL  waldur cluster: token"));

    let log = dir.path().join("agent.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_agent"))
        .args(["run", "--log-format", "json", "-c"])
        .arg(&cfg)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();

    // The address it serves on, from its log.
    let mut addr = String::new();
    wait(30, "the serving line", || {
        addr = log_lines(&log)
            .iter()
            .filter_map(|l| l["message"].as_str())
            .find_map(|m| {
                m.split("http://")
                    .nth(1)
                    .map(|a| a.trim_end_matches('/').to_string())
            })
            .unwrap_or_default();
        !addr.is_empty()
    });
    wait(60, "ready after the first cycle", || {
        get(&addr, "/readyz").0 == 200
    });
    assert!(assoc_rows("w20a_alloc")
        .iter()
        .any(|r| r.contains("w20alice")));

    // By hand: a lower limit; the agent's repair fails while the flag is there.
    std::fs::write(&flag, "").unwrap();
    sacctmgr_cmd(&[
        "-i",
        "modify",
        "account",
        "where",
        "name=w20a_alloc",
        "cluster=testcluster",
        "set",
        "GrpTRESMins=cpu=1",
    ]);
    wait(60, "the pending change on the page", || {
        let (_, page) = get(&addr, "/");
        page.contains("~ account/w20a_alloc") && page.contains("failed (retryable)")
    });
    let (status, metrics) = get(&addr, "/metrics");
    assert_eq!(status, 200);
    assert!(
        metrics.contains("waldur_slurm_agent_drift_found_total{cluster=\"testcluster\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("outcome=\"failed_retryable\""),
        "{metrics}"
    );
    assert_eq!(
        get(&addr, "/readyz").0,
        200,
        "failed changes do not make it unready"
    );

    if let Some(chromium) = chromium() {
        let url = format!("http://{addr}/");
        let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("status-page.png");
        let profile = tempfile::tempdir().unwrap();
        let out = browse(
            &chromium,
            profile.path(),
            &[
                "--window-size=1280,1100",
                "--hide-scrollbars",
                &format!("--screenshot={}", shot.display()),
            ],
            &url,
        );
        assert!(shot.exists(), "no screenshot: {}", show(&out));
        eprintln!("status page screenshot: {}", shot.display());
        let profile = tempfile::tempdir().unwrap();
        let out = browse(&chromium, profile.path(), &["--dump-dom"], &url);
        let dom = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(dom.contains("~ account/w20a_alloc"), "{dom}");
        assert!(
            dom.contains("GrpTRESMins : cpu=1 -&gt; cpu=300000"),
            "{dom}"
        );
        // The resource's name is text in the browser too.
        assert!(
            dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x"),
            "{dom}"
        );
        assert!(!dom.contains("<script") && !dom.contains("<img"), "{dom}");
        assert!(dom.contains("\\u{202e}") && !dom.contains('\u{202e}'));
    }

    // SIGHUP with an invalid config: refused, the daemon goes on with the old one.
    std::fs::write(&cfg, "offerings: [}").unwrap();
    Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    wait(20, "the refusal", || logged(&log, "reload refused"));
    assert_eq!(get(&addr, "/healthz").0, 200);
    assert!(get(&addr, "/metrics")
        .1
        .contains("config_reloads_total{result=\"refused\"} 1"));

    // A valid one: reloaded, the page shows the new interval; the repair goes through.
    write_config("3s");
    std::fs::remove_file(&flag).unwrap();
    Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    wait(20, "the reload", || logged(&log, "configuration reloaded"));
    wait(30, "the new settings and the repair", || {
        let (_, page) = get(&addr, "/");
        page.contains("agent.cycle_interval</th><td>3s") && page.contains("in step")
    });
    assert!(get(&addr, "/metrics")
        .1
        .contains("config_reloads_total{result=\"ok\"} 1"));

    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(status.success(), "{text}");
    assert!(!text.contains(TOKEN), "the token leaked");
    log_lines(&log);
    cleanup("w20");
    rt.block_on(fake.shutdown());
}

fn sacctmgr_cmd(args: &[&str]) {
    let out = sacctmgr(args);
    assert!(!out.contains("error"), "{out}");
}
