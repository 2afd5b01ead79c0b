//! Where an HTTP/1 connection is between requests, followed from the bytes that pass: the
//! heads (their request line's length, whether they are complete), the bodies that follow
//! them (`Content-Length` or chunked framing), and the answers written back. `transport`
//! uses it to time every head and refuse an over-long request line; this file only counts.

use std::time::Duration;

use crate::error::ApiError;

/// What a head may take.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HeadLimits {
    /// The longest request line: the URL limit and room for the method and the version.
    pub(crate) max_line: usize,
    /// `--max-url-bytes`, for the 414's body.
    pub(crate) max_url: usize,
    /// How long one head may take to arrive, from its first byte.
    pub(crate) timeout: Duration,
}

impl HeadLimits {
    pub(crate) fn new(max_url: usize, timeout: Duration) -> HeadLimits {
        HeadLimits {
            // "OPTIONS " and " HTTP/1.1" and a little slack.
            max_line: max_url.saturating_add(32),
            max_url,
            timeout,
        }
    }
}

/// How much of each header line is kept to recognise `Content-Length` and
/// `Transfer-Encoding`.
const FIELD: usize = 48;

#[derive(Debug)]
struct Head {
    /// Bytes of the request line so far, and whether it ended.
    line: usize,
    line_done: bool,
    /// The last bytes seen, for a head end split across reads.
    tail: [u8; 3],
    /// The start of a header line split across reads.
    field: [u8; FIELD],
    field_len: usize,
    content_length: u64,
    chunked: bool,
    /// Whether the timer runs (only for a head that did not arrive in one read: most do).
    timed: bool,
    /// Whether a refusal may be written for it: nothing else is being answered meanwhile.
    answerable: bool,
}

/// Where a chunked body is.
#[derive(Debug, Clone, Copy)]
enum Chunk {
    Size {
        value: u64,
        digits: u8,
    },
    /// The rest of a size line (an extension, the CR): the size is known.
    SizeLine(u64),
    Data(u64),
    /// The CRLF after a chunk's data.
    DataEnd,
    /// After the last chunk: trailer lines, then an empty one; `blank` while the current line
    /// is still empty.
    Trailers {
        blank: bool,
    },
}

#[derive(Debug)]
enum State {
    /// Between requests: the next byte starts a head.
    Idle,
    Head(Head),
    Body(u64),
    Chunked(Chunk),
    /// Bytes that do not look like HTTP/1: not followed until the next answer.
    Unsure,
    /// HTTP/2, or upgraded to a WebSocket: never followed again.
    Off,
}

/// What [`HeadWatch::read`] found.
#[derive(Debug)]
pub(crate) enum Verdict {
    Pass,
    /// A limit is passed: answer with this (when [`HeadWatch::answerable`]) and close.
    Refuse(ApiError),
}

/// The state of one connection.
#[derive(Debug)]
pub(crate) struct HeadWatch {
    limits: HeadLimits,
    state: State,
    /// Requests whose head arrived and whose answer has not started yet.
    outstanding: u32,
}

impl HeadWatch {
    pub(crate) fn new(limits: HeadLimits, http1: bool) -> HeadWatch {
        HeadWatch {
            limits,
            state: if http1 { State::Idle } else { State::Off },
            outstanding: 0,
        }
    }

    pub(crate) fn limits(&self) -> HeadLimits {
        self.limits
    }

    /// Whether a head is incomplete and its timer should run; arms it once per head.
    pub(crate) fn arm_timer(&mut self) -> bool {
        match &mut self.state {
            State::Head(h) if !h.timed => {
                h.timed = true;
                true
            }
            _ => false,
        }
    }

    /// Whether a timed head is waiting for its bytes.
    pub(crate) fn timing(&self) -> bool {
        matches!(&self.state, State::Head(h) if h.timed)
    }

    /// Whether a refusal may be written now: the connection is in a head that began with
    /// nothing else being answered, and no answer was written since.
    pub(crate) fn answerable(&self) -> bool {
        matches!(&self.state, State::Head(h) if h.answerable) && self.outstanding == 0
    }

