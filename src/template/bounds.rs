//! What one rendering may allocate: its output stops at a byte budget, and the built-in filters
//! whose arguments multiply their input (`indent` width, `format` widths, `tojson` indent,
//! `replace`, `join`) or make a lazy value real (`list`, `string`) check the size they would
//! make before they make it. A client-sent
//! number (`indent(request.query.w | int)`) is then a 500 that says why, never an allocation
//! that aborts the process.
//!
//! minijinja bounds the rest itself: `range` at 100,000 items, a repeated string (`'x' * n`)
//! at 100 MB, a repeated list lazily; fuel bounds the instructions. Two operators stay out of
//! reach, as filters cannot replace them: a repeated string is built before it is written
//! (100 MB at most), and `~` joins whatever it is given — a template that chains them on
//! purpose can build more; a client's input fed to one operator cannot.

use std::fmt::Write as _;

use minijinja::value::{Kwargs, Rest, StringInput, Value, ValueOrKwargs};
use minijinja::{Environment, Error, ErrorKind, State, filters};

/// The default budget of one response's (or message's) rendered templates: 4 MiB.
pub(crate) const DEFAULT_BUDGET: usize = 4 * 1024 * 1024;

fn too_large(what: &str, would: usize, budget: usize) -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        format!(
            "{what} would make {} bytes, over the template budget of {budget} bytes \
             (--max-template-bytes)",
            if would == usize::MAX {
                "more than 2^64".to_owned()
            } else {
                would.to_string()
            }
        ),
    )
}

/// A writer that takes at most `left` more bytes; past that it fails and remembers why.
pub(crate) struct Capped<'a> {
    pub(crate) out: &'a mut Vec<u8>,
    pub(crate) left: usize,
    pub(crate) exceeded: bool,
}

impl std::io::Write for Capped<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.len() > self.left {
            self.exceeded = true;
            return Err(std::io::Error::other("the template budget is spent"));
        }
        self.left -= buf.len();
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Puts the checked filters in place of minijinja's own, for renderings with `budget`.
pub(crate) fn register(env: &mut Environment<'static>, budget: usize) {
    env.add_filter(
        "indent",
        move |value: StringInput<'_>,
              width: Option<usize>,
              first: Option<bool>,
              blank: Option<bool>,
              kwargs: Kwargs| {
            let w = match width {
                Some(w) => w,
                None => kwargs.peek::<Option<usize>>("width")?.unwrap_or(4),
            };
            let lines = value.as_str().split('\n').count();
            let would = w.saturating_mul(lines).saturating_add(value.as_str().len());
            if would > budget {
                return Err(too_large("indent", would, budget));
            }
            filters::indent(value, width, first, blank, kwargs)
        },
    );
    env.add_filter(
        "format",
        move |state: &mut State<'_, '_>, format: &Value, args: Rest<ValueOrKwargs>| {
            if let Some(text) = format.as_str() {
                let would = printf_size(text, &args.0);
                if would > budget {
                    return Err(too_large("format", would, budget));
                }
            }
            filters::format(state, format, args)
        },
    );
    env.add_filter(
        "tojson",
        move |value: &Value, indent: Option<Value>, kwargs: Kwargs| {
            let spaces = match indent.clone().or(kwargs.peek::<Option<Value>>("indent")?) {
                Some(v) if v.kind() == minijinja::value::ValueKind::Bool && v.is_true() => 2,
                Some(v) if v.kind() == minijinja::value::ValueKind::Bool => 0,
                // What is not a count is minijinja's to refuse.
                Some(v) => usize::try_from(v).unwrap_or(0),
                None => 0,
            };
            let would = json_size(value, spaces, budget);
            if would > budget {
                return Err(too_large("tojson", would, budget));
            }
            filters::tojson(value, indent, kwargs)
        },
    );
    env.add_filter(
        "replace",
        move |state: &mut State<'_, '_>,
              value: StringInput<'_>,
              from: StringInput<'_>,
              to: StringInput<'_>| {
            let (s, f, t) = (value.as_str(), from.as_str(), to.as_str());
            let times = if f.is_empty() {
                s.chars().count() + 1
            } else {
                s.matches(f).count()
            };
            let would = times.saturating_mul(t.len()).saturating_add(s.len());
            if would > budget {
                return Err(too_large("replace", would, budget));
            }
            filters::replace(state, value, from, to)
        },
    );
    env.add_filter("list", move |state: &State<'_, '_>, value: Value| {
        // A lazily repeated list (`[x] * n`) is made real here: count before it is.
        let items = value.len().unwrap_or(0);
        let would = items.saturating_mul(ITEM_BYTES);
        if would > budget {
            return Err(too_large("list", would, budget));
        }
        filters::list(state, value)
    });
    env.add_filter("string", move |state: &State<'_, '_>, value: &Value| {
        let would = display_size(value, budget);
        if would > budget {
            return Err(too_large("string", would, budget));
        }
        filters::string(state, value)
    });
    env.add_filter(
        "join",
        move |state: &mut State<'_, '_>,
              value: &Value,
              joiner: Option<StringInput<'_>>,
              attribute: Option<&str>,
              kwargs: Kwargs| {
            let sep = joiner.as_ref().map_or(0, |j| j.as_str().len());
            let mut would = 0usize;
            if let Ok(items) = value.try_iter() {
                for item in items {
                    would = would
                        .saturating_add(sep)
                        .saturating_add(display_size(&item, budget));
                    if would > budget {
                        return Err(too_large("join", would, budget));
                    }
                }
            }
            filters::join(state, value, joiner, attribute, kwargs)
        },
    );
}

