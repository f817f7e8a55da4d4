//! gRPC's message framing: each message is 1 flag byte (compressed or not), a 4-byte big-endian
//! length, then the encoded protobuf.

use bytes::{Bytes, BytesMut};
use prost::Message;

/// The flag byte and the length before each message.
pub const PREFIX_BYTES: usize = 5;

/// Why a message cannot be taken from the bytes received.
#[derive(Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The flag byte says compressed; no compressor is negotiated here.
    Compressed,
    /// The prefix announces `length` bytes, over the receiver's `max`.
    TooLarge { length: usize, max: usize },
}

/// One message framed.
pub fn frame_message(message: &impl Message) -> Bytes {
    frame_encoded_len(message, message.encoded_len())
}

/// `frame_message` of a message whose `encoded_len` is known already.
pub fn frame_encoded_len(message: &impl Message, length: usize) -> Bytes {
    frame_with_tail(message, length, &[])
}

/// One message framed: `message` (`length` bytes encoded) followed by `tail`, fields already
/// encoded whose numbers are all above `message`'s set fields, so that the whole is what
/// encoding the message with those fields set gives.
pub fn frame_with_tail(message: &impl Message, length: usize, tail: &[u8]) -> Bytes {
    let mut buffer = Vec::with_capacity(PREFIX_BYTES + length + tail.len());
    buffer.push(0);
    buffer.extend_from_slice(&((length + tail.len()) as u32).to_be_bytes());
    // encode_raw: `encode` would work out the length a second time to check the room left.
    message.encode_raw(&mut buffer);
    buffer.extend_from_slice(tail);
    Bytes::from(buffer)
}

/// The length a complete prefix at the start of `buffer` announces (None: fewer bytes than a
/// prefix), refused if compressed or over `max`.
pub fn announced_length(buffer: &[u8], max: usize) -> Result<Option<usize>, FrameError> {
    if buffer.len() < PREFIX_BYTES {
        return Ok(None);
    }
    if buffer[0] != 0 {
        return Err(FrameError::Compressed);
    }
    let length = u32::from_be_bytes([buffer[1], buffer[2], buffer[3], buffer[4]]) as usize;
    if length > max {
        return Err(FrameError::TooLarge { length, max });
    }
    Ok(Some(length))
}

/// Takes the first whole message (its encoded bytes, without the prefix) off `buffer`; None
/// while it has not all arrived.
pub fn next_message(buffer: &mut BytesMut, max: usize) -> Result<Option<Bytes>, FrameError> {
    match announced_length(buffer, max)? {
        Some(length) if buffer.len() >= PREFIX_BYTES + length => {
            let message = buffer.split_to(PREFIX_BYTES + length).freeze();
            Ok(Some(message.slice(PREFIX_BYTES..)))
        }
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_come_off_as_they_complete() {
        let framed = frame_message(&crate::pb::etcdserverpb::PutRequest {
            key: b"k".to_vec(),
            ..Default::default()
        });
        let mut buffer = BytesMut::new();
        for (i, byte) in framed.iter().enumerate() {
            buffer.extend_from_slice(&[*byte]);
            let taken = next_message(&mut buffer, 100).unwrap();
            assert_eq!(
                taken.is_some(),
                i + 1 == framed.len(),
                "after {} bytes",
                i + 1
            );
        }
        assert!(buffer.is_empty());
        assert_eq!(
            next_message(&mut BytesMut::from(&[1u8, 0, 0, 0, 0][..]), 100),
            Err(FrameError::Compressed)
        );
        assert_eq!(
            next_message(&mut BytesMut::from(&[0u8, 0, 0, 1, 0][..]), 100),
            Err(FrameError::TooLarge {
                length: 256,
                max: 100
            })
        );
    }
}
