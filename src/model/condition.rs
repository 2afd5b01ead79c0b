//! The operators of `match:` (`present`, `regex`, `one_of`, `not`, `gt`…, `equals`)
//! compiled once at load, and the JSON subset of `match.body` with operators inside it.
//!
//! A condition is tested against the values a request has for one name: none (absent), one,
//! or several (a repeated query parameter or header). `present` and `not` look at all of them
//! at once (`present: false`: there is none; `not`: the condition inside fails for the set);
//! the value operators (`regex`, `one_of`, `equals`, the comparisons) must all hold for one
//! and the same value. So `{gte: 1, lte: 10}` needs one value in 1..=10, and `{not: {regex:
//! x}}` holds when no value matches `x`.

use regex::{Regex, RegexBuilder};
use serde_json::{Map, Value};

use crate::spec::{MatchValue, OPERATOR_NAMES};

/// How large one compiled `regex:` may grow (its program and its lazy DFA each): a spec
/// cannot make mockrig allocate without bound with `a{1000}{1000}`.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// A problem in a condition: the keys below the condition's own, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CondProblem {
    pub(crate) path: Vec<String>,
    pub(crate) message: String,
    /// The key itself is wrong (an unknown operator), not its value.
    pub(crate) at_key: bool,
}

/// Where a condition looks: at text (query, headers, cookies), or at JSON (a body field),
/// whose literals keep their JSON type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ctx {
    Text,
    Body,
}

/// One value a request has.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Actual<'a> {
    Text(&'a str),
    Json(&'a Value),
}

/// A compiled operator map.
#[derive(Debug)]
pub(crate) struct Cond {
    /// As the spec wrote it: what a failure says was expected.
    pub(crate) written: Value,
    present: Option<bool>,
    not: Option<Box<Cond>>,
    /// Must all hold for one value.
    each: Vec<ValueOp>,
}

#[derive(Debug)]
enum ValueOp {
    Regex(Regex),
    OneOf(Vec<Value>),
    Equals(Value),
    Compare(Cmp, f64),
}

#[derive(Debug, Clone, Copy)]
enum Cmp {
    Gt,
    Gte,
    Lt,
    Lte,
}

impl Cond {
    /// Whether the condition holds for these values (none: the name is absent).
    pub(crate) fn holds<'a>(&self, values: impl Iterator<Item = Actual<'a>> + Clone) -> bool {
        if let Some(p) = self.present
            && values.clone().next().is_some() != p
        {
            return false;
        }
        if let Some(n) = &self.not
            && n.holds(values.clone())
        {
            return false;
        }
        let mut values = values;
        self.each.is_empty() || values.any(|v| self.each.iter().all(|op| op.test(v)))
    }
}

impl ValueOp {
    fn test(&self, v: Actual<'_>) -> bool {
        match self {
            ValueOp::Regex(re) => match v {
                Actual::Text(s) => re.is_match(s),
                Actual::Json(Value::String(s)) => re.is_match(s),
                Actual::Json(n @ (Value::Number(_) | Value::Bool(_))) => {
                    re.is_match(&n.to_string())
                }
                Actual::Json(_) => false,
            },
            ValueOp::OneOf(list) => list.iter().any(|lit| same(v, lit)),
            ValueOp::Equals(lit) => same(v, lit),
            ValueOp::Compare(cmp, bound) => {
                let n = match v {
                    Actual::Text(s) => number(s),
                    Actual::Json(Value::String(s)) => number(s),
                    Actual::Json(Value::Number(n)) => n.as_f64(),
                    Actual::Json(_) => None,
                };
                n.is_some_and(|n| match cmp {
                    Cmp::Gt => n > *bound,
                    Cmp::Gte => n >= *bound,
                    Cmp::Lt => n < *bound,
                    Cmp::Lte => n <= *bound,
                })
            }
        }
    }
}

/// A finite number written as text; `NaN`, `inf` and the like are no numbers here.
fn number(s: &str) -> Option<f64> {
    s.trim().parse::<f64>().ok().filter(|n| n.is_finite())
}

/// Text against a literal compares text (`2` is `"2"`); JSON compares as the body subset does.
fn same(v: Actual<'_>, lit: &Value) -> bool {
    match (v, lit) {
        (Actual::Text(s), Value::String(t)) => s == t,
        (Actual::Text(s), Value::Number(n)) => n.to_string() == s,
        (Actual::Text(s), Value::Bool(b)) => s == if *b { "true" } else { "false" },
        (Actual::Text(_), _) => false,
        (Actual::Json(a), _) => contains(a, lit),
    }
}

/// Whether a body value is an operator map rather than a literal object to contain.
pub(crate) fn is_operator_map(v: &Value) -> bool {
    matches!(v, Value::Object(m) if !m.is_empty() && m.keys().all(|k| OPERATOR_NAMES.contains(&k.as_str())))
}

