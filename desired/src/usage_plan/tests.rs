use super::*;
use serde_json::json;

const RESOURCE: &str = "0123456789abcdef0123456789abcdef";
const DATE: &str = "2025-05-01T00:00:00+00:00";
const CPU_RECORD: &str = "11111111111111111111111111111111";
const MEM_RECORD: &str = "22222222222222222222222222222222";

fn a(s: &str) -> Amount {
    Amount::parse(s).unwrap()
}

fn amounts(pairs: &[(&str, &str)]) -> BTreeMap<String, Amount> {
    pairs.iter().map(|(k, v)| (k.to_string(), a(v))).collect()
}

fn stored(uuid: &str, t: &str, usage: &str) -> StoredUsage {
    StoredUsage {
        uuid: uuid.into(),
        component_type: t.into(),
        usage: a(usage),
    }
}

fn stored_user(parent: &str, user: &str, usage: &str) -> StoredUserUsage {
    StoredUserUsage {
        component_usage: parent.into(),
        username: user.into(),
        usage: a(usage),
    }
}

/// Owned inputs, borrowed by [`PeriodInput`].
struct World {
    waldur_components: Vec<String>,
    totals: BTreeMap<String, Amount>,
    users: BTreeMap<String, BTreeMap<String, Amount>>,
    offering_users: BTreeMap<String, String>,
    stored: Vec<StoredUsage>,
    stored_users: Vec<StoredUserUsage>,
    current_period: bool,
}

impl World {
    /// cpu and mem known to Waldur; gpu computed locally but not in the Waldur offering.
    fn new() -> Self {
        let mut users = BTreeMap::new();
        users.insert(
            "alice".to_string(),
            amounts(&[("cpu", "7.50"), ("mem", "1.00"), ("gpu", "1.00")]),
        );
        users.insert(
            "bob".to_string(),
            amounts(&[("cpu", "3.00"), ("mem", "0.00"), ("gpu", "0.00")]),
        );
        World {
            waldur_components: vec!["cpu".into(), "mem".into(), "storage".into()],
            totals: amounts(&[("cpu", "10.50"), ("mem", "1.00"), ("gpu", "1.00")]),
            users,
            offering_users: [(
                "alice".to_string(),
                "https://waldur.example.com/api/marketplace-offering-users/aa/".to_string(),
            )]
            .into_iter()
            .collect(),
            stored: Vec::new(),
            stored_users: Vec::new(),
            current_period: true,
        }
    }

    fn plan(&self) -> PeriodPlan {
        plan_period(&PeriodInput {
            resource_uuid: RESOURCE,
            date: DATE,
            current_period: self.current_period,
            waldur_components: &self.waldur_components,
            totals: &self.totals,
            users: &self.users,
            offering_users: &self.offering_users,
            stored: &self.stored,
            stored_users: &self.stored_users,
        })
    }

    /// What Waldur holds after `set_usage` (new records get fixed uuids).
    fn store_totals(&mut self) {
        self.stored = vec![
            stored(CPU_RECORD, "cpu", &self.totals["cpu"].to_string()),
            stored(MEM_RECORD, "mem", &self.totals["mem"].to_string()),
        ];
    }

    /// What Waldur holds after the planned `set_user_usages` calls.
    fn apply_user_posts(&mut self, plan: &PeriodPlan) {
        for post in &plan.user_usages {
            for item in post.body["usages"].as_array().unwrap() {
                let user = item["username"].as_str().unwrap();
                let usage = a(item["usage"].as_str().unwrap());
                self.stored_users
                    .retain(|r| !(r.component_usage == post.component_usage && r.username == user));
                self.stored_users.push(stored_user(
                    &post.component_usage,
                    user,
                    &usage.to_string(),
                ));
            }
        }
    }
}

#[test]
fn first_run_posts_totals_of_waldur_components_only() {
    let w = World::new();
    let plan = w.plan();
    assert_eq!(
        plan.set_usage,
        Some(json!({
            "usages": [
                {"type": "cpu", "amount": "10.50", "recurring": false},
                {"type": "mem", "amount": "1.00", "recurring": false},
            ],
            "resource": RESOURCE,
            "date": DATE,
        }))
    );
    assert!(plan.anomalies.is_empty());
    assert!(plan.user_usages.is_empty(), "no parent records yet");
}

#[test]
fn converges_in_two_plans_then_posts_nothing() {
    let mut w = World::new();
    w.plan();
    w.store_totals();

    let plan = w.plan();
    assert_eq!(plan.set_usage, None, "totals unchanged");
    assert_eq!(plan.user_usages.len(), 2);
    let cpu = &plan.user_usages[0];
    assert_eq!(
        (cpu.component_usage.as_str(), cpu.component_type.as_str()),
        (CPU_RECORD, "cpu")
    );
    assert_eq!(
        cpu.body,
        json!({"usages": [
            {"username": "alice", "usage": "7.50", "date": DATE,
             "user": "https://waldur.example.com/api/marketplace-offering-users/aa/"},
            {"username": "bob", "usage": "3.00", "date": DATE},
        ]})
    );
    // bob's mem is 0 and Waldur has no record of it: nothing to say.
    let mem = &plan.user_usages[1];
    assert_eq!(mem.component_usage, MEM_RECORD);
    assert_eq!(
        mem.body["usages"].as_array().unwrap().len(),
        1,
        "{}",
        mem.body
    );

    w.apply_user_posts(&plan);
    assert!(w.plan().is_empty(), "{:?}", w.plan());
}

