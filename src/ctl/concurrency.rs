//! `lock` and `elect`: a session lease kept alive in the background, and the v3lock/v3election
//! services (which implement etcd's concurrency recipes on the server, with the same keys
//! `name/<lease ID>` and revisions as etcdctl's client-side recipes).

use super::{describe, fail, Ctl, Exit, Outcome, EXIT_BAD_ARGS, EXIT_ERROR};
use crate::client::Channel;
use crate::pb::etcdserverpb as pb;
use crate::pb::{v3electionpb, v3lockpb};
use std::time::{Duration, Instant};

/// clientv3/concurrency's default session TTL (seconds).
const SESSION_TTL: i64 = 60;

/// A session: a lease kept alive in the background, as clientv3/concurrency's.
struct Session {
    lease: i64,
    /// Closes when the session is over (clientv3's Session.Done): the lease is gone, or no
    /// keep-alive was answered within its TTL.
    done: smol::channel::Receiver<()>,
}

/// How soon a failed keep-alive stream is opened again.
const KEEP_ALIVE_RETRY: Duration = Duration::from_millis(500);

/// Grants a lease of `ttl` seconds and keeps it alive until the process ends or it cannot.
fn session(ctl: &Ctl, channel: &Channel, ttl: i64) -> Result<Session, Exit> {
    let grant: pb::LeaseGrantResponse = ctl.call(
        channel,
        "/etcdserverpb.Lease/LeaseGrant",
        &pb::LeaseGrantRequest { ttl, id: 0 },
    )?;
    let (id, ttl) = (grant.id, Duration::from_secs(grant.ttl.max(1) as u64));
    let (ended, done) = smol::channel::bounded::<()>(1);
    let channel = channel.clone();
    crate::runtime::spawn(async move {
        let _ended = ended; // dropped when this task ends: the session is over
        let mut deadline = Instant::now() + ttl;
        while Instant::now() < deadline {
            if let Ok(stream) =
                channel.duplex::<pb::LeaseKeepAliveResponse>("/etcdserverpb.Lease/LeaseKeepAlive")
            {
                while stream.send(&pb::LeaseKeepAliveRequest { id }).await.is_ok() {
                    let answer =
                        smol::future::or(async { stream.responses.recv().await.ok() }, async {
                            smol::Timer::at(deadline).await;
                            None
                        })
                        .await;
                    match answer {
                        Some(answer) if answer.ttl > 0 => {
                            deadline = Instant::now() + Duration::from_secs(answer.ttl as u64);
                            smol::Timer::after(ttl / 3).await;
                        }
                        Some(_) => return, // the lease is gone
                        None => break,
                    }
                }
            }
            smol::Timer::after(KEEP_ALIVE_RETRY).await;
        }
    });
    Ok(Session { lease: id, done })
}

/// Prints `key` as `get` does (the lock or leader key and its value).
fn print_key(ctl: &Ctl, channel: &Channel, key: &[u8]) -> Outcome {
    let request = pb::RangeRequest {
        key: key.to_vec(),
        ..Default::default()
    };
    let response: pb::RangeResponse = ctl.call(channel, "/etcdserverpb.KV/Range", &request)?;
    ctl.out.get(&response)
}

/// Holds the lock or the leadership until the process is stopped (the session lease then
/// lapses), or until the session is over: then `expired` is the error, as etcdctl's.
fn hold(session: &Session, expired: &str) -> Outcome {
    let _ = crate::runtime::block_on(session.done.recv());
    Err(fail(EXIT_ERROR, expired))
}

pub fn lock(ctl: &mut Ctl) -> Outcome {
    let Some((name, command)) = ctl.args().split_first() else {
        return Err(fail(
            EXIT_BAD_ARGS,
            "lock takes a lock name argument and an optional command to execute",
        ));
    };
    let (name, command) = (name.clone(), command.to_vec());
    let channel = ctl.connect()?;
    let session = session(ctl, &channel, ctl.int("ttl"))?;
    // Waiting for the lock has no time limit, as in etcdctl.
    let locked: v3lockpb::LockResponse = crate::runtime::block_on(channel.unary(
        "/v3lockpb.Lock/Lock",
        &v3lockpb::LockRequest {
            name: name.into_bytes(),
            lease: session.lease,
        },
    ))
    .map_err(|e| fail(EXIT_ERROR, describe(e)))?;
    let Some((program, args)) = command.split_first() else {
        print_key(ctl, &channel, &locked.key)?;
        return hold(&session, "session expired");
    };
    let revision = locked.header.map_or(0, |h| h.revision);
    let status = std::process::Command::new(program)
        .args(args)
        .env(
            "ETCD_LOCK_KEY",
            String::from_utf8_lossy(&locked.key).as_ref(),
        )
        .env("ETCD_LOCK_REV", revision.to_string())
        .status();
    let _: v3lockpb::UnlockResponse = ctl.call(
        &channel,
        "/v3lockpb.Lock/Unlock",
        &v3lockpb::UnlockRequest { key: locked.key },
    )?;
    match status {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(fail(
            EXIT_ERROR,
            match s.code() {
                Some(code) => format!("exit status {code}"),
                None => format!("{s}"),
            },
        )),
        Err(e) => Err(fail(EXIT_ERROR, format!("exec: {program:?}: {e}"))),
    }
}

pub fn elect(ctl: &mut Ctl) -> Outcome {
    let listen = ctl.bool("listen");
    let (name, proposal) = match ctl.args() {
        [name] if listen => (name.clone(), None),
        [_] => return Err(fail(EXIT_BAD_ARGS, "no proposal argument but -l not set")),
        [_, _] if listen => return Err(fail(EXIT_BAD_ARGS, "proposal given but -l is set")),
        [name, proposal] => (name.clone(), Some(proposal.clone())),
        _ => {
            return Err(fail(
                EXIT_BAD_ARGS,
                "elect takes one election name argument and an optional proposal argument",
            ))
        }
    };
    let channel = ctl.connect()?;
    let session = session(ctl, &channel, SESSION_TTL)?;
    let Some(proposal) = proposal else {
        return observe(ctl, &channel, name);
    };
    let campaign: v3electionpb::CampaignResponse = crate::runtime::block_on(channel.unary(
        "/v3electionpb.Election/Campaign",
        &v3electionpb::CampaignRequest {
            name: name.into_bytes(),
            lease: session.lease,
            value: proposal.into_bytes(),
        },
    ))
    .map_err(|e| fail(EXIT_ERROR, describe(e)))?;
    let key = campaign.leader.map(|l| l.key).unwrap_or_default();
    print_key(ctl, &channel, &key)?;
    hold(&session, "elect: session expired")
}

/// `elect -l`: every leader of the election as it changes.
fn observe(ctl: &Ctl, channel: &Channel, name: String) -> Outcome {
    let stream = channel
        .duplex::<v3electionpb::LeaderResponse>("/v3electionpb.Election/Observe")
        .map_err(|e| fail(EXIT_ERROR, describe(e)))?;
    crate::runtime::block_on(async {
        stream
            .send(&v3electionpb::LeaderRequest {
                name: name.into_bytes(),
            })
            .await
            .map_err(|e| fail(EXIT_ERROR, describe(e)))?;
        while let Ok(leader) = stream.responses.recv().await {
            let response = pb::RangeResponse {
                header: leader.header,
                count: 1,
                kvs: leader.kv.into_iter().collect(),
                more: false,
            };
            ctl.out.get(&response)?;
        }
        Err(fail(EXIT_ERROR, "elect: observer lost"))
    })
}
