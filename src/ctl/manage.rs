//! Cluster and maintenance commands: member, endpoint, alarm, defrag, move-leader, lease,
//! version, and the auth/user/role commands.

use super::output::{go_duration, Format, Health};
use super::{describe, fail, quiet, Ctl, Exit, Outcome, EXIT_BAD_ARGS, EXIT_BAD_CONNECTION};
use super::{EXIT_ERROR, EXIT_INVALID_INPUT};
use crate::pb::etcdserverpb as pb;
use std::time::Instant;

fn no_args(ctl: &Ctl, message: &str) -> Outcome {
    if ctl.args().is_empty() {
        Ok(())
    } else {
        Err(fail(EXIT_BAD_ARGS, message))
    }
}

/// Go's strconv.ParseInt/ParseUint(text, 16, 64) error text.
fn parse_hex_error(function: &str, text: &str) -> String {
    format!("strconv.{function}: parsing {text:?}: invalid syntax")
}

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

fn cluster_id(header: &Option<pb::ResponseHeader>) -> u64 {
    header.as_ref().map_or(0, |h| h.cluster_id)
}

pub fn alarm_disarm(ctl: &mut Ctl) -> Outcome {
    no_args(ctl, "alarm disarm command accepts no arguments")?;
    // Disarm every alarm: list them, then deactivate each (as clientv3's AlarmDisarm with an
    // empty member does).
    let channel = ctl.connect()?;
    let list: pb::AlarmResponse = ctl.call(
        &channel,
        "/etcdserverpb.Maintenance/Alarm",
        &pb::AlarmRequest::default(),
    )?;
    // clientv3 builds this response itself: it has no header.
    let mut response = pb::AlarmResponse::default();
    for alarm in &list.alarms {
        let request = pb::AlarmRequest {
            action: pb::alarm_request::AlarmAction::Deactivate as i32,
            member_id: alarm.member_id,
            alarm: alarm.alarm,
        };
        let answer: pb::AlarmResponse =
            ctl.call(&channel, "/etcdserverpb.Maintenance/Alarm", &request)?;
        response.alarms.extend(answer.alarms);
    }
    ctl.out.alarm(&response)
}

pub fn alarm_list(ctl: &mut Ctl) -> Outcome {
    no_args(ctl, "alarm list command accepts no arguments")?;
    let response: pb::AlarmResponse = ctl.request(
        "/etcdserverpb.Maintenance/Alarm",
        &pb::AlarmRequest::default(),
    )?;
    ctl.out.alarm(&response)
}

/// --endpoints, or with --cluster every member's client URLs.
fn endpoints(ctl: &Ctl) -> Result<Vec<String>, Exit> {
    if !ctl.bool("cluster") {
        return Ok(ctl.endpoints());
    }
    let members: pb::MemberListResponse = ctl
        .request(
            "/etcdserverpb.Cluster/MemberList",
            &pb::MemberListRequest::default(),
        )
        .map_err(|e| {
            fail(
                EXIT_ERROR,
                format!(
                    "failed to fetch endpoints from etcd cluster member list: {}",
                    e.message.unwrap_or_default()
                ),
            )
        })?;
    Ok(members
        .members
        .iter()
        .flat_map(|m| m.client_ur_ls.iter().cloned())
        .collect())
}

pub fn defrag(ctl: &mut Ctl) -> Outcome {
    if !ctl.string("data-dir").is_empty() {
        return Err(fail(
            EXIT_ERROR,
            "defrag --data-dir is not supported: this store (LMDB) reuses freed pages in place",
        ));
    }
    let mut failures = 0;
    for endpoint in endpoints(ctl)? {
        let result = ctl
            .connect_to(std::slice::from_ref(&endpoint))
            .and_then(|channel| {
                ctl.call::<_, pb::DefragmentResponse>(
                    &channel,
                    "/etcdserverpb.Maintenance/Defragment",
                    &pb::DefragmentRequest::default(),
                )
            });
        match result {
            Ok(_) => println!("Finished defragmenting etcd member[{endpoint}]"),
            Err(e) => {
                eprintln!(
                    "Failed to defragment etcd member[{endpoint}] ({})",
                    e.message.unwrap_or_default()
                );
                failures += 1;
            }
        }
    }
    if failures > 0 {
        return Err(quiet(EXIT_ERROR));
    }
    Ok(())
}

