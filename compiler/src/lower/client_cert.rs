//! `cert` and `key` (`--cert`, `--key`): the client certificate of mutual TLS. Both
//! files are read and checked here, so that a typo, a file of something else, or a
//! key of another certificate is a located error before any load is sent, and not
//! a run of handshake failures (or, from nginx, of 400s).

use std::path::PathBuf;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::Lowerer;
use crate::compile_error::{CompileError, CompileErrorKind};
use crate::draft::Draft;
use crate::located::Located;

/// Why a client certificate and key cannot be used together; the value it is told at.
enum Unusable {
    /// The certificate file's fault.
    Cert(String),
    /// The key's (in the key file, or in the certificate file when it holds both).
    Key(String),
}

impl Lowerer<'_> {
    /// The run's client certificate and key files, resolved like `cacert` (against
    /// the scenario's folder), each checked. `key` is `None` when the certificate
    /// file holds the key too.
    pub(super) fn client_cert(&mut self, d: &Draft) -> (Option<PathBuf>, Option<PathBuf>) {
        let resolve = |this: &mut Self, v: &Located<String>| {
            let path = this.fold_env(v);
            this.resolve_path(&path, &v.loc)
        };
        let cert = d.cert.as_ref().map(|c| (resolve(self, c), c));
        let key = d.key.as_ref().map(|k| (resolve(self, k), k));
        let Some((cert_path, cert_at)) = &cert else {
            if let Some((_, key_at)) = &key {
                let message = "`key` is the private key of a client certificate: give the \
                               certificate too, with `cert` (`--cert`)"
                    .to_owned();
                self.errors.push(CompileError::at(
                    CompileErrorKind::Conflict { message },
                    &key_at.loc,
                    None,
                ));
            }
            return (None, None);
        };
        let read = |path: &PathBuf| {
            std::fs::read(path).map_err(|e| CompileErrorKind::Io {
                path: path.display().to_string(),
                message: e.to_string(),
            })
        };
        let cert_pem = match read(cert_path) {
            Ok(pem) => pem,
            Err(kind) => {
                self.errors.push(CompileError::at(kind, &cert_at.loc, None));
                return (Some(cert_path.clone()), key.map(|(p, _)| p));
            }
        };
        let key_pem = match &key {
            Some((key_path, key_at)) => match read(key_path) {
                Ok(pem) => Some(pem),
                Err(kind) => {
                    self.errors.push(CompileError::at(kind, &key_at.loc, None));
                    None
                }
            },
            None => Some(cert_pem.clone()),
        };
        if let Some(key_pem) = key_pem {
            let key_file = key.as_ref().map_or(cert_path, |(p, _)| p);
            let error = match check_client_cert(&cert_pem, &key_pem, key.is_some()) {
                Ok(()) => None,
                Err(Unusable::Cert(why)) => Some((cert_path, why, &cert_at.loc)),
                Err(Unusable::Key(why)) => {
                    let at = key.as_ref().map_or(&cert_at.loc, |(_, k)| &k.loc);
                    Some((key_file, why, at))
                }
            };
            if let Some((path, why, at)) = error {
                let message = format!("`{}`: {why}", path.display());
                self.errors.push(CompileError::at(
                    CompileErrorKind::InvalidValue { message },
                    at,
                    None,
                ));
            }
        }
        (Some(cert_path.clone()), key.map(|(p, _)| p))
    }
}

