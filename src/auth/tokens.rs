//! Simple tokens (etcd's `--auth-token simple`): `<16 random letters>.<raft index>`, issued
//! when an Authenticate entry applies, on every member alike (so a token works on any member),
//! valid for --auth-token-ttl after their last use, and dropped when their user is deleted or
//! changes password, or auth is disabled. They live in memory only, as in etcd.

use crate::pb::etcdserverpb::InternalRaftRequest;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The most tokens a member keeps: past it the one closest to expiry is dropped first.
pub const MAX_TOKENS: usize = 65_536;
/// Letters in a token's random part (etcd's defaultSimpleTokenLength).
const PREFIX_LETTERS: usize = 16;
const LETTERS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

struct Session {
    user: String,
    expires: Instant,
}

pub struct Tokens {
    ttl: Duration,
    sessions: Mutex<HashMap<String, Session>>,
    /// --auth-token jwt: signed tokens instead (no sessions kept).
    jwt: Option<super::jwt::Jwt>,
}

/// A token's random part, made where Authenticate is proposed.
pub fn new_prefix() -> String {
    let mut random = [0u8; PREFIX_LETTERS];
    // ring's system random source; a token is never made without it.
    if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut random).is_err() {
        log::error!("auth: no system randomness for a token");
    }
    random
        .iter()
        .map(|b| LETTERS[*b as usize % LETTERS.len()] as char)
        .collect()
}

/// The raft index a token was issued at (it is valid only once this member applied it).
pub fn issued_at(token: &str) -> Option<u64> {
    token.rsplit_once('.')?.1.parse().ok()
}

impl Tokens {
    pub fn new(ttl: Duration, jwt: Option<super::jwt::Jwt>) -> Tokens {
        Tokens {
            ttl,
            sessions: Mutex::new(HashMap::new()),
            jwt,
        }
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The user a live token stands for; using a simple token extends its life.
    pub fn user(&self, token: &str) -> Option<String> {
        if let Some(jwt) = &self.jwt {
            return jwt.verify(token).map(|(user, _)| user);
        }
        let now = Instant::now();
        let mut sessions = self.sessions();
        let session = sessions.get_mut(token)?;
        if session.expires <= now {
            sessions.remove(token);
            return None;
        }
        session.expires = now + self.ttl;
        Some(session.user.clone())
    }

    fn issue(&self, token: String, user: String) {
        let now = Instant::now();
        let mut sessions = self.sessions();
        sessions.retain(|_, s| s.expires > now);
        if sessions.len() >= MAX_TOKENS {
            let oldest = sessions
                .iter()
                .min_by_key(|(_, s)| s.expires)
                .map(|(t, _)| t.clone());
            if let Some(oldest) = oldest {
                sessions.remove(&oldest);
            }
        }
        let expires = now + self.ttl;
        sessions.insert(token, Session { user, expires });
    }

    /// What an applied auth entry does to the tokens: an Authenticate issues one (its answer
    /// gets it; left empty if this member may not sign JWTs), a deleted user or a changed
    /// password ends the user's simple tokens, auth disable ends all. `auth_revision`: the
    /// store's after the entry (a JWT carries it).
    pub fn after_apply(
        &self,
        index: u64,
        auth_revision: u64,
        request: &InternalRaftRequest,
        token: Option<&mut String>,
    ) {
        if let (Some(authenticate), Some(token)) = (&request.authenticate, token) {
            match &self.jwt {
                Some(jwt) => match jwt.sign(&authenticate.name, auth_revision) {
                    Ok(signed) => *token = signed,
                    Err(e) => log::warn!("auth: {e}"),
                },
                None => {
                    *token = format!("{}.{index}", authenticate.simple_token);
                    self.issue(token.clone(), authenticate.name.clone());
                }
            }
        }
        let ended = request
            .auth_user_delete
            .as_ref()
            .map(|r| &r.name)
            .or(request.auth_user_change_password.as_ref().map(|r| &r.name));
        if let Some(user) = ended {
            self.sessions().retain(|_, s| s.user != *user);
        }
        if request.auth_disable.is_some() {
            self.sessions().clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::etcdserverpb::{AuthUserDeleteRequest, InternalAuthenticateRequest};

    fn authenticate(tokens: &Tokens, index: u64, user: &str) -> String {
        let request = InternalRaftRequest {
            authenticate: Some(InternalAuthenticateRequest {
                name: user.into(),
                simple_token: new_prefix(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut token = String::new();
        tokens.after_apply(index, 1, &request, Some(&mut token));
        token
    }

    #[test]
    fn issued_used_and_ended() {
        let tokens = Tokens::new(Duration::from_secs(60), None);
        let token = authenticate(&tokens, 42, "alice");
        assert_eq!(token.len(), PREFIX_LETTERS + 3);
        assert_eq!(issued_at(&token), Some(42));
        assert_eq!(tokens.user(&token).as_deref(), Some("alice"));
        assert_eq!(tokens.user("nope.42"), None);
        let delete = InternalRaftRequest {
            auth_user_delete: Some(AuthUserDeleteRequest {
                name: "alice".into(),
            }),
            ..Default::default()
        };
        tokens.after_apply(43, 1, &delete, None);
        assert_eq!(tokens.user(&token), None);
    }

    #[test]
    fn tokens_expire() {
        let tokens = Tokens::new(Duration::ZERO, None);
        let token = authenticate(&tokens, 1, "bob");
        assert_eq!(tokens.user(&token), None);
    }
}
