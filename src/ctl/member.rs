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

use super::output::{table, unsupported};
use crate::golang::go_quote;
use prost::Message;

/// The rows `member list -w table` prints (etcdctl's makeMemberListTable).
fn member_table(r: &pb::MemberListResponse) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let header = vec![
        "ID",
        "Status",
        "Name",
        "Peer Addrs",
        "Client Addrs",
        "Is Learner",
    ];
    let rows = r
        .members
        .iter()
        .map(|m| {
            vec![
                format!("{:x}", m.id),
                if m.name.is_empty() {
                    "unstarted"
                } else {
                    "started"
                }
                .to_string(),
                m.name.clone(),
                m.peer_ur_ls.join(","),
                m.client_ur_ls.join(","),
                m.is_learner.to_string(),
            ]
        })
        .collect();
    (header, rows)
}

/// etcdctl 3.4's printers for these commands (the formats: output.rs).
impl super::output::Printer {
    pub fn member_list(&self, r: &pb::MemberListResponse) -> Outcome {
        let (header, rows) = member_table(r);
        match self.format {
            Format::Simple => rows.iter().for_each(|row| println!("{}", row.join(", "))),
            Format::Table => print!("{}", table(&header, &rows)),
            Format::Fields => {
                Self::fields_header(&r.header);
                for m in &r.members {
                    println!("\"ID\" : {}", m.id);
                    println!("\"Name\" : {}", go_quote(m.name.as_bytes()));
                    for url in &m.peer_ur_ls {
                        println!("\"PeerURL\" : {}", go_quote(url.as_bytes()));
                    }
                    for url in &m.client_ur_ls {
                        println!("\"ClientURL\" : {}", go_quote(url.as_bytes()));
                    }
                    println!("\"IsLearner\" : {}", m.is_learner);
                    println!();
                }
            }
            _ => return self.message("etcdserverpb.MemberListResponse", r),
        }
        Ok(())
    }

    /// member add/remove/update/promote: simple prints `verb`, json/protobuf the response.
    pub fn member_change<M: Message>(
        &self,
        verb: &str,
        id: u64,
        cluster_id: u64,
        type_name: &str,
        r: &M,
    ) -> Outcome {
        match self.format {
            Format::Simple => {
                println!("Member {id:16x} {verb} cluster {cluster_id:16x}");
                Ok(())
            }
            Format::Json | Format::Protobuf => self.message(type_name, r),
            format => Err(unsupported(format)),
        }
    }
}
