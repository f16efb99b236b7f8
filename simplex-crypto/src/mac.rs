//! Poly1305, streaming: OpenSSL's implementation (AVX2 where the processor has it: about 2.5
//! times libsodium's on these machines), with libsodium's as the fallback when OpenSSL cannot
//! provide one. Both compute the same tag (tests and the reference vectors check it).

use crate::sodium::{self, KEY_LEN, TAG_LEN};

/// A streaming Poly1305 authenticator over a one-time 32-byte key.
#[derive(Debug)]
pub struct Poly1305(Inner);

#[derive(Debug)]
enum Inner {
    OpenSsl(OpenSslMac),
    Sodium(sodium::Poly1305),
}

impl Poly1305 {
    /// Starts a MAC with a one-time key (OpenSSL, else libsodium).
    pub fn new(key: &[u8; KEY_LEN]) -> Self {
        match OpenSslMac::new(key) {
            Some(m) => Self(Inner::OpenSsl(m)),
            None => Self::libsodium(key),
        }
    }

    /// libsodium's implementation (for comparison in benchmarks and tests).
    pub fn libsodium(key: &[u8; KEY_LEN]) -> Self {
        Self(Inner::Sodium(sodium::Poly1305::new(key)))
    }

    /// Feeds more authenticated bytes (any length; partial blocks are buffered).
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.0 {
            Inner::OpenSsl(m) => m.update(data),
            Inner::Sodium(m) => m.update(data),
        }
    }

    /// Finishes and returns the 16-byte tag.
    pub fn finalize(self) -> [u8; TAG_LEN] {
        match self.0 {
            Inner::OpenSsl(m) => m.finalize(),
            Inner::Sodium(m) => m.finalize(),
        }
    }
}

/// OpenSSL's `EVP_MAC` "POLY1305". The context holds the key; OpenSSL cleanses it when freed.
struct OpenSslMac {
    mac: *mut openssl_sys::EVP_MAC,
    ctx: *mut openssl_sys::EVP_MAC_CTX,
}

// SAFETY: the MAC and its context are owned exclusively by this value (no aliases are handed
// out), and OpenSSL allows using a context from any thread as long as one thread at a time does.
#[allow(unsafe_code)]
unsafe impl Send for OpenSslMac {}

#[allow(unsafe_code)]
impl OpenSslMac {
    fn new(key: &[u8; KEY_LEN]) -> Option<Self> {
        openssl_sys::init();
        // SAFETY: the name is a NUL-terminated string; a null library context and properties
        // mean the defaults. Every pointer is checked before use and freed once, in Drop.
        unsafe {
            let mac = openssl_sys::EVP_MAC_fetch(
                std::ptr::null_mut(),
                c"POLY1305".as_ptr(),
                std::ptr::null(),
            );
            if mac.is_null() {
                return None;
            }
            let ctx = openssl_sys::EVP_MAC_CTX_new(mac);
            let me = Self { mac, ctx };
            if ctx.is_null()
                || openssl_sys::EVP_MAC_init(ctx, key.as_ptr(), key.len(), std::ptr::null()) != 1
            {
                return None; // `me` frees what was allocated
            }
            Some(me)
        }
    }

    fn update(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        // SAFETY: the context was initialised with a key in `new`; `data` is readable for its
        // length. EVP_MAC_update cannot fail for Poly1305 once initialised.
        unsafe {
            openssl_sys::EVP_MAC_update(self.ctx, data.as_ptr(), data.len());
        }
    }

    fn finalize(self) -> [u8; TAG_LEN] {
        let mut tag = [0u8; TAG_LEN];
        let mut len = 0usize;
        // SAFETY: the context is initialised and finalised once (self is consumed); `tag` has
        // TAG_LEN writable bytes and OpenSSL writes at most `outsize` of them.
        unsafe {
            openssl_sys::EVP_MAC_final(self.ctx, tag.as_mut_ptr(), &mut len, tag.len());
        }
        tag
    }
}

#[allow(unsafe_code)]
impl Drop for OpenSslMac {
    fn drop(&mut self) {
        // SAFETY: both pointers came from OpenSSL in `new` (or are null, which these accept)
        // and are freed exactly once.
        unsafe {
            openssl_sys::EVP_MAC_CTX_free(self.ctx);
            openssl_sys::EVP_MAC_free(self.mac);
        }
    }
}

impl std::fmt::Debug for OpenSslMac {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpenSslMac { .. }")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openssl_and_libsodium_agree_on_every_split() {
        let key: [u8; 32] = std::array::from_fn(|i| (i * 37 + 11) as u8);
        let data: Vec<u8> = (0..100_003u32).map(|i| (i * 7 + i / 251) as u8).collect();
        let reference = {
            let mut m = Poly1305::libsodium(&key);
            m.update(&data);
            m.finalize()
        };
        assert!(matches!(Poly1305::new(&key).0, Inner::OpenSsl(_)));
        for split in [0usize, 1, 15, 16, 17, 4095, 65536, 100_002] {
            let mut m = Poly1305::new(&key);
            m.update(&data[..split]);
            m.update(&[]);
            m.update(&data[split..]);
            assert_eq!(m.finalize(), reference, "split at {split}");
        }
        // RFC 8439 section 2.5.2.
        let key = hex32("85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b");
        let mut m = Poly1305::new(&key);
        m.update(b"Cryptographic Forum Research Group");
        assert_eq!(m.finalize(), hex16("a8061dc1305136c6c22b8baf0c0127a9"));
    }

    fn hex32(s: &str) -> [u8; 32] {
        std::array::from_fn(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap_or(0))
    }

    fn hex16(s: &str) -> [u8; 16] {
        std::array::from_fn(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap_or(0))
    }
}
