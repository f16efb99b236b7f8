//! SHA-256 (per chunk) and SHA-512 (whole encrypted file), from OpenSSL: on these machines its
//! SHA-512 is ~40% faster than any pure-Rust one and SHA-512 is the one stage of the pipeline
//! that cannot be split (see `docs/PRIMITIVES.md`).

/// Bytes of a chunk digest.
pub const SHA256_LEN: usize = 32;
/// Bytes of a file digest.
pub const SHA512_LEN: usize = 64;

/// Streaming SHA-256.
pub struct Sha256(openssl::sha::Sha256);

impl Sha256 {
    /// A fresh hasher.
    pub fn new() -> Self {
        Self(openssl::sha::Sha256::new())
    }
    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }
    /// The digest.
    pub fn finish(self) -> [u8; SHA256_LEN] {
        self.0.finish()
    }
}

impl Default for Sha256 {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Sha256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sha256")
    }
}

/// Streaming SHA-512.
pub struct Sha512(openssl::sha::Sha512);

impl Sha512 {
    /// A fresh hasher.
    pub fn new() -> Self {
        Self(openssl::sha::Sha512::new())
    }
    /// Feeds bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }
    /// The digest.
    pub fn finish(self) -> [u8; SHA512_LEN] {
        self.0.finish()
    }
}

impl Default for Sha512 {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Sha512 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sha512")
    }
}

/// SHA-256 of a slice.
pub fn sha256(data: &[u8]) -> [u8; SHA256_LEN] {
    openssl::sha::sha256(data)
}

/// SHA-512 of a slice.
pub fn sha512(data: &[u8]) -> [u8; SHA512_LEN] {
    openssl::sha::sha512(data)
}

/// SHA3-384 (the SMP relay checks client-chosen sender ids against the first 24 bytes of the
/// SHA3-384 of the NEW command's correlation id).
pub fn sha3_384(data: &[u8]) -> Result<[u8; 48], crate::CryptoError> {
    let d = openssl::hash::hash(openssl::hash::MessageDigest::sha3_384(), data)?;
    let mut out = [0u8; 48];
    out.copy_from_slice(&d);
    Ok(out)
}

/// SHA3-256 (a short link's key is the SHA3-256 of its fixed data).
pub fn sha3_256(data: &[u8]) -> Result<[u8; 32], crate::CryptoError> {
    let d = openssl::hash::hash(openssl::hash::MessageDigest::sha3_256(), data)?;
    let mut out = [0u8; 32];
    out.copy_from_slice(&d);
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn sha3_256_known_answer() {
        assert_eq!(
            hex::encode(super::sha3_256(b"abc").unwrap()),
            "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532"
        );
    }

    #[test]
    fn sha3_384_known_answer() {
        assert_eq!(
            hex::encode(super::sha3_384(b"").unwrap()),
            "0c63a75b845e4f7d01107d852e4c2485c51a50aaaa94fc61995e71bbee983a2ac3713831264adb47fb6bd1e058d5f004"
        );
    }
}
