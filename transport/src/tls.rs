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
/// ALPN of SMP clients (without it, a relay offers only the legacy version).
pub const ALPN_SMP: &[u8] = b"smp/1";
/// ALPN of clients on a relay's web port (443): SMP and XFTP clients offer it instead of their
/// own, so the connection looks like a browser's to a network that filters them.
pub const ALPN_HTTP11: &[u8] = b"http/1.1";
/// The SMP relay's ALPN preference, as the reference's (`smp/1`, `h2`, `http/1.1`): any of
/// them negotiated gets the current versions; a client that sends no SNI speaks SMP over it.
const SMP_SERVER_ALPN: [&[u8]; 3] = [b"smp/1", b"h2", b"http/1.1"];
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
    server_acceptor_with_web(identity, None)
}

/// A browser-facing certificate (RSA or ECDSA, from a web CA) and its key.
#[derive(Clone)]
pub struct WebCertificate {
    /// Leaf first, then intermediates.
    pub chain: Vec<X509>,
    /// The leaf's private key.
    pub key: openssl::pkey::PKey<openssl::pkey::Private>,
}

impl std::fmt::Debug for WebCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebCertificate { .. }")
    }
}

impl WebCertificate {
    /// Loads a PEM chain and a PEM key.
    pub fn load(
        cert: &std::path::Path,
        key: &std::path::Path,
    ) -> Result<Self, crate::IdentityError> {
        let read = |p: &std::path::Path| {
            std::fs::read(p).map_err(|source| crate::IdentityError::Io {
                path: p.to_path_buf(),
                source,
            })
        };
        let invalid = |p: &std::path::Path, reason: String| crate::IdentityError::Invalid {
            path: p.to_path_buf(),
            reason,
        };
        let chain = X509::stack_from_pem(&read(cert)?).map_err(|e| invalid(cert, e.to_string()))?;
        if chain.is_empty() {
            return Err(invalid(cert, "no certificate".into()));
        }
        let key_pem = read(key)?;
        let pkey = openssl::pkey::PKey::private_key_from_pem(&key_pem)
            .map_err(|e| invalid(key, e.to_string()))?;
        let cert_key = chain[0].public_key()?;
        if !pkey.public_eq(&cert_key) {
            return Err(invalid(
                key,
                "does not belong to the web certificate".into(),
            ));
        }
        Ok(Self { chain, key: pkey })
    }
}

/// Browser suites, groups and signature schemes, added when a web certificate is configured.
const WEB_TLS13_SUITES: &str =
    "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256";
const WEB_TLS12_CIPHERS: &str = "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256";
const WEB_GROUPS: &str = "X25519:X448:P-256:P-384:P-521";
const WEB_SIGALGS: &str = "ed25519:ed448:ECDSA+SHA256:ECDSA+SHA384:ECDSA+SHA512:RSA-PSS+SHA256:RSA-PSS+SHA384:RSA-PSS+SHA512:RSA+SHA256:RSA+SHA384:RSA+SHA512";

/// The relay's acceptor; with `web`, clients that send SNI (browsers) get the web certificate
/// and the wider browser parameters, while native clients (no SNI) still get the XFTP chain
/// with ChaCha20 (the only suite they offer).
pub fn server_acceptor_with_web(
    identity: &Identity,
    web: Option<&WebCertificate>,
) -> Result<SslAcceptor, TlsError> {
    let mut b = SslAcceptor::mozilla_modern_v5(SslMethod::tls_server())?;
    b.set_min_proto_version(Some(SslVersion::TLS1_2))?;
    b.set_max_proto_version(Some(SslVersion::TLS1_3))?;
    if web.is_some() {
        b.set_ciphersuites(WEB_TLS13_SUITES)?;
        b.set_cipher_list(WEB_TLS12_CIPHERS)?;
        b.set_groups_list(WEB_GROUPS)?;
        b.set_sigalgs_list(WEB_SIGALGS)?;
    } else {
        native_params(&mut b)?;
    }
    if let Some(web) = web {
        let mut w = openssl::ssl::SslContext::builder(SslMethod::tls_server())?;
        w.set_certificate(&web.chain[0])?;
        for c in &web.chain[1..] {
            w.add_extra_chain_cert(c.clone())?;
        }
        w.set_private_key(&web.key)?;
        w.check_private_key()?;
        w.set_alpn_select_callback(select_alpn);
        let web_ctx = w.build();
        b.set_servername_callback(move |ssl, _| {
            if ssl.servername(openssl::ssl::NameType::HOST_NAME).is_some() {
                ssl.set_ssl_context(&web_ctx)
                    .map_err(|_| openssl::ssl::SniError::ALERT_FATAL)?;
            }
            Ok(())
        });
    }
    set_identity(&mut b, identity)?;
    b.set_alpn_select_callback(select_alpn);
    Ok(b.build())
}