    /// Stops following the connection (after a refusal).
    pub(crate) fn stop(&mut self) {
        self.state = State::Off;
    }

    /// Follows `bytes` read from the client.
    pub(crate) fn read(&mut self, bytes: &[u8]) -> Verdict {
        let mut rest = bytes;
        while !rest.is_empty() {
            let used = match &mut self.state {
                State::Off | State::Unsure => return Verdict::Pass,
                State::Idle => {
                    let b = rest[0];
                    // Blank lines between requests are allowed (RFC 9112 §2.2); anything but a
                    // method's first letter is not a head followed here.
                    if b == b'\r' || b == b'\n' {
                        1
                    } else if b.is_ascii_uppercase() {
                        let answerable = self.outstanding == 0;
                        self.state = State::Head(Head {
                            line: 0,
                            line_done: false,
                            tail: [0; 3],
                            field: [0; FIELD],
                            field_len: 0,
                            content_length: 0,
                            chunked: false,
                            timed: false,
                            answerable,
                        });
                        0
                    } else {
                        self.state = State::Unsure;
                        return Verdict::Pass;
                    }
                }
                State::Head(h) => match h.read(rest, &self.limits) {
                    Ok((used, false)) => used,
                    Ok((used, true)) => {
                        self.outstanding += 1;
                        self.state = if h.chunked {
                            State::Chunked(Chunk::Size {
                                value: 0,
                                digits: 0,
                            })
                        } else if h.content_length > 0 {
                            State::Body(h.content_length)
                        } else {
                            State::Idle
                        };
                        used
                    }
                    Err(e) => return Verdict::Refuse(e),
                },
                State::Body(left) => {
                    let n = (*left).min(rest.len() as u64);
                    *left -= n;
                    if *left == 0 {
                        self.state = State::Idle;
                    }
                    n as usize
                }
                State::Chunked(c) => match chunk(c, rest) {
                    Some((used, done)) => {
                        if done {
                            self.state = State::Idle;
                        }
                        used
                    }
                    None => {
                        self.state = State::Unsure;
                        return Verdict::Pass;
                    }
                },
            };
            rest = &rest[used..];
        }
        Verdict::Pass
    }

    /// Follows a write to the client: an answer starting.
    pub(crate) fn wrote(&mut self, bytes: &[u8]) {
        if matches!(self.state, State::Off) {
            return;
        }
        let status = bytes
            .strip_prefix(b"HTTP/1.1 ")
            .or_else(|| bytes.strip_prefix(b"HTTP/1.0 "))
            .and_then(|s| s.first());
        match status {
            // Switching protocols: what follows is WebSocket frames.
            Some(b'1') if bytes[9..].starts_with(b"101") => self.state = State::Off,
            // A 100 Continue comes before the body it asks for.
            Some(b'1') => {}
            Some(_) => {
                self.outstanding = self.outstanding.saturating_sub(1);
                if let State::Unsure = self.state {
                    self.state = State::Idle;
                }
            }
            None => {}
        }
        // Anything written while a head arrives (an earlier answer still streaming) means a
        // refusal for it could not be told apart.
        if let State::Head(h) = &mut self.state {
            h.answerable = false;
        }
    }
}

