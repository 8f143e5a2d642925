//! Periodic limits: Waldur's policies, the component usages they are computed from, the
//! settings stored from STOMP messages and the `periodic_limits` config block. A bad
//! policy or usage is an error for that policy's resources (their limits stay as they
//! are), a broken stored file leaves that resource's periodic fields alone, and nothing
//! ever becomes a `-1`, a huge limit or a write outside the tree.

use serde_json::{json, Value};

use crate::case::Case;
use crate::fixture::{line_of, Fixture, LATTICE};

const POLICIES: &str = "snap/waldur/periodic_policies.json";
const USAGES: &str = "snap/waldur/component_usages.json";
const OFFERING: &str = "d629d5e45567425da9cdbdc1af67b32c";
/// What enabling periodic limits adds to the demo's plan: the policy-managed limits and
/// fairshare of the allocations (checked for -1 and huge values like every argv).
const POLICY_MANAGED: &[&str] = &[
    "account/a_",
    "association/a_",
    "periodic/",
    "waldur/periodic/",
];

fn base_policy() -> Value {
    json!({
        "uuid": "91ab0000000000000000000000000001",
        "scope_uuid": OFFERING,
        "period": 1,
        "limit_type": "GrpTRESMins",
        "carryover_enabled": true,
        "carryover_factor": 50,
        "grace_ratio": 0.2,
        "component_limits_set": [{"type": "cpu", "limit": 100}]
    })
}

/// Periodic limits on, with the base policy edited by `edit`.
fn enable(f: &Fixture, edit: impl FnOnce(&mut Value)) {
    f.config(
        "      qos_paused: \"paused\"\n",
        "      qos_paused: \"paused\"\n      periodic_limits:\n        enabled: true\n",
    );
    let mut policy = base_policy();
    edit(&mut policy);
    f.write(
        POLICIES,
        &serde_json::to_string_pretty(&json!([policy])).unwrap(),
    );
}

fn policy(name: &str, edit: impl Fn(&mut Value) + Send + Sync + 'static) -> Case {
    Case::new("periodic", format!("periodic {name}"), move |f| {
        enable(f, &edit)
    })
    .allow(POLICY_MANAGED)
}