/// The unknown operators of a query, header or cookie condition, at their keys.
pub(crate) fn unknown_operators(v: &MatchValue, path: &[String], out: &mut Vec<CondProblem>) {
    let MatchValue::Operators(ops) = v else {
        return;
    };
    for key in &ops.unknown {
        let hint = crate::suggest::did_you_mean(key, OPERATOR_NAMES)
            .map(|c| format!("did you mean '{c}'? "))
            .unwrap_or_default();
        let mut at = path.to_vec();
        at.push(key.clone());
        out.push(CondProblem {
            path: at,
            message: format!(
                "unknown operator '{key}': {hint}the operators are {}",
                OPERATOR_NAMES.join(", ")
            ),
            at_key: true,
        });
    }
    if let Some(inner) = &ops.not {
        let mut at = path.to_vec();
        at.push("not".into());
        unknown_operators(inner, &at, out);
    }
}

/// Compiles an operator map (`v` is one, for `Ctx::Text` checked by the types already).
pub(crate) fn compile(
    v: &Map<String, Value>,
    ctx: Ctx,
    path: &[String],
    out: &mut Vec<CondProblem>,
) -> Option<Cond> {
    let before = out.len();
    let mut errs = Vec::new();
    let mut err = |key: &str, message: String| {
        let mut at = path.to_vec();
        if !key.is_empty() {
            at.push(key.to_owned());
        }
        errs.push(CondProblem {
            path: at,
            message,
            at_key: false,
        });
    };
    if v.is_empty() {
        err(
            "",
            format!(
                "an operator map needs an operator: {}",
                OPERATOR_NAMES.join(", ")
            ),
        );
    }
    let mut cond = Cond {
        written: Value::Object(v.clone()),
        present: None,
        not: None,
        each: Vec::new(),
    };
    for (key, value) in v {
        match key.as_str() {
            "present" => match value {
                Value::Bool(b) => cond.present = Some(*b),
                _ => err(key, "present takes true or false".into()),
            },
            "regex" => match value.as_str().map(regex) {
                Some(Ok(re)) => cond.each.push(ValueOp::Regex(re)),
                Some(Err(e)) => err(key, e),
                None => err(key, "regex takes a regular expression (text)".into()),
            },
            "one_of" => match value {
                Value::Array(list) if !list.is_empty() => {
                    cond.each.push(ValueOp::OneOf(list.clone()));
                }
                _ => err(key, "one_of takes a list of values, at least one".into()),
            },
            "equals" => cond.each.push(ValueOp::Equals(value.clone())),
            "gt" | "gte" | "lt" | "lte" => {
                let cmp = match key.as_str() {
                    "gt" => Cmp::Gt,
                    "gte" => Cmp::Gte,
                    "lt" => Cmp::Lt,
                    _ => Cmp::Lte,
                };
                match value.as_f64().filter(|n| n.is_finite()) {
                    Some(n) => cond.each.push(ValueOp::Compare(cmp, n)),
                    None => err(key, format!("{key} takes a number")),
                }
            }
            "not" => {
                let mut at = path.to_vec();
                at.push("not".into());
                cond.not = inner(value, ctx, &at, out).map(Box::new);
            }
            // Unknown keys of a typed map are reported by `unknown_operators`; a body map
            // with one is a literal and never gets here.
            _ => {}
        }
    }
    if cond.present == Some(false) && !cond.each.is_empty() {
        err(
            "present",
            "present: false leaves no value for the other operators to test; write them \
             under not: instead"
                .into(),
        );
    }
    out.extend(errs);
    (out.len() == before).then_some(cond)
}

/// The condition inside `not:`: an operator map, or a value that must not be there.
fn inner(v: &Value, ctx: Ctx, path: &[String], out: &mut Vec<CondProblem>) -> Option<Cond> {
    match v {
        Value::Object(m) if ctx == Ctx::Text || is_operator_map(v) => compile(m, ctx, path, out),
        _ => Some(Cond {
            written: v.clone(),
            present: None,
            not: None,
            each: vec![ValueOp::Equals(v.clone())],
        }),
    }
}

fn regex(pattern: &str) -> Result<Regex, String> {
    RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| match e {
            regex::Error::CompiledTooBig(_) => format!(
                "this regular expression is too large (its compiled form passes {} KiB)",
                REGEX_SIZE_LIMIT / 1024
            ),
            other => {
                // The syntax error's text draws a caret under the pattern on lines of its
                // own; a report line takes its last one, the reason.
                let text = other.to_string();
                let reason = text
                    .lines()
                    .rev()
                    .find_map(|l| l.strip_prefix("error: "))
                    .unwrap_or(text.trim());
                format!("not a valid regular expression: {reason}")
            }
        })
}

