//! rustls configurations from etcd's TLS flags: certificate files or --auto-tls (a self-signed
//! certificate made at start), client certificates required and checked against a CA, a
//! revocation list (--client-crl-file / --peer-crl-file), an allowed CN (--peer-cert-allowed-cn)
//! or hostname (--*-cert-allowed-hostname), and --cipher-suites by Go's names.

mod verifier;
pub mod x509;

use futures_rustls::rustls::client::danger::ServerCertVerifier;
use futures_rustls::rustls::crypto::{ring, CryptoProvider};
use futures_rustls::rustls::server::WebPkiClientVerifier;
use futures_rustls::rustls::{ClientConfig, RootCertStore, ServerConfig, SupportedCipherSuite};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;
pub use verifier::AcceptAnyServer;
use verifier::CheckedClients;

/// TLS settings of one side (clients or peers).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub trusted_ca_file: Option<PathBuf>,
    /// Require a client certificate signed by trusted_ca_file.
    pub client_cert_auth: bool,
    /// Certificates this revocation list names are refused.
    pub crl_file: Option<PathBuf>,
    /// --auto-tls / --peer-auto-tls: a self-signed certificate made at start when no files.
    pub auto_tls: bool,
    /// --peer-cert-allowed-cn: the CN a peer's certificate must carry.
    pub allowed_cn: Option<String>,
    /// --client-cert-allowed-hostname / --peer-cert-allowed-hostname: a name the certificate
    /// must be valid for.
    pub allowed_hostname: Option<String>,
    /// --experimental-peer-skip-client-san-verification: a peer's certificate need not name
    /// the address it connects from.
    pub skip_client_san_verification: bool,
}

fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certificates: Result<Vec<_>, _> = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .collect();
    match certificates {
        Ok(list) if !list.is_empty() => Ok(list),
        Ok(_) => Err(format!("{}: no certificate found", path.display())),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

fn read_roots(ca_file: &Path, flag: &str) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for certificate in read_certificates(ca_file).map_err(|e| format!("--{flag}: {e}"))? {
        roots
            .add(certificate)
            .map_err(|e| format!("--{flag}: {e}"))?;
    }
    Ok(roots)
}

fn read_crls(
    path: &Path,
    flag: &str,
) -> Result<Vec<CertificateRevocationListDer<'static>>, String> {
    let crls: Result<Vec<_>, _> = CertificateRevocationListDer::pem_file_iter(path)
        .map_err(|e| format!("--{flag}: {}: {e}", path.display()))?
        .collect();
    match crls {
        Ok(list) if !list.is_empty() => Ok(list),
        Ok(_) => Err(format!(
            "--{flag}: {}: no revocation list found",
            path.display()
        )),
        Err(e) => Err(format!("--{flag}: {}: {e}", path.display())),
    }
}

type KeyPair = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

fn read_key_pair(files: &TlsFiles, flag_prefix: &str) -> Result<KeyPair, String> {
    let cert_file = files
        .cert_file
        .as_ref()
        .ok_or(format!("--{flag_prefix}cert-file is required for TLS"))?;
    let key_file = files
        .key_file
        .as_ref()
        .ok_or(format!("--{flag_prefix}key-file is required for TLS"))?;
    let certificates =
        read_certificates(cert_file).map_err(|e| format!("--{flag_prefix}cert-file: {e}"))?;
    let key = PrivateKeyDer::from_pem_file(key_file)
        .map_err(|e| format!("--{flag_prefix}key-file: {}: {e}", key_file.display()))?;
    Ok((certificates, key))
}

