//! What each request needs from its caller (etcd 3.4's checks, and the ones it missed: nested
//! txns, open-ended ranges, lease keys, maintenance and membership calls). The unary method
//! table and the stream table take only request types that implement `Guarded`, so a new RPC
//! cannot be served without saying what it needs.

use super::{Access, Need};
use crate::mvcc::prefix_end;
use crate::pb::etcdserverpb::request_op::Request;
use crate::pb::etcdserverpb::*;
use crate::pb::{v3electionpb, v3lockpb};
use std::borrow::Cow;

pub trait Guarded {
    fn need(&self) -> Need<'_>;
}

fn keys<'a>(accesses: impl IntoIterator<Item = (Access, &'a [u8], &'a [u8])>) -> Need<'a> {
    Need::Keys(
        accesses
            .into_iter()
            .map(|(a, k, e)| (a, Cow::Borrowed(k), Cow::Borrowed(e)))
            .collect(),
    )
}

/// Read and write under `name/`, where a lock's or an election's candidates queue.
fn queue(name: &[u8]) -> Need<'static> {
    let mut prefix = name.to_vec();
    prefix.push(b'/');
    let end = prefix_end(&prefix);
    Need::Keys(vec![
        (
            Access::Read,
            Cow::Owned(prefix.clone()),
            Cow::Owned(end.clone()),
        ),
        (Access::Write, Cow::Owned(prefix), Cow::Owned(end)),
    ])
}

fn read_queue(name: &[u8]) -> Need<'static> {
    let mut prefix = name.to_vec();
    prefix.push(b'/');
    let end = prefix_end(&prefix);
    Need::Keys(vec![(Access::Read, Cow::Owned(prefix), Cow::Owned(end))])
}

impl Guarded for RangeRequest {
    fn need(&self) -> Need<'_> {
        keys([(Access::Read, &self.key[..], &self.range_end[..])])
    }
}

impl Guarded for PutRequest {
    fn need(&self) -> Need<'_> {
        let mut needs = vec![(Access::Write, &self.key[..], &[][..])];
        if self.prev_kv {
            needs.push((Access::Read, &self.key[..], &[][..]));
        }
        keys(needs)
    }
}

impl Guarded for DeleteRangeRequest {
    fn need(&self) -> Need<'_> {
        let mut needs = vec![(Access::Write, &self.key[..], &self.range_end[..])];
        if self.prev_kv {
            needs.push((Access::Read, &self.key[..], &self.range_end[..]));
        }
        keys(needs)
    }
}

/// Every compare is a read; every op needs what it would need alone, nested txns included.
fn txn_accesses<'a>(txn: &'a TxnRequest, out: &mut Vec<(Access, &'a [u8], &'a [u8])>) {
    for compare in &txn.compare {
        out.push((Access::Read, &compare.key, &compare.range_end));
    }
    for op in txn.success.iter().chain(&txn.failure) {
        match &op.request {
            Some(Request::RequestRange(r)) => out.push((Access::Read, &r.key, &r.range_end)),
            Some(Request::RequestPut(r)) => {
                out.push((Access::Write, &r.key, &[]));
                if r.prev_kv {
                    out.push((Access::Read, &r.key, &[]));
                }
            }
            Some(Request::RequestDeleteRange(r)) => {
                out.push((Access::Write, &r.key, &r.range_end));
                if r.prev_kv {
                    out.push((Access::Read, &r.key, &r.range_end));
                }
            }
            Some(Request::RequestTxn(nested)) => txn_accesses(nested, out),
            None => {}
        }
    }
}

impl Guarded for TxnRequest {
    fn need(&self) -> Need<'_> {
        let mut needs = Vec::new();
        txn_accesses(self, &mut needs);
        keys(needs)
    }
}

impl Guarded for WatchRequest {
    /// Each create is checked on the range it watches by the watch stream itself, with the
    /// same gate: a refused create (no user included) is answered created and canceled, as
    /// etcd answers it, rather than by ending the stream.
    fn need(&self) -> Need<'_> {
        Need::Nobody
    }
}

