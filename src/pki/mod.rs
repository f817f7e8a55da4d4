//! `etcd pki`: the certificates the seed made with cfssl, made by the binary itself (rcgen, ECDSA
//! P-256, no openssl): a CA and one certificate shared by all members, as the seed's
//! kubernetes.pem, valid for serving clients and peers and for authenticating as a client.
//!
//! `etcd pki init --dir DIR --node master=10.140.0.2 --node node1=10.140.0.3 ...` writes
//! DIR/ca.pem, DIR/ca-key.pem, DIR/kubernetes.pem, DIR/kubernetes-key.pem (keys 0600). Existing
//! keys are never overwritten without --force. Validity is rcgen's default (1975 to 4096): an
//! appliance's certificates must not expire under it; rotate by running init again.
//!
//! `etcd pki client NAME --dir DIR` signs a client certificate with DIR's CA: DIR/NAME.pem and
//! DIR/NAME-key.pem, CN=NAME (the user name etcd's --client-cert-auth takes from it).

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const USAGE: &str = "usage: etcd pki init --dir DIR --node NAME=IP [--node NAME=IP ...] [--force]
       etcd pki client NAME --dir DIR [--force]

Writes DIR/ca.pem, ca-key.pem, kubernetes.pem and kubernetes-key.pem: a CA and one certificate
for every member (SANs: each node's IP and name, 127.0.0.1, localhost), usable for client and
peer TLS and as a client certificate, as the seed's cfssl step made them. ECDSA P-256.
`client NAME` adds DIR/NAME.pem and NAME-key.pem: a client certificate with CN=NAME from DIR's CA.
";

struct Options {
    /// `client NAME`, or None for `init`.
    client: Option<String>,
    dir: PathBuf,
    nodes: Vec<(String, IpAddr)>,
    force: bool,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut rest = args.iter();
    let client = match rest.next().map(String::as_str) {
        Some("init") => None,
        Some("client") => match rest.next() {
            Some(name) if !name.is_empty() && !name.starts_with('-') => Some(name.clone()),
            _ => return Err("pki client needs the client's name (its certificate's CN)".into()),
        },
        Some(other) => return Err(format!("unknown pki command {other:?}")),
        None => return Err("no pki command given".into()),
    };
    let mut dir = None;
    let mut nodes = Vec::new();
    let mut force = false;
    while let Some(arg) = rest.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if name.starts_with('-') => (name, Some(value.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| rest.next().cloned())
                .ok_or(format!("flag needs an argument: {name}"))
        };
        match name.trim_start_matches('-') {
            "dir" => dir = Some(PathBuf::from(value()?)),
            "node" => {
                let text = value()?;
                let (node, ip) = text
                    .split_once('=')
                    .ok_or(format!("--node {text:?}: expected NAME=IP"))?;
                let ip: IpAddr = ip
                    .parse()
                    .map_err(|_| format!("--node {text:?}: {ip:?} is not an IP address"))?;
                if node.is_empty() {
                    return Err(format!("--node {text:?}: empty name"));
                }
                nodes.push((node.to_string(), ip));
            }
            "force" => force = true,
            other => return Err(format!("unknown flag: --{other}")),
        }
    }
    let dir = dir.ok_or("--dir is required")?;
    if nodes.is_empty() && client.is_none() {
        return Err("at least one --node NAME=IP is required".into());
    }
    Ok(Options {
        client,
        dir,
        nodes,
        force,
    })
}