/// Item slots a list may take: each holds at least a 24-byte value.
const ITEM_BYTES: usize = 24;

/// The bytes `value` displays as, counted up to a little past `limit`.
fn display_size(value: &Value, limit: usize) -> usize {
    if let Some(s) = value.as_str() {
        return s.len();
    }
    struct Count {
        n: usize,
        limit: usize,
    }
    impl std::fmt::Write for Count {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.n += s.len();
            if self.n > self.limit {
                return Err(std::fmt::Error);
            }
            Ok(())
        }
    }
    let mut c = Count { n: 0, limit };
    let _ = write!(c, "{value}");
    c.n
}

/// About the bytes `value` serializes to as JSON indented by `spaces` (never fewer, but for
/// escapes), counted up to a little past `limit`: a lazily repeated list is never walked to
/// its end.
fn json_size(value: &Value, spaces: usize, limit: usize) -> usize {
    use minijinja::value::ValueKind;
    fn walk(v: &Value, spaces: usize, depth: usize, limit: usize, n: &mut usize) {
        if *n > limit {
            return;
        }
        // An item is a line indented one level deeper than its container, and a separator;
        // a container adds its brackets and the line of its closing one.
        let item = spaces.saturating_mul(depth + 1).saturating_add(3);
        let container = spaces.saturating_mul(depth).saturating_add(4);
        match v.kind() {
            ValueKind::String => *n = n.saturating_add(v.as_str().map_or(0, str::len) + 2),
            ValueKind::Map => {
                *n = n.saturating_add(container);
                for k in v.try_iter().into_iter().flatten() {
                    *n = n
                        .saturating_add(item)
                        .saturating_add(display_size(&k, limit) + 4);
                    if let Ok(value) = v.get_item(&k) {
                        walk(&value, spaces, depth + 1, limit, n);
                    }
                    if *n > limit {
                        return;
                    }
                }
            }
            ValueKind::Seq | ValueKind::Iterable => {
                *n = n.saturating_add(container);
                for value in v.try_iter().into_iter().flatten() {
                    *n = n.saturating_add(item);
                    walk(&value, spaces, depth + 1, limit, n);
                    if *n > limit {
                        return;
                    }
                }
            }
            _ => *n = n.saturating_add(display_size(v, limit)),
        }
    }
    let mut n = 0;
    walk(value, spaces, 0, limit, &mut n);
    n
}

