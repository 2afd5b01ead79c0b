//! Path patterns and the segment tree that finds every route whose path fits a request, most
//! specific first.
//!
//! matchit (the radix router behind axum) returns only the single best match, but a spec
//! needs the next ones too: when `/items/special` exists and its `match` fails, the request must
//! fall through to `/items/{id}`. So this is a small tree of path segments walked depth-first in
//! specificity order (fixed segment, then `{param}`, then `{*rest}`), stopping at the first
//! route the caller accepts. Its cost depends on the depth of the path, not on the number of
//! routes. Parameter names belong to each route rather than to the tree, so `GET /users/{id}`
//! and `DELETE /users/{name}` share a node instead of conflicting.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::Range;

use percent_encoding::percent_decode_str;

use crate::error::Invalid;

/// One segment of a path pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    Static(String),
    Param(String),
    CatchAll(String),
}

/// A parsed path pattern such as `/users/{id}/posts` or `/files/{*rest}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    pub(crate) segments: Vec<Segment>,
}

impl Pattern {
    /// Parses a pattern; the error says what is wrong and how to write it.
    pub(crate) fn parse(text: &str) -> Result<Pattern, Invalid> {
        Self::parse_text(text).map_err(Invalid)
    }

    fn parse_text(text: &str) -> Result<Pattern, String> {
        if !text.starts_with('/') {
            return Err(format!("'{text}' must start with '/'"));
        }
        if text.contains('?') || text.contains('#') {
            return Err(format!(
                "'{text}' contains '?' or '#'; put query conditions under match.query"
            ));
        }
        let mut segments = Vec::new();
        let mut names: Vec<&str> = Vec::new();
        for raw in split(text) {
            if matches!(segments.last(), Some(Segment::CatchAll(_))) {
                return Err(format!(
                    "'{text}': a {{*catch-all}} must be the last segment"
                ));
            }
            let segment = match raw.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(inner) => {
                    let (catch_all, name) = match inner.strip_prefix('*') {
                        Some(name) => (true, name),
                        None => (false, inner),
                    };
                    if !is_identifier(name) {
                        return Err(format!(
                            "'{raw}' is not a parameter: write {{name}} for one segment or \
                             {{*name}} for the rest, with a name of letters, digits and _"
                        ));
                    }
                    if names.contains(&name) {
                        return Err(format!("parameter '{name}' appears twice in '{text}'"));
                    }
                    names.push(name);
                    if catch_all {
                        Segment::CatchAll(name.to_owned())
                    } else {
                        Segment::Param(name.to_owned())
                    }
                }
                None if raw.contains(['{', '}']) => {
                    return Err(format!(
                        "'{raw}' mixes text and braces: a parameter must be a whole segment, \
                         like /files/{{name}}"
                    ));
                }
                None if raw.is_empty() => {
                    return Err(format!("'{text}' has an empty segment ('//')"));
                }
                None => Segment::Static(decode(raw).into_owned()),
            };
            segments.push(segment);
        }
        Ok(Pattern { segments })
    }

    /// `{name: value}` of the parameters, for a request path this pattern matched.
    pub(crate) fn params(
        &self,
        request: &[Cow<'_, str>],
    ) -> serde_json::Map<String, serde_json::Value> {
        self.segments
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match s {
                Segment::Param(n) => Some((n.clone(), request.get(i)?.to_string().into())),
                Segment::CatchAll(n) => Some((n.clone(), request.get(i..)?.join("/").into())),
                Segment::Static(_) => None,
            })
            .collect()
    }

    /// The names the pattern captures, in order.
    pub(crate) fn captures(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Param(n) | Segment::CatchAll(n) => Some(n.as_str()),
            Segment::Static(_) => None,
        })
    }

    /// A sort key that puts more specific patterns first: segment by segment, fixed text
    /// before a parameter before a catch-all; a pattern that ends earlier comes first.
    pub(crate) fn specificity(&self) -> Vec<u8> {
        self.segments
            .iter()
            .map(|s| match s {
                Segment::Static(_) => 0,
                Segment::Param(_) => 1,
                Segment::CatchAll(_) => 2,
            })
            .collect()
    }

    /// Whether both patterns fit exactly the same request paths: the same segments, whatever
    /// their parameters are called (`/users/{id}` and `/users/{name}`). The checks use a key
    /// with the same meaning (`checks::paths_key`); a test holds the two together.
    #[cfg(test)]
    pub(crate) fn same_paths(&self, other: &Pattern) -> bool {
        self.segments.len() == other.segments.len()
            && self
                .segments
                .iter()
                .zip(&other.segments)
                .all(|pair| match pair {
                    (Segment::Static(a), Segment::Static(b)) => a == b,
                    (Segment::Param(_), Segment::Param(_))
                    | (Segment::CatchAll(_), Segment::CatchAll(_)) => true,
                    _ => false,
                })
    }

    pub(crate) fn is_static(&self) -> bool {
        self.segments
            .iter()
            .all(|s| matches!(s, Segment::Static(_)))
    }

    /// Why this pattern does not fit the request path, for "near miss" reports.
    pub(crate) fn explain_mismatch(&self, request: &[Cow<'_, str>]) -> Option<PathMismatch> {
        for (i, seg) in self.segments.iter().enumerate() {
            let got = request.get(i);
            match (seg, got) {
                (Segment::CatchAll(_), Some(_)) => return None,
                (Segment::Param(_), Some(g)) if !g.is_empty() => {}
                (Segment::Static(s), Some(g)) if s == g => {}
                (seg, got) => {
                    return Some(PathMismatch {
                        segment: i + 1,
                        expected: match seg {
                            Segment::Static(s) => s.clone(),
                            Segment::Param(n) => format!("{{{n}}}"),
                            Segment::CatchAll(n) => format!("{{*{n}}}"),
                        },
                        actual: got.map(|g| g.to_string()),
                    });
                }
            }
        }
        request.get(self.segments.len()).map(|extra| PathMismatch {
            segment: self.segments.len() + 1,
            expected: "end of path".into(),
            actual: Some(extra.to_string()),
        })
    }
}

