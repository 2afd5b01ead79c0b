//! The bytes of a WebSocket connection, checked frame header by frame header before actix-ws
//! buffers them. actix reads a whole frame before it compares its declared length with the
//! limit, and actix-ws reads everything the socket has before it decodes: a header declaring
//! 2^62 bytes followed by a fast stream of data would be buffered without bound. The guard
//! fails the stream at such a header (the connection is closed with 1009 at once), and hands
//! on at most [`BURST`] bytes before letting actix-ws decode what it has.

use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::web::Bytes;
use futures_util::Stream;

/// Bytes handed on in one go before the guard yields, so actix-ws decodes (and frees) them.
const BURST: usize = 256 * 1024;

/// The longest payload a control frame (close, ping, pong) may declare (RFC 6455 §5.5).
const CONTROL_MAX: u64 = 125;

/// Where the guard is in the byte stream.
enum Position {
    /// Reading a frame header: the bytes of it seen so far.
    Header { bytes: [u8; 14], len: usize },
    /// Inside a frame's payload: the bytes of it still to come.
    Payload(u64),
}

/// The connection's payload, failing at the first frame header that declares more than `max`
/// bytes.
pub(crate) struct FrameGuard {
    inner: Payload,
    max: u64,
    position: Position,
    /// Bytes handed on since the guard last yielded.
    burst: usize,
    /// A refusal found after some good frames of a chunk: those are handed on first, then
    /// the guard yields once (actix-ws decodes what it holds only when the stream is
    /// pending), so the messages that came before the bad frame are still answered.
    failed: Option<(PayloadError, bool)>,
    /// Inside a fragmented message: its first frame came without FIN.
    fragmented: bool,
}

impl FrameGuard {
    pub(crate) fn new(inner: Payload, max: usize) -> FrameGuard {
        FrameGuard {
            inner,
            max: max as u64,
            position: Position::Header {
                bytes: [0; 14],
                len: 0,
            },
            burst: 0,
            failed: None,
            fragmented: false,
        }
    }

    /// Follows `chunk` through frame headers and payloads; Err at a header over the limit or
    /// with a reserved bit set, with where in `chunk` that frame begins (0 when it began in an
    /// earlier chunk).
    fn check(&mut self, chunk: &[u8]) -> Result<(), (usize, PayloadError)> {
        let mut i = 0;
        while i < chunk.len() {
            match &mut self.position {
                Position::Payload(left) => {
                    let step = (*left).min((chunk.len() - i) as u64);
                    *left -= step;
                    i += step as usize;
                    if *left == 0 {
                        self.position = Position::Header {
                            bytes: [0; 14],
                            len: 0,
                        };
                    }
                }
                Position::Header { bytes, len } => {
                    bytes[*len] = chunk[i];
                    *len += 1;
                    i += 1;
                    // RSV1-3 mean an extension; mockrig agrees to none (RFC 6455 §5.2).
                    if *len == 1 && bytes[0] & 0x70 != 0 {
                        return Err((
                            i - 1,
                            protocol_error(
                                "a reserved bit (RSV) is set, and no extension was agreed",
                            ),
                        ));
                    }
                    if let Some((header, payload)) = header_size(&bytes[..*len])
                        && *len == header
                    {
                        let start = i.saturating_sub(header);
                        if let Some(why) = sequence(&mut self.fragmented, bytes[0]) {
                            return Err((start, protocol_error(why)));
                        }
                        // A long control frame breaks the protocol (1002); a long message
                        // only this endpoint's limit (1009).
                        if bytes[0] & 0x08 != 0 && payload > CONTROL_MAX {
                            return Err((
                                start,
                                protocol_error("a control frame declares more than 125 bytes"),
                            ));
                        }
                        if payload > self.max {
                            return Err((start, PayloadError::Overflow));
                        }
                        self.position = if payload == 0 {
                            Position::Header {
                                bytes: [0; 14],
                                len: 0,
                            }
                        } else {
                            Position::Payload(payload)
                        };
                    }
                }
            }
        }
        Ok(())
    }
}

/// Why a frame whose first header byte is `b0` cannot come here (RFC 6455 §5.2, §5.4):
/// a reserved opcode, a continuation of nothing, a new message inside a fragmented one, a
/// fragmented control frame. actix-ws would refuse these too, but only after failing the
/// messages decoded with them; refused here, those before it are answered first.
fn sequence(fragmented: &mut bool, b0: u8) -> Option<&'static str> {
    let fin = b0 & 0x80 != 0;
    match b0 & 0x0f {
        0x0 if !*fragmented => Some("a continuation frame with no message to continue"),
        0x0 => {
            *fragmented = !fin;
            None
        }
        0x1 | 0x2 if *fragmented => Some("a new message began before the fragmented one ended"),
        0x1 | 0x2 => {
            *fragmented = !fin;
            None
        }
        0x8..=0xa if !fin => Some("a fragmented control frame"),
        0x8..=0xa => None,
        _ => Some("a reserved opcode"),
    }
}

fn protocol_error(why: &'static str) -> PayloadError {
    PayloadError::Io(std::io::Error::new(std::io::ErrorKind::InvalidInput, why))
}

/// From the first bytes of a frame header: its whole length and the payload length it
/// declares, once enough of it is there to tell.
fn header_size(h: &[u8]) -> Option<(usize, u64)> {
    if h.len() < 2 {
        return None;
    }
    let mask = if h[1] & 0x80 != 0 { 4 } else { 0 };
    let (extended, len) = match h[1] & 0x7f {
        126 => (2, None),
        127 => (8, None),
        n => (0, Some(u64::from(n))),
    };
    let header = 2 + extended + mask;
    let len = match len {
        Some(n) => n,
        None if h.len() >= 2 + extended => h[2..2 + extended]
            .iter()
            .fold(0u64, |acc, b| (acc << 8) | u64::from(*b)),
        None => return None,
    };
    Some((header, len))
}

