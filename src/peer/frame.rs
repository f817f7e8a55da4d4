//! The peer wire format. A raft stream is one TCP (or TLS) connection from one member to another:
//!
//! ```text
//! hello   8 bytes magic "etcdrs/1" | u64 BE cluster ID | u64 BE sender ID | u64 BE receiver ID
//! answer  1 byte: 0 accepted, 1 other cluster, 2 other member, 3 sender not a member (then
//!         the receiver closes)
//! frames  u8 kind | u32 LE payload length | payload
//!           kind 1: raft Message (protobuf)
//!           kind 2: a chunk of a snapshot's store dump (after a kind-1 MsgSnapshot)
//!           kind 3: end of the dump; payload u32 LE CRC32C of all its chunks
//! ```
//!
//! A hello with cluster ID, sender and receiver all 0 is a membership query from a member that
//! is joining (`--initial-cluster-state existing`) and knows neither its ID nor the cluster's:
//! the answer is followed by one kind-4 frame (etcdserverpb.MemberListResponse, whose header
//! carries the cluster ID) and the stream closes.
//!
//! Anything that does not start with the magic is not a raft stream and is closed.

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use smol::io::{AsyncRead, AsyncWrite};
use std::io;

pub const MAGIC: &[u8; 8] = b"etcdrs/1";
pub const HELLO_BYTES: usize = 32;

pub const ACCEPTED: u8 = 0;
pub const OTHER_CLUSTER: u8 = 1;
pub const OTHER_MEMBER: u8 = 2;
/// The sender is not a member of the receiver's cluster (as the receiver knows it).
pub const NOT_MEMBER: u8 = 3;

pub const KIND_MESSAGE: u8 = 1;
pub const KIND_SNAPSHOT_CHUNK: u8 = 2;
pub const KIND_SNAPSHOT_END: u8 = 3;
pub const KIND_MEMBERS: u8 = 4;
/// A question for the member (peer/query.rs) and its answer.
pub const KIND_QUERY: u8 = 5;
pub const KIND_ANSWER: u8 = 6;

/// A frame claiming more than this is damage or abuse, not data (raft messages are capped at
/// 1 MiB of entries, one entry at --max-request-bytes, snapshot chunks at 1 MiB).
pub const MAX_FRAME_BYTES: usize = 64 * 1024 * 1024;
/// A payload is read this much at a time, so a length claimed but never sent costs nothing.
const READ_CHUNK_BYTES: usize = 64 * 1024;
/// A reused payload buffer that grew beyond this for one large frame is given back.
const RETAINED_BUFFER_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hello {
    pub cluster_id: u64,
    pub from: u64,
    pub to: u64,
}

impl Hello {
    pub const MEMBERS_QUERY: Hello = Hello {
        cluster_id: 0,
        from: 0,
        to: 0,
    };

    pub fn encode(&self) -> [u8; HELLO_BYTES] {
        let mut bytes = [0u8; HELLO_BYTES];
        bytes[..8].copy_from_slice(MAGIC);
        bytes[8..16].copy_from_slice(&self.cluster_id.to_be_bytes());
        bytes[16..24].copy_from_slice(&self.from.to_be_bytes());
        bytes[24..32].copy_from_slice(&self.to.to_be_bytes());
        bytes
    }

    /// The hello after the magic (which the caller has read and checked).
    pub fn decode(rest: &[u8; HELLO_BYTES - 8]) -> Hello {
        let word = |at: usize| u64::from_be_bytes(rest[at..at + 8].try_into().expect("8 bytes"));
        Hello {
            cluster_id: word(0),
            from: word(8),
            to: word(16),
        }
    }
}

/// A frame's kind byte and payload length before its payload.
pub const FRAME_HEADER_BYTES: usize = 5;

