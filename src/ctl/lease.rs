//! The lease commands: grant, revoke, timetolive, list, keep-alive (etcdctl's lease_command.go).

use super::manage::parse_hex_error;
use super::output::Format;
use super::{describe, fail, Ctl, Exit, Outcome, EXIT_BAD_ARGS, EXIT_BAD_CONNECTION};
use crate::pb::etcdserverpb as pb;

fn lease_id(text: &str) -> Result<i64, Exit> {
    i64::from_str_radix(text, 16).map_err(|_| {
        fail(
            EXIT_BAD_ARGS,
            format!(
                "bad lease ID arg ({}), expecting ID in Hex",
                parse_hex_error("ParseInt", text)
            ),
        )
    })
}

pub fn lease_grant(ctl: &mut Ctl) -> Outcome {
    if ctl.args().len() != 1 {
        return Err(fail(
            EXIT_BAD_ARGS,
            "lease grant command needs TTL argument",
        ));
    }
    let text = &ctl.args()[0];
    let ttl: i64 = text.parse().map_err(|_| {
        fail(
            EXIT_BAD_ARGS,
            format!("bad TTL ({})", parse_hex_error("ParseInt", text)),
        )
    })?;
    let response: pb::LeaseGrantResponse = ctl
        .request(
            "/etcdserverpb.Lease/LeaseGrant",
            &pb::LeaseGrantRequest { ttl, id: 0 },
        )
        .map_err(|e| wrap(e, "failed to grant lease"))?;
    ctl.out.grant(&response)
}

fn wrap(error: Exit, context: &str) -> Exit {
    fail(
        error.code,
        format!("{context} ({})", error.message.unwrap_or_default()),
    )
}

pub fn lease_revoke(ctl: &mut Ctl) -> Outcome {
    if ctl.args().len() != 1 {
        return Err(fail(EXIT_BAD_ARGS, "lease revoke command needs 1 argument"));
    }
    let id = lease_id(&ctl.args()[0])?;
    let response: pb::LeaseRevokeResponse = ctl
        .request(
            "/etcdserverpb.Lease/LeaseRevoke",
            &pb::LeaseRevokeRequest { id },
        )
        .map_err(|e| wrap(e, "failed to revoke lease"))?;
    ctl.out.revoke(id, &response)
}

fn bad_connection(error: Exit) -> Exit {
    Exit {
        code: EXIT_BAD_CONNECTION,
        ..error
    }
}

pub fn lease_timetolive(ctl: &mut Ctl) -> Outcome {
    if ctl.args().len() != 1 {
        return Err(fail(
            EXIT_BAD_ARGS,
            "lease timetolive command needs lease ID as argument",
        ));
    }
    let id = lease_id(&ctl.args()[0])?;
    let keys = ctl.bool("keys");
    let response: pb::LeaseTimeToLiveResponse = ctl
        .request(
            "/etcdserverpb.Lease/LeaseTimeToLive",
            &pb::LeaseTimeToLiveRequest { id, keys },
        )
        .map_err(bad_connection)?;
    ctl.out.time_to_live(&response, keys)
}

pub fn lease_list(ctl: &mut Ctl) -> Outcome {
    let response: pb::LeaseLeasesResponse = ctl
        .request(
            "/etcdserverpb.Lease/LeaseLeases",
            &pb::LeaseLeasesRequest::default(),
        )
        .map_err(bad_connection)?;
    ctl.out.leases(&response)
}

pub fn lease_keep_alive(ctl: &mut Ctl) -> Outcome {
    if ctl.args().len() != 1 {
        return Err(fail(
            EXIT_BAD_ARGS,
            "lease keep-alive command needs lease ID as argument",
        ));
    }
    let id = lease_id(&ctl.args()[0])?;
    let once = ctl.bool("once");
    let channel = ctl.connect().map_err(bad_connection)?;
    let not_found = || fail(EXIT_BAD_CONNECTION, "etcdserver: requested lease not found");
    crate::runtime::block_on(async {
        let stream = channel
            .duplex::<pb::LeaseKeepAliveResponse>("/etcdserverpb.Lease/LeaseKeepAlive")
            .map_err(|e| fail(EXIT_BAD_CONNECTION, describe(e)))?;
        loop {
            stream
                .send(&pb::LeaseKeepAliveRequest { id })
                .await
                .map_err(|e| fail(EXIT_BAD_CONNECTION, describe(e)))?;
            let response = stream.responses.recv().await.map_err(|_| not_found())?;
            if response.ttl <= 0 {
                if once {
                    return Err(not_found());
                }
                break;
            }
            ctl.out.keep_alive(&response)?;
            if once {
                return Ok(());
            }
            // clientv3 renews a third of the way into the TTL.
            let wait = std::time::Duration::from_millis((response.ttl as u64 * 1000) / 3);
            smol::Timer::after(wait).await;
        }
        if ctl.out.format == Format::Simple {
            println!("lease {id:016x} expired or revoked.");
        }
        Ok(())
    })
}