impl Pattern {
    /// How far a request path is from this pattern, for ranking near misses: each segment
    /// that does not fit counts, a missing or extra segment more, and a likely typo
    /// (`usres` for `users`) less than an unrelated word.
    pub(crate) fn distance(&self, request: &[Cow<'_, str>]) -> usize {
        let mut d = 0;
        for (i, seg) in self.segments.iter().enumerate() {
            match (seg, request.get(i)) {
                (Segment::CatchAll(_), Some(_)) => return d,
                (Segment::Param(_), Some(g)) if !g.is_empty() => {}
                (Segment::Static(s), Some(g)) if s == g => {}
                (Segment::Static(s), Some(g)) => {
                    d += 10 + (10.0 * (1.0 - strsim::jaro_winkler(s, g))).round() as usize;
                }
                _ => d += 20,
            }
        }
        d + 20 * request.len().saturating_sub(self.segments.len())
    }
}

/// The first path segment where a pattern and a request differ (1-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PathMismatch {
    pub(crate) segment: usize,
    pub(crate) expected: String,
    pub(crate) actual: Option<String>,
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Splits a path into raw segments. One trailing slash is ignored, as most web frameworks
/// users test against do, so `/users/` reaches `/users`.
pub(crate) fn split(path: &str) -> impl Iterator<Item = &str> {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    trimmed.split('/').filter(move |_| !trimmed.is_empty())
}

fn decode(segment: &str) -> Cow<'_, str> {
    percent_decode_str(segment).decode_utf8_lossy()
}

/// A request path as percent-decoded segments. Decoding each segment after splitting keeps an
/// encoded `%2F` inside its segment.
pub(crate) fn request_segments(path: &str) -> Vec<Cow<'_, str>> {
    split(path).map(decode).collect()
}

/// Routes by path: values of type `T` (route indices) stored at the node of their pattern.
#[derive(Debug)]
pub(crate) struct Router<T> {
    root: Node<T>,
}

