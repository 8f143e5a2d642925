//! One new order on a synced site: a Create order appears in the fake Waldur and one
//! `agent reconcile` takes it to `done` (approved, account and its users created,
//! `backend_id` set). The floor is the converged plan of the same site: a cycle cannot be
//! cheaper than the one observe and plan it starts with.

use anyhow::{ensure, Result};
use serde_json::json;

use crate::args::Args;
use crate::output::say;
use crate::row::Row;
use crate::site::Site;
use crate::world::OFFERING;

pub fn new_order(args: &Args, site: &Site, plan: &Row) -> Result<Row> {
    let w = &site.world;
    let n = w.allocations;
    let mut row = Row::new(
        &format!("new_order_n{n}"),
        &site.label("new Create order to done (one reconcile)"),
    );
    row.n = n;
    row.floors = plan.walls.clone();
    row.floor_what = "converged plan (one observe + plan)".into();
    for i in 0..args.runs.max(1) {
        let (order, resource) = site.create_order(json!({
            "type": "Create", "offering": OFFERING, "project": w.project_uuid(0),
            "name": format!("New order {i}"), "limits": {"cpu": 5}
        }))?;
        let run = site.agent_expect(&["reconcile"], 0)?;
        let (state, account) = site.order_outcome(&order);
        ensure!(
            state == "done" && !account.is_empty(),
            "one reconcile left the new order {state:?} (backend_id {account:?}):\n{}",
            run.output()
        );
        row.add(&run);
        site.retire(&resource, &account)?;
    }
    site.converged()?;
    row.note = format!(
        "{} users on the new account; order created through the fake's control API, state checked there",
        w.users_per_project
    );
    say(&format!(
        "  new order: {:.1} ms to done (converged plan {:.1} ms)",
        row.wall() * 1e3,
        plan.wall() * 1e3
    ));
    Ok(row)
}
