use std::time::Duration;

use super::*;

const GOOD: &str = r#"
timezone: "Europe/Tallinn"
offerings:
  - name: "HPC"
    waldur_api_url: "https://waldur.example.org/api/"
    waldur_api_token: "0123456789abcdef0123456789abcdef01234567"
    waldur_offering_uuid: "d629d5e4-5567-425d-a9cd-bdc1af67b32c"
    backend_type: "slurm"
    order_processing_backend: "slurm"
    membership_sync_backend: "slurm"
    backend_settings:
      enable_user_homedir_account_creation: false
      default_account: "root"
      customer_prefix: "c_"
      project_prefix: "p_"
      allocation_prefix: "a_"
      cluster_name: "hpc1"
      qos_paused: "paused"
    backend_components:
      cpu:
        measured_unit: "k-Hours"
        unit_factor: 60000
        accounting_type: "limit"
        label: "CPU"
      mem:
        limit: 10
        measured_unit: "GB-Hours"
        unit_factor: 61440
        accounting_type: "usage"
        label: "RAM"
"#;

#[test]
fn reads_a_python_agent_config() {
    let loaded = load_str("c.yaml", GOOD, None, None).unwrap();
    let o = &loaded.config.offerings[0];
    assert_eq!(o.uuid, "d629d5e45567425da9cdbdc1af67b32c");
    assert_eq!(o.slurm.root_account, "root");
    assert_eq!(o.slurm.qos_default, "normal");
    assert_eq!(o.components["mem"].limit, Some(10.0));
    assert!(loaded.warnings.is_empty());
    assert_eq!(loaded.config.agent, AgentSettings::default());
}

#[test]
fn every_problem_is_reported_with_path_and_line() {
    let bad = GOOD
        .replace("unit_factor: 60000", "unit_factor: \"lots\"")
        .replace(
            "cluster_name: \"hpc1\"",
            "cluster_name: [1]\n      default_account_policy: indivdual",
        );
    let err = load_str("c.yaml", &bad, None, None).err().expect("invalid");
    let text = err.to_string();
    assert_eq!(err.problems.len(), 3, "{text}");
    assert!(
        text.contains("offerings[0].backend_components.cpu.unit_factor: expected a number"),
        "{text}"
    );
    assert!(
        text.contains("offerings[0].backend_settings.cluster_name: expected a string"),
        "{text}"
    );
    assert!(
        text.contains("\"indivdual\" is not one of common, individual, none"),
        "{text}"
    );
    assert!(text.contains("line "), "{text}");
}

#[test]
fn unknown_keys_are_warnings() {
    let text = GOOD.replace(
        "    backend_type: \"slurm\"",
        "    backend_type: \"slurm\"\n    shiny_new_thing: 1",
    );
    let loaded = load_str("c.yaml", &text, None, None).unwrap();
    assert_eq!(loaded.warnings.len(), 1);
    assert_eq!(loaded.warnings[0].path, "offerings[0].shiny_new_thing");
}

#[test]
fn token_never_appears_in_errors() {
    let token = "0123456789abcdef0123456789abcdef01234567";
    let bad = GOOD.replace(
        "backend_type: \"slurm\"",
        "backend_type: [\"x\"]\n    verify_ssl: \"yes\"",
    );
    let err = load_str("c.yaml", &bad, None, None).err().unwrap();
    assert!(!err.to_string().contains(token));
    assert!(!format!("{err:?}").contains(token));
    let loaded = load_str("c.yaml", GOOD, None, None).unwrap();
    assert!(!format!("{:?}", loaded.config).contains(token));
}

#[test]
fn token_from_environment() {
    let text = GOOD.replace(
        "    waldur_api_token: \"0123456789abcdef0123456789abcdef01234567\"\n",
        "",
    );
    assert!(load_str("c.yaml", &text, None, None).is_err());
    let loaded = load_str("c.yaml", &text, Some("envtoken"), None).unwrap();
    assert_eq!(loaded.config.offerings[0].api_token.expose(), "envtoken");
}

#[test]
fn durations_parse() {
    let text = format!(
        "{GOOD}agent:\n  cycle_interval: 90s\n  command_timeout: 30\n  apply_mode: batch\n"
    );
    let loaded = load_str("c.yaml", &text, None, None).unwrap();
    assert_eq!(loaded.config.agent.cycle_interval, Duration::from_secs(90));
    assert_eq!(loaded.config.agent.command_timeout, Duration::from_secs(30));
    assert_eq!(loaded.config.agent.apply_mode, ApplyMode::Batch);
    let bad = format!("{GOOD}agent:\n  cycle_interval: soon\n");
    assert!(load_str("c.yaml", &bad, None, None).is_err());
}

