//! The one escaping layer for text that leaves the agent for a terminal, a log or a
//! script: control characters (a newline that would start a new line in a `# why:`
//! comment of the dry-run script, `ESC[8m` that would hide what follows) and the Unicode
//! formatting characters that reorder or hide text are shown as `\u{..}` escapes. Valid
//! names never contain them; Waldur text and other tools' SLURM records can.

use std::borrow::Cow;
use std::fmt;

/// Characters that change how a terminal shows the text around them.
pub fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{200B}'..='\u{200F}' // zero-width space/joiners, LRM/RLM
            | '\u{202A}'..='\u{202E}' // bidi embeddings and overrides
            | '\u{2060}'..='\u{2069}' // word joiner, invisible operators, bidi isolates
            | '\u{FEFF}' // zero-width no-break space
        )
}

/// `text` with each character `escapes` picks replaced by `escape(c)`; borrowed when
/// there is none.
fn replace(
    text: &str,
    escapes: impl Fn(char) -> bool,
    escape: impl Fn(char) -> String,
) -> Cow<'_, str> {
    if !text.chars().any(&escapes) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if escapes(c) {
            out.push_str(&escape(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// `text` with every unsafe character escaped; borrowed when there is none.
pub fn text(text: &str) -> Cow<'_, str> {
    replace(text, is_unsafe, |c| format!("\\u{{{:x}}}", c as u32))
}

/// Lines of output whose own line breaks are kept and everything else escaped (for text
/// assembled from safe parts and escaped values, as a last guard at the edge).
pub fn lines(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| c != '\n' && is_unsafe(c)) {
        return Cow::Borrowed(text);
    }
    let parts: Vec<Cow<str>> = text.split('\n').map(self::text).collect();
    Cow::Owned(parts.join("\n"))
}

/// JSON text with every unsafe character inside its strings written as a `\uXXXX`
/// escape: the same JSON value, but nothing in it can steer the terminal it is paged in.
/// serde_json escapes only U+0000..U+001F; DEL, C1 controls (U+009B is a CSI) and the
/// bidi characters would otherwise pass raw. Line breaks, tabs and carriage returns
/// outside strings are the document's own layout (inside strings serde_json escapes them).
pub fn json(text: &str) -> Cow<'_, str> {
    // Every unsafe character is in the Basic Multilingual Plane: one \uXXXX each.
    replace(
        text,
        |c| is_unsafe(c) && !matches!(c, '\n' | '\t' | '\r'),
        |c| format!("\\u{:04x}", c as u32),
    )
}

/// `Display` adapter: `format!("{}", Esc(value))`.
pub struct Esc<'a>(pub &'a str);

impl fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&text(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_and_bidi_characters_are_shown_not_obeyed() {
        assert_eq!(text("plain name"), "plain name");
        assert_eq!(text("a\nrm -rf /"), "a\\u{a}rm -rf /");
        assert_eq!(text("\u{1b}[8mhidden"), "\\u{1b}[8mhidden");
        assert_eq!(text("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert_eq!(lines("one\ntwo\u{7}\n"), "one\ntwo\\u{7}\n");
        assert_eq!(
            json("{\n \"a\":\"x\u{202e}y\u{85}\"}"),
            "{\n \"a\":\"x\\u202ey\\u0085\"}"
        );
    }

    #[test]
    fn json_keeps_its_value_and_loses_raw_controls() {
        let value = serde_json::json!({"name": "a\u{202e}b\u{9b}c\u{7f}\u{1b}"});
        let text = serde_json::to_string_pretty(&value).unwrap();
        let shown = json(&text);
        assert!(!shown.chars().any(|c| is_unsafe(c) && c != '\n'), "{shown}");
        let back: serde_json::Value = serde_json::from_str(&shown).unwrap();
        assert_eq!(back, value);
    }
}
