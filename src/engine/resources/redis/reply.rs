//! Reading what the scripts answer: Redis replies as text and numbers, a resource read whole.

use std::collections::HashMap;

use indexmap::IndexMap;
use redis::Value as Reply;
use serde_json::Value;

use super::SINGLETON;
use crate::engine::resources::data::{Collection, Data};
use crate::engine::resources::record::Record;
use crate::engine::resources::store::Store;

/// The changes in log `lines` (`"<number> <entry>"`, as `commit.lua` writes them) that come
/// after change `after`, numbered; those up to it are on the copy already (mostly this
/// replica's own writes, made on it as their call was answered) and are not parsed.
pub(super) fn entries_after(lines: Vec<Reply>, after: u64) -> Result<Vec<(u64, Value)>, String> {
    let mut entries = Vec::new();
    for line in lines {
        let line = text(Some(&line));
        let (seq, entry) = line
            .split_once(' ')
            .and_then(|(n, e)| Some((n.parse::<u64>().ok()?, e)))
            .ok_or("a log line mockrig did not write")?;
        if seq <= after {
            continue;
        }
        let entry = serde_json::from_str(entry).map_err(|_| "a log line mockrig did not write")?;
        entries.push((seq, entry));
    }
    Ok(entries)
}

/// A resource read whole from a "full" answer of `sync.lua`: kind, next id, count, the keys in
/// order, then the records hash as field/value pairs.
pub(super) fn read_whole(store: &Store, items: &[Reply]) -> Result<Data, String> {
    let kind = text(items.get(3));
    let records: HashMap<String, String> = items
        .get(7)
        .cloned()
        .map(items_of)
        .unwrap_or_default()
        .chunks(2)
        .map(|pair| (text(pair.first()), text(pair.get(1))))
        .collect();
    let parse = |key: &str| -> Result<Value, String> {
        let json = records
            .get(key)
            .ok_or_else(|| format!("record '{key}' is in the order but not in the records"))?;
        serde_json::from_str(json).map_err(|e| format!("record '{key}' is not JSON: {e}"))
    };
    let expected = if store.def.singleton {
        "singleton"
    } else {
        "collection"
    };
    if kind != expected {
        return Err(format!(
            "it is a {kind} there and a {expected} in this replica's spec: run the same spec on \
             every replica"
        ));
    }
    if store.def.singleton {
        return match parse(SINGLETON)? {
            Value::Object(m) => Ok(Data::Singleton(m)),
            _ => Err("the singleton is not an object".into()),
        };
    }
    let order = items.get(6).cloned().map(items_of).unwrap_or_default();
    let mut map = IndexMap::with_capacity(order.len());
    for key in order {
        let key = text(Some(&key));
        let record = parse(&key)?;
        if !record.is_object() {
            return Err(format!("record '{key}' is not an object"));
        }
        map.insert(key.into(), Record::new(&record));
    }
    let number = |i: usize| text(items.get(i)).parse::<u64>().unwrap_or(0);
    Ok(Data::Collection(Collection::restored(
        map,
        seed_has_text_ids(store),
        number(4).max(1),
        number(5),
    )))
}

/// Whether the resource's generated ids are UUIDs: decided by its seed, as in memory, not by
/// the ids clients have chosen since (every replica must generate the same kind).
fn seed_has_text_ids(store: &Store) -> bool {
    match &*store.def.seed {
        crate::model::resource::Seed::Collection(items) => items
            .iter()
            .any(|r| matches!(r.get(&store.def.id_field), Some(Value::String(_)))),
        crate::model::resource::Seed::Singleton(_) => false,
    }
}

pub(super) fn items_of(reply: Reply) -> Vec<Reply> {
    match reply {
        Reply::Array(v) | Reply::Set(v) => v,
        _ => Vec::new(),
    }
}

pub(super) fn text(reply: Option<&Reply>) -> String {
    match reply {
        Some(Reply::BulkString(b)) => String::from_utf8_lossy(b).into_owned(),
        Some(Reply::SimpleString(s)) => s.clone(),
        Some(Reply::Int(n)) => n.to_string(),
        _ => String::new(),
    }
}

pub(super) fn int(reply: Option<&Reply>) -> u64 {
    match reply {
        Some(Reply::Int(n)) => u64::try_from(*n).unwrap_or(0),
        other => text(other).parse().unwrap_or(0),
    }
}

/// `redis://user:secret@host/0` as `redis://user:***@host/0`.
pub(super) fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    match rest.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or("", |(u, _)| u);
            format!("{scheme}://{user}:***@{host}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_their_password() {
        assert_eq!(
            without_password("redis://:hunter2@cache:6379/1"),
            "redis://:***@cache:6379/1"
        );
        assert_eq!(
            without_password("redis://app:hunter2@cache/0"),
            "redis://app:***@cache/0"
        );
        assert_eq!(
            without_password("redis://127.0.0.1:6379/0"),
            "redis://127.0.0.1:6379/0"
        );
    }
}
