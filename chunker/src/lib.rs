//! The XFTP chunk engine: turns a file into SimpleX-compatible encrypted chunks and back.
//!
//! ```text
//! send:  file ──► [L ‖ header ‖ bytes ‖ '#' pad] ──XSalsa20+Poly1305──► ciphertext ‖ tag
//!                                                  └─► cut at the size plan ─► chunks
//!                                                      (SHA-256 each, SHA-512 of all)
//! recv:  chunks in order ──► SHA-512 + tag verified ──► plaintext under a fresh, safe name
//! ```
//!
//! * [`plan`]: payload size → chunk sizes (64 KiB / 256 KiB / 1 MiB / 4 MiB), padding.
//! * The secretbox stream itself (key = HSalsa20(K, 0), tag at the end, seekable), the digests
//!   and the libsodium bindings are in `simplex-crypto`; the size limits in
//!   `simplex_codec::limits`.
//! * [`encrypt`]: the pipelined encryptor (read → encrypt → SHA-256 → SHA-512 on separate
//!   threads, bounded memory) and [`ChunkSource`] to regenerate any chunk from the source.
//! * [`decrypt`]: the streaming, verifying decryptor.
//! * [`name`]: sanitizing received file names, writing without overwriting.
//! * [`output`]: writing files with `O_DIRECT` where possible (decryptor output, relay chunks).
//!
//! ```no_run
//! use chunker::{encrypt_file, Decryptor, DecryptOptions, DecryptParams, EncryptOptions,
//!               SbKey, SbNonce};
//! # fn main() -> Result<(), chunker::ChunkerError> {
//! let (key, nonce) = (SbKey::generate(), SbNonce::generate());
//! let mut enc = encrypt_file("report.pdf".as_ref(), &key, &nonce, &EncryptOptions::default())?;
//! let mut chunks = Vec::new();
//! for chunk in enc.by_ref() {
//!     chunks.push(chunk?.into_vec()); // upload here instead
//! }
//! let summary = enc.finish()?;
//! let params = DecryptParams {
//!     key, nonce,
//!     chunk_sizes: summary.plan.chunk_sizes().to_vec(),
//!     digest: summary.digest,
//!     chunk_digests: Some(summary.chunk_digests.clone()),
//! };
//! let mut dec = Decryptor::new(params, DecryptOptions::new("downloads"))?;
//! for c in chunks {
//!     dec.push(c)?;
//! }
//! let received = dec.finish()?;
//! println!("saved {}", received.path.display());
//! # Ok(()) }
//! ```

pub mod decrypt;
pub mod encrypt;
mod error;
pub mod header;
pub mod name;
pub mod output;
pub mod plan;
mod pool;

pub use decrypt::{DecryptOptions, DecryptParams, DecryptedFile, Decryptor, Recycler};
pub use encrypt::{
    encrypt_file, encrypt_file_to_vec, ChunkSource, EncryptOptions, EncryptedChunk, EncryptedFile,
    FileEncryptor,
};
pub use error::ChunkerError;
pub use header::FileHeader;
pub use plan::{prepare_chunk_sizes, single_chunk_size, ChunkMode, FilePlan};
pub use pool::PooledBuf;
// The key types of this crate's API, defined in `simplex-crypto`.
pub use simplex_crypto::{Keystream, SbKey, SbNonce, SecretBoxStream};
