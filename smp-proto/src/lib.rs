//! The sans-IO SimpleX Messaging Protocol (SMP): versions, transmissions and the batched
//! 16 KiB blocks they travel in. No sockets, no clock: bytes in, values out.
//!
//! ```text
//!   16 KiB block ◄──► 1..255 transmissions (block)     pack(): the reference's batching
//!   transmission ◄──► authorization, ids, command bytes (transmission)
//!   command bytes ◄──► Command, credential checks        (command)
//!   ERR's words ◄──► ErrorType                         (error)
//!   relay message bytes ◄──► BrokerMsg                 (response)
//!   version ranges, what each version changed          (version)
//!   server / client hello, block encryption chains     (handshake)
//! ```
#![forbid(unsafe_code)]

pub mod address;
pub mod block;
pub mod command;
pub mod error;
pub mod handshake;
mod parse;
pub mod proxy;
pub mod response;
pub mod transmission;
pub mod version;

pub use block::{decode_block, encode_block, pack, Packed, BATCH_ROOM};
pub use command::Command;
pub use error::{CommandError, ErrorType};
pub use response::BrokerMsg;
pub use transmission::{AuthKind, Transmission};
pub use version::{Version, VersionRange};
