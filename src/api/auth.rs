//! The Auth service as far as this server has auth: it has no users, roles or tokens, so
//! authentication is never enabled and Authenticate answers what etcd answers then. The other
//! Auth methods stay unregistered (Unimplemented), which etcdctl reports as it would any
//! unsupported call.

use super::{Api, Code, Status};
use crate::pb::etcdserverpb::{AuthenticateRequest, AuthenticateResponse};

pub async fn authenticate(_: &Api, _: AuthenticateRequest) -> Result<AuthenticateResponse, Status> {
    Err(Status::new(
        Code::FailedPrecondition,
        "etcdserver: authentication is not enabled",
    ))
}
