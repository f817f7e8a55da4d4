//! Maintenance commands: alarm, defrag, endpoint health/status/hashkv, move-leader, version
//! (etcdctl's alarm_, defrag_, ep_, move_leader_ and version_command.go), and the helpers the
//! lease, member and auth commands share.

use super::output::Health;
use super::EXIT_ERROR;
use super::{fail, quiet, Ctl, Exit, Outcome, EXIT_BAD_ARGS};
use crate::pb::etcdserverpb as pb;
use std::time::Instant;

pub(super) fn no_args(ctl: &Ctl, message: &str) -> Outcome {
    if ctl.args().is_empty() {
        Ok(())
    } else {
        Err(fail(EXIT_BAD_ARGS, message))
    }
}

/// Go's strconv.ParseInt/ParseUint(text, 16, 64) error text.
pub(super) fn parse_hex_error(function: &str, text: &str) -> String {
    format!("strconv.{function}: parsing {text:?}: invalid syntax")
}

pub(super) fn cluster_id(header: &Option<pb::ResponseHeader>) -> u64 {
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
        return ctl.endpoints();
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
    let took = crate::golang::format_duration(started.elapsed());
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
    let endpoints = ctl.endpoints()?;
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

use super::json::to_json;
use super::output::{json_string, table, unsupported, Format};
use crate::golang::{go_quote, humanize_bytes};

/// etcdctl 3.4's printers for these commands (the formats: output.rs).
impl super::output::Printer {
    pub fn endpoint_health(&self, list: &[Health]) -> Outcome {
        match self.format {
            Format::Simple => {
                for h in list {
                    if h.error.is_empty() {
                        eprintln!(
                            "{} is healthy: successfully committed proposal: took = {}",
                            h.endpoint, h.took
                        );
                    } else {
                        eprintln!(
                            "{} is unhealthy: failed to commit proposal: {}",
                            h.endpoint, h.error
                        );
                    }
                }
            }
            Format::Json => {
                let items: Vec<String> = list
                    .iter()
                    .map(|h| {
                        let mut item = format!(
                            "{{\"endpoint\":{},\"health\":{},\"took\":{}",
                            json_string(&h.endpoint),
                            h.healthy,
                            json_string(&h.took)
                        );
                        if !h.error.is_empty() {
                            item += &format!(",\"error\":{}", json_string(&h.error));
                        }
                        item + "}"
                    })
                    .collect();
                println!("[{}]", items.join(","));
            }
            Format::Fields => {
                for h in list {
                    println!("\"Endpoint\" : {}", go_quote(h.endpoint.as_bytes()));
                    println!("\"Health\" : {}", h.healthy);
                    println!("\"Took\" : {}", h.took);
                    println!("\"Error\" : {}", h.error);
                    println!();
                }
            }
            Format::Table => {
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|h| {
                        vec![
                            h.endpoint.clone(),
                            h.healthy.to_string(),
                            h.took.clone(),
                            h.error.clone(),
                        ]
                    })
                    .collect();
                print!("{}", table(&["endpoint", "health", "took", "error"], &rows));
            }
            Format::Protobuf => return Err(unsupported(self.format)),
        }
        Ok(())
    }

    pub fn endpoint_status(&self, list: &[(String, pb::StatusResponse)]) -> Outcome {
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|(endpoint, s)| {
                let member = s.header.as_ref().map_or(0, |h| h.member_id);
                vec![
                    endpoint.clone(),
                    format!("{member:x}"),
                    s.version.clone(),
                    humanize_bytes(s.db_size as u64),
                    (s.leader == member).to_string(),
                    s.is_learner.to_string(),
                    s.raft_term.to_string(),
                    s.raft_index.to_string(),
                    s.raft_applied_index.to_string(),
                    s.errors.join(", "),
                ]
            })
            .collect();
        match self.format {
            Format::Simple => rows.iter().for_each(|row| println!("{}", row.join(", "))),
            Format::Table => {
                let header = [
                    "endpoint",
                    "ID",
                    "version",
                    "db size",
                    "is leader",
                    "is learner",
                    "raft term",
                    "raft index",
                    "raft applied index",
                    "errors",
                ];
                print!("{}", table(&header, &rows));
            }
            Format::Json => {
                let items: Vec<String> = list
                    .iter()
                    .map(|(endpoint, s)| {
                        format!(
                            "{{\"Endpoint\":{},\"Status\":{}}}",
                            json_string(endpoint),
                            to_json("etcdserverpb.StatusResponse", s)
                        )
                    })
                    .collect();
                println!("[{}]", items.join(","));
            }
            Format::Fields => {
                for (endpoint, s) in list {
                    Self::fields_header(&s.header);
                    println!("\"Version\" : {}", go_quote(s.version.as_bytes()));
                    println!("\"DBSize\" : {}", s.db_size);
                    println!("\"Leader\" : {}", s.leader);
                    println!("\"IsLearner\" : {}", s.is_learner);
                    println!("\"RaftIndex\" : {}", s.raft_index);
                    println!("\"RaftTerm\" : {}", s.raft_term);
                    println!("\"RaftAppliedIndex\" : {}", s.raft_applied_index);
                    println!("\"Errors\" : [{}]", s.errors.join(" "));
                    println!("\"Endpoint\" : {}", go_quote(endpoint.as_bytes()));
                    println!();
                }
            }
            Format::Protobuf => return Err(unsupported(self.format)),
        }
        Ok(())
    }

    pub fn endpoint_hashkv(&self, list: &[(String, pb::HashKvResponse)]) -> Outcome {
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|(endpoint, h)| vec![endpoint.clone(), h.hash.to_string()])
            .collect();
        match self.format {
            Format::Simple => rows.iter().for_each(|row| println!("{}", row.join(", "))),
            Format::Table => print!("{}", table(&["endpoint", "hash"], &rows)),
            Format::Json => {
                let items: Vec<String> = list
                    .iter()
                    .map(|(endpoint, h)| {
                        format!(
                            "{{\"Endpoint\":{},\"HashKV\":{}}}",
                            json_string(endpoint),
                            to_json("etcdserverpb.HashKVResponse", h)
                        )
                    })
                    .collect();
                println!("[{}]", items.join(","));
            }
            Format::Fields => {
                for (endpoint, h) in list {
                    Self::fields_header(&h.header);
                    println!("\"Endpoint\" : {}", go_quote(endpoint.as_bytes()));
                    println!("\"Hash\" : {}", h.hash);
                    println!();
                }
            }
            Format::Protobuf => return Err(unsupported(self.format)),
        }
        Ok(())
    }

    pub fn move_leader(&self, leader: u64, target: u64, r: &pb::MoveLeaderResponse) -> Outcome {
        match self.format {
            Format::Simple => {
                println!("Leadership transferred from {leader:x} to {target:x}");
                Ok(())
            }
            Format::Json | Format::Protobuf => self.message("etcdserverpb.MoveLeaderResponse", r),
            format => Err(unsupported(format)),
        }
    }

    pub fn alarm(&self, r: &pb::AlarmResponse) -> Outcome {
        let name = |alarm: i32| match alarm {
            1 => "NOSPACE",
            2 => "CORRUPT",
            _ => "NONE",
        };
        match self.format {
            Format::Simple => {
                for a in &r.alarms {
                    println!("&{{MemberID:{} Alarm:{}}}", a.member_id, name(a.alarm));
                }
            }
            Format::Fields => {
                Self::fields_header(&r.header);
                for a in &r.alarms {
                    println!("\"MemberID\" : {}", a.member_id);
                    println!("\"AlarmType\" : {}", name(a.alarm));
                    println!();
                }
            }
            _ => return self.message("etcdserverpb.AlarmResponse", r),
        }
        Ok(())
    }
}