pub async fn write_frame<W: AsyncWrite + Unpin>(
    writer: &mut W,
    kind: u8,
    payload: &[u8],
) -> io::Result<()> {
    let mut header = [0u8; FRAME_HEADER_BYTES];
    header[0] = kind;
    header[1..].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    writer.write_all(&header).await?;
    writer.write_all(payload).await
}

/// Reads one frame into `payload`; Ok(None) when the stream ended cleanly between frames.
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    payload: &mut Vec<u8>,
) -> io::Result<Option<u8>> {
    let mut header = [0u8; FRAME_HEADER_BYTES];
    match reader.read_exact(&mut header[..1]).await {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    reader.read_exact(&mut header[1..]).await?;
    let length = u32::from_le_bytes(header[1..].try_into().expect("4 bytes")) as usize;
    if length > MAX_FRAME_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("peer frame of {length} bytes is larger than any frame"),
        ));
    }
    if payload.capacity() > RETAINED_BUFFER_BYTES {
        *payload = Vec::new();
    }
    payload.clear();
    while payload.len() < length {
        let start = payload.len();
        payload.resize(length.min(start + READ_CHUNK_BYTES), 0);
        reader.read_exact(&mut payload[start..]).await?;
    }
    Ok(Some(header[0]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claimed_length_is_not_allocated_before_its_bytes_arrive() {
        // A header claiming the largest frame, followed by 10 bytes and the end of the stream.
        let mut wire = vec![KIND_MESSAGE];
        wire.extend_from_slice(&(MAX_FRAME_BYTES as u32).to_le_bytes());
        wire.extend_from_slice(&[7; 10]);
        let mut payload = Vec::new();
        let result = smol::block_on(read_frame(&mut wire.as_slice(), &mut payload));
        assert_eq!(result.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
        assert!(
            payload.capacity() <= READ_CHUNK_BYTES,
            "{}",
            payload.capacity()
        );
    }

    #[test]
    fn frames_read_back_as_written() {
        let mut wire = Vec::new();
        let big = vec![5u8; 3 * READ_CHUNK_BYTES + 17];
        smol::block_on(write_frame(&mut wire, KIND_SNAPSHOT_CHUNK, &big)).unwrap();
        smol::block_on(write_frame(&mut wire, KIND_MESSAGE, b"raft")).unwrap();
        let mut reader = wire.as_slice();
        let mut payload = Vec::new();
        let kind = smol::block_on(read_frame(&mut reader, &mut payload)).unwrap();
        assert_eq!(
            (kind, payload.len()),
            (Some(KIND_SNAPSHOT_CHUNK), big.len())
        );
        let kind = smol::block_on(read_frame(&mut reader, &mut payload)).unwrap();
        assert_eq!(
            (kind, payload.as_slice()),
            (Some(KIND_MESSAGE), &b"raft"[..])
        );
        assert_eq!(
            smol::block_on(read_frame(&mut reader, &mut payload)).unwrap(),
            None
        );
    }

    #[test]
    fn fuzz_peer_frames() {
        let mut seed = Vec::new();
        smol::block_on(async {
            write_frame(&mut seed, KIND_MESSAGE, b"\x08\x03\x10\x01")
                .await
                .unwrap();
            write_frame(&mut seed, KIND_SNAPSHOT_CHUNK, &[1; 100])
                .await
                .unwrap();
            write_frame(&mut seed, KIND_SNAPSHOT_END, &[0; 4])
                .await
                .unwrap();
        });
        let hello = Hello {
            cluster_id: 1,
            from: 2,
            to: 3,
        }
        .encode()
        .to_vec();
        crate::fuzz::run("peer frames", &[seed, hello], |bytes| {
            if bytes.len() >= HELLO_BYTES && &bytes[..8] == MAGIC {
                let _ = Hello::decode(bytes[8..HELLO_BYTES].try_into().unwrap());
            }
            let mut reader = bytes;
            let mut payload = Vec::new();
            while let Ok(Some(_)) = smol::block_on(read_frame(&mut reader, &mut payload)) {}
        });
    }
}
