//! What can go wrong talking to Waldur, and which failures are worth retrying.

use std::time::Duration;

/// A failed Waldur call. Messages name the method and path (never the token or query
/// values that could carry one) and what Waldur said.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// Waldur answered with a non-success status.
    #[error("{method} {path}: HTTP {status}: {detail}")]
    Status {
        method: String,
        path: String,
        status: u16,
        detail: String,
        /// From `Retry-After` on 429/503.
        retry_after: Option<Duration>,
    },
    /// No answer: connection refused or reset, DNS, TLS, timeout.
    #[error("{method} {path}: {message}")]
    Transport {
        method: String,
        path: String,
        message: String,
    },
    /// A 2xx answer the agent cannot use: not JSON, missing keys, truncated, a page count
    /// that does not add up.
    #[error("{method} {path}: unusable answer: {message}")]
    Decode {
        method: String,
        path: String,
        message: String,
    },
}

impl ClientError {
    /// 5xx, 429 and transport errors may succeed later; everything else is final.
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Status { status, .. } => *status >= 500 || *status == 429,
            ClientError::Transport { .. } => true,
            ClientError::Decode { .. } => false,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The body text Waldur gave, for matching known messages.
    pub fn detail(&self) -> &str {
        match self {
            ClientError::Status { detail, .. } => detail,
            ClientError::Transport { message, .. } | ClientError::Decode { message, .. } => message,
        }
    }
}

/// A short, readable account of an error body: DRF's `{"detail": …}`, field errors
/// (`{"field": ["msg"]}`, `["msg"]`), or the title/text of an HTML page from a proxy.
pub fn describe_body(body: &str) -> String {
    let trimmed = body.trim();
    if trimmed.is_empty() {
        return "(empty body)".into();
    }
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(trimmed) {
        return describe_json(&json);
    }
    if trimmed.starts_with('<') {
        return describe_html(trimmed);
    }
    clip(trimmed)
}

fn describe_json(v: &serde_json::Value) -> String {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            if let Some(Value::String(d)) = map.get("detail") {
                return clip(d);
            }
            let parts: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{k}: {}", describe_json(v)))
                .collect();
            clip(&parts.join("; "))
        }
        Value::Array(items) => clip(
            &items
                .iter()
                .map(describe_json)
                .collect::<Vec<_>>()
                .join(", "),
        ),
        Value::String(s) => clip(s),
        other => clip(&other.to_string()),
    }
}

/// `<title>` if there is one, else the text with tags removed.
fn describe_html(html: &str) -> String {
    let lower = html.to_ascii_lowercase();
    if let (Some(a), Some(b)) = (lower.find("<title>"), lower.find("</title>")) {
        if a + 7 <= b {
            return format!("HTML page: {}", clip(html[a + 7..b].trim()));
        }
    }
    let mut text = String::new();
    let mut in_tag = false;
    for ch in html.chars() {
        match ch {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                text.push(' ');
            }
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    format!("HTML page: {}", clip(&words.join(" ")))
}

fn clip(s: &str) -> String {
    const MAX: usize = 300;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let cut: String = s.chars().take(MAX).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies() {
        assert_eq!(
            describe_body(r#"{"detail": "Invalid token."}"#),
            "Invalid token."
        );
        assert_eq!(
            describe_body(r#"{"date": ["Cannot submit usage for future dates"]}"#),
            "date: Cannot submit usage for future dates"
        );
        assert_eq!(describe_body(r#"["one", "two"]"#), "one, two");
        assert_eq!(
            describe_body("<html><head><title>502 Bad Gateway</title></head><body>x</body></html>"),
            "HTML page: 502 Bad Gateway"
        );
        assert_eq!(
            describe_body("<p>down <b>now</b></p>"),
            "HTML page: down now"
        );
        assert_eq!(describe_body("  "), "(empty body)");
    }

    #[test]
    fn transient() {
        let status = |s| ClientError::Status {
            method: "GET".into(),
            path: "/api/x/".into(),
            status: s,
            detail: String::new(),
            retry_after: None,
        };
        assert!(status(502).is_transient());
        assert!(status(429).is_transient());
        assert!(!status(400).is_transient());
        assert!(!status(404).is_transient());
    }
}
