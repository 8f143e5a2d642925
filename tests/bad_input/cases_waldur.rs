//! Waldur JSON: malformed and degraded documents fail the read naming the file; a
//! backend_id naming an account outside the tree is never written or deleted, and its
//! order is not completed.

use serde_json::json;

use crate::case::Case;
use crate::fixture::{Fixture, LATTICE, OLD_SIM};

const RESOURCES: &str = "snap/waldur/resources.json";
const ORDERS: &str = "snap/waldur/orders.json";
const LATTICE_TEAM: &str = "snap/waldur/teams/cc000000000000000000000000000001.json";
/// Without its Terminate order the Terminating resource is simply live: its QoS is
/// recorded in Waldur.
const KEEPS_OLD_SIM: &str = "waldur/resource/cc0000000000000000000000000000ff/set_backend_metadata";
const TERMINATE_DONE: &str = "waldur/order/dd000000000000000000000000000002/set_state_done";

fn doc(name: &str, edit: impl Fn(&Fixture) + Send + Sync + 'static) -> Case {
    Case::new("waldur", name, edit)
}

/// A live resource claiming an account that is not an allocation of the tree.
fn claims(account: &'static str, needle: &str) -> Case {
    doc(&format!("backend_id names {account}"), move |f| {
        f.foreign_account();
        f.set(LATTICE, "backend_id", json!(account))
    })
    .skipped(&[needle])
    .forbid(&[
        &format!("account/{account}"),
        &format!("association/{account}/"),
    ])
    .diagnose(account)
}

/// A Terminate order aimed at an account that is not an allocation of the tree.
fn terminates(account: &'static str) -> Case {
    doc(&format!("Terminate of {account}"), move |f| {
        f.foreign_account();
        f.terminate(account)
    })
    .skipped(&[&format!("account {account}")])
    .forbid(&[
        &format!("delete account/{account}"),
        &format!("association/{account}/"),
        TERMINATE_DONE,
    ])
    .diagnose(account)
}