impl Stream for FrameGuard {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.burst >= BURST {
            this.burst = 0;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        match this.failed.take() {
            Some((e, true)) => return Poll::Ready(Some(Err(e))),
            Some((e, false)) => {
                this.failed = Some((e, true));
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            None => {}
        }
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                if let Err((at, e)) = this.check(&chunk) {
                    if at == 0 {
                        // Earlier chunks may still wait in actix-ws undecoded: yield once
                        // first, so their messages are answered before the close.
                        this.failed = Some((e, true));
                        cx.waker().wake_by_ref();
                        return Poll::Pending;
                    }
                    this.failed = Some((e, false));
                    return Poll::Ready(Some(Ok(chunk.slice(..at))));
                }
                this.burst += chunk.len();
                Poll::Ready(Some(Ok(chunk)))
            }
            other => {
                if other.is_pending() {
                    this.burst = 0;
                }
                other
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(max: usize) -> FrameGuard {
        FrameGuard::new(Payload::None, max)
    }

    /// A masked client frame header declaring `len` bytes.
    fn header(opcode: u8, len: u64) -> Vec<u8> {
        let mut h = vec![0x80 | opcode];
        match len {
            0..=125 => h.push(0x80 | len as u8),
            126..=0xffff => {
                h.push(0x80 | 126);
                h.extend_from_slice(&(len as u16).to_be_bytes());
            }
            _ => {
                h.push(0x80 | 127);
                h.extend_from_slice(&len.to_be_bytes());
            }
        }
        h.extend_from_slice(&[1, 2, 3, 4]);
        h
    }

    #[test]
    fn frames_within_the_limit_pass_in_any_split() {
        let mut stream = Vec::new();
        for len in [0u64, 5, 125, 126, 1000, 70_000] {
            stream.extend(header(0x2, len));
            stream.extend(std::iter::repeat_n(7u8, len as usize));
        }
        stream.extend(header(0x9, 4));
        stream.extend([1, 2, 3, 4]);
        for split in [1, 2, 3, 7, 13, 4096, stream.len()] {
            let mut g = guard(70_000);
            for chunk in stream.chunks(split) {
                assert!(g.check(chunk).is_ok(), "split {split}");
            }
            assert!(
                matches!(g.position, Position::Header { len: 0, .. }),
                "split {split}: ends between frames"
            );
        }
    }

    #[test]
    fn a_header_over_the_limit_fails_before_its_payload() {
        for (opcode, len, max) in [
            (0x2, 1u64 << 62, 1 << 20),
            (0x1, 1_001, 1_000),
            (0x0, 70_000, 65_536),
        ] {
            let h = header(opcode, len);
            // Byte by byte: the failure comes with the header's last byte, not later.
            let mut g = guard(max);
            // A continuation continues a message begun earlier.
            g.fragmented = opcode == 0x0;
            let (last, first) = h.split_last().unwrap();
            for b in first {
                assert!(g.check(&[*b]).is_ok());
            }
            assert!(
                matches!(g.check(&[*last]), Err((_, PayloadError::Overflow))),
                "opcode {opcode:#x}, {len} bytes"
            );
        }
    }

    #[test]
    fn frames_out_of_sequence_are_refused_where_they_begin() {
        // The opcode and FIN of each frame, 3 bytes of payload each.
        let frame = |b0: u8| {
            let mut f = header(b0 & 0x0f, 3);
            f[0] = b0;
            f.extend([1, 2, 3]);
            f
        };
        let good: Vec<u8> = [0x01, 0x00, 0x89, 0x80, 0x82]
            .iter()
            .flat_map(|b| frame(*b))
            .collect();
        for (bad, why) in [
            (vec![0x83], "a reserved opcode"),
            (vec![0x8b], "a reserved opcode"),
            (
                vec![0x80],
                "a continuation frame with no message to continue",
            ),
            (
                vec![0x01, 0x81],
                "a new message began before the fragmented one ended",
            ),
            (vec![0x09], "a fragmented control frame"),
        ] {
            let mut stream = good.clone();
            stream.extend(bad.iter().flat_map(|b| frame(*b)));
            // Where the bad frame begins: after the good ones and any good start of its own.
            let at = good.len() + frame(0).len() * (bad.len() - 1);
            let mut g = guard(1 << 20);
            match g.check(&stream) {
                Err((start, PayloadError::Io(e))) => {
                    assert_eq!((start, e.to_string()), (at, why.to_owned()));
                }
                other => panic!("{why}: {other:?}"),
            }
        }
        let mut g = guard(1 << 20);
        assert!(
            g.check(&good).is_ok(),
            "text in two fragments, a ping between"
        );
    }

    #[test]
    fn a_long_control_frame_is_a_protocol_error_whatever_the_limit() {
        // Close, ping, pong: 125 bytes pass, 126 break RFC 6455 §5.5 (Autobahn 7.3.6), even
        // under a message limit far above it; not "too large" (1009), which is a limit's.
        for opcode in [0x8, 0x9, 0xa] {
            let mut g = guard(1 << 20);
            assert!(g.check(&header(opcode, 125)).is_ok());
            g.check(&[0; 125]).unwrap();
            let refused = g.check(&header(opcode, 126)).unwrap_err().1;
            let close = crate::engine::channels::ws::close_for(&actix_ws::ProtocolError::Io(
                std::io::Error::other(refused.to_string()),
            ));
            assert_eq!(
                close.0,
                actix_ws::CloseCode::Protocol,
                "{opcode:#x}: {close:?}"
            );
        }
    }
}
