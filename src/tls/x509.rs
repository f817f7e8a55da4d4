//! The few things read from a certificate here: the subject's common name (etcd's allowed-CN
//! check and its CN-as-user rule) and the subject alternative names (allowed-hostname). A
//! minimal DER walker over the certificate the TLS library has already verified.

/// One DER element: (tag, contents, rest of the input).
pub(crate) fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (length, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let count = (first & 0x7f) as usize;
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let length = rest[..count]
            .iter()
            .fold(0usize, |n, b| (n << 8) | *b as usize);
        (length, &rest[count..])
    };
    (rest.len() >= length).then(|| (tag, &rest[..length], &rest[length..]))
}

/// The elements of a constructed value.
pub(crate) fn children(mut input: &[u8]) -> Vec<(u8, &[u8])> {
    let mut out = Vec::new();
    while let Some((tag, contents, rest)) = element(input) {
        out.push((tag, contents));
        input = rest;
    }
    out
}

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OID: u8 = 0x06;
/// 2.5.4.3, commonName.
const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];
/// 2.5.29.17, subjectAltName.
const SUBJECT_ALT_NAME: &[u8] = &[0x55, 0x1d, 0x11];

/// The TBSCertificate's fields.
fn tbs_fields(certificate: &[u8]) -> Option<Vec<(u8, &[u8])>> {
    let (tag, body, _) = element(certificate)?;
    if tag != SEQUENCE {
        return None;
    }
    let (tag, tbs) = *children(body).first()?;
    (tag == SEQUENCE).then(|| children(tbs))
}

/// The subject's common name, if it has one.
pub fn common_name(certificate: &[u8]) -> Option<String> {
    let fields = tbs_fields(certificate)?;
    // [0] version is optional; then serial, signature, issuer, validity, subject.
    let skip = usize::from(fields.first()?.0 == 0xa0);
    let (_, subject) = *fields.get(skip + 4)?;
    for (tag, set) in children(subject) {
        if tag != SET {
            continue;
        }
        for (_, attribute) in children(set) {
            let parts = children(attribute);
            if let [(OID, oid), (_, value)] = parts.as_slice() {
                if *oid == COMMON_NAME {
                    return String::from_utf8(value.to_vec()).ok();
                }
            }
        }
    }
    None
}

/// A subject alternative name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AltName {
    Dns(String),
    Ip(std::net::IpAddr),
}

pub fn alt_names(certificate: &[u8]) -> Vec<AltName> {
    let Some(fields) = tbs_fields(certificate) else {
        return Vec::new();
    };
    let Some((_, extensions)) = fields.iter().find(|(tag, _)| *tag == 0xa3) else {
        return Vec::new();
    };
    let Some((_, list, _)) = element(extensions) else {
        return Vec::new();
    };
    let mut names = Vec::new();
    for (_, extension) in children(list) {
        let parts = children(extension);
        let Some((OID, oid)) = parts.first() else {
            continue;
        };
        if *oid != SUBJECT_ALT_NAME {
            continue;
        }
        // The value is the last part (an OCTET STRING holding a SEQUENCE of names).
        let Some((_, value)) = parts.last() else {
            continue;
        };
        let Some((_, general_names, _)) = element(value) else {
            continue;
        };
        for (tag, name) in children(general_names) {
            match (tag, name.len()) {
                (0x82, _) => names.push(AltName::Dns(String::from_utf8_lossy(name).into_owned())),
                (0x87, 4) => names.push(AltName::Ip(std::net::IpAddr::from(
                    <[u8; 4]>::try_from(name).expect("4 bytes"),
                ))),
                (0x87, 16) => names.push(AltName::Ip(std::net::IpAddr::from(
                    <[u8; 16]>::try_from(name).expect("16 bytes"),
                ))),
                _ => {}
            }
        }
    }
    names
}

/// Whether the certificate is valid for `host` (Go's VerifyHostname: an IP against the IP
/// names, a name against the DNS names with one leading wildcard label).
pub fn valid_for(certificate: &[u8], host: &str) -> bool {
    let names = alt_names(certificate);
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return names.contains(&AltName::Ip(ip));
    }
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    names.iter().any(|name| match name {
        AltName::Dns(pattern) => {
            let pattern = pattern.trim_end_matches('.').to_ascii_lowercase();
            match pattern.strip_prefix("*.") {
                Some(suffix) => host
                    .split_once('.')
                    .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix),
                None => pattern == host,
            }
        }
        AltName::Ip(_) => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_rcgen_writes() {
        let mut params =
            rcgen::CertificateParams::new(vec!["etcd.example.com".into(), "*.nodes.local".into()])
                .unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "kubernetes");
        params
            .subject_alt_names
            .push(rcgen::SanType::IpAddress("10.140.0.2".parse().unwrap()));
        let key = rcgen::KeyPair::generate().unwrap();
        let der = params.self_signed(&key).unwrap().der().to_vec();
        assert_eq!(common_name(&der).as_deref(), Some("kubernetes"));
        assert!(valid_for(&der, "etcd.example.com"));
        assert!(valid_for(&der, "node1.nodes.local"));
        assert!(!valid_for(&der, "a.b.nodes.local"));
        assert!(valid_for(&der, "10.140.0.2"));
        assert!(!valid_for(&der, "10.140.0.3"));
        assert_eq!(common_name(&der[..20]), None);
    }

    #[test]
    fn fuzz_certificates() {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["a.example".into()]).unwrap();
        let der = params.self_signed(&key).unwrap().der().to_vec();
        crate::fuzz::run("certificates", &[der], |bytes| {
            let _ = common_name(bytes);
            let _ = valid_for(bytes, "a.example");
        });
    }
}
