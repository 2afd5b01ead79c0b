//! List queries in json-server's conventions: `?role=admin`, `?address.city=Paris`,
//! `age_gte=30`, `_lte`, `_ne`, `_like`, `q=`, `_sort`/`_order`, `_page`/`_limit`,
//! `_start`/`_end`.

use std::borrow::Cow;
use std::cmp::Ordering;

use regex::Regex;
use serde_json::Value;

use super::record::{Fields, Record};
use crate::error::Invalid;
use crate::model::resource::id_key;

/// How a filter compares a record's value with the values asked for.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Ne,
    Gte,
    Lte,
    Like,
}

impl Op {
    const SUFFIXES: [(&'static str, Op); 4] = [
        ("_gte", Op::Gte),
        ("_lte", Op::Lte),
        ("_ne", Op::Ne),
        ("_like", Op::Like),
    ];

    /// `age_gte` as the field `age` and its test.
    fn split(key: &str) -> (&str, Op) {
        Op::SUFFIXES
            .iter()
            .find_map(|(suffix, op)| key.strip_suffix(suffix).map(|f| (f, *op)))
            .unwrap_or((key, Op::Eq))
    }
}

/// One field's test, with every value asked for it: a repeated key means any of them (`_ne`:
/// none of them), as json-server has it.
#[derive(Debug)]
struct Filter {
    path: Vec<String>,
    op: Op,
    values: Vec<String>,
    /// `_like`'s values, compiled (case-insensitive).
    patterns: Vec<Regex>,
}

/// The query parameters mockrig knows besides filters and `q`; any other starting with `_` is
/// a mistake worth a 400, not a filter that quietly matches nothing.
pub(crate) const KNOWN: [&str; 11] = [
    "_sort",
    "_order",
    "_page",
    "_limit",
    "_per_page",
    "_start",
    "_end",
    "_embed",
    "_expand",
    "_delay",
    "_",
];

/// A parsed list query.
#[derive(Debug, Default)]
pub(crate) struct ListQuery {
    filters: Vec<Filter>,
    q: Option<String>,
    sort: Vec<(Vec<String>, bool)>,
    page: Option<usize>,
    limit: Option<usize>,
    start: Option<usize>,
    end: Option<usize>,
    /// `_embed=comments`: child collections to include in each record.
    pub(crate) embed: Vec<String>,
    /// `_expand=user`: parent records to include in each record.
    pub(crate) expand: Vec<String>,
    /// `_`-keys that are no parameter: filters on a field such as `_id` when the data has
    /// it, else mistakes ([`ListQuery::settle`]).
    pending: Vec<(String, String)>,
    /// A nested route's parent (`/users/1/posts`): only records whose field (`userId`) names
    /// this id key are listed.
    within: Option<(String, String)>,
}

/// At most this many fields a query filters on, and `_like` patterns it compiles: enough for
/// any screen of filters, and a bound on what one URL can make the server scan and compile.
const MAX_FILTERS: usize = 64;
const MAX_PATTERNS: usize = 16;

/// One page of results and what the response headers need to know about it.
pub(crate) struct Page<'a> {
    pub(crate) items: Vec<&'a Record>,
    /// Matches before paging: `X-Total-Count`.
    pub(crate) total: usize,
    /// With `_page`: the page, the page size and the last page, for the `Link` header.
    pub(crate) pages: Option<(usize, usize, usize)>,
}

fn number(what: &str, v: &str) -> Result<usize, String> {
    v.parse()
        .map_err(|_| format!("{what} must be a whole number, got '{v}'"))
}

impl ListQuery {
    /// Parses the query pairs; an unusable value (a bad regex, `_page=x`) or an unknown
    /// `_`-parameter is an error.
    pub(crate) fn parse(pairs: &[(String, String)]) -> Result<ListQuery, Invalid> {
        Self::parse_pairs(pairs).map_err(Invalid)
    }