/// The bytes a printf-style format makes at least: its text, and every width and precision it
/// names (`%10000d`, `%.*f` with the argument it takes), plus the arguments as text.
fn printf_size(format: &str, args: &[ValueOrKwargs]) -> usize {
    let mut total = format.len();
    let mut next_arg = 0usize;
    let mut take_arg = |total: &mut usize| -> Option<i64> {
        let arg = args.get(next_arg)?;
        next_arg += 1;
        *total = total.saturating_add(display_size(arg, usize::MAX / 2));
        arg.as_i64()
    };
    let bytes = format.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            i += 1;
            continue;
        }
        i += 1;
        if bytes.get(i) == Some(&b'%') {
            i += 1;
            continue;
        }
        // `%(name)s`: a mapping key.
        if bytes.get(i) == Some(&b'(') {
            while i < bytes.len() && bytes[i] != b')' {
                i += 1;
            }
            i += 1;
        }
        while matches!(bytes.get(i), Some(b'-' | b'+' | b' ' | b'#' | b'0')) {
            i += 1;
        }
        // Width, then precision: digits, or `*` for the next argument.
        for part in 0..2 {
            if part == 1 {
                if bytes.get(i) != Some(&b'.') {
                    break;
                }
                i += 1;
            }
            if bytes.get(i) == Some(&b'*') {
                i += 1;
                let n = take_arg(&mut total).unwrap_or(0).unsigned_abs();
                total = total.saturating_add(usize::try_from(n).unwrap_or(usize::MAX));
            } else {
                let start = i;
                while bytes.get(i).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                }
                let n = format[start..i].parse::<usize>().unwrap_or(if i > start {
                    usize::MAX
                } else {
                    0
                });
                total = total.saturating_add(n);
            }
        }
        while matches!(
            bytes.get(i),
            Some(b'h' | b'l' | b'L' | b'q' | b'j' | b'z' | b't')
        ) {
            i += 1;
        }
        // The conversion consumes the value itself.
        if i < bytes.len() {
            i += 1;
            take_arg(&mut total);
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(budget: usize, source: &str, ctx: Value) -> Result<String, String> {
        let mut env = Environment::new();
        register(&mut env, budget);
        env.set_fuel(Some(1_000_000));
        env.render_str(source, ctx).map_err(|e| {
            let mut text = e.kind().to_string();
            if let Some(d) = e.detail() {
                text.push_str(": ");
                text.push_str(d);
            }
            text
        })
    }

    #[test]
    fn a_filter_that_would_pass_the_budget_is_refused_before_it_allocates() {
        let ctx = minijinja::context! { w => 100_000_000_000u64, n => 1_000_000_000_000i64 };
        for source in [
            "{{ 'a' | indent(w) }}",
            "{{ 'a\nb' | indent(width=w) }}",
            "{{ '%*d' | format(n, 1) }}",
            "{{ '%.100000000000f' | format(1.5) }}",
            "{{ '%100000000000s' | format('x') }}",
            "{{ range(1000) | list | tojson(indent=100000) }}",
            "{{ ('x' * 100000) | replace('', 'yyyyyyyyyyyyyyyyyyyyyyyyy') }}",
            "{{ (['x' * 100000] * 1000000) | join(',') }}",
            "{{ (['x' * 100000] * 1000000) | tojson }}",
            "{{ (['x'] * 100000000) | list | length }}",
            "{{ (['x' * 1000] * 100000) | string }}",
        ] {
            let err = render(1 << 20, source, ctx.clone()).unwrap_err();
            assert!(err.contains("over the template budget"), "{source}: {err}");
        }
    }

    #[test]
    fn within_the_budget_the_filters_answer_as_minijinja_does() {
        let ctx = minijinja::context! { v => vec![1, 2], m => minijinja::context! { a => "<b>" } };
        let mut plain = Environment::new();
        plain.set_fuel(Some(1_000_000));
        for source in [
            "{{ 'a\nb' | indent(2) }}",
            "{{ 'a\nb' | indent(width=3, first=true) }}",
            "{{ '%5s|%-3d|%.2f|%%' | format('x', 7, 1.234) }}",
            "{{ v | tojson }} {{ m | tojson(indent=2) }} {{ m | tojson(true) }}",
            "{{ 'abcabc' | replace('b', 'XY') }}",
            "{{ v | join(', ') }} {{ ['a', 'b'] | join }}",
            "{{ (v * 3) | list }} {{ v | string }} {{ 5 | string }}",
        ] {
            assert_eq!(
                render(1 << 20, source, ctx.clone()).unwrap(),
                plain.render_str(source, ctx.clone()).unwrap(),
                "{source}"
            );
        }
    }

    #[test]
    fn the_size_estimates_are_never_below_the_real_size() {
        let args: Vec<ValueOrKwargs> = vec![Value::from(12).into(), Value::from("abc").into()];
        let made = format!("{:>8}|{}", 12, "abc");
        assert!(printf_size("%8d|%s", &args) >= made.len());
        let v = Value::from(minijinja::value::Serde(
            serde_json::json!({"a": [1, 2, {"b": "xyz"}]}),
        ));
        let pretty =
            serde_json::to_string_pretty(&serde_json::json!({"a": [1, 2, {"b": "xyz"}]})).unwrap();
        assert!(json_size(&v, 2, usize::MAX) >= pretty.len(), "{pretty}");
    }
}
