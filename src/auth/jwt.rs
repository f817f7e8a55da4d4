//! JWT tokens (etcd's `--auth-token jwt,pub-key=FILE,priv-key=FILE,sign-method=ALG,ttl=DUR`):
//! `base64url(header).base64url(claims).base64url(signature)` with etcd's claims
//! `{"exp":...,"revision":...,"username":...}`. Any member holding the public key verifies a
//! token another member signed; a member given only the public key verifies and never signs
//! (etcd's verify-only mode). Signing and verifying use ring, already linked for TLS.

use crate::tls::x509::{children, element};
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair, UnparsedPublicKey};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{PrivateKeyDer, SubjectPublicKeyInfoDer};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// etcd's default token lifetime.
const DEFAULT_TTL: Duration = Duration::from_secs(300);
/// Tokens longer than this are not looked at (etcd's are a few hundred bytes).
const MAX_TOKEN_BYTES: usize = 8192;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    /// RSASSA-PKCS1-v1_5
    Rs,
    /// RSASSA-PSS
    Ps,
    Es,
    Hs,
}

#[derive(Clone, Copy, Debug)]
struct Method {
    name: &'static str,
    family: Family,
    bits: u16,
}

const METHODS: [Method; 11] = [
    Method {
        name: "RS256",
        family: Family::Rs,
        bits: 256,
    },
    Method {
        name: "RS384",
        family: Family::Rs,
        bits: 384,
    },
    Method {
        name: "RS512",
        family: Family::Rs,
        bits: 512,
    },
    Method {
        name: "PS256",
        family: Family::Ps,
        bits: 256,
    },
    Method {
        name: "PS384",
        family: Family::Ps,
        bits: 384,
    },
    Method {
        name: "PS512",
        family: Family::Ps,
        bits: 512,
    },
    Method {
        name: "ES256",
        family: Family::Es,
        bits: 256,
    },
    Method {
        name: "ES384",
        family: Family::Es,
        bits: 384,
    },
    Method {
        name: "HS256",
        family: Family::Hs,
        bits: 256,
    },
    Method {
        name: "HS384",
        family: Family::Hs,
        bits: 384,
    },
    Method {
        name: "HS512",
        family: Family::Hs,
        bits: 512,
    },
];

enum Signer {
    Rsa(RsaKeyPair),
    Ecdsa(EcdsaKeyPair),
    Hmac(ring::hmac::Key),
}

pub struct Jwt {
    method: Method,
    /// None: verify-only (only a public key was given).
    signer: Option<Signer>,
    /// The public key as ring verifies with it (RSAPublicKey DER, or an EC point).
    public_key: Vec<u8>,
    ttl: Duration,
}

fn ecdsa_signing(method: Method) -> &'static signature::EcdsaSigningAlgorithm {
    match method.bits {
        256 => &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        _ => &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
    }
}

fn hmac_algorithm(method: Method) -> ring::hmac::Algorithm {
    match method.bits {
        256 => ring::hmac::HMAC_SHA256,
        384 => ring::hmac::HMAC_SHA384,
        _ => ring::hmac::HMAC_SHA512,
    }
}

fn read(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("--auth-token jwt: reading {path}: {e}"))
}

/// The key inside a SubjectPublicKeyInfo (the BIT STRING's bytes).
fn spki_key(spki: &[u8]) -> Option<Vec<u8>> {
    let (_, body, _) = element(spki)?;
    let fields = children(body);
    let (tag, bits) = *fields.get(1)?;
    (tag == 0x03 && bits.first() == Some(&0)).then(|| bits[1..].to_vec())
}

/// (private scalar, public point) of a SEC1 EC private key ("EC PRIVATE KEY").
fn sec1_parts(der: &[u8]) -> Option<(&[u8], &[u8])> {
    let (_, body, _) = element(der)?;
    let fields = children(body);
    let (_, private) = *fields.iter().find(|(tag, _)| *tag == 0x04)?;
    let (_, wrapped) = *fields.iter().find(|(tag, _)| *tag == 0xa1)?;
    let (tag, bits, _) = element(wrapped)?;
    (tag == 0x03 && bits.first() == Some(&0)).then(|| (private, &bits[1..]))
}

