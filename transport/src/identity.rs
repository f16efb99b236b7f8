//! Relay identities: an offline CA certificate (the identity clients pin by its SHA-256) and an
//! online certificate signed by it, as `xftp-server init` creates them.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use base64::Engine;
use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{BasicConstraints, KeyUsage};
use openssl::x509::{X509Builder, X509NameBuilder, X509};

/// Signature algorithm of identity keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignAlgorithm {
    /// The reference's default.
    Ed448,
    /// Smaller and faster.
    Ed25519,
}

impl std::str::FromStr for SignAlgorithm {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_uppercase().as_str() {
            "ED448" => Ok(Self::Ed448),
            "ED25519" => Ok(Self::Ed25519),
            _ => Err(format!(
                "unknown signature algorithm {s:?} (ED448 or ED25519)"
            )),
        }
    }
}

/// Days the CA certificate is valid (the reference uses the same).
pub const CA_DAYS: u32 = 999_999;
/// Days the online certificate is valid.
pub const SERVER_DAYS: u32 = 3650;

/// Errors creating or loading an identity.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// A key or certificate is malformed or does not match.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// OpenSSL failed.
    #[error("crypto library error: {0}")]
    Library(#[from] openssl::error::ErrorStack),
}

/// A relay's certificates and online key.
#[derive(Clone)]
pub struct Identity {
    /// The CA (identity) certificate.
    pub ca: X509,
    /// The online certificate, signed by the CA.
    pub server: X509,
    /// The online private key (signs TLS handshakes and the handshake's X25519 key).
    pub key: PKey<Private>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("fingerprint", &self.fingerprint().unwrap_or_default())
            .finish_non_exhaustive()
    }
}

/// base64url (padded) of SHA-256 of a certificate's DER: the relay's key hash.
pub fn fingerprint(cert: &X509) -> Result<String, IdentityError> {
    let der = cert.to_der()?;
    let digest = openssl::sha::sha256(&der);
    Ok(base64::engine::general_purpose::URL_SAFE.encode(digest))
}

impl Identity {
    /// The key hash clients pin.
    pub fn fingerprint(&self) -> Result<String, IdentityError> {
        fingerprint(&self.ca)
    }

    /// SHA-256 of the CA certificate's DER.
    pub fn key_hash(&self) -> Result<[u8; 32], IdentityError> {
        Ok(openssl::sha::sha256(&self.ca.to_der()?))
    }

    /// The online key as the protocol crates use it (it signs handshake session keys).
    pub fn online_key(&self) -> Result<simplex_crypto::PrivateKey, IdentityError> {
        use simplex_crypto::KeyAlgorithm;
        let alg = match self.key.id() {
            openssl::pkey::Id::ED25519 => KeyAlgorithm::Ed25519,
            openssl::pkey::Id::ED448 => KeyAlgorithm::Ed448,
            _ => {
                return Err(IdentityError::Invalid {
                    path: "server.key".into(),
                    reason: "the online key must be Ed25519 or Ed448".into(),
                })
            }
        };
        let raw = self.key.raw_private_key()?;
        simplex_crypto::PrivateKey::from_raw(alg, &raw).map_err(|e| IdentityError::Invalid {
            path: "server.key".into(),
            reason: e.to_string(),
        })
    }

    /// DER of the chain as presented: online certificate, then CA.
    pub fn chain_der(&self) -> Result<Vec<Vec<u8>>, IdentityError> {
        Ok(vec![self.server.to_der()?, self.ca.to_der()?])
    }

    /// Creates a CA and an online certificate for `common_name` (the relay's host).
    pub fn generate(
        alg: SignAlgorithm,
        common_name: &str,
    ) -> Result<(Self, PKey<Private>), IdentityError> {
        Self::generate_with_ca_name(alg, "SimpleX XFTP server CA", common_name)
    }

    /// As [`Identity::generate`], naming the CA (`SimpleX SMP server CA` for SMP relays).
    pub fn generate_with_ca_name(
        alg: SignAlgorithm,
        ca_name: &str,
        common_name: &str,
    ) -> Result<(Self, PKey<Private>), IdentityError> {
        let ca_key = new_key(alg)?;
        let ca = build_cert(&ca_key, &ca_key, None, ca_name, CA_DAYS, true)?;
        let key = new_key(alg)?;
        let server = build_cert(&key, &ca_key, Some(&ca), common_name, SERVER_DAYS, false)?;
        Ok((Self { ca, server, key }, ca_key))
    }