impl Head {
    /// Reads head bytes; how many it used, and whether the head ended there.
    fn read(&mut self, bytes: &[u8], limits: &HeadLimits) -> Result<(usize, bool), ApiError> {
        let mut i = 0;
        while i < bytes.len() {
            let rest = &bytes[i..];
            // Line ends are found with `position`: this runs on every request.
            let newline = rest.iter().position(|&b| b == b'\n');
            let segment = &rest[..newline.unwrap_or(rest.len())];
            if !self.line_done {
                self.line += segment.len();
                if self.line > limits.max_line {
                    return Err(ApiError::UriTooLong {
                        limit: limits.max_url,
                    });
                }
            } else if self.field_len == 0 && newline.is_some() {
                // The usual case: a whole header line in this read, looked at where it is.
                self.field_ends(segment);
            } else {
                let take = segment.len().min(FIELD - self.field_len);
                self.field[self.field_len..self.field_len + take].copy_from_slice(&segment[..take]);
                self.field_len += take;
            }
            let Some(k) = newline else {
                self.push_tail(rest);
                return Ok((bytes.len(), false));
            };
            // `\n\n` or `\n\r\n` (so `\r\n\r\n`) ends a head.
            let one = if k >= 1 { rest[k - 1] } else { self.tail[2] };
            let two = match k {
                0 => self.tail[1],
                1 => self.tail[2],
                _ => rest[k - 2],
            };
            let end = one == b'\n' || (one == b'\r' && two == b'\n');
            if self.line_done && self.field_len > 0 {
                let field = self.field;
                self.field_ends(&field[..self.field_len]);
            }
            self.line_done = true;
            self.push_tail(&rest[..=k]);
            i += k + 1;
            if end {
                return Ok((i, true));
            }
        }
        Ok((i, false))
    }

    fn push_tail(&mut self, seen: &[u8]) {
        let keep = seen.len().min(3);
        self.tail.rotate_left(keep);
        self.tail[3 - keep..].copy_from_slice(&seen[seen.len() - keep..]);
    }

    /// A header line ended: the two fields that say where the body ends.
    fn field_ends(&mut self, line: &[u8]) {
        fn value<'a>(line: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
            (line.len() >= name.len() && line[..name.len()].eq_ignore_ascii_case(name))
                .then(|| &line[name.len()..])
        }
        if let Some(v) = value(line, b"content-length:") {
            self.content_length = std::str::from_utf8(v.trim_ascii())
                .ok()
                .and_then(|d| d.parse().ok())
                .unwrap_or(0);
        } else if let Some(v) = value(line, b"transfer-encoding:") {
            self.chunked = v.windows(7).any(|w| w.eq_ignore_ascii_case(b"chunked"));
        }
        self.field_len = 0;
    }
}

