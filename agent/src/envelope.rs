//! What travels inside SEND bodies: the per-queue e2e layer and the agent envelopes
//! (`Agent/Protocol.hs` ClientMsgEnvelope, AgentMsgEnvelope, AgentMessage, SMPQueueInfo).
//!
//! ```text
//! SEND body  = clientVersion ‖ Maybe(sender X25519) ‖ nonce(24)
//!              ‖ crypto_box(DH(queue key, sender key), nonce, pad(privHeader ‖ envelope, 15904|16000))
//! privHeader = '_' | 'K' senderAuthKey
//! envelope   = agentVersion 'C' Maybe(e2e params) Tail(ratchet msg)     confirmation
//!            | agentVersion 'M' Tail(ratchet msg)                       message
//!            | agentVersion 'I' Large(invitation link) Tail(connInfo)   request to an address
//!            | agentVersion 'R' e2e params Tail(info)                   ratchet re-sync
//! ratchet plaintext (AgentMessage) = 'I' Tail(connInfo) | 'D' NonEmpty(queue info) Tail(connInfo)
//!            | 'R' Tail(info) | 'M' sndMsgId(Int64) short(prevMsgHash) AMessage
//! ```

use simplex_codec::encoding::{pad, put_large, put_short, unpad};
use simplex_codec::{Decode, Encode, Reader};
use simplex_crypto::{cryptobox, KeyAlgorithm, PublicKey, SbKey, SbNonce};

use crate::links::{Kem, LinkError, LinkServer, QueueMode};

/// Padded size of a confirmation's per-queue plaintext (the sender key is in the header).
pub const CONFIRMATION_LEN: usize = 15904;
/// Padded size of a message's per-queue plaintext.
pub const MESSAGE_LEN: usize = 16000;

/// Why an envelope was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// The bytes do not parse.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// The per-queue layer does not decrypt.
    #[error("the message does not decrypt for this queue")]
    Decrypt,
    /// Too large for its padded size.
    #[error("too large to send")]
    TooLarge,
}

type Result<T> = std::result::Result<T, EnvelopeError>;

fn malformed<E>(what: &'static str) -> impl Fn(E) -> EnvelopeError {
    move |_| EnvelopeError::Malformed(what)
}

/// A reply queue as the joiner's confirmation carries it (one client version, not a range).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueInfo {
    /// SMP client version.
    pub version: u16,
    /// The relay.
    pub server: LinkServer,
    /// The sender id.
    pub sender_id: Vec<u8>,
    /// The recipient's per-queue X25519 key.
    pub dh_key: PublicKey,
    /// The queue mode.
    pub mode: Option<QueueMode>,
}

impl QueueInfo {
    /// Appends the binary form.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<()> {
        if self.version < 2 {
            return Err(EnvelopeError::Malformed(
                "queue info before client version 2",
            ));
        }
        let enc = malformed("queue info");
        self.version.encode(out).map_err(&enc)?;
        crate::links::encode_server(&self.server, out)
            .map_err(|_: LinkError| EnvelopeError::Malformed("server"))?;
        put_short(out, &self.sender_id).map_err(&enc)?;
        self.dh_key.encode(out).map_err(&enc)?;
        match (self.version, self.mode) {
            (v, Some(QueueMode::Messaging)) if v >= 4 => out.push(b'M'),
            (v, Some(QueueMode::Contact)) if v >= 4 => out.push(b'C'),
            (3, Some(QueueMode::Messaging)) => out.push(b'T'),
            _ => {}
        }
        Ok(())
    }

    /// Reads the binary form.
    pub fn decode_from(r: &mut Reader<'_>) -> Result<Self> {
        let bad = malformed("queue info");
        let version = u16::decode(r).map_err(&bad)?;
        if version < 2 {
            return Err(EnvelopeError::Malformed(
                "queue info before client version 2",
            ));
        }
        let server =
            crate::links::decode_server(r).map_err(|_| EnvelopeError::Malformed("server"))?;
        let sender_id = r.short_bytes().map_err(&bad)?.to_vec();
        let dh_key = PublicKey::decode(r).map_err(&bad)?;
        // As the reference: a mode letter or a Bool may follow, whatever the version.
        let mode = match r.peek() {
            Some(b'M' | b'T') => Some(QueueMode::Messaging),
            Some(b'C' | b'F') => Some(QueueMode::Contact),
            _ => None,
        };
        if mode.is_some() {
            r.byte().map_err(&bad)?;
        }
        Ok(Self {
            version,
            server,
            sender_id,
            dh_key,
            mode,
        })
    }
}