#[test]
fn only_changed_users_are_posted_and_stale_ones_zeroed() {
    let mut w = World::new();
    w.store_totals();
    w.stored_users = vec![
        stored_user(CPU_RECORD, "alice", "7.50"),
        stored_user(CPU_RECORD, "bob", "2.00"),
        stored_user(CPU_RECORD, "carol", "1.25"),
        stored_user(MEM_RECORD, "alice", "1.00"),
        stored_user(MEM_RECORD, "bob", "0.00"),
    ];
    let plan = w.plan();
    assert_eq!(plan.set_usage, None);
    assert_eq!(plan.user_usages.len(), 1);
    assert_eq!(
        plan.user_usages[0].body,
        json!({"usages": [
            {"username": "bob", "usage": "3.00", "date": DATE},
            {"username": "carol", "usage": "0.00", "date": DATE},
        ]})
    );
}

#[test]
fn parent_uuids_match_in_dashed_form_and_from_urls() {
    let mut w = World::new();
    w.stored = vec![
        stored("11111111-1111-1111-1111-111111111111", "cpu", "10.50"),
        stored(MEM_RECORD, "mem", "1.00"),
    ];
    let url = format!("https://waldur.example.com/api/marketplace-component-usages/{CPU_RECORD}/");
    assert_eq!(uuid_from_url(&url), CPU_RECORD);
    w.stored_users = vec![
        stored_user(uuid_from_url(&url), "alice", "7.50"),
        stored_user(uuid_from_url(&url), "bob", "3.00"),
        stored_user(MEM_RECORD, "alice", "1.00"),
    ];
    assert!(w.plan().is_empty(), "{:?}", w.plan());
}

#[test]
fn a_changed_total_reposts_every_waldur_component() {
    let mut w = World::new();
    w.store_totals();
    w.totals.insert("cpu".into(), a("11.00"));
    let body = w.plan().set_usage.unwrap();
    assert_eq!(body["usages"].as_array().unwrap().len(), 2);
    assert_eq!(body["usages"][0]["amount"], "11.00");
    assert_eq!(body["usages"][1]["amount"], "1.00");
}

#[test]
fn records_of_components_not_sent_do_not_force_a_post() {
    let mut w = World::new();
    w.store_totals();
    w.stored.push(stored("33", "storage", "5.00"));
    assert_eq!(w.plan().set_usage, None);
}

#[test]
fn a_decrease_blocks_the_current_period_entirely() {
    let mut w = World::new();
    w.store_totals();
    w.totals.insert("cpu".into(), a("9.00"));
    let plan = w.plan();
    assert_eq!(plan.set_usage, None);
    assert!(plan.user_usages.is_empty());
    assert_eq!(
        plan.anomalies,
        vec![Anomaly::Decrease {
            component_type: "cpu".into(),
            stored: a("10.50"),
            new: a("9.00"),
        }]
    );
    assert_eq!(
        plan.anomalies[0].to_string(),
        "cpu: new usage 9.00 is lower than the 10.50 Waldur holds"
    );
}

#[test]
fn a_decrease_in_a_past_period_still_posts_per_user() {
    let mut w = World::new();
    w.current_period = false;
    w.store_totals();
    w.totals.insert("cpu".into(), a("9.00"));
    let plan = w.plan();
    assert_eq!(plan.set_usage, None);
    assert_eq!(plan.anomalies.len(), 1);
    assert_eq!(plan.user_usages.len(), 2);
}

#[test]
fn duplicate_records_are_an_anomaly() {
    let mut w = World::new();
    w.current_period = false;
    w.store_totals();
    w.stored.push(stored("dup", "cpu", "10.50"));
    let plan = w.plan();
    assert_eq!(plan.set_usage, None);
    assert_eq!(
        plan.anomalies,
        vec![Anomaly::Duplicate {
            component_type: "cpu".into(),
            uuids: vec![CPU_RECORD.into(), "dup".into()],
        }]
    );
    // Past period: per-user usage goes on, but not to an ambiguous cpu parent.
    let types: Vec<&str> = plan
        .user_usages
        .iter()
        .map(|p| p.component_type.as_str())
        .collect();
    assert_eq!(types, vec!["mem"]);

    w.current_period = true;
    assert!(w.plan().user_usages.is_empty());
}

#[test]
fn zero_usage_is_reported_as_zero() {
    // An account without jobs: every component 0.00, posted once, then unchanged.
    let mut w = World::new();
    w.totals = amounts(&[("cpu", "0"), ("mem", "0")]);
    w.users.clear();
    let body = w.plan().set_usage.unwrap();
    assert_eq!(body["usages"][0]["amount"], "0.00");
    w.store_totals();
    assert!(w.plan().is_empty());
}

#[test]
fn nothing_to_send_when_waldur_knows_no_computed_component() {
    let mut w = World::new();
    w.waldur_components = vec!["storage".into()];
    assert!(w.plan().is_empty());
}

#[test]
fn dashed_resource_uuid_is_sent_as_hex() {
    let w = World::new();
    let plan = plan_period(&PeriodInput {
        resource_uuid: "01234567-89ab-cdef-0123-456789abcdef",
        date: DATE,
        current_period: true,
        waldur_components: &w.waldur_components,
        totals: &w.totals,
        users: &w.users,
        offering_users: &w.offering_users,
        stored: &[],
        stored_users: &[],
    });
    assert_eq!(plan.set_usage.unwrap()["resource"], RESOURCE);
}
