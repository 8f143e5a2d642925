//! End-to-end, orders and membership: the agent binary against the fake Waldur (in this
//! process, on loopback) and the real test cluster, from a Create order to Restore, and
//! the daemon doing the same. Each test has its own fake and its own account prefix.

mod support;

use std::process::Command;

use serde_json::json;
use support::waldur::*;
use support::*;

#[test]
fn full_order_and_membership_lifecycle() {
    if !cluster_available() {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let env = Env::new("w1", json!([]));
    let p = "w1";

    // Create: tree, users, backend_id, limits, order done.
    let create = env.order(
        json!({"type": "Create", "offering": OFFERING, "project": PROJECT,
                                  "name": "Alloc One", "limits": {"cpu": 10}}),
    );
    env.converge();
    assert_eq!(env.order_state(&create), "done");
    let res_uuid = env
        .fake
        .state
        .read(|w| w.order(&create).unwrap().resource.clone());
    let r = env.resource(&res_uuid);
    let account = format!("{p}a_alloc-one");
    assert_eq!(r.backend_id, account);
    assert_eq!(r.state, "OK");
    assert_eq!(r.backend_metadata.get("qos"), Some(&json!("normal")));
    let row = env
        .account_row(&account)
        .expect("allocation account exists");
    assert!(row.contains(&format!("|{p}p_proj|cpu=600000|")), "{row}");
    assert_eq!(
        env.users_of(&account),
        [format!("{p}alice"), format!("{p}bob")]
    );

    // Membership: carol joins, bob leaves.
    env.member(json!({"action": "add", "project": PROJECT, "user": "carol"}));
    env.member(json!({"action": "remove", "project": PROJECT, "user": "bob"}));
    env.converge();
    assert_eq!(
        env.users_of(&account),
        [format!("{p}alice"), format!("{p}carol")]
    );

    // Paused, downscaled, restored: QoS follows, and Waldur records it.
    for (patch, qos) in [
        (json!({"paused": true}), "wpaused"),
        (json!({"paused": false, "downscaled": true}), "wlimited"),
        (json!({"downscaled": false}), "normal"),
    ] {
        env.patch(&res_uuid, patch);
        env.converge();
        let row = env.account_row(&account).unwrap();
        assert!(row.ends_with(&format!("|{qos}")), "{row}");
        assert_eq!(
            env.resource(&res_uuid).backend_metadata.get("qos"),
            Some(&json!(qos))
        );
    }

    // Update: new limits.
    let update = env.order(json!({"type": "Update", "resource": res_uuid, "limits": {"cpu": 20}}));
    env.converge();
    assert_eq!(env.order_state(&update), "done");
    assert!(env.account_row(&account).unwrap().contains("|cpu=1200000|"));
    assert_eq!(env.resource(&res_uuid).limits.get("cpu"), Some(&json!(20)));

    // Terminate: account and the now empty project account go; order done.
    let terminate = env.order(json!({"type": "Terminate", "resource": res_uuid}));
    env.converge();
    assert_eq!(env.order_state(&terminate), "done");
    assert_eq!(env.resource(&res_uuid).state, "Terminated");
    assert!(env.account_row(&account).is_none());
    assert!(env.account_row(&format!("{p}p_proj")).is_none());

    // Restore: recreated under the same name, with its users.
    let restore = env.order(json!({"type": "Restore", "resource": res_uuid}));
    env.converge();
    assert_eq!(env.order_state(&restore), "done");
    assert!(env.account_row(&account).is_some());
    assert_eq!(
        env.users_of(&account),
        [format!("{p}alice"), format!("{p}carol")]
    );
    cleanup(p);
}

#[test]
fn taken_names_get_a_suffix_and_retries_adopt_their_own_account() {
    if !cluster_available() {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let env = Env::new("w3", json!([]));
    // Someone else's account already has the name the order would get.
    sacctmgr(&[
        "-i",
        "add",
        "account",
        "w3a_busy",
        "cluster=testcluster",
        "description=other",
    ]);
    let create = env
        .order(json!({"type": "Create", "offering": OFFERING, "project": PROJECT, "name": "Busy"}));
    // set_backend_id fails for good the first time: the account exists, Waldur does not know it.
    env.fault(json!({"path_prefix": "/api/marketplace-provider-resources/", "method": "POST", "times": 1, "kind": "status", "status": 400, "body": {"backend_id": ["Injected."]}}));
    let out = env.reconcile();
    assert!(!out.status.success(), "{}", show(&out));
    assert!(env.account_row("w3a_busy-1").is_some(), "{}", show(&out));
    assert_ne!(env.order_state(&create), "done");
    // The next cycle recognises w3a_busy-1 as its own and does not create w3a_busy-2.
    env.converge();
    let res = env
        .fake
        .state
        .read(|w| w.order(&create).unwrap().resource.clone());
    assert_eq!(env.resource(&res).backend_id, "w3a_busy-1");
    assert_eq!(env.order_state(&create), "done");
    assert!(env.account_row("w3a_busy-2").is_none());
    sacctmgr(&[
        "-i",
        "remove",
        "account",
        "where",
        "name=w3a_busy",
        "cluster=testcluster",
    ]);
    cleanup("w3");
}

#[test]
fn daemon_picks_up_orders_and_stops_cleanly_on_sigterm() {
    if !cluster_available() {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let env = Env::new("w8", json!([]));
    let config = env.dir.path().join("config.yaml");
    let heartbeat = env.dir.path().join("heartbeat");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "  cycle_interval: 1s\n  report_interval: 1h\n  heartbeat_file: {}\n  http_listen: 127.0.0.1:0\n",
        heartbeat.display()
    ));
    std::fs::write(&config, text).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_agent"))
        .args(["run", "-c"])
        .arg(&config)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let create = env.order(
        json!({"type": "Create", "offering": OFFERING, "project": PROJECT, "name": "Daemon"}),
    );
    let mut done = false;
    for _ in 0..40 {
        std::thread::sleep(std::time::Duration::from_millis(250));
        if env.order_state(&create) == "done" {
            done = true;
            break;
        }
    }
    // SIGTERM: the daemon finishes its round and exits 0.
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let log = show(&out);
    assert!(done, "the order was not completed by the daemon:\n{log}");
    assert!(out.status.success(), "{log}");
    assert!(log.contains("stop requested"), "{log}");
    assert!(!log.contains(TOKEN));
    assert!(heartbeat.exists());
    assert!(env.account_row("w8a_daemon").is_some());
    cleanup("w8");
}