    fn parse_pairs(pairs: &[(String, String)]) -> Result<ListQuery, String> {
        let mut q = ListQuery::default();
        let mut orders: Vec<String> = Vec::new();
        let mut sort_keys: Vec<String> = Vec::new();
        for (key, value) in pairs {
            // axios and jQuery send arrays as `id[]=1&id[]=2`: the same as a repeated key.
            let key = key.strip_suffix("[]").unwrap_or(key);
            match key {
                // The first `q` counts, as in json-server.
                "q" => {
                    q.q.get_or_insert_with(|| value.to_lowercase());
                }
                "_sort" => sort_keys.extend(value.split(',').map(|s| s.trim().to_owned())),
                "_order" => orders.extend(value.split(',').map(|s| s.trim().to_lowercase())),
                "_page" => q.page = Some(number("_page", value)?.max(1)),
                "_limit" | "_per_page" => q.limit = Some(number(key, value)?),
                "_start" => q.start = Some(number("_start", value)?),
                "_end" => q.end = Some(number("_end", value)?),
                // Each name once: a repeated name would only repeat the work.
                "_embed" => add_names(&mut q.embed, value),
                "_expand" => add_names(&mut q.expand, value),
                // `_delay` is taken before the request reaches the data; `_` is jQuery's
                // cache-buster.
                "_delay" | "_" => {}
                // Prism's preferences, read by an OpenAPI operation before its collection.
                "__code" | "__example" | "__dynamic" => {}
                k if k.starts_with('_') => q.pending.push((k.to_owned(), value.to_owned())),
                k => q.add_filter(k, value)?,
            }
        }
        for (i, key) in sort_keys.into_iter().filter(|k| !k.is_empty()).enumerate() {
            let (field, desc) = match key.strip_prefix('-') {
                Some(f) => (f.to_owned(), true),
                None => (key, orders.get(i).is_some_and(|o| o == "desc")),
            };
            q.sort.push((split_path(&field), desc));
        }
        Ok(q)
    }

