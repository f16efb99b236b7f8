//! Helpers shared by the chunk-engine integration tests.
#![allow(dead_code)]
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::path::PathBuf;

use base64::Engine;
use chunker::{SbKey, SbNonce};

/// `testdata/xftp/<name>` inside the repository (a copy of the reference vectors).
pub fn testdata(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/xftp")
        .join(name)
}

pub fn load_json(name: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(testdata(name)).expect("vector file is readable");
    serde_json::from_str(&text).expect("vector file is JSON")
}

/// The vectors' content rule: byte i = (i*31 + seed*7 + (i>>8)) mod 256, seed = len mod 251.
pub fn pattern(len: usize) -> Vec<u8> {
    pattern_seeded(len, len % 251)
}

/// The content rule with an explicit seed.
pub fn pattern_seeded(len: usize, seed: usize) -> Vec<u8> {
    (0..len)
        .map(|i| ((i * 31 + seed * 7 + (i >> 8)) % 256) as u8)
        .collect()
}

pub fn b64u(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE
        .decode(s)
        .expect("valid base64url")
}

/// Key bytes 1..=32 and nonce bytes 100..=123, as in `file_encryption.json`.
pub fn vector_key_nonce() -> (SbKey, SbNonce) {
    let mut k = [0u8; 32];
    for (i, b) in k.iter_mut().enumerate() {
        *b = i as u8 + 1;
    }
    let mut n = [0u8; 24];
    for (i, b) in n.iter_mut().enumerate() {
        *b = i as u8 + 100;
    }
    (SbKey::from_bytes(k), SbNonce(n))
}

/// A deterministic pseudo-random byte stream (xorshift), for big test files.
pub fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    seed |= 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        out.extend_from_slice(&seed.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Decrypts an encrypted file (all chunks in one buffer) of `summary` into `out`, checking
/// the chunk digests too.
pub fn decrypt_whole(
    key: &SbKey,
    nonce: &SbNonce,
    summary: &chunker::EncryptedFile,
    encrypted: &[u8],
    out: &std::path::Path,
) -> chunker::DecryptedFile {
    let params = chunker::DecryptParams {
        key: key.clone(),
        nonce: *nonce,
        chunk_sizes: summary.plan.chunk_sizes().to_vec(),
        digest: summary.digest,
        chunk_digests: Some(summary.chunk_digests.clone()),
    };
    let mut dec = chunker::Decryptor::new(params, chunker::DecryptOptions::new(out)).unwrap();
    let mut at = 0usize;
    for &s in summary.plan.chunk_sizes() {
        dec.push(encrypted[at..at + s as usize].to_vec()).unwrap();
        at += s as usize;
    }
    dec.finish().unwrap()
}