fn private_key(method: Method, pem: &[u8]) -> Result<Signer, String> {
    let rng = SystemRandom::new();
    let bad = |e: &dyn std::fmt::Display| format!("--auth-token jwt: priv-key: {e}");
    if method.family == Family::Hs {
        return Ok(Signer::Hmac(ring::hmac::Key::new(
            hmac_algorithm(method),
            pem,
        )));
    }
    let key = PrivateKeyDer::from_pem_slice(pem).map_err(|e| bad(&e))?;
    let rsa = matches!(method.family, Family::Rs | Family::Ps);
    match (key, rsa) {
        (PrivateKeyDer::Pkcs1(der), true) => RsaKeyPair::from_der(der.secret_pkcs1_der())
            .map(Signer::Rsa)
            .map_err(|e| bad(&e)),
        (PrivateKeyDer::Pkcs8(der), true) => RsaKeyPair::from_pkcs8(der.secret_pkcs8_der())
            .map(Signer::Rsa)
            .map_err(|e| bad(&e)),
        (PrivateKeyDer::Pkcs8(der), false) => {
            EcdsaKeyPair::from_pkcs8(ecdsa_signing(method), der.secret_pkcs8_der(), &rng)
                .map(Signer::Ecdsa)
                .map_err(|e| bad(&e))
        }
        (PrivateKeyDer::Sec1(der), false) => {
            let (private, public) = sec1_parts(der.secret_sec1_der())
                .ok_or_else(|| bad(&"an EC key without its public point"))?;
            EcdsaKeyPair::from_private_key_and_public_key(
                ecdsa_signing(method),
                private,
                public,
                &rng,
            )
            .map(Signer::Ecdsa)
            .map_err(|e| bad(&e))
        }
        _ => Err(bad(&format!("not a key for {}", method.name))),
    }
}

/// base64url without padding (RFC 7515).
fn encode(bytes: &[u8]) -> String {
    crate::golang::base64(bytes)
        .trim_end_matches('=')
        .replace('+', "-")
        .replace('/', "_")
}

