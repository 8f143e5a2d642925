//! The storage pass: homes, home quotas of each provider, project directories and their
//! Lustre quotas, planned from lookups, and empty again after a simulated apply.

use agent_reconcile::plan::{Action, Severity};
use agent_reconcile::render;
use agent_reconcile::state::*;
use agent_reconcile::storage::*;
use agent_reconcile::testkit::{self, account, dir, home, member, passwd, reason};
use agent_reconcile::{plan, simulate, Desired, Observed, Plan};

/// root -> proj -> a_x in both, ann a member of a_x (association to be made), `/home`
/// a root-owned base.
fn world() -> (Desired, Observed) {
    let mut d = Desired::default();
    d.anchors.insert("root".into());
    let proj = account("proj", Tier::Project, "root", "proj");
    let alloc = account("a_x", Tier::Allocation, "proj", "x");
    let mut o = testkit::cluster("c1", &["cpu"], &[]);
    o.accounts.insert("proj".into(), testkit::written(&proj));
    o.accounts.insert("a_x".into(), testkit::written(&alloc));
    d.add_account(proj);
    d.add_account(alloc);
    d.associations
        .insert(AssocKey::new("a_x", "ann", ""), member("a_x", "ann"));
    d.storage
        .homes
        .insert("ann".into(), home("ann", &["a_x"], Some("/home")));
    o.storage.paths.insert("/home".into(), dir(0, 0, 0o755));
    o.storage
        .users
        .insert("ann".into(), passwd(1001, "/home/ann"));
    (d, o)
}

fn addresses(p: &Plan) -> Vec<String> {
    p.changes.iter().map(|c| c.address.to_string()).collect()
}

fn codes(p: &Plan, severity: Severity) -> Vec<String> {
    p.diagnostics
        .iter()
        .filter(|d| d.severity == severity)
        .map(|d| d.code.clone())
        .collect()
}

/// Applies the plan in memory and plans again: nothing may be left.
fn converges(d: &Desired, o: &Observed) -> Plan {
    let p = plan(d, o, &testkit::context("c1"));
    let after = simulate::apply(o, &p);
    let again = plan(d, &after, &testkit::context("c1"));
    assert!(
        again.is_empty(),
        "left after apply:\n{}",
        render::text(&again)
    );
    p
}

#[test]
fn a_new_members_home_is_made_after_the_association() {
    let (d, mut o) = world();
    o.storage.paths.insert("/home/ann".into(), Lookup::Missing);
    let p = converges(&d, &o);
    assert_eq!(addresses(&p), ["association/a_x/ann", "directory/home/ann"]);
    let h = &p.changes[1];
    assert_eq!(h.action, Action::Create);
    assert_eq!(h.depends_on[0].to_string(), "association/a_x/ann");
    assert_eq!(
        render::command_line(&h.commands[0]),
        "/sbin/mkhomedir_helper ann 0077 /etc/skel"
    );
    let mode = h.fields.iter().find(|f| f.field == "mode").unwrap();
    assert_eq!(mode.after.as_deref(), Some("0700"));
    assert!(h.reasons[0].text.contains("associated with a_x"));
}

#[test]
fn an_existing_home_is_never_touched() {
    let (d, mut o) = world();
    // Someone else's owner and mode: still theirs.
    o.storage.paths.insert("/home/ann".into(), dir(0, 0, 0o777));
    let p = plan(&d, &o, &testkit::context("c1"));
    assert_eq!(addresses(&p), ["association/a_x/ann"]);
}

#[test]
fn no_linux_user_no_system_account_no_guess() {
    let (mut d, mut o) = world();
    o.storage.users.insert("ann".into(), Lookup::Missing);
    d.storage
        .homes
        .insert("lp".into(), home("lp", &["a_x"], None));
    o.storage
        .users
        .insert("lp".into(), passwd(7, "/var/spool/lpd"));
    d.storage
        .homes
        .insert("bob".into(), home("bob", &["a_x"], Some("/home")));
    o.storage
        .users
        .insert("bob".into(), Lookup::Failed("getent: exit 1".into()));
    let p = plan(&d, &o, &testkit::context("c1"));
    assert_eq!(addresses(&p), ["association/a_x/ann"]);
    assert_eq!(
        codes(&p, Severity::Warning),
        ["linux_user_missing", "system_account"]
    );
    assert_eq!(codes(&p, Severity::Error), ["storage_read_failed"]);
}

