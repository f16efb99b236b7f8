//! TLS for SimpleX relays and clients, on OpenSSL.
//!
//! ```text
//! identity:  ca.key/ca.crt (offline identity) ──signs──► server.key/server.crt (online)
//!            fingerprint = base64url(SHA-256(ca.crt DER))  = the key hash in xftp:// addresses
//! server:    TLS 1.3/1.2, ChaCha20-Poly1305 only, X25519/X448, Ed25519/Ed448 certificates,
//!            ALPN xftp/1 (h2, http/1.1 accepted) or smp/1, chain [server.crt, ca.crt]
//! client:    no SNI, no hostname check; chain of 2-4 certificates whose second certificate
//!            hashes to the address's key hash, signatures verified up to the last one
//! both:      session id = tls-unique = the client's Finished verify_data
//! ```
//!
//! OpenSSL is used (vendored) because the protocol binds every command to the TLS session
//! through tls-unique and official relays use Ed448 certificates; rustls exposes neither.

pub mod hosts;
pub mod identity;
pub mod socks;
pub mod tls;

pub use identity::{fingerprint, Identity, IdentityError, SignAlgorithm};
pub use socks::{SocksAuth, SocksProxy};
pub use tls::{
    client_connector, client_connector_for, connect, server_acceptor, server_acceptor_with_web,
    session_id, shared_client_connector, smp_server_acceptor, verify_server_chain, TlsError,
    WebCertificate, ALPN_HTTP11, ALPN_SMP, ALPN_XFTP,
};
