//! The storage keys of `backend_settings`: homes, home quotas and project directories.

use super::GOOD;
use crate::types::{HomeQuota, HomeSettings, ProjectGroup, QuotaLimit, QuotaProvider};
use crate::validate::load_str;

fn with_storage(block: &str) -> String {
    GOOD.replace(
        "      enable_user_homedir_account_creation: false\n",
        &format!("{block}\n"),
    )
}

#[test]
fn homes_are_on_by_default_with_umask_0077() {
    let loaded = load_str("c.yaml", &with_storage(""), None, None).unwrap();
    let s = &loaded.config.offerings[0].slurm.storage;
    assert_eq!(
        s.homes,
        Some(HomeSettings {
            umask: 0o077,
            base_path: None,
            quota: None
        })
    );
    assert_eq!(s.project_directory, None);
    let off = load_str("c.yaml", GOOD, None, None).unwrap();
    assert_eq!(off.config.offerings[0].slurm.storage.homes, None);
}

#[test]
fn the_spec_example_storage_block_in_the_providers_units() {
    let text = with_storage(
        r#"      default_homedir_umask: "0027"
      homedir_base_path: "/home/"
      homedir_quota:
        provider: "xfs"
        mount_point: "/home"
        block_softlimit: "900g"
        block_hardlimit: "1t"
        inode_softlimit: 90000
        inode_hardlimit: 100000
      project_directory:
        enabled: true
        base_path: /valhalla/projects
        permissions: 750
        group_owner_source: group_name
        group_name: hpc-users
        lustre_quota:
          block_hardlimit: 1048576
          inode_hardlimit: "5000""#,
    );
    let loaded = load_str("c.yaml", &text, None, None).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let s = &loaded.config.offerings[0].slurm.storage;
    let homes = s.homes.as_ref().unwrap();
    assert_eq!(homes.umask, 0o027);
    assert_eq!(homes.base_path.as_deref(), Some("/home"));
    assert_eq!(
        homes.quota,
        Some(HomeQuota {
            provider: QuotaProvider::Xfs {
                mount_point: "/home".into()
            },
            limits: vec![
                (QuotaLimit::BlockSoft, 900 << 20),
                (QuotaLimit::BlockHard, 1 << 30),
                (QuotaLimit::InodeSoft, 90_000),
                (QuotaLimit::InodeHard, 100_000),
            ]
        })
    );
    let pd = s.project_directory.as_ref().unwrap();
    assert_eq!(pd.permissions, 0o750);
    assert!(pd.set_gid && pd.set_acl);
    assert_eq!(pd.owner, "nobody");
    assert_eq!(pd.group, ProjectGroup::Named("hpc-users".into()));
    let lq = pd.lustre_quota.as_ref().unwrap();
    assert_eq!(lq.mount_point, "/valhalla");
    // Lustre reads a bare number as KiB.
    assert_eq!(
        lq.limits,
        vec![
            (QuotaLimit::BlockHard, 1 << 20),
            (QuotaLimit::InodeHard, 5000)
        ]
    );
}

#[test]
fn ceph_sizes_are_bytes_and_lustre_block_limits_kib() {
    let text = with_storage(
        "      homedir_quota: {provider: ceph_xattr, max_bytes: \"10g\", max_files: 1000}",
    );
    let loaded = load_str("c.yaml", &text, None, None).unwrap();
    let q = loaded.config.offerings[0]
        .slurm
        .storage
        .homes
        .clone()
        .unwrap()
        .quota
        .unwrap();
    assert_eq!(q.provider, QuotaProvider::CephXattr);
    assert_eq!(
        q.limits,
        vec![
            (QuotaLimit::MaxBytes, 10 << 30),
            (QuotaLimit::MaxFiles, 1000)
        ]
    );
    let text = with_storage(
        "      homedir_quota: {provider: lustre, mount_point: /lustre, block_softlimit: 900000}",
    );
    let loaded = load_str("c.yaml", &text, None, None).unwrap();
    let q = loaded.config.offerings[0]
        .slurm
        .storage
        .homes
        .clone()
        .unwrap()
        .quota
        .unwrap();
    assert_eq!(q.limits, vec![(QuotaLimit::BlockSoft, 900_000)]);
}

#[test]
fn bad_storage_settings_are_errors_with_path_and_line() {
    let text = with_storage(
        r#"      default_homedir_umask: 0077
      homedir_base_path: "/home/../etc"
      homedir_quota:
        provider: xfs
        block_softlimit: "1500"
        block_hardlimit: "1k"
        max_files: 3
      project_directory:
        enabled: true
        permissions: "2770"
        owner: "Bad Owner"
        group_owner_source: ldap"#,
    );
    let err = load_str("c.yaml", &text, None, None)
        .err()
        .expect("invalid");
    let text = err.to_string();
    for expected in [
        "backend_settings.default_homedir_umask: a number is not an octal umask",
        "backend_settings.homedir_base_path: \"/home/../etc\" has a . or .. component",
        "backend_settings.homedir_quota.mount_point: required key is missing",
        "backend_settings.homedir_quota.max_files: is not a setting of the xfs provider",
        "backend_settings.homedir_quota.block_softlimit: 1500 bytes is not a whole number of KiB",
        "backend_settings.project_directory.permissions: expected octal permission bits up to 777",
        "backend_settings.project_directory.owner: \"Bad Owner\" is not a valid",
        "backend_settings.project_directory.group_owner_source: \"ldap\" is not one of project_id, group_name",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    assert!(err.problems.iter().all(|p| p.line.is_some()), "{text}");
}

#[test]
fn a_soft_limit_above_the_hard_limit_and_an_unknown_provider_are_errors() {
    let text = with_storage(
        "      homedir_quota: {provider: lustre, mount_point: /l, inode_softlimit: 10, inode_hardlimit: 5}",
    );
    let err = load_str("c.yaml", &text, None, None)
        .err()
        .expect("invalid");
    assert!(
        err.to_string()
            .contains("inode_softlimit: is above inode_hardlimit"),
        "{err}"
    );
    let text = with_storage("      homedir_quota: {provider: nfs}");
    let err = load_str("c.yaml", &text, None, None)
        .err()
        .expect("invalid");
    assert!(
        err.to_string()
            .contains("\"nfs\" is not one of ceph_xattr, xfs, lustre"),
        "{err}"
    );
}
