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
            "    stomp_enabled: true\n",
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
        "offerings[0].stomp_enabled",
        "offerings[0].backend_settings.ldap",
        "offerings[0].backend_settings.enable_user_homedir_account_creation",
        "offerings[0].backend_components",
    ] {
        assert!(paths.contains(&expected), "{expected} not in {paths:?}");
    }
    // qos_management is present but off: nothing to say.
    assert!(!paths.iter().any(|p| p.contains("qos_management")));
    let loud = &loaded.config.offerings[0].ignored;
    assert!(loud.iter().any(|l| l.contains("ldap")), "{loud:?}");
    assert!(
        !loud.iter().any(|l| l.contains("stomp_enabled")),
        "{loud:?}"
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
