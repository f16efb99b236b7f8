//! The few libsodium primitives the chunk engine needs, behind safe functions.
//!
//! libsodium (bundled and built from source by `libsodium-sys-stable`) is used because its
//! XSalsa20 stream runs ~8x faster than the pure-Rust one on these machines and, unlike the
//! one-shot secretbox APIs, it can start at any 64-byte keystream block (`*_xor_ic`). That
//! is what makes the file encryption seekable. See `docs/PRIMITIVES.md` for the measurements.
#![allow(unsafe_code)]

use std::sync::Once;

use libsodium_sys as ffi;
use zeroize::Zeroize;

/// Bytes of an XSalsa20 / HSalsa20 key.
pub const KEY_LEN: usize = 32;
/// Bytes of an XSalsa20 nonce.
pub const NONCE_LEN: usize = 24;
/// Bytes of a Poly1305 tag.
pub const TAG_LEN: usize = 16;
/// Bytes of one Salsa20 keystream block.
pub const BLOCK_LEN: u64 = 64;

static INIT: Once = Once::new();

/// Initialises libsodium once per process. `sodium_init` picks the fastest implementation of
/// each primitive for this CPU, so it must run before any of the functions below.
pub fn init() {
    INIT.call_once(|| {
        // SAFETY: sodium_init has no preconditions and is idempotent; it returns -1 only when
        // the library cannot be initialised, which leaves the portable implementations active.
        let _ = unsafe { ffi::sodium_init() };
    });
}

/// HSalsa20(key, 16 zero bytes): the `crypto_box_beforenm` step the reference applies to every
/// secretbox key before using it.
pub fn hsalsa20_zero(key: &[u8; KEY_LEN]) -> [u8; KEY_LEN] {
    init();
    let zero = [0u8; 16];
    let mut out = [0u8; KEY_LEN];
    // SAFETY: `out` has 32 writable bytes, `zero` 16 readable bytes, `key` 32 readable bytes,
    // as crypto_core_hsalsa20 requires; a null constant selects the standard "expand 32-byte k".
    unsafe {
        ffi::crypto_core_hsalsa20(
            out.as_mut_ptr(),
            zero.as_ptr(),
            key.as_ptr(),
            std::ptr::null(),
        );
    }
    out
}

/// XORs `buf` in place with the XSalsa20(key, nonce) keystream starting at keystream block
/// `block` (each block is 64 bytes).
pub fn xsalsa20_xor_in_place(
    buf: &mut [u8],
    nonce: &[u8; NONCE_LEN],
    block: u64,
    key: &[u8; KEY_LEN],
) {
    if buf.is_empty() {
        return;
    }
    init();
    // SAFETY: libsodium's stream functions allow the output to alias the input exactly
    // (in-place operation); both pointers cover `buf.len()` bytes; nonce and key have the
    // required 24 and 32 bytes.
    unsafe {
        ffi::crypto_stream_xsalsa20_xor_ic(
            buf.as_mut_ptr(),
            buf.as_ptr(),
            buf.len() as u64,
            nonce.as_ptr(),
            block,
            key.as_ptr(),
        );
    }
}

/// Like [`xsalsa20_xor_in_place`], reading from `src` and writing to `dst` (same length).
pub fn xsalsa20_xor_to(
    src: &[u8],
    dst: &mut [u8],
    nonce: &[u8; NONCE_LEN],
    block: u64,
    key: &[u8; KEY_LEN],
) {
    assert_eq!(src.len(), dst.len(), "xsalsa20_xor_to needs equal lengths");
    if src.is_empty() {
        return;
    }
    init();
    // SAFETY: `src` and `dst` are distinct slices of equal length (borrow rules forbid partial
    // overlap); nonce and key have the required sizes.
    unsafe {
        ffi::crypto_stream_xsalsa20_xor_ic(
            dst.as_mut_ptr(),
            src.as_ptr(),
            src.len() as u64,
            nonce.as_ptr(),
            block,
            key.as_ptr(),
        );
    }
}

/// A streaming Poly1305 authenticator (`crypto_onetimeauth_*`). Input may arrive in pieces
/// of any length; libsodium buffers partial 16-byte blocks itself.
pub struct Poly1305 {
    state: Box<ffi::crypto_onetimeauth_state>,
}

impl Poly1305 {
    /// Starts a MAC with a one-time 32-byte key.
    pub fn new(key: &[u8; KEY_LEN]) -> Self {
        init();
        let mut state = Box::new(ffi::crypto_onetimeauth_state { opaque: [0u8; 256] });
        // SAFETY: `state` is a properly aligned, writable crypto_onetimeauth_state (repr(C),
        // align 16) and `key` has the 32 bytes crypto_onetimeauth_init reads.
        unsafe {
            ffi::crypto_onetimeauth_init(&mut *state, key.as_ptr());
        }
        Self { state }
    }

    /// Feeds more authenticated bytes.
    pub fn update(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        // SAFETY: the state was initialised in `new`; `data` is readable for its length.
        unsafe {
            ffi::crypto_onetimeauth_update(&mut *self.state, data.as_ptr(), data.len() as u64);
        }
    }

    /// Finishes and returns the 16-byte tag.
    pub fn finalize(mut self) -> [u8; TAG_LEN] {
        let mut tag = [0u8; TAG_LEN];
        // SAFETY: the state is initialised and finalised only once (self is consumed);
        // `tag` has the 16 writable bytes crypto_onetimeauth_final writes.
        unsafe {
            ffi::crypto_onetimeauth_final(&mut *self.state, tag.as_mut_ptr());
        }
        tag
    }
}

impl Drop for Poly1305 {
    fn drop(&mut self) {
        // The state holds the one-time key.
        self.state.opaque.zeroize();
    }
}

impl std::fmt::Debug for Poly1305 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Poly1305 { .. }")
    }
}

/// Fills `buf` with bytes from the operating system's CSPRNG (via libsodium).
pub fn random_bytes(buf: &mut [u8]) {
    init();
    // SAFETY: `buf` is writable for its length.
    unsafe { ffi::randombytes_buf(buf.as_mut_ptr().cast(), buf.len()) }
}
