//! The Lock service (etcd's v3lock): a lock is the key `<name>/<lease in hex>` attached to the
//! caller's lease; it is held once no key under `<name>/` was created before it (queue.rs).

use super::{kv, queue, Call, Code, Status};
use crate::pb::etcdserverpb::DeleteRangeRequest;
use crate::pb::v3lockpb::{LockRequest, LockResponse, UnlockRequest, UnlockResponse};

pub async fn lock(api: &Call<'_>, request: LockRequest) -> Result<LockResponse, Status> {
    let mut prefix = request.name.clone();
    prefix.push(b'/');
    let key = queue::candidate_key(&prefix, request.lease);
    let place = queue::enqueue(api, &key, &[], request.lease).await?;
    queue::wait_turn(api, &prefix, place.revision).await?;
    let (mine, header) = queue::current(api, &key).await?;
    if mine.is_none() {
        // The lease expired while we waited: the lock is not ours (etcd: ErrSessionExpired).
        return Err(Status::new(Code::Unknown, "session expired"));
    }
    Ok(LockResponse { header, key })
}

pub async fn unlock(api: &Call<'_>, request: UnlockRequest) -> Result<UnlockResponse, Status> {
    let deleted = kv::delete_range(
        api,
        DeleteRangeRequest {
            key: request.key,
            ..DeleteRangeRequest::default()
        },
    )
    .await?;
    Ok(UnlockResponse {
        header: deleted.header,
    })
}
