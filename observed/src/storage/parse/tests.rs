//! The parsers against recorded outputs (see observed/tests/fixtures/storage/README.md).

use super::*;

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/storage/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn passwd_and_group_lines() {
    let p = passwd("alice:x:1001:1001:Alice,,,:/home/alice:/bin/bash\n").unwrap();
    assert_eq!(
        p["alice"],
        PasswdEntry {
            uid: 1001,
            gid: 1001,
            home: "/home/alice".into()
        }
    );
    assert!(passwd("alice:x:1001\n").is_err());
    assert!(passwd("alice:x:one:1001::/home/alice:/bin/sh\n").is_err());
    assert_eq!(group("a_x:x:2001:alice,bob\n").unwrap()["a_x"], 2001);
    assert!(group("a_x:x:2001\n").is_err());
}

#[test]
fn getfattr_values_unset_attributes_and_errors_per_path() {
    let paths = [
        "/cephfs/home/alice",
        "/cephfs/home/bob",
        "/cephfs/home/gone",
        "/cephfs/home/xfs-user",
        "/cephfs/home/silent",
    ];
    let got = getfattr(
        &fixture("getfattr-max_bytes.stdout"),
        &fixture("getfattr-max_bytes.stderr"),
        "ceph.quota.max_bytes",
        &paths,
    );
    assert_eq!(got["/cephfs/home/alice"], Ok(100 << 30));
    assert_eq!(got["/cephfs/home/bob"], Ok(0));
    assert!(got["/cephfs/home/gone"]
        .as_ref()
        .unwrap_err()
        .contains("No such file"));
    assert!(got["/cephfs/home/xfs-user"]
        .as_ref()
        .unwrap_err()
        .contains("Operation not supported"));
    assert!(got["/cephfs/home/silent"].is_err());
}

#[test]
fn xfs_report_rows_by_uid_in_kib_grace_with_spaces_included() {
    let rows = xfs_report(&fixture("xfs_quota-report.txt")).unwrap();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[&1001][&QuotaField::BlockSoft], 943_718_400);
    assert_eq!(rows[&1001][&QuotaField::BlockHard], 1 << 30);
    assert_eq!(rows[&1001][&QuotaField::InodeHard], 100_000);
    assert_eq!(rows[&1002][&QuotaField::InodeSoft], 90_000);
    assert_eq!(rows[&1003][&QuotaField::BlockHard], 0);
    // A mount without quotas answers nothing (exit 0): never "everyone has no quota".
    assert!(xfs_report(&fixture("xfs_quota-report-no-quota.txt")).is_err());
    assert!(xfs_report("alice 1 2 3 00 [--------] 1 2 3 00 [--------]\n").is_err());
    assert!(xfs_report("#1 1 2 3 00 [--------]\n").is_err());
}

#[test]
fn lfs_quota_rows_short_and_long_mounts_and_inaccurate_values() {
    let q = lfs_quota(&fixture("lfs-quota-u.txt"), false, 1001, "/lustre").unwrap();
    assert_eq!(q[&QuotaField::BlockSoft], 900_000);
    assert_eq!(q[&QuotaField::BlockHard], 1_000_000);
    assert_eq!(q[&QuotaField::InodeSoft], 90_000);
    assert_eq!(q[&QuotaField::InodeHard], 100_000);
    let unset = lfs_quota(&fixture("lfs-quota-u-unset.txt"), false, 1002, "/lustre").unwrap();
    assert!(unset.values().all(|v| *v == 0));
    let p = lfs_quota(
        &fixture("lfs-quota-p-long-mount.txt"),
        true,
        2001,
        "/valhalla/lustre-fs",
    )
    .unwrap();
    assert_eq!(p[&QuotaField::BlockHard], 1_048_576);
    assert_eq!(p[&QuotaField::InodeHard], 5000);
    let e = lfs_quota(
        &fixture("lfs-quota-u-inaccurate.txt"),
        false,
        1003,
        "/lustre",
    );
    assert!(e.unwrap_err().contains("inaccurate"));
    // The answer must be about the id asked for, on the mount asked for.
    assert!(lfs_quota(&fixture("lfs-quota-u.txt"), false, 1002, "/lustre").is_err());
    assert!(lfs_quota(&fixture("lfs-quota-u.txt"), false, 1001, "/other").is_err());
    assert!(lfs_quota("", false, 1001, "/lustre").is_err());
}

#[test]
fn lfs_project_ids_and_inherit_flags() {
    let got = lfs_project(
        &fixture("lfs-project-d.txt"),
        &[
            "/valhalla/projects/a_x",
            "/valhalla/projects/a_y",
            "/valhalla/projects/a_z",
        ],
    );
    assert_eq!(
        got["/valhalla/projects/a_x"],
        Ok(ProjectAttr {
            id: 2001,
            inherit: true
        })
    );
    assert_eq!(
        got["/valhalla/projects/a_y"],
        Ok(ProjectAttr {
            id: 0,
            inherit: false
        })
    );
    assert!(got["/valhalla/projects/a_z"].is_err());
}

#[test]
fn getfacl_named_group_entries_access_and_default() {
    let paths = [
        "/valhalla/projects/a_x",
        "/valhalla/projects/a_y",
        "/valhalla/projects/a_z",
    ];
    let got = getfacl(
        &fixture("getfacl.stdout"),
        &fixture("getfacl.stderr"),
        &paths,
    );
    let x = got["/valhalla/projects/a_x"].as_ref().unwrap();
    assert_eq!(x.groups.iter().collect::<Vec<_>>(), [&2001]);
    assert_eq!(x.default_groups.iter().collect::<Vec<_>>(), [&2001]);
    assert_eq!(got["/valhalla/projects/a_y"], Ok(Acl::default()));
    assert!(got["/valhalla/projects/a_z"]
        .as_ref()
        .unwrap_err()
        .contains("No such file"));
}
