//! The configuration file: wrong types, values that would reach argv or paths, syntax.
//! Each is an error naming the key path and line (exit 1), or a warning naming the key.

use crate::case::Case;
use crate::fixture::{line_of, Fixture, TOKEN};

/// A case that replaces `from` with `to` in the config.
fn edit(name: &str, from: &'static str, to: &'static str) -> Case {
    Case::new("config", name, move |f: &Fixture| f.config(from, to))
}

pub fn cases() -> Vec<Case> {
    vec![
        edit(
            "unit_factor negative",
            "unit_factor: 60000",
            "unit_factor: -60000",
        )
        .refused(&[
            "offerings[0].backend_components.cpu.unit_factor",
            &line_of("unit_factor: 60000", 0),
        ]),
        edit(
            "unit_factor not a number",
            "unit_factor: 60000",
            "unit_factor: lots",
        )
        .refused(&[
            "offerings[0].backend_components.cpu.unit_factor",
            &line_of("unit_factor: 60000", 0),
        ]),
        edit(
            "unit_factor huge",
            "unit_factor: 60000",
            "unit_factor: 1e300",
        )
        .refused(&[
            "offerings[0].backend_components.cpu.unit_factor",
            &line_of("unit_factor: 60000", 0),
        ]),
        edit(
            "cluster_name with ;",
            "cluster_name: \"hpc1\"",
            "cluster_name: \"hpc1;rm\"",
        )
        .refused(&[
            "offerings[0].backend_settings.cluster_name",
            &line_of("cluster_name: \"hpc1\"", 0),
        ]),
        edit(
            "cluster_name an option",
            "cluster_name: \"hpc1\"",
            "cluster_name: \"-i\"",
        )
        .refused(&[
            "offerings[0].backend_settings.cluster_name",
            "starts with '-'",
            &line_of("cluster_name: \"hpc1\"", 0),
        ]),
        edit(
            "allocation_prefix an option",
            "allocation_prefix: \"a_\"",
            "allocation_prefix: \"--\"",
        )
        .refused(&[
            "offerings[0].backend_settings.allocation_prefix",
            &line_of("allocation_prefix: \"a_\"", 0),
        ]),
        edit(
            "customer_prefix with = and space",
            "customer_prefix: \"c_\"",
            "customer_prefix: \"c =\"",
        )
        .refused(&[
            "offerings[0].backend_settings.customer_prefix",
            &line_of("customer_prefix: \"c_\"", 0),
        ]),
        edit(
            "allocation_prefix with a newline",
            "allocation_prefix: \"a_\"",
            "allocation_prefix: \"a_\\nrm -rf /\"",
        )
        .refused(&[
            "offerings[0].backend_settings.allocation_prefix",
            &line_of("allocation_prefix: \"a_\"", 0),
        ]),
        edit(
            "project_prefix over-long",
            "project_prefix: \"p_\"",
            Box::leak(format!("project_prefix: \"{}\"", "p".repeat(10_000)).into_boxed_str()),
        )
        .refused(&[
            "offerings[0].backend_settings.project_prefix",
            &line_of("project_prefix: \"p_\"", 0),
        ]),
        edit(
            "default_account with ,",
            "default_account: \"root\"",
            "default_account: \"root,scratch\"",
        )
        .refused(&[
            "offerings[0].backend_settings.default_account",
            &line_of("default_account: \"root\"", 0),
        ]),
        edit(
            "qos_default with a quote",
            "qos_default: \"normal\"",
            "qos_default: \"nor'mal\"",
        )
        .refused(&[
            "offerings[0].backend_settings.qos_default",
            &line_of("qos_default: \"normal\"", 0),
        ]),
        edit(
            "qos_paused with an escape sequence",
            "qos_paused: \"paused\"",
            "qos_paused: \"\\e[8mpaused\"",
        )
        .refused(&[
            "offerings[0].backend_settings.qos_paused",
            &line_of("qos_paused: \"paused\"", 0),
        ]),
        edit(
            "offering UUID a path",
            "waldur_offering_uuid: \"d629d5e45567425da9cdbdc1af67b32c\"",
            "waldur_offering_uuid: \"../../etc/passwd\"",
        )
        .refused(&[
            "offerings[0].waldur_offering_uuid",
            &line_of(
                "waldur_offering_uuid: \"d629d5e45567425da9cdbdc1af67b32c\"",
                0,
            ),
        ]),
        edit(
            "offering UUID with a newline",
            "waldur_offering_uuid: \"d629d5e45567425da9cdbdc1af67b32c\"",
            "waldur_offering_uuid: \"d629d5e45567425da9cdbdc1af67b32c\\n\"",
        )
        .refused(&[
            "offerings[0].waldur_offering_uuid",
            &line_of(
                "waldur_offering_uuid: \"d629d5e45567425da9cdbdc1af67b32c\"",
                0,
            ),
        ]),
        Case::new("config", "API URL with the token as userinfo", |f| {
            f.config(
                "https://waldur.example.org/api/",
                &format!("https://agent:{TOKEN}@waldur.example.org/api/"),
            )
        })
        .refused(&[
            "offerings[0].waldur_api_url",
            "must not carry user:password@",
        ]),
        edit(
            "API URL not http",
            "https://waldur.example.org/api/",
            "ftp://waldur.example.org/api/",
        )
        .refused(&[
            "offerings[0].waldur_api_url",
            &line_of("waldur_api_url: \"https://waldur.example.org/api/\"", 0),
        ]),
        edit(
            "API URL without /api/",
            "https://waldur.example.org/api/",
            "https://waldur.example.org/v2/",
        )
        .refused(&[
            "offerings[0].waldur_api_url",
            &line_of("waldur_api_url: \"https://waldur.example.org/api/\"", 0),
        ]),
        edit(
            "API URL with a line break in the host",
            "https://waldur.example.org/api/",
            "https://waldur.exa\\nmple.org/api/",
        )
        .refused(&[
            "offerings[0].waldur_api_url",
            "must not contain spaces or control characters",
        ]),
        edit(
            "max_deletions negative",
            "max_deletions: 10",
            "max_deletions: -1",
        )
        .refused(&["agent.max_deletions", &line_of("max_deletions: 10", 0)]),
        edit(
            "apply_mode unknown",
            "apply_mode: auto",
            "apply_mode: sideways",
        )
        .refused(&["agent.apply_mode", &line_of("apply_mode: auto", 0)]),
        edit(
            "command_timeout not a duration",
            "command_timeout: 2m",
            "command_timeout: forever",
        )
        .refused(&["agent.command_timeout", &line_of("command_timeout: 2m", 0)]),
        edit(
            "cancel_jobs not a boolean",
            "cancel_jobs: true",
            "cancel_jobs: perhaps",
        )
        .refused(&["agent.cancel_jobs", &line_of("cancel_jobs: true", 0)]),
        edit(
            "unclosed quote",
            "cluster_name: \"hpc1\"",
            "cluster_name: \"hpc1",
        )
        .refused(&["config.yaml", "line"]),
        edit(
            "tab indentation",
            "      cluster_name: \"hpc1\"",
            "\tcluster_name: \"hpc1\"",
        )
        .refused(&["config.yaml", "line"]),
        Case::new("config", "empty file", |f| f.write("config.yaml", "")).refused(&["config.yaml"]),
        Case::new("config", "binary junk", |f| {
            f.write_bytes("config.yaml", b"\x00\xff\x1b[2J\x07")
        })
        .refused(&["config.yaml"]),
        Case::new("config", "no offerings", |f| {
            f.write("config.yaml", "offerings: []\n")
        })
        .refused(&["offerings"]),
        edit(
            "backend_type not slurm",
            "backend_type: \"slurm\"",
            "backend_type: \"slurmx\"",
        )
        .refused(&[
            "offerings[0].backend_type",
            &line_of("backend_type: \"slurm\"", 0),
        ]),
        edit(
            "component name with =",
            "      cpu:\n",
            "      \"cpu=1\":\n",
        )
        .refused(&["offerings[0].backend_components", "cpu=1"]),
        edit(
            "component name with an escape sequence",
            "      cpu:\n",
            "      \"\\e]0;owned\\acpu\":\n",
        )
        .refused(&["offerings[0].backend_components"]),
        edit(
            "timezone unknown",
            "timezone: \"Europe/Tallinn\"",
            "timezone: \"Mars/Olympus_Mons\"",
        )
        .refused(&["timezone", &line_of("timezone: \"Europe/Tallinn\"", 0)]),
        edit(
            "duplicate key",
            "unit_factor: 60000",
            "unit_factor: 60000\n        unit_factor: -1",
        )
        .refused(&["config.yaml", &line_of("unit_factor: 60000", 1)]),
        // Whole lines: `limit: 10` is also inside `inode_hardlimit: 100000`.
        edit(
            "usage limit negative",
            "        limit: 10\n",
            "        limit: -10\n",
        )
        .refused(&[
            "offerings[0].backend_components.mem.limit",
            &line_of("        limit: 10", 0),
        ]),
        edit(
            "verify_ssl not a boolean",
            "backend_type: \"slurm\"",
            "backend_type: \"slurm\"\n    verify_ssl: maybe",
        )
        .refused(&[
            "offerings[0].verify_ssl",
            &line_of("backend_type: \"slurm\"", 1),
        ]),
        edit(
            "token file missing",
            "waldur_api_token: \"MARKER",
            "waldur_api_token_file: \"/nonexistent/token\"\n    x_old_token: \"MARKER",
        )
        .refused(&["/nonexistent/token"]),
        edit(
            "slurm_bin_path relative",
            "slurm_bin_path: \"/usr/bin\"",
            "slurm_bin_path: \"bin\"",
        )
        .refused(&[
            "offerings[0].backend_settings.slurm_bin_path",
            &line_of("slurm_bin_path: \"/usr/bin\"", 0),
        ]),
        edit(
            "slurm_bin_path with a newline",
            "slurm_bin_path: \"/usr/bin\"",
            "slurm_bin_path: \"/usr/bin\\nrm -rf /\"",
        )
        .refused(&[
            "offerings[0].backend_settings.slurm_bin_path",
            &line_of("slurm_bin_path: \"/usr/bin\"", 0),
        ]),
        edit(
            "default_partition with ;",
            "cluster_name: \"hpc1\"",
            "cluster_name: \"hpc1\"\n      default_partition: \"batch;x\"",
        )
        .refused(&[
            "offerings[0].backend_settings.default_partition",
            &line_of("cluster_name: \"hpc1\"", 1),
        ]),
        edit(
            "offering name with control characters",
            "name: \"Demo HPC cluster\"",
            "name: \"Demo\\e[8m HPC\\ncluster\"",
        )
        .accepted(),
        edit(
            "unknown key with an escape sequence",
            "reporting_periods: 2",
            "reporting_periods: 2\n\"x\\e[2Jy\": 1",
        )
        .skipped(&["x\\x1b[2Jy: unknown key"]),
        Case::new("config", "config is a directory", |f| {
            std::fs::remove_file(f.path("config.yaml")).unwrap();
            std::fs::create_dir(f.path("config.yaml")).unwrap();
        })
        .refused(&["config.yaml"]),
    ]
}
