//! The XFTP handshake messages (protocol versions 2 and 3).
//!
//! ```text
//! client hello    = empty body | pad('0') | pad('1' ‖ shortString(32-byte web challenge))
//! server hello    = pad(versionRange ‖ shortString sessionId ‖ NonEmpty(Large cert DER)
//!                       ‖ Large(signedKey DER) ‖ shortString webIdentityProof ‖ Tail)
//! client handshake= pad(Word16 version ‖ shortString keyHash ‖ Tail)
//! signedKey       = SEQUENCE { SPKI(X25519), AlgorithmIdentifier(Ed25519|Ed448), BIT STRING sig }
//! ```

use crate::transmission::XFTP_BLOCK_SIZE;
use simplex_codec::encoding::{
    pad, put_large, put_short, unpad, Decode, Encode, Large, NonEmpty, Reader,
};
use simplex_codec::{DecodeError, EncodeError};
use simplex_crypto::keys::{KeyAlgorithm, PublicKey};

/// Lowest protocol version the relay speaks.
pub const MIN_VERSION: u16 = 1;
/// v2: handshake and authenticated commands.
pub const AUTH_CMDS_VERSION: u16 = 2;
/// v3: `ERR BLOCKED`.
pub const BLOCKED_FILES_VERSION: u16 = 3;
/// Highest protocol version spoken here.
pub const CURRENT_VERSION: u16 = 3;

/// An inclusive version range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionRange {
    /// Lowest.
    pub min: u16,
    /// Highest.
    pub max: u16,
}

impl VersionRange {
    /// The highest version both ranges contain.
    pub fn negotiate(&self, other: &VersionRange) -> Option<u16> {
        let v = self.max.min(other.max);
        (v >= self.min.max(other.min)).then_some(v)
    }
}

/// The client's first request: empty (native clients) or a web challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientHello {
    /// No challenge.
    Plain,
    /// A browser client's 32-byte challenge, to be signed with the online key.
    Web([u8; 32]),
}

impl ClientHello {
    /// Reads a hello body: empty, or a padded block holding `'0'` or `'1' ‖ shortString`.
    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        if body.is_empty() {
            return Ok(Self::Plain);
        }
        let mut r = Reader::new(unpad(body)?);
        let hello = match r.byte()? {
            b'0' => Self::Plain,
            b'1' => {
                let c = r.short_bytes()?;
                Self::Web(
                    c.try_into()
                        .map_err(|_| DecodeError::BadKey("web challenge must be 32 bytes"))?,
                )
            }
            byte => {
                return Err(DecodeError::BadTag {
                    what: "hello",
                    byte,
                })
            }
        };
        Ok(hello)
    }

    /// The hello body: empty for a native client.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        match self {
            Self::Plain => Ok(Vec::new()),
            Self::Web(c) => {
                let mut m = vec![b'1'];
                put_short(&mut m, c)?;
                pad(&m, XFTP_BLOCK_SIZE)
            }
        }
    }
}

/// The relay's hello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHandshake {
    /// Versions the relay speaks.
    pub versions: VersionRange,
    /// The session ID (tls-unique) as the relay sees it.
    pub session_id: Vec<u8>,
    /// DER certificates: the online certificate, then the CA (identity) certificate.
    pub cert_chain: Vec<Vec<u8>>,
    /// The X.509-style signed X25519 key (DER), signed by the online key.
    pub signed_key: Vec<u8>,
    /// For web clients: signature by the online key over `challenge ‖ sessionId`; else empty.
    pub web_identity_proof: Vec<u8>,
}

impl ServerHandshake {
    /// Encodes the unpadded message.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        self.versions.min.encode(&mut out)?;
        self.versions.max.encode(&mut out)?;
        put_short(&mut out, &self.session_id)?;
        NonEmpty(self.cert_chain.iter().cloned().map(Large).collect()).encode(&mut out)?;
        put_large(&mut out, &self.signed_key)?;
        put_short(&mut out, &self.web_identity_proof)?;
        Ok(out)
    }

    /// The padded block.
    pub fn encode_block(&self) -> Result<Vec<u8>, EncodeError> {
        pad(&self.encode()?, XFTP_BLOCK_SIZE)
    }

    /// Reads a padded server hello; a missing proof (older relays) is empty, a tail is ignored.
    pub fn decode_block(block: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(unpad(block)?);
        let versions = VersionRange {
            min: u16::decode(&mut r)?,
            max: u16::decode(&mut r)?,
        };
        let session_id = r.short_bytes()?.to_vec();
        let cert_chain = NonEmpty::<Large>::decode(&mut r)?
            .0
            .into_iter()
            .map(|l| l.0)
            .collect();
        let signed_key = r.large_bytes()?.to_vec();
        let web_identity_proof = if r.remaining() > 0 {
            r.short_bytes()?.to_vec()
        } else {
            Vec::new()
        };
        Ok(Self {
            versions,
            session_id,
            cert_chain,
            signed_key,
            web_identity_proof,
        })
    }
}

/// The client's handshake: the chosen version and the relay identity it expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientHandshake {
    /// Chosen version.
    pub version: u16,
    /// SHA-256 of the relay's CA certificate, from the address.
    pub key_hash: Vec<u8>,
}