/// Follows chunked framing through `bytes`: how many it used and whether the body ended, or
/// `None` for bytes that are not chunked framing.
fn chunk(c: &mut Chunk, bytes: &[u8]) -> Option<(usize, bool)> {
    let after_size = |value: u64| {
        if value == 0 {
            Chunk::Trailers { blank: true }
        } else {
            Chunk::Data(value)
        }
    };
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match c {
            Chunk::Size { value, digits } => match b {
                b'\n' if *digits > 0 => *c = after_size(*value),
                b'\r' | b';' | b' ' | b'\t' if *digits > 0 => *c = Chunk::SizeLine(*value),
                _ => {
                    let d = u64::from((b as char).to_digit(16)?);
                    *value = value.checked_mul(16)?.checked_add(d)?;
                    *digits = digits.checked_add(1)?;
                }
            },
            Chunk::SizeLine(value) => {
                if b == b'\n' {
                    *c = after_size(*value);
                }
            }
            Chunk::Data(left) => {
                let n = (*left).min((bytes.len() - i) as u64);
                *left -= n;
                i += n as usize;
                if *left == 0 {
                    *c = Chunk::DataEnd;
                }
                continue;
            }
            Chunk::DataEnd => match b {
                b'\r' => {}
                b'\n' => {
                    *c = Chunk::Size {
                        value: 0,
                        digits: 0,
                    }
                }
                _ => return None,
            },
            Chunk::Trailers { blank } => match b {
                b'\r' => {}
                b'\n' if *blank => return Some((i + 1, true)),
                b'\n' => *blank = true,
                _ => *blank = false,
            },
        }
        i += 1;
    }
    Some((i, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watch() -> HeadWatch {
        HeadWatch::new(HeadLimits::new(100, Duration::from_secs(5)), true)
    }

    fn pass(w: &mut HeadWatch, bytes: &[u8]) {
        assert!(matches!(w.read(bytes), Verdict::Pass), "{bytes:?}");
    }

    #[test]
    fn keep_alive_heads_bodies_and_answers_are_followed() {
        let mut w = watch();
        pass(&mut w, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(matches!(w.state, State::Idle) && w.outstanding == 1);
        w.wrote(b"HTTP/1.1 200 OK\r\n");
        assert_eq!(w.outstanding, 0);
        // A body of its declared length, then the next head, split anywhere.
        for chunk in [
            &b"\r\nPO"[..],
            b"ST /b HTTP/1.1\r",
            b"\nContent-Length: 5\r\n",
            b"\r",
            b"\nhel",
            b"lo",
        ] {
            pass(&mut w, chunk);
        }
        assert!(matches!(w.state, State::Idle), "{:?}", w.state);
        w.wrote(b"HTTP/1.1 100 Continue\r\n\r\n");
        assert_eq!(w.outstanding, 1, "a 100 Continue is not the answer");
        w.wrote(b"HTTP/1.1 101 Switching Protocols\r\n");
        assert!(matches!(w.state, State::Off));
        pass(&mut w, &[0x81, 0x85, 0, 0, 0, 0]);
    }

    #[test]
    fn a_head_split_anywhere_ends_where_it_ends() {
        let heads: [&[u8]; 3] = [
            b"GET /a HTTP/1.1\r\nHost: x\r\nA: b\r\n\r\n",
            b"GET / HTTP/1.0\n\n",
            b"POST /p HTTP/1.1\r\ncontent-length: 3\r\n\r\nabc",
        ];
        for head in heads {
            for cut in 1..head.len() {
                let mut w = watch();
                pass(&mut w, &head[..cut]);
                assert!(
                    !matches!(w.state, State::Idle),
                    "cut at {cut}: not over yet"
                );
                pass(&mut w, &head[cut..]);
                assert!(
                    matches!(w.state, State::Idle),
                    "cut at {cut}: {:?}",
                    w.state
                );
                assert_eq!(w.outstanding, 1);
            }
        }
    }

    #[test]
    fn a_pipelined_head_after_a_body_is_followed_and_not_answerable() {
        let mut w = watch();
        pass(
            &mut w,
            b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3;x=1\r\nabc\r\n0\r\nT: 1\r\n\r\nGET /b",
        );
        assert!(matches!(w.state, State::Head(_)), "{:?}", w.state);
        assert!(!w.answerable(), "/a is still to be answered");
        assert!(w.arm_timer(), "the pipelined head is timed");
        w.wrote(b"HTTP/1.1 200 OK\r\n\r\n");
        assert!(!w.answerable(), "an answer was written during the head");
        pass(&mut w, b" HTTP/1.1\r\n\r\n");
        assert!(matches!(w.state, State::Idle));
    }

    #[test]
    fn a_head_after_an_answer_is_answerable() {
        let mut w = watch();
        pass(&mut w, b"GET /a HTTP/1.1\r\n\r\n");
        w.wrote(b"HTTP/1.1 204 No Content\r\n\r\n");
        pass(&mut w, b"GET /b HTT");
        assert!(w.answerable());
        assert!(w.arm_timer() && !w.arm_timer(), "armed once");
        assert!(w.timing());
    }

    #[test]
    fn a_request_line_over_the_limit_is_a_414_and_long_headers_are_not() {
        let mut w = watch();
        let long = format!("GET /{} HTTP/1.1\r\n", "a".repeat(200));
        assert!(matches!(
            w.read(long.as_bytes()),
            Verdict::Refuse(ApiError::UriTooLong { limit: 100 })
        ));
        let mut w = watch();
        pass(
            &mut w,
            format!("GET / HTTP/1.1\r\nX-Long: {}\r\n\r\n", "b".repeat(500)).as_bytes(),
        );
        assert!(matches!(w.state, State::Idle));
    }

    #[test]
    fn what_does_not_look_like_http_is_left_alone_until_the_next_answer() {
        let mut w = watch();
        pass(&mut w, b"{\"not\": \"a head\"");
        assert!(matches!(w.state, State::Unsure));
        w.wrote(b"HTTP/1.1 400 Bad Request\r\n");
        assert!(matches!(w.state, State::Idle));
    }
}
