//! The root package of the XFTP suite workspace: it owns the cross-crate tests (`tests/`) and
//! the benchmarks (`benches/`). The code lives in the member crates:
//!
//! * [`chunker`] - the chunk engine (size plan, secretbox stream, encryptor, decryptor);
//! * [`xftp_proto`] - the sans-IO protocol: encodings, keys, addresses, file descriptions.

pub use chunker;
pub use xftp_proto;
