//! The XFTP relay's transit encryption of every download (FGET).
//!
//! ```text
//! client: FGET with a fresh X25519 public key C
//! relay:  fresh X25519 pair (S, s), random nonce N; answers FILE S N, then streams
//!         body = secretbox(DH(s, C), N, chunk) ‖ tag         (tag at the end)
//! client: key = DH(c, S); checks the tag and decrypts
//! ```
//!
//! Both ends use this module: the relay encrypts piece by piece as it reads the chunk file
//! ([`TransitEncryptor`]), the client opens the whole received chunk in place ([`open_in_place`]).

use crate::error::CryptoError;
use crate::keys::{PrivateKey, PublicKey};
use crate::secretbox::{Keystream, SbKey, SbNonce, SecretBoxStream, AUTH_TAG_LEN};

/// The transit key of one download: the X25519 shared secret of our key and the peer's.
pub fn key(ours: &PrivateKey, theirs: &PublicKey) -> Result<SbKey, CryptoError> {
    crate::cryptobox::shared_key(ours, theirs)
}

/// The relay's side: encrypts a chunk as it is read, then gives the tag to send last.
#[derive(Debug)]
pub struct TransitEncryptor(SecretBoxStream);

impl TransitEncryptor {
    /// Starts the stream for one download.
    pub fn new(key: &SbKey, nonce: &SbNonce) -> Self {
        Self(SecretBoxStream::new(key, nonce))
    }

    /// Encrypts the next piece of the chunk in place.
    pub fn encrypt_in_place(&mut self, piece: &mut [u8]) {
        self.0.encrypt_in_place(piece);
    }

    /// The tag, sent after the last piece.
    pub fn tag(self) -> [u8; AUTH_TAG_LEN] {
        self.0.tag()
    }
}

/// The client's side: checks the tag at the end of `sealed` and decrypts the rest in place,
/// leaving the plaintext chunk in `sealed`. On failure `sealed` holds no plaintext.
pub fn open_in_place(
    key: &SbKey,
    nonce: &SbNonce,
    sealed: &mut Vec<u8>,
) -> Result<(), CryptoError> {
    let Some(len) = sealed.len().checked_sub(AUTH_TAG_LEN) else {
        return Err(CryptoError::Decrypt);
    };
    let (body, tag) = sealed.split_at_mut(len);
    let mut s = SecretBoxStream::new(key, nonce);
    s.authenticate(body);
    if !s.verify(tag) {
        return Err(CryptoError::Decrypt);
    }
    Keystream::new(key, nonce).apply_at(0, body);
    sealed.truncate(len);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asymmetric::generate;
    use crate::keys::KeyAlgorithm;

    #[test]
    fn relay_pieces_open_as_one_chunk_and_tampering_fails() {
        let (client_pub, client_priv) = generate(KeyAlgorithm::X25519).unwrap();
        let (relay_pub, relay_priv) = generate(KeyAlgorithm::X25519).unwrap();
        let nonce = SbNonce::generate();
        let chunk: Vec<u8> = (0..100_000u32).map(|i| (i * 7) as u8).collect();
        let mut enc = TransitEncryptor::new(&key(&relay_priv, &client_pub).unwrap(), &nonce);
        let mut wire = Vec::new();
        for piece in chunk.chunks(30_000) {
            let mut p = piece.to_vec();
            enc.encrypt_in_place(&mut p);
            wire.extend_from_slice(&p);
        }
        wire.extend_from_slice(&enc.tag());
        let k = key(&client_priv, &relay_pub).unwrap();
        let mut bad = wire.clone();
        bad[500] ^= 1;
        assert_eq!(
            open_in_place(&k, &nonce, &mut bad),
            Err(CryptoError::Decrypt)
        );
        assert_ne!(bad[..1000], chunk[..1000], "nothing decrypted on failure");
        open_in_place(&k, &nonce, &mut wire).unwrap();
        assert_eq!(wire, chunk);
        assert_eq!(
            open_in_place(&k, &nonce, &mut vec![0u8; 15]),
            Err(CryptoError::Decrypt)
        );
    }

    #[test]
    fn only_x25519_keys_make_a_transit_key() {
        let (p, _) = generate(KeyAlgorithm::X448).unwrap();
        let (_, s) = generate(KeyAlgorithm::X448).unwrap();
        assert!(key(&s, &p).is_err());
    }
}
