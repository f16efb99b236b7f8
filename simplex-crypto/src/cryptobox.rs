//! NaCl `crypto_box` as the reference composes it: the SimpleX secretbox construction keyed by
//! an X25519 shared secret (or a symmetric key), the 16-byte tag **in front** of the ciphertext.
//!
//! ```text
//! seal(K, N, m) = tag ‖ XSalsa20(HSalsa20(K, 0^16), N) ⊕ m      (tag = Poly1305 of the ciphertext)
//! ```
//!
//! Used by the command authenticator, the per-queue end-to-end layer of SMP messages and the
//! relay's server-to-recipient encryption of every MSG. File chunks use the same construction
//! with the tag at the end ([`crate::secretbox`]).

use zeroize::Zeroize;

use crate::error::CryptoError;
use crate::secretbox::{SbKey, SbNonce, SecretBoxStream, AUTH_TAG_LEN};

/// Encrypts `msg`: `tag ‖ ciphertext`.
pub fn seal(key: &SbKey, nonce: &SbNonce, msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(AUTH_TAG_LEN + msg.len());
    out.extend_from_slice(&[0u8; AUTH_TAG_LEN]);
    out.extend_from_slice(msg);
    let mut s = SecretBoxStream::new(key, nonce);
    s.encrypt_in_place(&mut out[AUTH_TAG_LEN..]);
    out[..AUTH_TAG_LEN].copy_from_slice(&s.tag());
    out
}

/// Verifies and decrypts `tag ‖ ciphertext`.
pub fn open(key: &SbKey, nonce: &SbNonce, sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if sealed.len() < AUTH_TAG_LEN {
        return Err(CryptoError::Decrypt);
    }
    let (tag, body) = sealed.split_at(AUTH_TAG_LEN);
    let mut out = vec![0u8; body.len()];
    let mut s = SecretBoxStream::new(key, nonce);
    s.decrypt_to(body, &mut out);
    if s.verify(tag) {
        Ok(out)
    } else {
        out.zeroize();
        Err(CryptoError::Decrypt)
    }
}

/// The key of a box between two X25519 keys: their raw shared secret.
pub fn shared_key(
    ours: &crate::PrivateKey,
    theirs: &crate::PublicKey,
) -> Result<SbKey, CryptoError> {
    let mut shared = crate::asymmetric::dh(ours, theirs)?;
    let key: Result<[u8; 32], _> = shared.as_slice().try_into();
    let len = shared.len();
    shared.zeroize();
    key.map(SbKey::from_bytes)
        .map_err(|_| CryptoError::BadLength {
            what: "a crypto_box shared secret (X25519 only)",
            expected: 32,
            actual: len,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_every_tampering_fails() {
        let key = SbKey::from_bytes([3u8; 32]);
        let nonce = SbNonce([5u8; 24]);
        let sealed = seal(&key, &nonce, b"hello");
        assert_eq!(sealed.len(), 16 + 5);
        assert_eq!(open(&key, &nonce, &sealed).unwrap(), b"hello");
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x80;
            assert_eq!(
                open(&key, &nonce, &bad),
                Err(CryptoError::Decrypt),
                "byte {i}"
            );
        }
        assert_eq!(open(&key, &nonce, &sealed[..15]), Err(CryptoError::Decrypt));
        assert_eq!(
            open(&SbKey::from_bytes([4u8; 32]), &nonce, &sealed),
            Err(CryptoError::Decrypt)
        );
    }

    #[test]
    fn the_tag_is_the_tail_tag_of_the_file_construction_moved_in_front() {
        let key = SbKey::from_bytes([7u8; 32]);
        let nonce = SbNonce([1u8; 24]);
        let tail = crate::secretbox::seal(&key, &nonce, b"same bytes");
        let front = seal(&key, &nonce, b"same bytes");
        assert_eq!(front[..16], tail[10..]);
        assert_eq!(front[16..], tail[..10]);
    }
}
