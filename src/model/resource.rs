//! Resources as the compiler leaves them: each one's definition (path, id field, seed) and the
//! REST endpoints it gets, each an operation ([`Op`]) the engine carries out on its data.

use std::path::Path;

use serde_json::{Map, Value, json};

use crate::files::{INPUT_CAP, read_regular_text, resolve_inside};
use crate::hash::fnv1a;
use crate::spec::locate::{KeyPath, at};
use crate::spec::{Method, Resource};

use super::problems::Problems;
use super::router::Pattern;

/// How deeply a record may nest objects and arrays. A stored record goes into a log line
/// (one level more) and a snapshot (four more); serde_json reads up to 128, so a record that
/// was acknowledged can always be read back after a restart.
pub(crate) const MAX_DEPTH: usize = 64;

/// How deeply `v` nests objects and arrays (a scalar: 0, `{"a": 1}`: 1).
pub(crate) fn depth(v: &Value) -> usize {
    match v {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// A resource as the spec defines it, compiled.
#[derive(Debug, Clone)]
pub(crate) struct ResourceDef {
    pub(crate) name: String,
    /// URL path without a trailing slash, e.g. `/users`.
    pub(crate) path: String,
    pub(crate) id_field: String,
    pub(crate) singleton: bool,
    /// Shared: a rebuild for stubs reuses the definition rather than read the seed again.
    pub(crate) seed: std::sync::Arc<Seed>,
    /// Changes exactly when the definition does; stable across builds, as it is persisted.
    pub(crate) fingerprint: u64,
}

/// Where a resource is served: its `path`, or `/` and its name.
pub(crate) fn resource_path(name: &str, r: &Resource) -> String {
    r.path.clone().unwrap_or_else(|| format!("/{name}"))
}

/// Compiles resource `name`, reporting each problem at its key under `here`.
pub(crate) fn compile(
    name: &str,
    r: &Resource,
    dir: &Path,
    here: &KeyPath,
    problems: &mut Problems,
) -> Option<ResourceDef> {
    let mark = problems.mark();
    let valid_name = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !valid_name {
        problems.key(
            here.clone(),
            format!("'{name}' is not a resource name: use letters, digits, - and _"),
        );
    }
    let path = resource_path(name, r);
    match Pattern::parse(&path) {
        Ok(p) if !p.is_static() => problems.value(
            at(here, &["path"]),
            format!("'{path}' must be a plain path; the id segment is added by mockrig"),
        ),
        Ok(_) => super::problems::reserved(&path, at(here, &["path"]), problems),
        Err(e) => problems.value(at(here, &["path"]), e.to_string()),
    }
    if r.id.trim().is_empty() {
        problems.value(at(here, &["id"]), "the id field needs a name");
    }
    let seed = match read_seed(r, dir) {
        Ok(seed) => Some(seed),
        Err(e) => {
            let key = if r.seed_file.is_some() {
                "seed_file"
            } else {
                "seed"
            };
            problems.value(at(here, &[key]), e);
            None
        }
    };
    if problems.failed_since(mark) {
        return None;
    }
    let seed = seed?;
    let path = path.trim_end_matches('/').to_owned();
    let seed_json = match &seed {
        Seed::Collection(items) => json!(items),
        Seed::Singleton(m) => json!(m),
    };
    let fingerprint = fnv1a(
        json!([path, r.id, r.singleton, seed_json])
            .to_string()
            .as_bytes(),
        0,
    );
    Some(ResourceDef {
        name: name.to_owned(),
        path,
        id_field: r.id.clone(),
        singleton: r.singleton,
        seed: std::sync::Arc::new(seed),
        fingerprint,
    })
}

/// What an endpoint of a resource does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    List,
    Create,
    Get,
    Replace,
    Patch,
    Delete,
    /// `GET /users/1/posts`: the child collection's records whose `userId` is 1.
    ChildList {
        child: usize,
    },
    /// `POST /users/1/posts`: creates a post with `userId: 1`.
    ChildCreate {
        child: usize,
    },
    SingletonGet,
    /// `POST` to a singleton replaces it, as json-server does.
    SingletonCreate,
    SingletonReplace,
    SingletonPatch,
}

impl Op {
    /// Whether the endpoint reads a JSON object from the body.
    pub(crate) fn takes_body(self) -> bool {
        matches!(
            self,
            Op::Create
                | Op::Replace
                | Op::Patch
                | Op::ChildCreate { .. }
                | Op::SingletonCreate
                | Op::SingletonReplace
                | Op::SingletonPatch
        )
    }
}

/// The field of a child record that names its parent: `userId` for a parent called `users`.
pub(crate) fn foreign_key(parent: &str) -> String {
    format!("{}Id", singular(parent))
}

/// A collection's name for one of its records, json-server's way: `users` → `user`,
/// `categories` → `category`, `addresses` → `address`.
pub(crate) fn singular(name: &str) -> String {
    if let Some(stem) = name.strip_suffix("ies") {
        format!("{stem}y")
    } else if let Some(stem) = name
        .strip_suffix("ses")
        .or_else(|| name.strip_suffix("xes"))
    {
        format!("{stem}{}", &name[stem.len()..stem.len() + 1])
    } else {
        name.strip_suffix('s').unwrap_or(name).to_owned()
    }
}

/// The collection a relation names, by index: `_embed=comments` the collection `comments`,
/// `_expand=user` the one whose record is a `user` (`users`).
pub(crate) fn relation<'d>(
    defs: impl Iterator<Item = &'d ResourceDef>,
    expand: bool,
    name: &str,
) -> Option<usize> {
    defs.enumerate()
        .find(|(_, d)| {
            !d.singleton
                && if expand {
                    singular(&d.name) == name
                } else {
                    d.name == name
                }
        })
        .map(|(i, _)| i)
}

