//! XFTP commands (client → relay), responses (relay → client) and protocol errors, with their
//! exact encodings: `TAG` or `TAG ' ' params`, params consumed entirely.

use std::fmt;

use simplex_codec::encoding::{put_short, Decode, Encode, NonEmpty, Reader, ShortString};
use simplex_codec::{DecodeError, EncodeError};
use simplex_crypto::keys::PublicKey;

/// What a chunk is, as the sender declares it in FNEW.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// The key that signs the sender's commands for this chunk.
    pub sender_key: PublicKey,
    /// Chunk size (one of the allowed sizes).
    pub size: u32,
    /// SHA-256 of the chunk.
    pub digest: Vec<u8>,
}

/// A client command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Create a chunk record: sender key, size, digest, recipient keys, optional password.
    New {
        /// The chunk.
        info: FileInfo,
        /// One key per recipient ID to create (1..=255).
        recipient_keys: Vec<PublicKey>,
        /// The relay's file-creation password, if it has one.
        basic_auth: Option<Vec<u8>>,
    },
    /// Add recipients to an existing chunk.
    Add {
        /// One key per new recipient ID.
        recipient_keys: Vec<PublicKey>,
    },
    /// Upload the chunk bytes (they follow the command block in the request body).
    Put,
    /// Delete the chunk and all its recipients.
    Del,
    /// Download the chunk, re-encrypted for this fresh X25519 key.
    Get {
        /// The recipient's ephemeral DH key.
        dh_key: PublicKey,
    },
    /// The recipient is done: remove its ID.
    Ack,
    /// Keep-alive.
    Ping,
}

impl Command {
    /// The command tag.
    pub fn tag(&self) -> &'static str {
        match self {
            Self::New { .. } => "FNEW",
            Self::Add { .. } => "FADD",
            Self::Put => "FPUT",
            Self::Del => "FDEL",
            Self::Get { .. } => "FGET",
            Self::Ack => "FACK",
            Self::Ping => "PING",
        }
    }

    /// Encodes the command bytes.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = self.tag().as_bytes().to_vec();
        match self {
            Self::New {
                info,
                recipient_keys,
                basic_auth,
            } => {
                out.push(b' ');
                info.sender_key.encode(&mut out)?;
                info.size.encode(&mut out)?;
                put_short(&mut out, &info.digest)?;
                NonEmpty(recipient_keys.clone()).encode(&mut out)?;
                basic_auth.clone().map(ShortString).encode(&mut out)?;
            }
            Self::Add { recipient_keys } => {
                out.push(b' ');
                NonEmpty(recipient_keys.clone()).encode(&mut out)?;
            }
            Self::Get { dh_key } => {
                out.push(b' ');
                dh_key.encode(&mut out)?;
            }
            Self::Put | Self::Del | Self::Ack | Self::Ping => {}
        }
        Ok(out)
    }

    /// Decodes command bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, CmdError> {
        let (tag, params) = split_tag(bytes);
        let mut r = Reader::new(params.unwrap_or(&[]));
        let cmd = match (tag, params.is_some()) {
            (b"FNEW", true) => {
                let sender_key = PublicKey::decode(&mut r)?;
                let size = u32::decode(&mut r)?;
                let digest = r.short_bytes()?.to_vec();
                let recipient_keys = NonEmpty::<PublicKey>::decode(&mut r)?.0;
                let basic_auth = Option::<ShortString>::decode(&mut r)?.map(|s| s.0);
                Self::New {
                    info: FileInfo {
                        sender_key,
                        size,
                        digest,
                    },
                    recipient_keys,
                    basic_auth,
                }
            }
            (b"FADD", true) => Self::Add {
                recipient_keys: NonEmpty::<PublicKey>::decode(&mut r)?.0,
            },
            (b"FGET", true) => Self::Get {
                dh_key: PublicKey::decode(&mut r)?,
            },
            (b"FPUT", false) => Self::Put,
            (b"FDEL", false) => Self::Del,
            (b"FACK", false) => Self::Ack,
            (b"PING", false) => Self::Ping,
            (b"FNEW" | b"FADD" | b"FGET" | b"FPUT" | b"FDEL" | b"FACK" | b"PING", _) => {
                return Err(CmdError::Syntax)
            }
            _ => return Err(CmdError::Unknown),
        };
        r.finish().map_err(|_| CmdError::Syntax)?;
        Ok(cmd)
    }
}

/// A relay response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// IDs of a new chunk: sender ID and one recipient ID per key, in key order.
    Sids {
        /// Sender ID.
        sender_id: Vec<u8>,
        /// Recipient IDs.
        recipient_ids: Vec<Vec<u8>>,
    },
    /// IDs of added recipients.
    Rids(Vec<Vec<u8>>),
    /// The chunk follows, encrypted for `dh_key` with `nonce`.
    File {
        /// The relay's ephemeral X25519 key.
        dh_key: PublicKey,
        /// The transit encryption nonce.
        nonce: [u8; 24],
    },
    /// Done.
    Ok,
    /// An error.
    Err(XftpError),
    /// Answer to PING.
    Pong,
}

