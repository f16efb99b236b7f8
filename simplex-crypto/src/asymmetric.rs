//! The asymmetric cryptography of the protocols, on OpenSSL: key generation, Ed25519 and Ed448
//! signatures, X25519 and X448 key agreement, and the 80-byte X25519 command authenticator.
//!
//! OpenSSL is used because it is the only maintained Rust-reachable library with Ed448, which
//! official relays use for their certificates and handshake signatures; it is linked for TLS
//! anyway. Ed25519 signatures, which every SMP command carries, run on ed25519-dalek: 44 µs
//! per verification against OpenSSL's 119 µs here, and 17 µs each in batches
//! (`cargo bench --bench primitives -- ed25519`).

use openssl::derive::Deriver;
use openssl::pkey::{Id, PKey, Private, Public};
use openssl::sign::{Signer, Verifier};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use crate::error::CryptoError;
use crate::keys::{KeyAlgorithm, PrivateKey, PublicKey};
use crate::secretbox::{SbKey, SbNonce, SecretBoxStream};

fn id(alg: KeyAlgorithm) -> Id {
    match alg {
        KeyAlgorithm::Ed25519 => Id::ED25519,
        KeyAlgorithm::Ed448 => Id::ED448,
        KeyAlgorithm::X25519 => Id::X25519,
        KeyAlgorithm::X448 => Id::X448,
    }
}

fn openssl_private(key: &PrivateKey) -> Result<PKey<Private>, CryptoError> {
    Ok(PKey::private_key_from_raw_bytes(
        key.raw(),
        id(key.algorithm()),
    )?)
}

fn openssl_public(key: &PublicKey) -> Result<PKey<Public>, CryptoError> {
    Ok(PKey::public_key_from_raw_bytes(
        key.raw(),
        id(key.algorithm()),
    )?)
}

/// A fresh key pair of `alg`.
pub fn generate(alg: KeyAlgorithm) -> Result<(PublicKey, PrivateKey), CryptoError> {
    let pkey = match alg {
        KeyAlgorithm::Ed25519 => PKey::generate_ed25519()?,
        KeyAlgorithm::Ed448 => PKey::generate_ed448()?,
        KeyAlgorithm::X25519 => PKey::generate_x25519()?,
        KeyAlgorithm::X448 => PKey::generate_x448()?,
    };
    let mut raw = pkey.raw_private_key()?;
    let private = PrivateKey::from_raw(alg, &raw).map_err(|e| CryptoError::Library(e.to_string()));
    raw.zeroize();
    let public = PublicKey::from_raw(alg, &pkey.raw_public_key()?)
        .map_err(|e| CryptoError::Library(e.to_string()))?;
    let private = private?;
    private.cache_public(&public);
    Ok((public, private))
}

/// The public key of a private key (derived once per key, then remembered with it).
pub fn public_key(key: &PrivateKey) -> Result<PublicKey, CryptoError> {
    if let Some(p) = key.cached_public() {
        return Ok(p.clone());
    }
    let pkey = openssl_private(key)?;
    let public = PublicKey::from_raw(key.algorithm(), &pkey.raw_public_key()?)
        .map_err(|e| CryptoError::Library(e.to_string()))?;
    key.cache_public(&public);
    Ok(public)
}

/// Signs `msg` with an Ed25519 (64-byte signature) or Ed448 (114-byte) key. Ed25519 runs on
/// ed25519-dalek (the signatures are the same, RFC 8032 being deterministic; it is about three
/// times faster than OpenSSL's EVP path here), Ed448 on OpenSSL.
pub fn sign(key: &PrivateKey, msg: &[u8]) -> Result<Vec<u8>, CryptoError> {
    match key.algorithm() {
        KeyAlgorithm::Ed25519 => {
            use ed25519_dalek::Signer as _;
            let sk = key
                .ed25519()
                .ok_or_else(|| CryptoError::Library("Ed25519 key length".into()))?;
            Ok(sk.sign(msg).to_bytes().to_vec())
        }
        KeyAlgorithm::Ed448 => {
            let pkey = openssl_private(key)?;
            Ok(Signer::new_without_digest(&pkey)?.sign_oneshot_to_vec(msg)?)
        }
        other => Err(CryptoError::WrongAlgorithm(other)),
    }
}

