//! Names from Waldur with everything that could be read as syntax somewhere (`;` `=` `,`
//! spaces, newlines, quotes, `..`, control characters, unicode, over-long), each put in
//! every place a name comes from. A name that reaches argv is refused with an error
//! naming the resource (which is skipped); free text is normalised, and escaped wherever
//! it is shown.

use serde_json::json;

use crate::case::Case;
use crate::fixture::{Fixture, LATTICE, NEW_ORDER};

/// (label, value)
fn bad_names() -> Vec<(&'static str, String)> {
    vec![
        ("with ;", "x;rm".into()),
        ("with =", "a=b".into()),
        ("with ,", "a,b".into()),
        ("with a space", "a b".into()),
        ("with a newline", "a\nrm -rf /".into()),
        ("with quotes", "a'b\"c".into()),
        ("..", "..".into()),
        ("a path", "../../etc".into()),
        ("with an escape sequence", "a\u{1b}[8mb".into()),
        ("with a bidi override", "a\u{202e}b".into()),
        ("in unicode", "jürgen".into()),
        ("over-long", "x".repeat(300)),
        ("with a backslash", "a\\b".into()),
        ("with a NUL", "a\0b".into()),
        ("with a pipe", "a|b".into()),
        ("blank", " ".into()),
    ]
}

type Site = (&'static str, fn(&str) -> Case);

/// Where a name comes from, and what must follow.
fn sites() -> Vec<Site> {
    vec![
        ("slug of a new allocation", |v| {
            let v = v.to_string();
            Case::new("names", "", move |f: &Fixture| {
                f.new_create(|r| r["slug"] = json!(v))
            })
            .skipped(&["invalid account name"])
            .allow(&[
                &format!("waldur/order/{NEW_ORDER}/approve_by_provider"),
                &format!("waldur/order/{NEW_ORDER}/set_state_erred"),
            ])
        }),
        ("team username", |v| {
            let v = v.to_string();
            Case::new("names", "", move |f: &Fixture| {
                f.member(LATTICE, |m| m["offering_user_username"] = json!(v))
            })
            .skipped(&["invalid user name"])
            // The member list is not the whole truth: nobody is removed on its grounds.
            .forbid(&["association/a_lattice-qcd/"])
        }),
        ("backend_id", |v| {
            let v = v.to_string();
            Case::new("names", "", move |f: &Fixture| {
                f.set(LATTICE, "backend_id", json!(v))
            })
            .skipped(&["invalid account name"])
        }),
        ("customer slug", |v| {
            let v = v.to_string();
            Case::new("names", "", move |f: &Fixture| {
                f.set(LATTICE, "customer_slug", json!(v))
            })
            .skipped(&["invalid account name"])
        }),
        ("project slug", |v| {
            let v = v.to_string();
            Case::new("names", "", move |f: &Fixture| {
                f.set(LATTICE, "project_slug", json!(v))
            })
            .skipped(&["invalid account name"])
        }),
        ("offering partition", |v| {
            let v = v.to_string();
            Case::new("names", "", move |f: &Fixture| {
                f.config(
                    "cluster_name: \"hpc1\"",
                    "cluster_name: \"hpc1\"\n      enforce_offering_partitions: true",
                );
                f.json("snap/waldur/offering.json", |o| {
                    o["partitions"] = json!([{"partition_name": v}])
                });
            })
            .skipped(&["invalid partition name"])
            .forbid(&["association/"])
        }),
        ("resource name (free text)", |v| {
            let v = v.to_string();
            Case::new("names", "", move |f: &Fixture| {
                f.set(LATTICE, "name", json!(v))
            })
            .accepted()
        }),
        ("project name (free text)", |v| {
            let v = v.to_string();
            Case::new("names", "", move |f: &Fixture| {
                f.set(LATTICE, "project_name", json!(v))
            })
            .accepted()
            .allow(&["account/p_physics"])
        }),
        ("customer name (free text)", |v| {
            let v = v.to_string();
            Case::new("names", "", move |f: &Fixture| {
                f.set(LATTICE, "customer_name", json!(v))
            })
            .accepted()
            .allow(&["account/c_uni-tartu"])
        }),
        ("diagnose argument", |v| {
            Case::new("names", "", |_: &Fixture| {})
                .accepted()
                .diagnose(v)
        }),
    ]
}

pub fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    for (site, make) in sites() {
        for (label, value) in bad_names() {
            if site == "diagnose argument" && value.contains('\0') {
                continue; // argv cannot carry a NUL
            }
            let mut case = make(&value);
            case.name = format!("{site} {label}");
            out.push(case);
        }
    }
    out
}