pub fn cases() -> Vec<Case> {
    vec![
        doc("resources.json not JSON", |f| {
            f.write(RESOURCES, "<html>502</html>")
        })
        .refused(&["resources.json"]),
        doc("resources.json an object", |f| {
            f.write(RESOURCES, "{\"results\": []}")
        })
        .refused(&["resources.json"]),
        doc("resources.json cut in half", |f| {
            let text = f.read(RESOURCES);
            f.write(RESOURCES, &text[..text.len() / 2]);
        })
        .refused(&["resources.json", "EOF"]),
        doc("resources.json nested 10,000 deep", |f| {
            f.write(
                RESOURCES,
                &format!("{}{}", "[".repeat(10_000), "]".repeat(10_000)),
            )
        })
        .refused(&["resources.json"]),
        doc("resource without paused", |f| {
            f.resource(LATTICE, |r| {
                r.as_object_mut().unwrap().remove("paused");
            })
        })
        .refused(&["resources.json", "missing field `paused`"]),
        doc("resource without backend_id", |f| {
            f.resource(LATTICE, |r| {
                r.as_object_mut().unwrap().remove("backend_id");
            })
        })
        .refused(&["resources.json", "missing field `backend_id`"]),
        doc("limits null", |f| f.set(LATTICE, "limits", json!(null))).refused(&["resources.json"]),
        doc("restrict_member_access a string", |f| {
            f.set(LATTICE, "restrict_member_access", json!("yes"))
        })
        .refused(&["resources.json"]),
        doc("team member without offering_user_state", |f| {
            f.member(LATTICE, |m| {
                m.as_object_mut().unwrap().remove("offering_user_state");
            })
        })
        .refused(&[
            "cc000000000000000000000000000001.json",
            "missing field `offering_user_state`",
        ]),
        doc("team member without offering_user_username", |f| {
            f.member(LATTICE, |m| {
                m.as_object_mut().unwrap().remove("offering_user_username");
            })
        })
        .refused(&[
            "cc000000000000000000000000000001.json",
            "missing field `offering_user_username`",
        ]),
        // Whether this member belongs in SLURM is unknown: nobody leaves the account.
        doc("team member in an unknown offering user state", |f| {
            f.member(LATTICE, |m| m["offering_user_state"] = json!("Approved"))
        })
        .skipped(&["offering user state \"Approved\" is not one Waldur has"])
        .forbid(&["association/a_lattice-qcd/"]),
        doc("team an object", |f| f.write(LATTICE_TEAM, "{}"))
            .refused(&["cc000000000000000000000000000001.json"]),
        doc("team member a string", |f| {
            f.write(LATTICE_TEAM, "[\"alice\"]")
        })
        .refused(&["cc000000000000000000000000000001.json"]),
        doc("team empty", |f| f.write(LATTICE_TEAM, "[]"))
            .skipped(&["Waldur lists no team members for resource \"Lattice QCD\""])
            .forbid(&["association/a_lattice-qcd/"]),
        doc("team file missing", |f| {
            std::fs::remove_file(f.path(LATTICE_TEAM)).unwrap()
        })
        .skipped(&["Waldur lists no team members for resource \"Lattice QCD\""])
        .forbid(&["association/a_lattice-qcd/"]),
        doc("orders.json cut in half", |f| {
            let text = f.read(ORDERS);
            f.write(ORDERS, &text[..text.len() / 2]);
        })
        .refused(&["orders.json"]),
        doc("order of unknown type", |f| {
            f.order("dd000000000000000000000000000002", |o| {
                o["type"] = json!("Obliterate")
            })
        })
        .skipped(&["unknown type \"Obliterate\""])
        .forbid(&["account/a_old-sim", TERMINATE_DONE])
        .allow(&[KEEPS_OLD_SIM]),
        doc("order in an unknown state", |f| {
            f.order("dd000000000000000000000000000002", |o| {
                o["state"] = json!("whatever")
            })
        })
        .accepted()
        .forbid(&["account/a_old-sim", TERMINATE_DONE])
        .allow(&[KEEPS_OLD_SIM]),
        doc("order for a resource not listed", |f| {
            f.order("dd000000000000000000000000000002", |o| {
                o["marketplace_resource_uuid"] = json!("cc0000000000000000000000000000ee")
            })
        })
        .skipped(&["which Waldur did not list"])
        .forbid(&["account/a_old-sim", TERMINATE_DONE])
        .allow(&[KEEPS_OLD_SIM]),
        doc("offering components not a list", |f| {
            f.json("snap/waldur/offering.json", |o| {
                o["components"] = json!("cpu")
            })
        })
        .refused(&["offering.json"]),
        doc("resource in an unknown state", |f| {
            f.set(LATTICE, "state", json!("Hacked"))
        })
        .skipped(&["has state \"Hacked\", which Waldur does not have"])
        .forbid(&["association/a_lattice-qcd/", "account/a_lattice-qcd"]),
        doc("no resources at all", |f| f.write(RESOURCES, "[]"))
            .skipped(&["which Waldur did not list"])
            .forbid(&["account/a_old-sim", "association/"]),
        doc("project_slug null", |f| {
            f.set(LATTICE, "project_slug", json!(null))
        })
        .skipped(&["missing slug fields"]),
        doc("two resources, one backend_id", |f| {
            f.set(
                "cc000000000000000000000000000002",
                "backend_id",
                json!("a_lattice-qcd"),
            )
        })
        .skipped(&["a_lattice-qcd"])
        .forbid(&[
            "account/a_lattice-qcd",
            "association/a_lattice-qcd/",
            "account/a_detector-sim",
        ]),
        doc("one resource listed twice", |f| {
            f.json(RESOURCES, |v| {
                let mut twin = v[0].clone();
                twin["backend_id"] = json!("a_sequencing");
                v.as_array_mut().unwrap().push(twin);
            })
        })
        .refused(&["resource cc000000000000000000000000000001 is listed twice"]),
        doc("a resource of another offering", |f| {
            f.set(
                LATTICE,
                "offering_uuid",
                json!("ffffffff-ffff-ffff-ffff-ffffffffffff"),
            )
        })
        .refused(&["is of offering ffffffffffffffffffffffffffffffff"]),
        doc("resource offering_uuid junk", |f| {
            f.set(LATTICE, "offering_uuid", json!("../offering"))
        })
        .refused(&["resources.json", "is not a UUID"]),
        doc("one order listed twice", |f| {
            f.json(ORDERS, |v| {
                let twin = v[1].clone();
                v.as_array_mut().unwrap().push(twin);
            })
        })
        .refused(&["order dd000000000000000000000000000002 is listed twice"]),
        doc("offering document of another offering", |f| {
            f.json("snap/waldur/offering.json", |o| {
                o["uuid"] = json!("d629d5e45567425da9cdbdc1af67b32d")
            })
        })
        .refused(&[
            "is offering d629d5e45567425da9cdbdc1af67b32d, not d629d5e45567425da9cdbdc1af67b32c",
        ]),
        claims("root", "account root is not the agent's to change"),
        claims("ext_lab", "account ext_lab is not the agent's to change"),
        claims(
            "p_genomics",
            "account p_genomics is not the agent's to change",
        ),
        claims(
            "c_uni-tartu",
            "would coincide with its project/customer account",
        ),
        terminates("root"),
        terminates("ext_lab"),
        terminates("p_physics"),
        terminates("c_uni-tartu"),
        doc("Terminate of a live allocation", |f| {
            f.terminate("a_lattice-qcd")
        })
        .skipped(&["a_lattice-qcd"])
        .forbid(&[
            "delete account/a_lattice-qcd",
            "association/a_lattice-qcd/",
            TERMINATE_DONE,
        ]),
        doc("Create order whose resource names root", |f| {
            f.set(
                "cc000000000000000000000000000005",
                "backend_id",
                json!("root"),
            )
        })
        .skipped(&["account root is not the agent's to change"])
        .forbid(&[
            "account/root",
            "association/root/",
            "waldur/order/dd000000000000000000000000000001/set_state_done",
            "waldur/resource/cc000000000000000000000000000005/",
        ]),
        doc("backend_id in upper case", |f| {
            f.set(LATTICE, "backend_id", json!("A_Lattice-QCD"))
        })
        .accepted(),
        doc("Terminate with the resource already gone", |f| {
            f.set(OLD_SIM, "backend_id", json!("a_gone"))
        })
        .accepted()
        .allow(&[TERMINATE_DONE]),
    ]
}
