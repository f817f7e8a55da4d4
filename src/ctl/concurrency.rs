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

/// Waits for the lock or the leadership (no time limit, as in etcdctl). Ctrl-C meanwhile ends
/// the wait as etcdctl's canceled context does; the session's lease is revoked first so that
/// the queued key goes with it.
fn wait_unless_interrupted<T>(
    ctl: &Ctl,
    channel: &Channel,
    session: &Session,
    interrupted: &smol::channel::Receiver<()>,
    wait: impl std::future::Future<Output = Result<T, crate::client::CallError>>,
) -> Result<T, Exit> {
    let answer = crate::runtime::block_on(smol::future::or(async { Some(wait.await) }, async {
        let _ = interrupted.recv().await;
        None
    }));
    match answer {
        Some(answer) => answer.map_err(|e| fail(EXIT_ERROR, describe(e))),
        None => {
            let revoke = pb::LeaseRevokeRequest { id: session.lease };
            let _: Result<pb::LeaseRevokeResponse, _> =
                ctl.call(channel, "/etcdserverpb.Lease/LeaseRevoke", &revoke);
            Err(fail(EXIT_ERROR, "context canceled"))
        }
    }
}

fn interrupted() -> Result<smol::channel::Receiver<()>, Exit> {
    super::interrupt::watch().map_err(|e| fail(EXIT_ERROR, format!("signals: {e}")))
}

/// Holds the lock or the leadership until Ctrl-C or SIGTERM (then `release` gives it up and
/// the command ends well, as etcdctl's), or until the session is over: then `expired` is the
/// error.
fn hold(
    session: &Session,
    interrupted: &smol::channel::Receiver<()>,
    expired: &str,
    release: impl FnOnce() -> Outcome,
) -> Outcome {
    let signalled = crate::runtime::block_on(smol::future::or(
        async { interrupted.recv().await.is_ok() },
        async {
            let _ = session.done.recv().await;
            false
        },
    ));
    if signalled {
        release()
    } else {
        Err(fail(EXIT_ERROR, expired))
    }
}

pub fn lock(ctl: &mut Ctl) -> Outcome {
    let Some((name, command)) = ctl.args().split_first() else {
        return Err(fail(
            EXIT_BAD_ARGS,
            "lock takes a lock name argument and an optional command to execute",
        ));
    };
    let (name, command) = (name.clone(), command.to_vec());
    // From the start, as etcdctl: Ctrl-C while waiting must not leave a lock behind either.
    let interrupted = interrupted()?;
    let channel = ctl.connect()?;
    let session = session(ctl, &channel, ctl.int("ttl"))?;
    let request = v3lockpb::LockRequest {
        name: name.into_bytes(),
        lease: session.lease,
    };
    let locked: v3lockpb::LockResponse = wait_unless_interrupted(
        ctl,
        &channel,
        &session,
        &interrupted,
        channel.unary("/v3lockpb.Lock/Lock", &request),
    )?;
    let Some((program, args)) = command.split_first() else {
        print_key(ctl, &channel, &locked.key)?;
        return hold(&session, &interrupted, "session expired", || {
            let unlock = v3lockpb::UnlockRequest { key: locked.key };
            let _: v3lockpb::UnlockResponse =
                ctl.call(&channel, "/v3lockpb.Lock/Unlock", &unlock)?;
            Ok(())
        });
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
    let interrupted = interrupted()?;
    let channel = ctl.connect()?;
    let session = session(ctl, &channel, SESSION_TTL)?;
    let Some(proposal) = proposal else {
        return observe(ctl, &channel, name);
    };
    let request = v3electionpb::CampaignRequest {
        name: name.into_bytes(),
        lease: session.lease,
        value: proposal.into_bytes(),
    };
    let campaign: v3electionpb::CampaignResponse = wait_unless_interrupted(
        ctl,
        &channel,
        &session,
        &interrupted,
        channel.unary("/v3electionpb.Election/Campaign", &request),
    )?;
    let leader = campaign.leader.unwrap_or_default();
    print_key(ctl, &channel, &leader.key)?;
    hold(&session, &interrupted, "elect: session expired", || {
        let resign = v3electionpb::ResignRequest {
            leader: Some(leader),
        };
        let _: v3electionpb::ResignResponse =
            ctl.call(&channel, "/v3electionpb.Election/Resign", &resign)?;
        Ok(())
    })
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
