//! The daemon's endpoints fed by an in-process daemon on the in-memory systems (paused
//! clock): `/metrics` read with a Prometheus text parser after cycles with drift and a
//! failing change, `/readyz` flipping while Waldur is down and back, and the status page
//! read with an HTML parser (the pending change, every Waldur text escaped). A last test
//! serves the routes on a real socket.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use agent_config::Offering;
use agent_desired::WaldurDocs;
use agent_observed::answers::FailureClass;
use agent_reconcile::testkit;
use futures::future::BoxFuture;
use futures::FutureExt;
use serde_json::json;
use waldur_slurm_agent::daemon::{self, Clock, Daemon, Settings};
use waldur_slurm_agent::http::{health, page, Monitor};
use waldur_slurm_agent::sides::memory::{MemorySlurm, MemoryWaldur};
use waldur_slurm_agent::sides::{Sides, WaldurReads};

const OFFERING: &str = "0ff00000000000000000000000000001";
/// A Waldur resource name that tries to become markup and to steer a terminal.
const EVIL: &str = "<script>alert('x')</script><img src=x onerror=alert(1)> \u{1b}[8m\u{202e}";

fn config() -> agent_config::Config {
    let yaml = format!(
        r#"
offerings:
  - name: mem
    waldur_api_url: http://127.0.0.1:9/api/
    waldur_api_token: secret-token-never-shown
    waldur_offering_uuid: "{OFFERING}"
    backend_type: slurm
    order_processing_backend: slurm
    membership_sync_backend: slurm
    backend_settings:
      cluster_name: c1
      default_account: root
      customer_prefix: c_
      project_prefix: p_
      allocation_prefix: a_
    backend_components:
      cpu: {{measured_unit: k-Hours, unit_factor: 60000, accounting_type: limit, label: CPU}}
agent:
  cycle_interval: 5m
"#
    );
    agent_config::load_str("http-test.yaml", &yaml, None, None)
        .expect("valid config")
        .config
}

fn docs() -> WaldurDocs {
    let resource = json!({
        "uuid": "e0000000000000000000000000000001", "name": EVIL, "slug": "one", "state": "OK",
        "backend_id": "a_one", "project_uuid": "b0000000000000000000000000000001",
        "project_slug": "proj", "project_name": "Project", "customer_slug": "cust",
        "customer_name": "Customer", "limits": {"cpu": 10}, "paused": false, "downscaled": false,
        "restrict_member_access": false, "attributes": {}, "offering_plugin_options": {},
        "backend_metadata": {"qos": "normal"}
    });
    let team =
        json!([{"username": "ann", "offering_user_username": "ann", "offering_user_state": "OK"}]);
    WaldurDocs {
        offering: serde_json::from_value(json!({"uuid": OFFERING, "name": "mem"})).unwrap(),
        resources: serde_json::from_value(json!([resource])).unwrap(),
        teams: [(
            "e0000000000000000000000000000001".to_string(),
            serde_json::from_value(team).unwrap(),
        )]
        .into_iter()
        .collect(),
        orders: Vec::new(),
        user_limits: None,
        policies: Vec::new(),
        usages: Default::default(),
    }
}

/// Waldur that can be taken down: reads fail while `down`.
struct Flaky {
    inner: Arc<MemoryWaldur>,
    down: AtomicBool,
}

impl WaldurReads for Flaky {
    fn docs<'a>(&'a self, offering: &'a Offering) -> BoxFuture<'a, anyhow::Result<WaldurDocs>> {
        if self.down.load(Ordering::SeqCst) {
            return async { anyhow::bail!("GET /api/marketplace-provider-resources/: HTTP 503") }
                .boxed();
        }
        self.inner.docs(offering)
    }
    fn is_live(&self) -> bool {
        true
    }
}

struct FixedClock;

impl Clock for FixedClock {
    fn now(&self) -> jiff::Timestamp {
        "2026-11-15T12:00:00Z".parse().unwrap()
    }
}

/// `name{labels}` -> value, as Prometheus reads the exposition.
fn scrape(text: &str) -> BTreeMap<String, f64> {
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let parsed = prometheus_parse::Scrape::parse(lines).expect("valid exposition format");
    parsed
        .samples
        .into_iter()
        .map(|s| {
            let mut labels: Vec<String> =
                s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            labels.sort();
            let value = match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                prometheus_parse::Value::Histogram(h) => {
                    h.iter().map(|b| b.count).fold(0.0, f64::max)
                }
                prometheus_parse::Value::Summary(_) => f64::NAN,
            };
            (format!("{}{{{}}}", s.metric, labels.join(",")), value)
        })
        .collect()
}

