//! gRPC statuses with the codes and messages etcd sends, which clientv3 maps to typed errors.

use crate::mvcc::KvError;
use crate::raft::membership::MemberError;
use crate::raft::RaftError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub code: Code,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Unknown = 2,
    InvalidArgument = 3,
    NotFound = 5,
    ResourceExhausted = 8,
    FailedPrecondition = 9,
    OutOfRange = 11,
    Unimplemented = 12,
    Internal = 13,
    Unavailable = 14,
    DataLoss = 15,
}

/// gRPC's names of its status codes, by number (as grpc-go prints them).
pub const GRPC_CODE_NAMES: [&str; 17] = [
    "OK",
    "Canceled",
    "Unknown",
    "InvalidArgument",
    "DeadlineExceeded",
    "NotFound",
    "AlreadyExists",
    "PermissionDenied",
    "ResourceExhausted",
    "FailedPrecondition",
    "Aborted",
    "OutOfRange",
    "Unimplemented",
    "Internal",
    "Unavailable",
    "DataLoss",
    "Unauthenticated",
];

impl Code {
    /// The code a peer reported (peer/query.rs); one this server never uses reads as Unknown.
    pub fn from_number(number: u32) -> Code {
        [
            Code::InvalidArgument,
            Code::NotFound,
            Code::ResourceExhausted,
            Code::FailedPrecondition,
            Code::OutOfRange,
            Code::Unimplemented,
            Code::Internal,
            Code::Unavailable,
            Code::DataLoss,
        ]
        .into_iter()
        .find(|code| *code as u32 == number)
        .unwrap_or(Code::Unknown)
    }
}

impl Status {
    pub fn new(code: Code, message: impl Into<String>) -> Status {
        Status {
            code,
            message: message.into(),
        }
    }

    pub fn empty_key() -> Status {
        Status::new(Code::InvalidArgument, "etcdserver: key is not provided")
    }

    pub fn request_too_large() -> Status {
        Status::new(Code::InvalidArgument, "etcdserver: request is too large")
    }
}

impl From<KvError> for Status {
    fn from(error: KvError) -> Status {
        match error {
            KvError::Compacted => Status::new(
                Code::OutOfRange,
                "etcdserver: mvcc: required revision has been compacted",
            ),
            KvError::FutureRevision => Status::new(
                Code::OutOfRange,
                "etcdserver: mvcc: required revision is a future revision",
            ),
            KvError::KeyNotFound => Status::new(Code::InvalidArgument, "etcdserver: key not found"),
            KvError::LeaseNotFound => {
                Status::new(Code::NotFound, "etcdserver: requested lease not found")
            }
            KvError::LeaseExists => {
                Status::new(Code::FailedPrecondition, "etcdserver: lease already exists")
            }
            KvError::NoSpace => Status::new(
                Code::ResourceExhausted,
                "etcdserver: mvcc: database space exceeded",
            ),
            KvError::Corrupt => Status::new(Code::DataLoss, "etcdserver: corrupt cluster"),
            KvError::Member(e) => Status::from(e),
            KvError::Unapplicable(reason) => {
                Status::new(Code::InvalidArgument, format!("etcdserver: {reason}"))
            }
            KvError::Storage(e) => {
                Status::new(Code::Internal, format!("etcdserver: storage error: {e}"))
            }
        }
    }
}

impl From<MemberError> for Status {
    fn from(error: MemberError) -> Status {
        let failed = |message: &str| Status::new(Code::FailedPrecondition, message);
        match error {
            MemberError::IdExists => failed("etcdserver: member ID already exist"),
            MemberError::PeerUrlExists => failed("etcdserver: Peer URLs already exists"),
            MemberError::NotFound => Status::new(Code::NotFound, "etcdserver: member not found"),
            MemberError::NotLearner => failed("etcdserver: can only promote a learner member"),
            MemberError::LearnerNotReady => {
                failed("etcdserver: can only promote a learner member which is in sync with leader")
            }
            MemberError::TooManyLearners => {
                failed("etcdserver: too many learner members in cluster")
            }
            MemberError::NotEnoughStarted => {
                failed("etcdserver: re-configuration failed due to not enough started members")
            }
            MemberError::NotLeader => failed("etcdserver: not leader"),
            MemberError::BadLeaderTransferee => failed("etcdserver: bad leader transferee"),
        }
    }
}

impl From<heed::Error> for Status {
    fn from(error: heed::Error) -> Status {
        Status::from(KvError::Storage(error))
    }
}

impl From<RaftError> for Status {
    fn from(error: RaftError) -> Status {
        match error {
            RaftError::Timeout => Status::new(Code::Unavailable, "etcdserver: request timed out"),
            RaftError::Stopped => Status::new(Code::Unavailable, "etcdserver: server stopped"),
            RaftError::NoLeader => Status::new(Code::Unavailable, "etcdserver: no leader"),
            RaftError::TooManyRequests => {
                Status::new(Code::ResourceExhausted, "etcdserver: too many requests")
            }
        }
    }
}