impl ClientHandshake {
    /// Encodes the unpadded message.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        self.version.encode(&mut out)?;
        put_short(&mut out, &self.key_hash)?;
        Ok(out)
    }

    /// The padded block.
    pub fn encode_block(&self) -> Result<Vec<u8>, EncodeError> {
        pad(&self.encode()?, XFTP_BLOCK_SIZE)
    }

    /// Reads a padded client handshake (a tail is ignored).
    pub fn decode_block(block: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(unpad(block)?);
        Ok(Self {
            version: u16::decode(&mut r)?,
            key_hash: r.short_bytes()?.to_vec(),
        })
    }
}

/// Builds the signed-key structure: `SEQUENCE { spki, algId, BIT STRING sig }`.
pub fn encode_signed_key(spki: &[u8], alg: KeyAlgorithm, signature: &[u8]) -> Vec<u8> {
    let alg_id: &[u8] = match alg {
        KeyAlgorithm::Ed448 => &[0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x71],
        _ => &[0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70],
    };
    let mut bits = vec![0u8];
    bits.extend_from_slice(signature);
    let mut body = spki.to_vec();
    body.extend_from_slice(alg_id);
    der_tlv(&mut body, 0x03, &bits);
    let mut out = Vec::new();
    der_tlv(&mut out, 0x30, &body);
    out
}

/// Splits a signed key into (SPKI DER, signature algorithm, signature). Also accepts the SPKI
/// wrapped in one more SEQUENCE.
pub fn decode_signed_key(der: &[u8]) -> Result<(Vec<u8>, KeyAlgorithm, Vec<u8>), DecodeError> {
    let bad = DecodeError::BadKey;
    let (tag, body, rest) = der_read(der)?;
    if tag != 0x30 || !rest.is_empty() {
        return Err(bad("signed key is not a SEQUENCE"));
    }
    let (t1, wrapped, after) = der_read(body)?;
    if t1 != 0x30 {
        return Err(bad("signed key has no SubjectPublicKeyInfo"));
    }
    let first = &body[..body.len() - after.len()];
    let spki = if PublicKey::from_der(first).is_ok() {
        first.to_vec()
    } else {
        // One more SEQUENCE around the SPKI.
        let (t, _, tail) = der_read(wrapped)?;
        if t != 0x30 || !tail.is_empty() {
            return Err(bad("signed key has no SubjectPublicKeyInfo"));
        }
        wrapped.to_vec()
    };
    let (t2, alg_body, after2) = der_read(after)?;
    if t2 != 0x30 {
        return Err(bad("signed key has no algorithm"));
    }
    let alg = match alg_body {
        [0x06, 0x03, 0x2b, 0x65, 0x70] => KeyAlgorithm::Ed25519,
        [0x06, 0x03, 0x2b, 0x65, 0x71] => KeyAlgorithm::Ed448,
        _ => return Err(bad("signed key algorithm is not Ed25519 or Ed448")),
    };
    let (t3, bits, end) = der_read(after2)?;
    if t3 != 0x03 || !end.is_empty() || bits.first() != Some(&0) {
        return Err(bad("signed key signature is not a BIT STRING"));
    }
    Ok((spki, alg, bits[1..].to_vec()))
}

fn der_tlv(out: &mut Vec<u8>, tag: u8, body: &[u8]) {
    out.push(tag);
    let n = body.len();
    if n < 0x80 {
        out.push(n as u8);
    } else if n < 0x100 {
        out.extend_from_slice(&[0x81, n as u8]);
    } else {
        out.extend_from_slice(&[0x82, (n >> 8) as u8, n as u8]);
    }
    out.extend_from_slice(body);
}

/// One DER TLV: (tag, body, rest). Lengths up to 2 bytes (signed keys are small).
fn der_read(der: &[u8]) -> Result<(u8, &[u8], &[u8]), DecodeError> {
    let mut r = Reader::new(der);
    let tag = r.byte()?;
    let first = r.byte()?;
    let len = match first {
        n if n < 0x80 => usize::from(n),
        0x81 => usize::from(r.byte()?),
        0x82 => usize::from(u16::decode(&mut r)?),
        _ => return Err(DecodeError::BadKey("DER length too long")),
    };
    let body = r.take(len)?;
    Ok((tag, body, r.rest()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_key_layout_matches_the_reference() {
        let spki = PublicKey::from_raw(KeyAlgorithm::X25519, &[7; 32])
            .unwrap()
            .to_der();
        let der = encode_signed_key(&spki, KeyAlgorithm::Ed25519, &[9; 64]);
        assert_eq!(&der[..2], &[0x30, 0x76]);
        assert_eq!(&der[46..53], &[0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70]);
        assert_eq!(&der[53..56], &[0x03, 0x41, 0x00]);
        assert_eq!(
            decode_signed_key(&der).unwrap(),
            (spki.clone(), KeyAlgorithm::Ed25519, vec![9; 64])
        );
        let der448 = encode_signed_key(&spki, KeyAlgorithm::Ed448, &[9; 114]);
        assert_eq!(&der448[..3], &[0x30, 0x81, 0xa8]);
        assert_eq!(der448.len(), 3 + 168);
        assert_eq!(decode_signed_key(&der448).unwrap().1, KeyAlgorithm::Ed448);
    }

    #[test]
    fn versions() {
        let server = VersionRange { min: 1, max: 3 };
        assert_eq!(server.negotiate(&VersionRange { min: 2, max: 5 }), Some(3));
        assert_eq!(server.negotiate(&VersionRange { min: 4, max: 5 }), None);
    }
}
