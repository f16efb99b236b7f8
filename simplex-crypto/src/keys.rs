//! Key encodings: public keys as X.509 SubjectPublicKeyInfo DER, private keys as PKCS#8 DER,
//! for the four curve algorithms the protocol uses.
//!
//! ```text
//! SPKI   = 30 len 30 05 06 03 2b 65 <oid> 03 len+1 00 <key>
//! PKCS#8 = 30 len 02 01 00 30 05 06 03 2b 65 <oid> 04 len+2 04 len <key>
//! oid: 6e X25519, 6f X448, 70 Ed25519, 71 Ed448
//! ```

use zeroize::{Zeroize, ZeroizeOnDrop};

use simplex_codec::encoding::put_short;
use simplex_codec::{Decode, DecodeError, Encode, EncodeError, Reader};

/// The curve algorithms of the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum KeyAlgorithm {
    /// Signatures, 32-byte keys.
    Ed25519,
    /// Signatures, 57-byte keys.
    Ed448,
    /// Diffie-Hellman, 32-byte keys.
    X25519,
    /// Diffie-Hellman, 56-byte keys.
    X448,
}

impl KeyAlgorithm {
    /// The last byte of the algorithm's OID (1.3.101.x).
    fn oid(self) -> u8 {
        match self {
            Self::X25519 => 0x6e,
            Self::X448 => 0x6f,
            Self::Ed25519 => 0x70,
            Self::Ed448 => 0x71,
        }
    }

    fn from_oid(b: u8) -> Option<Self> {
        Some(match b {
            0x6e => Self::X25519,
            0x6f => Self::X448,
            0x70 => Self::Ed25519,
            0x71 => Self::Ed448,
            _ => return None,
        })
    }

    /// Bytes of a raw public key (and of a private key / seed) of this algorithm.
    pub fn key_len(self) -> usize {
        match self {
            Self::Ed25519 | Self::X25519 => 32,
            Self::Ed448 => 57,
            Self::X448 => 56,
        }
    }
}

/// A public key of one of the four algorithms.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey {
    alg: KeyAlgorithm,
    raw: Vec<u8>,
}

/// The raw bytes of an `alg` key, checked for length.
fn checked_raw(alg: KeyAlgorithm, raw: &[u8]) -> Result<Vec<u8>, DecodeError> {
    if raw.len() == alg.key_len() {
        Ok(raw.to_vec())
    } else {
        Err(DecodeError::BadKey("wrong key length for the algorithm"))
    }
}

impl PublicKey {
    /// Wraps raw key bytes, checking their length for the algorithm.
    pub fn from_raw(alg: KeyAlgorithm, raw: &[u8]) -> Result<Self, DecodeError> {
        Ok(Self {
            alg,
            raw: checked_raw(alg, raw)?,
        })
    }

    /// The algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.alg
    }

    /// The raw key bytes.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// SubjectPublicKeyInfo DER.
    pub fn to_der(&self) -> Vec<u8> {
        let n = self.raw.len();
        let mut der = Vec::with_capacity(n + 12);
        der.extend_from_slice(&[0x30, (n + 10) as u8, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65]);
        der.extend_from_slice(&[self.alg.oid(), 0x03, (n + 1) as u8, 0x00]);
        der.extend_from_slice(&self.raw);
        der
    }

    /// Parses SubjectPublicKeyInfo DER; trailing data is refused.
    pub fn from_der(der: &[u8]) -> Result<Self, DecodeError> {
        let bad = DecodeError::BadKey;
        if der.len() < 12 {
            return Err(bad("too short for a public key"));
        }
        let alg = KeyAlgorithm::from_oid(der[8]).ok_or(bad("unknown key algorithm"))?;
        let n = alg.key_len();
        let expected = [0x30, (n + 10) as u8, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65];
        if der[..8] != expected || der[9..12] != [0x03, (n + 1) as u8, 0x00] {
            return Err(bad("not a SubjectPublicKeyInfo of a curve key"));
        }
        if der.len() != 12 + n {
            return Err(bad("wrong public key length or trailing data"));
        }
        Self::from_raw(alg, &der[12..])
    }
}

/// On the wire a public key is a shortString of its DER.
impl Encode for PublicKey {
    fn encode(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        put_short(out, &self.to_der())
    }
}

impl Decode for PublicKey {
    fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Self::from_der(r.short_bytes()?)
    }
}

/// A private key (an Ed25519/Ed448 seed or an X25519/X448 scalar). Zeroized on drop; its
/// `Debug` output never shows the key.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct PrivateKey {
    #[zeroize(skip)]
    alg: KeyAlgorithm,
    raw: Vec<u8>,
    /// An Ed25519 key ready to sign (its public half derived once); it zeroizes itself.
    #[zeroize(skip)]
    signing: std::sync::OnceLock<Box<ed25519_dalek::SigningKey>>,
    /// The public half, derived once (a scalar multiplication: the ratchet puts its key's
    /// public half in every message header).
    #[zeroize(skip)]
    public: std::sync::OnceLock<PublicKey>,
}