    /// Settles the `_`-keys that are no parameter of mockrig's against the data: a filter
    /// when `universe` has the field (`_id=5` with `id: _id`) or it is `id_field`, else a
    /// mistake answered with the parameters there are. Err: that answer.
    pub(crate) fn settle<'a>(
        &mut self,
        id_field: &str,
        universe: impl Iterator<Item = &'a Record>,
    ) -> Result<(), Invalid> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        let base = |key: &str| -> Vec<String> { split_path(Op::split(key).0) };
        let mut unseen: Vec<Vec<String>> = pending
            .iter()
            .map(|(k, _)| base(k))
            .filter(|path| path.len() != 1 || path[0] != id_field)
            .collect();
        unseen.dedup();
        let fields = Fields::of(unseen.iter().map(Vec::as_slice));
        for r in universe {
            let r = r.fields(&fields);
            unseen.retain(|path| lookup(&r, path).is_none());
            if unseen.is_empty() {
                break;
            }
        }
        for (key, value) in &pending {
            if unseen.contains(&base(key)) {
                let hint = crate::suggest::did_you_mean(key, &KNOWN)
                    .map(|s| format!("did you mean {s}? "))
                    .unwrap_or_default();
                return Err(Invalid(format!(
                    "unknown query parameter '{key}' (and no record has a field '{}'); \
                     {hint}the known ones are q, {}",
                    Op::split(key).0,
                    KNOWN.join(", ")
                )));
            }
            self.add_filter(key, value).map_err(Invalid)?;
        }
        Ok(())
    }

    fn add_filter(&mut self, key: &str, value: &str) -> Result<(), String> {
        let (field, op) = Op::split(key);
        let path = split_path(field);
        let at = match self
            .filters
            .iter()
            .position(|f| f.path == path && f.op == op)
        {
            Some(i) => i,
            None if self.filters.len() >= MAX_FILTERS => {
                return Err(format!(
                    "a list query filters on {MAX_FILTERS} fields at most"
                ));
            }
            None => {
                self.filters.push(Filter {
                    path,
                    op,
                    values: Vec::new(),
                    patterns: Vec::new(),
                });
                self.filters.len() - 1
            }
        };
        if op == Op::Like {
            let patterns: usize = self.filters.iter().map(|f| f.patterns.len()).sum();
            if patterns >= MAX_PATTERNS {
                return Err(format!(
                    "a list query takes {MAX_PATTERNS} _like patterns at most"
                ));
            }
            let re = regex::RegexBuilder::new(value)
                .case_insensitive(true)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| format!("{key}: '{value}' is not a regular expression: {e}"))?;
            self.filters[at].patterns.push(re);
        }
        self.filters[at].values.push(value.to_owned());
        Ok(())
    }

    /// Lists only the records whose `field` names the record with id key `id`: a nested
    /// route's children.
    pub(crate) fn within(&mut self, field: String, id: &str) {
        self.within = Some((field, id.to_owned()));
    }

    /// Filters, sorts and pages `records`, which are some of `universe` (those `index` found
    /// for the equality filters, or all).
    pub(crate) fn apply<'a>(
        &self,
        records: impl Iterator<Item = &'a Record>,
        universe: impl Iterator<Item = &'a Record>,
    ) -> Page<'a> {
        // json-server drops an equality filter on a field no record of the collection has,
        // rather than answer an empty list for a parameter the data knows nothing about. One
        // pass for all of them, ending once each is seen.
        let mut unseen: Vec<usize> = (0..self.filters.len())
            .filter(|&i| self.filters[i].op == Op::Eq)
            .collect();
        if !unseen.is_empty() {
            let fields = Fields::of(unseen.iter().map(|&i| self.filters[i].path.as_slice()));
            for r in universe {
                let r = r.fields(&fields);
                unseen.retain(|&i| lookup(&r, &self.filters[i].path).is_none());
                if unseen.is_empty() {
                    break;
                }
            }
        }
        let filters: Vec<&Filter> = (0..self.filters.len())
            .filter(|i| !unseen.contains(i))
            .map(|i| &self.filters[i])
            .collect();
        // Records are parsed only for the fields a test or the sort reads, and not at all
        // for a plain page.
        let fields = match self.q {
            Some(_) => Fields::All,
            None => Fields::of(
                filters
                    .iter()
                    .map(|f| f.path.as_slice())
                    .chain(self.sort.iter().map(|(p, _)| p.as_slice()))
                    .chain(self.within.iter().map(|(f, _)| std::slice::from_ref(f))),
            ),
        };
        let sorting = !self.sort.is_empty();
        let mut items: Vec<(&Record, Value)> = if fields == Fields::Only(Vec::new()) {
            records.map(|r| (r, Value::Null)).collect()
        } else {
            records
                .filter_map(|r| {
                    let v = r.fields(&fields);
                    let keep = filters.iter().all(|f| f.keeps(&v))
                        && self.q_keeps(&v)
                        && self.within_keeps(&v);
                    // The fields are kept only for the sort to read.
                    keep.then(|| (r, if sorting { v } else { Value::Null }))
                })
                .collect()
        };
        if sorting {
            items.sort_by(|(_, a), (_, b)| {
                self.sort
                    .iter()
                    .map(|(path, desc)| {
                        let o = compare(lookup(a, path), lookup(b, path));
                        if *desc { o.reverse() } else { o }
                    })
                    .find(|o| o.is_ne())
                    .unwrap_or(Ordering::Equal)
            });
        }
        let total = items.len();
        let mut pages = None;
        let range = if let Some(page) = self.page {
            let limit = self.limit.unwrap_or(10).max(1);
            let last = total.div_ceil(limit).max(1);
            pages = Some((page, limit, last));
            let start = (page - 1).saturating_mul(limit);
            start..start.saturating_add(limit)
        } else if self.start.is_some() || self.end.is_some() || self.limit.is_some() {
            let start = self.start.unwrap_or(0);
            let end = match (self.end, self.limit) {
                (Some(end), _) => end,
                (None, Some(limit)) => start.saturating_add(limit),
                (None, None) => total,
            };
            start..end
        } else {
            0..total
        };
        let start = range.start.min(total);
        let end = range.end.clamp(start, total);
        Page {
            items: items[start..end].iter().map(|(r, _)| *r).collect(),
            total,
            pages,
        }
    }

    /// The equality filters, as field paths and the values each accepts: what an index
    /// (`index`) can answer.
    pub(crate) fn equalities(&self) -> impl Iterator<Item = (&[String], &[String])> {
        self.filters
            .iter()
            .filter(|f| f.op == Op::Eq)
            .map(|f| (f.path.as_slice(), f.values.as_slice()))
    }

    fn q_keeps(&self, record: &Value) -> bool {
        self.q.as_ref().is_none_or(|q| contains_text(record, q))
    }

    fn within_keeps(&self, record: &Value) -> bool {
        self.within.as_ref().is_none_or(|(field, id)| {
            record.get(field).and_then(id_key).as_deref() == Some(id.as_str())
        })
    }
}

impl Filter {
    /// A record without the field (or with `null` there) passes no test, `_ne` included, as
    /// in json-server.
    fn keeps(&self, record: &Value) -> bool {
        let Some(v) = lookup(record, &self.path).filter(|v| !v.is_null()) else {
            return false;
        };
        match self.op {
            Op::Eq => self.values.iter().any(|w| text(v) == *w),
            Op::Ne => self.values.iter().all(|w| text(v) != *w),
            Op::Gte => self.values.iter().any(|w| compare_text(v, w).is_ge()),
            Op::Lte => self.values.iter().any(|w| compare_text(v, w).is_le()),
            Op::Like => self.patterns.iter().any(|re| re.is_match(&text(v))),
        }
    }
}

/// `_embed=a,b` and `_embed=a&_embed=b` alike, each name once.
fn add_names(list: &mut Vec<String>, value: &str) {
    for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        if !list.iter().any(|n| n == name) {
            list.push(name.to_owned());
        }
    }
}