pub fn endpoint_health(ctl: &mut Ctl) -> Outcome {
    // Every endpoint is checked at once; answers are listed as they come, as etcdctl does.
    let (answers, list) = std::sync::mpsc::channel();
    let shared: &Ctl = ctl;
    std::thread::scope(|scope| {
        for endpoint in endpoints(shared)? {
            let answers = answers.clone();
            scope.spawn(move || {
                let _ = answers.send(check_health(shared, endpoint));
            });
        }
        Ok::<(), Exit>(())
    })?;
    drop(answers);
    let list: Vec<Health> = list.iter().collect();
    ctl.out.endpoint_health(&list)?;
    if list.iter().any(|h| !h.error.is_empty()) {
        return Err(fail(EXIT_ERROR, "unhealthy cluster"));
    }
    Ok(())
}

/// A linearizable read of one key through `endpoint` alone, timed.
fn check_health(ctl: &Ctl, endpoint: String) -> Health {
    let started = Instant::now();
    let result = ctl
        .connect_to(std::slice::from_ref(&endpoint))
        .and_then(|channel| {
            let request = pb::RangeRequest {
                key: b"health".to_vec(),
                ..Default::default()
            };
            ctl.call::<_, pb::RangeResponse>(&channel, "/etcdserverpb.KV/Range", &request)
        });
    let took = go_duration(started.elapsed());
    match result {
        // Permission denied still proves the request went through consensus.
        Err(e) if e.message.as_deref() != Some("etcdserver: permission denied") => Health {
            endpoint,
            healthy: false,
            took,
            error: e.message.unwrap_or_default(),
        },
        _ => Health {
            endpoint,
            healthy: true,
            took,
            error: String::new(),
        },
    }
}

/// Each endpoint's answer, and the last failure's message.
type Answers<A> = (Vec<(String, A)>, Option<String>);

/// Asks each endpoint alone; failures are reported per endpoint and the rest still printed.
fn per_endpoint<A: prost::Message + Default, Q: prost::Message>(
    ctl: &Ctl,
    path: &str,
    request: &Q,
    what: &str,
) -> Result<Answers<A>, Exit> {
    let mut answers = Vec::new();
    let mut last_error = None;
    for endpoint in endpoints(ctl)? {
        let result = ctl
            .connect_to(std::slice::from_ref(&endpoint))
            .and_then(|channel| ctl.call::<_, A>(&channel, path, request));
        match result {
            Ok(answer) => answers.push((endpoint, answer)),
            Err(e) => {
                let message = e.message.unwrap_or_default();
                eprintln!("Failed to get the {what} of endpoint {endpoint} ({message})");
                last_error = Some(message);
            }
        }
    }
    Ok((answers, last_error))
}

pub fn endpoint_status(ctl: &mut Ctl) -> Outcome {
    let (list, error) = per_endpoint::<pb::StatusResponse, _>(
        ctl,
        "/etcdserverpb.Maintenance/Status",
        &pb::StatusRequest::default(),
        "status",
    )?;
    ctl.out.endpoint_status(&list)?;
    match error {
        Some(_) => Err(quiet(EXIT_ERROR)),
        None => Ok(()),
    }
}

pub fn endpoint_hashkv(ctl: &mut Ctl) -> Outcome {
    let request = pb::HashKvRequest {
        revision: ctl.int("rev"),
    };
    let (list, error) = per_endpoint::<pb::HashKvResponse, _>(
        ctl,
        "/etcdserverpb.Maintenance/HashKV",
        &request,
        "hash",
    )?;
    ctl.out.endpoint_hashkv(&list)?;
    match error {
        Some(message) => Err(fail(EXIT_ERROR, message)),
        None => Ok(()),
    }
}