/// What native SimpleX clients speak: ChaCha20-Poly1305, X25519/X448, Ed25519/Ed448.
fn native_params(b: &mut openssl::ssl::SslContextBuilder) -> Result<(), TlsError> {
    b.set_ciphersuites(TLS13_SUITES)?;
    b.set_cipher_list(TLS12_CIPHERS)?;
    b.set_groups_list(GROUPS)?;
    b.set_sigalgs_list(SIGALGS)?;
    Ok(())
}

/// The relay's chain [online, CA] and online key; clients present no certificates.
fn set_identity(
    b: &mut openssl::ssl::SslAcceptorBuilder,
    identity: &Identity,
) -> Result<(), TlsError> {
    b.set_certificate(&identity.server)?;
    b.add_extra_chain_cert(identity.ca.clone())?;
    b.set_private_key(&identity.key)?;
    b.check_private_key()?;
    b.set_verify(SslVerifyMode::NONE);
    Ok(())
}

/// The SMP relay's acceptor: the same TLS as the XFTP relay, ALPN `smp/1` (or `h2`,
/// `http/1.1` of clients on the web port) or none.
pub fn smp_server_acceptor(identity: &Identity) -> Result<SslAcceptor, TlsError> {
    let mut b = SslAcceptor::mozilla_modern_v5(SslMethod::tls_server())?;
    b.set_min_proto_version(Some(SslVersion::TLS1_2))?;
    b.set_max_proto_version(Some(SslVersion::TLS1_3))?;
    native_params(&mut b)?;
    set_identity(&mut b, identity)?;
    // Most SMP connections sit idle (subscribed, waiting): their TLS read and write buffers
    // (~33 KiB) are freed between records.
    b.set_mode(openssl::ssl::SslMode::RELEASE_BUFFERS);
    b.set_alpn_select_callback(|_, client| {
        SMP_SERVER_ALPN
            .into_iter()
            .find(|ours| alpn_offers(client, ours))
            .ok_or(AlpnError::NOACK)
    });
    Ok(b.build())
}

fn select_alpn<'a>(_: &mut openssl::ssl::SslRef, client: &'a [u8]) -> Result<&'a [u8], AlpnError> {
    for ours in SERVER_ALPN {
        if alpn_offers(client, ours) {
            return Ok(ours_static(ours));
        }
    }
    Err(AlpnError::NOACK)
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
    client_connector_for(ALPN_XFTP)
}

/// The process-wide connector for `xftp/1`, `http/1.1` or `smp/1` (anything else: `smp/1`). An OpenSSL
/// context is large (its own certificate store and provider state: about 0.8 MiB measured
/// per SMP connection): connections share one instead of carrying their own.
pub fn shared_client_connector(alpn_proto: &[u8]) -> Result<&'static SslConnector, TlsError> {
    use std::sync::OnceLock;
    static XFTP: OnceLock<SslConnector> = OnceLock::new();
    static SMP: OnceLock<SslConnector> = OnceLock::new();
    static HTTP11: OnceLock<SslConnector> = OnceLock::new();
    let (cell, proto) = if alpn_proto == ALPN_XFTP {
        (&XFTP, ALPN_XFTP)
    } else if alpn_proto == ALPN_HTTP11 {
        (&HTTP11, ALPN_HTTP11)
    } else {
        (&SMP, ALPN_SMP)
    };
    if let Some(c) = cell.get() {
        return Ok(c);
    }
    let c = client_connector_for(proto)?;
    Ok(cell.get_or_init(|| c))
}

/// A client connector offering `alpn` (`xftp/1`, `smp/1` or `http/1.1`).
pub fn client_connector_for(alpn_proto: &[u8]) -> Result<SslConnector, TlsError> {
    let mut b = SslConnector::builder(SslMethod::tls_client())?;
    b.set_min_proto_version(Some(SslVersion::TLS1_2))?;
    b.set_max_proto_version(Some(SslVersion::TLS1_3))?;
    native_params(&mut b)?;
    b.set_verify(SslVerifyMode::NONE);
    let mut alpn = vec![alpn_proto.len() as u8];
    alpn.extend_from_slice(alpn_proto);
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
