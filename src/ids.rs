//! Member and cluster identities, derived exactly as etcd derives them so that the same flags give
//! the same IDs as upstream (etcdserver/api/membership: NewMember and RaftCluster.genID).

use sha1::{Digest, Sha1};

fn first_eight_bytes(bytes: &[u8]) -> u64 {
    let digest = Sha1::digest(bytes);
    u64::from_be_bytes(digest[..8].try_into().expect("sha1 digest has 20 bytes"))
}

/// SHA-1 over the sorted peer URLs concatenated, then the cluster token; first 8 bytes, big endian.
pub fn member_id(peer_urls: &[String], cluster_token: &str) -> u64 {
    let mut urls = peer_urls.to_vec();
    urls.sort();
    let mut input = urls.concat().into_bytes();
    input.extend_from_slice(cluster_token.as_bytes());
    first_eight_bytes(&input)
}

/// SHA-1 over the sorted member IDs as 8-byte big-endian words; first 8 bytes, big endian.
pub fn cluster_id(member_ids: &[u64]) -> u64 {
    let mut ids = member_ids.to_vec();
    ids.sort_unstable();
    let input: Vec<u8> = ids.iter().flat_map(|id| id.to_be_bytes()).collect();
    first_eight_bytes(&input)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seed's cluster (10.140.0.2-4, token etcd-cluster-0) printed these IDs in its
    /// `cluster-health` output; nothing is contacted to check them.
    #[test]
    fn seed_member_ids() {
        let id = |ip: &str| member_id(&[format!("https://{ip}:2380")], "etcd-cluster-0");
        assert_eq!(format!("{:x}", id("10.140.0.2")), "faabc16c3c835e9b");
        assert_eq!(format!("{:x}", id("10.140.0.3")), "818a156c77978609");
        assert_eq!(format!("{:x}", id("10.140.0.4")), "97a1672c4a2124ea");
    }

    /// A single member started by Debian's etcd 3.4 with peer URL http://127.0.0.9:23800 and the
    /// default token reports these IDs in `etcdctl endpoint status -w json`.
    #[test]
    fn single_member_ids_match_etcd() {
        let member = member_id(&["http://127.0.0.9:23800".to_string()], "etcd-cluster");
        assert_eq!(member, 1886424282058903940);
        assert_eq!(cluster_id(&[member]), 13807887513569586722);
    }
}
