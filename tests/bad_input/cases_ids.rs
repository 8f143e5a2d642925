//! Identifiers and limits from Waldur. A UUID that is not 32 hex digits fails the read
//! naming the file (it would reach request paths, snapshot paths and the script); a limit
//! that is negative, not a number or implausibly large is an error for that resource,
//! whose limits in SLURM stay, and whose order is erred rather than done.

use serde_json::{json, Value};

use crate::case::Case;
use crate::fixture::{Fixture, LATTICE};

const CREATE: &str = "dd000000000000000000000000000001";
const UPDATE: &str = "dd000000000000000000000000000007";

fn id(name: &str, edit: impl Fn(&Fixture) + Send + Sync + 'static) -> Case {
    Case::new("ids", name, edit)
}

fn resource_uuid(label: &str, uuid: &'static str) -> Case {
    id(&format!("resource UUID {label}"), move |f| {
        f.set(LATTICE, "uuid", json!(uuid))
    })
    .refused(&["resources.json", "is not a UUID"])
}

/// cc..01's cpu limit set to `value`: an error for that resource, and no cap lifted.
fn limit(label: &str, value: Value) -> Case {
    Case::new("limits", format!("limit {label}"), move |f: &Fixture| {
        f.resource(LATTICE, |r| r["limits"]["cpu"] = value.clone())
    })
    .skipped(&[
        "resource \"Lattice QCD\" (cc000000000000000000000000000001)",
        "its limits in SLURM are left as they are",
    ])
}

/// An Update order for cc..01 asking for `limits`: erred, limits kept.
fn update(label: &str, limits: Value) -> Case {
    Case::new(
        "limits",
        format!("Update order {label}"),
        move |f: &Fixture| {
            f.set(LATTICE, "state", json!("Updating"));
            f.json("snap/waldur/orders.json", |v| {
                v.as_array_mut().unwrap().push(json!({
                    "uuid": UPDATE, "type": "Update", "state": "executing",
                    "marketplace_resource_uuid": LATTICE, "limits": limits.clone()
                }))
            });
        },
    )
    .skipped(&["its limits in SLURM are left as they are"])
    .allow(&[&format!("waldur/order/{UPDATE}/set_state_erred")])
    .forbid(&[&format!("waldur/order/{UPDATE}/set_state_done")])
}

