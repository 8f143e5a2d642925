//! `periodic_limits`: read, older keys named, a bad or credentialed emulator URL refused.

use super::GOOD;
use crate::types::{LimitType, DEFAULT_EMULATOR_URL};
use crate::validate::load_str;

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