#[test]
fn settings_without_effect_are_named_and_the_ones_that_matter_reach_the_plan() {
    let text = GOOD
        .replace(
            "    membership_sync_backend: \"slurm\"\n",
            "    mqtt_enabled: true\n",
        )
        .replace(
            "      enable_user_homedir_account_creation: false\n",
            "      ldap: {uri: \"ldap://x\"}\n      qos_management: {enabled: false}\n",
        )
        .replace(
            "        label: \"RAM\"",
            "        label: \"RAM\"\n        min_value: 1",
        );
    let loaded = load_str("c.yaml", &text, None, None).unwrap();
    let paths: Vec<&str> = loaded.warnings.iter().map(|w| w.path.as_str()).collect();
    for expected in [
        "offerings[0].membership_sync_backend",
        "offerings[0].mqtt_enabled",
        "offerings[0].backend_settings.ldap",
        "offerings[0].backend_components",
    ] {
        assert!(paths.contains(&expected), "{expected} not in {paths:?}");
    }
    // Home directories are managed now: their keys have an effect.
    assert!(!paths.iter().any(|p| p.contains("homedir")), "{paths:?}");
    // qos_management is present but off: nothing to say.
    assert!(!paths.iter().any(|p| p.contains("qos_management")));
    let loud = &loaded.config.offerings[0].ignored;
    assert!(loud.iter().any(|l| l.contains("ldap")), "{loud:?}");
    assert!(!loud.iter().any(|l| l.contains("mqtt_enabled")), "{loud:?}");
}

#[test]
fn http_listen_is_an_address_or_off() {
    let listen = |v: &str| {
        load_str(
            "c.yaml",
            &format!("{GOOD}agent:\n  http_listen: {v}\n"),
            None,
            None,
        )
    };
    let d = load_str("c.yaml", GOOD, None, None).unwrap();
    assert_eq!(
        d.config.agent.http_listen,
        Some("127.0.0.1:9787".parse().unwrap())
    );
    let l = listen("\"[::1]:9100\"").unwrap();
    assert_eq!(
        l.config.agent.http_listen,
        Some("[::1]:9100".parse().unwrap())
    );
    assert!(l.warnings.iter().all(|w| w.path != "agent.http_listen"));
    assert_eq!(listen("off").unwrap().config.agent.http_listen, None);
    let wide = listen("0.0.0.0:9787").unwrap();
    assert!(
        wide.warnings
            .iter()
            .any(|w| w.path == "agent.http_listen"
                && w.message.contains("reachable from other hosts"))
    );
    let Err(e) = listen("localhost:9787") else {
        panic!("a host name is not an address")
    };
    let e = e.to_string();
    assert!(
        e.contains("agent.http_listen") && e.contains("IP:PORT"),
        "{e}"
    );
}

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

#[test]
fn periodic_limits_are_read_and_older_keys_named() {
    let with = |block: &str| {
        GOOD.replace(
            "      qos_paused: \"paused\"\n",
            &format!("      qos_paused: \"paused\"\n      periodic_limits:\n{block}"),
        )
    };
    let text = with(
        "        enabled: true\n        emulator_mode: true\n        emulator_base_url: \"http://127.0.0.1:8080\"\n        limit_type: MaxTRESMins\n        grace_ratio: 0.2\n        bogus: 1\n",
    );
    let loaded = load_str("c.yaml", &text, None, None).unwrap();
    let pl = &loaded.config.offerings[0].slurm.periodic_limits;
    assert!(pl.enabled && pl.emulator_mode);
    assert_eq!(pl.emulator_base_url, "http://127.0.0.1:8080");
    assert_eq!(pl.limit_type, LimitType::MaxTresMins);
    let paths: Vec<&str> = loaded.warnings.iter().map(|w| w.path.as_str()).collect();
    let pp = "offerings[0].backend_settings.periodic_limits";
    assert!(
        paths.contains(&format!("{pp}.grace_ratio").as_str()),
        "{paths:?}"
    );
    assert!(paths.contains(&format!("{pp}.bogus").as_str()), "{paths:?}");
    assert!(
        !paths
            .iter()
            .any(|p| p.ends_with(".enabled") || p.ends_with("emulator_mode")),
        "{paths:?}"
    );
    assert!(loaded.config.offerings[0].ignored.is_empty());
    let bad = with("        enabled: true\n        emulator_base_url: \"localhost:8080\"\n");
    let err = load_str("c.yaml", &bad, None, None).err().expect("invalid");
    assert!(err.to_string().contains("emulator_base_url"), "{err}");
    let secret = with("        emulator_base_url: \"http://me:s3cret@localhost:8080\"\n");
    let err = load_str("c.yaml", &secret, None, None)
        .err()
        .expect("invalid");
    assert!(!err.to_string().contains("s3cret"), "{err}");
    let off = load_str("c.yaml", GOOD, None, None).unwrap();
    assert_eq!(
        off.config.offerings[0]
            .slurm
            .periodic_limits
            .emulator_base_url,
        DEFAULT_EMULATOR_URL
    );
}

