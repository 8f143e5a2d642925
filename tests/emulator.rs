//! The same observe/apply/re-plan against slurm-emulator (PyPI), selected by
//! `slurm_bin_path`. Runs when `SLURM_EMULATOR_BIN` names the bin dir made by
//! scripts/emulator/setup.sh; in CI (`CI=true`) a missing emulator is a failure. Periodic
//! limits go through the emulator's sacctmgr, and in emulator mode through its API.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use support::show;

fn emulator_bin() -> Option<String> {
    match std::env::var("SLURM_EMULATOR_BIN") {
        Ok(b) if !b.is_empty() => Some(b),
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("CI=true but SLURM_EMULATOR_BIN is not set: run scripts/emulator/setup.sh")
        }
        _ => {
            eprintln!("skipping: SLURM_EMULATOR_BIN unset");
            None
        }
    }
}

/// Runs a program with the emulator's state kept in `state`.
fn run(program: &str, args: &[&str], state: &Path) -> Output {
    Command::new(program)
        .args(args)
        .env("SLURM_EMULATOR_STATE_FILE", state.join("db.json"))
        .env("SLURM_EMULATOR_TIME_FILE", state.join("time.json"))
        .env("SLURM_EMULATOR_CLUSTER_NAME", "hpc1")
        .output()
        .expect("runs")
}

fn slurm_changes(plan: &serde_json::Value) -> Vec<String> {
    plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["kind"] != "waldur")
        .map(|c| c["address"].as_str().unwrap().to_string())
        .collect()
}

fn converge_with(mode: &str, bin: &str) {
    let state = tempfile::tempdir().unwrap();
    let sacctmgr = format!("{bin}/sacctmgr");
    for qos in ["limited", "paused"] {
        run(&sacctmgr, &["-i", "add", "qos", qos], state.path());
    }
    let config = std::fs::read_to_string("examples/demo/config.yaml")
        .unwrap()
        .replace(
            "slurm_bin_path: \"/usr/bin\"",
            &format!("slurm_bin_path: \"{bin}\""),
        )
        + &format!("  state_dir: {}\n", state.path().join("state").display());
    let config_path = state.path().join("config.yaml");
    std::fs::write(&config_path, config).unwrap();
    let agent = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend([
            "-c",
            config_path.to_str().unwrap(),
            "--waldur-snapshot",
            "examples/demo/snapshot",
        ]);
        run(env!("CARGO_BIN_EXE_agent"), &all, state.path())
    };
    let before: serde_json::Value =
        serde_json::from_slice(&agent(&["plan", "--json"]).stdout).expect("plan JSON");
    assert!(slurm_changes(&before).len() > 20, "{before}");
    let out = agent(&["reconcile", "--apply-mode", mode]);
    let text = show(&out);
    assert!(text.contains("Verified"), "{mode}: {text}");
    let after: serde_json::Value =
        serde_json::from_slice(&agent(&["plan", "--json"]).stdout).expect("plan JSON");
    assert_eq!(
        slurm_changes(&after),
        Vec::<String>::new(),
        "{mode}: {after}"
    );
}

#[test]
fn demo_converges_on_the_emulator_per_change_and_batch() {
    let Some(bin) = emulator_bin() else { return };
    converge_with("per-change", &bin);
    converge_with("batch", &bin);
}