impl Guarded for LeaseRevokeRequest {
    fn need(&self) -> Need<'_> {
        Need::LeaseKeys(self.id)
    }
}

impl Guarded for AuthenticateRequest {
    fn need(&self) -> Need<'_> {
        Need::Nobody
    }
}

impl Guarded for AuthUserGetRequest {
    fn need(&self) -> Need<'_> {
        Need::SelfOrRoot(&self.name)
    }
}

impl Guarded for AuthRoleGetRequest {
    fn need(&self) -> Need<'_> {
        Need::RoleOrRoot(&self.role)
    }
}

impl Guarded for v3lockpb::LockRequest {
    fn need(&self) -> Need<'_> {
        queue(&self.name)
    }
}

impl Guarded for v3lockpb::UnlockRequest {
    fn need(&self) -> Need<'_> {
        keys([(Access::Write, &self.key[..], &[][..])])
    }
}

impl Guarded for v3electionpb::CampaignRequest {
    fn need(&self) -> Need<'_> {
        queue(&self.name)
    }
}

impl Guarded for v3electionpb::LeaderRequest {
    fn need(&self) -> Need<'_> {
        read_queue(&self.name)
    }
}

fn leader_key(leader: &Option<v3electionpb::LeaderKey>) -> Need<'_> {
    let key = leader.as_ref().map_or(&[][..], |l| &l.key[..]);
    keys([(Access::Write, key, &[][..])])
}

impl Guarded for v3electionpb::ProclaimRequest {
    fn need(&self) -> Need<'_> {
        leader_key(&self.leader)
    }
}

impl Guarded for v3electionpb::ResignRequest {
    fn need(&self) -> Need<'_> {
        leader_key(&self.leader)
    }
}

impl Guarded for AlarmRequest {
    /// Listing alarms needs a user; raising or disarming one needs root.
    fn need(&self) -> Need<'_> {
        if self.action == alarm_request::AlarmAction::Get as i32 {
            Need::User
        } else {
            Need::Root
        }
    }
}

/// Requests any user may make.
macro_rules! any_user {
    ($($request:ty),* $(,)?) => {
        $(impl Guarded for $request {
            fn need(&self) -> Need<'_> {
                Need::User
            }
        })*
    };
}

/// Requests only root may make.
macro_rules! root_only {
    ($($request:ty),* $(,)?) => {
        $(impl Guarded for $request {
            fn need(&self) -> Need<'_> {
                Need::Root
            }
        })*
    };
}

any_user!(
    LeaseGrantRequest,
    LeaseTimeToLiveRequest,
    LeaseLeasesRequest,
    LeaseKeepAliveRequest,
    StatusRequest,
    MemberListRequest,
    AuthStatusRequest,
);

/// etcd's authMaintenanceServer: root only, its refusals unconverted ("auth: ...").
macro_rules! maintenance {
    ($($request:ty),* $(,)?) => {
        $(impl Guarded for $request {
            fn need(&self) -> Need<'_> {
                Need::Maintenance
            }
        })*
    };
}

maintenance!(
    HashRequest,
    HashKvRequest,
    DefragmentRequest,
    SnapshotRequest
);

root_only!(
    CompactionRequest,
    MoveLeaderRequest,
    MemberAddRequest,
    MemberRemoveRequest,
    MemberUpdateRequest,
    MemberPromoteRequest,
    AuthEnableRequest,
    AuthDisableRequest,
    AuthUserAddRequest,
    AuthUserListRequest,
    AuthUserDeleteRequest,
    AuthUserChangePasswordRequest,
    AuthUserGrantRoleRequest,
    AuthUserRevokeRoleRequest,
    AuthRoleAddRequest,
    AuthRoleListRequest,
    AuthRoleDeleteRequest,
    AuthRoleGrantPermissionRequest,
    AuthRoleRevokePermissionRequest,
);
