//! Whether a user's roles grant an access to a key range: the union of the granted intervals
//! must cover the whole requested interval (etcd's range permission cache, without its holes:
//! an open-ended range, `range_end = "\0"`, is checked to the end of the keyspace).

use crate::pb::authpb::permission::Type;
use crate::pb::authpb::Role;

/// What a request does to a range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// A key interval `[begin, end)`; `end == None` is the end of the keyspace.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Interval {
    begin: Vec<u8>,
    end: Option<Vec<u8>>,
}

/// etcd's (key, range_end) convention: empty end = the key alone, "\0" = to the end of the
/// keyspace. An end at or before the key (an empty range) stands for the key alone.
fn interval(key: &[u8], range_end: &[u8]) -> Interval {
    let end = match range_end {
        [] => Some(point_end(key)),
        [0] => None,
        end if end <= key => Some(point_end(key)),
        end => Some(end.to_vec()),
    };
    Interval {
        begin: key.to_vec(),
        end,
    }
}

/// The smallest key after `key`.
fn point_end(key: &[u8]) -> Vec<u8> {
    let mut end = key.to_vec();
    end.push(0);
    end
}

fn grants(permission: i32, access: Access) -> bool {
    match Type::try_from(permission) {
        Ok(Type::Readwrite) => true,
        Ok(Type::Read) => access == Access::Read,
        Ok(Type::Write) => access == Access::Write,
        Err(_) => false,
    }
}

/// True if `roles` together grant `access` on every key of (key, range_end).
pub fn covered(roles: &[Role], access: Access, key: &[u8], range_end: &[u8]) -> bool {
    let wanted = interval(key, range_end);
    let mut granted: Vec<Interval> = roles
        .iter()
        .flat_map(|role| &role.key_permission)
        .filter(|p| grants(p.perm_type, access))
        .map(|p| interval(&p.key, &p.range_end))
        .collect();
    granted.sort_by(|a, b| a.begin.cmp(&b.begin));
    // Sweep from the wanted begin: every granted interval starting at or before the covered
    // point extends it; a gap before the wanted end means not covered.
    let mut covered_to = wanted.begin.clone();
    for grant in granted {
        if grant.begin > covered_to {
            break;
        }
        match grant.end {
            None => return true,
            Some(end) if end > covered_to => covered_to = end,
            Some(_) => {}
        }
        if wanted.end.as_ref().is_some_and(|end| covered_to >= *end) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::authpb::Permission;

    fn role(perms: &[(&str, &str, Type)]) -> Role {
        Role {
            name: b"r".to_vec(),
            key_permission: perms
                .iter()
                .map(|(key, end, kind)| Permission {
                    perm_type: *kind as i32,
                    key: key.as_bytes().to_vec(),
                    range_end: end.as_bytes().to_vec(),
                })
                .collect(),
        }
    }

    #[test]
    fn points_ranges_and_open_ends() {
        let roles = [role(&[("a", "", Type::Read), ("b", "d", Type::Readwrite)])];
        assert!(covered(&roles, Access::Read, b"a", b""));
        assert!(!covered(&roles, Access::Write, b"a", b""));
        assert!(!covered(&roles, Access::Read, b"a0", b""));
        assert!(covered(&roles, Access::Read, b"b", b"d"));
        assert!(covered(&roles, Access::Write, b"c", b"cz"));
        assert!(!covered(&roles, Access::Read, b"b", b"e"));
        // An open-ended watch over a granted prefix still reaches past it.
        assert!(!covered(&roles, Access::Read, b"b", b"\0"));
        let everything = [role(&[("", "\0", Type::Read)])];
        assert!(covered(&everything, Access::Read, b"\0", b"\0"));
        assert!(covered(&everything, Access::Read, b"zz", b"\0"));
    }

    #[test]
    fn adjacent_grants_join_and_gaps_do_not() {
        let roles = [
            role(&[("a", "c", Type::Write)]),
            role(&[("c", "e", Type::Write)]),
        ];
        assert!(covered(&roles, Access::Write, b"a", b"e"));
        assert!(!covered(&roles, Access::Write, b"a", b"f"));
        let gap = [role(&[("a", "c", Type::Write), ("d", "e", Type::Write)])];
        assert!(!covered(&gap, Access::Write, b"a", b"e"));
    }

    #[test]
    fn fuzz_roles_and_requests() {
        use crate::auth::{Guarded, Need};
        use crate::pb::etcdserverpb::TxnRequest;
        use prost::Message;
        let roles = role(&[("a", "c", Type::Readwrite), ("k", "", Type::Read)]);
        let txn = TxnRequest {
            compare: vec![Default::default()],
            success: vec![Default::default()],
            failure: vec![],
        };
        let seeds = [roles.encode_to_vec(), txn.encode_to_vec()];
        crate::fuzz::run("auth roles and requests", &seeds, |bytes| {
            if let Ok(role) = Role::decode(bytes) {
                let roles = [role];
                for (key, end) in [
                    (&b"a"[..], &b""[..]),
                    (b"a", b"\0"),
                    (b"", b"\0"),
                    (b"z", b"a"),
                ] {
                    let _ = covered(&roles, Access::Read, key, end);
                    let _ = covered(&roles, Access::Write, key, end);
                }
            }
            if let Ok(txn) = TxnRequest::decode(bytes) {
                if let Need::Keys(accesses) = txn.need() {
                    for (access, key, end) in &accesses {
                        let _ = covered(std::slice::from_ref(&roles), *access, key, end);
                    }
                }
            }
        });
    }

    #[test]
    fn an_empty_or_reversed_range_needs_its_key() {
        let roles = [role(&[("k", "", Type::Read)])];
        assert!(covered(&roles, Access::Read, b"k", b"a"));
        assert!(!covered(&roles, Access::Read, b"j", b"a"));
    }
}
