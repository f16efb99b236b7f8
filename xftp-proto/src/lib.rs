//! The sans-IO XFTP protocol: commands and responses, transmissions, the handshake, server
//! addresses and file descriptions. No sockets, no clock, no files: bytes in, values out.
//!
//! ```text
//!   "xftp://hash@host:port"  ◄──►  ServerAddress / XftpServer      (address)
//!   YAML / web link  ◄──►  FileDescription ──► ValidFileDescription (description)
//!   16 KiB block ◄──► Transmission ◄──► Command / Response          (transmission, command)
//!   hello / server handshake / client handshake                     (handshake)
//! ```
//!
//! The binary encoding itself is `simplex-codec`; keys, signatures and the X25519 authenticator
//! are `simplex-crypto`.
//!
//! ```
//! use xftp_proto::description::{FileParty, ValidFileDescription};
//!
//! let yaml = std::fs::read_to_string(concat!(
//!     env!("CARGO_MANIFEST_DIR"), "/../testdata/xftp/description.yaml"))?;
//! let desc = ValidFileDescription::from_yaml(&yaml)?.for_party(FileParty::Recipient)?;
//! assert_eq!(desc.chunks.len(), 4);
//! assert_eq!(desc.to_yaml(), yaml); // canonical: byte-identical to the reference
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

pub mod address;
pub mod command;
pub mod description;
mod error;
pub mod handshake;
pub mod size;
pub mod transmission;

pub use address::{ServerAddress, TransportHost, XftpServer};
pub use command::{CmdError, Command, FileInfo, Response, XftpError};
pub use description::{DescriptionError, FileDescription, FileParty, ValidFileDescription};
pub use error::AddressError;
pub use transmission::{Transmission, XFTP_BLOCK_SIZE};
