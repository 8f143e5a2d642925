use super::*;
use proptest::prelude::*;

fn outputs(assoc: &str, accounts: &str) -> RawOutputs {
    RawOutputs {
        associations: ("associations.txt".into(), assoc.into()),
        accounts: ("accounts.txt".into(), accounts.into()),
        users: ("users.txt".into(), "alice|a_alloc\n".into()),
        qos: ("qos.txt".into(), "normal\nlow\n".into()),
        tres: ("tres.txt".into(), "cpu|\nmem|\ngres|gpu\n".into()),
    }
}

// Recorded from SLURM 22.05 (show association WOPLimits WithRawQOSLevel format=...).
const ASSOC: &str = "\
testcluster|root||||1|normal|||||
testcluster|root|bob|debug||parent||||||
testcluster|root|root|||1||||||
testcluster|c_org|||root|1||||||
testcluster|a_alloc|||c_org|5|low,normal|||||5
testcluster|a_alloc|bob|debug||parent||||||
testcluster|a_alloc|alice|||parent||||cpu=100||
testcluster|p_proj|||c_org|10|normal||cpu=600000,mem=600G|||
";
const ACCOUNTS: &str = "a_alloc|p_proj|alloc\nc_org|mixedcase org|my `big` org\np_proj|c_org|proj\nroot|root|default root account\n";

#[test]
fn parses_a_real_dump() {
    let o = observed(&outputs(ASSOC, ACCOUNTS), Some("testcluster")).unwrap();
    assert_eq!(o.accounts.len(), 4);
    let p = &o.accounts["p_proj"];
    assert_eq!(p.parent.as_deref(), Some("c_org"));
    assert_eq!(p.fairshare, Shares::Value(10));
    assert_eq!(p.grp_tres_mins["mem"], 614_400);
    assert_eq!(o.accounts["a_alloc"].grp_submit_jobs, Some(5));
    assert_eq!(o.accounts["a_alloc"].fairshare, Shares::Value(5));
    assert_eq!(o.accounts["a_alloc"].qos.len(), 2);
    assert_eq!(o.accounts["c_org"].description, "my `big` org");
    assert_eq!(o.associations.len(), 4);
    let bob = &o.associations[&AssocKey::new("a_alloc", "bob", "debug")];
    assert_eq!(bob.fairshare, Shares::Parent);
    assert!(o.tres.contains("gres/gpu"));
}

#[test]
fn a_short_row_names_source_and_line() {
    let bad = ASSOC.replace(
        "testcluster|c_org|||root|1||||||",
        "testcluster|c_org|root|1",
    );
    let err = observed(&outputs(&bad, ACCOUNTS), None).unwrap_err();
    assert_eq!(err.source_name, "associations.txt");
    assert_eq!(err.line, 4);
    assert!(err.message.contains("expected 12 columns"), "{err}");
}

#[test]
fn bad_tres_value_is_an_error() {
    let bad = ASSOC.replace("cpu=600000", "cpu=lots");
    let err = observed(&outputs(&bad, ACCOUNTS), None).unwrap_err();
    assert_eq!(err.line, 8);
    assert!(err.message.contains("GrpTRESMins"), "{err}");
}

#[test]
fn descriptions_with_newlines_and_pipes_are_rejoined() {
    let accounts = "a_alloc|p_proj|first line\nsecond line\nc_org|org|a|b\n";
    let o = observed(&outputs(ASSOC, accounts), None).unwrap();
    assert_eq!(o.accounts["a_alloc"].description, "first line\nsecond line");
    assert_eq!(o.accounts["c_org"].description, "a|b");
}

#[test]
fn several_clusters_need_cluster_name() {
    let two = format!("{ASSOC}other|root||||1|normal|||||\n");
    assert!(observed(&outputs(&two, ACCOUNTS), None).is_err());
    let o = observed(&outputs(&two, ACCOUNTS), Some("other")).unwrap();
    assert_eq!(o.accounts.len(), 1);
}

fn name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_-]{0,8}"
}

fn tres_map() -> impl Strategy<Value = TresMap> {
    proptest::collection::btree_map(
        prop_oneof![
            Just("cpu".to_string()),
            Just("mem".to_string()),
            Just("gres/gpu".to_string())
        ],
        0u64..10_000_000,
        0..3,
    )
}

prop_compose! {
    fn account()(parent in name(), org in name(), desc in "[a-z ]{0,12}", share in 1u32..1000,
                 qos in proptest::collection::btree_set(name(), 0..3), grp in tres_map(), max in tres_map(),
                 gsj in proptest::option::of(0u64..100)) -> AccountValues {
        AccountValues { parent: Some(parent), description: desc, organization: org, fairshare: Shares::Value(share),
            qos, default_qos: None, grp_tres_mins: grp, max_tres_mins: max, grp_tres: TresMap::new(), grp_submit_jobs: gsj }
    }
}

proptest! {
    /// parse(render(x)) == x for the -P format.
    #[test]
    fn render_then_parse_round_trips(accounts in proptest::collection::btree_map(name(), account(), 0..6),
                                      users in proptest::collection::btree_map(name(), name(), 0..4),
                                      limits in tres_map()) {
        let mut state = Observed { cluster: "c1".into(), accounts, users, ..Observed::default() };
        state.qos = ["normal".to_string()].into();
        state.tres = ["cpu".to_string(), "mem".to_string(), "gres/gpu".to_string()].into();
        if let Some(acct) = state.accounts.keys().next().cloned() {
            state.associations.insert(AssocKey::new(&acct, "u1", ""), ObservedAssoc {
                fairshare: Shares::Parent, qos: Default::default(), default_qos: None, max_tres_mins: limits });
        }
        let parsed = observed(&render(&state), Some("c1")).unwrap();
        prop_assert_eq!(parsed, state);
    }
}