/// The endpoints of resource `i`: path, method and operation. Collections also get nested
/// endpoints for every other collection (`/users/{id}/posts`).
pub(crate) fn endpoints(defs: &[ResourceDef], i: usize) -> Vec<(String, Method, Op)> {
    let def = &defs[i];
    let base = if def.path.is_empty() {
        "/".to_owned()
    } else {
        def.path.clone()
    };
    if def.singleton {
        return vec![
            (base.clone(), Method::Get, Op::SingletonGet),
            (base.clone(), Method::Post, Op::SingletonCreate),
            (base.clone(), Method::Put, Op::SingletonReplace),
            (base, Method::Patch, Op::SingletonPatch),
        ];
    }
    let item = format!("{}/{{id}}", def.path);
    let mut list = vec![
        (base.clone(), Method::Get, Op::List),
        (base, Method::Post, Op::Create),
        (item.clone(), Method::Get, Op::Get),
        (item.clone(), Method::Put, Op::Replace),
        (item.clone(), Method::Patch, Op::Patch),
        (item, Method::Delete, Op::Delete),
    ];
    for (j, child) in defs.iter().enumerate() {
        if j != i && !child.singleton {
            let nested = format!("{}/{{id}}/{}", def.path, child.name);
            list.push((nested.clone(), Method::Get, Op::ChildList { child: j }));
            list.push((nested, Method::Post, Op::ChildCreate { child: j }));
        }
    }
    list
}

/// Initial data in the shape the resource serves.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Seed {
    Collection(Vec<Map<String, Value>>),
    Singleton(Map<String, Value>),
}

/// The text form of an id, which is how ids are compared: `1` and `"1"` name the same record.
pub(crate) fn id_key(id: &Value) -> Option<String> {
    match id {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Reads and checks the seed. Errors name the problem; the caller places them in the spec.
fn read_seed(r: &Resource, dir: &Path) -> Result<Seed, String> {
    let value = match (&r.seed, &r.seed_file) {
        (Some(_), Some(_)) => return Err("give seed or seed_file, not both".into()),
        (Some(v), None) => v.clone(),
        (None, Some(file)) => {
            let path = resolve_inside(dir, file, "the spec's folder").map_err(|e| e.to_string())?;
            let text = read_regular_text(&path, INPUT_CAP)
                .map_err(|e| format!("cannot read '{file}': {e}"))?;
            // JSON is YAML too, but serde_json's messages are the clearer ones for JSON files.
            let parsed = if file.ends_with(".json") {
                serde_json::from_str(&text).map_err(|e| format!("'{file}': {e}"))
            } else {
                serde_yaml::from_str(&text).map_err(|e| format!("'{file}': {e}"))
            };
            parsed?
        }
        (None, None) => Value::Null,
    };
    shape(r, value)
}

fn shape(r: &Resource, value: Value) -> Result<Seed, String> {
    if r.singleton {
        return match value {
            Value::Null => Ok(Seed::Singleton(Map::new())),
            Value::Object(m) => Ok(Seed::Singleton(m)),
            other => Err(format!(
                "a singleton's seed is an object, found {}",
                kind(&other)
            )),
        };
    }
    let items = match value {
        Value::Null => Vec::new(),
        Value::Array(items) => items,
        other => {
            return Err(format!(
                "a seed is a list of objects, found {}",
                kind(&other)
            ));
        }
    };
    let mut records = Vec::with_capacity(items.len());
    let mut seen = std::collections::HashSet::new();
    for (i, item) in items.into_iter().enumerate() {
        let Value::Object(record) = item else {
            return Err(format!("seed item {i} is {}, not an object", kind(&item)));
        };
        if record.values().map(depth).max().unwrap_or(0) + 1 > MAX_DEPTH {
            return Err(format!(
                "seed item {i} nests deeper than {MAX_DEPTH} levels, more than a state file keeps"
            ));
        }
        match record.get(&r.id) {
            None => {}
            Some(id) => {
                let key = id_key(id).ok_or_else(|| {
                    format!(
                        "seed item {i}: the id '{}' must be a number or a string",
                        r.id
                    )
                })?;
                if !seen.insert(key.clone()) {
                    return Err(format!("seed item {i}: id {key} appears twice"));
                }
            }
        }
        records.push(record);
    }
    Ok(Seed::Collection(records))
}

pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::foreign_key;

    #[test]
    fn foreign_keys_follow_json_server() {
        assert_eq!(foreign_key("users"), "userId");
        assert_eq!(foreign_key("posts"), "postId");
        assert_eq!(foreign_key("categories"), "categoryId");
        assert_eq!(foreign_key("addresses"), "addressId");
        assert_eq!(foreign_key("boxes"), "boxId");
        assert_eq!(foreign_key("staff"), "staffId");
    }
}