#[test]
fn symlinked_homes_traversal_and_homes_outside_the_base_are_refused() {
    for (home_path, state, code) in [
        (
            "/home/ann",
            Lookup::Found(PathState {
                kind: FileKind::Symlink,
                uid: 1001,
                gid: 1001,
                mode: 0o777,
            }),
            "home_not_a_directory",
        ),
        ("/home/../etc", Lookup::Missing, "unsafe_home_path"),
        ("/srv/ann", Lookup::Missing, "unsafe_home_path"),
        ("/home/ann x", Lookup::Missing, "unsafe_home_path"),
    ] {
        let (mut d, mut o) = world();
        d.storage.homes.get_mut("ann").unwrap().quota = Some(QuotaSpec {
            provider: Provider::CephXattr,
            limits: QuotaValues::from([(QuotaField::MaxFiles, 10)]),
        });
        o.storage
            .users
            .insert("ann".into(), passwd(1001, home_path));
        o.storage.paths.insert(home_path.into(), state);
        let p = plan(&d, &o, &testkit::context("c1"));
        assert_eq!(addresses(&p), ["association/a_x/ann"], "{home_path}");
        assert_eq!(codes(&p, Severity::Error), [code], "{home_path}");
    }
}

#[test]
fn a_base_others_can_write_or_not_owned_by_root_is_refused() {
    for base in [dir(0, 0, 0o777), dir(1001, 0, 0o755), Lookup::Missing] {
        let (d, mut o) = world();
        o.storage.paths.insert("/home".into(), base);
        o.storage.paths.insert("/home/ann".into(), Lookup::Missing);
        let p = plan(&d, &o, &testkit::context("c1"));
        assert_eq!(addresses(&p), ["association/a_x/ann"]);
        assert_eq!(codes(&p, Severity::Error), ["storage_base_unusable"]);
    }
}

#[test]
fn storage_not_read_plans_nothing_for_it() {
    let (d, mut o) = world();
    o.storage = StorageObserved::unread("the snapshot has no storage/ directory");
    let p = plan(&d, &o, &testkit::context("c1"));
    assert_eq!(addresses(&p), ["association/a_x/ann"]);
    assert_eq!(codes(&p, Severity::Info), ["storage_not_observed"]);
}

fn with_quota(provider: Provider, limits: &[(QuotaField, u64)]) -> (Desired, Observed) {
    let (mut d, mut o) = world();
    d.storage.homes.get_mut("ann").unwrap().quota = Some(QuotaSpec {
        provider,
        limits: limits.iter().copied().collect(),
    });
    o.storage
        .paths
        .insert("/home/ann".into(), dir(1001, 1001, 0o700));
    (d, o)
}

#[test]
fn ceph_quota_of_a_new_home_follows_it_and_only_differing_attributes_are_written() {
    let limits = [
        (QuotaField::MaxBytes, 100 << 30),
        (QuotaField::MaxFiles, 10_000),
    ];
    let (d, mut o) = with_quota(Provider::CephXattr, &limits);
    o.storage.paths.insert("/home/ann".into(), Lookup::Missing);
    let p = converges(&d, &o);
    let q = p.changes.last().unwrap();
    assert_eq!(q.address.to_string(), "quota/home/ann");
    assert_eq!(q.depends_on[0].to_string(), "directory/home/ann");
    let lines: Vec<String> = q.commands.iter().map(render::command_line).collect();
    assert_eq!(
        lines,
        [
            "setfattr -h -n ceph.quota.max_bytes -v 107374182400 /home/ann",
            "setfattr -h -n ceph.quota.max_files -v 10000 /home/ann"
        ]
    );
    // An existing home with the bytes right and the files wrong: one attribute.
    let (d, mut o) = with_quota(Provider::CephXattr, &limits);
    o.storage.quotas.insert(
        QuotaTarget::Directory("/home/ann".into()),
        Lookup::Found(QuotaValues::from([
            (QuotaField::MaxBytes, 100 << 30),
            (QuotaField::MaxFiles, 5),
        ])),
    );
    let p = converges(&d, &o);
    let q = p.changes.last().unwrap();
    assert_eq!(q.action, Action::Update);
    assert_eq!(q.commands.len(), 1);
    assert_eq!(q.fields[0].before.as_deref(), Some("5"));
    assert_eq!(q.reasons[0].code, "drift");
}

