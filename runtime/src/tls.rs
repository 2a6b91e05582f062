//! The rustls client configuration, built once per run and shared by every VU.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;

use kaioken_vm::{Protocol, TransportPlan};

/// Build the TLS configuration: webpki roots plus any `--cacert`, or no verification
/// at all with `--insecure`; the `--cert` client certificate offered to a server that
/// asks for one (with `--insecure` too: it is about the server's certificate, not
/// ours). ALPN offers `h2` or `http/1.1` to match `protocol`.
///
/// # Errors
///
/// A `--cacert` file with no usable certificate, or a `--cert`/`--key` pair that
/// does not load.
pub(crate) fn client_config(
    http: &TransportPlan,
    protocol: Protocol,
) -> Result<Arc<ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let verifier: Arc<dyn ServerCertVerifier> = if http.insecure {
        Arc::new(NoVerify(provider))
    } else {
        let mut roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let mut pinned = Vec::new();
        if let Some(pem) = &http.cacert_pem {
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert =
                    cert.map_err(|e| format!("cannot read certificate from --cacert: {e}"))?;
                // A self-signed server certificate is often not a valid trust anchor;
                // it is still trusted, as exactly that certificate (see RootsOrPinned).
                let _ = roots.add(cert.clone());
                pinned.push(cert);
            }
            if pinned.is_empty() {
                return Err("--cacert: no PEM certificate found".into());
            }
        }
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|e| format!("cannot build the certificate verifier: {e}"))?;
        Arc::new(RootsOrPinned { webpki, pinned })
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match &http.client_cert {
        Some(identity) => {
            let (chain, key) = client_identity(identity)?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("--cert/--key: {e}"))?
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![protocol.alpn().to_vec()];
    Ok(Arc::new(config))
}

/// The certificate chain and private key of `--cert`/`--key`, from their PEM. The
/// compiler checked both (located errors); this fails only if a plan was made by
/// other means. Errors never quote the key.
fn client_identity(
    identity: &kaioken_vm::ClientCert,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), String> {
    let chain = CertificateDer::pem_slice_iter(&identity.cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("cannot read certificate from --cert: {e}"))?;
    if chain.is_empty() {
        return Err("--cert: no PEM certificate found".into());
    }
    let key = PrivateKeyDer::from_pem_slice(&identity.key_pem)
        .map_err(|e| format!("cannot read the private key of --cert (--key): {e}"))?;
    Ok((chain, key))
}

/// The normal verifier (web roots plus `--cacert` as trust anchors), and one more way
/// to pass: the server's certificate is byte for byte one the user gave in `--cacert`.
/// That is how curl treats a self-signed certificate passed as `--cacert`, which
/// webpki alone rejects (a CA certificate used as an end entity), and it is no weaker:
/// the user vouched for exactly that certificate.
#[derive(Debug)]
struct RootsOrPinned {
    webpki: Arc<WebPkiServerVerifier>,
    pinned: Vec<CertificateDer<'static>>,
}

impl ServerCertVerifier for RootsOrPinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .webpki
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Ok(verified) => Ok(verified),
            Err(_)
                if self
                    .pinned
                    .iter()
                    .any(|c| c.as_ref() == end_entity.as_ref()) =>
            {
                Ok(ServerCertVerified::assertion())
            }
            Err(e) => Err(e),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// `--insecure`: accept any certificate, but still check handshake signatures so the
/// connection is a real TLS session.
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
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
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
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

/// A TLS configuration with the webpki roots and HTTP/1.1 for kaioken's own
/// connections beside the load (pushing metrics to an `https` endpoint): verified,
/// as every connection is by default.
///
/// # Errors
///
/// The crypto provider refuses its defaults.
pub fn default_client_config() -> Result<Arc<ClientConfig>, String> {
    client_config(&TransportPlan::default(), Protocol::Http1)
}

/// The TLS configuration of a run's HTTP/1.1 connections, with its `insecure`,
/// `cacert` and client certificate: for requests kaioken makes beside the load for the scenario itself
/// (`setup` and `teardown` scripts).
///
/// # Errors
///
/// The CA file's certificates do not load, or the crypto provider refuses.
pub fn http1_client_config(transport: &TransportPlan) -> Result<Arc<ClientConfig>, String> {
    client_config(transport, Protocol::Http1)
}

#[cfg(test)]
mod tests {
    use kaioken_vm::{ClientCert, Protocol, TransportPlan};

    use super::client_config;

    /// Every protocol's configuration (HTTP/1.1 on both engines, HTTP/2, HTTP/3 by
    /// quinn, WebSocket, gRPC) is built here, so each offers the client certificate,
    /// with and without `--insecure`; without `--cert`, none does.
    #[test]
    fn every_protocol_offers_the_client_certificate() {
        let rcgen::CertifiedKey { cert, key_pair } =
            rcgen::generate_simple_self_signed(vec!["client".to_owned()]).unwrap();
        let identity = ClientCert {
            cert_pem: cert.pem().into_bytes(),
            key_pem: key_pair.serialize_pem().into_bytes(),
        };
        for insecure in [false, true] {
            for protocol in Protocol::ALL {
                let mut plan = TransportPlan {
                    insecure,
                    client_cert: Some(identity.clone()),
                    ..TransportPlan::default()
                };
                let config = client_config(&plan, protocol).unwrap();
                assert!(
                    config.client_auth_cert_resolver.has_certs(),
                    "{protocol:?} insecure={insecure}"
                );
                plan.client_cert = None;
                let config = client_config(&plan, protocol).unwrap();
                assert!(!config.client_auth_cert_resolver.has_certs());
            }
        }
    }

    /// A key of another certificate is refused, in words that do not quote it.
    #[test]
    fn a_key_of_another_certificate_is_refused() {
        let rcgen::CertifiedKey { cert, .. } =
            rcgen::generate_simple_self_signed(vec!["client".to_owned()]).unwrap();
        let other = rcgen::KeyPair::generate().unwrap();
        let key_pem = other.serialize_pem();
        let plan = TransportPlan {
            client_cert: Some(ClientCert {
                cert_pem: cert.pem().into_bytes(),
                key_pem: key_pem.clone().into_bytes(),
            }),
            ..TransportPlan::default()
        };
        let e = client_config(&plan, Protocol::Http1).unwrap_err();
        assert!(e.starts_with("--cert/--key"), "{e}");
        assert!(!e.contains(key_pem.lines().nth(1).unwrap()), "{e}");
    }
}