pub fn main(args: &[String]) -> ExitCode {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let result = parse(args).and_then(|options| match &options.client {
        Some(name) => client(&options, name),
        None => init(&options),
    });
    match result {
        Ok(written) => {
            for path in written {
                println!("wrote {}", path.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("etcd pki: {e}");
            ExitCode::from(1)
        }
    }
}

fn init(options: &Options) -> Result<Vec<PathBuf>, String> {
    let names = [
        "ca.pem",
        "ca-key.pem",
        "kubernetes.pem",
        "kubernetes-key.pem",
    ];
    let paths: Vec<PathBuf> = names.iter().map(|n| options.dir.join(n)).collect();
    if !options.force {
        if let Some(existing) = paths.iter().find(|p| p.exists()) {
            return Err(format!(
                "{} exists; refusing to overwrite keys (use --force)",
                existing.display()
            ));
        }
    }
    std::fs::create_dir_all(&options.dir).map_err(|e| format!("{}: {e}", options.dir.display()))?;
    let error = |e: rcgen::Error| format!("making certificates: {e}");

    let ca_key = KeyPair::generate().map_err(error)?;
    let ca = ca_params().self_signed(&ca_key).map_err(error)?;

    let mut sans = vec![
        SanType::IpAddress("127.0.0.1".parse().expect("literal")),
        SanType::DnsName("localhost".try_into().map_err(error)?),
    ];
    for (name, ip) in &options.nodes {
        sans.push(SanType::IpAddress(*ip));
        sans.push(SanType::DnsName(name.as_str().try_into().map_err(error)?));
    }
    let mut params = CertificateParams::default();
    params.subject_alt_names = sans;
    let mut subject = DistinguishedName::new();
    subject.push(DnType::CommonName, "kubernetes");
    params.distinguished_name = subject;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let key = KeyPair::generate().map_err(error)?;
    let certificate = params.signed_by(&key, &ca, &ca_key).map_err(error)?;

    write(&paths[0], ca.pem().as_bytes(), 0o644)?;
    write(&paths[1], ca_key.serialize_pem().as_bytes(), 0o600)?;
    write(&paths[2], certificate.pem().as_bytes(), 0o644)?;
    write(&paths[3], key.serialize_pem().as_bytes(), 0o600)?;
    Ok(paths)
}

/// The CA's certificate parameters. `client` signs with the CA key under the same subject, so
/// what it issues chains to the ca.pem that `init` wrote.
fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, "etcd CA");
    params.distinguished_name = name;
    params
}

fn client(options: &Options, name: &str) -> Result<Vec<PathBuf>, String> {
    let paths = [
        options.dir.join(format!("{name}.pem")),
        options.dir.join(format!("{name}-key.pem")),
    ];
    if !options.force {
        if let Some(existing) = paths.iter().find(|p| p.exists()) {
            return Err(format!(
                "{} exists; refusing to overwrite keys (use --force)",
                existing.display()
            ));
        }
    }
    let ca_key_path = options.dir.join("ca-key.pem");
    let ca_key_pem = std::fs::read_to_string(&ca_key_path).map_err(|e| {
        format!(
            "{}: {e} (make the CA first with `etcd pki init`)",
            ca_key_path.display()
        )
    })?;
    let error = |e: rcgen::Error| format!("making the client certificate: {e}");
    let ca_key =
        KeyPair::from_pem(&ca_key_pem).map_err(|e| format!("{}: {e}", ca_key_path.display()))?;
    let ca = ca_params().self_signed(&ca_key).map_err(error)?;
    let mut params = CertificateParams::default();
    let mut subject = DistinguishedName::new();
    subject.push(DnType::CommonName, name);
    params.distinguished_name = subject;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let key = KeyPair::generate().map_err(error)?;
    let certificate = params.signed_by(&key, &ca, &ca_key).map_err(error)?;
    write(&paths[0], certificate.pem().as_bytes(), 0o644)?;
    write(&paths[1], key.serialize_pem().as_bytes(), 0o600)?;
    Ok(paths.to_vec())
}

/// Writes via a temporary file and rename, so a key is never left half written.
fn write(path: &Path, bytes: &[u8], mode: u32) -> Result<(), String> {
    let temporary = path.with_extension("tmp");
    let result = (|| -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(mode)
            .open(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    })();
    result.map_err(|e| format!("{}: {e}", path.display()))
}
