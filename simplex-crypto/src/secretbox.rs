//! The SimpleX secretbox stream: XSalsa20-Poly1305 with the reference's extra key step and the
//! tag after the data.
//!
//! ```text
//! K (32 B), N (24 B)
//!   k' = HSalsa20(K, 0^16)                      -- what the reference does to every secretbox key
//!   keystream = XSalsa20(k', N)
//!     bytes 0..32   -> Poly1305 one-time key
//!     bytes 32..    -> XORed with the data      (data byte p uses keystream byte 32 + p)
//!   tag = Poly1305(ciphertext), appended after the ciphertext
//! ```
//!
//! Because data byte `p` depends only on keystream byte `32 + p`, any slice of the ciphertext
//! can be produced on its own ([`Keystream::apply_at`]); only the tag needs the whole stream.
//! The same construction, keyed by an X25519 shared secret, is the relay's FGET transit
//! encryption.

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::mac::Poly1305;
use crate::sodium::{self, BLOCK_LEN, KEY_LEN, NONCE_LEN, TAG_LEN};

/// Bytes of a secretbox key.
pub const SB_KEY_LEN: usize = KEY_LEN;
/// Bytes of a secretbox nonce.
pub const SB_NONCE_LEN: usize = NONCE_LEN;
/// Bytes of the authentication tag that follows the ciphertext.
pub const AUTH_TAG_LEN: usize = TAG_LEN;

/// A 32-byte symmetric key (file key or DH shared secret). Zeroized on drop; never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct SbKey([u8; SB_KEY_LEN]);

impl SbKey {
    /// Wraps key bytes.
    pub fn from_bytes(bytes: [u8; SB_KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// A fresh random key from the OS CSPRNG.
    pub fn generate() -> Self {
        let mut k = [0u8; SB_KEY_LEN];
        sodium::random_bytes(&mut k);
        Self(k)
    }

    /// The raw key bytes (for writing into a file description).
    pub fn as_bytes(&self) -> &[u8; SB_KEY_LEN] {
        &self.0
    }
}

impl std::fmt::Debug for SbKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SbKey(<secret>)")
    }
}

/// A 24-byte nonce.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SbNonce(pub [u8; SB_NONCE_LEN]);

impl SbNonce {
    /// A fresh random nonce.
    pub fn generate() -> Self {
        let mut n = [0u8; SB_NONCE_LEN];
        sodium::random_bytes(&mut n);
        Self(n)
    }
}

/// The derived keystream of one (key, nonce) pair: seekable, stateless, cheap to share.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Keystream {
    /// HSalsa20(K, 0): the key handed to XSalsa20.
    derived: [u8; KEY_LEN],
    #[zeroize(skip)]
    nonce: [u8; NONCE_LEN],
}

impl Keystream {
    /// Derives the keystream for `key` and `nonce`.
    pub fn new(key: &SbKey, nonce: &SbNonce) -> Self {
        Self {
            derived: sodium::hsalsa20_zero(&key.0),
            nonce: nonce.0,
        }
    }

    /// The one-time Poly1305 key (keystream bytes 0..32).
    fn poly_key(&self) -> [u8; KEY_LEN] {
        let mut block = [0u8; BLOCK_LEN as usize];
        sodium::xsalsa20_xor_in_place(&mut block, &self.nonce, 0, &self.derived);
        let mut key = [0u8; KEY_LEN];
        key.copy_from_slice(&block[..KEY_LEN]);
        block.zeroize();
        key
    }

    /// XORs `buf` with the keystream that belongs to data bytes `pos .. pos + buf.len()`.
    /// Encrypts plaintext or decrypts ciphertext at any position of the stream.
    pub fn apply_at(&self, pos: u64, buf: &mut [u8]) {
        let (mut block, head) = self.split_head(pos, buf.len());
        let (first, rest) = buf.split_at_mut(head);
        if !first.is_empty() {
            let mut ks = self.block(block);
            let start = ((pos + KEY_LEN as u64) % BLOCK_LEN) as usize;
            for (b, k) in first.iter_mut().zip(&ks[start..]) {
                *b ^= k;
            }
            ks.zeroize();
            block += 1;
        }
        sodium::xsalsa20_xor_in_place(rest, &self.nonce, block, &self.derived);
    }

    /// Like [`Keystream::apply_at`], reading `src` and writing `dst` (equal lengths).
    pub fn apply_at_to(&self, pos: u64, src: &[u8], dst: &mut [u8]) {
        assert_eq!(src.len(), dst.len(), "apply_at_to needs equal lengths");
        let (mut block, head) = self.split_head(pos, src.len());
        let (s_first, s_rest) = src.split_at(head);
        let (d_first, d_rest) = dst.split_at_mut(head);
        if !s_first.is_empty() {
            let mut ks = self.block(block);
            let start = ((pos + KEY_LEN as u64) % BLOCK_LEN) as usize;
            for ((d, s), k) in d_first.iter_mut().zip(s_first).zip(&ks[start..]) {
                *d = s ^ k;
            }
            ks.zeroize();
            block += 1;
        }
        sodium::xsalsa20_xor_to(s_rest, d_rest, &self.nonce, block, &self.derived);
    }

