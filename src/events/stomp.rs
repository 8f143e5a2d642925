//! A small STOMP 1.2 frame codec: what the event listener needs and nothing more.
//!
//! A frame is `COMMAND EOL *(name:value EOL) EOL body NUL *(EOL)`, EOL being LF or CR LF.
//! Header names and values escape `\r`, `\n`, `:` and `\` as `\r`, `\n`, `\c`, `\\`,
//! except in `CONNECT`/`STOMP`/`CONNECTED` frames (STOMP 1.0 compatibility), where they
//! are written verbatim and so must not contain an EOL. A body ends at the first NUL, or
//! after `content-length` octets when that header is present. A bare EOL between frames
//! is a heart-beat. WebSocket messages do not line up with frames: [`Decoder`] takes bytes
//! as they come and yields whole frames.

use std::fmt;

/// Larger frames are refused: nothing Waldur sends comes near it, and a broken peer must
/// not make the listener grow without bound.
pub const MAX_FRAME: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub command: String,
    /// In order; a repeated name keeps its first value (STOMP 1.2).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What the decoder found next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Frame(Frame),
    HeartBeat,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("a STOMP frame is larger than {MAX_FRAME} bytes")]
    TooLarge,
    #[error("a STOMP header line has no colon: {0:?}")]
    NoColon(String),
    #[error("a STOMP header has an undefined escape \\{0}")]
    BadEscape(char),
    #[error("a STOMP frame's command or headers are not UTF-8")]
    NotUtf8,
    #[error("a STOMP frame's content-length {0:?} is not a number")]
    BadLength(String),
    #[error("a STOMP frame's body is not followed by NUL")]
    NoNul,
    #[error("header {0:?} of a {1} frame cannot hold a line break")]
    Unencodable(String, String),
}

impl Frame {
    pub fn new(command: &str) -> Self {
        Frame {
            command: command.to_string(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The first value of a header.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `CONNECT`, `STOMP` and `CONNECTED` frames carry their headers unescaped.
    fn verbatim(&self) -> bool {
        matches!(self.command.as_str(), "CONNECT" | "STOMP" | "CONNECTED")
    }

    /// The frame's bytes. A body holding NUL gets a `content-length` header.
    pub fn encode(&self) -> Result<Vec<u8>, CodecError> {
        let mut out = Vec::with_capacity(64 + self.body.len());
        out.extend_from_slice(self.command.as_bytes());
        out.push(b'\n');
        let needs_length = self.body.contains(&0) && self.get("content-length").is_none();
        for (k, v) in &self.headers {
            if self.verbatim() {
                if [k, v].iter().any(|s| s.contains(['\n', '\r'])) {
                    return Err(CodecError::Unencodable(k.clone(), self.command.clone()));
                }
                out.extend_from_slice(k.as_bytes());
                out.push(b':');
                out.extend_from_slice(v.as_bytes());
            } else {
                out.extend_from_slice(escape(k).as_bytes());
                out.push(b':');
                out.extend_from_slice(escape(v).as_bytes());
            }
            out.push(b'\n');
        }
        if needs_length {
            out.extend_from_slice(format!("content-length:{}\n", self.body.len()).as_bytes());
        }
        out.push(b'\n');
        out.extend_from_slice(&self.body);
        out.push(0);
        Ok(out)
    }

    /// The body as text (lossy), for logs and JSON.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl fmt::Display for Frame {
    /// Command and the `message` header (ERROR frames), never the other headers: a
    /// CONNECT frame holds the passcode.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.command)?;
        if let Some(m) = self.get("message") {
            write!(f, " ({})", agent_reconcile::escape::text(m))?;
        }
        Ok(())
    }
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            ':' => out.push_str("\\c"),
            c => out.push(c),
        }
    }
    out
}

fn unescape(s: &str) -> Result<String, CodecError> {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('\\') => out.push('\\'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('c') => out.push(':'),
            Some(other) => return Err(CodecError::BadEscape(other)),
            None => return Err(CodecError::BadEscape(' ')),
        }
    }
    Ok(out)
}

/// Bytes in, frames out.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
}

impl Decoder {
    pub fn new() -> Self {
        Decoder::default()
    }

    /// Adds bytes as they arrived (one WebSocket message, or part of one).
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next heart-beat or whole frame; `Ok(None)` until more bytes arrive. After an
    /// error the stream is out of step: drop the connection.
    pub fn next_item(&mut self) -> Result<Option<Item>, CodecError> {
        match self.buf.first() {
            None => return Ok(None),
            Some(b'\n') => {
                self.buf.drain(..1);
                return Ok(Some(Item::HeartBeat));
            }
            Some(b'\r') if self.buf.get(1) == Some(&b'\n') => {
                self.buf.drain(..2);
                return Ok(Some(Item::HeartBeat));
            }
            Some(b'\r') if self.buf.len() == 1 => return Ok(None),
            _ => {}
        }
        let Some((frame, used)) = self.parse()? else {
            if self.buf.len() > MAX_FRAME {
                return Err(CodecError::TooLarge);
            }
            return Ok(None);
        };
        self.buf.drain(..used);
        Ok(Some(Item::Frame(frame)))
    }

    /// A whole frame at the start of the buffer and its length, if it is all there.
    fn parse(&self) -> Result<Option<(Frame, usize)>, CodecError> {
        let buf = &self.buf;
        let mut pos = 0;
        let mut lines: Vec<&[u8]> = Vec::new();
        // Command and header lines up to the empty line.
        loop {
            let Some(nl) = buf[pos..].iter().position(|b| *b == b'\n') else {
                return Ok(None);
            };
            let mut line = &buf[pos..pos + nl];
            if line.last() == Some(&b'\r') {
                line = &line[..line.len() - 1];
            }
            pos += nl + 1;
            if line.is_empty() {
                break;
            }
            lines.push(line);
            if pos > MAX_FRAME {
                return Err(CodecError::TooLarge);
            }
        }
        fn text(l: &[u8]) -> Result<&str, CodecError> {
            std::str::from_utf8(l).map_err(|_| CodecError::NotUtf8)
        }
        let command = text(lines[0])?.to_string();
        let verbatim = matches!(command.as_str(), "CONNECT" | "STOMP" | "CONNECTED");
        let mut headers = Vec::new();
        for line in &lines[1..] {
            let line = text(line)?;
            let (k, v) = line
                .split_once(':')
                .ok_or_else(|| CodecError::NoColon(line.to_string()))?;
            let (k, v) = if verbatim {
                (k.to_string(), v.to_string())
            } else {
                (unescape(k)?, unescape(v)?)
            };
            headers.push((k, v));
        }
        let length = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .map(|(_, v)| {
                v.trim()
                    .parse::<usize>()
                    .map_err(|_| CodecError::BadLength(v.clone()))
            })
            .transpose()?;
        let body_end = match length {
            Some(n) if n > MAX_FRAME => return Err(CodecError::TooLarge),
            Some(n) => {
                if buf.len() <= pos + n {
                    return Ok(None);
                }
                if buf[pos + n] != 0 {
                    return Err(CodecError::NoNul);
                }
                pos + n
            }
            None => match buf[pos..].iter().position(|b| *b == 0) {
                Some(i) => pos + i,
                None => return Ok(None),
            },
        };
        let frame = Frame {
            command,
            headers,
            body: buf[pos..body_end].to_vec(),
        };
        Ok(Some((frame, body_end + 1)))
    }
}

#[cfg(test)]
mod tests;