/// `match.body`: the JSON subset, with operator maps where the spec wrote them.
#[derive(Debug)]
pub(crate) struct BodyCond {
    /// As written, for a failure.
    written: Value,
    kind: BodyKind,
}

#[derive(Debug)]
enum BodyKind {
    /// No operator anywhere below: contained as today, by [`contains`].
    Literal,
    Object(Vec<(String, BodyCond)>),
    Array(Vec<BodyCond>),
    Op(Cond),
}

/// Compiles a body condition at `path` (keys below `match.body`).
pub(crate) fn body(v: &Value, path: &[String], out: &mut Vec<CondProblem>) -> Option<BodyCond> {
    let before = out.len();
    let kind = match v {
        Value::Object(m) if is_operator_map(v) => BodyKind::Op(compile(m, Ctx::Body, path, out)?),
        Value::Object(m) => {
            let fields: Vec<(String, BodyCond)> = m
                .iter()
                .filter_map(|(k, child)| {
                    let mut at = path.to_vec();
                    at.push(k.clone());
                    Some((k.clone(), body(child, &at, out)?))
                })
                .collect();
            if fields
                .iter()
                .all(|(_, c)| matches!(c.kind, BodyKind::Literal))
            {
                BodyKind::Literal
            } else {
                BodyKind::Object(fields)
            }
        }
        Value::Array(items) => {
            let items: Vec<BodyCond> = items
                .iter()
                .enumerate()
                .filter_map(|(i, child)| {
                    let mut at = path.to_vec();
                    at.push(i.to_string());
                    body(child, &at, out)
                })
                .collect();
            if items.iter().all(|c| matches!(c.kind, BodyKind::Literal)) {
                BodyKind::Literal
            } else {
                BodyKind::Array(items)
            }
        }
        _ => BodyKind::Literal,
    };
    (out.len() == before).then(|| BodyCond {
        written: v.clone(),
        kind,
    })
}

impl BodyCond {
    /// Whether the request's value here (`None`: absent) meets the condition.
    pub(crate) fn holds(&self, actual: Option<&Value>) -> bool {
        match &self.kind {
            BodyKind::Literal => actual.is_some_and(|a| contains(a, &self.written)),
            BodyKind::Op(c) => c.holds(actual.map(Actual::Json).into_iter()),
            BodyKind::Object(fields) => match actual {
                Some(Value::Object(a)) => fields.iter().all(|(k, c)| c.holds(a.get(k))),
                _ => false,
            },
            BodyKind::Array(items) => match actual {
                Some(Value::Array(a)) => items.iter().all(|c| a.iter().any(|av| c.holds(Some(av)))),
                _ => false,
            },
        }
    }

    /// The first place where the request's value does not meet the condition: its dotted
    /// path, what was expected there, and what the request had.
    pub(crate) fn difference<'v>(
        &'v self,
        actual: Option<&'v Value>,
        path: &str,
    ) -> Option<(String, &'v Value, Option<&'v Value>)> {
        if self.holds(actual) {
            return None;
        }
        if let (BodyKind::Literal, Some(a)) = (&self.kind, actual) {
            return difference(&self.written, a, path);
        }
        if let (BodyKind::Object(fields), Some(Value::Object(a))) = (&self.kind, actual) {
            return fields
                .iter()
                .find_map(|(k, c)| c.difference(a.get(k), &format!("{path}.{k}")));
        }
        Some((path.to_owned(), &self.written, actual))
    }
}

/// Whether `actual` contains `expected`: objects by their listed keys, arrays by each listed
/// element appearing somewhere, numbers by value (`1` equals `1.0`), the rest by equality.
pub(crate) fn contains(actual: &Value, expected: &Value) -> bool {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => e
            .iter()
            .all(|(k, ev)| a.get(k).is_some_and(|av| contains(av, ev))),
        (Value::Array(e), Value::Array(a)) => {
            e.iter().all(|ev| a.iter().any(|av| contains(av, ev)))
        }
        (Value::Number(e), Value::Number(a)) => e.as_f64() == a.as_f64(),
        _ => expected == actual,
    }
}

/// The first place where `actual` does not contain `expected`, as a dotted path with the
/// expected and actual values there.
pub(crate) fn difference<'v>(
    expected: &'v Value,
    actual: &'v Value,
    path: &str,
) -> Option<(String, &'v Value, Option<&'v Value>)> {
    if contains(actual, expected) {
        return None;
    }
    if let (Value::Object(e), Value::Object(a)) = (expected, actual) {
        return e.iter().find_map(|(k, ev)| {
            let here = format!("{path}.{k}");
            match a.get(k) {
                Some(av) => difference(ev, av, &here),
                None => Some((here, ev, None)),
            }
        });
    }
    Some((path.to_owned(), expected, Some(actual)))
}

#[cfg(test)]
mod tests;
