//! The member commands: add, remove, update, promote, list (etcdctl's member_command.go).

use super::manage::{cluster_id, parse_hex_error};
use super::output::Format;
use super::{fail, Ctl, Exit, Outcome, EXIT_BAD_ARGS};
use crate::pb::etcdserverpb as pb;

fn member_id(text: &str) -> Result<u64, Exit> {
    u64::from_str_radix(text, 16).map_err(|_| {
        fail(
            EXIT_BAD_ARGS,
            format!(
                "bad member ID arg ({}), expecting ID in Hex",
                parse_hex_error("ParseUint", text)
            ),
        )
    })
}

pub fn member_add(ctl: &mut Ctl) -> Outcome {
    let args = ctl.args().to_vec();
    if args.is_empty() {
        return Err(fail(EXIT_BAD_ARGS, "member name not provided"));
    }
    if args.len() > 1 {
        let mut message = "too many arguments".to_string();
        for arg in &args {
            if arg.to_lowercase().starts_with("http") {
                message += &format!(", did you mean --peer-urls={arg}");
            }
        }
        return Err(fail(EXIT_BAD_ARGS, message));
    }
    let peer_urls = ctl.string("peer-urls");
    if peer_urls.is_empty() {
        return Err(fail(EXIT_BAD_ARGS, "member peer urls not provided"));
    }
    let request = pb::MemberAddRequest {
        peer_ur_ls: peer_urls.split(',').map(str::to_string).collect(),
        is_learner: ctl.bool("learner"),
    };
    let response: pb::MemberAddResponse =
        ctl.request("/etcdserverpb.Cluster/MemberAdd", &request)?;
    let new_id = response.member.as_ref().map_or(0, |m| m.id);
    ctl.out.member_change(
        "added to",
        new_id,
        cluster_id(&response.header),
        "etcdserverpb.MemberAddResponse",
        &response,
    )?;
    if ctl.out.format == Format::Simple {
        let mut conf = Vec::new();
        for member in &response.members {
            for url in &member.peer_ur_ls {
                let name = if member.id == new_id {
                    &args[0]
                } else {
                    &member.name
                };
                conf.push(format!("{name}={url}"));
            }
        }
        println!();
        println!("ETCD_NAME={:?}", args[0]);
        println!("ETCD_INITIAL_CLUSTER={:?}", conf.join(","));
        println!("ETCD_INITIAL_ADVERTISE_PEER_URLS={peer_urls:?}");
        println!("ETCD_INITIAL_CLUSTER_STATE=\"existing\"");
    }
    Ok(())
}

fn one_member_id(ctl: &Ctl) -> Result<u64, Exit> {
    if ctl.args().len() != 1 {
        return Err(fail(EXIT_BAD_ARGS, "member ID is not provided"));
    }
    member_id(&ctl.args()[0])
}

pub fn member_remove(ctl: &mut Ctl) -> Outcome {
    let id = one_member_id(ctl)?;
    let response: pb::MemberRemoveResponse = ctl.request(
        "/etcdserverpb.Cluster/MemberRemove",
        &pb::MemberRemoveRequest { id },
    )?;
    ctl.out.member_change(
        "removed from",
        id,
        cluster_id(&response.header),
        "etcdserverpb.MemberRemoveResponse",
        &response,
    )
}

pub fn member_update(ctl: &mut Ctl) -> Outcome {
    let id = one_member_id(ctl)?;
    let peer_urls = ctl.string("peer-urls");
    if peer_urls.is_empty() {
        return Err(fail(EXIT_BAD_ARGS, "member peer urls not provided"));
    }
    let request = pb::MemberUpdateRequest {
        id,
        peer_ur_ls: peer_urls.split(',').map(str::to_string).collect(),
    };
    let response: pb::MemberUpdateResponse =
        ctl.request("/etcdserverpb.Cluster/MemberUpdate", &request)?;
    ctl.out.member_change(
        "updated in",
        id,
        cluster_id(&response.header),
        "etcdserverpb.MemberUpdateResponse",
        &response,
    )
}

pub fn member_promote(ctl: &mut Ctl) -> Outcome {
    let id = one_member_id(ctl)?;
    let response: pb::MemberPromoteResponse = ctl.request(
        "/etcdserverpb.Cluster/MemberPromote",
        &pb::MemberPromoteRequest { id },
    )?;
    ctl.out.member_change(
        "promoted in",
        id,
        cluster_id(&response.header),
        "etcdserverpb.MemberPromoteResponse",
        &response,
    )
}

pub fn member_list(ctl: &mut Ctl) -> Outcome {
    let response: pb::MemberListResponse = ctl.request(
        "/etcdserverpb.Cluster/MemberList",
        &pb::MemberListRequest::default(),
    )?;
    ctl.out.member_list(&response)
}
