//! What templates can call: `now()`, `uuid()`, `random_int(a, b)`, `random_float(a, b)`,
//! `choice(list)` and fake data (`fake.name()`, `fake.email()`, …).
//!
//! Their random values come from the generator the render was given (`--seed`: the answer's
//! own, see `crate::random`), which travels in the context under a name no template can spell
//! as a variable by accident; without one, from the thread's.

use std::sync::Arc;

use fake::Fake;
use minijinja::value::{Kwargs, Object, Value};
use minijinja::{Environment, Error, ErrorKind, State};
use rand::RngExt;
use rand::rngs::StdRng;

use crate::random::SeededRng;

/// The context variable that carries the answer's generator.
const RNG: &str = "__mockrig_rng";

/// The generator as a template value.
#[derive(Debug)]
struct RngHandle(Arc<SeededRng>);

impl Object for RngHandle {}

/// `ctx` with `rng` in it, for the random functions; unchanged without one.
pub(crate) fn with_rng(ctx: Value, rng: Option<&Arc<SeededRng>>) -> Value {
    match rng {
        Some(r) => minijinja::value::merge_maps([
            minijinja::context! { __mockrig_rng => Value::from_object(RngHandle(r.clone())) },
            ctx,
        ]),
        None => ctx,
    }
}

/// The generator of this render as a context entry: for contexts built as a map directly.
pub(crate) fn rng_entry(rng: &Arc<SeededRng>) -> (&'static str, Value) {
    (RNG, Value::from_object(RngHandle(rng.clone())))
}

/// Runs `f` with this render's generator.
fn draw<T>(state: &State<'_, '_>, f: impl FnOnce(&mut StdRng) -> T) -> T {
    let handle = state.lookup(RNG);
    let seeded = handle
        .as_ref()
        .and_then(|v| v.downcast_object_ref::<RngHandle>());
    crate::random::with_rng(seeded.map(|h| &*h.0), f)
}

pub(crate) fn register(env: &mut Environment<'static>) {
    env.add_function("now", now);
    env.add_function("uuid", uuid);
    env.add_function("random_int", random_int);
    env.add_function("random_float", random_float);
    env.add_function("choice", choice);
    env.add_global("fake", Value::from_object(Faker));
}

fn invalid(msg: impl Into<std::borrow::Cow<'static, str>>) -> Error {
    Error::new(ErrorKind::InvalidOperation, msg)
}

