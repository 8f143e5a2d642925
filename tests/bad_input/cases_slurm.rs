//! sacctmgr rows: malformed reads fail naming the file and line; names the agent would
//! not write itself (another tool's `oscar,frank`) are left alone with an error; a read
//! that cannot be true is refused.

use crate::case::Case;
use crate::fixture::Fixture;

const ASSOC: &str = "snap/slurm/associations.txt";
const ACCOUNTS: &str = "snap/slurm/accounts.txt";
const USERS: &str = "snap/slurm/users.txt";

/// A case that edits one sacctmgr file.
fn row(name: &str, edit: impl Fn(&Fixture) + Send + Sync + 'static) -> Case {
    Case::new("sacctmgr", name, edit)
}

/// A user another tool put on the managed account a_lattice-qcd (and in users.txt).
fn foreign_user(label: &str, user: &'static str) -> Case {
    row(
        &format!("user name {label} on a managed account"),
        move |f| {
            f.append(ASSOC, &format!("hpc1|a_lattice-qcd|{user}|||parent||||||"));
            f.append(USERS, &format!("{user}|root"));
        },
    )
    .skipped(&["this agent does not put into commands"])
}

const UNWRITABLE: &str = "this agent does not put into commands";

pub fn cases() -> Vec<Case> {
    let long_user: &'static str = Box::leak("u".repeat(300).into_boxed_str());
    let long_account: &'static str =
        Box::leak(format!("a_{}", "x".repeat(100_000)).into_boxed_str());
    vec![
        row("too few columns", |f| {
            f.replace(
                ASSOC,
                "hpc1|p_physics|||c_uni-tartu|1||||||",
                "hpc1|p_physics|c_uni-tartu",
            )
        })
        .refused(&["associations.txt, line 5", "expected 12 columns"]),
        row("too many columns", |f| {
            f.replace(
                ASSOC,
                "hpc1|p_physics|||c_uni-tartu|1||||||",
                "hpc1|p_physics|||c_uni-tartu|1|||||||x",
            )
        })
        .refused(&["associations.txt, line 5"]),
        // Read as the continuation of the description above it (another tool wrote a
        // description with a newline), not as an account of its own.
        row("accounts.txt short row", |f| {
            f.replace(
                ACCOUNTS,
                "scratch|p_physics|admin scratch account",
                "scratch",
            )
        })
        .accepted(),
        row("users.txt short row", |f| {
            f.replace(USERS, "oscar|a_sequencing", "oscar")
        })
        .refused(&["users.txt, line 13"]),
        row("oscar,frank is not a member", |f| {
            f.replace(
                ASSOC,
                "hpc1|a_sequencing|oscar|",
                "hpc1|a_sequencing|oscar,frank|",
            );
            f.replace(USERS, "oscar|a_sequencing", "oscar,frank|a_sequencing");
        })
        .skipped(&["\"oscar,frank\"", UNWRITABLE])
        .diagnose("a_sequencing"),
        foreign_user("with ;", "x;rm"),
        foreign_user("with =", "a=b"),
        foreign_user("with a space", "ev il"),
        foreign_user("with an escape sequence", "\x1b[8mevil"),
        foreign_user("with a bidi override", "abc\u{202e}fed"),
        foreign_user("with a single quote", "o'brien"),
        foreign_user("with a double quote", "q\"uote"),
        foreign_user("..", ".."),
        foreign_user("in unicode", "jürgen"),
        foreign_user("over-long", long_user),
        foreign_user("with a backslash", "a\\b"),
        row("partition with ; on a managed account", |f| {
            f.append(ASSOC, "hpc1|a_lattice-qcd|alice|ba;tch||parent||||||")
        })
        .skipped(&[UNWRITABLE]),
        row("GrpTRESMins not a number", |f| {
            f.replace(ASSOC, "cpu=9000000,gres/gpu=3000", "cpu=abc,gres/gpu=3000")
        })
        .refused(&["associations.txt, line 8"]),
        row("GrpTRESMins negative", |f| {
            f.replace(ASSOC, "cpu=9000000,gres/gpu=3000", "cpu=-5,gres/gpu=3000")
        })
        .refused(&["associations.txt, line 8"]),
        row("GrpTRESMins without '='", |f| {
            f.replace(ASSOC, "cpu=9000000,gres/gpu=3000", "cpu,gres/gpu=3000")
        })
        .refused(&["associations.txt, line 8"]),
        row("Share not a number", |f| {
            f.replace(
                ASSOC,
                "hpc1|a_lattice-qcd|||p_physics|1|",
                "hpc1|a_lattice-qcd|||p_physics|lots|",
            )
        })
        .refused(&["associations.txt, line 8"]),
        row("no root association", |f| {
            f.replace(ASSOC, "hpc1|root||||1|normal|||||\n", "")
        })
        .refused(&["no root account"]),
        row("empty association read", |f| f.write(ASSOC, "")).refused(&["no root account"]),
        row("every file empty", |f| {
            for file in [
                ASSOC,
                ACCOUNTS,
                USERS,
                "snap/slurm/qos.txt",
                "snap/slurm/tres.txt",
            ] {
                f.write(file, "");
            }
        })
        .refused(&["no root account"]),
        row("rows of another cluster", |f| {
            let text = f.read(ASSOC).replace("hpc1|", "hpc2|");
            f.write(ASSOC, &text);
        })
        .refused(&["no root account"]),
        row("invalid UTF-8", |f| {
            let mut bytes = f.read(ASSOC).into_bytes();
            bytes.extend_from_slice(b"hpc1|a_\xff\xfe|||p_physics|1||||||\n");
            f.write_bytes(ASSOC, &bytes);
        })
        .refused(&["associations.txt"]),
        row("CRLF line ends", |f| {
            let text = f.read(ASSOC).replace('\n', "\r\n");
            f.write(ASSOC, &text);
        })
        .accepted(),
        row("description with an escape sequence", |f| {
            f.replace(
                ACCOUNTS,
                "a_lattice-qcd|p_physics|lattice qcd",
                "a_lattice-qcd|p_physics|lattice\x1b[8m qcd",
            )
        })
        .accepted(),
        row("unmanaged account named with an escape sequence", |f| {
            f.append(ASSOC, "hpc1|a_\x1b[2Jx|||p_physics|1||||||");
            f.append(ACCOUNTS, "a_\x1b[2Jx|p_physics|x");
        })
        .skipped(&["[2Jx under managed account p_physics"])
        .diagnose("a_\x1b[2Jx"),
        row("unmanaged account with an over-long name", move |f| {
            f.append(ASSOC, &format!("hpc1|{long_account}|||p_physics|1||||||"));
            f.append(ACCOUNTS, &format!("{long_account}|p_physics|x"));
        })
        .accepted(),
        row("managed account under a foreign parent", |f| {
            f.replace(
                ASSOC,
                "hpc1|a_sequencing|||p_genomics|",
                "hpc1|a_sequencing|||scratch|",
            );
            f.replace(
                ACCOUNTS,
                "a_sequencing|p_genomics|",
                "a_sequencing|other org|",
            );
        })
        .skipped(&["account a_sequencing is not the agent's to change"])
        .forbid(&["association/a_sequencing/", "user/oscar"])
        .diagnose("a_sequencing"),
        // Not an account being removed: nothing moves, nothing carries the name.
        row("default account with ,", |f| {
            f.replace(USERS, "oscar|a_sequencing", "oscar|a_sequencing,x")
        })
        .accepted()
        .forbid(&["user/oscar"]),
        row("QoS of the paused state missing", |f| {
            f.replace("snap/slurm/qos.txt", "paused\n", "")
        })
        .skipped(&["paused"])
        .forbid(&["account/a_detector-sim"]),
        row("TRES type with =", |f| {
            f.replace("snap/slurm/tres.txt", "gres|gpu", "gres|gp=u")
        })
        .skipped(&["gres/gpu"]),
        row("duplicate association rows", |f| {
            f.append(ASSOC, "hpc1|a_lattice-qcd|alice|||parent||||||")
        })
        .accepted(),
        // Two reads a moment apart (the account appeared between them): its text fields
        // read as unset, and nothing is planned from them that the demo does not plan.
        row("association of an account missing from accounts.txt", |f| {
            f.replace(ACCOUNTS, "a_lattice-qcd|p_physics|lattice qcd\n", "")
        })
        .accepted(),
    ]
}