#[test]
fn xfs_and_lustre_quotas_are_written_by_uid_in_their_units() {
    let limits = [
        (QuotaField::BlockSoft, 900 << 20),
        (QuotaField::BlockHard, 1 << 30),
        (QuotaField::InodeSoft, 90_000),
        (QuotaField::InodeHard, 100_000),
    ];
    let xfs = Provider::Xfs {
        mount_point: "/home".into(),
    };
    let (d, mut o) = with_quota(xfs.clone(), &limits);
    o.storage.quotas.insert(
        QuotaTarget::User {
            provider: xfs,
            uid: 1001,
        },
        Lookup::Found(QuotaValues::from([(QuotaField::BlockSoft, 900 << 20)])),
    );
    let p = converges(&d, &o);
    assert_eq!(
        render::command_line(&p.changes.last().unwrap().commands[0]),
        "xfs_quota -x -c 'limit -u bhard=1t isoft=90000 ihard=100000 1001' /home"
    );
    let lustre = Provider::Lustre {
        mount_point: "/lustre".into(),
    };
    let (d, mut o) = with_quota(lustre.clone(), &limits);
    o.storage.quotas.insert(
        QuotaTarget::User {
            provider: lustre,
            uid: 1001,
        },
        Lookup::Found(QuotaValues::new()),
    );
    let p = converges(&d, &o);
    let q = p.changes.last().unwrap();
    assert_eq!(q.action, Action::Create);
    assert_eq!(
        render::command_line(&q.commands[0]),
        "lfs setquota -u 1001 -b 943718400 -B 1073741824 -i 90000 -I 100000 /lustre"
    );
    let shown: Vec<_> = q.fields.iter().map(|f| f.after.clone().unwrap()).collect();
    assert_eq!(shown, ["900g", "1t", "90000", "100000"]);
}

#[test]
fn a_quota_that_could_not_be_read_is_not_written() {
    let xfs = Provider::Xfs {
        mount_point: "/home".into(),
    };
    let (d, mut o) = with_quota(xfs.clone(), &[(QuotaField::InodeHard, 5)]);
    o.storage.quotas.insert(
        QuotaTarget::User {
            provider: xfs,
            uid: 1001,
        },
        Lookup::Failed("xfs_quota printed no rows".into()),
    );
    let p = plan(&d, &o, &testkit::context("c1"));
    assert_eq!(addresses(&p), ["association/a_x/ann"]);
    assert_eq!(codes(&p, Severity::Error), ["storage_read_failed"]);
}

fn project(quota: bool) -> ProjectDirSpec {
    ProjectDirSpec {
        account: "a_x".into(),
        base: "/proj".into(),
        owner: "nobody".into(),
        group: "a_x".into(),
        mode: 0o2770,
        acl: true,
        quota: quota.then(|| ProjectQuotaSpec {
            mount_point: "/lustre".into(),
            limits: QuotaValues::from([(QuotaField::BlockHard, 1 << 30)]),
        }),
        reason: reason(),
    }
}

fn project_world(quota: bool) -> (Desired, Observed) {
    let (mut d, mut o) = world();
    d.storage.homes.clear();
    d.storage.projects.insert("a_x".into(), project(quota));
    o.storage.paths.insert("/proj".into(), dir(0, 0, 0o755));
    o.storage
        .users
        .insert("nobody".into(), passwd(65534, "/nonexistent"));
    o.storage.groups.insert("a_x".into(), Lookup::Found(2001));
    o.storage.quotas.insert(
        QuotaTarget::Project {
            mount_point: "/lustre".into(),
            id: 2001,
        },
        Lookup::Found(QuotaValues::new()),
    );
    (d, o)
}

#[test]
fn a_project_directory_is_made_private_then_given_its_owner_acl_and_mode() {
    let (d, mut o) = project_world(true);
    o.storage.paths.insert("/proj/a_x".into(), Lookup::Missing);
    let p = converges(&d, &o);
    assert_eq!(
        addresses(&p),
        [
            "association/a_x/ann",
            "directory/project/a_x",
            "quota/project/a_x"
        ]
    );
    let lines: Vec<String> = p.changes[1]
        .commands
        .iter()
        .map(render::command_line)
        .collect();
    assert_eq!(
        lines,
        [
            "mkdir -m 00700 /proj/a_x",
            "chown -h 65534:2001 /proj/a_x",
            "setfacl -P -m group:2001:rwx,default:group:2001:rwx /proj/a_x",
            "chmod 02770 /proj/a_x"
        ]
    );
    let q: Vec<String> = p.changes[2]
        .commands
        .iter()
        .map(render::command_line)
        .collect();
    assert_eq!(
        q,
        [
            "lfs setquota -p 2001 -B 1073741824 /lustre",
            "lfs project -p 2001 -r -s /proj/a_x"
        ]
    );
}

