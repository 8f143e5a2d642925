//! The storage observer over a recorded world: every lookup the desired state needs,
//! in bulk where the tool allows, and nothing read for what the planner will refuse.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use agent_observed::runner::RunOutput;
use agent_observed::storage::{observe, snapshot, Tools};
use agent_reconcile::plan::Reason;
use agent_reconcile::storage::*;
use agent_reconcile::testkit::home;
use futures::future::BoxFuture;

/// The recorded world, counting the calls per program.
struct Counting {
    inner: snapshot::Recorded,
    calls: Mutex<BTreeMap<String, usize>>,
}

impl Tools for Counting {
    fn run<'a>(&'a self, argv: Vec<String>) -> BoxFuture<'a, Result<RunOutput, String>> {
        let key = argv[..2].join(" ");
        *self.calls.lock().unwrap().entry(key).or_default() += 1;
        self.inner.run(argv)
    }

    fn lstat(&self, path: &str) -> Lookup<PathState> {
        *self
            .calls
            .lock()
            .unwrap()
            .entry("lstat".into())
            .or_default() += 1;
        self.inner.lstat(path)
    }
}

fn world() -> Counting {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/storage/world");
    Counting {
        inner: snapshot::load(&dir).unwrap(),
        calls: Mutex::new(BTreeMap::new()),
    }
}

fn desired() -> StorageDesired {
    let quota = QuotaSpec {
        provider: Provider::Xfs {
            mount_point: "/home".into(),
        },
        limits: QuotaValues::from([(QuotaField::BlockHard, 1 << 30)]),
    };
    let mut d = StorageDesired::default();
    for user in ["alice", "bob", "carol", "lp"] {
        let mut h = home(user, &["a_x"], Some("/home"));
        h.quota = Some(quota.clone());
        d.homes.insert(user.into(), h);
    }
    d.projects.insert(
        "a_x".into(),
        ProjectDirSpec {
            account: "a_x".into(),
            base: "/proj".into(),
            owner: "nobody".into(),
            group: "a_x".into(),
            mode: 0o2770,
            acl: true,
            quota: Some(ProjectQuotaSpec {
                mount_point: "/lustre".into(),
                limits: QuotaValues::from([(QuotaField::BlockHard, 1 << 20)]),
            }),
            reason: Reason::new("t", "t"),
        },
    );
    d
}

#[tokio::test]
async fn every_lookup_once_and_in_bulk() {
    let tools = world();
    let o = observe(&tools, &desired()).await;
    assert!(matches!(o.users["alice"], Lookup::Found(_)));
    assert_eq!(o.users["carol"], Lookup::Missing);
    assert_eq!(o.groups["a_x"], Lookup::Found(2001));
    assert!(matches!(o.paths["/home/alice"], Lookup::Found(_)));
    assert_eq!(o.paths["/home/bob"], Lookup::Missing);
    // A system account's passwd home is never looked at.
    assert!(!o.paths.contains_key("/var/spool/lpd"));
    let xfs = |uid| QuotaTarget::User {
        provider: Provider::Xfs {
            mount_point: "/home".into(),
        },
        uid,
    };
    let Lookup::Found(alice) = &o.quotas[&xfs(1001)] else {
        panic!("{:?}", o.quotas)
    };
    assert_eq!(alice[&QuotaField::BlockHard], 1 << 30);
    assert!(matches!(o.quotas[&xfs(1002)], Lookup::Found(_)));
    assert!(!o.quotas.contains_key(&xfs(7)));
    let Lookup::Found(acl) = &o.acls["/proj/a_x"] else {
        panic!()
    };
    assert!(acl.groups.contains(&2001) && acl.default_groups.contains(&2001));
    assert_eq!(
        o.projects["/proj/a_x"],
        Lookup::Found(ProjectAttr {
            id: 2001,
            inherit: true
        })
    );
    let project = QuotaTarget::Project {
        mount_point: "/lustre".into(),
        id: 2001,
    };
    let Lookup::Found(pq) = &o.quotas[&project] else {
        panic!("{:?}", o.quotas[&project])
    };
    assert_eq!(pq[&QuotaField::BlockHard], 1_048_576);
    let calls = tools.calls.lock().unwrap().clone();
    assert_eq!(
        calls,
        BTreeMap::from([
            ("getent group".to_string(), 1),
            ("getent passwd".to_string(), 1),
            ("getfacl -n".to_string(), 1),
            ("lfs project".to_string(), 1),
            ("lfs quota".to_string(), 1),
            ("lstat".to_string(), 5),
            ("xfs_quota -x".to_string(), 1),
        ])
    );
}

#[tokio::test]
async fn a_read_the_snapshot_did_not_record_is_a_failed_lookup() {
    let tools = world();
    let mut d = desired();
    d.projects.clear();
    for h in d.homes.values_mut() {
        h.quota = Some(QuotaSpec {
            provider: Provider::Lustre {
                mount_point: "/lustre".into(),
            },
            limits: QuotaValues::from([(QuotaField::InodeHard, 10)]),
        });
    }
    let o = observe(&tools, &d).await;
    let target = QuotaTarget::User {
        provider: Provider::Lustre {
            mount_point: "/lustre".into(),
        },
        uid: 1001,
    };
    let Lookup::Failed(why) = &o.quotas[&target] else {
        panic!()
    };
    assert!(
        why.contains("no recorded output of `lfs quota -u 1001 /lustre`"),
        "{why}"
    );
    // One lfs quota per user: it takes a single id.
    assert_eq!(tools.calls.lock().unwrap()["lfs quota"], 2);
}