/// --auto-tls: a self-signed certificate for `hosts` (the listen URLs' hosts), made now and
/// kept in memory, as etcd's SelfCert (ECDSA P-256). Peers and clients of an auto-TLS member
/// encrypt but cannot verify it.
fn self_signed(hosts: &[String], flag_prefix: &str) -> Result<KeyPair, String> {
    let failed = |e: rcgen::Error| format!("--{flag_prefix}auto-tls: {e}");
    let mut names: Vec<String> = hosts.to_vec();
    names.sort();
    names.dedup();
    let mut params = rcgen::CertificateParams::new(names).map_err(failed)?;
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, "etcd");
    params.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let key = rcgen::KeyPair::generate().map_err(failed)?;
    let certificate = params.self_signed(&key).map_err(failed)?;
    let key = PrivateKeyDer::try_from(key.serialize_der())
        .map_err(|e| format!("--{flag_prefix}auto-tls: {e}"))?;
    Ok((vec![certificate.der().clone()], key))
}

/// Whether this side's certificate is made at start (--auto-tls without certificate files).
pub fn is_auto(files: &TlsFiles) -> bool {
    files.auto_tls && files.cert_file.is_none() && files.key_file.is_none()
}

/// Go's TLS 1.2 cipher suite names and rustls's suites for them. Go always enables TLS 1.3
/// with its own suites; so does this.
const CIPHER_SUITES: &[(&str, &SupportedCipherSuite)] = {
    use futures_rustls::rustls::crypto::ring::cipher_suite::*;
    &[
        (
            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            &TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        ),
        (
            "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
            &TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        ),
        (
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
            &TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        ),
        (
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
            &TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        ),
        (
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            &TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        ),
        (
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            &TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        ),
        (
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
            &TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ),
        (
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
            &TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ),
    ]
};

/// Go's other suite names, which etcd takes but rustls does not implement (no forward secrecy,
/// or CBC, RC4, 3DES).
const UNOFFERED_SUITES: &[&str] = &[
    "TLS_RSA_WITH_RC4_128_SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
];

/// The crypto provider with --cipher-suites applied (empty: rustls's defaults).
pub fn provider(cipher_suites: &[String]) -> Result<Arc<CryptoProvider>, String> {
    let mut provider = ring::default_provider();
    if cipher_suites.is_empty() {
        return Ok(Arc::new(provider));
    }
    let mut chosen: Vec<SupportedCipherSuite> = provider
        .cipher_suites
        .iter()
        .filter(|suite| suite.tls13().is_some())
        .copied()
        .collect();
    for name in cipher_suites {
        match CIPHER_SUITES.iter().find(|(go_name, _)| go_name == name) {
            Some((_, suite)) => chosen.push(**suite),
            None if UNOFFERED_SUITES.contains(&name.as_str()) => {
                return Err(format!(
                    "--cipher-suites: {name} is not offered by this etcd: only ECDHE suites with AES-GCM or ChaCha20-Poly1305 are"
                ))
            }
            None => return Err(format!("unexpected TLS cipher suite {name:?}")),
        }
    }
    provider.cipher_suites = chosen;
    Ok(Arc::new(provider))
}

