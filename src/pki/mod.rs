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

use argh::FromArgs;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(FromArgs)]
/// Makes the seed's certificates (ECDSA P-256): a CA and one certificate for every member,
/// usable for client and peer TLS and as a client certificate, as the seed's cfssl step made
/// them; or a client certificate from that CA.
struct Pki {
    #[argh(subcommand)]
    command: Command,
}

#[derive(FromArgs)]
#[argh(subcommand)]
enum Command {
    Init(Init),
    Client(Client),
}

#[derive(FromArgs)]
#[argh(subcommand, name = "init")]
/// writes DIR/ca.pem, ca-key.pem, kubernetes.pem and kubernetes-key.pem (SANs: each node's IP
/// and name, 127.0.0.1, localhost)
struct Init {
    /// where the files go
    #[argh(option)]
    dir: PathBuf,
    /// a member as NAME=IP (once per member)
    #[argh(option, from_str_fn(node))]
    node: Vec<(String, IpAddr)>,
    /// overwrite existing keys
    #[argh(switch)]
    force: bool,
}

#[derive(FromArgs)]
#[argh(subcommand, name = "client")]
/// writes DIR/NAME.pem and NAME-key.pem: a client certificate with CN=NAME (the user etcd's
/// --client-cert-auth takes from it) from DIR's CA
struct Client {
    /// the client's name (its certificate's CN)
    #[argh(positional)]
    name: String,
    /// the directory holding the CA (as `init` made it)
    #[argh(option)]
    dir: PathBuf,
    /// overwrite an existing key
    #[argh(switch)]
    force: bool,
}

/// `--node NAME=IP`.
fn node(text: &str) -> Result<(String, IpAddr), String> {
    let (name, ip) = text
        .split_once('=')
        .ok_or(format!("--node {text:?}: expected NAME=IP"))?;
    let ip: IpAddr = ip
        .parse()
        .map_err(|_| format!("--node {text:?}: {ip:?} is not an IP address"))?;
    if name.is_empty() {
        return Err(format!("--node {text:?}: empty name"));
    }
    Ok((name.to_string(), ip))
}

struct Options {
    /// `client NAME`, or None for `init`.
    client: Option<String>,
    dir: PathBuf,
    nodes: Vec<(String, IpAddr)>,
    force: bool,
}

fn options(command: Command) -> Result<Options, String> {
    Ok(match command {
        Command::Init(init) => {
            if init.node.is_empty() {
                return Err("at least one --node NAME=IP is required".into());
            }
            Options {
                client: None,
                dir: init.dir,
                nodes: init.node,
                force: init.force,
            }
        }
        Command::Client(client) => {
            if client.name.is_empty() || client.name.starts_with('-') {
                return Err("pki client needs the client's name (its certificate's CN)".into());
            }
            Options {
                client: Some(client.name),
                dir: client.dir,
                nodes: Vec::new(),
                force: client.force,
            }
        }
    })
}

pub fn main(args: &[String]) -> ExitCode {
    let pki: Pki = match crate::cli::parse("etcd pki", args) {
        Ok(pki) => pki,
        Err(exit) => return exit,
    };
    let result = options(pki.command).and_then(|options| match &options.client {
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
