//! The "signed object" a relay sends in its handshake: its per-session X25519 public key
//! signed with the online certificate's key, as X.509 `SignedExact` DER.
//!
//! ```text
//! SEQUENCE { SubjectPublicKeyInfo, AlgorithmIdentifier (Ed25519 | Ed448), BIT STRING signature }
//! ```
//!
//! The signature covers the SPKI's DER; XFTP and SMP relays both send it.

use simplex_codec::{Decode, DecodeError, Reader};

use crate::keys::{KeyAlgorithm, PublicKey};

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

/// Signs `key` (an X25519 session key) with the online key: the signed object's DER.
pub fn sign_key(
    online_key: &crate::PrivateKey,
    key: &PublicKey,
) -> Result<Vec<u8>, crate::CryptoError> {
    let spki = key.to_der();
    let sig = crate::sign(online_key, &spki)?;
    Ok(encode_signed_key(&spki, online_key.algorithm(), &sig))
}

/// Checks a signed object against the online certificate's public key and returns the
/// X25519 key it carries.
pub fn verify_signed_key(der: &[u8], signer: &PublicKey) -> Result<PublicKey, crate::CryptoError> {
    let (spki, alg, sig) =
        decode_signed_key(der).map_err(|e| crate::CryptoError::Library(e.to_string()))?;
    if alg != signer.algorithm() || !crate::verify(signer, &spki, &sig) {
        return Err(crate::CryptoError::Decrypt);
    }
    let key = PublicKey::from_der(&spki).map_err(|e| crate::CryptoError::Library(e.to_string()))?;
    if key.algorithm() != KeyAlgorithm::X25519 {
        return Err(crate::CryptoError::WrongAlgorithm(key.algorithm()));
    }
    Ok(key)
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
    fn signed_session_keys_verify_only_with_the_signer() {
        for alg in [KeyAlgorithm::Ed25519, KeyAlgorithm::Ed448] {
            let (online_pub, online) = crate::generate(alg).unwrap();
            let (session, _) = crate::generate(KeyAlgorithm::X25519).unwrap();
            let der = sign_key(&online, &session).unwrap();
            assert_eq!(verify_signed_key(&der, &online_pub).unwrap(), session);
            let (other, _) = crate::generate(alg).unwrap();
            assert!(verify_signed_key(&der, &other).is_err());
        }
    }
}