impl Response {
    /// Encodes the response bytes.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        match self {
            Self::Sids {
                sender_id,
                recipient_ids,
            } => {
                out.extend_from_slice(b"SIDS ");
                put_short(&mut out, sender_id)?;
                NonEmpty(recipient_ids.iter().cloned().map(ShortString).collect())
                    .encode(&mut out)?;
            }
            Self::Rids(ids) => {
                out.extend_from_slice(b"RIDS ");
                NonEmpty(ids.iter().cloned().map(ShortString).collect()).encode(&mut out)?;
            }
            Self::File { dh_key, nonce } => {
                out.extend_from_slice(b"FILE ");
                dh_key.encode(&mut out)?;
                out.extend_from_slice(nonce);
            }
            Self::Ok => out.extend_from_slice(b"OK"),
            Self::Err(e) => {
                out.extend_from_slice(b"ERR ");
                out.extend_from_slice(e.to_string().as_bytes());
            }
            Self::Pong => out.extend_from_slice(b"PONG"),
        }
        Ok(out)
    }

    /// Decodes response bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self, CmdError> {
        let (tag, params) = split_tag(bytes);
        let mut r = Reader::new(params.unwrap_or(&[]));
        let resp = match (tag, params.is_some()) {
            (b"SIDS", true) => Self::Sids {
                sender_id: r.short_bytes()?.to_vec(),
                recipient_ids: NonEmpty::<ShortString>::decode(&mut r)?
                    .0
                    .into_iter()
                    .map(|s| s.0)
                    .collect(),
            },
            (b"RIDS", true) => Self::Rids(
                NonEmpty::<ShortString>::decode(&mut r)?
                    .0
                    .into_iter()
                    .map(|s| s.0)
                    .collect(),
            ),
            (b"FILE", true) => Self::File {
                dh_key: PublicKey::decode(&mut r)?,
                nonce: r.take_array()?,
            },
            (b"ERR", true) => {
                let text = std::str::from_utf8(r.rest()).map_err(|_| CmdError::Syntax)?;
                Self::Err(text.parse()?)
            }
            (b"OK", false) => Self::Ok,
            (b"PONG", false) => Self::Pong,
            _ => return Err(CmdError::Unknown),
        };
        r.finish().map_err(|_| CmdError::Syntax)?;
        Ok(resp)
    }
}

fn split_tag(bytes: &[u8]) -> (&[u8], Option<&[u8]>) {
    match bytes.iter().position(|&b| b == b' ') {
        Some(i) => (&bytes[..i], Some(&bytes[i + 1..])),
        None => (bytes, None),
    }
}

/// Errors in a command's form or credentials (`ERR CMD ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum CmdError {
    /// Unknown command tag.
    #[error("UNKNOWN")]
    Unknown,
    /// Known tag, malformed parameters or trailing bytes.
    #[error("SYNTAX")]
    Syntax,
    /// Not allowed in this state.
    #[error("PROHIBITED")]
    Prohibited,
    /// Missing signature or entity ID.
    #[error("NO_AUTH")]
    NoAuth,
    /// A signature or entity where none is allowed.
    #[error("HAS_AUTH")]
    HasAuth,
    /// No entity ID where one is required.
    #[error("NO_ENTITY")]
    NoEntity,
}

impl From<DecodeError> for CmdError {
    fn from(_: DecodeError) -> Self {
        Self::Syntax
    }
}

/// Why a file was blocked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockingInfo {
    /// `spam` or `content`.
    pub reason: BlockingReason,
    /// Optional JSON notice, carried verbatim.
    pub notice: Option<String>,
}

/// The reasons a relay operator can block a file for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockingReason {
    /// Spam.
    Spam,
    /// Illegal content.
    Content,
}

