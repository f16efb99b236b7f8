//! TLS contexts for relays and clients, the session id, and server-chain verification.

use std::pin::Pin;

use openssl::ssl::{
    AlpnError, SslAcceptor, SslConnector, SslMethod, SslRef, SslVerifyMode, SslVersion,
};
use openssl::stack::Stack;
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::{X509StoreContext, X509};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_openssl::SslStream;

use crate::identity::Identity;

/// ALPN of native XFTP clients.
pub const ALPN_XFTP: &[u8] = b"xftp/1";
/// The relay's ALPN preference: the first of these the client offers is chosen.
const SERVER_ALPN: [&[u8]; 3] = [b"xftp/1", b"h2", b"http/1.1"];
/// TLS 1.3 suites: ChaCha20-Poly1305 only.
const TLS13_SUITES: &str = "TLS_CHACHA20_POLY1305_SHA256";
/// TLS 1.2 suites: ChaCha20-Poly1305 only (ECDSA suites carry EdDSA certificates).
const TLS12_CIPHERS: &str = "ECDHE-ECDSA-CHACHA20-POLY1305";
/// Key exchange groups.
const GROUPS: &str = "X25519:X448";
/// Signature schemes.
const SIGALGS: &str = "ed25519:ed448";

/// TLS failures.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// OpenSSL refused the configuration or a certificate.
    #[error("TLS configuration: {0}")]
    Config(#[from] openssl::error::ErrorStack),
    /// The handshake failed (network error, no common suite, bad certificate...).
    #[error("TLS handshake failed: {0}")]
    Handshake(String),
    /// The server's certificate chain is not the identity in its address.
    #[error("server identity: {0}")]
    Identity(&'static str),
}

/// The relay's TLS acceptor for `identity`.
pub fn server_acceptor(identity: &Identity) -> Result<SslAcceptor, TlsError> {
    let mut b = SslAcceptor::mozilla_modern_v5(SslMethod::tls_server())?;
    b.set_min_proto_version(Some(SslVersion::TLS1_2))?;
    b.set_max_proto_version(Some(SslVersion::TLS1_3))?;
    b.set_ciphersuites(TLS13_SUITES)?;
    b.set_cipher_list(TLS12_CIPHERS)?;
    b.set_groups_list(GROUPS)?;
    b.set_sigalgs_list(SIGALGS)?;
    b.set_certificate(&identity.server)?;
    b.add_extra_chain_cert(identity.ca.clone())?;
    b.set_private_key(&identity.key)?;
    b.check_private_key()?;
    b.set_verify(SslVerifyMode::NONE);
    b.set_alpn_select_callback(|_, client| {
        for ours in SERVER_ALPN {
            if alpn_offers(client, ours) {
                return Ok(ours_static(ours));
            }
        }
        Err(AlpnError::NOACK)
    });
    Ok(b.build())
}

fn ours_static(p: &[u8]) -> &'static [u8] {
    SERVER_ALPN
        .iter()
        .copied()
        .find(|o| *o == p)
        .unwrap_or(ALPN_XFTP)
}

/// Whether the client's wire-format ALPN list contains `proto`.
fn alpn_offers(mut list: &[u8], proto: &[u8]) -> bool {
    while let Some((&len, rest)) = list.split_first() {
        let len = usize::from(len);
        if rest.len() < len {
            return false;
        }
        if &rest[..len] == proto {
            return true;
        }
        list = &rest[len..];
    }
    false
}

/// A client connector: ChaCha20 only, X25519/X448, Ed25519/Ed448, ALPN `xftp/1`. Certificate
/// checks are done by [`verify_server_chain`] against the address's key hash, not by web PKI.
pub fn client_connector() -> Result<SslConnector, TlsError> {
    let mut b = SslConnector::builder(SslMethod::tls_client())?;
    b.set_min_proto_version(Some(SslVersion::TLS1_2))?;
    b.set_max_proto_version(Some(SslVersion::TLS1_3))?;
    b.set_ciphersuites(TLS13_SUITES)?;
    b.set_cipher_list(TLS12_CIPHERS)?;
    b.set_groups_list(GROUPS)?;
    b.set_sigalgs_list(SIGALGS)?;
    b.set_verify(SslVerifyMode::NONE);
    let mut alpn = vec![ALPN_XFTP.len() as u8];
    alpn.extend_from_slice(ALPN_XFTP);
    b.set_alpn_protos(&alpn)?;
    Ok(b.build())
}

/// Connects TLS over `stream` without SNI, then checks the chain against `key_hash`.
pub async fn connect<S>(
    connector: &SslConnector,
    stream: S,
    key_hash: &[u8],
) -> Result<SslStream<S>, TlsError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let ssl = connector
        .configure()?
        .use_server_name_indication(false)
        .verify_hostname(false)
        .into_ssl("")?;
    let mut tls = SslStream::new(ssl, stream)?;
    Pin::new(&mut tls)
        .connect()
        .await
        .map_err(|e| TlsError::Handshake(e.to_string()))?;
    verify_server_chain(tls.ssl(), key_hash)?;
    Ok(tls)
}

/// The session id: tls-unique, the client's Finished `verify_data` (32 bytes with TLS 1.3,
/// 12 with TLS 1.2). Works on both ends of a finished handshake.
pub fn session_id(ssl: &SslRef) -> Vec<u8> {
    let mut buf = [0u8; 64];
    let n = if ssl.is_server() {
        ssl.peer_finished(&mut buf)
    } else {
        ssl.finished(&mut buf)
    };
    buf[..n.min(buf.len())].to_vec()
}

/// Checks the relay's chain: 2 to 4 certificates, the second one's SHA-256 equal to
/// `key_hash`, and every signature valid up to the last certificate (no hostname check).
pub fn verify_server_chain(ssl: &SslRef, key_hash: &[u8]) -> Result<(), TlsError> {
    let chain = ssl
        .peer_cert_chain()
        .ok_or(TlsError::Identity("no certificates"))?;
    let certs: Vec<X509> = chain.iter().map(|c| c.to_owned()).collect();
    verify_chain(&certs, key_hash)
}

/// [`verify_server_chain`] on a list of certificates (leaf first).
pub fn verify_chain(certs: &[X509], key_hash: &[u8]) -> Result<(), TlsError> {
    if !(2..=4).contains(&certs.len()) {
        return Err(TlsError::Identity(
            "the chain must have 2 to 4 certificates",
        ));
    }
    let id_der = certs[1].to_der()?;
    if openssl::sha::sha256(&id_der).as_slice() != key_hash {
        return Err(TlsError::Identity(
            "the certificate does not match the address's key hash",
        ));
    }
    let mut store = X509StoreBuilder::new()?;
    store.add_cert(certs[certs.len() - 1].clone())?;
    let store = store.build();
    let mut intermediates = Stack::new()?;
    for c in &certs[1..certs.len() - 1] {
        intermediates.push(c.clone())?;
    }
    let mut ctx = X509StoreContext::new()?;
    let ok = ctx.init(&store, &certs[0], &intermediates, |c| c.verify_cert())?;
    if ok {
        Ok(())
    } else {
        Err(TlsError::Identity("the certificate chain does not verify"))
    }
}
