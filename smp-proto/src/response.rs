//! Relay messages: responses to commands and pushes (MSG, END, DELD, NMSG), at each version.
//!
//! ```text
//! IDS ' ' rcvId sndId srvDhKey [v9-14: Bool] [v15+: Maybe mode, Maybe linkId]
//!     [v16+: Maybe serviceId] [v17+: Maybe (notifierId, dhKey)]
//! MSG ' ' msgId body | LNK ' ' senderId Large Large | SOK ' ' Maybe serviceId | SOKS ' ' Int64
//! NID ' ' notifierId dhKey | NMSG ' ' nonce(24) shortString | END | ENDS ' ' Int64 | DELD
//! INFO ' ' json | OK | PONG | ERR ' ' error | PKEY ... | RRES ' ' body | PRES ' ' body
//! ```

use simplex_codec::encoding::{put_large, put_short};
use simplex_codec::{Decode, Encode, EncodeError, Reader};
use simplex_crypto::PublicKey;

use crate::command::{LinkData, SENDER_SECURES, SHORT_LINKS};
use crate::error::ErrorType;
use crate::parse::{maybe, put_maybe_short, short, sp, x25519};
use crate::version::{Version, SERVICE_CERTS};

/// From here DELD exists (older clients get END).
pub const DELETED_EVENT: Version = 10;
/// From here BLOCKED exists (older clients get AUTH).
pub const BLOCKED_ENTITY: Version = 12;
/// From here BLOCKED carries the operator's notice.
pub const CLIENT_NOTICES: Version = 18;
/// From here IDS carries notifier credentials.
const NEW_NTF_CREDS: Version = 17;

/// The ids and keys of a new queue (IDS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueIds {
    /// Recipient id.
    pub rcv_id: Vec<u8>,
    /// Sender id.
    pub snd_id: Vec<u8>,
    /// The relay's X25519 key for this queue's message encryption.
    pub srv_dh_key: PublicKey,
    /// `Some(true)` messaging, `Some(false)` contact queue.
    pub messaging: Option<bool>,
    /// The link id, when the queue has link data.
    pub link_id: Option<Vec<u8>>,
    /// The service the queue is associated with.
    pub service_id: Option<Vec<u8>>,
    /// Notifier id and the relay's X25519 key for notifications.
    pub ntf_creds: Option<(Vec<u8>, PublicKey)>,
}

/// A message from the relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokerMsg {
    /// The new queue.
    Ids(QueueIds),
    /// Link data: sender id and the data.
    Lnk(Vec<u8>, LinkData),
    /// Subscribed (v16+; older versions get OK).
    Sok(Option<Vec<u8>>),
    /// A service subscribed this many queues.
    Soks(i64),
    /// A message: its id and encrypted body.
    Msg(Vec<u8>, Vec<u8>),
    /// Notifier id and the relay's notification key.
    Nid(Vec<u8>, PublicKey),
    /// A notification: nonce and encrypted metadata.
    Nmsg([u8; 24], Vec<u8>),
    /// A proxy session: the bytes after `PKEY ` (session id, range, certificates, key).
    Pkey(Vec<u8>),
    /// A forwarded response (to a proxy).
    Rres(Vec<u8>),
    /// A proxied response (to a client).
    Pres(Vec<u8>),
    /// Another connection subscribed to the queue.
    End,
    /// A service's subscriptions moved away.
    Ends(i64),
    /// The queue was deleted (v10+; older versions get END).
    Deld,
    /// Queue information (JSON).
    Info(Vec<u8>),
    /// Done.
    Ok,
    /// Refused.
    Err(ErrorType),
    /// Keep-alive answer.
    Pong,
}

