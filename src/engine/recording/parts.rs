//! How one part of a recorded exchange is written in a spec: its path as a route's, a
//! cookie with its value hidden, a body's kind and file name.

use percent_encoding::percent_decode_str;

/// The route path for a request path: segments decoded (routes match decoded segments), ids
/// generalised when asked. `None` when a segment cannot be written in a route's path.
pub(super) fn spec_path(raw: &str, generalise: bool) -> Option<String> {
    let mut out = String::new();
    let mut ids = 0;
    // One trailing slash is ignored by routes: `/a/` is `/a`.
    let trimmed = raw
        .strip_suffix('/')
        .filter(|t| !t.is_empty())
        .unwrap_or(raw);
    for segment in trimmed.split('/').skip(1) {
        let decoded = percent_decode_str(segment).decode_utf8().ok()?;
        if decoded.contains(['/', '{', '}', '?', '#'])
            || (decoded.is_empty() && trimmed != "/")
            || matches!(&*decoded, "." | "..")
        {
            return None;
        }
        out.push('/');
        if generalise && !decoded.is_empty() && is_id(&decoded) {
            ids += 1;
            if ids == 1 {
                out.push_str("{id}");
            } else {
                out.push_str(&format!("{{id{ids}}}"));
            }
        } else {
            out.push_str(&decoded);
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    Some(out)
}

fn is_id(segment: &str) -> bool {
    let uuid = segment.len() == 36
        && segment.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        });
    uuid || segment.bytes().all(|b| b.is_ascii_digit())
}

/// `name=value; attributes` with the value hidden: the page still sees which cookie is set.
pub(super) fn redact_cookie(cookie: &str) -> String {
    let (pair, rest) = cookie.split_once(';').unwrap_or((cookie, ""));
    let name = pair.split_once('=').map_or(pair, |(n, _)| n).trim();
    if rest.is_empty() {
        format!("{name}=REDACTED")
    } else {
        format!("{name}=REDACTED;{rest}")
    }
}

/// Text mockrig would read as a template if it were inline.
pub(super) fn looks_templated(text: &str) -> bool {
    text.contains("{{") || text.contains("{%") || text.contains("{#")
}

pub(super) fn is_text(content_type: &str) -> bool {
    content_type.starts_with("text/")
        || ["xml", "javascript", "x-www-form-urlencoded", "yaml"]
            .iter()
            .any(|t| content_type.contains(t))
}

pub(super) fn extension(content_type: &str) -> &'static str {
    let essence = content_type.split(';').next().unwrap_or("").trim();
    match essence {
        e if e.contains("json") => "json",
        "text/html" => "html",
        e if e.contains("xml") => "xml",
        "text/css" => "css",
        e if e.contains("javascript") => "js",
        "text/csv" => "csv",
        e if e.starts_with("text/") => "txt",
        "image/png" => "png",
        "image/jpeg" => "jpg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        "image/svg+xml" => "svg",
        "application/pdf" => "pdf",
        _ => "bin",
    }
}

pub(super) fn slug(method: &str, path: &str) -> String {
    let mut s = method.to_ascii_lowercase();
    for c in path.chars() {
        if s.len() >= 48 {
            break;
        }
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() {
            s.push(c);
        } else if !s.ends_with('-') {
            s.push('-');
        }
    }
    s.trim_end_matches('-').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_decode_and_ids_generalise() {
        assert_eq!(
            spec_path("/users/42/posts/7", true).unwrap(),
            "/users/{id}/posts/{id2}"
        );
        assert_eq!(spec_path("/users/42", false).unwrap(), "/users/42");
        assert_eq!(spec_path("/a%20b", false).unwrap(), "/a b");
        assert_eq!(spec_path("/", false).unwrap(), "/");
        assert!(spec_path("/a%2Fb", false).is_none());
        assert!(spec_path("/%7Bx%7D", false).is_none());
        assert_eq!(
            spec_path("/o/123e4567-e89b-12d3-a456-426614174000", true).unwrap(),
            "/o/{id}"
        );
    }
}