/// The joiner's ratchet parameters in a confirmation (binary).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RatchetParams {
    /// The e2e version chosen.
    pub version: u16,
    /// X448 key 1.
    pub key1: PublicKey,
    /// X448 key 2.
    pub key2: PublicKey,
    /// Post-quantum parameters (v3+).
    pub kem: Option<Kem>,
}

impl RatchetParams {
    fn encode_into(&self, out: &mut Vec<u8>) -> Result<()> {
        let enc = malformed("ratchet params");
        self.version.encode(out).map_err(&enc)?;
        self.key1.encode(out).map_err(&enc)?;
        self.key2.encode(out).map_err(&enc)?;
        if self.version >= crate::ratchet::PQ_VERSION {
            match &self.kem {
                None => out.push(b'0'),
                Some(Kem::Proposed(k)) => {
                    out.extend_from_slice(b"1P");
                    put_large(out, k).map_err(&enc)?;
                }
                Some(Kem::Accepted(ct, k)) => {
                    out.extend_from_slice(b"1A");
                    put_large(out, ct).map_err(&enc)?;
                    put_large(out, k).map_err(&enc)?;
                }
            }
        }
        Ok(())
    }

    fn decode_from(r: &mut Reader<'_>) -> Result<Self> {
        let bad = malformed("ratchet params");
        let version = u16::decode(r).map_err(&bad)?;
        let key1 = PublicKey::decode(r).map_err(&bad)?;
        let key2 = PublicKey::decode(r).map_err(&bad)?;
        if key1.algorithm() != KeyAlgorithm::X448 || key2.algorithm() != KeyAlgorithm::X448 {
            return Err(EnvelopeError::Malformed("ratchet keys must be X448"));
        }
        let kem = if version >= crate::ratchet::PQ_VERSION {
            match r.byte().map_err(&bad)? {
                b'0' => None,
                b'1' => match r.byte().map_err(&bad)? {
                    b'P' => Some(Kem::Proposed(r.large_bytes().map_err(&bad)?.to_vec())),
                    b'A' => {
                        let ct = r.large_bytes().map_err(&bad)?.to_vec();
                        Some(Kem::Accepted(ct, r.large_bytes().map_err(&bad)?.to_vec()))
                    }
                    _ => return Err(EnvelopeError::Malformed("KEM params")),
                },
                _ => return Err(EnvelopeError::Malformed("Maybe")),
            }
        } else {
            None
        };
        Ok(Self {
            version,
            key1,
            key2,
            kem,
        })
    }
}

/// An agent envelope (the per-queue plaintext after the private header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Envelope {
    /// A confirmation: the joiner's carries its ratchet parameters.
    Confirmation {
        /// Agent version.
        version: u16,
        /// The joiner's ratchet parameters.
        e2e: Option<RatchetParams>,
        /// The ratchet-encrypted connection info.
        enc: Vec<u8>,
    },
    /// A ratchet-encrypted message.
    Message {
        /// Agent version.
        version: u16,
        /// The ratchet message.
        enc: Vec<u8>,
    },
    /// A request to a contact address: an invitation link and the requester's info.
    Invitation {
        /// Agent version.
        version: u16,
        /// The invitation link, as text.
        link: String,
        /// The requester's connection info (profile).
        conn_info: Vec<u8>,
    },
    /// Ratchet re-synchronisation.
    RatchetKey {
        /// Agent version.
        version: u16,
        /// New ratchet parameters.
        e2e: RatchetParams,
        /// Info.
        info: Vec<u8>,
    },
}

