//! grpc-go, dialing through its passthrough resolver (as etcdctl 3.4 does for `endpoint status`
//! and `endpoint health`), sends the whole endpoint URL as the HTTP/2 `:authority`
//! ("http://127.0.0.1:2379"). Go's gRPC server ignores it; the h2 crate refuses the stream as
//! malformed. This reader sits between the socket and hyper and rewrites such an authority in
//! HEADERS frames to "http:x@127.0.0.1:2379": a valid authority of the same length, so the HPACK
//! dynamic tables of client and server stay the same size. Everything else passes untouched, as
//! it arrives: only a HEADERS frame no larger than the server's frame limit is held until whole
//! (h2 refuses larger frames), and only a short authority is decoded.

use smol::io::{AsyncRead, AsyncWrite};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

const PREFACE_BYTES: usize = 24;
const FRAME_HEADER_BYTES: usize = 9;
const FRAME_HEADERS: u8 = 0x1;
const FLAG_END_HEADERS: u8 = 0x4;
const FLAG_PADDED: u8 = 0x8;
const FLAG_PRIORITY: u8 = 0x20;
/// HPACK static table index of `:authority`.
const AUTHORITY_INDEX: usize = 1;
/// The largest HEADERS frame held back to be rewritten: the SETTINGS_MAX_FRAME_SIZE the server
/// announces (h2 answers a larger frame with FRAME_SIZE_ERROR, so it passes through to h2).
pub const MAX_REWRITTEN_FRAME_BYTES: usize = 16 * 1024;
/// An authority value longer than this (encoded) is not a host and port: it is left to h2
/// undecoded, so a huge Huffman-coded value costs nothing here.
const MAX_AUTHORITY_BYTES: usize = 255;

/// RFC 7541 Appendix B codes (code, length in bits) of the printable ASCII symbols 0x20..=0x7e,
/// the only ones an authority can hold.
const PRINTABLE_CODES: [(u32, u8); 95] = [
    (0x14, 6),
    (0x3f8, 10),
    (0x3f9, 10),
    (0xffa, 12),
    (0x1ff9, 13),
    (0x15, 6),
    (0xf8, 8),
    (0x7fa, 11),
    (0x3fa, 10),
    (0x3fb, 10),
    (0xf9, 8),
    (0x7fb, 11),
    (0xfa, 8),
    (0x16, 6),
    (0x17, 6),
    (0x18, 6),
    (0x0, 5),
    (0x1, 5),
    (0x2, 5),
    (0x19, 6),
    (0x1a, 6),
    (0x1b, 6),
    (0x1c, 6),
    (0x1d, 6),
    (0x1e, 6),
    (0x1f, 6),
    (0x5c, 7),
    (0xfb, 8),
    (0x7ffc, 15),
    (0x20, 6),
    (0xffb, 12),
    (0x3fc, 10),
    (0x1ffa, 13),
    (0x21, 6),
    (0x5d, 7),
    (0x5e, 7),
    (0x5f, 7),
    (0x60, 7),
    (0x61, 7),
    (0x62, 7),
    (0x63, 7),
    (0x64, 7),
    (0x65, 7),
    (0x66, 7),
    (0x67, 7),
    (0x68, 7),
    (0x69, 7),
    (0x6a, 7),
    (0x6b, 7),
    (0x6c, 7),
    (0x6d, 7),
    (0x6e, 7),
    (0x6f, 7),
    (0x70, 7),
    (0x71, 7),
    (0x72, 7),
    (0xfc, 8),
    (0x73, 7),
    (0xfd, 8),
    (0x1ffb, 13),
    (0x7fff0, 19),
    (0x1ffc, 13),
    (0x3ffc, 14),
    (0x22, 6),
    (0x7ffd, 15),
    (0x3, 5),
    (0x23, 6),
    (0x4, 5),
    (0x24, 6),
    (0x5, 5),
    (0x25, 6),
    (0x26, 6),
    (0x27, 6),
    (0x6, 5),
    (0x74, 7),
    (0x75, 7),
    (0x28, 6),
    (0x29, 6),
    (0x2a, 6),
    (0x7, 5),
    (0x2b, 6),
    (0x76, 7),
    (0x2c, 6),
    (0x8, 5),
    (0x9, 5),
    (0x2d, 6),
    (0x77, 7),
    (0x78, 7),
    (0x79, 7),
    (0x7a, 7),
    (0x7b, 7),
    (0x7ffe, 15),
    (0x7fc, 11),
    (0x3ffd, 14),
    (0x1ffd, 13),
];