pub fn cases() -> Vec<Case> {
    vec![
        resource_uuid(
            "with a newline",
            "cc000000000000000000000000000001\nrm -rf /",
        ),
        resource_uuid("a path", "../../../../etc/passwd"),
        resource_uuid("too short", "cc0000000000000000000000000001"),
        resource_uuid("too long", "cc00000000000000000000000000000001"),
        resource_uuid("not hex", "zz000000000000000000000000000001"),
        resource_uuid(
            "with dashes misplaced",
            "cc00000-00000-0000-0000-0000000000001",
        ),
        resource_uuid(
            "with unicode digits",
            "cc00000000000000000000000000000\u{661}",
        ),
        resource_uuid("with a NUL", "cc00000000000000000000000000000\0"),
        resource_uuid(
            "with an escape sequence",
            "\u{1b}[8m000000000000000000000000000001",
        ),
        id("resource UUID a number", |f| {
            f.set(LATTICE, "uuid", json!(1))
        })
        .refused(&["resources.json"]),
        id("resource UUID in upper case", |f| {
            f.set(LATTICE, "uuid", json!("CC000000000000000000000000000001"))
        })
        .accepted(),
        id("resource UUID dashed", |f| {
            f.set(
                LATTICE,
                "uuid",
                json!("cc000000-0000-0000-0000-000000000001"),
            )
        })
        .accepted(),
        id("project UUID junk", |f| {
            f.set(LATTICE, "project_uuid", json!("project; DROP TABLE"))
        })
        .refused(&["resources.json", "is not a UUID"]),
        id("order UUID with a newline", |f| {
            f.order(CREATE, |o| {
                o["uuid"] = json!("dd00\n/usr/bin/sacctmgr -i remove account root")
            })
        })
        .refused(&["orders.json", "is not a UUID"]),
        id("order resource UUID a path", |f| {
            f.order(CREATE, |o| {
                o["marketplace_resource_uuid"] = json!("../orders")
            })
        })
        .refused(&["orders.json", "is not a UUID"]),
        id("offering UUID junk", |f| {
            f.json("snap/waldur/offering.json", |o| o["uuid"] = json!("x/../y"))
        })
        .refused(&["offering.json", "is not a UUID"]),
        limit("negative", json!(-1)),
        limit("not a number", json!("abc")),
        limit("huge", json!(1e20)),
        limit("NaN", json!("NaN")),
        limit("infinite", json!("inf")),
        limit("overflowing", json!("1e400")),
        limit("true", json!(true)),
        limit("an object", json!({"amount": 5})),
        limit("hex", json!("0x10")),
        limit("just over 2^53 TRES-minutes", json!(150_119_987_580_u64)),
        Case::new("limits", "limit null", |f: &Fixture| {
            f.resource(LATTICE, |r| r["limits"]["cpu"] = json!(null))
        })
        .skipped(&["resource \"Lattice QCD\" (cc000000000000000000000000000001)"]),
        Case::new("limits", "limit fractional", |f: &Fixture| {
            f.resource(LATTICE, |r| r["limits"]["cpu"] = json!(1.5))
        })
        .accepted(),
        Case::new("limits", "limit a padded string", |f: &Fixture| {
            f.resource(LATTICE, |r| r["limits"]["cpu"] = json!(" 200 "))
        })
        .accepted(),
        Case::new("limits", "limit -0", |f: &Fixture| {
            f.resource(LATTICE, |r| r["limits"]["cpu"] = json!(-0.0))
        })
        .accepted(),
        Case::new(
            "limits",
            "GPU limit huge through unit_factor",
            |f: &Fixture| f.resource(LATTICE, |r| r["limits"]["gres/gpu"] = json!(1e15)),
        )
        .skipped(&["its limits in SLURM are left as they are"]),
        Case::new("limits", "unknown component with =", |f: &Fixture| {
            f.resource(LATTICE, |r| r["limits"]["x=y,cpu"] = json!(5))
        })
        .accepted(),
        // A limit component Waldur's limits leave out keeps SLURM's cap (never -1).
        Case::new("limits", "limit component missing", |f: &Fixture| {
            f.resource(LATTICE, |r| {
                r["limits"].as_object_mut().unwrap().remove("cpu");
            })
        })
        .accepted(),
        Case::new(
            "limits",
            "limits naming only an unknown component",
            |f: &Fixture| f.resource(LATTICE, |r| r["limits"] = json!({"xyz": 5})),
        )
        .accepted(),
        Case::new(
            "limits",
            "Update order naming one component",
            |f: &Fixture| {
                f.set(LATTICE, "state", json!("Updating"));
                f.json("snap/waldur/orders.json", |v| {
                    v.as_array_mut().unwrap().push(json!({
                        "uuid": UPDATE, "type": "Update", "state": "executing",
                        "marketplace_resource_uuid": LATTICE, "limits": {"cpu": 300}
                    }))
                });
            },
        )
        .accepted()
        .allow(&[&format!("waldur/order/{UPDATE}/")]),
        update("negative", json!({"cpu": -5})),
        update("not a number", json!({"cpu": "lots"})),
        update("huge", json!({"cpu": 1e30})),
        Case::new("limits", "Create order with a huge limit", |f: &Fixture| {
            f.resource("cc000000000000000000000000000005", |r| {
                r["limits"]["cpu"] = json!(1e30)
            })
        })
        .skipped(&["Post-quantum KEM"])
        .allow(&[&format!("waldur/order/{CREATE}/set_state_erred")])
        .forbid(&[
            "account/a_pq-kem",
            "association/a_pq-kem/",
            &format!("waldur/order/{CREATE}/set_state_done"),
        ]),
        Case::new("limits", "per-user limit negative", |f: &Fixture| {
            f.write(
                &format!("snap/waldur/user_limits/{LATTICE}.json"),
                r#"[{"user": "alice", "component_type": "cpu", "limit": -3}]"#,
            )
        })
        .skipped(&["per-user"])
        .forbid(&["association/a_lattice-qcd/alice"]),
    ]
}
