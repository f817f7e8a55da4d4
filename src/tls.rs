//! rustls configurations from etcd's certificate flags.

use crate::config::TlsFiles;
use futures_rustls::rustls::crypto::ring;
use futures_rustls::rustls::server::WebPkiClientVerifier;
use futures_rustls::rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;

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

fn read_key_pair(
    files: &TlsFiles,
    flag_prefix: &str,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
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

/// The TLS client a member dials its peers with: it trusts --peer-trusted-ca-file and presents
/// the member's own peer certificate (peers may require it with --peer-client-cert-auth).
pub fn peer_client_config(files: &TlsFiles) -> Result<Arc<ClientConfig>, String> {
    let ca_file = files.trusted_ca_file.as_ref().ok_or(
        "--peer-trusted-ca-file is required to verify peers reached over https".to_string(),
    )?;
    let roots = read_roots(ca_file, "peer-trusted-ca-file")?;
    let (certificates, key) = read_key_pair(files, "peer-")?;
    let config = ClientConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_client_auth_cert(certificates, key)
        .map_err(|e| format!("--peer-cert-file/--peer-key-file: {e}"))?;
    Ok(Arc::new(config))
}

/// A TLS server for one side (clients or peers). ALPN offers h2 (gRPC; recent grpc-go refuses a
/// TLS server that does not negotiate it) and http/1.1 (/health, curl).
pub fn server_config(files: &TlsFiles, flag_prefix: &str) -> Result<Arc<ServerConfig>, String> {
    let (certificates, key) = read_key_pair(files, flag_prefix)?;
    let provider = Arc::new(ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    let builder = match (&files.trusted_ca_file, files.client_cert_auth) {
        (Some(ca_file), true) => {
            let roots = read_roots(ca_file, &format!("{flag_prefix}trusted-ca-file"))?;
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| format!("--{flag_prefix}trusted-ca-file: {e}"))?;
            builder.with_client_cert_verifier(verifier)
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