pub struct AuthorityFix<S> {
    inner: S,
    /// Bytes from the client not yet passed on: at most a frame header and one HEADERS frame
    /// no larger than MAX_REWRITTEN_FRAME_BYTES, plus one read.
    pending: Vec<u8>,
    /// Bytes ready for hyper, from `ready_at` on.
    ready: Vec<u8>,
    ready_at: usize,
    preface_seen: bool,
    /// Payload bytes of the current frame still to pass through untouched.
    passing: usize,
}

impl<S> AuthorityFix<S> {
    pub fn new(inner: S) -> Self {
        AuthorityFix {
            inner,
            pending: Vec::new(),
            ready: Vec::new(),
            ready_at: 0,
            preface_seen: false,
            passing: 0,
        }
    }

    /// Moves what may go on from `pending` to `ready`: frames as they arrive, and small HEADERS
    /// frames once whole, rewritten.
    fn process(&mut self) {
        if !self.preface_seen {
            if self.pending.len() < PREFACE_BYTES {
                return;
            }
            self.ready.extend(self.pending.drain(..PREFACE_BYTES));
            self.preface_seen = true;
        }
        loop {
            if self.passing > 0 {
                let count = self.passing.min(self.pending.len());
                self.ready.extend(self.pending.drain(..count));
                self.passing -= count;
                if self.passing > 0 {
                    return;
                }
            }
            if self.pending.len() < FRAME_HEADER_BYTES {
                return;
            }
            let length =
                u32::from_be_bytes([0, self.pending[0], self.pending[1], self.pending[2]]) as usize;
            let rewritable =
                self.pending[3] == FRAME_HEADERS && length <= MAX_REWRITTEN_FRAME_BYTES;
            if !rewritable {
                self.ready.extend(self.pending.drain(..FRAME_HEADER_BYTES));
                self.passing = length;
                continue;
            }
            if self.pending.len() < FRAME_HEADER_BYTES + length {
                return;
            }
            let frame: Vec<u8> = self.pending.drain(..FRAME_HEADER_BYTES + length).collect();
            self.ready
                .extend(rewrite_headers_frame(&frame).unwrap_or(frame));
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for AuthorityFix<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        loop {
            if this.ready_at < this.ready.len() {
                let count = buf.len().min(this.ready.len() - this.ready_at);
                buf[..count].copy_from_slice(&this.ready[this.ready_at..this.ready_at + count]);
                this.ready_at += count;
                if this.ready_at == this.ready.len() {
                    this.ready.clear();
                    this.ready_at = 0;
                }
                return Poll::Ready(Ok(count));
            }
            let mut chunk = [0u8; 16 * 1024];
            let read = match Pin::new(&mut this.inner).poll_read(cx, &mut chunk) {
                Poll::Ready(Ok(read)) => read,
                other => return other,
            };
            if read == 0 {
                // End of stream: hand over whatever partial frame is left and let h2 judge it.
                this.ready.append(&mut this.pending);
                if this.ready.is_empty() {
                    return Poll::Ready(Ok(0));
                }
                continue;
            }
            this.pending.extend_from_slice(&chunk[..read]);
            this.process();
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for AuthorityFix<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

/// A HEADERS frame with its authority fixed, or None when it needs no change (or is split into
/// CONTINUATION frames, which grpc-go does not do for its few request headers).
fn rewrite_headers_frame(frame: &[u8]) -> Option<Vec<u8>> {
    let flags = frame[4];
    if flags & FLAG_END_HEADERS == 0 {
        return None;
    }
    let payload = &frame[FRAME_HEADER_BYTES..];
    let (mut start, mut padding) = (0, 0);
    if flags & FLAG_PADDED != 0 {
        padding = *payload.first()? as usize;
        start = 1;
    }
    let priority_bytes = if flags & FLAG_PRIORITY != 0 { 5 } else { 0 };
    let block_start = start + priority_bytes;
    let block = payload.get(block_start..payload.len().checked_sub(padding)?)?;
    let new_block = rewrite_block(block)?;
    // The new frame drops the padding: it carries no meaning.
    let mut new_payload = payload[start..block_start].to_vec();
    new_payload.extend_from_slice(&new_block);
    let length = new_payload.len() as u32;
    let mut out = length.to_be_bytes()[1..].to_vec();
    out.push(frame[3]);
    out.push(flags & !FLAG_PADDED);
    out.extend_from_slice(&frame[5..9]);
    out.extend_from_slice(&new_payload);
    Some(out)
}

/// HPACK integer (RFC 7541 5.1) at `bytes[0]` with an N-bit prefix: (value, bytes used).
fn read_integer(bytes: &[u8], prefix_bits: u32) -> Option<(usize, usize)> {
    let mask = (1usize << prefix_bits) - 1;
    let mut value = (*bytes.first()? as usize) & mask;
    if value < mask {
        return Some((value, 1));
    }
    let mut shift = 0;
    for (position, byte) in bytes.iter().enumerate().skip(1) {
        value += ((byte & 0x7f) as usize) << shift;
        shift += 7;
        if byte & 0x80 == 0 {
            return Some((value, position + 1));
        }
        if shift > 28 {
            return None;
        }
    }
    None
}

fn write_string(out: &mut Vec<u8>, value: &[u8]) {
    let length = value.len();
    if length < 0x7f {
        out.push(length as u8);
    } else {
        out.push(0x7f);
        let mut rest = length - 0x7f;
        while rest >= 0x80 {
            out.push((rest as u8 & 0x7f) | 0x80);
            rest >>= 7;
        }
        out.push(rest as u8);
    }
    out.extend_from_slice(value);
}

/// The encoded size of the string literal at `bytes[0]`, without decoding it.
fn string_bytes(bytes: &[u8]) -> Option<usize> {
    let (length, used) = read_integer(bytes, 7)?;
    (bytes.len() >= used + length).then_some(used + length)
}

/// A string literal at `bytes[0]`: (decoded value, bytes used).
fn read_string(bytes: &[u8]) -> Option<(Vec<u8>, usize)> {
    let huffman = *bytes.first()? & 0x80 != 0;
    let (length, used) = read_integer(bytes, 7)?;
    let data = bytes.get(used..used + length)?;
    let value = if huffman {
        huffman_decode(data)?
    } else {
        data.to_vec()
    };
    Some((value, used + length))
}

fn huffman_decode(data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut code, mut bits) = (0u32, 0u8);
    for byte in data {
        for shift in (0..8).rev() {
            code = (code << 1) | u32::from((byte >> shift) & 1);
            bits += 1;
            if let Some(symbol) = PRINTABLE_CODES
                .iter()
                .position(|&(c, l)| l == bits && c == code)
            {
                out.push(0x20 + symbol as u8);
                code = 0;
                bits = 0;
            } else if bits > 15 {
                return None; // not printable ASCII: not an authority we rewrite
            }
        }
    }
    // What is left must be padding: fewer than 8 bits, all ones.
    (bits < 8 && code == (1u32 << bits) - 1).then_some(out)
}

/// The same-length valid form of an authority that holds a URL, if it does.
fn fixed_authority(value: &[u8]) -> Option<Vec<u8>> {
    let scheme_end = value.windows(3).position(|w| w == b"://")?;
    let mut fixed = value.to_vec();
    fixed[scheme_end + 1] = b'x';
    fixed[scheme_end + 2] = b'@';
    Some(fixed)
}

/// The header block with every URL-shaped authority fixed, or None if nothing changed.
fn rewrite_block(block: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(block.len());
    let mut at = 0;
    let mut changed = false;
    while at < block.len() {
        let first = block[at];
        let prefix_bits = match first {
            b if b & 0x80 != 0 => 7,    // indexed field
            b if b & 0xc0 == 0x40 => 6, // literal with incremental indexing
            b if b & 0xe0 == 0x20 => 5, // dynamic table size update
            _ => 4,                     // literal without indexing / never indexed
        };
        let (index, used) = read_integer(&block[at..], prefix_bits)?;
        let is_literal = prefix_bits == 6 || prefix_bits == 4;
        if !is_literal {
            out.extend_from_slice(&block[at..at + used]);
            at += used;
            continue;
        }
        let mut cursor = at + used;
        let name_is_authority = if index == 0 {
            // Only a short literal name can be ":authority"; others are skipped undecoded.
            let name_used = string_bytes(&block[cursor..])?;
            let is_authority = name_used <= 1 + b":authority".len()
                && read_string(&block[cursor..])?.0 == b":authority";
            cursor += name_used;
            is_authority
        } else {
            index == AUTHORITY_INDEX
        };
        let value_used = string_bytes(&block[cursor..])?;
        let fixed = if name_is_authority && value_used <= MAX_AUTHORITY_BYTES {
            fixed_authority(&read_string(&block[cursor..])?.0)
        } else {
            None
        };
        match fixed {
            Some(fixed) => {
                out.extend_from_slice(&block[at..cursor]);
                write_string(&mut out, &fixed);
                changed = true;
            }
            None => out.extend_from_slice(&block[at..cursor + value_used]),
        }
        at = cursor + value_used;
    }
    changed.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Everything `fix` passes on from `input`, fed in pieces of `step` bytes.
    fn passed(input: &[u8], step: usize) -> (Vec<u8>, AuthorityFix<()>) {
        let mut fix = AuthorityFix::new(());
        for piece in input.chunks(step) {
            fix.pending.extend_from_slice(piece);
            fix.process();
        }
        (std::mem::take(&mut fix.ready), fix)
    }

    fn frame(kind: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
        let mut frame = (payload.len() as u32).to_be_bytes()[1..].to_vec();
        frame.extend_from_slice(&[kind, flags, 0, 0, 0, 1]);
        frame.extend_from_slice(payload);
        frame
    }

    #[test]
    fn frames_pass_as_they_arrive_and_only_small_headers_wait() {
        let mut input = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        // The start of a 16 MiB DATA frame: passed on at once, never held.
        input.extend(frame(0x0, 0, &[]));
        input[PREFACE_BYTES..PREFACE_BYTES + 3].copy_from_slice(&[0xff, 0xff, 0xff]);
        input.extend_from_slice(&[9u8; 100_000]);
        let (out, fix) = passed(&input, 4096);
        assert_eq!(out, input);
        assert_eq!(fix.pending.len(), 0);
        assert_eq!(fix.passing, 0xff_ffff - 100_000);
    }

    #[test]
    fn an_oversized_headers_frame_passes_to_h2_unbuffered() {
        let mut input = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        let mut header = frame(FRAME_HEADERS, FLAG_END_HEADERS, &[]);
        header[..3].copy_from_slice(&(15u32 << 20).to_be_bytes()[1..]);
        input.extend(header);
        input.extend_from_slice(&[0x41; 50_000]);
        let (out, fix) = passed(&input, 1000);
        assert_eq!(out, input);
        assert!(fix.pending.is_empty());
    }

    #[test]
    fn a_long_authority_is_not_decoded() {
        let mut block = vec![0x41];
        let long = format!("http://{}", "a".repeat(4000));
        write_string(&mut block, long.as_bytes());
        assert!(rewrite_block(&block).is_none());
        let (out, _) = passed(
            &[
                b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".as_slice(),
                &frame(FRAME_HEADERS, FLAG_END_HEADERS, &block),
            ]
            .concat(),
            7,
        );
        assert!(out.ends_with(&block));
    }

    #[test]
    fn url_authority_becomes_a_valid_authority_of_the_same_length() {
        let fixed = fixed_authority(b"http://127.0.0.1:2379").unwrap();
        assert_eq!(fixed, b"http:x@127.0.0.1:2379");
        let text = String::from_utf8(fixed).unwrap();
        assert!(text.parse::<http::uri::Authority>().is_ok());
        assert!(fixed_authority(b"127.0.0.1:2379").is_none());
    }

    #[test]
    fn huffman_literal_authority_is_rewritten() {
        // ":authority" by static index 1, literal with incremental indexing, Huffman value
        // "www.example.com" (RFC 7541 C.4.1) is left alone: it is not a URL.
        let block = [
            0x41, 0x8c, 0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90, 0xf4, 0xff,
        ];
        assert_eq!(read_string(&block[1..]).unwrap().0, b"www.example.com");
        assert!(rewrite_block(&block).is_none());
        let mut url_block = vec![0x41];
        write_string(&mut url_block, b"http://10.0.0.1:2379");
        let rewritten = rewrite_block(&url_block).unwrap();
        assert_eq!(
            read_string(&rewritten[1..]).unwrap().0,
            b"http:x@10.0.0.1:2379"
        );
    }
}
