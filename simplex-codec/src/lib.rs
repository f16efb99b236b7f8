//! The SimpleX binary encoding, shared by XFTP, SMP, the agent and chat: no keys, no I/O.
//!
//! ```text
//!   bytes ──Reader──► Decode ──► values ──Encode──► bytes     (encoding)
//!   message ──pad──► fixed-size block ──unpad──► message      (encoding::pad / unpad)
//!   bytes ◄──► "base64url=" text                              (base64url)
//!   block size, chunk sizes, file size limits                 (limits)
//!   version ranges and their negotiation                      (version)
//! ```
//!
//! ```
//! use simplex_codec::encoding::Large;
//! use simplex_codec::{Decode, Encode, Reader};
//!
//! let mut out = Vec::new();
//! 7u16.encode(&mut out)?;
//! Some(Large(b"hi".to_vec())).encode(&mut out)?;
//! assert_eq!(out, [0, 7, b'1', 0, 2, b'h', b'i']);
//! let mut r = Reader::new(&out);
//! assert_eq!(u16::decode(&mut r)?, 7);
//! assert_eq!(Option::<Large>::decode(&mut r)?, Some(Large(b"hi".to_vec())));
//! r.finish()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

pub mod address;
pub mod base64url;
pub mod encoding;
mod error;
pub mod limits;
pub mod time;
pub mod version;

pub use encoding::{Decode, Encode, Reader};
pub use error::{DecodeError, EncodeError};