#[test]
fn a_project_directory_that_drifted_is_put_back_and_its_acl_completed() {
    let (d, mut o) = project_world(false);
    o.storage
        .paths
        .insert("/proj/a_x".into(), dir(0, 2001, 0o770));
    o.storage.acls.insert(
        "/proj/a_x".into(),
        Lookup::Found(Acl {
            groups: [2001].into(),
            default_groups: Default::default(),
        }),
    );
    let p = converges(&d, &o);
    let c = p.changes.last().unwrap();
    assert_eq!(c.action, Action::Update);
    let lines: Vec<String> = c.commands.iter().map(render::command_line).collect();
    assert_eq!(
        lines,
        [
            "chown -h 65534:2001 /proj/a_x",
            "setfacl -P -m group:2001:rwx,default:group:2001:rwx /proj/a_x",
            "chmod 02770 /proj/a_x"
        ]
    );
    assert!(c.reasons[0].text.contains("owner, acl, mode"));
}

#[test]
fn without_a_group_there_is_no_project_directory_and_no_quota() {
    let (d, mut o) = project_world(true);
    o.storage.groups.insert("a_x".into(), Lookup::Missing);
    o.storage.paths.insert("/proj/a_x".into(), Lookup::Missing);
    let p = plan(&d, &o, &testkit::context("c1"));
    assert_eq!(addresses(&p), ["association/a_x/ann"]);
    let e = p
        .diagnostics
        .iter()
        .find(|d| d.code == "project_group_missing")
        .unwrap();
    assert!(e.text.contains("not applicable"), "{}", e.text);
}

#[test]
fn a_terminated_or_unowned_allocation_gets_no_project_directory() {
    let (mut d, mut o) = project_world(false);
    o.storage.paths.insert("/proj/a_x".into(), Lookup::Missing);
    d.conflicts.insert("a_x".into());
    let p = plan(&d, &o, &testkit::context("c1"));
    assert!(p.changes.is_empty(), "{}", render::text(&p));
}

#[test]
fn dry_run_lines_are_copy_pasteable() {
    let (d, mut o) = with_quota(
        Provider::Xfs {
            mount_point: "/home".into(),
        },
        &[(QuotaField::BlockHard, 1 << 20)],
    );
    o.storage.paths.insert("/home/ann".into(), Lookup::Missing);
    o.storage.quotas.insert(
        QuotaTarget::User {
            provider: Provider::Xfs {
                mount_point: "/home".into(),
            },
            uid: 1001,
        },
        Lookup::Found(QuotaValues::new()),
    );
    let script = render::shell_script(&plan(&d, &o, &testkit::context("c1")));
    assert!(
        script.contains("\n/sbin/mkhomedir_helper ann 0077 /etc/skel\n"),
        "{script}"
    );
    assert!(
        script.contains("\nxfs_quota -x -c 'limit -u bhard=1g 1001' /home\n"),
        "{script}"
    );
}

#[test]
fn a_user_with_an_association_already_gets_the_home_without_waiting() {
    let (mut d, mut o) = world();
    o.storage.paths.insert("/home/ann".into(), Lookup::Missing);
    // ann is already on another account: her home serves that one too.
    let other = account("a_y", Tier::Allocation, "proj", "y");
    o.accounts.insert("a_y".into(), testkit::written(&other));
    d.add_account(other);
    d.associations
        .insert(AssocKey::new("a_y", "ann", ""), member("a_y", "ann"));
    o.associations.insert(
        AssocKey::new("a_y", "ann", ""),
        testkit::plain_association(),
    );
    d.storage
        .homes
        .get_mut("ann")
        .unwrap()
        .accounts
        .insert("a_y".into());
    let p = converges(&d, &o);
    let h = p
        .changes
        .iter()
        .find(|c| c.address.to_string() == "directory/home/ann")
        .unwrap();
    assert!(h.depends_on.is_empty(), "{:?}", h.depends_on);
    assert!(h.reasons[0].text.contains("a_x, a_y"));
}