fn dalek_key(key: &PublicKey) -> Option<ed25519_dalek::VerifyingKey> {
    ed25519_dalek::VerifyingKey::from_bytes(key.raw().try_into().ok()?).ok()
}

/// Verifies many signatures at once: for Ed25519, one batch verification (several times
/// cheaper per signature than one by one); when the batch fails, or for other keys, each is
/// checked on its own, so the answer is always per signature and the same as [`verify`] for
/// every honestly made key. Items: (key, signed bytes, signature).
pub fn verify_many(items: &[(&PublicKey, &[u8], &[u8])]) -> Vec<bool> {
    let mut result = vec![false; items.len()];
    let mut batch = Vec::new();
    let (mut keys, mut sigs, mut msgs) = (Vec::new(), Vec::new(), Vec::new());
    for (i, (k, m, s)) in items.iter().enumerate() {
        let parsed = (k.algorithm() == KeyAlgorithm::Ed25519)
            .then(|| dalek_key(k))
            .flatten()
            // Small-order keys get the one-by-one (strict) check.
            .filter(|vk| !vk.is_weak())
            .zip(ed25519_dalek::Signature::from_slice(s).ok());
        match parsed {
            Some((vk, sig)) => {
                batch.push(i);
                keys.push(vk);
                sigs.push(sig);
                msgs.push(*m);
            }
            None => result[i] = verify(k, m, s),
        }
    }
    let all_good = match batch.len() {
        0 => true,
        1 => false,
        _ => ed25519_dalek::verify_batch(&msgs, &sigs, &keys).is_ok(),
    };
    for (n, &i) in batch.iter().enumerate() {
        result[i] = all_good || keys[n].verify_strict(msgs[n], &sigs[n]).is_ok();
    }
    result
}

/// Checks a signature; any failure (wrong algorithm, malformed key or signature) is `false`.
pub fn verify(key: &PublicKey, msg: &[u8], sig: &[u8]) -> bool {
    let expected = match key.algorithm() {
        KeyAlgorithm::Ed25519 => 64,
        KeyAlgorithm::Ed448 => 114,
        _ => return false,
    };
    if sig.len() != expected {
        return false;
    }
    if key.algorithm() == KeyAlgorithm::Ed25519 {
        let sig = ed25519_dalek::Signature::from_slice(sig);
        return match (dalek_key(key), sig) {
            (Some(k), Ok(s)) => k.verify_strict(msg, &s).is_ok(),
            _ => false,
        };
    }
    let Ok(pkey) = openssl_public(key) else {
        return false;
    };
    Verifier::new_without_digest(&pkey)
        .and_then(|mut v| v.verify_oneshot(sig, msg))
        .unwrap_or(false)
}

/// X25519 / X448 shared secret of our private key and the peer's public key.
pub fn dh(ours: &PrivateKey, theirs: &PublicKey) -> Result<Vec<u8>, CryptoError> {
    let pair = match (ours.algorithm(), theirs.algorithm()) {
        (KeyAlgorithm::X25519, KeyAlgorithm::X25519) | (KeyAlgorithm::X448, KeyAlgorithm::X448) => {
            (openssl_private(ours)?, openssl_public(theirs)?)
        }
        (a, _) => return Err(CryptoError::WrongAlgorithm(a)),
    };
    let mut d = Deriver::new(&pair.0)?;
    d.set_peer(&pair.1)?;
    Ok(d.derive_to_vec()?)
}

/// Bytes of the X25519 command authenticator: 16-byte tag ‖ 64-byte encrypted SHA-512.
pub const AUTHENTICATOR_LEN: usize = 80;

/// The deniable X25519 authenticator: `crypto_box(DH, nonce = corrId zero-padded to 24 bytes,
/// SHA-512(signed))`, tag first.
pub fn authenticator(
    shared: &[u8],
    corr_id: &[u8],
    signed: &[u8],
) -> Option<[u8; AUTHENTICATOR_LEN]> {
    let key: [u8; 32] = shared.try_into().ok()?;
    let mut nonce = [0u8; 24];
    let n = corr_id.len().min(24);
    nonce[..n].copy_from_slice(&corr_id[..n]);
    let mut body = crate::digest::sha512(signed);
    let mut s = SecretBoxStream::new(&SbKey::from_bytes(key), &SbNonce(nonce));
    s.encrypt_in_place(&mut body);
    let mut out = [0u8; AUTHENTICATOR_LEN];
    out[..16].copy_from_slice(&s.tag());
    out[16..].copy_from_slice(&body);
    Some(out)
}

