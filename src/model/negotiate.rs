//! Content negotiation: which of a route's `content` alternatives an `Accept` header asks for.

/// The media types a short name in `content:` stands for; the first is the one sent.
pub(crate) fn media_types(key: &str) -> Vec<String> {
    let list: &[&str] = match key {
        "json" => &["application/json"],
        "xml" => &["application/xml", "text/xml"],
        "html" => &["text/html"],
        "text" => &["text/plain"],
        "csv" => &["text/csv"],
        "yaml" => &["application/yaml", "application/x-yaml", "text/yaml"],
        other => return vec![other.to_ascii_lowercase()],
    };
    list.iter().map(|s| (*s).to_owned()).collect()
}

/// Whether `key` is a short name or looks like `type/subtype`.
pub(crate) fn is_valid_key(key: &str) -> bool {
    media_types(key).first().is_some_and(|t| {
        let mut parts = t.split('/');
        matches!((parts.next(), parts.next(), parts.next()), (Some(a), Some(b), None)
            if !a.is_empty() && !b.is_empty() && !a.contains('*') && !b.contains('*'))
    })
}

struct Range<'a> {
    kind: &'a str,
    sub: &'a str,
    q: f32,
}

fn ranges(accept: &str) -> Vec<Range<'_>> {
    accept
        .split(',')
        .filter_map(|item| {
            let mut parts = item.split(';');
            let (kind, sub) = parts.next()?.trim().split_once('/')?;
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            Some(Range {
                kind: kind.trim(),
                sub: sub.trim(),
                q,
            })
        })
        .collect()
}

/// The index of the alternative `accept` prefers among `offered` (each a list of media types),
/// by quality, then the order written; the first when there is no `Accept`. `None`: it accepts
/// none of them (406).
pub(crate) fn choose<'a>(
    accept: Option<&str>,
    offered: impl Iterator<Item = &'a [String]>,
) -> Option<usize> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Some(0);
    };
    let ranges = ranges(accept);
    if ranges.is_empty() {
        return Some(0);
    }
    // Each type's quality is the one of the most specific range that covers it (RFC 9110
    // §12.5.1): `text/html;q=0` refuses HTML even next to `*/*`.
    let quality = |media: &str| -> f32 {
        let (kind, sub) = media.split_once('/').unwrap_or((media, ""));
        let mut best: Option<(u8, f32)> = None;
        for r in &ranges {
            let specificity = match (r.kind, r.sub) {
                (k, s) if k.eq_ignore_ascii_case(kind) && s.eq_ignore_ascii_case(sub) => 2,
                (k, "*") if k.eq_ignore_ascii_case(kind) => 1,
                ("*", "*") => 0,
                _ => continue,
            };
            if best.is_none_or(|(s, _)| specificity > s) {
                best = Some((specificity, r.q));
            }
        }
        best.map_or(0.0, |(_, q)| q)
    };
    let mut chosen: Option<(usize, f32)> = None;
    for (i, types) in offered.enumerate() {
        let q = types.iter().map(|t| quality(t)).fold(0.0, f32::max);
        if q > 0.0 && chosen.is_none_or(|(_, best)| q > best) {
            chosen = Some((i, q));
        }
    }
    chosen.map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_by_quality_specificity_and_order() {
        let list: Vec<Vec<String>> = ["json", "xml", "html"]
            .iter()
            .map(|k| media_types(k))
            .collect();
        let offered = || list.iter().map(|t| t.as_slice());
        assert_eq!(choose(None, offered()), Some(0));
        assert_eq!(choose(Some("*/*"), offered()), Some(0));
        assert_eq!(choose(Some("application/xml"), offered()), Some(1));
        assert_eq!(choose(Some("text/xml"), offered()), Some(1));
        assert_eq!(
            choose(Some("text/html,application/xhtml+xml,*/*;q=0.8"), offered()),
            Some(2)
        );
        assert_eq!(
            choose(Some("application/json;q=0.5, application/xml"), offered()),
            Some(1)
        );
        assert_eq!(
            choose(Some("text/*"), offered()),
            Some(1),
            "text/xml is the first text/*"
        );
        assert_eq!(
            choose(Some("*/*, application/json;q=0"), offered()),
            Some(1)
        );
        assert_eq!(choose(Some("image/png"), offered()), None);
        assert!(is_valid_key("application/vnd.api+json") && is_valid_key("csv"));
        assert!(!is_valid_key("jsn") && !is_valid_key("text/*"));
    }
}
