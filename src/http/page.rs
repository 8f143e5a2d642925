//! The status page at `/`: server-rendered HTML, no script, no external asset, reloaded
//! by the browser every [`REFRESH_SECONDS`]. Per cluster group: the last cycle (when, how
//! long, outcome), errors, what the next cycle will do (the plan as `agent plan` prints
//! it) and the last changes applied with their outcomes; then event streams and the
//! daemon's settings. Every value passes [`h`]: the project's control-character escaping,
//! then HTML escaping, so no Waldur or SLURM text can become markup.

use std::fmt::Write;

use agent_reconcile::escape;
use jiff::Timestamp;
use tokio::time::Instant;

use super::health::{live, ready};
use super::monitor::{CycleResult, GroupState, State};

pub const REFRESH_SECONDS: u32 = 30;

/// Text as HTML: control and formatting characters escaped (`\u{1b}`), then `& < > " '`.
pub fn h(text: &str) -> String {
    html(&escape::text(text))
}

/// Like [`h`] for text whose own line breaks are kept (inside `<pre>`).
pub fn h_lines(text: &str) -> String {
    html(&escape::lines(text))
}

fn html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5em;color:#1d2330;background:#f6f7f9}\
h1{font-size:1.4em;margin:0 0 .3em}h2{font-size:1.15em;margin:0 0 .5em}h3{font-size:1em;margin:1em 0 .3em}\
section{background:#fff;border:1px solid #d8dce3;border-radius:6px;padding:1em;margin:1em 0}\
table{border-collapse:collapse}th,td{text-align:left;padding:.2em .8em .2em 0;vertical-align:top}\
table.changes td,table.changes th{border-bottom:1px solid #eceef2}\
pre{background:#f0f2f5;padding:.7em;overflow-x:auto;white-space:pre-wrap;font-size:.85em}\
.badge{display:inline-block;padding:.1em .6em;border-radius:1em;font-size:.85em;font-weight:600;background:#e4e7ec}\
.ok{background:#d3f2dc;color:#11602c}.warn{background:#fff0c2;color:#7a5200}.bad{background:#fbd5d5;color:#8c1c1c}\
.muted{color:#687082}ul.errors li{color:#8c1c1c}";

fn badge(class: &str, text: &str) -> String {
    format!("<span class=\"badge {class}\">{}</span>", h(text))
}

fn result_badge(r: CycleResult) -> String {
    let (class, text) = match r {
        CycleResult::InStep => ("ok", "in step"),
        CycleResult::Pending => ("warn", "changes pending"),
        CycleResult::WaldurUnreadable => ("bad", "Waldur unreadable"),
        CycleResult::Error => ("bad", "error"),
        CycleResult::Refused => ("bad", "refused"),
    };
    badge(class, text)
}

fn second(t: Timestamp) -> String {
    Timestamp::from_second(t.as_second())
        .map(|t| t.to_string())
        .unwrap_or_else(|_| t.to_string())
}

fn ago(then: Timestamp, now: Timestamp) -> String {
    let secs = now.as_second().saturating_sub(then.as_second()).max(0);
    match secs {
        0..=119 => format!("{secs} s ago"),
        120..=7199 => format!("{} min ago", secs / 60),
        _ => format!("{} h ago", secs / 3600),
    }
}

/// The whole page.
pub fn render(s: &State, now: Timestamp, instant: Instant) -> String {
    let live = live(s, instant);
    let ready = ready(s, instant);
    let mut o = String::new();
    let title = if ready.ok { "ready" } else { "not ready" };
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta http-equiv=\"refresh\" content=\"{REFRESH_SECONDS}\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>waldur-slurm-agent: {title}</title><style>{STYLE}</style></head><body>\n"
    );
    let doing = match live.body["state"].as_str() {
        Some("idle") => format!(
            "idle, next round in {:.0} s",
            live.body["seconds_to_next_wake"].as_f64().unwrap_or(0.0)
        ),
        Some(state) => state.to_string(),
        None => String::new(),
    };
    let _ = write!(
        o,
        "<header><h1>waldur-slurm-agent {}</h1><p>{} {} <span class=\"muted\">{}; as of {}, {} pass(es), refreshed every {REFRESH_SECONDS} s</span></p>",
        h(env!("CARGO_PKG_VERSION")),
        if ready.ok { badge("ok", "ready") } else { badge("bad", "not ready") },
        if live.ok { badge("ok", "live") } else { badge("bad", "not live") },
        h(&doing),
        h(&second(now)),
        s.passes,
    );
    if let Some(why) = ready.body["why"].as_array().filter(|w| !w.is_empty()) {
        o.push_str("<ul class=\"errors\" id=\"not-ready\">");
        for w in why {
            let _ = write!(o, "<li>{}</li>", h(w.as_str().unwrap_or_default()));
        }
        o.push_str("</ul>");
    }
    o.push_str("</header>\n");
    if let Some(r) = &s.refused {
        let _ = writeln!(
            o,
            "<section id=\"refused\"><h2>Plan refused</h2><p class=\"bad\">{}</p></section>",
            h(r)
        );
    }
    for (i, (_, g)) in s.groups.iter().enumerate() {
        group(&mut o, i, g, now);
    }
    if !s.stomp.is_empty() {
        o.push_str("<section id=\"events\"><h2>Event streams</h2><table>");
        for (offering, up) in &s.stomp {
            let state = if *up {
                badge("ok", "connected")
            } else {
                badge("bad", "disconnected")
            };
            let _ = write!(o, "<tr><th>{}</th><td>{state}</td></tr>", h(offering));
        }
        o.push_str("</table></section>\n");
    }
    o.push_str("<section id=\"settings\"><h2>Settings</h2><table>");
    for (k, v) in &s.settings {
        let _ = write!(o, "<tr><th>{}</th><td>{}</td></tr>", h(k), h(v));
    }
    o.push_str("</table></section>\n<footer class=\"muted\"><a href=\"/metrics\">/metrics</a> · <a href=\"/healthz\">/healthz</a> · <a href=\"/readyz\">/readyz</a></footer>\n</body></html>\n");
    o
}

fn group(o: &mut String, i: usize, g: &GroupState, now: Timestamp) {
    let _ = write!(
        o,
        "<section class=\"group\" id=\"group-{i}\"><h2>Cluster {}</h2><table class=\"facts\">",
        h(&g.cluster)
    );
    let _ = write!(
        o,
        "<tr><th>Offerings</th><td>{}</td></tr>",
        h(&g.offerings.join(", "))
    );
    match &g.last {
        None => o.push_str("<tr><th>Last cycle</th><td>none yet</td></tr>"),
        Some(c) => {
            let _ = write!(
                o,
                "<tr><th>Last cycle</th><td>{} ({}), took {:.2} s</td></tr><tr><th>Outcome</th><td class=\"outcome\">{}</td></tr>",
                h(&second(c.at)),
                h(&ago(c.at, now)),
                c.took.as_secs_f64(),
                result_badge(c.result)
            );
            let processes: Vec<String> = c
                .processes
                .iter()
                .map(|(p, n)| format!("{n} {p}"))
                .collect();
            let _ = write!(
                o,
                "<tr><th>Work</th><td>{} Waldur request(s), {}</td></tr>",
                c.waldur_requests,
                h(&if processes.is_empty() {
                    "no SLURM process".to_string()
                } else {
                    processes.join(", ")
                })
            );
        }
    }
    let success = g
        .last_success
        .map(|(t, _)| format!("{} ({})", second(t), ago(t, now)))
        .unwrap_or_else(|| "never".into());
    let _ = write!(
        o,
        "<tr><th>Last success</th><td>{}</td></tr></table>",
        h(&success)
    );
    if let Some(c) = g.last.as_ref().filter(|c| !c.errors.is_empty()) {
        o.push_str("<h3>Errors</h3><ul class=\"errors\">");
        for e in &c.errors {
            let _ = write!(o, "<li>{}</li>", h(e));
        }
        o.push_str("</ul>");
    }
    match &g.pending {
        Some((text, left)) => {
            let _ = write!(
                o,
                "<h3>Pending: what the next cycle will do ({left} outstanding)</h3><pre class=\"plan\">{}</pre>",
                h_lines(text)
            );
        }
        None => o.push_str("<h3>Pending</h3><p class=\"muted\">not planned yet</p>"),
    }
    if let Some((at, rows)) = &g.applied {
        let _ = write!(
            o,
            "<h3>Last applied changes ({})</h3><table class=\"changes\"><tr><th>Change</th><th>Outcome</th><th>Message</th></tr>",
            h(&second(*at))
        );
        for r in rows {
            let class = match r.outcome.as_str() {
                "applied" => "ok",
                "skipped" => "warn",
                _ => "bad",
            };
            let _ = write!(
                o,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                h(&r.address),
                badge(class, &r.outcome),
                h(&r.message)
            );
        }
        o.push_str("</table>");
    }
    o.push_str("</section>\n");
}
