//! AES-256-GCM, from OpenSSL, as the double ratchet uses it: 32-byte keys, **16-byte IVs**
//! (the counter block then comes from GHASH of the IV, NIST SP 800-38D), 16-byte tags kept
//! apart from the ciphertext, associated data authenticated but not encrypted.

use openssl::symm::{decrypt_aead, encrypt_aead, Cipher};

use crate::error::CryptoError;

/// Bytes of an AES-256 key.
pub const KEY_LEN: usize = 32;
/// Bytes of a GCM tag.
pub const TAG_LEN: usize = 16;

fn check(key: &[u8], iv: &[u8]) -> Result<(), CryptoError> {
    if key.len() != KEY_LEN {
        return Err(CryptoError::BadLength {
            what: "an AES-256-GCM key",
            expected: KEY_LEN,
            actual: key.len(),
        });
    }
    // OpenSSL accepts any non-empty IV; the protocol uses 16 bytes (the ratchet) or 12.
    if iv.is_empty() {
        return Err(CryptoError::BadLength {
            what: "an AES-GCM IV",
            expected: 16,
            actual: 0,
        });
    }
    Ok(())
}

/// Encrypts `plaintext`; returns the ciphertext (same length) and the tag.
pub fn encrypt(
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    plaintext: &[u8],
) -> Result<(Vec<u8>, [u8; TAG_LEN]), CryptoError> {
    check(key, iv)?;
    let mut tag = [0u8; TAG_LEN];
    let ct = encrypt_aead(
        Cipher::aes_256_gcm(),
        key,
        Some(iv),
        aad,
        plaintext,
        &mut tag,
    )?;
    Ok((ct, tag))
}

/// Checks the tag and decrypts; `CryptoError::Decrypt` on any mismatch.
pub fn decrypt(
    key: &[u8],
    iv: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
    tag: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    check(key, iv)?;
    if tag.len() != TAG_LEN {
        return Err(CryptoError::Decrypt);
    }
    decrypt_aead(Cipher::aes_256_gcm(), key, Some(iv), aad, ciphertext, tag)
        .map_err(|_| CryptoError::Decrypt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_16_byte_iv_and_tampering() {
        let key = [9u8; 32];
        let iv = [1u8; 16];
        let (ct, tag) = encrypt(&key, &iv, b"ad", b"secret message").unwrap();
        assert_eq!(ct.len(), 14);
        assert_eq!(
            decrypt(&key, &iv, b"ad", &ct, &tag).unwrap(),
            b"secret message"
        );
        assert_eq!(
            decrypt(&key, &iv, b"aD", &ct, &tag),
            Err(CryptoError::Decrypt)
        );
        let mut t2 = tag;
        t2[0] ^= 1;
        assert_eq!(
            decrypt(&key, &iv, b"ad", &ct, &t2),
            Err(CryptoError::Decrypt)
        );
        assert_eq!(
            decrypt(&key, &[1u8; 12], b"ad", &ct, &tag),
            Err(CryptoError::Decrypt)
        );
        assert!(encrypt(&key[..31], &iv, b"", b"x").is_err());
    }
}
