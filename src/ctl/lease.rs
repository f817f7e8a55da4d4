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

use super::json;
use super::output::{embedded_header, json_string, marshal_unsupported};
use crate::golang::go_quote;

/// etcdctl 3.4's printers for these commands (the formats: output.rs).
impl super::output::Printer {
    pub fn grant(&self, r: &pb::LeaseGrantResponse) -> Outcome {
        match self.format {
            Format::Simple => println!("lease {:016x} granted with TTL({}s)", r.id, r.ttl),
            Format::Fields => {
                Self::fields_header(&r.header);
                println!("\"ID\" : {}", r.id);
                println!("\"TTL\" : {}", r.ttl);
            }
            Format::Json => {
                let error = json_string(&r.error);
                println!(
                    "{}",
                    embedded_header(
                        &r.header,
                        &[format!(
                            "\"ID\":{},\"TTL\":{},\"Error\":{error}",
                            r.id, r.ttl
                        )]
                    )
                );
            }
            format => return Err(marshal_unsupported(format, "LeaseGrantResponse")),
        }
        Ok(())
    }

    pub fn revoke(&self, id: i64, r: &pb::LeaseRevokeResponse) -> Outcome {
        match self.format {
            Format::Simple => println!("lease {id:016x} revoked"),
            Format::Fields => Self::fields_header(&r.header),
            _ => return self.message("etcdserverpb.LeaseRevokeResponse", r),
        }
        Ok(())
    }

    pub fn keep_alive(&self, r: &pb::LeaseKeepAliveResponse) -> Outcome {
        match self.format {
            Format::Simple => println!("lease {:016x} keepalived with TTL({})", r.id, r.ttl),
            Format::Fields => {
                Self::fields_header(&r.header);
                println!("\"ID\" : {}", r.id);
                println!("\"TTL\" : {}", r.ttl);
            }
            Format::Json => println!(
                "{}",
                embedded_header(&r.header, &[format!("\"ID\":{},\"TTL\":{}", r.id, r.ttl)])
            ),
            format => return Err(marshal_unsupported(format, "LeaseKeepAliveResponse")),
        }
        Ok(())
    }

    pub fn time_to_live(&self, r: &pb::LeaseTimeToLiveResponse, with_keys: bool) -> Outcome {
        match self.format {
            Format::Simple => {
                if r.granted_ttl == 0 && r.ttl == -1 {
                    println!("lease {:016x} already expired", r.id);
                    return Ok(());
                }
                let mut text = format!(
                    "lease {:016x} granted with TTL({}s), remaining({}s)",
                    r.id, r.granted_ttl, r.ttl
                );
                if with_keys {
                    let keys: Vec<String> = r
                        .keys
                        .iter()
                        .map(|k| String::from_utf8_lossy(k).into_owned())
                        .collect();
                    text += &format!(", attached keys([{}])", keys.join(" "));
                }
                println!("{text}");
            }
            Format::Fields => {
                Self::fields_header(&r.header);
                println!("\"ID\" : {}", r.id);
                println!("\"TTL\" : {}", r.ttl);
                println!("\"GrantedTTL\" : {}", r.granted_ttl);
                for key in &r.keys {
                    println!("\"Key\" : {}", go_quote(key));
                }
            }
            Format::Json => {
                let keys = if r.keys.is_empty() {
                    "null".to_string()
                } else {
                    let keys: Vec<String> = r
                        .keys
                        .iter()
                        .map(|k| format!("\"{}\"", json::base64(k)))
                        .collect();
                    format!("[{}]", keys.join(","))
                };
                println!(
                    "{}",
                    embedded_header(
                        &r.header,
                        &[format!(
                            "\"id\":{},\"ttl\":{},\"granted-ttl\":{},\"keys\":{keys}",
                            r.id, r.ttl, r.granted_ttl
                        )]
                    )
                );
            }
            format => return Err(marshal_unsupported(format, "LeaseTimeToLiveResponse")),
        }
        Ok(())
    }

    pub fn leases(&self, r: &pb::LeaseLeasesResponse) -> Outcome {
        match self.format {
            Format::Simple => {
                println!("found {} leases", r.leases.len());
                for lease in &r.leases {
                    println!("{:016x}", lease.id);
                }
            }
            Format::Fields => {
                Self::fields_header(&r.header);
                for lease in &r.leases {
                    println!("\"ID\" : {}", lease.id);
                }
            }
            Format::Json => {
                let leases: Vec<String> = r
                    .leases
                    .iter()
                    .map(|l| format!("{{\"id\":{}}}", l.id))
                    .collect();
                println!(
                    "{}",
                    embedded_header(&r.header, &[format!("\"leases\":[{}]", leases.join(","))])
                );
            }
            format => return Err(marshal_unsupported(format, "LeaseLeasesResponse")),
        }
        Ok(())
    }
}