fn metric(m: &BTreeMap<String, f64>, key: &str) -> f64 {
    *m.get(key)
        .unwrap_or_else(|| panic!("no sample {key}; have {:#?}", m.keys().collect::<Vec<_>>()))
}

#[tokio::test(start_paused = true)]
async fn metrics_readiness_and_the_page_follow_the_cycles() {
    let config = config();
    let slurm = Arc::new(MemorySlurm::new(testkit::cluster(
        "c1",
        &["cpu"],
        &["normal"],
    )));
    let memory = Arc::new(MemoryWaldur::new(BTreeMap::from([(
        OFFERING.to_string(),
        docs(),
    )])));
    let waldur = Arc::new(Flaky {
        inner: memory.clone(),
        down: AtomicBool::new(false),
    });
    let sides = Sides {
        waldur: waldur.clone(),
        waldur_writes: Some(memory.clone()),
        slurm: slurm.clone(),
        slurm_writes: Some(slurm.clone()),
        storage: None,
        storage_writes: None,
        periodic: waldur_slurm_agent::periodic::Periodic::files(
            &std::env::temp_dir().join("agent-periodic-unused"),
            waldur_slurm_agent::periodic::Clock::system("UTC").unwrap(),
        ),
    };
    let monitor = Monitor::new(Arc::new(FixedClock));
    monitor.configure(
        &[("c1".into(), vec![OFFERING.into()])],
        config.agent.cycle_interval,
        waldur_slurm_agent::http::monitor::shown(&config, std::path::Path::new("http-test.yaml")),
    );
    let now = tokio::time::Instant::now;
    assert!(
        !health::ready(&monitor.snapshot(), now()).ok,
        "not ready before a cycle"
    );
    assert!(
        health::live(&monitor.snapshot(), now()).ok,
        "live while starting"
    );
    let d = Daemon {
        config: &config,
        sides: &sides,
        clock: &FixedClock,
        settings: Settings {
            report_usage: false,
            ..Settings::from_config(&config)
        },
        observer: &monitor,
        state: None,
    };
    let (_wake, wakes) = daemon::wake_channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let minute = Duration::from_secs(60);
    let script = async {
        // Cycle 1 (0:00) builds the tree; ready, live and idle.
        tokio::time::sleep(minute).await;
        let s = monitor.snapshot();
        assert!(
            health::ready(&s, now()).ok,
            "{:#}",
            health::ready(&s, now()).body
        );
        let live = health::live(&s, now());
        assert!(live.ok && live.body["state"] == "idle", "{:#}", live.body);

        // Drift by hand, whose repair fails for good: cycle 2 (5:00) finds it, fails it,
        // and it stays pending. Still ready: both sides were read and the work was done.
        slurm.edit(|o| {
            o.accounts.get_mut("a_one").unwrap().grp_tres_mins =
                [("cpu".to_string(), 1u64)].into_iter().collect();
        });
        slurm.fail(
            "account/a_one",
            FailureClass::Fatal,
            "sacctmgr: error: Unknown option",
            100,
        );
        tokio::time::sleep(5 * minute).await;
        let m = scrape(&monitor.metrics.encode());
        let p = "waldur_slurm_agent_";
        assert_eq!(
            metric(&m, &format!("{p}cycles_total{{cluster=c1,result=in_step}}")),
            1.0
        );
        assert_eq!(
            metric(&m, &format!("{p}cycles_total{{cluster=c1,result=pending}}")),
            1.0
        );
        assert_eq!(
            metric(
                &m,
                &format!("{p}changes_total{{action=update,cluster=c1,outcome=failed_fatal}}")
            ),
            1.0
        );
        assert!(
            metric(
                &m,
                &format!("{p}changes_total{{action=create,cluster=c1,outcome=applied}}")
            ) >= 4.0
        );
        assert_eq!(
            metric(&m, &format!("{p}drift_found_total{{cluster=c1}}")),
            1.0
        );
        assert_eq!(metric(&m, &format!("{p}drift_changes{{cluster=c1}}")), 1.0);
        assert_eq!(
            metric(&m, &format!("{p}pending_changes{{cluster=c1}}")),
            1.0
        );
        let unix = 1_794_744_000.0; // FixedClock
        assert_eq!(
            metric(
                &m,
                &format!("{p}last_successful_cycle_timestamp_seconds{{cluster=c1}}")
            ),
            unix
        );
        assert_eq!(
            metric(
                &m,
                &format!("{p}build_info{{version={}}}", env!("CARGO_PKG_VERSION"))
            ),
            1.0
        );
        assert!(health::ready(&monitor.snapshot(), now()).ok);

        // The page shows the pending change with its failure, and no Waldur text as markup.
        let html = page::render(&monitor.snapshot(), FixedClock.now(), now());
        check_page(&html);

        // Waldur down: the next cycle (10:00) and its requeues (10:10, 10:30) cannot read
        // it: not ready, saying why.
        waldur.down.store(true, Ordering::SeqCst);
        tokio::time::sleep(5 * minute).await;
        let r = health::ready(&monitor.snapshot(), now());
        assert!(!r.ok);
        let why = r.body["why"][0].as_str().unwrap().to_string();
        assert!(
            why.contains("Waldur could not be read") && why.contains("503"),
            "{why}"
        );
        let m = scrape(&monitor.metrics.encode());
        assert_eq!(
            metric(
                &m,
                &format!("{p}cycles_total{{cluster=c1,result=waldur_unreadable}}")
            ),
            3.0
        );

        // Back up: the next requeue (11:10) reads it again: ready.
        waldur.down.store(false, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(15)).await;
        let r = health::ready(&monitor.snapshot(), now());
        assert!(r.ok, "{:#}", r.body);
        stop_tx.send(()).unwrap();
    };
    let (exit, ()) = tokio::join!(
        d.run(
            async {
                let _ = stop_rx.await;
            },
            wakes
        ),
        script
    );
    assert_eq!(exit.passes, 6);
}