/// The TLS client a member dials its peers with: it trusts --peer-trusted-ca-file and presents
/// the member's own peer certificate (peers may require it with --peer-client-cert-auth). With
/// --peer-auto-tls it presents its self-signed certificate and, as etcd, verifies no one's.
pub fn peer_client_config(
    files: &TlsFiles,
    hosts: &[String],
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<ClientConfig>, String> {
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    let (builder, (certificates, key)) = if is_auto(files) {
        let accept: Arc<dyn ServerCertVerifier> = Arc::new(AcceptAnyServer(provider.clone()));
        let builder = builder.dangerous().with_custom_certificate_verifier(accept);
        (builder, self_signed(hosts, "peer-")?)
    } else {
        let ca_file = files.trusted_ca_file.as_ref().ok_or(
            "--peer-trusted-ca-file is required to verify peers reached over https".to_string(),
        )?;
        let roots = read_roots(ca_file, "peer-trusted-ca-file")?;
        (
            builder.with_root_certificates(roots),
            read_key_pair(files, "peer-")?,
        )
    };
    let config = builder
        .with_client_auth_cert(certificates, key)
        .map_err(|e| format!("--peer-cert-file/--peer-key-file: {e}"))?;
    Ok(Arc::new(config))
}

/// Where Go looks for the system's CA bundle on Linux (crypto/x509's certFiles), after
/// $SSL_CERT_FILE.
const SYSTEM_CA_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/pki/tls/cacert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// An HTTP/1.1 TLS client trusting the system's CA bundle, as Go's default transport (the
/// --discovery service's).
pub fn system_client_config() -> Result<Arc<ClientConfig>, String> {
    let from_env = std::env::var_os("SSL_CERT_FILE").map(PathBuf::from);
    let bundle = from_env
        .into_iter()
        .chain(SYSTEM_CA_BUNDLES.iter().map(PathBuf::from))
        .find(|path| path.exists())
        .ok_or("x509: no system CA bundle found (set SSL_CERT_FILE)")?;
    let mut roots = RootCertStore::empty();
    for certificate in read_certificates(&bundle)? {
        // A bundle may hold certificates rustls cannot use; the rest still serve.
        let _ = roots.add(certificate);
    }
    let mut config = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A TLS server for one side (clients or peers; `hosts`: its listen URLs' hosts, for an
/// auto-TLS certificate). ALPN offers h2 (gRPC; recent grpc-go refuses a TLS server that does
/// not negotiate it) and http/1.1 (/health, curl).
pub fn server_config(
    files: &TlsFiles,
    flag_prefix: &str,
    hosts: &[String],
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<ServerConfig>, String> {
    let auto = is_auto(files);
    let (certificates, key) = if auto {
        self_signed(hosts, flag_prefix)?
    } else {
        read_key_pair(files, flag_prefix)?
    };
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    let crl_flag = if flag_prefix.is_empty() {
        "client-crl-file"
    } else {
        "peer-crl-file"
    };
    let checks_certificates = files.client_cert_auth || files.crl_file.is_some();
    let builder = match (&files.trusted_ca_file, checks_certificates && !auto) {
        (Some(ca_file), true) => {
            let roots = read_roots(ca_file, &format!("{flag_prefix}trusted-ca-file"))?;
            let mut verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
            if let Some(crl_file) = &files.crl_file {
                verifier = verifier.with_crls(read_crls(crl_file, crl_flag)?);
            }
            if !files.client_cert_auth {
                verifier = verifier.allow_unauthenticated();
            }
            let verifier = verifier
                .build()
                .map_err(|e| format!("--{flag_prefix}trusted-ca-file: {e}"))?;
            builder.with_client_cert_verifier(Arc::new(CheckedClients::new(
                verifier,
                files.allowed_cn.clone(),
                files.allowed_hostname.clone(),
            )))
        }
        (None, true) if files.crl_file.is_some() => {
            return Err(format!(
                "--{crl_flag} needs --{flag_prefix}trusted-ca-file to verify certificates"
            ))
        }
        (None, true) => {
            return Err(format!(
                "--{flag_prefix}client-cert-auth needs --{flag_prefix}trusted-ca-file to verify certificates"
            ))
        }
        (_, false) => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(certificates, key)
        .map_err(|e| format!("--{flag_prefix}cert-file/--{flag_prefix}key-file: {e}"))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cipher_suites_by_gos_names() {
        let chosen = provider(&["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".into()]).unwrap();
        let tls12: Vec<_> = chosen
            .cipher_suites
            .iter()
            .filter(|s| s.tls13().is_none())
            .collect();
        assert_eq!(tls12.len(), 1);
        assert_eq!(
            provider(&["TLS_RSA_WITH_AES_128_CBC_SHA".into()]).unwrap_err(),
            "--cipher-suites: TLS_RSA_WITH_AES_128_CBC_SHA is not offered by this etcd: only ECDHE suites with AES-GCM or ChaCha20-Poly1305 are"
        );
        assert_eq!(
            provider(&["TLS_NONSENSE".into()]).unwrap_err(),
            "unexpected TLS cipher suite \"TLS_NONSENSE\""
        );
    }
}