impl Envelope {
    /// Encodes it.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let enc = malformed("envelope");
        let mut out = Vec::new();
        match self {
            Self::Confirmation {
                version,
                e2e,
                enc: body,
            } => {
                version.encode(&mut out).map_err(&enc)?;
                out.push(b'C');
                match e2e {
                    None => out.push(b'0'),
                    Some(p) => {
                        out.push(b'1');
                        p.encode_into(&mut out)?;
                    }
                }
                out.extend_from_slice(body);
            }
            Self::Message { version, enc: body } => {
                version.encode(&mut out).map_err(&enc)?;
                out.push(b'M');
                out.extend_from_slice(body);
            }
            Self::Invitation {
                version,
                link,
                conn_info,
            } => {
                version.encode(&mut out).map_err(&enc)?;
                out.push(b'I');
                put_large(&mut out, link.as_bytes()).map_err(&enc)?;
                out.extend_from_slice(conn_info);
            }
            Self::RatchetKey { version, e2e, info } => {
                version.encode(&mut out).map_err(&enc)?;
                out.push(b'R');
                e2e.encode_into(&mut out)?;
                out.extend_from_slice(info);
            }
        }
        Ok(out)
    }

    /// Parses it.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let bad = malformed("envelope");
        let mut r = Reader::new(bytes);
        let version = u16::decode(&mut r).map_err(&bad)?;
        Ok(match r.byte().map_err(&bad)? {
            b'C' => {
                let e2e = match r.byte().map_err(&bad)? {
                    b'0' => None,
                    b'1' => Some(RatchetParams::decode_from(&mut r)?),
                    _ => return Err(EnvelopeError::Malformed("Maybe")),
                };
                Self::Confirmation {
                    version,
                    e2e,
                    enc: r.rest().to_vec(),
                }
            }
            b'M' => Self::Message {
                version,
                enc: r.rest().to_vec(),
            },
            b'I' => {
                let link = String::from_utf8(r.large_bytes().map_err(&bad)?.to_vec())
                    .map_err(|_| EnvelopeError::Malformed("invitation link"))?;
                Self::Invitation {
                    version,
                    link,
                    conn_info: r.rest().to_vec(),
                }
            }
            b'R' => {
                let e2e = RatchetParams::decode_from(&mut r)?;
                Self::RatchetKey {
                    version,
                    e2e,
                    info: r.rest().to_vec(),
                }
            }
            _ => return Err(EnvelopeError::Malformed("envelope tag")),
        })
    }
}

/// The ratchet plaintext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentMessage {
    /// The initiator's connection info.
    ConnInfo(Vec<u8>),
    /// The joiner's reply queues and connection info.
    ConnInfoReply(Vec<QueueInfo>, Vec<u8>),
    /// Ratchet re-sync info.
    RatchetInfo(Vec<u8>),
    /// A message: sequential id, hash of the previous message, and the message itself (kept
    /// encoded: `H` HELLO, `M` + body, `V` receipts, `Q..` rotation, `E` ready).
    Message {
        /// Sequential per connection.
        snd_msg_id: i64,
        /// SHA-256 of the previous encoded AgentMessage.
        prev_hash: Vec<u8>,
        /// The AMessage bytes.
        body: Vec<u8>,
    },
}

impl AgentMessage {
    /// Encodes it.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let enc = malformed("agent message");
        let mut out = Vec::new();
        match self {
            Self::ConnInfo(info) => {
                out.push(b'I');
                out.extend_from_slice(info);
            }
            Self::ConnInfoReply(queues, info) => {
                out.push(b'D');
                let n = u8::try_from(queues.len())
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or(EnvelopeError::Malformed("1 to 255 reply queues"))?;
                out.push(n);
                for q in queues {
                    q.encode_into(&mut out)?;
                }
                out.extend_from_slice(info);
            }
            Self::RatchetInfo(info) => {
                out.push(b'R');
                out.extend_from_slice(info);
            }
            Self::Message {
                snd_msg_id,
                prev_hash,
                body,
            } => {
                out.push(b'M');
                snd_msg_id.encode(&mut out).map_err(&enc)?;
                put_short(&mut out, prev_hash).map_err(&enc)?;
                out.extend_from_slice(body);
            }
        }
        Ok(out)
    }

    /// Parses it.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let bad = malformed("agent message");
        let mut r = Reader::new(bytes);
        Ok(match r.byte().map_err(&bad)? {
            b'I' => Self::ConnInfo(r.rest().to_vec()),
            b'D' => {
                let n = r.byte().map_err(&bad)?;
                if n == 0 {
                    return Err(EnvelopeError::Malformed("no reply queue"));
                }
                let mut queues = Vec::with_capacity(usize::from(n));
                for _ in 0..n {
                    queues.push(QueueInfo::decode_from(&mut r)?);
                }
                Self::ConnInfoReply(queues, r.rest().to_vec())
            }
            b'R' => Self::RatchetInfo(r.rest().to_vec()),
            b'M' => {
                let snd_msg_id = i64::decode(&mut r).map_err(&bad)?;
                let prev_hash = r.short_bytes().map_err(&bad)?.to_vec();
                Self::Message {
                    snd_msg_id,
                    prev_hash,
                    body: r.rest().to_vec(),
                }
            }
            _ => return Err(EnvelopeError::Malformed("agent message tag")),
        })
    }
}