fn check_page(html: &str) {
    let doc = scraper::Html::parse_document(html);
    let sel = |s: &str| scraper::Selector::parse(s).unwrap();
    assert_eq!(doc.select(&sel("script")).count(), 0, "no script element");
    assert_eq!(doc.select(&sel("img")).count(), 0, "no img element");
    let plan: String = doc
        .select(&sel("pre.plan"))
        .flat_map(|e| e.text())
        .collect();
    assert!(plan.contains("~ account/a_one"), "{plan}");
    assert!(plan.contains("GrpTRESMins : cpu=1 -> cpu=600000"), "{plan}");
    // The resource name is text, its escape sequence and bidi override shown, not obeyed.
    assert!(plan.contains("<script>alert('x')</script>"), "{plan}");
    assert!(plan.contains("\\u{1b}[8m\\u{202e}"), "{plan}");
    assert!(!html.contains('\u{1b}') && !html.contains('\u{202e}'));
    let outcome: String = doc
        .select(&sel("table.changes"))
        .flat_map(|e| e.text())
        .collect();
    assert!(
        outcome.contains("failed (fatal)") && outcome.contains("Unknown option"),
        "{outcome}"
    );
    let settings: String = doc
        .select(&sel("#settings"))
        .flat_map(|e| e.text())
        .collect();
    assert!(
        settings.contains("agent.cycle_interval") && settings.contains("5m"),
        "{settings}"
    );
    assert!(!html.contains("secret-token-never-shown"));
    let badge: String = doc
        .select(&sel("td.outcome"))
        .flat_map(|e| e.text())
        .collect();
    assert_eq!(badge, "changes pending");
}

/// The routes on a real socket: status codes, content types, GET only.
#[tokio::test]
async fn the_routes_answer_gets_only() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let monitor = Arc::new(Monitor::new(Arc::new(FixedClock)));
    let listener = waldur_slurm_agent::http::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(waldur_slurm_agent::http::serve(listener, monitor, async {
        let _ = stopped.await;
    }));
    let ask = |method: &'static str, path: &'static str| async move {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    };
    let ready = ask("GET", "/readyz").await;
    assert!(ready.starts_with("HTTP/1.1 503"), "{ready}");
    assert!(
        ready.contains("no cycle has finished yet") || ready.contains("no cluster group"),
        "{ready}"
    );
    let live = ask("GET", "/healthz").await;
    assert!(
        live.starts_with("HTTP/1.1 200") && live.contains("\"live\": true"),
        "{live}"
    );
    let metrics = ask("GET", "/metrics").await;
    assert!(
        metrics.contains("application/openmetrics-text") && metrics.contains("# EOF"),
        "{metrics}"
    );
    let page = ask("GET", "/").await;
    assert!(
        page.contains("text/html") && page.contains("default-src 'none'"),
        "{page}"
    );
    assert!(ask("POST", "/metrics").await.starts_with("HTTP/1.1 405"));
    assert!(ask("DELETE", "/").await.starts_with("HTTP/1.1 405"));
    assert!(ask("GET", "/nothing").await.starts_with("HTTP/1.1 404"));
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}