/// Emulator accounting rows of an account: (Share, GrpTRESMins).
fn emulator_values(
    bin: &str,
    state: &Path,
    account: &str,
) -> (String, agent_reconcile::tres::TresMap) {
    let out = run(
        &format!("{bin}/sacctmgr"),
        &[
            "-P",
            "-n",
            "show",
            "association",
            "where",
            "cluster=hpc1",
            &format!("account={account}"),
            "format=User,Share,GrpTRESMins",
        ],
        state,
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let row = text
        .lines()
        .find(|l| l.starts_with('|'))
        .unwrap_or_else(|| panic!("{}", show(&out)));
    let cols: Vec<&str> = row.split('|').collect();
    (
        cols[1].to_string(),
        agent_reconcile::tres::parse(cols[2]).unwrap(),
    )
}

/// slurm-emulator's API server (`/api/apply-periodic-settings`) on a free port, serving
/// the state it loads now; killed when dropped.
struct EmulatorApi {
    child: std::process::Child,
    url: String,
}

impl EmulatorApi {
    fn start(bin: &str, state: &Path) -> EmulatorApi {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let python = Path::new(bin).parent().unwrap().join("bin/python");
        let child = Command::new(python)
            .args([
                "-m",
                "uvicorn",
                "emulator.api.emulator_server:app",
                "--host",
                "127.0.0.1",
                "--port",
                &port.to_string(),
            ])
            .env("SLURM_EMULATOR_STATE_FILE", state.join("db.json"))
            .env("SLURM_EMULATOR_TIME_FILE", state.join("time.json"))
            .env("SLURM_EMULATOR_CLUSTER_NAME", "hpc1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("uvicorn starts");
        let started = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed().as_secs() < 30,
                "the emulator API did not come up"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        EmulatorApi {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for EmulatorApi {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn periodic_settings_on_the_emulator_by_sacctmgr_and_by_its_api() {
    use support::periodic::{config, seed, RESOURCE};
    let Some(bin) = emulator_bin() else { return };
    let state = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let limits = serde_json::json!({"cpu": 1000, "mem": 2000});
    let fake = rt.block_on(fake_waldur::spawn(seed(
        "em",
        limits,
        serde_json::json!({}),
        &[("cpu", "400.00"), ("mem", "2500.00")],
    )));
    let config_path = state.path().join("config.yaml");
    let agent_state = state.path().join("agent").display().to_string();
    let write_config = |periodic: &str| {
        std::fs::write(
            &config_path,
            config(&fake.base_url, "em", "hpc1", &bin, periodic, &agent_state),
        )
        .unwrap()
    };
    let agent = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["-c", config_path.to_str().unwrap()]);
        run(env!("CARGO_BIN_EXE_agent"), &all, state.path())
    };
    let converge = || {
        let out = agent(&["reconcile", "--apply-mode", "per-change"]);
        assert!(show(&out).contains("Verified"), "{}", show(&out));
        assert_eq!(
            agent(&["plan", "--detailed-exitcode"]).status.code(),
            Some(0)
        );
    };
    let tres = |pairs: &[(&str, u64)]| pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    // Through the emulator's sacctmgr, like real SLURM: the worked example.
    write_config("{enabled: true}");
    converge();
    assert_eq!(
        emulator_values(&bin, state.path(), "ema_alloc"),
        (
            "1166".into(),
            tres(&[("billing", 1968), ("cpu", 108000), ("mem", 144000)])
        )
    );
    // Emulator mode: new limits in Waldur go through the emulator's API (started after the
    // accounts exist: it serves the state it loaded and writes it back whole).
    fake.state
        .patch_resource(
            RESOURCE,
            serde_json::from_value(serde_json::json!({"limits": {"cpu": 2000, "mem": 2000}}))
                .unwrap(),
        )
        .unwrap();
    let api = EmulatorApi::start(&bin, state.path());
    write_config(&format!(
        "{{enabled: true, emulator_mode: true, emulator_base_url: \"{}\"}}",
        api.url
    ));
    let dry = agent(&["reconcile", "--dry-run"]);
    assert!(
        String::from_utf8_lossy(&dry.stdout).contains("curl -fsS -X POST"),
        "{}",
        show(&dry)
    );
    converge();
    assert_eq!(
        emulator_values(&bin, state.path(), "ema_alloc"),
        (
            "1666".into(),
            tres(&[("billing", 3655), ("cpu", 216000), ("mem", 144000)])
        )
    );
    let last = fake.state.command_results().pop().unwrap();
    assert_eq!(last.mode, "emulator");
    assert!(last.success, "{last:?}");
    assert!(
        last.commands_executed[0]
            .starts_with(&format!("POST {}/api/apply-periodic-settings", api.url)),
        "{last:?}"
    );
}