/// The per-queue private header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrivHeader {
    /// `_`: nothing (the queue is already secured).
    None,
    /// `K`: the sender's key, for the recipient to secure the queue with (legacy path).
    SenderKey(PublicKey),
}

/// A SEND body opened by the recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientMessage {
    /// SMP client version.
    pub version: u16,
    /// The sender's per-queue key (confirmations only).
    pub sender_key: Option<PublicKey>,
    /// The private header.
    pub priv_header: PrivHeader,
    /// The agent envelope bytes.
    pub envelope: Vec<u8>,
}

/// Seals a SEND body for a queue: `secret` is DH(queue's recipient key, sender's key),
/// `sender_key` goes in clear in confirmations; the plaintext is padded to `padded_len`.
pub fn seal(
    version: u16,
    sender_key: Option<&PublicKey>,
    secret: &SbKey,
    nonce: &[u8; 24],
    priv_header: &PrivHeader,
    envelope: &[u8],
    padded_len: usize,
) -> Result<Vec<u8>> {
    let enc = malformed("client message");
    let mut plain = Vec::with_capacity(envelope.len() + 50);
    match priv_header {
        PrivHeader::None => plain.push(b'_'),
        PrivHeader::SenderKey(k) => {
            plain.push(b'K');
            k.encode(&mut plain).map_err(&enc)?;
        }
    }
    plain.extend_from_slice(envelope);
    let padded = pad(&plain, padded_len).map_err(|_| EnvelopeError::TooLarge)?;
    let mut out = Vec::with_capacity(padded.len() + 100);
    version.encode(&mut out).map_err(&enc)?;
    match sender_key {
        None => out.push(b'0'),
        Some(k) => {
            out.push(b'1');
            k.encode(&mut out).map_err(&enc)?;
        }
    }
    out.extend_from_slice(nonce);
    out.extend_from_slice(&cryptobox::seal(secret, &SbNonce(*nonce), &padded));
    Ok(out)
}

/// The clear part of a SEND body: version, the sender's key if any, and where the sealed
/// part starts (the recipient needs the key to compute the secret).
pub fn public_header(body: &[u8]) -> Result<(u16, Option<PublicKey>)> {
    let bad = malformed("public header");
    let mut r = Reader::new(body);
    let version = u16::decode(&mut r).map_err(&bad)?;
    let key = match r.byte().map_err(&bad)? {
        b'0' => None,
        b'1' => Some(PublicKey::decode(&mut r).map_err(&bad)?),
        _ => return Err(EnvelopeError::Malformed("Maybe")),
    };
    Ok((version, key))
}

/// Opens a SEND body with the per-queue secret.
pub fn open(body: &[u8], secret: &SbKey) -> Result<ClientMessage> {
    let bad = malformed("client message");
    let mut r = Reader::new(body);
    let (version, sender_key) = public_header(body)?;
    // Skip what public_header read.
    u16::decode(&mut r).map_err(&bad)?;
    if r.byte().map_err(&bad)? == b'1' {
        PublicKey::decode(&mut r).map_err(&bad)?;
    }
    let nonce: [u8; 24] = r.take_array().map_err(&bad)?;
    let padded =
        cryptobox::open(secret, &SbNonce(nonce), r.rest()).map_err(|_| EnvelopeError::Decrypt)?;
    let plain = unpad(&padded).map_err(|_| EnvelopeError::Malformed("padding"))?;
    let mut p = Reader::new(plain);
    let priv_header = match p.byte().map_err(&bad)? {
        b'_' => PrivHeader::None,
        b'K' => PrivHeader::SenderKey(PublicKey::decode(&mut p).map_err(&bad)?),
        _ => return Err(EnvelopeError::Malformed("private header")),
    };
    Ok(ClientMessage {
        version,
        sender_key,
        priv_header,
        envelope: p.rest().to_vec(),
    })
}