fn decode(text: &str) -> Option<Vec<u8>> {
    if text.contains(['+', '/', '=']) {
        return None;
    }
    let mut standard = text.replace('-', "+").replace('_', "/");
    while !standard.len().is_multiple_of(4) {
        standard.push('=');
    }
    crate::golang::base64_decode(standard.as_bytes()).ok()
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Jwt {
    /// From the options after `jwt,` (etcd's: pub-key, priv-key, sign-method, ttl).
    pub fn from_options(options: &str) -> Result<Jwt, String> {
        let (mut public, mut private, mut method, mut ttl) = (None, None, None, DEFAULT_TTL);
        for option in options.split(',').filter(|o| !o.is_empty()) {
            let Some((name, value)) = option.split_once('=') else {
                return Err(format!("--auth-token jwt: invalid option {option:?}"));
            };
            match name {
                "pub-key" => public = Some(read(value)?),
                "priv-key" => private = Some(read(value)?),
                "sign-method" => {
                    let found = METHODS.iter().find(|m| m.name == value);
                    method = Some(*found.ok_or_else(|| {
                        format!("--auth-token jwt: sign-method {value:?} is not one of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, HS256, HS384, HS512")
                    })?);
                }
                "ttl" => ttl = crate::golang::parse_duration(value)?,
                other => log::warn!("--auth-token jwt: ignoring unknown option {other:?}"),
            }
        }
        let method = method.ok_or("--auth-token jwt: sign-method is required")?;
        let signer = private.map(|pem| private_key(method, &pem)).transpose()?;
        let from_signer = signer.as_ref().map(|s| match s {
            Signer::Rsa(key) => key.public().as_ref().to_vec(),
            Signer::Ecdsa(key) => key.public_key().as_ref().to_vec(),
            Signer::Hmac(_) => Vec::new(),
        });
        let from_file = match (public, method.family) {
            (Some(_), Family::Hs) | (None, _) => None,
            (Some(pem), _) => {
                let spki = SubjectPublicKeyInfoDer::from_pem_slice(&pem)
                    .map_err(|e| format!("--auth-token jwt: pub-key: {e}"))?;
                Some(spki_key(&spki).ok_or("--auth-token jwt: pub-key: not a public key")?)
            }
        };
        let public_key = match (from_signer, from_file) {
            (Some(derived), Some(given)) if derived != given => {
                return Err("auth: public and private keys don't match".to_string())
            }
            (Some(key), _) | (None, Some(key)) => key,
            (None, None) => return Err("auth: missing key data".to_string()),
        };
        Ok(Jwt {
            method,
            signer,
            public_key,
            ttl,
        })
    }

    /// A token for `user` at auth revision `revision`.
    pub fn sign(&self, user: &str, revision: u64) -> Result<String, String> {
        let signer = self
            .signer
            .as_ref()
            .ok_or("auth: token signing attempted with verify-only key")?;
        let header = format!(r#"{{"alg":"{}","typ":"JWT"}}"#, self.method.name);
        let mut claims = format!(
            r#"{{"exp":{},"revision":{revision},"username":"#,
            now_s() + self.ttl.as_secs()
        );
        crate::golang::json_string(user, &mut claims);
        claims.push('}');
        let signed = format!(
            "{}.{}",
            encode(header.as_bytes()),
            encode(claims.as_bytes())
        );
        let rng = SystemRandom::new();
        let signature = match signer {
            Signer::Rsa(key) => {
                let padding: &dyn signature::RsaEncoding =
                    match (self.method.family, self.method.bits) {
                        (Family::Rs, 256) => &signature::RSA_PKCS1_SHA256,
                        (Family::Rs, 384) => &signature::RSA_PKCS1_SHA384,
                        (Family::Rs, _) => &signature::RSA_PKCS1_SHA512,
                        (_, 256) => &signature::RSA_PSS_SHA256,
                        (_, 384) => &signature::RSA_PSS_SHA384,
                        _ => &signature::RSA_PSS_SHA512,
                    };
                let mut out = vec![0; key.public().modulus_len()];
                key.sign(padding, &rng, signed.as_bytes(), &mut out)
                    .map_err(|e| format!("auth: signing a token: {e}"))?;
                out
            }
            Signer::Ecdsa(key) => key
                .sign(&rng, signed.as_bytes())
                .map_err(|e| format!("auth: signing a token: {e}"))?
                .as_ref()
                .to_vec(),
            Signer::Hmac(key) => ring::hmac::sign(key, signed.as_bytes()).as_ref().to_vec(),
        };
        Ok(format!("{signed}.{}", encode(&signature)))
    }

    fn signature_valid(&self, signed: &[u8], signature: &[u8]) -> bool {
        let method = self.method;
        let algorithm: &dyn signature::VerificationAlgorithm = match (method.family, method.bits) {
            (Family::Hs, _) => {
                return match &self.signer {
                    Some(Signer::Hmac(key)) => ring::hmac::verify(key, signed, signature).is_ok(),
                    _ => false,
                }
            }
            (Family::Rs, 256) => &signature::RSA_PKCS1_2048_8192_SHA256,
            (Family::Rs, 384) => &signature::RSA_PKCS1_2048_8192_SHA384,
            (Family::Rs, _) => &signature::RSA_PKCS1_2048_8192_SHA512,
            (Family::Ps, 256) => &signature::RSA_PSS_2048_8192_SHA256,
            (Family::Ps, 384) => &signature::RSA_PSS_2048_8192_SHA384,
            (Family::Ps, _) => &signature::RSA_PSS_2048_8192_SHA512,
            (Family::Es, 256) => &signature::ECDSA_P256_SHA256_FIXED,
            (Family::Es, _) => &signature::ECDSA_P384_SHA384_FIXED,
        };
        UnparsedPublicKey::new(algorithm, &self.public_key)
            .verify(signed, signature)
            .is_ok()
    }

    /// The user a valid, unexpired token names (and the auth revision it was issued at).
    pub fn verify(&self, token: &str) -> Option<(String, u64)> {
        if token.len() > MAX_TOKEN_BYTES {
            return None;
        }
        let (signed, signature) = token.rsplit_once('.')?;
        let (header, claims) = signed.split_once('.')?;
        let header: serde_json::Value = serde_json::from_slice(&decode(header)?).ok()?;
        if header["alg"].as_str() != Some(self.method.name) {
            return None;
        }
        if !self.signature_valid(signed.as_bytes(), &decode(signature)?) {
            return None;
        }
        let claims: serde_json::Value = serde_json::from_slice(&decode(claims)?).ok()?;
        if claims["exp"]
            .as_f64()
            .is_some_and(|exp| exp <= now_s() as f64)
        {
            return None;
        }
        let user = claims["username"].as_str()?.to_string();
        Some((user, claims["revision"].as_f64()? as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_files(name: &str, algorithm: &'static rcgen::SignatureAlgorithm) -> (String, String) {
        let dir = std::env::temp_dir().join(format!("jwt-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let key = rcgen::KeyPair::generate_for(algorithm).unwrap();
        let private = dir.join("private.pem");
        let public = dir.join("public.pem");
        std::fs::write(&private, key.serialize_pem()).unwrap();
        std::fs::write(&public, key.public_key_pem()).unwrap();
        (private.display().to_string(), public.display().to_string())
    }

    #[test]
    fn signed_tokens_verify_where_only_the_public_key_is() {
        for (method, algorithm) in [
            ("ES256", &rcgen::PKCS_ECDSA_P256_SHA256),
            ("ES384", &rcgen::PKCS_ECDSA_P384_SHA384),
        ] {
            let (private, public) = key_files(method, algorithm);
            let signer = Jwt::from_options(&format!(
                ",pub-key={public},priv-key={private},sign-method={method}"
            ))
            .unwrap();
            let verifier =
                Jwt::from_options(&format!(",pub-key={public},sign-method={method}")).unwrap();
            let token = signer.sign("alice", 7).unwrap();
            assert_eq!(verifier.verify(&token), Some(("alice".to_string(), 7)));
            assert!(verifier
                .sign("alice", 7)
                .unwrap_err()
                .contains("verify-only"));
            // Tampered claims, a foreign algorithm, garbage: not valid.
            let (head, rest) = token.split_once('.').unwrap();
            let (_, signature) = rest.split_once('.').unwrap();
            let forged_claims = encode(br#"{"exp":99999999999,"revision":7,"username":"root"}"#);
            assert_eq!(
                verifier.verify(&format!("{head}.{forged_claims}.{signature}")),
                None
            );
            let none_alg = encode(br#"{"alg":"none","typ":"JWT"}"#);
            assert_eq!(
                verifier.verify(&format!("{none_alg}.{forged_claims}.")),
                None
            );
            assert_eq!(verifier.verify("a.b.c"), None);
            assert_eq!(verifier.verify(""), None);
        }
    }

    #[test]
    fn expired_tokens_and_mismatched_keys_are_refused() {
        let (private, public) = key_files("expiry", &rcgen::PKCS_ECDSA_P256_SHA256);
        let options = format!(",pub-key={public},priv-key={private},sign-method=ES256,ttl=0s");
        let jwt = Jwt::from_options(&options).unwrap();
        let token = jwt.sign("alice", 1).unwrap();
        assert_eq!(jwt.verify(&token), None, "a token whose exp has passed");
        let (_, other_public) = key_files("other", &rcgen::PKCS_ECDSA_P256_SHA256);
        let mismatch = format!(",pub-key={other_public},priv-key={private},sign-method=ES256");
        assert_eq!(
            Jwt::from_options(&mismatch).err().as_deref(),
            Some("auth: public and private keys don't match")
        );
        assert!(Jwt::from_options(",sign-method=ES256")
            .err()
            .unwrap()
            .contains("missing key"));
        assert!(
            Jwt::from_options(&format!(",pub-key={public},sign-method=XS1"))
                .err()
                .unwrap()
                .contains("sign-method")
        );
    }

    #[test]
    fn fuzz_jwt_tokens_and_keys() {
        let (private, public) = key_files("fuzz", &rcgen::PKCS_ECDSA_P256_SHA256);
        let jwt = Jwt::from_options(&format!(
            ",pub-key={public},priv-key={private},sign-method=ES256"
        ))
        .unwrap();
        let token = jwt.sign("alice", 3).unwrap();
        crate::fuzz::run("jwt tokens", &[token.into_bytes()], |bytes| {
            if let Some((user, _)) = jwt.verify(&String::from_utf8_lossy(bytes)) {
                assert_eq!(user, "alice", "only a token we signed verifies");
            }
        });
        let pem = std::fs::read(&public).unwrap();
        let dir = std::env::temp_dir().join(format!("jwt-fuzz-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("key.pem");
        crate::fuzz::run("jwt public keys", &[pem], |bytes| {
            std::fs::write(&path, bytes).unwrap();
            let _ = Jwt::from_options(&format!(",pub-key={},sign-method=ES256", path.display()));
        });
    }

    #[test]
    fn hmac_tokens() {
        let dir = std::env::temp_dir().join(format!("jwt-hmac-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let secret = dir.join("secret");
        std::fs::write(&secret, b"a shared secret").unwrap();
        let jwt = Jwt::from_options(&format!(",priv-key={},sign-method=HS256", secret.display()))
            .unwrap();
        let token = jwt.sign("bob", 3).unwrap();
        assert_eq!(jwt.verify(&token), Some(("bob".to_string(), 3)));
        assert_eq!(jwt.verify(&format!("{token}x")), None);
    }
}