/// Whether `cert_pem` holds a readable certificate chain and `key_pem` (the same
/// file when `separate_key` is false) the private key of its first certificate,
/// of a kind the TLS library can sign with. The key's bytes never appear in the
/// answer.
fn check_client_cert(cert_pem: &[u8], key_pem: &[u8], separate_key: bool) -> Result<(), Unusable> {
    let mut chain = Vec::new();
    for cert in CertificateDer::pem_slice_iter(cert_pem) {
        let cert =
            cert.map_err(|e| Unusable::Cert(format!("a certificate in it cannot be read: {e}")))?;
        chain.push(cert);
    }
    if chain.is_empty() {
        return Err(Unusable::Cert(
            "it holds no PEM certificate (`-----BEGIN CERTIFICATE-----`): give the client \
             certificate, and its chain after it"
                .to_owned(),
        ));
    }
    let key = match PrivateKeyDer::from_pem_slice(key_pem) {
        Ok(key) => key,
        Err(rustls_pki_types::pem::Error::NoItemsFound) => {
            let why = if separate_key {
                "it holds no PEM private key (`-----BEGIN PRIVATE KEY-----`, or an RSA or EC one)"
            } else {
                "it holds no PEM private key: give the key with `key` (`--key`), or put it in \
                 this file after the certificate"
            };
            return Err(Unusable::Key(why.to_owned()));
        }
        // The error names the PEM section, never its contents.
        Err(e) => {
            return Err(Unusable::Key(format!(
                "its private key cannot be read: {e}"
            )));
        }
    };
    let provider = rustls::crypto::ring::default_provider();
    let certified = rustls::sign::CertifiedKey::from_der(chain, key, &provider).map_err(|e| {
        Unusable::Key(match e {
            rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
                "its private key is not the key of the certificate (the first one in the \
                 certificate file)"
                    .to_owned()
            }
            e => format!("its private key cannot be used: {e}"),
        })
    })?;
    drop(certified);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::tests::{errors, ok};

    /// A client certificate and its key, another key, and a CA: `client.pem`,
    /// `client.key`, `both.pem` (certificate then key), `other.key` and `ca.pem` in
    /// `dir`.
    fn write_files(dir: &Path) {
        let rcgen::CertifiedKey { cert, key_pair } =
            rcgen::generate_simple_self_signed(vec!["client".to_owned()]).unwrap();
        let other = rcgen::KeyPair::generate().unwrap();
        let write = |name: &str, text: String| std::fs::write(dir.join(name), text).unwrap();
        write("client.pem", cert.pem());
        write("client.key", key_pair.serialize_pem());
        write(
            "both.pem",
            format!("{}{}", cert.pem(), key_pair.serialize_pem()),
        );
        write("other.key", other.serialize_pem());
        write("ca.pem", cert.pem());
    }

    fn scenario(dir: &Path, keys: &str) -> String {
        let keys = keys.replace("DIR", &dir.display().to_string());
        format!("[target]\nurl = \"https://h/\"\n{keys}\n")
    }

    #[test]
    fn a_certificate_and_its_key_are_kept_as_paths() {
        let dir = tempfile::tempdir().unwrap();
        write_files(dir.path());
        let ir = ok(&scenario(
            dir.path(),
            "cert = \"DIR/client.pem\"\nkey = \"DIR/client.key\"",
        ));
        assert_eq!(ir.settings.cert, Some(dir.path().join("client.pem")));
        assert_eq!(ir.settings.key, Some(dir.path().join("client.key")));
        // One file with both, as curl's `--cert` takes it.
        let ir = ok(&scenario(dir.path(), "cert = \"DIR/both.pem\""));
        assert_eq!(ir.settings.cert, Some(dir.path().join("both.pem")));
        assert_eq!(ir.settings.key, None);
        // Neither: no client certificate.
        let ir = ok(&scenario(dir.path(), ""));
        assert_eq!((ir.settings.cert, ir.settings.key), (None, None));
    }

    /// Each bad file is told at the key that names it, with the file's name and
    /// what is wrong with it.
    #[test]
    fn bad_files_are_located() {
        let dir = tempfile::tempdir().unwrap();
        write_files(dir.path());
        let d = dir.path().display().to_string();
        let cases = [
            (
                "cert = \"DIR/nope.pem\"",
                format!("3:9 [DIR/nope.pem] cannot read `{d}/nope.pem`: No such file or directory (os error 2)"),
            ),
            (
                "cert = \"DIR/client.pem\"\nkey = \"DIR/nope.key\"",
                format!("4:8 [DIR/nope.key] cannot read `{d}/nope.key`: No such file or directory (os error 2)"),
            ),
            (
                "cert = \"DIR/client.key\"\nkey = \"DIR/client.key\"",
                format!("3:9 [DIR/client.key] invalid value: `{d}/client.key`: it holds no PEM certificate (`-----BEGIN CERTIFICATE-----`): give the client certificate, and its chain after it"),
            ),
            (
                "cert = \"DIR/client.pem\"",
                format!("3:9 [DIR/client.pem] invalid value: `{d}/client.pem`: it holds no PEM private key: give the key with `key` (`--key`), or put it in this file after the certificate"),
            ),
            (
                "cert = \"DIR/client.pem\"\nkey = \"DIR/ca.pem\"",
                format!("4:8 [DIR/ca.pem] invalid value: `{d}/ca.pem`: it holds no PEM private key (`-----BEGIN PRIVATE KEY-----`, or an RSA or EC one)"),
            ),
            (
                "cert = \"DIR/client.pem\"\nkey = \"DIR/other.key\"",
                format!("4:8 [DIR/other.key] invalid value: `{d}/other.key`: its private key is not the key of the certificate (the first one in the certificate file)"),
            ),
            (
                "key = \"DIR/client.key\"",
                "3:8 [DIR/client.key] `key` is the private key of a client certificate: give the certificate too, with `cert` (`--cert`)".to_owned(),
            ),
        ];
        for (keys, want) in cases {
            let got = errors(&scenario(dir.path(), keys));
            let got: Vec<_> = got.iter().map(|e| e.replace(&d, "DIR")).collect();
            assert_eq!(got.len(), 1, "{keys}: {got:?}");
            // The underlined text is the value as written; the message names the file.
            assert_eq!(got[0], want.replace(&d, "DIR"), "{keys}");
        }
    }

    /// Errors never show what a key file holds.
    #[test]
    fn errors_never_quote_the_key() {
        let dir = tempfile::tempdir().unwrap();
        write_files(dir.path());
        let key = std::fs::read_to_string(dir.path().join("other.key")).unwrap();
        let body = key.lines().nth(1).unwrap();
        for keys in [
            "cert = \"DIR/client.pem\"\nkey = \"DIR/other.key\"",
            "cert = \"DIR/other.key\"",
        ] {
            for e in errors(&scenario(dir.path(), keys)) {
                assert!(!e.contains(body), "{e}");
            }
        }
    }
}