pub fn move_leader(ctl: &mut Ctl) -> Outcome {
    if ctl.args().len() != 1 {
        return Err(fail(EXIT_BAD_ARGS, "move-leader command needs 1 argument"));
    }
    let target = u64::from_str_radix(&ctl.args()[0], 16)
        .map_err(|_| fail(EXIT_BAD_ARGS, parse_hex_error("ParseUint", &ctl.args()[0])))?;
    let endpoints = ctl.endpoints();
    for endpoint in &endpoints {
        let channel = ctl.connect_to(std::slice::from_ref(endpoint))?;
        let status: pb::StatusResponse = ctl.call(
            &channel,
            "/etcdserverpb.Maintenance/Status",
            &pb::StatusRequest::default(),
        )?;
        let member = status.header.as_ref().map_or(0, |h| h.member_id);
        if member == status.leader {
            let response: pb::MoveLeaderResponse = ctl.call(
                &channel,
                "/etcdserverpb.Maintenance/MoveLeader",
                &pb::MoveLeaderRequest { target_id: target },
            )?;
            return ctl.out.move_leader(status.leader, target, &response);
        }
    }
    Err(fail(
        EXIT_BAD_ARGS,
        format!("no leader endpoint given at [{}]", endpoints.join(" ")),
    ))
}

pub fn version(_ctl: &mut Ctl) -> Outcome {
    println!("etcdctl version: {}", crate::version::SERVER_VERSION);
    println!("API version: 3.4");
    Ok(())
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

pub fn auth_enable(ctl: &mut Ctl) -> Outcome {
    no_args(ctl, "auth enable command does not accept any arguments")?;
    let channel = ctl.connect()?;
    loop {
        match ctl.call::<_, pb::AuthEnableResponse>(
            &channel,
            "/etcdserverpb.Auth/AuthEnable",
            &pb::AuthEnableRequest::default(),
        ) {
            Ok(_) => break,
            // etcdctl creates the root role and grants it to root, then tries again.
            Err(e)
                if e.message.as_deref()
                    == Some("etcdserver: root user does not have root role") =>
            {
                ctl.call::<_, pb::AuthRoleAddResponse>(
                    &channel,
                    "/etcdserverpb.Auth/RoleAdd",
                    &pb::AuthRoleAddRequest {
                        name: "root".into(),
                    },
                )?;
                ctl.call::<_, pb::AuthUserGrantRoleResponse>(
                    &channel,
                    "/etcdserverpb.Auth/UserGrantRole",
                    &pb::AuthUserGrantRoleRequest {
                        user: "root".into(),
                        role: "root".into(),
                    },
                )?;
            }
            Err(e) => return Err(e),
        }
    }
    println!("Authentication Enabled");
    Ok(())
}

pub fn auth_disable(ctl: &mut Ctl) -> Outcome {
    no_args(ctl, "auth disable command does not accept any arguments")?;
    let _: pb::AuthDisableResponse = ctl.request(
        "/etcdserverpb.Auth/AuthDisable",
        &pb::AuthDisableRequest::default(),
    )?;
    println!("Authentication Disabled");
    Ok(())
}

/// etcdctl 3.5's `auth status` (AuthStatus is a 3.5 call; 3.4's etcd answers Unimplemented).
pub fn auth_status(ctl: &mut Ctl) -> Outcome {
    no_args(ctl, "auth status command does not accept any arguments")?;
    let response: pb::AuthStatusResponse = ctl.request(
        "/etcdserverpb.Auth/AuthStatus",
        &pb::AuthStatusRequest::default(),
    )?;
    match ctl.out.format {
        super::output::Format::Simple => {
            println!("Authentication Status: {}", response.enabled);
            println!("AuthRevision: {}", response.auth_revision);
            Ok(())
        }
        _ => ctl
            .out
            .message("etcdserverpb.AuthStatusResponse", &response),
    }
}

pub fn user_add(ctl: &mut Ctl) -> Outcome {
    if ctl.args().len() != 1 {
        return Err(fail(
            EXIT_BAD_ARGS,
            "user add command requires user name as its argument",
        ));
    }
    let arg = ctl.args()[0].clone();
    let no_password = ctl.bool("no-password");
    let from_flag = ctl.string("new-user-password");
    let (name, password) = if no_password {
        (arg, String::new())
    } else if !from_flag.is_empty() {
        (arg, from_flag)
    } else if let Some((name, password)) = arg.split_once(':') {
        if name.is_empty() {
            return Err(fail(EXIT_BAD_ARGS, "empty user name is not allowed"));
        }
        (name.to_string(), password.to_string())
    } else {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| fail(EXIT_INVALID_INPUT, e.to_string()))?;
        (
            arg,
            line.split_whitespace().next().unwrap_or("").to_string(),
        )
    };
    let request = pb::AuthUserAddRequest {
        name: name.clone(),
        password,
        options: Some(crate::pb::authpb::UserAddOptions { no_password }),
        hashed_password: String::new(),
    };
    let response: pb::AuthUserAddResponse = ctl.request("/etcdserverpb.Auth/UserAdd", &request)?;
    ctl.out.auth_done(
        &format!("User {name} created"),
        &response.header,
        "etcdserverpb.AuthUserAddResponse",
        &response,
    )
}

