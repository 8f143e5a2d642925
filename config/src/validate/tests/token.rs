//! The API token: from the file or the environment, and never shown in errors, warnings
//! or the validated config's debug output.

use super::GOOD;
use crate::validate::load_str;

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
    use crate::validate::hide_token;
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
