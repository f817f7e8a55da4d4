//! Questions a follower forwards to the leader over the peer port, where etcd forwards them
//! over its peer HTTP API: a lease's remaining TTL (only the leader's clock knows it) and a
//! learner's promotion (only the leader knows whether it caught up). One connection per
//! question: the usual hello, a query frame, one answer frame.

use super::frame;
use super::sender::connect;
use super::PeerContext;
use futures_lite::AsyncWriteExt as _;

/// How long either side waits for an answer (a promotion needs a raft round; the asking
/// request itself gives up after etcd's request timeout, 5 s plus two election timeouts).
pub const ANSWER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    LeaseRemaining(i64),
    Promote(u64),
    /// The member's HashKV at a revision (any member answers; the corruption checks ask).
    HashKv(i64),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// Seconds left by the leader's clock (None: no such lease).
    Remaining(Option<i64>),
    Done,
    Hashed(crate::mvcc::KvHash),
    /// Refused, with the gRPC code and message the client should see.
    Refused {
        code: u32,
        message: String,
    },
}

impl Query {
    pub fn encode(&self) -> Vec<u8> {
        let (kind, value) = match self {
            Query::LeaseRemaining(id) => (1u8, *id as u64),
            Query::Promote(id) => (2u8, *id),
            Query::HashKv(revision) => (3u8, *revision as u64),
        };
        let mut out = vec![kind];
        out.extend_from_slice(&value.to_le_bytes());
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Query, String> {
        let value = bytes
            .get(1..9)
            .map(|v| u64::from_le_bytes(v.try_into().expect("8 bytes")))
            .ok_or("a query frame is 9 bytes")?;
        match bytes[0] {
            1 => Ok(Query::LeaseRemaining(value as i64)),
            2 => Ok(Query::Promote(value)),
            3 => Ok(Query::HashKv(value as i64)),
            other => Err(format!("unknown query kind {other}")),
        }
    }
}

impl Answer {
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Answer::Remaining(None) => vec![1],
            Answer::Remaining(Some(seconds)) => {
                let mut out = vec![2];
                out.extend_from_slice(&seconds.to_le_bytes());
                out
            }
            Answer::Done => vec![3],
            Answer::Hashed(hashed) => {
                let mut out = vec![5];
                out.extend_from_slice(&hashed.hash.to_le_bytes());
                out.extend_from_slice(&hashed.compact_revision.to_le_bytes());
                out.extend_from_slice(&hashed.current_revision.to_le_bytes());
                out
            }
            Answer::Refused { code, message } => {
                let mut out = vec![4, *code as u8];
                out.extend_from_slice(message.as_bytes());
                out
            }
        }
    }

    pub fn decode(bytes: &[u8]) -> Result<Answer, String> {
        match bytes.first() {
            Some(1) => Ok(Answer::Remaining(None)),
            Some(2) => bytes
                .get(1..9)
                .map(|v| Answer::Remaining(Some(i64::from_le_bytes(v.try_into().expect("8")))))
                .ok_or_else(|| "a remaining-TTL answer is 9 bytes".to_string()),
            Some(3) => Ok(Answer::Done),
            Some(5) if bytes.len() == 21 => {
                let word = |at: usize| i64::from_le_bytes(bytes[at..at + 8].try_into().expect("8"));
                Ok(Answer::Hashed(crate::mvcc::KvHash {
                    hash: u32::from_le_bytes(bytes[1..5].try_into().expect("4")),
                    compact_revision: word(5),
                    current_revision: word(13),
                }))
            }
            Some(4) if bytes.len() >= 2 => Ok(Answer::Refused {
                code: u32::from(bytes[1]),
                message: String::from_utf8_lossy(&bytes[2..]).into_owned(),
            }),
            other => Err(format!("unknown answer kind {other:?}")),
        }
    }
}

/// Asks member `to` (at `urls`); a failure to reach it or a malformed answer is an error text.
pub async fn ask(
    context: &PeerContext,
    to: u64,
    urls: &[String],
    query: &Query,
) -> Result<Answer, String> {
    let mut stream = connect(context, to, urls).await?;
    let io = |e: std::io::Error| e.to_string();
    frame::write_frame(&mut stream, frame::KIND_QUERY, &query.encode())
        .await
        .map_err(io)?;
    stream.flush().await.map_err(io)?;
    let mut payload = Vec::new();
    let answer = crate::runtime::with_timeout(ANSWER_TIMEOUT, async {
        frame::read_frame(&mut stream, &mut payload).await
    });
    match answer.await.map_err(io)? {
        Some(frame::KIND_ANSWER) => Answer::decode(&payload),
        other => Err(format!("unexpected answer frame {other:?}")),
    }
}

/// Writes the answer; the connection then ends (it carries one question).
pub async fn answer<S: futures_lite::AsyncWrite + Unpin>(
    stream: &mut S,
    answer: &Answer,
) -> std::io::Result<()> {
    frame::write_frame(stream, frame::KIND_ANSWER, &answer.encode()).await?;
    stream.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_and_answers_round_trip() {
        for query in [
            Query::LeaseRemaining(-5),
            Query::Promote(u64::MAX),
            Query::HashKv(77),
        ] {
            assert_eq!(Query::decode(&query.encode()), Ok(query));
        }
        for answer in [
            Answer::Remaining(None),
            Answer::Remaining(Some(42)),
            Answer::Done,
            Answer::Hashed(crate::mvcc::KvHash {
                hash: 0xdead_beef,
                compact_revision: 5,
                current_revision: 9,
            }),
            Answer::Refused {
                code: 9,
                message:
                    "etcdserver: can only promote a learner member which is in sync with leader"
                        .into(),
            },
        ] {
            assert_eq!(Answer::decode(&answer.encode()), Ok(answer));
        }
        assert!(Query::decode(&[7; 9]).is_err());
        assert!(Answer::decode(&[]).is_err());
    }
}