fn one_name(ctl: &Ctl, message: &str) -> Result<String, Exit> {
    match ctl.args() {
        [name] => Ok(name.clone()),
        _ => Err(fail(EXIT_BAD_ARGS, message)),
    }
}

fn two_names(ctl: &Ctl, message: &str) -> Result<(String, String), Exit> {
    match ctl.args() {
        [a, b] => Ok((a.clone(), b.clone())),
        _ => Err(fail(EXIT_BAD_ARGS, message)),
    }
}

pub fn user_delete(ctl: &mut Ctl) -> Outcome {
    let name = one_name(
        ctl,
        "user delete command requires user name as its argument",
    )?;
    let response: pb::AuthUserDeleteResponse = ctl.request(
        "/etcdserverpb.Auth/UserDelete",
        &pb::AuthUserDeleteRequest { name: name.clone() },
    )?;
    ctl.out.auth_done(
        &format!("User {name} deleted"),
        &response.header,
        "etcdserverpb.AuthUserDeleteResponse",
        &response,
    )
}

pub fn user_get(ctl: &mut Ctl) -> Outcome {
    let name = one_name(ctl, "user get command requires user name as its argument")?;
    let response: pb::AuthUserGetResponse = ctl.request(
        "/etcdserverpb.Auth/UserGet",
        &pb::AuthUserGetRequest { name: name.clone() },
    )?;
    if ctl.bool("detail") {
        println!("User: {name}");
        for role in &response.roles {
            println!();
            let detail = get_role(ctl, role)?;
            if ctl.out.format == Format::Simple {
                print_role(role, &detail);
            } else {
                ctl.out.names(
                    &[],
                    &detail.header,
                    "etcdserverpb.AuthRoleGetResponse",
                    &detail,
                )?;
            }
        }
        return Ok(());
    }
    let roles: String = response.roles.iter().map(|r| format!(" {r}")).collect();
    match ctl.out.format {
        Format::Simple => {
            println!("User: {name}");
            println!("Roles:{roles}");
            Ok(())
        }
        _ => ctl.out.names(
            &[],
            &response.header,
            "etcdserverpb.AuthUserGetResponse",
            &response,
        ),
    }
}

pub fn user_list(ctl: &mut Ctl) -> Outcome {
    no_args(ctl, "user list command requires no arguments")?;
    let response: pb::AuthUserListResponse = ctl.request(
        "/etcdserverpb.Auth/UserList",
        &pb::AuthUserListRequest::default(),
    )?;
    ctl.out.names(
        &response.users,
        &response.header,
        "etcdserverpb.AuthUserListResponse",
        &response,
    )
}

pub fn user_grant_role(ctl: &mut Ctl) -> Outcome {
    let (user, role) = two_names(
        ctl,
        "user grant command requires user name and role name as its argument",
    )?;
    let response: pb::AuthUserGrantRoleResponse = ctl.request(
        "/etcdserverpb.Auth/UserGrantRole",
        &pb::AuthUserGrantRoleRequest {
            user: user.clone(),
            role: role.clone(),
        },
    )?;
    ctl.out.auth_done(
        &format!("Role {role} is granted to user {user}"),
        &response.header,
        "etcdserverpb.AuthUserGrantRoleResponse",
        &response,
    )
}

pub fn user_revoke_role(ctl: &mut Ctl) -> Outcome {
    let (user, role) = two_names(
        ctl,
        "user revoke-role requires user name and role name as its argument",
    )?;
    let response: pb::AuthUserRevokeRoleResponse = ctl.request(
        "/etcdserverpb.Auth/UserRevokeRole",
        &pb::AuthUserRevokeRoleRequest {
            name: user.clone(),
            role: role.clone(),
        },
    )?;
    ctl.out.auth_done(
        &format!("Role {role} is revoked from user {user}"),
        &response.header,
        "etcdserverpb.AuthUserRevokeRoleResponse",
        &response,
    )
}

