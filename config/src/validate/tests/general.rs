//! Reading a Python agent config, reporting problems, unknown and ignored keys, the
//! `agent:` section, and values that would fail every resource.

use std::time::Duration;

use super::GOOD;
use crate::types::{AgentSettings, ApplyMode};
use crate::validate::load_str;

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
fn plain_http_to_another_host_is_a_warning() {
    let url = GOOD
        .lines()
        .find(|l| l.contains("waldur_api_url"))
        .expect("GOOD has a URL")
        .to_string();
    for (to, warned) in [
        ("http://waldur.example.org/api/", true),
        ("http://10.0.0.5:8000/api/", true),
        ("http://127.0.0.1:8765/api/", false),
        ("http://localhost/api/", false),
        ("http://[::1]:8080/api/", false),
        ("https://waldur.example.org/api/", false),
    ] {
        let text = GOOD.replace(&url, &format!("    waldur_api_url: \"{to}\""));
        let loaded = load_str("c.yaml", &text, None, None).unwrap();
        let found = loaded
            .warnings
            .iter()
            .any(|w| w.path == "offerings[0].waldur_api_url");
        assert_eq!(found, warned, "{to}");
    }
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
fn apply_mode_load_is_accepted_and_a_typo_is_an_error_naming_the_choices() {
    let text = format!("{GOOD}agent:\n  apply_mode: load\n");
    let loaded = load_str("c.yaml", &text, None, None).unwrap();
    assert_eq!(loaded.config.agent.apply_mode, ApplyMode::Load);
    let bad = format!("{GOOD}agent:\n  apply_mode: lode\n");
    let err = load_str("c.yaml", &bad, None, None)
        .err()
        .expect("invalid")
        .to_string();
    assert!(
        err.contains("agent.apply_mode") && err.contains("load"),
        "{err}"
    );
}
