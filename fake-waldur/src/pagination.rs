//! Waldur's `LinkHeaderPagination` (DRF page-number pagination): bare JSON
//! array body, `X-Result-Count`, and a `Link` header with absolute
//! first/prev/next/last URLs whose query strings DRF rebuilds key-sorted.

use crate::http::{json_response, ApiError, ApiResult, Base, Query};
use axum::http::{HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::Value;
use std::collections::BTreeMap;

pub const DEFAULT_PAGE_SIZE: usize = 10;
pub const MAX_PAGE_SIZE: usize = 300;

/// DRF's `_positive_int(strict=True)` with clamping: junk means "default".
fn page_size(q: &Query) -> usize {
    match q.last("page_size").and_then(|v| v.parse::<usize>().ok()) {
        Some(n) if n > 0 => n.min(MAX_PAGE_SIZE),
        _ => DEFAULT_PAGE_SIZE,
    }
}

/// The request's absolute URL with `page` replaced (or removed for `None`),
/// mirroring DRF's `replace_query_param` / `remove_query_param`.
fn page_link(base: &Base, path: &str, q: &Query, page: Option<usize>) -> String {
    let mut grouped: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (k, v) in &q.0 {
        grouped.entry(k).or_default().push(v);
    }
    grouped.remove("page");
    let page_str = page.map(|p| p.to_string());
    if let Some(p) = &page_str {
        grouped.insert("page", vec![p]);
    }
    let mut enc = form_urlencoded::Serializer::new(String::new());
    for (k, vs) in &grouped {
        for v in vs {
            enc.append_pair(k, v);
        }
    }
    let query = enc.finish();
    if query.is_empty() {
        format!("{}{path}", base.0)
    } else {
        format!("{}{path}?{query}", base.0)
    }
}

/// Slices `items` to the requested page and builds the paginated response.
pub fn paginate(items: Vec<Value>, base: &Base, path: &str, q: &Query) -> ApiResult {
    let window = Window::of(items.len(), q)?;
    let body: Vec<Value> = items
        .into_iter()
        .skip(window.skip())
        .take(window.size)
        .collect();
    window.respond(body, base, path, q)
}

/// The requested page of a list of `count` items.
pub struct Window {
    pub count: usize,
    pub size: usize,
    pub page: usize,
    num_pages: usize,
}

impl Window {
    /// The page `q` asks for; 404 (DRF's "Invalid page.") past the end.
    pub fn of(count: usize, q: &Query) -> Result<Window, ApiError> {
        let size = page_size(q);
        let num_pages = count.div_ceil(size).max(1);
        let page = match q.last("page") {
            None => 1,
            Some("last") => num_pages,
            Some(v) => v.parse::<usize>().map_err(|_| ApiError::invalid_page())?,
        };
        if page == 0 || page > num_pages {
            return Err(ApiError::invalid_page());
        }
        Ok(Window {
            count,
            size,
            page,
            num_pages,
        })
    }

    /// Items before the page.
    pub fn skip(&self) -> usize {
        (self.page - 1) * self.size
    }

    /// The response for the page's `body`, with `X-Result-Count` and `Link`.
    pub fn respond(&self, body: Vec<Value>, base: &Base, path: &str, q: &Query) -> ApiResult {
        let (count, page, num_pages) = (self.count, self.page, self.num_pages);

        // First and last are always present; page 1 is always spelled without `page`.
        let at = |p: usize| page_link(base, path, q, (p > 1).then_some(p));
        let mut links = vec![(at(1), "first")];
        if page > 1 {
            links.push((at(page - 1), "prev"));
        }
        if page < num_pages {
            links.push((at(page + 1), "next"));
        }
        links.push((at(num_pages), "last"));
        let link = links
            .iter()
            .map(|(url, rel)| format!("<{url}>; rel=\"{rel}\""))
            .collect::<Vec<_>>()
            .join(", ");

        let mut resp: Response = json_response(StatusCode::OK, &Value::Array(body));
        let headers = resp.headers_mut();
        headers.insert("x-result-count", HeaderValue::from(count));
        if let Ok(v) = HeaderValue::from_str(&link) {
            headers.insert("link", v);
        }
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_sorted_and_page_one_drops_page() {
        let base = Base("http://h:1".into());
        let q = Query::parse(Some("state=OK&page=2&field=uuid&state=Erred"));
        assert_eq!(
            page_link(&base, "/api/x/", &q, Some(3)),
            "http://h:1/api/x/?field=uuid&page=3&state=OK&state=Erred"
        );
        assert_eq!(
            page_link(&base, "/api/x/", &q, None),
            "http://h:1/api/x/?field=uuid&state=OK&state=Erred"
        );
        assert_eq!(
            page_link(&base, "/api/x/", &Query::default(), None),
            "http://h:1/api/x/"
        );
    }

    #[test]
    fn page_size_rules() {
        assert_eq!(page_size(&Query::parse(Some("page_size=1000"))), 300);
        assert_eq!(page_size(&Query::parse(Some("page_size=0"))), 10);
        assert_eq!(page_size(&Query::parse(Some("page_size=x"))), 10);
        assert_eq!(page_size(&Query::parse(Some("page_size=25"))), 25);
    }
}
