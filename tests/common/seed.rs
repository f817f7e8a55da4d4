//! The seed's three-member cluster (master, node1, node2) with the seed's unit flags verbatim,
//! except that 127.0.0.x stands in for 10.140.0.x, certificates and data live in the test's
//! directory, and each member's plain-HTTP listener (the seed's http://127.0.0.1:2379) gets
//! its own port because the three share one machine.

use super::certs::{self, Pki};
use super::{run, Member};
use sha1::{Digest, Sha1};
use std::path::{Path, PathBuf};
use std::process::Output;

pub const NAMES: [&str; 3] = ["master", "node1", "node2"];
pub const TOKEN: &str = "etcd-cluster-0";

pub struct Seed {
    pub ips: [&'static str; 3],
    /// Port of each member's plain http://127.0.0.1 listener.
    pub local_ports: [u16; 3],
    pub dir: PathBuf,
    pub pki: Pki,
}

impl Seed {
    /// `spare_ips`: more addresses the certificate covers, for members added later.
    pub fn new(
        dir: &Path,
        ips: [&'static str; 3],
        local_ports: [u16; 3],
        spare_ips: &[&str],
    ) -> Seed {
        let mut names = ips.to_vec();
        names.extend_from_slice(spare_ips);
        let pki = certs::make(dir, &names);
        Seed {
            ips,
            local_ports,
            dir: dir.to_path_buf(),
            pki,
        }
    }

    pub fn initial_cluster(&self) -> String {
        NAMES
            .iter()
            .zip(self.ips)
            .map(|(name, ip)| format!("{name}=https://{ip}:2380"))
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn data_dir(&self, program_tag: &str, i: usize) -> PathBuf {
        self.dir.join(format!("{program_tag}-{}", NAMES[i]))
    }

    /// The seed's ExecStart flags for member `i`.
    pub fn args(&self, i: usize, data_dir: &Path) -> Vec<String> {
        self.member_args(
            NAMES[i],
            self.ips[i],
            &self.local_url(i),
            &self.initial_cluster(),
            "new",
            data_dir,
        )
    }

    /// The seed's ExecStart flags for any member.
    pub fn member_args(
        &self,
        name: &str,
        ip: &str,
        local_url: &str,
        initial_cluster: &str,
        state: &str,
        data_dir: &Path,
    ) -> Vec<String> {
        let pki = &self.pki;
        vec![
            "--name".into(),
            name.into(),
            "--cert-file".into(),
            pki.server_cert.display().to_string(),
            "--key-file".into(),
            pki.server_key.display().to_string(),
            "--peer-cert-file".into(),
            pki.server_cert.display().to_string(),
            "--peer-key-file".into(),
            pki.server_key.display().to_string(),
            "--trusted-ca-file".into(),
            pki.ca.display().to_string(),
            "--peer-trusted-ca-file".into(),
            pki.ca.display().to_string(),
            "--peer-client-cert-auth".into(),
            "--client-cert-auth".into(),
            "--initial-advertise-peer-urls".into(),
            format!("https://{ip}:2380"),
            "--listen-peer-urls".into(),
            format!("https://{ip}:2380"),
            "--listen-client-urls".into(),
            format!("https://{ip}:2379,{local_url}"),
            "--advertise-client-urls".into(),
            format!("https://{ip}:2379"),
            "--initial-cluster-token".into(),
            TOKEN.into(),
            "--initial-cluster".into(),
            initial_cluster.into(),
            "--initial-cluster-state".into(),
            state.into(),
            "--data-dir".into(),
            data_dir.display().to_string(),
        ]
    }

    pub fn local_url(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.local_ports[i])
    }

    pub fn client_url(&self, i: usize) -> String {
        format!("https://{}:2379", self.ips[i])
    }

    /// Starts the three members of `program` (with `extra` flags) and waits until each is healthy.
    pub fn start(&self, program: &Path, tag: &str, extra: &[&str]) -> Vec<Member> {
        let mut members: Vec<Member> = (0..3)
            .map(|i| {
                let data_dir = self.data_dir(tag, i);
                let mut args = self.args(i, &data_dir);
                args.extend(extra.iter().map(|s| s.to_string()));
                Member::spawn(program, args, &self.local_url(i), &data_dir)
            })
            .collect();
        for member in &mut members {
            member.wait_healthy();
        }
        members
    }

    /// etcdctl's v3 TLS flags with the test's client certificate.
    pub fn v3_tls(&self) -> Vec<String> {
        vec![
            format!("--cacert={}", self.pki.ca.display()),
            format!("--cert={}", self.pki.client_cert.display()),
            format!("--key={}", self.pki.client_key.display()),
        ]
    }

    /// The seed's check: `ETCDCTL_API=2 etcdctl --ca-file … --cert-file … --key-file … <args>`.
    pub fn etcdctl_v2(&self, endpoint: &str, args: &[&str]) -> Output {
        run(
            super::DEBIAN_ETCDCTL,
            &self.v2_args(endpoint, args),
            &[("ETCDCTL_API", "2")],
            None,
        )
    }

    /// The seed's check with our applet (`etcd ctl ...`).
    pub fn our_etcdctl_v2(&self, endpoint: &str, args: &[&str]) -> Output {
        let mut all = vec!["ctl".to_string()];
        all.extend(self.v2_args(endpoint, args));
        let binary = super::our_binary().display().to_string();
        run(&binary, &all, &[("ETCDCTL_API", "2")], None)
    }

    fn v2_args(&self, endpoint: &str, args: &[&str]) -> Vec<String> {
        let mut all = vec![
            format!("--ca-file={}", self.pki.ca.display()),
            format!("--cert-file={}", self.pki.client_cert.display()),
            format!("--key-file={}", self.pki.client_key.display()),
            "--endpoints".to_string(),
            endpoint.to_string(),
        ];
        all.extend(args.iter().map(|s| s.to_string()));
        all
    }

    pub fn member_id(&self, i: usize) -> String {
        member_id(self.ips[i])
    }
}

/// etcd's member ID for the seed's member at `ip` (SHA-1 of its peer URL and the token),
/// computed here independently of the server.
pub fn member_id(ip: &str) -> String {
    let mut hasher = Sha1::new();
    hasher.update(format!("https://{ip}:2380"));
    hasher.update(TOKEN);
    let digest = hasher.finalize();
    format!("{:x}", u64::from_be_bytes(digest[..8].try_into().unwrap()))
}