#[derive(Debug)]
struct Node<T> {
    statics: HashMap<String, Node<T>>,
    param: Option<Box<Node<T>>>,
    /// Values whose pattern ends here.
    here: Vec<T>,
    /// Values whose pattern ends with a catch-all here.
    catch_all: Vec<T>,
}

impl<T> Default for Node<T> {
    fn default() -> Self {
        Node {
            statics: HashMap::new(),
            param: None,
            here: Vec::new(),
            catch_all: Vec::new(),
        }
    }
}

impl<T> Default for Router<T> {
    fn default() -> Self {
        Router {
            root: Node::default(),
        }
    }
}

impl<T> Router<T> {
    /// Adds a value at the pattern's node; values at one node keep their insertion order.
    pub(crate) fn insert(&mut self, pattern: &Pattern, value: T) {
        let mut node = &mut self.root;
        for seg in &pattern.segments {
            match seg {
                Segment::Static(s) => node = node.statics.entry(s.clone()).or_default(),
                Segment::Param(_) => node = node.param.get_or_insert_with(Default::default),
                Segment::CatchAll(_) => {
                    node.catch_all.push(value);
                    return;
                }
            }
        }
        node.here.push(value);
    }

    /// Calls `accept` with the values of every pattern that fits `segments`, most specific
    /// first, and the segment ranges its parameters captured, until it returns `Some`.
    pub(crate) fn find<R>(
        &self,
        segments: &[Cow<'_, str>],
        mut accept: impl FnMut(&[T], &[Range<usize>]) -> Option<R>,
    ) -> Option<R> {
        let mut captures = Vec::new();
        walk(&self.root, segments, 0, &mut captures, &mut accept)
    }
}

fn walk<T, R>(
    node: &Node<T>,
    segments: &[Cow<'_, str>],
    at: usize,
    captures: &mut Vec<Range<usize>>,
    accept: &mut impl FnMut(&[T], &[Range<usize>]) -> Option<R>,
) -> Option<R> {
    let Some(segment) = segments.get(at) else {
        return (!node.here.is_empty())
            .then(|| accept(&node.here, captures))
            .flatten();
    };
    if let Some(child) = node.statics.get(segment.as_ref())
        && let Some(r) = walk(child, segments, at + 1, captures, accept)
    {
        return Some(r);
    }
    // An empty segment (from `//`) is not a value for a parameter.
    if let Some(child) = &node.param
        && !segment.is_empty()
    {
        captures.push(at..at + 1);
        let r = walk(child, segments, at + 1, captures, accept);
        captures.pop();
        if r.is_some() {
            return r;
        }
    }
    if node.catch_all.is_empty() {
        return None;
    }
    captures.push(at..segments.len());
    let r = accept(&node.catch_all, captures);
    captures.pop();
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(patterns: &[&str]) -> Router<usize> {
        let mut r = Router::default();
        for (i, p) in patterns.iter().enumerate() {
            r.insert(&Pattern::parse(p).unwrap(), i);
        }
        r
    }

    /// Every match, in order, with the text each parameter captured.
    fn all(r: &Router<usize>, path: &str) -> Vec<(usize, Vec<String>)> {
        let segs = request_segments(path);
        let mut out = Vec::new();
        r.find::<()>(&segs, |vals, caps| {
            let texts: Vec<String> = caps.iter().map(|c| segs[c.clone()].join("/")).collect();
            out.extend(vals.iter().map(|v| (*v, texts.clone())));
            None
        });
        out
    }

    fn caps(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn specificity_beats_order() {
        let r = router(&["/items/{*rest}", "/items/{id}", "/items/special"]);
        let found: Vec<usize> = all(&r, "/items/special").iter().map(|m| m.0).collect();
        assert_eq!(found, vec![2, 1, 0]);
        assert_eq!(
            all(&r, "/items/7"),
            vec![(1, caps(&["7"])), (0, caps(&["7"]))]
        );
        assert_eq!(all(&r, "/items/a/b"), vec![(0, caps(&["a/b"]))]);
        assert!(all(&r, "/items").is_empty(), "a catch-all needs a segment");
    }

    #[test]
    fn backtracks_past_a_dead_static_branch() {
        let r = router(&["/a/b/c", "/a/{x}/d"]);
        assert_eq!(all(&r, "/a/b/d"), vec![(1, caps(&["b"]))]);
    }

    #[test]
    fn root_trailing_slash_and_decoding() {
        let r = router(&["/", "/users", "/a b/{id}"]);
        assert_eq!(all(&r, "/"), vec![(0, caps(&[]))]);
        assert_eq!(all(&r, "/users/"), vec![(1, caps(&[]))]);
        assert_eq!(all(&r, "/a%20b/x%2Fy"), vec![(2, caps(&["x/y"]))]);
        assert_eq!(request_segments("/a%20b/x%2Fy")[1], "x/y");
        assert!(all(&r, "/users//").is_empty());
    }

    #[test]
    fn rejects_bad_patterns() {
        for bad in [
            "users",
            "/a//b",
            "/a/{",
            "/a/{}",
            "/a/x{id}",
            "/{*rest}/more",
            "/{id}/{id}",
            "/a?x=1",
            "/{1x}",
        ] {
            assert!(Pattern::parse(bad).is_err(), "{bad} should be rejected");
        }
        assert_eq!(
            Pattern::parse("/f/{*rest}").unwrap().segments,
            vec![
                Segment::Static("f".into()),
                Segment::CatchAll("rest".into())
            ]
        );
    }

    #[test]
    fn explains_the_first_difference() {
        let p = Pattern::parse("/users/{id}/posts").unwrap();
        let m = p
            .explain_mismatch(&request_segments("/users/1/post"))
            .unwrap();
        assert_eq!((m.segment, m.expected.as_str()), (3, "posts"));
        assert_eq!(m.actual.as_deref(), Some("post"));
        assert!(
            p.explain_mismatch(&request_segments("/users/1/posts"))
                .is_none()
        );
        let m = p
            .explain_mismatch(&request_segments("/users/1/posts/x"))
            .unwrap();
        assert_eq!(m.expected, "end of path");
    }

    #[test]
    fn a_typo_is_nearer_than_another_path() {
        let req = request_segments("/usres/1");
        let near = Pattern::parse("/users/{id}").unwrap().distance(&req);
        let far = Pattern::parse("/health").unwrap().distance(&req);
        assert!(near < far, "{near} should be below {far}");
        assert_eq!(Pattern::parse("/usres/{id}").unwrap().distance(&req), 0);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 512, ..Default::default() })]

        /// The tree finds exactly the patterns whose explanation finds no mismatch, most
        /// specific first: the 404's account and the router cannot disagree.
        #[test]
        fn the_router_and_the_mismatch_explanation_agree(
            patterns in proptest::collection::vec(
                "(/([ab]{1,2}|\\{[a-z]{1,2}\\}|\\{\\*r\\}|%6[12])){0,4}/?",
                0..8,
            ),
            path in "(/([ab]{0,2}|%6[12]|\\.\\.)){0,5}/?",
        ) {
            let parsed: Vec<Pattern> = patterns.iter().filter_map(|p| Pattern::parse(p).ok()).collect();
            let mut router = Router::default();
            for (i, p) in parsed.iter().enumerate() {
                router.insert(p, i);
            }
            let segments = request_segments(&path);
            let mut found = Vec::new();
            let mut captures_fit = true;
            router.find::<()>(&segments, |values, captures| {
                found.extend_from_slice(values);
                captures_fit &= captures.iter().all(|c| c.end <= segments.len() && c.start < c.end);
                None
            });
            proptest::prop_assert!(captures_fit, "captures lie inside the path");
            let mut sorted = found.clone();
            sorted.sort_unstable();
            let explained: Vec<usize> = (0..parsed.len())
                .filter(|&i| parsed[i].explain_mismatch(&segments).is_none())
                .collect();
            proptest::prop_assert_eq!(sorted, explained);
            let order: Vec<Vec<u8>> = found.iter().map(|&i| parsed[i].specificity()).collect();
            proptest::prop_assert!(order.is_sorted(), "most specific first: {:?}", order);
            for &i in &found {
                proptest::prop_assert_eq!(parsed[i].distance(&segments), 0);
            }
        }
    }
}