    /// Writes `ca.key` (mode 0600), `ca.crt`, `server.key` (0600), `server.crt` and
    /// `fingerprint` into `dir`, refusing to replace existing files.
    pub fn write_new(&self, ca_key: &PKey<Private>, dir: &Path) -> Result<(), IdentityError> {
        write_new_file(
            &dir.join("ca.key"),
            &ca_key.private_key_to_pem_pkcs8()?,
            true,
        )?;
        write_new_file(&dir.join("ca.crt"), &self.ca.to_pem()?, false)?;
        write_new_file(
            &dir.join("server.key"),
            &self.key.private_key_to_pem_pkcs8()?,
            true,
        )?;
        write_new_file(&dir.join("server.crt"), &self.server.to_pem()?, false)?;
        write_new_file(
            &dir.join("fingerprint"),
            format!("{}\n", self.fingerprint()?).as_bytes(),
            false,
        )?;
        Ok(())
    }

    /// Loads `ca.crt`, `server.crt` and `server.key` from `dir` and checks that they belong
    /// together (the key is the online certificate's, the CA signed it).
    pub fn load(dir: &Path) -> Result<Self, IdentityError> {
        let read = |name: &str| {
            let path = dir.join(name);
            fs::read(&path).map_err(|source| IdentityError::Io { path, source })
        };
        let invalid = |name: &str, reason: String| IdentityError::Invalid {
            path: dir.join(name),
            reason,
        };
        let ca = X509::from_pem(&read("ca.crt")?).map_err(|e| invalid("ca.crt", e.to_string()))?;
        let server = X509::from_pem(&read("server.crt")?)
            .map_err(|e| invalid("server.crt", e.to_string()))?;
        let key = PKey::private_key_from_pem(&read("server.key")?)
            .map_err(|e| invalid("server.key", e.to_string()))?;
        let cert_key = server.public_key()?;
        if !key.public_eq(&cert_key) {
            return Err(invalid(
                "server.key",
                "does not belong to server.crt".into(),
            ));
        }
        let ca_key = ca.public_key()?;
        if !server.verify(&ca_key)? {
            return Err(invalid("server.crt", "is not signed by ca.crt".into()));
        }
        Ok(Self { ca, server, key })
    }
}

fn new_key(alg: SignAlgorithm) -> Result<PKey<Private>, IdentityError> {
    Ok(match alg {
        SignAlgorithm::Ed448 => PKey::generate_ed448()?,
        SignAlgorithm::Ed25519 => PKey::generate_ed25519()?,
    })
}

fn build_cert(
    key: &PKey<Private>,
    signer: &PKey<Private>,
    issuer: Option<&X509>,
    common_name: &str,
    days: u32,
    is_ca: bool,
) -> Result<X509, IdentityError> {
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_text("CN", common_name)?;
    let name = name.build();
    let mut b = X509Builder::new()?;
    b.set_version(2)?;
    let mut serial = BigNum::new()?;
    serial.rand(127, MsbOption::MAYBE_ZERO, false)?;
    let serial = serial.to_asn1_integer()?;
    b.set_serial_number(&serial)?;
    b.set_subject_name(&name)?;
    b.set_issuer_name(issuer.map_or(&*name, |i| i.subject_name()))?;
    b.set_pubkey(key)?;
    let (not_before, not_after) = (Asn1Time::days_from_now(0)?, Asn1Time::days_from_now(days)?);
    b.set_not_before(&not_before)?;
    b.set_not_after(&not_after)?;
    if is_ca {
        b.append_extension(BasicConstraints::new().critical().ca().build()?)?;
        b.append_extension(
            KeyUsage::new()
                .critical()
                .key_cert_sign()
                .crl_sign()
                .build()?,
        )?;
    } else {
        b.append_extension(KeyUsage::new().critical().digital_signature().build()?)?;
    }
    // EdDSA signs the message itself: no separate digest.
    b.sign(signer, MessageDigest::null())?;
    Ok(b.build())
}

fn write_new_file(path: &Path, bytes: &[u8], secret: bool) -> Result<(), IdentityError> {
    use std::io::Write;
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let io = |source| IdentityError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut f = opts.open(path).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_write_load() {
        for alg in [SignAlgorithm::Ed448, SignAlgorithm::Ed25519] {
            let dir = tempfile::tempdir().unwrap();
            let (id, ca_key) = Identity::generate(alg, "localhost").unwrap();
            id.write_new(&ca_key, dir.path()).unwrap();
            let loaded = Identity::load(dir.path()).unwrap();
            assert_eq!(loaded.fingerprint().unwrap(), id.fingerprint().unwrap());
            let written = fs::read_to_string(dir.path().join("fingerprint")).unwrap();
            assert_eq!(written.trim(), id.fingerprint().unwrap());
            assert!(
                id.write_new(&ca_key, dir.path()).is_err(),
                "never overwrites"
            );
        }
    }
}