fn split_path(field: &str) -> Vec<String> {
    field.split('.').map(str::to_owned).collect()
}

/// The value at a dotted path; a number steps into an array.
pub(super) fn lookup<'a>(record: &'a Value, path: &[String]) -> Option<&'a Value> {
    path.iter().try_fold(record, |v, key| match v {
        Value::Object(m) => m.get(key),
        Value::Array(a) => key.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    })
}

/// How a value compares with query text: strings as they are, other values as JSON. Borrowed
/// for strings, since a filter runs this once per record.
pub(super) fn text(v: &Value) -> Cow<'_, str> {
    match v {
        Value::String(s) => Cow::Borrowed(s),
        other => Cow::Owned(other.to_string()),
    }
}

/// Numbers compare as numbers when the bound is one too; everything else as text.
/// Dates (RFC 3339 or `YYYY-MM-DD`, both sides) compare as instants, so `2024-05-01` and
/// `2024-05-01T10:00:00+02:00` order by time rather than by text.
fn compare_text(v: &Value, bound: &str) -> Ordering {
    match (v.as_f64(), bound.parse::<f64>()) {
        (Some(a), Ok(b)) => a.total_cmp(&b),
        _ => {
            let t = text(v);
            match (instant(&t), instant(bound)) {
                (Some(a), Some(b)) => a.cmp(&b),
                _ => t.as_ref().cmp(bound),
            }
        }
    }
}

/// A date or a date and time, as a UTC instant.
fn instant(text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    // Only text that starts like a date is tried: most values are not dates.
    if text.len() < 10 || !text.as_bytes()[..4].iter().all(u8::is_ascii_digit) {
        return None;
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(t.to_utc());
    }
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(t.and_utc());
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

/// Sort order: numbers numerically, strings by text, booleans false first; missing values and
/// mixed types after, in a fixed order so sorting is stable.
fn compare(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    fn rank(v: Option<&Value>) -> u8 {
        match v {
            Some(Value::Number(_)) => 0,
            Some(Value::String(_)) => 1,
            Some(Value::Bool(_)) => 2,
            Some(Value::Array(_) | Value::Object(_)) => 3,
            Some(Value::Null) => 4,
            None => 5,
        }
    }
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => x
            .as_f64()
            .unwrap_or(0.0)
            .total_cmp(&y.as_f64().unwrap_or(0.0)),
        (Some(Value::String(x)), Some(Value::String(y))) => x.cmp(y),
        (Some(Value::Bool(x)), Some(Value::Bool(y))) => x.cmp(y),
        _ => rank(a).cmp(&rank(b)),
    }
}

