//! gRPC statuses with the codes and messages etcd sends, which clientv3 maps to typed errors:
//! what a refusal of the store, the auth store or the member table answers, whichever layer
//! (api, raft answering a follower, peer) gives it. The raft layer's own refusals are in
//! raft/mod.rs.

use crate::mvcc::auth::AuthError;
use crate::mvcc::KvError;
use crate::mvcc::MemberError;

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
    PermissionDenied = 7,
    ResourceExhausted = 8,
    FailedPrecondition = 9,
    OutOfRange = 11,
    Unimplemented = 12,
    Internal = 13,
    Unavailable = 14,
    DataLoss = 15,
    Unauthenticated = 16,
}

impl Code {
    /// The code a peer reported (peer/query.rs); one this server never uses reads as Unknown.
    pub fn from_number(number: u32) -> Code {
        [
            Code::InvalidArgument,
            Code::NotFound,
            Code::PermissionDenied,
            Code::ResourceExhausted,
            Code::FailedPrecondition,
            Code::OutOfRange,
            Code::Unimplemented,
            Code::Internal,
            Code::Unavailable,
            Code::DataLoss,
            Code::Unauthenticated,
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
            KvError::Auth(e) => Status::from(e),
            KvError::Storage(e) => {
                Status::new(Code::Internal, format!("etcdserver: storage error: {e}"))
            }
        }
    }
}

impl From<AuthError> for Status {
    /// etcd's rpctypes.ErrGRPC* for the auth store's errors.
    fn from(error: AuthError) -> Status {
        use AuthError::*;
        if error == NoPasswordUser {
            return Status::new(
                Code::Unknown,
                "auth: authentication failed, password was given for no password user",
            );
        }
        let (code, message) = match error {
            NoPasswordUser => unreachable!("answered above"),
            RootUserNotExist => (Code::FailedPrecondition, "root user does not exist"),
            RootRoleNotExist => (
                Code::FailedPrecondition,
                "root user does not have root role",
            ),
            UserAlreadyExist => (Code::FailedPrecondition, "user name already exists"),
            UserEmpty => (Code::InvalidArgument, "user name is empty"),
            UserNotFound => (Code::FailedPrecondition, "user name not found"),
            RoleAlreadyExist => (Code::FailedPrecondition, "role name already exists"),
            RoleNotFound => (Code::FailedPrecondition, "role name not found"),
            RoleEmpty => (Code::InvalidArgument, "role name is empty"),
            AuthFailed => (
                Code::InvalidArgument,
                "authentication failed, invalid user ID or password",
            ),
            PermissionDenied => (Code::PermissionDenied, "permission denied"),
            RoleNotGranted => (Code::FailedPrecondition, "role is not granted to the user"),
            PermissionNotGranted => (
                Code::FailedPrecondition,
                "permission is not granted to the role",
            ),
            AuthNotEnabled => (Code::FailedPrecondition, "authentication is not enabled"),
            InvalidAuthToken => (Code::Unauthenticated, "invalid auth token"),
            InvalidAuthMgmt => (Code::InvalidArgument, "invalid auth management"),
            AuthOldRevision => (Code::InvalidArgument, "revision of auth store is old"),
            NameTooLong => (
                Code::InvalidArgument,
                "name is too long (at most 255 bytes)",
            ),
            InvalidRange => (
                Code::InvalidArgument,
                "invalid permission: range end sorts before the key",
            ),
        };
        Status::new(code, format!("etcdserver: {message}"))
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
