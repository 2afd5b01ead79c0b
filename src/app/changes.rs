//! What a reload changed, in one line for the log: `+1 route (POST /orders), ~1 route
//! (GET /users/{id}), -0 routes`, and the channels and static folders when they changed.

use std::collections::{BTreeSet, HashMap};

use crate::spec::{Route, Spec};

/// What a reload did to the routes.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub(crate) struct RouteChanges {
    pub(crate) added: Vec<String>,
    pub(crate) changed: Vec<String>,
    pub(crate) removed: Vec<String>,
}

/// The routes `new` adds, changes and removes, each as `METHOD /path`. Routes are known by
/// method and path; repeats of one method and path (with different `match:`) by their rank
/// among those.
pub(crate) fn route_changes(old: &Spec, new: &Spec) -> RouteChanges {
    // Looked up by key, not searched: a reload of 10,000 routes spent 400 ms comparing every
    // pair. Keys borrow the routes' method and path; text is made only for what changed.
    type Key<'a> = (&'static str, &'a str, usize);
    fn keyed(routes: &[Route]) -> Vec<(Key<'_>, &Route)> {
        let mut seen: HashMap<(&'static str, &str), usize> = HashMap::with_capacity(routes.len());
        routes
            .iter()
            .map(|r| {
                let rank = seen.entry((r.method.as_str(), &r.path)).or_default();
                let entry = ((r.method.as_str(), r.path.as_str(), *rank), r);
                *rank += 1;
                entry
            })
            .collect()
    }
    let name = |(method, path, _): &Key<'_>| format!("{method} {path}");
    let old_routes = keyed(&old.routes);
    let new_routes = keyed(&new.routes);
    let old_by_key: HashMap<&Key<'_>, &Route> = old_routes.iter().map(|(k, r)| (k, *r)).collect();
    let new_by_key: HashMap<&Key<'_>, &Route> = new_routes.iter().map(|(k, r)| (k, *r)).collect();
    let mut out = RouteChanges::default();
    for (key, route) in &new_routes {
        match old_by_key.get(key) {
            None => out.added.push(name(key)),
            Some(old) if *old != *route => out.changed.push(name(key)),
            Some(_) => {}
        }
    }
    out.removed = old_routes
        .iter()
        .filter(|(k, _)| !new_by_key.contains_key(k))
        .map(|(k, _)| name(k))
        .collect();
    out
}

/// `+1 route (POST /orders), ~1 route (GET /users/{id}), -0 routes`, and the same for static
/// folders when they changed.
/// Also the route changes themselves, for the dashboard.
pub(crate) fn describe_changes(old: &Spec, new: &Spec) -> (String, RouteChanges) {
    let routes = route_changes(old, new);
    let RouteChanges {
        added,
        changed,
        removed,
    } = &routes;
    let mut parts = vec![
        count("+", added, "route"),
        count("~", changed, "route"),
        count("-", removed, "route"),
    ];
    let old_static: BTreeSet<_> = old
        .statics
        .iter()
        .map(|s| format!("{} {}", s.path, s.dir))
        .collect();
    let new_static: BTreeSet<_> = new
        .statics
        .iter()
        .map(|s| format!("{} {}", s.path, s.dir))
        .collect();
    // Channels are known by path; only what changed is mentioned.
    fn channels<T: PartialEq>(
        old: &[T],
        new: &[T],
        path: impl Fn(&T) -> &str,
        noun: &str,
        parts: &mut Vec<String>,
    ) {
        let find = |list: &[T], p: &str| list.iter().position(|c| path(c) == p);
        let added: Vec<String> = new
            .iter()
            .filter(|c| find(old, path(c)).is_none())
            .map(|c| path(c).to_owned())
            .collect();
        let changed: Vec<String> = new
            .iter()
            .filter(|c| find(old, path(c)).is_some_and(|i| old[i] != **c))
            .map(|c| path(c).to_owned())
            .collect();
        let removed: Vec<String> = old
            .iter()
            .filter(|c| find(new, path(c)).is_none())
            .map(|c| path(c).to_owned())
            .collect();
        for (sign, list) in [("+", added), ("~", changed), ("-", removed)] {
            if !list.is_empty() {
                parts.push(count(sign, &list, noun));
            }
        }
    }
    channels(
        &old.websockets,
        &new.websockets,
        |w| &w.path,
        "websocket",
        &mut parts,
    );
    channels(&old.sse, &new.sse, |s| &s.path, "sse stream", &mut parts);
    if old_static != new_static || old.server != new.server {
        let added: Vec<String> = new_static.difference(&old_static).cloned().collect();
        let removed: Vec<String> = old_static.difference(&new_static).cloned().collect();
        parts.push(count("+", &added, "static folder"));
        parts.push(count("-", &removed, "static folder"));
        if old.server != new.server {
            parts.push("server settings changed".into());
        }
    }
    (parts.join(", "), routes)
}

fn count(sign: &str, names: &[String], noun: &str) -> String {
    let n = names.len();
    let plural = if n == 1 { "" } else { "s" };
    if n == 0 {
        return format!("{sign}0 {noun}s");
    }
    const SHOWN: usize = 3;
    let mut list = names
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if n > SHOWN {
        list.push_str(&format!(", … {} more", n - SHOWN));
    }
    format!("{sign}{n} {noun}{plural} ({list})")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> Spec {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn names_what_changed() {
        let old = spec(
            "routes:\n  - { path: /a, response: { text: a } }\n  - { path: /b }\n  - { path: /c }\n",
        );
        let new = spec(
            "routes:\n  - { path: /a, response: { text: A } }\n  - { path: /b }\n  - { method: POST, path: /orders }\n",
        );
        assert_eq!(
            describe_changes(&old, &new).0,
            "+1 route (POST /orders), ~1 route (GET /a), -1 route (GET /c)"
        );
        assert_eq!(
            describe_changes(&old, &old).0,
            "+0 routes, ~0 routes, -0 routes"
        );
    }

    #[test]
    fn names_changed_channels() {
        let old =
            spec("websockets:\n  - { path: /ws/a }\n  - { path: /ws/b }\nsse:\n  - { path: /e }\n");
        let new = spec(
            "websockets:\n  - { path: /ws/a, mode: silent }\n  - { path: /ws/c }\nsse:\n  - { path: /e }\n",
        );
        assert_eq!(
            describe_changes(&old, &new).0,
            "+0 routes, ~0 routes, -0 routes, +1 websocket (/ws/c), ~1 websocket (/ws/a), -1 websocket (/ws/b)"
        );
    }
}