    /// Keystream block index of data position `pos`, and how many bytes of `len` fall before
    /// the next block boundary (0 when `pos` is block aligned).
    fn split_head(&self, pos: u64, len: usize) -> (u64, usize) {
        let ks_pos = pos + KEY_LEN as u64;
        let block = ks_pos / BLOCK_LEN;
        let offset = ks_pos % BLOCK_LEN;
        let head = if offset == 0 {
            0
        } else {
            ((BLOCK_LEN - offset) as usize).min(len)
        };
        (block, head)
    }

    fn block(&self, index: u64) -> [u8; BLOCK_LEN as usize] {
        let mut ks = [0u8; BLOCK_LEN as usize];
        sodium::xsalsa20_xor_in_place(&mut ks, &self.nonce, index, &self.derived);
        ks
    }
}

impl std::fmt::Debug for Keystream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keystream(<secret>)")
    }
}

/// Sequential secretbox state: the keystream plus the running Poly1305 over the ciphertext.
/// Feed data in order, in pieces of any size.
#[derive(Debug)]
pub struct SecretBoxStream {
    keystream: Keystream,
    mac: Poly1305,
    pos: u64,
}

impl SecretBoxStream {
    /// Starts a stream at data position 0.
    pub fn new(key: &SbKey, nonce: &SbNonce) -> Self {
        let keystream = Keystream::new(key, nonce);
        let mut poly_key = keystream.poly_key();
        let mac = Poly1305::new(&poly_key);
        poly_key.zeroize();
        Self {
            keystream,
            mac,
            pos: 0,
        }
    }

    /// The keystream, for seeking outside the sequential pass.
    pub fn keystream(&self) -> &Keystream {
        &self.keystream
    }

    /// Data bytes processed so far.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Encrypts `buf` in place and authenticates the ciphertext.
    pub fn encrypt_in_place(&mut self, buf: &mut [u8]) {
        self.keystream.apply_at(self.pos, buf);
        self.mac.update(buf);
        self.pos += buf.len() as u64;
    }

    /// Authenticates ciphertext `src` and decrypts it into `dst` (equal lengths).
    pub fn decrypt_to(&mut self, src: &[u8], dst: &mut [u8]) {
        self.mac.update(src);
        self.keystream.apply_at_to(self.pos, src, dst);
        self.pos += src.len() as u64;
    }

    /// Authenticates ciphertext that was encrypted elsewhere (e.g. by [`Keystream::apply_at`])
    /// without transforming it.
    pub fn authenticate(&mut self, ciphertext: &[u8]) {
        self.mac.update(ciphertext);
        self.pos += ciphertext.len() as u64;
    }

    /// The tag over everything fed so far.
    pub fn tag(self) -> [u8; AUTH_TAG_LEN] {
        self.mac.finalize()
    }

    /// Checks a received tag in constant time.
    pub fn verify(self, tag: &[u8]) -> bool {
        let ours = self.mac.finalize();
        tag.len() == AUTH_TAG_LEN && bool::from(ours.ct_eq(tag))
    }
}

/// One-shot: encrypts `data` and appends the tag (`ciphertext ‖ tag`).
pub fn seal(key: &SbKey, nonce: &SbNonce, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + AUTH_TAG_LEN);
    out.extend_from_slice(data);
    let mut s = SecretBoxStream::new(key, nonce);
    s.encrypt_in_place(&mut out);
    out.extend_from_slice(&s.tag());
    out
}

/// One-shot: verifies and decrypts `ciphertext ‖ tag`; `None` if the tag does not verify.
pub fn open(key: &SbKey, nonce: &SbNonce, sealed: &[u8]) -> Option<Vec<u8>> {
    let body_len = sealed.len().checked_sub(AUTH_TAG_LEN)?;
    let (body, tag) = sealed.split_at(body_len);
    let mut out = vec![0u8; body_len];
    let mut s = SecretBoxStream::new(key, nonce);
    s.decrypt_to(body, &mut out);
    if s.verify(tag) {
        Some(out)
    } else {
        out.zeroize();
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SbKey {
        let mut k = [0u8; 32];
        for (i, b) in k.iter_mut().enumerate() {
            *b = i as u8 + 1;
        }
        SbKey::from_bytes(k)
    }

    #[test]
    fn seal_open_round_trip_and_tamper() {
        let n = SbNonce([7u8; 24]);
        let data: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        let sealed = seal(&key(), &n, &data);
        assert_eq!(sealed.len(), data.len() + 16);
        assert_eq!(open(&key(), &n, &sealed).as_deref(), Some(&data[..]));
        let mut bad = sealed.clone();
        bad[3] ^= 1;
        assert!(open(&key(), &n, &bad).is_none());
        assert!(open(&key(), &n, &sealed[..10]).is_none());
    }

    #[test]
    fn apply_at_matches_sequential_for_every_alignment() {
        let n = SbNonce([9u8; 24]);
        let mut whole = vec![0u8; 1000];
        let mut s = SecretBoxStream::new(&key(), &n);
        s.encrypt_in_place(&mut whole);
        let ks = Keystream::new(&key(), &n);
        for start in [0usize, 1, 31, 32, 33, 63, 64, 65, 100, 999] {
            for len in [0usize, 1, 5, 64, 200] {
                let end = (start + len).min(1000);
                let mut part = vec![0u8; end - start];
                ks.apply_at(start as u64, &mut part);
                assert_eq!(part, whole[start..end], "start {start} len {len}");
                let mut out = vec![0u8; end - start];
                ks.apply_at_to(start as u64, &whole[start..end], &mut out);
                assert!(out.iter().all(|&b| b == 0));
            }
        }
    }
}