pub fn role_add(ctl: &mut Ctl) -> Outcome {
    let name = one_name(ctl, "role add command requires role name as its argument")?;
    let response: pb::AuthRoleAddResponse = ctl.request(
        "/etcdserverpb.Auth/RoleAdd",
        &pb::AuthRoleAddRequest { name: name.clone() },
    )?;
    ctl.out.auth_done(
        &format!("Role {name} created"),
        &response.header,
        "etcdserverpb.AuthRoleAddResponse",
        &response,
    )
}

pub fn role_delete(ctl: &mut Ctl) -> Outcome {
    let name = one_name(
        ctl,
        "role delete command requires role name as its argument",
    )?;
    let response: pb::AuthRoleDeleteResponse = ctl.request(
        "/etcdserverpb.Auth/RoleDelete",
        &pb::AuthRoleDeleteRequest { role: name.clone() },
    )?;
    ctl.out.auth_done(
        &format!("Role {name} deleted"),
        &response.header,
        "etcdserverpb.AuthRoleDeleteResponse",
        &response,
    )
}

fn get_role(ctl: &Ctl, name: &str) -> Result<pb::AuthRoleGetResponse, Exit> {
    ctl.request(
        "/etcdserverpb.Auth/RoleGet",
        &pb::AuthRoleGetRequest {
            role: name.to_string(),
        },
    )
}

pub fn role_get(ctl: &mut Ctl) -> Outcome {
    let name = one_name(ctl, "role get command requires role name as its argument")?;
    let response = get_role(ctl, &name)?;
    if ctl.out.format != Format::Simple {
        return ctl.out.names(
            &[],
            &response.header,
            "etcdserverpb.AuthRoleGetResponse",
            &response,
        );
    }
    print_role(&name, &response);
    Ok(())
}

/// A role's permissions as etcdctl's simple printer lists them.
fn print_role(name: &str, response: &pb::AuthRoleGetResponse) {
    println!("Role {name}");
    // authpb.Permission types: READ 0, WRITE 1, READWRITE 2.
    for (title, types) in [("KV Read:", [0, 2]), ("KV Write:", [1, 2])] {
        println!("{title}");
        for perm in response
            .perm
            .iter()
            .filter(|p| types.contains(&p.perm_type))
        {
            let key = String::from_utf8_lossy(&perm.key);
            if perm.range_end.is_empty() {
                println!("\t{key}");
                continue;
            }
            let end = String::from_utf8_lossy(&perm.range_end);
            let mut line = if perm.range_end != [0] {
                format!("\t[{key}, {end})")
            } else {
                format!("\t[{key}, <open ended>")
            };
            if crate::mvcc::prefix_end(&perm.key) == perm.range_end {
                line += &format!(" (prefix {key})");
            }
            println!("{line}");
        }
    }
}

/// key and range end from `key [endkey]` and --prefix/--from-key (etcdctl's permRange).
fn permission_range(ctl: &Ctl, args: &[String]) -> Result<(Vec<u8>, Vec<u8>), Exit> {
    let (prefix, from_key) = (ctl.bool("prefix"), ctl.bool("from-key"));
    let exclusive = || {
        fail(
            EXIT_BAD_ARGS,
            "--from-key and --prefix flags are mutually exclusive",
        )
    };
    let key = args[0].as_bytes().to_vec();
    if key.is_empty() {
        if prefix && from_key {
            return Err(exclusive());
        }
        let end = if prefix || from_key {
            vec![0]
        } else {
            Vec::new()
        };
        return Ok((vec![0], end));
    }
    let end = match (args.get(1), prefix, from_key) {
        (None, true, true) => return Err(exclusive()),
        (None, true, false) => crate::mvcc::prefix_end(&key),
        (None, false, true) => vec![0],
        (None, false, false) => Vec::new(),
        (Some(_), true, _) => {
            return Err(fail(
                EXIT_BAD_ARGS,
                "unexpected endkey argument with --prefix flag",
            ))
        }
        (Some(_), false, true) => {
            return Err(fail(
                EXIT_BAD_ARGS,
                "unexpected endkey argument with --from-key flag",
            ))
        }
        (Some(end), false, false) => end.as_bytes().to_vec(),
    };
    Ok((key, end))
}