/// `now()`: the current time in RFC 3339 (UTC, milliseconds). `now("%Y-%m-%d")`: a strftime
/// format. `offset="-1d"` (or `2h`, `30m`, `90s`, `1.5h`) moves it.
fn now(format: Option<String>, kwargs: Kwargs) -> Result<String, Error> {
    let offset: Option<String> = kwargs.get("offset")?;
    kwargs.assert_all_used()?;
    let mut t = chrono::Utc::now();
    if let Some(o) = offset {
        t += parse_offset(&o).ok_or_else(|| {
            invalid(format!(
                "now(): offset '{o}' is not a duration such as -1d, 2h, 30m or 90s"
            ))
        })?;
    }
    match format {
        None => Ok(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        Some(f) => {
            use chrono::format::{Item, StrftimeItems};
            // chrono panics while displaying a bad format; refuse it first.
            if StrftimeItems::new(&f).any(|i| matches!(i, Item::Error)) {
                return Err(invalid(format!("now(): '{f}' is not a strftime format")));
            }
            Ok(t.format(&f).to_string())
        }
    }
}

fn parse_offset(text: &str) -> Option<chrono::TimeDelta> {
    let t = text.trim();
    let (sign, rest) = match t.strip_prefix('-') {
        Some(r) => (-1.0, r),
        None => (1.0, t.strip_prefix('+').unwrap_or(t)),
    };
    let split = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = rest.split_at(split);
    let value: f64 = number.parse().ok()?;
    let seconds = value
        * match unit.trim() {
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86_400.0,
            "w" => 604_800.0,
            _ => return None,
        };
    if !seconds.is_finite() || seconds.abs() > 3.2e9 {
        return None;
    }
    chrono::TimeDelta::try_milliseconds((sign * seconds * 1000.0).round() as i64)
}

/// `uuid()`: a random (v4) UUID, from the template generator so `--seed` fixes it too.
fn uuid(state: &State<'_, '_>) -> String {
    let bytes: [u8; 16] = draw(state, |r| r.random());
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .to_string()
}

/// `random_int(a, b)`: an integer from a to b, both included.
fn random_int(state: &State<'_, '_>, a: i64, b: i64) -> Result<i64, Error> {
    if a > b {
        return Err(invalid(format!(
            "random_int({a}, {b}): a must not exceed b"
        )));
    }
    Ok(draw(state, |r| r.random_range(a..=b)))
}

/// `random_float(a, b)`: a number from a up to b.
fn random_float(state: &State<'_, '_>, a: f64, b: f64) -> Result<f64, Error> {
    // rand panics on a range it cannot represent (an infinite bound or width).
    if !(a.is_finite() && b.is_finite() && (b - a).is_finite())
        || a.partial_cmp(&b) != Some(std::cmp::Ordering::Less)
    {
        return Err(invalid(format!(
            "random_float({a}, {b}): a must be below b, both finite"
        )));
    }
    Ok(draw(state, |r| r.random_range(a..b)))
}

/// `choice(list)`: one item of the list.
fn choice(state: &State<'_, '_>, items: Vec<Value>) -> Result<Value, Error> {
    if items.is_empty() {
        return Err(invalid("choice(): the list is empty"));
    }
    let i = draw(state, |r| r.random_range(0..items.len()));
    Ok(items[i].clone())
}

/// `fake`: an object whose methods make fake data (English).
#[derive(Debug)]
struct Faker;

/// The methods of `fake`, for the error that lists them.
pub(crate) const FAKE_METHODS: &[&str] = &[
    "name",
    "first_name",
    "last_name",
    "title",
    "email",
    "username",
    "password",
    "phone",
    "company",
    "job",
    "word",
    "words",
    "sentence",
    "paragraph",
    "city",
    "country",
    "country_code",
    "street",
    "zip",
    "state",
    "latitude",
    "longitude",
    "ipv4",
    "ipv6",
    "user_agent",
    "color",
    "credit_card",
    "currency",
    "boolean",
];

impl Object for Faker {
    fn call_method(
        self: &Arc<Self>,
        state: &mut State<'_, '_>,
        method: &str,
        args: &[Value],
    ) -> Result<Value, Error> {
        use fake::faker::address::en as address;
        use fake::faker::company::en as company;
        use fake::faker::internet::en as internet;
        use fake::faker::lorem::en as lorem;
        use fake::faker::name::en as name;
        // An optional count for words, sentence and paragraph: words(3).
        let count = |default: usize| -> Result<std::ops::Range<usize>, Error> {
            match args.first() {
                None => Ok(default..default + 1),
                Some(v) => {
                    let n = usize::try_from(v.clone())
                        .ok()
                        .filter(|n| (1..=1000).contains(n))
                        .ok_or_else(|| {
                            invalid(format!("fake.{method}(): give a count from 1 to 1000"))
                        })?;
                    Ok(n..n + 1)
                }
            }
        };
        if !matches!(method, "words" | "sentence" | "paragraph" | "password") && !args.is_empty() {
            return Err(invalid(format!("fake.{method}() takes no arguments")));
        }
        let s: String = draw(state, |r| -> Result<String, Error> {
            Ok(match method {
                "name" => name::Name().fake_with_rng(r),
                "first_name" => name::FirstName().fake_with_rng(r),
                "last_name" => name::LastName().fake_with_rng(r),
                "title" => name::Title().fake_with_rng(r),
                "email" => internet::SafeEmail().fake_with_rng(r),
                "username" => internet::Username().fake_with_rng(r),
                "password" => {
                    let n = count(12)?;
                    internet::Password(n).fake_with_rng(r)
                }
                "phone" => fake::faker::phone_number::en::PhoneNumber().fake_with_rng(r),
                "company" => company::CompanyName().fake_with_rng(r),
                "job" => fake::faker::job::en::Title().fake_with_rng(r),
                "word" => lorem::Word().fake_with_rng(r),
                "words" => {
                    let words: Vec<String> = lorem::Words(count(3)?).fake_with_rng(r);
                    words.join(" ")
                }
                "sentence" => lorem::Sentence(count(8)?).fake_with_rng(r),
                "paragraph" => lorem::Paragraph(count(4)?).fake_with_rng(r),
                "city" => address::CityName().fake_with_rng(r),
                "country" => address::CountryName().fake_with_rng(r),
                "country_code" => address::CountryCode().fake_with_rng(r),
                "street" => {
                    let number: String = address::BuildingNumber().fake_with_rng(r);
                    let street: String = address::StreetName().fake_with_rng(r);
                    format!("{number} {street}")
                }
                "zip" => address::ZipCode().fake_with_rng(r),
                "state" => address::StateName().fake_with_rng(r),
                "latitude" => address::Latitude().fake_with_rng(r),
                "longitude" => address::Longitude().fake_with_rng(r),
                "ipv4" => internet::IPv4().fake_with_rng(r),
                "ipv6" => internet::IPv6().fake_with_rng(r),
                "user_agent" => internet::UserAgent().fake_with_rng(r),
                "color" => {
                    let [red, green, blue]: [u8; 3] = r.random();
                    format!("#{red:02x}{green:02x}{blue:02x}")
                }
                "credit_card" => fake::faker::creditcard::en::CreditCardNumber().fake_with_rng(r),
                "currency" => fake::faker::currency::en::CurrencyCode().fake_with_rng(r),
                "boolean" => {
                    let b: bool = r.random();
                    return Ok(b.to_string());
                }
                other => {
                    return Err(Error::new(
                        ErrorKind::UnknownMethod,
                        format!("fake.{other}(): fake has {}", FAKE_METHODS.join(", ")),
                    ));
                }
            })
        })?;
        // Numbers and booleans as themselves, so `"{{ fake.latitude() }}"` is a JSON number.
        Ok(match method {
            "latitude" | "longitude" => s.parse::<f64>().map(Value::from).unwrap_or(Value::from(s)),
            "boolean" => Value::from(s == "true"),
            _ => Value::from(s),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(src: &str) -> Result<String, Error> {
        let mut env = Environment::new();
        register(&mut env);
        env.render_str(src, ())
    }

    #[test]
    fn every_fake_method_answers() {
        for m in FAKE_METHODS {
            let out = render(&format!("{{{{ fake.{m}() }}}}")).unwrap();
            assert!(!out.is_empty(), "fake.{m}()");
        }
        assert_eq!(render("{{ fake.words(4) }}").unwrap().split(' ').count(), 4);
        let err = render("{{ fake.nmae() }}").unwrap_err().to_string();
        assert!(err.contains("fake has name"), "{err}");
    }

    #[test]
    fn a_seed_makes_values_reproducible() {
        let sample = |n: u64| {
            let mut env = Environment::new();
            register(&mut env);
            let rng = Arc::new(SeededRng::new(42, 7, n));
            let ctx = with_rng(Value::from(()), Some(&rng));
            env.render_str(
                "{{ fake.name() }} {{ uuid() }} {{ random_int(1, 1000000) }}",
                ctx,
            )
            .unwrap()
        };
        let a = sample(3);
        assert_eq!(a, sample(3));
        assert_ne!(a, sample(4), "the next answer differs");
    }

    #[test]
    fn now_formats_and_offsets() {
        let iso = render("{{ now() }}").unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(&iso).is_ok(), "{iso}");
        let year = render("{{ now('%Y') }}").unwrap();
        assert_eq!(year.len(), 4);
        let tomorrow = render("{{ now('%Y-%m-%d', offset='1d') }}").unwrap();
        let expected = (chrono::Utc::now() + chrono::TimeDelta::days(1))
            .format("%Y-%m-%d")
            .to_string();
        assert_eq!(tomorrow, expected);
        assert!(render("{{ now('%Q') }}").is_err());
        assert!(render("{{ now(offset='soon') }}").is_err());
        let u = render("{{ uuid() }}").unwrap();
        assert_eq!(uuid::Uuid::parse_str(&u).unwrap().get_version_num(), 4);
        let n: i64 = render("{{ random_int(3, 3) }}").unwrap().parse().unwrap();
        assert_eq!(n, 3);
        assert_eq!(render("{{ choice(['a']) }}").unwrap(), "a");
        assert!(render("{{ random_float(-1e308, 1e308) }}").is_err());
        assert!(render("{{ random_float(0, 1e309) }}").is_err());
    }
}