impl BrokerMsg {
    /// The bytes of this message for a client at version `v` (older versions get what the
    /// reference sends them: OK for SOK, END for DELD, AUTH for BLOCKED).
    pub fn encode(&self, v: Version) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::new();
        match self {
            Self::Ids(q) => {
                out.extend_from_slice(b"IDS ");
                put_short(&mut out, &q.rcv_id)?;
                put_short(&mut out, &q.snd_id)?;
                q.srv_dh_key.encode(&mut out)?;
                if v >= SHORT_LINKS {
                    match q.messaging {
                        None => out.push(b'0'),
                        Some(m) => out.extend_from_slice(if m { b"1M" } else { b"1C" }),
                    }
                    put_maybe_short(&mut out, q.link_id.as_deref())?;
                    if v >= SERVICE_CERTS {
                        put_maybe_short(&mut out, q.service_id.as_deref())?;
                    }
                    if v >= NEW_NTF_CREDS {
                        match &q.ntf_creds {
                            None => out.push(b'0'),
                            Some((id, key)) => {
                                out.push(b'1');
                                put_short(&mut out, id)?;
                                key.encode(&mut out)?;
                            }
                        }
                    }
                } else if v >= SENDER_SECURES {
                    (q.messaging == Some(true)).encode(&mut out)?;
                }
            }
            Self::Lnk(sid, d) => {
                out.extend_from_slice(b"LNK ");
                put_short(&mut out, sid)?;
                put_large(&mut out, &d.fixed)?;
                put_large(&mut out, &d.user)?;
            }
            Self::Sok(service) if v >= SERVICE_CERTS => {
                out.extend_from_slice(b"SOK ");
                put_maybe_short(&mut out, service.as_deref())?;
            }
            Self::Sok(_) | Self::Ok => out.extend_from_slice(b"OK"),
            Self::Soks(n) => {
                out.extend_from_slice(b"SOKS ");
                n.encode(&mut out)?;
            }
            Self::Msg(id, body) => {
                out.extend_from_slice(b"MSG ");
                put_short(&mut out, id)?;
                out.extend_from_slice(body);
            }
            Self::Nid(id, key) => {
                out.extend_from_slice(b"NID ");
                put_short(&mut out, id)?;
                key.encode(&mut out)?;
            }
            Self::Nmsg(nonce, meta) => {
                out.extend_from_slice(b"NMSG ");
                out.extend_from_slice(nonce);
                put_short(&mut out, meta)?;
            }
            Self::Pkey(rest) => tagged(&mut out, b"PKEY ", rest),
            Self::Rres(rest) => tagged(&mut out, b"RRES ", rest),
            Self::Pres(rest) => tagged(&mut out, b"PRES ", rest),
            Self::Deld if v >= DELETED_EVENT => out.extend_from_slice(b"DELD"),
            Self::End | Self::Deld => out.extend_from_slice(b"END"),
            Self::Ends(n) => {
                out.extend_from_slice(b"ENDS ");
                n.encode(&mut out)?;
            }
            Self::Info(json) => tagged(&mut out, b"INFO ", json),
            Self::Err(e) => {
                out.extend_from_slice(b"ERR ");
                match e {
                    ErrorType::Blocked(_) if v < BLOCKED_ENTITY => ErrorType::Auth.encode(&mut out),
                    ErrorType::Blocked(info) if v < CLIENT_NOTICES => {
                        // Below v18 the notice is dropped: only `reason=...` is sent.
                        let reason = info.split(|&b| b == b',').next().unwrap_or_default();
                        ErrorType::Blocked(reason.to_vec()).encode(&mut out)
                    }
                    e => e.encode(&mut out),
                }
            }
            Self::Pong => out.extend_from_slice(b"PONG"),
        }
        Ok(out)
    }

    /// Parses a relay message received at version `v`; `None` if it is not one.
    pub fn parse(v: Version, bytes: &[u8]) -> Option<Self> {
        let n = bytes.iter().position(|&b| b == b' ').unwrap_or(bytes.len());
        let (tag, params) = bytes.split_at(n);
        let mut r = Reader::new(params);
        let msg = match tag {
            b"IDS" => {
                sp(&mut r)?;
                let rcv_id = short(&mut r)?;
                let snd_id = short(&mut r)?;
                let srv_dh_key = x25519(&mut r)?;
                let (mut messaging, mut link_id, mut service_id, mut ntf_creds) =
                    (None, None, None, None);
                if v >= SHORT_LINKS {
                    messaging = maybe(&mut r, |r| match r.byte().ok()? {
                        b'M' => Some(true),
                        b'C' => Some(false),
                        _ => None,
                    })?;
                    link_id = maybe(&mut r, short)?;
                    if v >= SERVICE_CERTS {
                        service_id = maybe(&mut r, short)?;
                    }
                    if v >= NEW_NTF_CREDS {
                        ntf_creds = maybe(&mut r, |r| Some((short(r)?, x25519(r)?)))?;
                    }
                } else if v >= SENDER_SECURES {
                    messaging = Some(bool::decode(&mut r).ok()?);
                }
                Self::Ids(QueueIds {
                    rcv_id,
                    snd_id,
                    srv_dh_key,
                    messaging,
                    link_id,
                    service_id,
                    ntf_creds,
                })
            }
            b"LNK" => {
                sp(&mut r)?;
                let sid = short(&mut r)?;
                let fixed = r.large_bytes().ok()?.to_vec();
                let user = r.large_bytes().ok()?.to_vec();
                Self::Lnk(sid, LinkData { fixed, user })
            }
            b"SOK" => {
                sp(&mut r)?;
                Self::Sok(maybe(&mut r, short)?)
            }
            b"SOKS" => {
                sp(&mut r)?;
                Self::Soks(i64::decode(&mut r).ok()?)
            }
            b"MSG" => {
                sp(&mut r)?;
                let id = short(&mut r)?;
                Self::Msg(id, r.rest().to_vec())
            }
            b"NID" => {
                sp(&mut r)?;
                let id = short(&mut r)?;
                Self::Nid(id, x25519(&mut r)?)
            }
            b"NMSG" => {
                sp(&mut r)?;
                let nonce = r.take_array::<24>().ok()?;
                Self::Nmsg(nonce, short(&mut r)?)
            }
            b"PKEY" => sp(&mut r).map(|()| Self::Pkey(r.rest().to_vec()))?,
            b"RRES" => sp(&mut r).map(|()| Self::Rres(r.rest().to_vec()))?,
            b"PRES" => sp(&mut r).map(|()| Self::Pres(r.rest().to_vec()))?,
            b"END" => Self::End,
            b"ENDS" => {
                sp(&mut r)?;
                Self::Ends(i64::decode(&mut r).ok()?)
            }
            b"DELD" => Self::Deld,
            b"INFO" => sp(&mut r).map(|()| Self::Info(r.rest().to_vec()))?,
            b"OK" => Self::Ok,
            b"ERR" => {
                sp(&mut r)?;
                Self::Err(ErrorType::parse(r.rest())?)
            }
            b"PONG" => Self::Pong,
            _ => return None,
        };
        (r.remaining() == 0).then_some(msg)
    }

    /// The reference's check on what a client receives: IDS and ERR may come without an
    /// entity, PONG / PKEY / RRES must come without one, everything else needs one.
    pub fn check_entity(&self, entity_id: &[u8]) -> Result<(), ErrorType> {
        use crate::error::CommandError;
        match self {
            Self::Ids(_) | Self::Err(_) => Ok(()),
            Self::Pong | Self::Pkey(_) | Self::Rres(_) if !entity_id.is_empty() => {
                Err(ErrorType::Cmd(CommandError::HasAuth))
            }
            Self::Pong | Self::Pkey(_) | Self::Rres(_) => Ok(()),
            _ if entity_id.is_empty() => Err(ErrorType::Cmd(CommandError::NoEntity)),
            _ => Ok(()),
        }
    }
}

fn tagged(out: &mut Vec<u8>, tag: &[u8], rest: &[u8]) {
    out.extend_from_slice(tag);
    out.extend_from_slice(rest);
}
