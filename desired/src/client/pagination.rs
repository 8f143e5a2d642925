//! Waldur's `Link` header pagination (`rel="next"`), read the way the real client does:
//! only the `page` number is taken from the next link; every other parameter stays as the
//! agent sent it.

/// The `page` value of the `rel="next"` link, if there is one.
pub fn next_page(link_header: &str) -> Option<String> {
    for part in link_header.split(',') {
        let mut pieces = part.split(';');
        let url = pieces.next()?.trim();
        let is_next = pieces.any(|p| {
            let p = p.trim().replace(' ', "");
            p == "rel=\"next\"" || p == "rel=next"
        });
        if !is_next {
            continue;
        }
        let url = url.trim_start_matches('<').trim_end_matches('>');
        let query = url.split_once('?')?.1;
        return query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == "page")
            .map(|(_, v)| v.to_string());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_next_page() {
        let h = r#"<http://w/api/x/?page_size=2>; rel="first", <http://w/api/x/?page=3&page_size=2>; rel="next", <http://w/api/x/?page=9&page_size=2>; rel="last""#;
        assert_eq!(next_page(h).as_deref(), Some("3"));
        let last = r#"<http://w/api/x/?page_size=2>; rel="first", <http://w/api/x/?page=8&page_size=2>; rel="prev", <http://w/api/x/?page=9&page_size=2>; rel="last""#;
        assert_eq!(next_page(last), None);
        assert_eq!(next_page(""), None);
    }
}