fn set(key: &'static str, value: Value) -> impl Fn(&mut Value) + Send + Sync + 'static {
    move |p| p[key] = value.clone()
}

/// Now, RFC 3339 in UTC: a stored message of the current period.
fn now() -> String {
    let out = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .expect("date runs");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A stored `resource_periodic_limits` message for the lattice allocation, edited.
fn stored(name: &str, edit: impl Fn(&mut Value) + Send + Sync + 'static) -> Case {
    Case::new("periodic", format!("periodic stored {name}"), move |f| {
        enable(f, |_| {});
        let at = now();
        let mut s = json!({
            "format": 1,
            "resource_uuid": LATTICE,
            "backend_id": "a_lattice-qcd",
            "timestamp": at.trim_end_matches('Z'),
            "received_at": at,
            "settings": {"fairshare": 333, "grp_tres_mins": {"cpu": 6000}}
        });
        edit(&mut s);
        f.write(
            &format!("state/periodic/settings/{LATTICE}.json"),
            &serde_json::to_string_pretty(&s).unwrap(),
        );
    })
    .allow(POLICY_MANAGED)
}

fn usages(name: &str, list: Value) -> Case {
    Case::new("periodic", format!("periodic usages {name}"), move |f| {
        enable(f, |_| {});
        f.write(USAGES, &serde_json::to_string_pretty(&list).unwrap());
    })
    .allow(POLICY_MANAGED)
}

fn usage(amount: Value) -> Value {
    json!([{
        "uuid": "77000000000000000000000000000001",
        "resource_uuid": LATTICE,
        "type": "cpu",
        "billing_period": "2026-01-01",
        "usage": amount
    }])
}

fn config(name: &str, block: &'static str) -> Case {
    Case::new("periodic", format!("periodic config {name}"), move |f| {
        f.config(
            "      qos_paused: \"paused\"\n",
            &format!("      qos_paused: \"paused\"\n      periodic_limits:\n{block}"),
        )
    })
}

pub fn cases() -> Vec<Case> {
    let limits_line = line_of("qos_paused: \"paused\"", 2);
    vec![
        // The policies document itself.
        Case::new("periodic", "periodic policies not JSON", |f| {
            enable(f, |_| {});
            f.write(POLICIES, "<html>502 Bad Gateway</html>");
        })
        .refused(&["periodic_policies.json"]),
        Case::new("periodic", "periodic policies an object", |f| {
            enable(f, |_| {});
            f.write(POLICIES, "{\"results\": []}");
        })
        .refused(&["periodic_policies.json"]),
        policy("policy uuid with a newline", set("uuid", json!("91ab\nrm -rf /")))
            .refused(&["periodic_policies.json"]),
        policy("scope_uuid of another offering", set("scope_uuid", json!("ee000000000000000000000000000009"))),
        policy("period 0", set("period", json!(0))).skipped(&["period 0 is not one of"]),
        policy("period 99", set("period", json!(99))).skipped(&["period 99 is not one of"]),
        policy("period as text", set("period", json!("quarterly")))
            .refused(&["periodic_policies.json"]),
        policy("limit_type unknown", set("limit_type", json!("GrpJobs"))).skipped(&["limit_type"]),
        policy("limit_type with ESC", set("limit_type", json!("GrpTRESMins\u{1b}[8m")))
            .skipped(&["limit_type"]),
        policy("carryover_factor negative", set("carryover_factor", json!(-50)))
            .skipped(&["carryover_factor"]),
        policy("carryover_factor huge", set("carryover_factor", json!(1e300)))
            .skipped(&["carryover_factor"]),
        policy("carryover_factor text", set("carryover_factor", json!("lots")))
            .skipped(&["carryover_factor"]),
        policy("grace_ratio negative", set("grace_ratio", json!(-0.5))).skipped(&["grace_ratio"]),
        policy("grace_ratio huge", set("grace_ratio", json!(1e300))).skipped(&["grace_ratio"]),
        policy("grace_ratio NaN text", set("grace_ratio", json!("NaN"))).skipped(&["grace_ratio"]),
        policy("billing weight negative", |p| {
            p["tres_billing_enabled"] = json!(true);
            p["tres_billing_weights"] = json!({"cpu": -1, "mem": 0.1});
        })
        .skipped(&["weight"]),
        policy("billing weight text", |p| {
            p["tres_billing_enabled"] = json!(true);
            p["tres_billing_weights"] = json!({"cpu": "heavy"});
        })
        .skipped(&["weight"]),
        policy("billing weight huge", |p| {
            p["tres_billing_enabled"] = json!(true);
            p["tres_billing_weights"] = json!({"cpu": 1e300});
        })
        .skipped(&["weight"]),
        // Thresholds are shown by diagnose (escaped) and never written: nothing to refuse.
        policy("threshold negative", set("component_limits_set", json!([{"type": "cpu", "limit": -5}])))
            .accepted(),
        policy("threshold huge", set("component_limits_set", json!([{"type": "cpu", "limit": 1e30}])))
            .accepted(),
        policy("threshold of a control-character component", set("component_limits_set", json!([{"type": "cpu\u{7}", "limit": 5}]))),
        policy("decay half-life zero", |p| {
            p.as_object_mut().unwrap().remove("carryover_factor");
            p["fairshare_decay_half_life"] = json!(0);
        })
        .skipped(&["half"]),
        policy("decay half-life negative", |p| {
            p.as_object_mut().unwrap().remove("carryover_factor");
            p["fairshare_decay_half_life"] = json!(-14);
        })
        .skipped(&["half"]),
        Case::new("periodic", "periodic two policies for one offering", |f| {
            enable(f, |_| {});
            let mut second = base_policy();
            second["uuid"] = json!("91ab0000000000000000000000000002");
            second["period"] = json!(3);
            f.write(POLICIES, &serde_json::to_string_pretty(&json!([base_policy(), second])).unwrap());
        })
        .skipped(&["2 periodic usage policies"])
        .allow(POLICY_MANAGED),
        // Component usages the carry-over is computed from.
        Case::new("periodic", "periodic usages not JSON", |f| {
            enable(f, |_| {});
            f.write(USAGES, "[{\"usage\": ");
        })
        .refused(&["component_usages.json"]),
        // A usage that cannot be right fails the read, as the live read does; a huge one
        // only leaves nothing to carry over.
        usages("negative", usage(json!(-1000)))
            .refused(&["component_usages.json", "non-negative amount"]),
        usages("huge", usage(json!(1e300))).accepted(),
        usages("text", usage(json!("a lot")))
            .refused(&["component_usages.json", "non-negative amount"]),
        usages("bad billing_period", {
            let mut u = usage(json!(10));
            u[0]["billing_period"] = json!("last month");
            u
        })
        .refused(&["component_usages.json"]),
        // Settings stored from STOMP messages.
        Case::new("periodic", "periodic stored file cut", |f| {
            enable(f, |_| {});
            f.write(&format!("state/periodic/settings/{LATTICE}.json"), "{\"format\": 1, ");
        })
        .skipped(&["stored periodic settings cannot be read", "EOF"])
        .allow(POLICY_MANAGED),
        stored("format 99", set("format", json!(99)))
            .skipped(&["stored periodic settings cannot be read", "format 99"]),
        stored("of another resource", set("resource_uuid", json!("cc000000000000000000000000000004")))
            .skipped(&["holds resource cc000000000000000000000000000004"]),
        stored("fairshare negative", |s| s["settings"]["fairshare"] = json!(-1))
            .skipped(&["fairshare -1 is not a whole non-negative number"]),
        stored("fairshare huge", |s| s["settings"]["fairshare"] = json!(1e20))
            .skipped(&["fairshare 1e+20 is not a whole non-negative number"]),
        stored("limit -1", |s| s["settings"]["grp_tres_mins"]["cpu"] = json!(-1))
            .skipped(&["grp_tres_mins.cpu -1 is not"]),
        stored("limit huge", |s| s["settings"]["grp_tres_mins"]["cpu"] = json!(18446744073709551615u64))
            .skipped(&["grp_tres_mins.cpu 18446744073709551615 is not"]),
        stored("TRES name with a newline", |s| {
            s["settings"]["grp_tres_mins"] = json!({"cpu\nGrpTRES=cpu": 10})
        })
        .skipped(&["which is not a TRES name"]),
        stored("backend_id root", set("backend_id", json!("root")))
            .skipped(&["name account \"root\""])
            .forbid(&["account/root", "periodic/root"]),
        stored("settings not an object", |s| s["settings"] = json!("fairshare=1"))
            .skipped(&["settings is not an object"]),
        // The config block.
        config("enabled not a boolean", "        enabled: perhaps\n")
            .refused(&["periodic_limits.enabled", &limits_line]),
        config("limit_type unknown", "        enabled: true\n        limit_type: GrpJobs\n")
            .refused(&["periodic_limits.limit_type"]),
        config("emulator_base_url with a newline", "        enabled: true\n        emulator_mode: true\n        emulator_base_url: \"http://x/\\n\"\n")
            .refused(&["periodic_limits.emulator_base_url"]),
    ]
}