/// Full-text search: any string anywhere in the record contains `q` (lower-case already).
fn contains_text(v: &Value, q: &str) -> bool {
    match v {
        Value::String(s) => s.to_lowercase().contains(q),
        Value::Number(n) => n.to_string().contains(q),
        // json-server compares the text of any scalar it finds; `false` and `null` it skips.
        Value::Bool(true) => "true".contains(q),
        Value::Array(a) => a.iter().any(|v| contains_text(v, q)),
        Value::Object(m) => m.values().any(|v| contains_text(v, q)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(records: &[Value], query: &str) -> Vec<i64> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap();
        let q = ListQuery::parse(&pairs).unwrap();
        let records: Vec<Record> = records.iter().map(Record::new).collect();
        q.apply(records.iter(), records.iter())
            .items
            .iter()
            .map(|r| r.value()["id"].as_i64().unwrap())
            .collect()
    }

    #[test]
    fn filters_sorts_and_pages() {
        let users = [
            json!({"id": 1, "name": "Ada", "role": "admin", "age": 36, "address": {"city": "London"}}),
            json!({"id": 2, "name": "Linus", "role": "user", "age": 28, "address": {"city": "Helsinki"}}),
            json!({"id": 3, "name": "Grace", "role": "admin", "age": 45, "address": {"city": "New York"}}),
            json!({"id": 4, "name": "Alan", "role": "user", "age": 41}),
        ];
        assert_eq!(run(&users, "role=admin"), [1, 3]);
        assert_eq!(run(&users, "id=1&id=4"), [1, 4]);
        assert_eq!(run(&users, "address.city=Helsinki"), [2]);
        assert_eq!(run(&users, "age_gte=36&age_lte=41"), [1, 4]);
        assert_eq!(run(&users, "role_ne=admin"), [2, 4]);
        assert_eq!(run(&users, "name_like=^a"), [1, 4]);
        assert_eq!(run(&users, "q=york"), [3]);
        assert_eq!(run(&users, "_sort=age"), [2, 1, 4, 3]);
        assert_eq!(run(&users, "_sort=-age"), [3, 4, 1, 2]);
        assert_eq!(run(&users, "_sort=role,-age"), [3, 1, 4, 2]);
        assert_eq!(run(&users, "_sort=role,age&_order=asc,desc"), [3, 1, 4, 2]);
        assert_eq!(run(&users, "_page=2&_limit=3"), [4]);
        assert_eq!(run(&users, "_start=1&_end=3"), [2, 3]);
        assert_eq!(run(&users, "_start=1&_limit=1"), [2]);
        assert_eq!(run(&users, "_page=9"), Vec::<i64>::new());
    }

    #[test]
    fn rejects_unusable_values() {
        for bad in ["name_like=(", "_page=x", "_limit=-1"] {
            let pairs: Vec<(String, String)> = serde_urlencoded::from_str(bad).unwrap();
            assert!(ListQuery::parse(&pairs).is_err(), "{bad}");
        }
        // Too many fields or patterns for one URL to make the server scan and compile.
        let many: Vec<(String, String)> = (0..=MAX_FILTERS)
            .map(|i| (format!("f{i}"), "1".to_owned()))
            .collect();
        assert!(ListQuery::parse(&many).is_err());
        let likes: Vec<(String, String)> = (0..=MAX_PATTERNS)
            .map(|i| ("name_like".to_owned(), format!("a{i}")))
            .collect();
        assert!(ListQuery::parse(&likes).is_err());
    }

    #[test]
    fn an_underscore_key_filters_a_field_the_data_has_and_is_refused_otherwise() {
        let records = [
            Record::new(&json!({"_id": 1, "_tag": "a"})),
            Record::new(&json!({"_id": 2, "_tag": "b"})),
        ];
        let settled = |query: &str, id: &str| {
            let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap();
            let mut q = ListQuery::parse(&pairs).unwrap();
            q.settle(id, records.iter()).map(|()| {
                q.apply(records.iter(), records.iter())
                    .items
                    .iter()
                    .map(|r| r.value()["_id"].as_i64().unwrap())
                    .collect::<Vec<_>>()
            })
        };
        assert_eq!(settled("_tag=b", "_id").unwrap(), [2]);
        assert_eq!(settled("_id[]=1&_id[]=2", "_id").unwrap(), [1, 2]);
        assert_eq!(settled("_id_ne=1", "_id").unwrap(), [2]);
        let refused = settled("_sortt=_id", "_id").unwrap_err().to_string();
        assert!(refused.contains("did you mean _sort?"), "{refused}");
    }

    proptest::proptest! {
        /// Equality filters keep exactly the records whose field has one of the values asked
        /// for (every record when none has the field); paging takes a contiguous window of that list, and the total counts all of it.
        #[test]
        fn filters_keep_exactly_the_matching_records_and_pages_are_windows(
            roles in proptest::collection::vec(proptest::option::of("[ab]"), 0..12),
            wanted in proptest::collection::vec("[abc]", 1..3),
            page in 1usize..5,
            limit in 1usize..4,
        ) {
            let values: Vec<Value> = roles
                .iter()
                .enumerate()
                .map(|(i, r)| match r {
                    Some(r) => json!({"id": i, "role": r}),
                    None => json!({"id": i}),
                })
                .collect();
            let records: Vec<Record> = values.iter().map(Record::new).collect();
            let mut pairs: Vec<(String, String)> =
                wanted.iter().map(|w| ("role".to_owned(), w.clone())).collect();
            let all = ListQuery::parse(&pairs).unwrap().apply(records.iter(), records.iter());
            // A field no record has is no filter at all (json-server drops it).
            let any_role = values.iter().any(|r| r.get("role").is_some());
            let expected: Vec<&Record> = records
                .iter()
                .zip(&values)
                .filter(|(_, r)| {
                    !any_role
                        || r["role"].as_str().is_some_and(|role| wanted.iter().any(|w| w == role))
                })
                .map(|(record, _)| record)
                .collect();
            proptest::prop_assert_eq!(&all.items, &expected);
            proptest::prop_assert_eq!(all.total, expected.len());
            pairs.push(("_page".into(), page.to_string()));
            pairs.push(("_limit".into(), limit.to_string()));
            let paged = ListQuery::parse(&pairs).unwrap().apply(records.iter(), records.iter());
            let start = ((page - 1) * limit).min(expected.len());
            let end = (start + limit).min(expected.len());
            proptest::prop_assert_eq!(&paged.items[..], &expected[start..end]);
            proptest::prop_assert_eq!(paged.total, expected.len());
        }
    }
}
