//! The room's TLS identity: the provisioned certificate and key, or a
//! self-signed pair made on first run and kept in the encrypted store. A bad
//! certificate is an error at start: there is no fallback to plain HTTP.

use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use zeroize::Zeroizing;

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// tls.certificate does not parse.
    #[error("the TLS certificate (tls.certificate) is not usable: {0}")]
    Certificate(String),
    /// tls.private_key does not parse or does not fit the certificate.
    #[error("the TLS private key (tls.private_key) is not usable: {0}")]
    Key(String),
    /// Only one of the two is set.
    #[error("tls.certificate and tls.private_key must be set together")]
    Half,
    /// A self-signed certificate could not be made.
    #[error("cannot make a self-signed certificate: {0}")]
    Generate(String),
}

/// A certificate chain and its key, as PEM.
#[derive(Debug)]
pub struct Identity {
    /// The chain, PEM.
    pub certificate: String,
    /// The key, PEM; zeroized on drop.
    pub private_key: Zeroizing<String>,
}

/// Whether the identity's certificate signed itself (its issuer is its
/// subject): the room's own, made on first run, rather than one IT
/// provisioned from a certificate authority. One that cannot be read counts
/// as self-signed.
pub fn self_signed_certificate(identity: &Identity) -> bool {
    let Some(Ok(first)) = CertificateDer::pem_slice_iter(identity.certificate.as_bytes()).next()
    else {
        return true;
    };
    webpki::EndEntityCert::try_from(&first).map_or(true, |cert| cert.issuer() == cert.subject())
}

/// Makes a self-signed identity for the given names.
pub fn self_signed(names: Vec<String>) -> Result<Identity, TlsError> {
    let certified =
        rcgen::generate_simple_self_signed(names).map_err(|e| TlsError::Generate(e.to_string()))?;
    Ok(Identity {
        certificate: certified.cert.pem(),
        private_key: Zeroizing::new(certified.signing_key.serialize_pem()),
    })
}

/// rustls' server configuration for an identity: TLS 1.2 and 1.3, ring.
pub fn server_config(identity: &Identity) -> Result<Arc<ServerConfig>, TlsError> {
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(identity.certificate.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| TlsError::Certificate(e.to_string()))?;
    if chain.is_empty() {
        return Err(TlsError::Certificate("no certificate in it".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(identity.private_key.as_bytes())
        .map_err(|e| TlsError::Key(e.to_string()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Certificate(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Key(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_self_signed_identity_serves() {
        let id = self_signed(vec!["localhost".into()]).unwrap();
        assert!(server_config(&id).is_ok());
    }

    #[test]
    fn the_room_s_own_certificate_is_self_signed_and_a_ca_s_is_not() {
        let own = self_signed(vec!["localhost".into()]).unwrap();
        assert!(self_signed_certificate(&own));
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let named = |name: &str| {
            let mut params = rcgen::CertificateParams::new(vec![name.into()]).unwrap();
            params.distinguished_name = rcgen::DistinguishedName::new();
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, name);
            params
        };
        let ca_params = named("Clinic CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let key = rcgen::KeyPair::generate().unwrap();
        let leaf = named("room3.clinic.example")
            .signed_by(&key, &issuer)
            .unwrap();
        let provisioned = Identity {
            certificate: leaf.pem() + &ca.pem(),
            private_key: Zeroizing::new(key.serialize_pem()),
        };
        assert!(!self_signed_certificate(&provisioned));
        assert!(server_config(&provisioned).is_ok());
    }

    #[test]
    fn a_key_that_does_not_fit_is_an_error() {
        let a = self_signed(vec!["a".into()]).unwrap();
        let b = self_signed(vec!["b".into()]).unwrap();
        let mixed = Identity {
            certificate: a.certificate,
            private_key: b.private_key,
        };
        assert!(matches!(server_config(&mixed), Err(TlsError::Key(_))));
        let bad = Identity {
            certificate: "garbage".into(),
            private_key: Zeroizing::new(String::new()),
        };
        assert!(server_config(&bad).is_err());
    }
}
