//! Errors of the crypto crate.

use crate::keys::KeyAlgorithm;

/// A cryptographic operation failed or a key has the wrong algorithm.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The key cannot be used for this operation (e.g. an X25519 key to sign).
    #[error("a {0:?} key cannot be used here")]
    WrongAlgorithm(KeyAlgorithm),
    /// OpenSSL refused the key or the operation.
    #[error("crypto library error: {0}")]
    Library(String),
    /// Authenticated decryption failed: a wrong key, or the data or its tag were changed.
    #[error("decryption failed: wrong key or damaged data")]
    Decrypt,
    /// A key, nonce or IV of the wrong length.
    #[error("{what} must be {expected} bytes, not {actual}")]
    BadLength {
        /// Which input.
        what: &'static str,
        /// The length required.
        expected: usize,
        /// The length given.
        actual: usize,
    },
}

impl From<openssl::error::ErrorStack> for CryptoError {
    fn from(e: openssl::error::ErrorStack) -> Self {
        Self::Library(e.to_string())
    }
}
