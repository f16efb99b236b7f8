//! Keys and cryptography of the SimpleX protocols, shared by XFTP, SMP, the agent and chat.
//!
//! ```text
//!   X25519 / X448 / Ed25519 / Ed448 keys, SPKI / PKCS#8 DER          (keys)
//!   generate, sign / verify, DH, the X25519 command authenticator   (asymmetric, OpenSSL)
//!   secretbox stream: XSalsa20-Poly1305, tag last, seekable          (secretbox, libsodium)
//!   crypto_box: the same keyed by a DH secret, tag first             (cryptobox)
//!   the XFTP relay's download encryption                             (transit)
//!   a relay's session key signed with its online key (X.509 DER)     (signed)
//!   Poly1305 (mac), SHA-256 / SHA-512 (digest)                       (OpenSSL, libsodium)
//!   HKDF-SHA512 and AES-256-GCM for the double ratchet               (hkdf, aead; OpenSSL)
//! ```
//!
//! OpenSSL is used because it is the only maintained Rust-reachable library with Ed448 and X448
//! (official relays sign with Ed448; the ratchet agrees keys with X448), and it is linked for TLS
//! anyway; libsodium gives the seekable XSalsa20 stream (see `docs/PRIMITIVES.md`).
//!
//! ```
//! use simplex_crypto::{cryptobox, generate, KeyAlgorithm};
//!
//! let (alice_pub, alice_priv) = generate(KeyAlgorithm::X25519)?;
//! let (bob_pub, bob_priv) = generate(KeyAlgorithm::X25519)?;
//! let nonce = simplex_crypto::SbNonce::generate();
//! let sealed = cryptobox::seal(&cryptobox::shared_key(&alice_priv, &bob_pub)?, &nonce, b"hi");
//! let opened = cryptobox::open(&cryptobox::shared_key(&bob_priv, &alice_pub)?, &nonce, &sealed)?;
//! assert_eq!(opened, b"hi");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod aead;
pub mod asymmetric;
pub mod cryptobox;
pub mod digest;
mod error;
pub mod hkdf;
pub mod keys;
pub mod mac;
pub mod secretbox;
pub mod signed;
mod sodium;
pub mod transit;

pub use asymmetric::{
    authenticator, dh, generate, public_key, sign, verify, verify_authenticator, verify_many,
    AUTHENTICATOR_LEN,
};
pub use error::CryptoError;
pub use keys::{KeyAlgorithm, PrivateKey, PublicKey};
pub use secretbox::{Keystream, SbKey, SbNonce, SecretBoxStream};

/// Fills `buf` with bytes from the operating system's CSPRNG.
pub fn random_bytes(buf: &mut [u8]) {
    sodium::random_bytes(buf)
}

/// Whether `a` and `b` are equal, in time that depends on their lengths only.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}