pub fn role_grant_permission(ctl: &mut Ctl) -> Outcome {
    let args = ctl.args().to_vec();
    if args.len() < 3 {
        return Err(fail(
            EXIT_BAD_ARGS,
            "role grant command requires role name, permission type, and key [endkey] as its argument",
        ));
    }
    let perm_type = match args[1].to_uppercase().as_str() {
        "READ" => 0,
        "WRITE" => 1,
        "READWRITE" => 2,
        _ => {
            return Err(fail(
                EXIT_BAD_ARGS,
                format!("invalid permission type: {}", args[1]),
            ))
        }
    };
    let (key, range_end) = permission_range(ctl, &args[2..])?;
    let request = pb::AuthRoleGrantPermissionRequest {
        name: args[0].clone(),
        perm: Some(crate::pb::authpb::Permission {
            perm_type,
            key,
            range_end,
        }),
    };
    let response: pb::AuthRoleGrantPermissionResponse =
        ctl.request("/etcdserverpb.Auth/RoleGrantPermission", &request)?;
    ctl.out.auth_done(
        &format!("Role {} updated", args[0]),
        &response.header,
        "etcdserverpb.AuthRoleGrantPermissionResponse",
        &response,
    )
}

pub fn role_revoke_permission(ctl: &mut Ctl) -> Outcome {
    let args = ctl.args().to_vec();
    if args.len() < 2 {
        return Err(fail(
            EXIT_BAD_ARGS,
            "role revoke-permission command requires role name and key [endkey] as its argument",
        ));
    }
    let (key, range_end) = permission_range(ctl, &args[1..])?;
    let request = pb::AuthRoleRevokePermissionRequest {
        role: args[0].clone(),
        key,
        range_end: range_end.clone(),
    };
    let response: pb::AuthRoleRevokePermissionResponse =
        ctl.request("/etcdserverpb.Auth/RoleRevokePermission", &request)?;
    let (role, key) = (&args[0], &args[1]);
    let sentence = if range_end.is_empty() {
        format!("Permission of key {key} is revoked from role {role}")
    } else if range_end != [0] {
        format!(
            "Permission of range [{key}, {}) is revoked from role {role}",
            String::from_utf8_lossy(&range_end)
        )
    } else {
        format!("Permission of range [{key}, <open ended> is revoked from role {role}")
    };
    ctl.out.auth_done(
        &sentence,
        &response.header,
        "etcdserverpb.AuthRoleRevokePermissionResponse",
        &response,
    )
}

pub fn user_passwd(ctl: &mut Ctl) -> Outcome {
    let name = one_name(
        ctl,
        "user passwd command requires user name as its argument",
    )?;
    let password = read_password(ctl, &name)?;
    let response: pb::AuthUserChangePasswordResponse = ctl.request(
        "/etcdserverpb.Auth/UserChangePassword",
        &pb::AuthUserChangePasswordRequest {
            name,
            password,
            hashed_password: String::new(),
        },
    )?;
    ctl.out.auth_done(
        "Password updated",
        &response.header,
        "etcdserverpb.AuthUserChangePasswordResponse",
        &response,
    )
}

/// A password from standard input: one word with --interactive=false; otherwise asked for
/// twice, as etcdctl asks at a terminal.
fn read_password(ctl: &Ctl, name: &str) -> Result<String, Exit> {
    let read_word = || {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| fail(EXIT_INVALID_INPUT, e.to_string()))?;
        Ok::<String, Exit>(line.split_whitespace().next().unwrap_or("").to_string())
    };
    if !ctl.bool("interactive") {
        return read_word();
    }
    eprint!("Password of {name}: ");
    let first = read_word()?;
    eprint!("Type password of {name} again for confirmation: ");
    let second = read_word()?;
    if first != second {
        return Err(fail(EXIT_BAD_ARGS, "given passwords are different"));
    }
    Ok(first)
}

pub fn role_list(ctl: &mut Ctl) -> Outcome {
    no_args(ctl, "role list command requires no arguments")?;
    let response: pb::AuthRoleListResponse = ctl.request(
        "/etcdserverpb.Auth/RoleList",
        &pb::AuthRoleListRequest::default(),
    )?;
    ctl.out.names(
        &response.roles,
        &response.header,
        "etcdserverpb.AuthRoleListResponse",
        &response,
    )
}