#[test]
fn values_that_would_fail_every_resource_fail_the_config() {
    // Each of these would otherwise skip every resource and err every order.
    for (from, to, says) in [
        (
            "unit_factor: 60000",
            "unit_factor: 1e300",
            "cpu.unit_factor: 1e300 TRES-minutes",
        ),
        (
            "project_prefix: \"p_\"",
            "project_prefix: \"pppppppppppppppppppppppppppppppppppp\"",
            "project_prefix: 36 characters, more than 32",
        ),
        (
            "cluster_name: \"hpc1\"",
            "cluster_name: \"hpc1\"\n      slurm_bin_path: \"bin\"",
            "slurm_bin_path: \"bin\" is not an absolute",
        ),
        (
            "cluster_name: \"hpc1\"",
            "cluster_name: \"hpc1\"\n      slurm_bin_path: \"/usr/bin\\n\"",
            "slurm_bin_path: \"/usr/bin\\n\" is not an absolute",
        ),
        (
            "https://waldur.example.org/api/",
            "https://waldur.example.org/v2/",
            "waldur_api_url: must end with /api/",
        ),
        (
            "timezone: \"Europe/Tallinn\"",
            "timezone: \"Mars/Olympus_Mons\"",
            "\"Mars/Olympus_Mons\" is not an IANA time zone",
        ),
    ] {
        let bad = GOOD.replace(from, to);
        assert_ne!(bad, GOOD, "{from}");
        let err = load_str("c.yaml", &bad, None, None)
            .err()
            .expect(says)
            .to_string();
        assert!(err.contains(says), "{err}");
    }
}

#[test]
fn neither_a_syntax_error_nor_a_misplaced_token_shows_it() {
    // The parser shows the source around an error; an unquoted token two lines up.
    let bad = GOOD.replace(
        "\"0123456789abcdef0123456789abcdef01234567\"",
        "0123456789abcdef0123456789abcdef01234567",
    );
    let bad = bad.replace("backend_type: \"slurm\"", "backend_type: \"slurm\" x");
    let err = load_str("c.yaml", &bad, None, None)
        .err()
        .expect("invalid")
        .to_string();
    assert!(err.contains("not valid YAML"), "{err}");
    assert!(!err.contains("0123456789abcdef"), "{err}");
    // The token pasted as a key of its own: the unknown-key warning does not repeat it.
    let odd = GOOD.replace(
        "    backend_type:",
        "    0123456789abcdef0123456789abcdef01234567: 1\n    backend_type:",
    );
    let loaded = load_str("c.yaml", &odd, None, None).unwrap();
    let shown: Vec<String> = loaded.warnings.iter().map(|w| w.to_string()).collect();
    assert!(!shown.is_empty());
    assert!(
        shown.iter().all(|w| !w.contains("0123456789abcdef")),
        "{shown:?}"
    );
}

#[test]
fn a_token_is_hidden_as_a_word_not_inside_other_words() {
    use super::hide_token;
    assert_eq!(
        hide_token("offerings[0].stomp_ws_port: up to 65535", "t"),
        "offerings[0].stomp_ws_port: up to 65535"
    );
    assert_eq!(hide_token("key \"t\" and t", "t"), "key \"***\" and ***");
    let tok = "0123456789abcdef0123456789abcdef01234567";
    assert_eq!(
        hide_token(&format!("offerings[0].{tok}: unknown key"), tok),
        "offerings[0].***: unknown key"
    );
    assert_eq!(
        hide_token(&format!("https://x/?token={tok}&a=1"), tok),
        "https://x/?token=***&a=1"
    );
}
