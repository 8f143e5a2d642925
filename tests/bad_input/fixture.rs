//! One case's world: a copy of the demo config and snapshot in a temp dir, edit helpers
//! for the cases, and the commands each case is run through.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

/// Put in every config; no output may ever contain it.
pub const TOKEN: &str = "MARKER-TOKEN-5f1d2c3b4a-never-shown";

/// The resources of the demo snapshot, by position in resources.json.
pub const LATTICE: &str = "cc000000000000000000000000000001";
pub const OLD_SIM: &str = "cc0000000000000000000000000000ff";
/// The resource and order a case adds with [`Fixture::new_create`].
pub const NEW_RESOURCE: &str = "cc000000000000000000000000000006";
pub const NEW_ORDER: &str = "dd000000000000000000000000000006";

pub struct Fixture {
    pub dir: tempfile::TempDir,
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The demo config with the suite's token and a state directory of its own.
fn base_config(state_dir: &Path) -> String {
    std::fs::read_to_string(root().join("examples/demo/config.yaml"))
        .unwrap()
        .replace("demo-token-not-secret", TOKEN)
        .replace(
            "agent:\n",
            &format!("agent:\n  state_dir: {}\n", state_dir.display()),
        )
}

/// `line N` for the first line of the suite's config holding `text`, plus `below` (a
/// case that inserts a line after it): the line an error must name, wherever the demo
/// config has it today.
pub fn line_of(text: &str, below: usize) -> String {
    let config = base_config(Path::new("/state"));
    let n = config
        .lines()
        .position(|l| l.contains(text))
        .unwrap_or_else(|| panic!("{text:?} is not in the demo config"));
    format!("line {}", n + 1 + below)
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(
            &root().join("examples/demo/snapshot"),
            &dir.path().join("snap"),
        );
        let config = base_config(&dir.path().join("state"));
        let f = Fixture { dir };
        f.write("config.yaml", &config);
        f
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn write(&self, rel: &str, text: &str) {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        // The config holds the token: only its owner reads it (no warning about that).
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    pub fn write_bytes(&self, rel: &str, bytes: &[u8]) {
        std::fs::write(self.path(rel), bytes).unwrap();
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).unwrap()
    }

    /// Edits a text file; `from` must be in it.
    pub fn replace(&self, rel: &str, from: &str, to: &str) {
        let text = self.read(rel);
        assert!(text.contains(from), "{rel} has no {from:?}");
        self.write(rel, &text.replacen(from, to, 1));
    }

    pub fn append(&self, rel: &str, line: &str) {
        let mut text = self.read(rel);
        if !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(line);
        text.push('\n');
        self.write(rel, &text);
    }

    /// Edits a JSON document of the snapshot.
    pub fn json(&self, rel: &str, edit: impl FnOnce(&mut Value)) {
        let mut v: Value = serde_json::from_str(&self.read(rel)).unwrap();
        edit(&mut v);
        self.write(rel, &serde_json::to_string_pretty(&v).unwrap());
    }

    /// Edits one resource of resources.json (by UUID).
    pub fn resource(&self, uuid: &str, edit: impl FnOnce(&mut Value)) {
        self.json("snap/waldur/resources.json", |v| {
            let r = v
                .as_array_mut()
                .unwrap()
                .iter_mut()
                .find(|r| r["uuid"] == uuid)
                .expect("resource in the demo");
            edit(r);
        });
    }

    pub fn set(&self, uuid: &str, key: &str, value: Value) {
        self.resource(uuid, |r| r[key] = value);
    }

    /// Edits the first member of a resource's team.
    pub fn member(&self, uuid: &str, edit: impl FnOnce(&mut Value)) {
        self.json(&format!("snap/waldur/teams/{uuid}.json"), |v| {
            edit(&mut v[0]);
        });
    }

    /// Edits an order of orders.json (by UUID).
    pub fn order(&self, uuid: &str, edit: impl FnOnce(&mut Value)) {
        self.json("snap/waldur/orders.json", |v| {
            let o = v
                .as_array_mut()
                .unwrap()
                .iter_mut()
                .find(|o| o["uuid"] == uuid)
                .expect("order in the demo");
            edit(o);
        });
    }

    /// The demo's Terminate order, aimed at `backend_id`.
    pub fn terminate(&self, backend_id: &str) {
        self.set(OLD_SIM, "backend_id", json!(backend_id));
        self.order("dd000000000000000000000000000002", |o| {
            o["backend_id"] = json!(backend_id)
        });
    }

    /// Another site's account, `ext_lab` under root, with a user.
    pub fn foreign_account(&self) {
        let assoc = "snap/slurm/associations.txt";
        self.append(assoc, "hpc1|ext_lab|||root|1|normal|||||");
        self.append(assoc, "hpc1|ext_lab|zed|||1||||||");
        self.append(
            "snap/slurm/accounts.txt",
            "ext_lab|ext_lab|another site's lab",
        );
        self.append("snap/slurm/users.txt", "zed|ext_lab");
    }

    /// Adds a resource with a pending Create order in project crypto, with `edit` applied
    /// to the resource, and the crypto team.
    pub fn new_create(&self, edit: impl FnOnce(&mut Value)) {
        let mut r: Value = serde_json::from_str(&self.read("snap/waldur/resources.json"))
            .map(|v: Value| v[4].clone())
            .unwrap();
        r["uuid"] = json!(NEW_RESOURCE);
        r["name"] = json!("New allocation");
        r["slug"] = json!("new-alloc");
        edit(&mut r);
        self.json("snap/waldur/resources.json", |v| {
            v.as_array_mut().unwrap().push(r)
        });
        self.json("snap/waldur/orders.json", |v| {
            v.as_array_mut().unwrap().push(json!({
                "uuid": NEW_ORDER, "type": "Create", "state": "pending-provider",
                "marketplace_resource_uuid": NEW_RESOURCE, "limits": {"cpu": 1}
            }))
        });
        let team = self.read("snap/waldur/teams/cc000000000000000000000000000004.json");
        self.write(&format!("snap/waldur/teams/{NEW_RESOURCE}.json"), &team);
    }

    /// Edits the config text; `from` must be in it.
    pub fn config(&self, from: &str, to: &str) {
        self.replace("config.yaml", from, to);
    }

    pub fn agent(&self, args: &[&str]) -> Run {
        let out = Command::new(env!("CARGO_BIN_EXE_agent"))
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("WALDUR_API_TOKEN")
            .env("RUST_LOG", "debug")
            .output()
            .expect("agent runs");
        Run::new(args, out)
    }

    /// `COMMAND -c config.yaml --from-snapshot snap` plus `extra`.
    pub fn on_snapshot(&self, command: &[&str], extra: &[&str]) -> Run {
        let mut args: Vec<&str> = command.to_vec();
        args.extend(["-c", "config.yaml", "--from-snapshot", "snap"]);
        args.extend(extra);
        self.agent(&args)
    }
}

/// One command's result, as text.
pub struct Run {
    pub what: String,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn new(args: &[&str], out: Output) -> Run {
        Run {
            what: format!("agent {}", args.join(" ")),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}
