//! Key paths (`routes[2].response.status`) and where they are in the YAML: the link between
//! a problem found in the typed spec and the line a person fixes.

use saphyr::{AnnotatedMapping, MarkedYaml, Scalar, YamlData};

use super::report::Severity;

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

pub(crate) type KeyPath = Vec<Seg>;

/// `routes[2].response.status`
pub(crate) fn display_path(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// `base` followed by the keys `more`.
pub(crate) fn at(base: &[Seg], more: &[&str]) -> KeyPath {
    let mut p = base.to_vec();
    p.extend(more.iter().map(|k| Seg::Key((*k).to_owned())));
    p
}

/// `base` followed by list index `i`.
pub(crate) fn index(base: &[Seg], i: usize) -> KeyPath {
    let mut p = base.to_vec();
    p.push(Seg::Index(i));
    p
}

/// The node at `path`, and the key node that names it when its parent is a mapping.
pub(crate) fn locate<'a, 'i>(
    doc: &'a MarkedYaml<'i>,
    path: &[Seg],
) -> Option<(Option<&'a MarkedYaml<'i>>, &'a MarkedYaml<'i>)> {
    let mut node = untag(doc);
    let mut key = None;
    for seg in path {
        match (seg, &node.data) {
            (Seg::Key(k), YamlData::Mapping(m)) => {
                let (kn, vn) = m
                    .iter()
                    .find(|(kn, _)| key_text(kn).as_deref() == Some(k))?;
                key = Some(kn);
                node = untag(vn);
            }
            (Seg::Index(i), YamlData::Sequence(items)) => {
                key = None;
                node = untag(items.get(*i)?);
            }
            _ => return None,
        }
    }
    Some((key, node))
}

pub(crate) fn untag<'a, 'i>(mut node: &'a MarkedYaml<'i>) -> &'a MarkedYaml<'i> {
    while let YamlData::Tagged(_, inner) = &node.data {
        node = inner;
    }
    node
}

pub(crate) enum Kind<'a, 'i> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(&'a [MarkedYaml<'i>]),
    Map(&'a AnnotatedMapping<'i, MarkedYaml<'i>>),
    Bad,
}

pub(crate) fn kind<'a, 'i>(node: &'a MarkedYaml<'i>) -> Kind<'a, 'i> {
    let scalar = |s: &Scalar<'_>| match s {
        Scalar::Null => Kind::Null,
        Scalar::Boolean(b) => Kind::Bool(*b),
        Scalar::Integer(i) => Kind::Int(*i),
        Scalar::FloatingPoint(f) => Kind::Float(f.into_inner()),
        Scalar::String(s) => Kind::Str(s.to_string()),
    };
    match &untag(node).data {
        YamlData::Value(s) => scalar(s),
        YamlData::Representation(text, style, tag) => {
            match Scalar::parse_from_cow_and_metadata(text.clone(), *style, tag.as_ref()) {
                Some(s) => scalar(&s),
                None => Kind::Bad,
            }
        }
        YamlData::Sequence(items) => Kind::Seq(items),
        YamlData::Mapping(m) => Kind::Map(m),
        YamlData::Tagged(..) | YamlData::Alias(_) | YamlData::BadValue => Kind::Bad,
    }
}

pub(crate) fn describe(k: &Kind<'_, '_>) -> String {
    match k {
        Kind::Null => "nothing (null)".into(),
        Kind::Bool(b) => format!("boolean {b}"),
        Kind::Int(i) => format!("integer {i}"),
        Kind::Float(f) => format!("number {f}"),
        Kind::Str(s) => format!("string {s:?}"),
        Kind::Seq(_) => "a list".into(),
        Kind::Map(_) => "a mapping".into(),
        Kind::Bad => "an invalid value".into(),
    }
}

pub(crate) fn key_text(node: &MarkedYaml<'_>) -> Option<String> {
    match kind(node) {
        Kind::Str(s) => Some(s),
        Kind::Int(i) => Some(i.to_string()),
        Kind::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A problem found in the typed spec, by key path; `load::locate_problems` places it on its
/// line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub(crate) path: KeyPath,
    /// Point at the key itself rather than at its value.
    pub(crate) at_key: bool,
    pub(crate) message: String,
    pub(crate) severity: Severity,
    /// Another item the message names (the route that shadows this one, the first channel at
    /// a path), by key path: [`PLACE`] in the message is replaced by where it is, `routes[0]`
    /// in the same file, `routes/users.yaml:12` in another.
    pub(crate) refer: Option<KeyPath>,
}

/// Where [`Problem::refer`]'s place goes in a message.
pub(crate) const PLACE: &str = "\u{1}";
