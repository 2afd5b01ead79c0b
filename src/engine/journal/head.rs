//! A recorded request's target and headers, packed in one allocation.
//!
//! Every request the journal keeps costs its core a write of fresh memory, and a request
//! evicted a thousand requests later a read of cold memory: with the target, a header list
//! and each header's shared bytes apart, that was four allocations per request and a fifth of
//! mockrig's own time on the static route. Here they are one run of bytes, split only when
//! someone reads the journal.

/// `target`, then each header as `name:value\n`. Neither a name nor a value can hold `\n`, and
/// a name cannot hold `:`, so the lines split back exactly.
pub(crate) struct Head {
    bytes: Box<[u8]>,
    target: u32,
}

impl Head {
    /// `headers` is called twice, to size the allocation and to fill it. Headers whose value
    /// holds a line break are left out (a `HeaderValue` never does).
    pub(crate) fn new<'a, I>(target: &str, headers: impl Fn() -> I) -> Head
    where
        I: Iterator<Item = (&'a str, &'a [u8])>,
    {
        // A target past 4 GiB cannot arrive (the head limits refuse it long before); if one
        // did, it is kept as `/` rather than cut inside a character.
        let target = if target.len() > u32::MAX as usize {
            "/"
        } else {
            target
        };
        let size: usize = headers().map(|(n, v)| n.len() + v.len() + 2).sum();
        let mut bytes = Vec::with_capacity(target.len() + size);
        bytes.extend_from_slice(target.as_bytes());
        for (name, value) in headers() {
            if name.contains([':', '\n']) || value.contains(&b'\n') {
                continue;
            }
            bytes.extend_from_slice(name.as_bytes());
            bytes.push(b':');
            bytes.extend_from_slice(value);
            bytes.push(b'\n');
        }
        Head {
            bytes: bytes.into_boxed_slice(),
            target: target.len() as u32,
        }
    }

    /// Path and query as received.
    pub(crate) fn target(&self) -> &str {
        // Made from a `&str`, cut at its end: always valid.
        std::str::from_utf8(&self.bytes[..self.target as usize]).unwrap_or("/")
    }

    /// Names and values in arrival order.
    pub(crate) fn headers(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.bytes[self.target as usize..]
            .split(|b| *b == b'\n')
            .filter_map(|line| {
                let colon = line.iter().position(|b| *b == b':')?;
                let name = std::str::from_utf8(&line[..colon]).ok()?;
                Some((name, &line[colon + 1..]))
            })
    }

    /// The bytes held.
    pub(crate) fn len(&self) -> usize {
        self.bytes.len()
    }
}

impl std::fmt::Debug for Head {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Head")
            .field("target", &self.target())
            .field(
                "headers",
                &self
                    .headers()
                    .map(|(n, v)| (n, String::from_utf8_lossy(v)))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_and_headers_read_back_as_given() {
        let headers: Vec<(&str, &[u8])> = vec![
            ("host", b"a:8080"),
            ("x-empty", b""),
            ("x-bytes", b"caf\xe9: \"x\""),
            ("host", b"second"),
        ];
        let head = Head::new("/users?a=b:c", || headers.iter().copied());
        assert_eq!(head.target(), "/users?a=b:c");
        assert_eq!(head.headers().collect::<Vec<_>>(), headers);
        // The target, then `name:value\n` for each: 12 + 12 + 9 + 18 + 12.
        assert_eq!(head.len(), 63);
    }

    #[test]
    fn a_line_break_cannot_forge_a_header() {
        let headers: Vec<(&str, &[u8])> = vec![
            ("x-a", b"one\nx-forged:yes"),
            ("x:b", b"two"),
            ("x-c", b"three"),
        ];
        let head = Head::new("/", || headers.iter().copied());
        assert_eq!(
            head.headers().collect::<Vec<_>>(),
            vec![("x-c", &b"three"[..])]
        );
        let empty = Head::new("", std::iter::empty);
        assert_eq!((empty.target(), empty.headers().count()), ("", 0));
    }
}