impl fmt::Display for BlockingInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reason = match self.reason {
            BlockingReason::Spam => "spam",
            BlockingReason::Content => "content",
        };
        write!(f, "reason={reason}")?;
        if let Some(n) = &self.notice {
            write!(f, ",notice={n}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for BlockingInfo {
    type Err = CmdError;
    fn from_str(s: &str) -> Result<Self, CmdError> {
        let rest = s.strip_prefix("reason=").ok_or(CmdError::Syntax)?;
        let (reason, notice) = match rest.split_once(",notice=") {
            Some((r, n)) => (r, Some(n.to_string())),
            None => (rest, None),
        };
        let reason = match reason {
            "spam" => BlockingReason::Spam,
            "content" => BlockingReason::Content,
            _ => return Err(CmdError::Syntax),
        };
        Ok(Self { reason, notice })
    }
}

/// Protocol errors as they travel in `ERR ...` responses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XftpError {
    /// The request block is malformed (size, padding, batch).
    #[error("BLOCK")]
    Block,
    /// The transmission's session ID is not this TLS session's.
    #[error("SESSION")]
    Session,
    /// The handshake failed.
    #[error("HANDSHAKE")]
    Handshake,
    /// The command is malformed or has the wrong credentials.
    #[error("CMD {0}")]
    Cmd(CmdError),
    /// Bad signature, unknown ID, or not allowed (indistinguishable on purpose).
    #[error("AUTH")]
    Auth,
    /// The file was blocked by the relay operator (v3+ clients; others get AUTH).
    #[error("BLOCKED {0}")]
    Blocked(BlockingInfo),
    /// Chunk size not allowed, or the uploaded body has the wrong length.
    #[error("SIZE")]
    Size,
    /// The relay's storage quota is used up.
    #[error("QUOTA")]
    Quota,
    /// The uploaded chunk does not match its digest.
    #[error("DIGEST")]
    Digest,
    /// Decryption failed (client side).
    #[error("CRYPTO")]
    Crypto,
    /// The chunk was not uploaded yet.
    #[error("NO_FILE")]
    NoFile,
    /// The chunk was already uploaded.
    #[error("HAS_FILE")]
    HasFile,
    /// The relay failed to read or write the chunk.
    #[error("FILE_IO")]
    FileIo,
    /// The chunk did not arrive in time.
    #[error("TIMEOUT")]
    Timeout,
    /// A relay-internal error.
    #[error("INTERNAL")]
    Internal,
    /// Internal to the reference relay; never sent.
    #[error("DUPLICATE_")]
    Duplicate,
}

impl std::str::FromStr for XftpError {
    type Err = CmdError;
    fn from_str(s: &str) -> Result<Self, CmdError> {
        let (tag, rest) = match s.split_once(' ') {
            Some((t, r)) => (t, Some(r)),
            None => (s, None),
        };
        Ok(match (tag, rest) {
            ("BLOCK", None) => Self::Block,
            ("SESSION", None) => Self::Session,
            ("HANDSHAKE", None) => Self::Handshake,
            ("AUTH", None) => Self::Auth,
            ("SIZE", None) => Self::Size,
            ("QUOTA", None) => Self::Quota,
            ("DIGEST", None) => Self::Digest,
            ("CRYPTO", None) => Self::Crypto,
            ("NO_FILE", None) => Self::NoFile,
            ("HAS_FILE", None) => Self::HasFile,
            ("FILE_IO", None) => Self::FileIo,
            ("TIMEOUT", None) => Self::Timeout,
            ("INTERNAL", None) => Self::Internal,
            ("DUPLICATE_", None) => Self::Duplicate,
            ("BLOCKED", Some(info)) => Self::Blocked(info.parse()?),
            ("CMD", Some(c)) => Self::Cmd(match c {
                "UNKNOWN" => CmdError::Unknown,
                "SYNTAX" => CmdError::Syntax,
                "PROHIBITED" => CmdError::Prohibited,
                "NO_AUTH" => CmdError::NoAuth,
                "HAS_AUTH" => CmdError::HasAuth,
                "NO_ENTITY" | "NO_QUEUE" => CmdError::NoEntity,
                _ => return Err(CmdError::Syntax),
            }),
            _ => return Err(CmdError::Syntax),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_round_trips() {
        let all = [
            XftpError::Block,
            XftpError::Session,
            XftpError::Handshake,
            XftpError::Cmd(CmdError::Unknown),
            XftpError::Cmd(CmdError::Syntax),
            XftpError::Cmd(CmdError::Prohibited),
            XftpError::Cmd(CmdError::NoAuth),
            XftpError::Cmd(CmdError::HasAuth),
            XftpError::Cmd(CmdError::NoEntity),
            XftpError::Auth,
            XftpError::Blocked(BlockingInfo {
                reason: BlockingReason::Spam,
                notice: None,
            }),
            XftpError::Blocked(BlockingInfo {
                reason: BlockingReason::Content,
                notice: Some("{\"k\":1}".into()),
            }),
            XftpError::Size,
            XftpError::Quota,
            XftpError::Digest,
            XftpError::Crypto,
            XftpError::NoFile,
            XftpError::HasFile,
            XftpError::FileIo,
            XftpError::Timeout,
            XftpError::Internal,
            XftpError::Duplicate,
        ];
        for e in all {
            let bytes = Response::Err(e.clone()).encode().unwrap();
            assert_eq!(Response::decode(&bytes).unwrap(), Response::Err(e));
        }
        assert_eq!(
            "CMD NO_QUEUE".parse::<XftpError>().unwrap(),
            XftpError::Cmd(CmdError::NoEntity)
        );
    }

    #[test]
    fn command_syntax_errors() {
        assert_eq!(Command::decode(b"FPUT x"), Err(CmdError::Syntax));
        assert_eq!(Command::decode(b"FGET"), Err(CmdError::Syntax));
        assert_eq!(Command::decode(b"NOPE"), Err(CmdError::Unknown));
        assert_eq!(Command::decode(b"FGET \x01"), Err(CmdError::Syntax));
        assert_eq!(Command::decode(b"PING"), Ok(Command::Ping));
    }
}