/// Checks an X25519 authenticator in constant time.
pub fn verify_authenticator(shared: &[u8], corr_id: &[u8], signed: &[u8], auth: &[u8]) -> bool {
    match authenticator(shared, corr_id, signed) {
        Some(expected) => auth.len() == AUTHENTICATOR_LEN && bool::from(expected.ct_eq(auth)),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ed25519_signatures_match_openssl_and_batches_answer_per_signature() {
        let (pk, sk) = generate(KeyAlgorithm::Ed25519).unwrap();
        // RFC 8032 signatures are deterministic: ours equal OpenSSL's.
        let pkey = openssl_private(&sk).unwrap();
        let theirs = Signer::new_without_digest(&pkey)
            .unwrap()
            .sign_oneshot_to_vec(b"msg")
            .unwrap();
        assert_eq!(sign(&sk, b"msg").unwrap(), theirs);
        let (pk448, sk448) = generate(KeyAlgorithm::Ed448).unwrap();
        let msgs: Vec<Vec<u8>> = (0..20).map(|i| vec![i; 10]).collect();
        let mut sigs: Vec<Vec<u8>> = msgs.iter().map(|m| sign(&sk, m).unwrap()).collect();
        let good = |sigs: &[Vec<u8>]| -> Vec<bool> {
            let mut items: Vec<(&PublicKey, &[u8], &[u8])> = msgs
                .iter()
                .zip(sigs)
                .map(|(m, s)| (&pk, m.as_slice(), s.as_slice()))
                .collect();
            let s448 = sign(&sk448, b"448").unwrap();
            let mut v = {
                items.push((&pk448, b"448", &s448));
                verify_many(&items)
            };
            assert!(v.pop().unwrap(), "the Ed448 item is checked on its own");
            v
        };
        assert!(good(&sigs).iter().all(|&g| g));
        // One bad signature fails only itself.
        sigs[7][3] ^= 1;
        let v = good(&sigs);
        assert_eq!(v.iter().filter(|&&g| !g).count(), 1);
        assert!(!v[7]);
        // A wrong-length signature, too.
        sigs[7].pop();
        assert!(!good(&sigs)[7]);
    }

    #[test]
    fn the_remembered_public_key_is_the_derived_one() {
        for alg in [
            KeyAlgorithm::Ed25519,
            KeyAlgorithm::Ed448,
            KeyAlgorithm::X25519,
            KeyAlgorithm::X448,
        ] {
            let (public, private) = generate(alg).unwrap();
            // A copy from the raw bytes knows nothing and derives it.
            let fresh = PrivateKey::from_raw(alg, private.raw()).unwrap();
            assert!(fresh.cached_public().is_none());
            assert_eq!(public_key(&fresh).unwrap(), public);
            assert_eq!(fresh.cached_public(), Some(&public));
            assert_eq!(public_key(&private).unwrap(), public);
            assert_eq!(public_key(&private.clone()).unwrap(), public);
        }
    }

    #[test]
    fn sign_verify_every_algorithm() {
        for alg in [KeyAlgorithm::Ed25519, KeyAlgorithm::Ed448] {
            let (pk, sk) = generate(alg).unwrap();
            assert_eq!(public_key(&sk).unwrap(), pk);
            let sig = sign(&sk, b"msg").unwrap();
            assert!(verify(&pk, b"msg", &sig));
            assert!(!verify(&pk, b"msh", &sig));
        }
        let (_, x) = generate(KeyAlgorithm::X25519).unwrap();
        assert!(sign(&x, b"m").is_err());
    }

    #[test]
    fn dh_agrees_and_authenticator_verifies() {
        let (pa, sa) = generate(KeyAlgorithm::X25519).unwrap();
        let (pb, sb) = generate(KeyAlgorithm::X25519).unwrap();
        let s1 = dh(&sa, &pb).unwrap();
        assert_eq!(s1, dh(&sb, &pa).unwrap());
        let a = authenticator(&s1, b"corr", b"signed").unwrap();
        assert!(verify_authenticator(&s1, b"corr", b"signed", &a));
        assert!(!verify_authenticator(&s1, b"corr", b"signeD", &a));
    }
}
