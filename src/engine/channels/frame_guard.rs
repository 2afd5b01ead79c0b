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
                        return Err((i - 1, reserved_bits()));
                    }
                    if let Some((header, payload)) = header_size(&bytes[..*len])
                        && *len == header
                    {
                        let control = bytes[0] & 0x08 != 0;
                        let limit = if control { CONTROL_MAX } else { self.max };
                        if payload > limit {
                            return Err(((i).saturating_sub(header), PayloadError::Overflow));
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

fn reserved_bits() -> PayloadError {
    PayloadError::Io(std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        "a reserved bit (RSV) is set, and no extension was agreed",
    ))
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
                        return Poll::Ready(Some(Err(e)));
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
            (0x9, 126, 1 << 20),
        ] {
            let h = header(opcode, len);
            // Byte by byte: the failure comes with the header's last byte, not later.
            let mut g = guard(max);
            let (last, first) = h.split_last().unwrap();
            for b in first {
                assert!(g.check(&[*b]).is_ok());
            }
            assert!(
                g.check(&[*last]).is_err(),
                "opcode {opcode:#x}, {len} bytes"
            );
        }
    }
}