/// Keys compare in constant time, by algorithm and bytes.
impl PartialEq for PrivateKey {
    fn eq(&self, other: &Self) -> bool {
        use subtle::ConstantTimeEq;
        self.alg == other.alg && bool::from(self.raw.ct_eq(&other.raw))
    }
}

impl Eq for PrivateKey {}

impl PrivateKey {
    /// Wraps raw private key bytes, checking their length for the algorithm.
    pub fn from_raw(alg: KeyAlgorithm, raw: &[u8]) -> Result<Self, DecodeError> {
        Ok(Self {
            alg,
            raw: checked_raw(alg, raw)?,
            signing: std::sync::OnceLock::new(),
            public: std::sync::OnceLock::new(),
        })
    }

    /// The Ed25519 signing key (computed on first use); `None` for other algorithms.
    pub(crate) fn ed25519(&self) -> Option<&ed25519_dalek::SigningKey> {
        if self.alg != KeyAlgorithm::Ed25519 {
            return None;
        }
        let seed: &[u8; 32] = self.raw.as_slice().try_into().ok()?;
        Some(
            self.signing
                .get_or_init(|| Box::new(ed25519_dalek::SigningKey::from_bytes(seed))),
        )
    }

    /// The algorithm.
    pub fn algorithm(&self) -> KeyAlgorithm {
        self.alg
    }

    /// The public half if it was derived (or given) before.
    pub(crate) fn cached_public(&self) -> Option<&PublicKey> {
        self.public.get()
    }

    /// Remembers the public half (from key generation or the first derivation).
    pub(crate) fn cache_public(&self, public: &PublicKey) {
        let _ = self.public.set(public.clone());
    }

    /// The raw private key bytes.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// PKCS#8 DER (version 0, no attributes, no public key), as the reference writes it.
    pub fn to_der(&self) -> Vec<u8> {
        let n = self.raw.len();
        let mut der = Vec::with_capacity(n + 16);
        der.extend_from_slice(&[0x30, (n + 14) as u8, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06]);
        der.extend_from_slice(&[0x03, 0x2b, 0x65, self.alg.oid(), 0x04, (n + 2) as u8]);
        der.extend_from_slice(&[0x04, n as u8]);
        der.extend_from_slice(&self.raw);
        der
    }

    /// Parses PKCS#8 DER in the form above; trailing data is refused.
    pub fn from_der(der: &[u8]) -> Result<Self, DecodeError> {
        let bad = DecodeError::BadKey;
        if der.len() < 16 {
            return Err(bad("too short for a private key"));
        }
        let alg = KeyAlgorithm::from_oid(der[11]).ok_or(bad("unknown key algorithm"))?;
        let n = alg.key_len();
        let head = [
            0x30,
            (n + 14) as u8,
            0x02,
            0x01,
            0x00,
            0x30,
            0x05,
            0x06,
            0x03,
            0x2b,
            0x65,
        ];
        if der[..11] != head || der[12..16] != [0x04, (n + 2) as u8, 0x04, n as u8] {
            return Err(bad("not a PKCS#8 curve private key"));
        }
        if der.len() != 16 + n {
            return Err(bad("wrong private key length or trailing data"));
        }
        Self::from_raw(alg, &der[16..])
    }
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PrivateKey({:?}, <secret>)", self.alg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_round_trips() {
        for alg in [
            KeyAlgorithm::Ed25519,
            KeyAlgorithm::Ed448,
            KeyAlgorithm::X25519,
            KeyAlgorithm::X448,
        ] {
            let raw: Vec<u8> = (0..alg.key_len() as u8).collect();
            let pk = PublicKey::from_raw(alg, &raw).unwrap();
            assert_eq!(PublicKey::from_der(&pk.to_der()).unwrap(), pk);
            let sk = PrivateKey::from_raw(alg, &raw).unwrap();
            assert_eq!(PrivateKey::from_der(&sk.to_der()).unwrap(), sk);
            let mut long = pk.to_der();
            long.push(0);
            assert!(PublicKey::from_der(&long).is_err());
        }
    }

    #[test]
    fn known_prefixes() {
        let ed448 = PublicKey::from_raw(KeyAlgorithm::Ed448, &[0; 57]).unwrap();
        assert_eq!(ed448.to_der()[..12], hex(b"3043300506032b6571033a00"));
        let x448 = PublicKey::from_raw(KeyAlgorithm::X448, &[0; 56]).unwrap();
        assert_eq!(x448.to_der()[..12], hex(b"3042300506032b656f033900"));
        assert_eq!(ed448.to_der().len(), 69);
        assert_eq!(x448.to_der().len(), 68);
    }

    fn hex(s: &[u8]) -> Vec<u8> {
        s.chunks(2)
            .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
            .collect()
    }
}
