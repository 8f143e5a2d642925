//! End-to-end, faults: what the agent does when Waldur or SLURM misbehave (failed reads,
//! refused writes, a bad token, an unreachable controller), and that the token is never
//! printed. The fake Waldur runs in this process; SLURM is the real test cluster.

mod support;

use std::path::Path;

use serde_json::json;
use support::waldur::*;
use support::*;

#[test]
fn waldur_faults_never_delete_and_never_err_orders() {
    if !cluster_available() {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let env = Env::new("w2", existing_resource("w2"));
    env.converge();
    let account = "w2a_alloc";
    assert_eq!(env.users_of(account), ["w2alice", "w2bob"]);

    // Bob leaves in Waldur, and a Create order waits; but the reads fail.
    env.member(json!({"action": "remove", "project": PROJECT, "user": "bob"}));
    let create = env.order(
        json!({"type": "Create", "offering": OFFERING, "project": PROJECT, "name": "Second"}),
    );
    let faults = [
        json!({"path_prefix": "/api/marketplace-provider-resources/", "times": 0, "kind": "status", "status": 503}),
        json!({"path_prefix": "/api/marketplace-provider-resources/", "times": 0, "kind": "html_502"}),
        json!({"path_prefix": "/api/marketplace-orders/", "times": 0, "kind": "truncate"}),
        json!({"path_prefix": "/api/marketplace-provider-resources/", "times": 0, "kind": "invalid_json"}),
        json!({"path_prefix": "/api/marketplace-provider-resources/e0000000000000000000000000000001/team/", "times": 0, "kind": "status", "status": 200, "body": []}),
        json!({"path_prefix": "/api/marketplace-provider-resources/", "times": 0, "kind": "status", "status": 200, "body": []}),
    ];
    for fault in faults {
        env.fake.state.clear_faults();
        env.fault(fault.clone());
        let out = env.reconcile();
        assert_eq!(
            env.users_of(account),
            ["w2alice", "w2bob"],
            "{fault}\n{}",
            show(&out)
        );
        assert_ne!(env.order_state(&create), "erred", "{fault}");
        assert!(
            !show(&out).contains("remove user"),
            "{fault}\n{}",
            show(&out)
        );
    }
    // A transient fault that clears within the retries is absorbed.
    env.fake.state.clear_faults();
    env.fault(json!({"path_prefix": "/api/marketplace-orders/", "times": 2, "kind": "throttle", "retry_after": 1}));
    env.converge();
    assert_eq!(env.users_of(account), ["w2alice"]);
    assert_eq!(env.order_state(&create), "done");
    cleanup("w2");
}

/// A sacctmgr that fails `add account` for names containing "doomed" (fatal) or "flaky"
/// (database busy), and runs the real one otherwise.
fn failing_sacctmgr(dir: &Path) -> String {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let script = r#"#!/bin/sh
case "$*" in
  *"add account"*doomed*) echo " Invalid parent account, cannot add" >&2; exit 1 ;;
  *"add account"*flaky*) if [ ! -e "$0.flaky-done" ]; then touch "$0.flaky-done"; echo "Database is busy or waiting for lock from other user." >&2; exit 1; fi ;;
esac
exec /usr/bin/sacctmgr "$@"
"#;
    write_script(&bin.join("sacctmgr"), script);
    std::os::unix::fs::symlink("/usr/bin/scancel", bin.join("scancel")).unwrap();
    bin.display().to_string()
}

#[test]
fn fatal_slurm_failures_err_the_order_retryable_ones_wait() {
    if !cluster_available() {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let bin_dir = tempfile::tempdir().unwrap();
    let bin = failing_sacctmgr(bin_dir.path());
    let env = Env::with_bin("w4", json!([]), &bin);
    let doomed = env.order(
        json!({"type": "Create", "offering": OFFERING, "project": PROJECT, "name": "Doomed"}),
    );
    let flaky = env.order(
        json!({"type": "Create", "offering": OFFERING, "project": PROJECT, "name": "Flaky"}),
    );
    let out = env.agent(&["reconcile", "--apply-mode", "per-change"]);
    assert!(!out.status.success());
    let text = show(&out);
    assert_eq!(env.order_state(&doomed), "erred", "{text}");
    let message = env
        .fake
        .state
        .read(|w| w.order(&doomed).unwrap().error_message.clone());
    assert!(message.contains("Invalid parent account"), "{message}");
    assert_eq!(env.order_state(&flaky), "executing", "{text}");
    // The busy database has cleared: the flaky order completes.
    let out = env.agent(&["reconcile"]);
    assert_eq!(env.order_state(&flaky), "done", "{}", show(&out));
    cleanup("w4");
}

#[test]
fn bad_token_fails_clearly_without_printing_it() {
    if !cluster_available() {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let env = Env::new("w5", existing_resource("w5"));
    env.fault(
        json!({"times": 0, "kind": "status", "status": 401, "body": {"detail": "Invalid token."}}),
    );
    let out = env.agent(&["plan"]);
    assert_eq!(out.status.code(), Some(1));
    let text = show(&out);
    assert!(text.contains("HTTP 401: Invalid token."), "{text}");
    assert!(text.contains("left out of the cycle"), "{text}");
}

#[test]
fn removal_goes_on_when_scancel_cannot_reach_the_controller() {
    if !cluster_available() {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink("/usr/bin/sacctmgr", bin.join("sacctmgr")).unwrap();
    write_script(
        &bin.join("scancel"),
        "#!/bin/sh\necho 'scancel: error: Unable to contact slurm controller (connect failure)' >&2\nexit 1\n",
    );
    let env = Env::with_bin("w9", existing_resource("w9"), bin.to_str().unwrap());
    env.converge();
    env.member(json!({"action": "remove", "project": PROJECT, "user": "bob"}));
    let out = env.reconcile();
    let log = show(&out);
    assert!(out.status.success(), "{log}");
    assert!(log.contains("best-effort command failed"), "{log}");
    assert!(log.contains("Unable to contact slurm controller"), "{log}");
    assert_eq!(env.users_of("w9a_alloc"), ["w9alice"]);
    cleanup("w9");
}
