//! Certificate checks rustls's own verifiers do not make: etcd's --peer-cert-allowed-cn and
//! --*-cert-allowed-hostname on top of chain verification, and the no-verification client that
//! peers use with --peer-auto-tls (self-signed certificates cannot be verified; etcd skips it).

use futures_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use futures_rustls::rustls::crypto::{
    verify_tls12_signature, verify_tls13_signature, CryptoProvider,
};
use futures_rustls::rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use futures_rustls::rustls::{DigitallySignedStruct, DistinguishedName, Error, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use std::sync::Arc;

/// A client-certificate verifier that, once the chain is verified, also requires the
/// certificate's CN and/or a name it is valid for.
#[derive(Debug)]
pub struct CheckedClients {
    inner: Arc<dyn ClientCertVerifier>,
    allowed_cn: Option<String>,
    allowed_hostname: Option<String>,
}

impl CheckedClients {
    pub fn new(
        inner: Arc<dyn ClientCertVerifier>,
        allowed_cn: Option<String>,
        allowed_hostname: Option<String>,
    ) -> CheckedClients {
        CheckedClients {
            inner,
            allowed_cn,
            allowed_hostname,
        }
    }
}

impl ClientCertVerifier for CheckedClients {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        if let Some(allowed) = &self.allowed_cn {
            let cn = super::x509::common_name(end_entity).unwrap_or_default();
            if cn != *allowed {
                return Err(Error::General(format!(
                    "CommonName authentication failed: {cn:?} is not the allowed {allowed:?}"
                )));
            }
        }
        if let Some(host) = &self.allowed_hostname {
            if !super::x509::valid_for(end_entity, host) {
                return Err(Error::General(format!(
                    "the client certificate is not valid for the allowed hostname {host:?}"
                )));
            }
        }
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Accepts any server certificate (its handshake signature is still checked): what a member
/// with --peer-auto-tls does with its peers' self-signed certificates, as etcd does, and what
/// etcdctl's --insecure-skip-tls-verify asks of the client.
#[derive(Debug)]
pub struct AcceptAnyServer(pub Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
