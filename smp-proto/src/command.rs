//! Client commands: their bytes at each version, how a relay parses them (with the reference's
//! exact `UNKNOWN` / `SYNTAX` split) and which authorization and entity each needs.
//!
//! ```text
//! command = tag [' ' fields]        -- the tag is everything up to the first space
//! NEW ' ' rcvAuthKey rcvDhKey <v17+: Maybe basicAuth, 'S'|'C', Maybe queueReqData, Maybe ntfCreds>
//! SUB | GET | OFF | DEL | QUE | LDEL | NDEL | LGET | PING | NSUB | SUBS | NSUBS
//! KEY ' ' key | SKEY ' ' key | LKEY ' ' key | RKEY ' ' NonEmpty(key) | ACK ' ' msgId
//! SEND ' ' flags ' ' body | LSET ' ' linkId Large(fixed) Large(user) | NKEY ' ' key dhKey
//! PRXY ' ' server Maybe(basicAuth) | PFWD ' ' version dhKey body | RFWD ' ' body
//! ```

use simplex_codec::encoding::{put_large, put_short, NonEmpty};
use simplex_codec::{Decode, Encode, Reader};
use simplex_crypto::{KeyAlgorithm, PublicKey};

use crate::error::{CommandError, ErrorType};
use crate::parse::{maybe, put_maybe_short, short, sp, x25519};
use crate::version::Version;

/// From here NEW carries the queue request data (v15: short links).
pub const SHORT_LINKS: Version = 15;
/// From here NEW says whether the sender may secure the queue (v9).
pub const SENDER_SECURES: Version = 9;
/// From here NEW carries notifier credentials (v17).
pub const NEW_NTF_CREDS: Version = 17;

/// Encrypted link data: fixed part and user part, each a Large.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkData {
    /// The part that never changes (it holds the invitation).
    pub fixed: Vec<u8>,
    /// The part the owner may update.
    pub user: Vec<u8>,
}

/// What kind of queue NEW creates, with its optional link data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueRequest {
    /// A messaging queue; with link data the client chose the sender id.
    Messaging(Option<(Vec<u8>, LinkData)>),
    /// A contact-address queue; with link data the client chose link and sender ids.
    Contact(Option<(Vec<u8>, Vec<u8>, LinkData)>),
}

/// NEW's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewQueue {
    /// The recipient's authorization key (Ed25519, Ed448 or X25519).
    pub rcv_auth_key: PublicKey,
    /// The recipient's X25519 key for the relay's message encryption.
    pub rcv_dh_key: PublicKey,
    /// The relay's `create_password`, if it has one.
    pub basic_auth: Option<Vec<u8>>,
    /// Subscribe at once (`S`) or only create (`C`).
    pub subscribe: bool,
    /// Queue kind and link data (v15+; from v9 to v14 only whether the sender may secure).
    pub request: Option<QueueRequest>,
    /// Notifier key and X25519 key for notifications (v17+).
    pub ntf_creds: Option<(PublicKey, PublicKey)>,
}

/// A command a client sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Create a queue.
    New(NewQueue),
    /// Subscribe to a queue.
    Sub,
    /// Subscribe all the queues of a service.
    Subs,
    /// The recipient secures the queue with the sender's key.
    Key(PublicKey),
    /// Replace the recipient keys (contact queues).
    Rkey(Vec<PublicKey>),
    /// Set the link data.
    Lset(Vec<u8>, LinkData),
    /// Delete the link data.
    Ldel,
    /// Enable notifications: notifier key and X25519 key.
    Nkey(PublicKey, PublicKey),
    /// Disable notifications.
    Ndel,
    /// Get one message without subscribing.
    Get,
    /// Acknowledge a delivered message.
    Ack(Vec<u8>),
    /// Suspend the queue.
    Off,
    /// Delete the queue.
    Del,
    /// Queue information (debugging).
    Que,
    /// The sender secures the queue with its key.
    Skey(PublicKey),
    /// Send a message.
    Send {
        /// Ask the relay to notify the recipient.
        notification: bool,
        /// The (encrypted) body.
        body: Vec<u8>,
    },
    /// Keep-alive.
    Ping,
    /// Subscribe to notifications.
    Nsub,
    /// Subscribe a service's notifications.
    Nsubs,
    /// Secure a messaging queue found by its link id and get its link data.
    Lkey(PublicKey),
    /// Get the link data of a contact queue.
    Lget,
    /// Open a proxy session to a relay: its encoded address and optional password, kept as
    /// sent until private routing is implemented.
    Prxy(Vec<u8>),
    /// A transmission for the destination relay, through the proxy.
    Pfwd(Version, PublicKey, Vec<u8>),
    /// From a proxy: a forwarded transmission.
    Rfwd(Vec<u8>),
}

/// Which authorization and entity id a command must carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Credentials {
    /// NEW: an authorization and no entity.
    Create,
    /// SEND: an entity; authorization optional.
    Send,
    /// Neither.
    None,
    /// An entity and no authorization.
    Entity,
    /// Both.
    Both,
}

impl Command {
    /// The tag word.
    pub fn tag(&self) -> &'static str {
        match self {
            Self::New(_) => "NEW",
            Self::Sub => "SUB",
            Self::Subs => "SUBS",
            Self::Key(_) => "KEY",
            Self::Rkey(_) => "RKEY",
            Self::Lset(..) => "LSET",
            Self::Ldel => "LDEL",
            Self::Nkey(..) => "NKEY",
            Self::Ndel => "NDEL",
            Self::Get => "GET",
            Self::Ack(_) => "ACK",
            Self::Off => "OFF",
            Self::Del => "DEL",
            Self::Que => "QUE",
            Self::Skey(_) => "SKEY",
            Self::Send { .. } => "SEND",
            Self::Ping => "PING",
            Self::Nsub => "NSUB",
            Self::Nsubs => "NSUBS",
            Self::Lkey(_) => "LKEY",
            Self::Lget => "LGET",
            Self::Prxy(_) => "PRXY",
            Self::Pfwd(..) => "PFWD",
            Self::Rfwd(_) => "RFWD",
        }
    }

    fn credentials(&self) -> Credentials {
        match self {
            Self::New(_) => Credentials::Create,
            Self::Send { .. } => Credentials::Send,
            Self::Ping | Self::Prxy(_) | Self::Rfwd(_) => Credentials::None,
            Self::Lget | Self::Pfwd(..) => Credentials::Entity,
            _ => Credentials::Both,
        }
    }

    /// The reference's `checkCredentials`: whether a command with (or without) an
    /// authorization and entity id may be processed at all.
    pub fn check_credentials(&self, has_auth: bool, entity_id: &[u8]) -> Result<(), ErrorType> {
        let has_entity = !entity_id.is_empty();
        let refuse = |e| Err(ErrorType::Cmd(e));
        match self.credentials() {
            Credentials::Create if !has_auth => refuse(CommandError::NoAuth),
            Credentials::Create if has_entity => refuse(CommandError::HasAuth),
            Credentials::Send if !has_entity => refuse(CommandError::NoEntity),
            Credentials::None if has_auth || has_entity => refuse(CommandError::HasAuth),
            Credentials::Entity if !has_entity => refuse(CommandError::NoEntity),
            Credentials::Entity if has_auth => refuse(CommandError::HasAuth),
            Credentials::Both if !has_auth || !has_entity => refuse(CommandError::NoAuth),
            _ => Ok(()),
        }
    }

    /// Parses command bytes sent at version `v` as the reference does: an unknown tag is
    /// `CMD UNKNOWN`, fields that do not parse (or bytes after them) `CMD SYNTAX`.
    pub fn parse(v: Version, bytes: &[u8]) -> Result<Self, ErrorType> {
        let n = bytes.iter().position(|&b| b == b' ').unwrap_or(bytes.len());
        let (tag, params) = bytes.split_at(n);
        let mut r = Reader::new(params);
        let cmd = match tag {
            b"NEW" => parse_new(v, &mut r),
            b"SUB" => Some(Self::Sub),
            b"SUBS" => Some(Self::Subs),
            b"KEY" => sp_key(&mut r).map(Self::Key),
            b"RKEY" => sp(&mut r)
                .and_then(|()| NonEmpty::<PublicKey>::decode(&mut r).ok())
                .filter(|ks| ks.0.iter().all(is_auth_key))
                .map(|ks| Self::Rkey(ks.0)),
            b"LSET" => sp(&mut r).and_then(|()| {
                let id = short(&mut r)?;
                Some(Self::Lset(id, link_data(&mut r)?))
            }),
            b"LDEL" => Some(Self::Ldel),
            b"NKEY" => sp_key(&mut r).and_then(|k| Some(Self::Nkey(k, x25519(&mut r)?))),
            b"NDEL" => Some(Self::Ndel),
            b"GET" => Some(Self::Get),
            b"ACK" => sp(&mut r).and_then(|()| short(&mut r)).map(Self::Ack),
            b"OFF" => Some(Self::Off),
            b"DEL" => Some(Self::Del),
            b"QUE" => Some(Self::Que),
            b"SKEY" => sp_key(&mut r).map(Self::Skey),
            b"SEND" => parse_send(&mut r),
            b"PING" => Some(Self::Ping),
            b"NSUB" => Some(Self::Nsub),
            b"NSUBS" => Some(Self::Nsubs),
            b"LKEY" => sp_key(&mut r).map(Self::Lkey),
            b"LGET" => Some(Self::Lget),
            b"PRXY" => sp(&mut r).map(|()| Self::Prxy(r.rest().to_vec())),
            b"PFWD" => sp(&mut r).and_then(|()| {
                let version = u16::decode(&mut r).ok()?;
                let key = x25519(&mut r)?;
                Some(Self::Pfwd(version, key, r.rest().to_vec()))
            }),
            b"RFWD" => sp(&mut r).map(|()| Self::Rfwd(r.rest().to_vec())),
            _ => return Err(ErrorType::Cmd(CommandError::Unknown)),
        };
        match cmd {
            Some(c) if r.remaining() == 0 => Ok(c),
            _ => Err(ErrorType::Cmd(CommandError::Syntax)),
        }
    }

    /// The command's bytes at version `v`.
    pub fn encode(&self, v: Version) -> Result<Vec<u8>, simplex_codec::EncodeError> {
        let mut out = self.tag().as_bytes().to_vec();
        match self {
            Self::New(n) => {
                out.push(b' ');
                n.rcv_auth_key.encode(&mut out)?;
                n.rcv_dh_key.encode(&mut out)?;
                if v >= SENDER_SECURES {
                    put_maybe_short(&mut out, n.basic_auth.as_deref())?;
                    out.push(if n.subscribe { b'S' } else { b'C' });
                    if v >= SHORT_LINKS {
                        match &n.request {
                            None => out.push(b'0'),
                            Some(q) => {
                                out.push(b'1');
                                encode_request(&mut out, q)?;
                            }
                        }
                        if v >= NEW_NTF_CREDS {
                            match &n.ntf_creds {
                                None => out.push(b'0'),
                                Some((k, dh)) => {
                                    out.push(b'1');
                                    k.encode(&mut out)?;
                                    dh.encode(&mut out)?;
                                }
                            }
                        }
                    } else {
                        let messaging = matches!(n.request, Some(QueueRequest::Messaging(_)));
                        messaging.encode(&mut out)?;
                    }
                } else {
                    if let Some(a) = &n.basic_auth {
                        out.push(b'A');
                        put_short(&mut out, a)?;
                    }
                    out.push(if n.subscribe { b'S' } else { b'C' });
                }
            }
            Self::Key(k) | Self::Skey(k) | Self::Lkey(k) => {
                out.push(b' ');
                k.encode(&mut out)?;
            }
            Self::Rkey(ks) => {
                out.push(b' ');
                NonEmpty(ks.clone()).encode(&mut out)?;
            }
            Self::Lset(id, d) => {
                out.push(b' ');
                put_short(&mut out, id)?;
                put_large(&mut out, &d.fixed)?;
                put_large(&mut out, &d.user)?;
            }
            Self::Nkey(k, dh) => {
                out.push(b' ');
                k.encode(&mut out)?;
                dh.encode(&mut out)?;
            }
            Self::Ack(id) => {
                out.push(b' ');
                put_short(&mut out, id)?;
            }
            Self::Send { notification, body } => {
                out.push(b' ');
                notification.encode(&mut out)?;
                out.push(b' ');
                out.extend_from_slice(body);
            }
            Self::Prxy(rest) => {
                out.push(b' ');
                out.extend_from_slice(rest);
            }
            Self::Pfwd(version, key, body) => {
                out.push(b' ');
                version.encode(&mut out)?;
                key.encode(&mut out)?;
                out.extend_from_slice(body);
            }
            Self::Rfwd(body) => {
                out.push(b' ');
                out.extend_from_slice(body);
            }
            Self::Sub
            | Self::Subs
            | Self::Ldel
            | Self::Ndel
            | Self::Get
            | Self::Off
            | Self::Del
            | Self::Que
            | Self::Ping
            | Self::Nsub
            | Self::Nsubs
            | Self::Lget => {}
        }
        Ok(out)
    }
}

fn encode_request(out: &mut Vec<u8>, q: &QueueRequest) -> Result<(), simplex_codec::EncodeError> {
    match q {
        QueueRequest::Messaging(d) => {
            out.push(b'M');
            match d {
                None => out.push(b'0'),
                Some((sid, data)) => {
                    out.push(b'1');
                    put_short(out, sid)?;
                    put_large(out, &data.fixed)?;
                    put_large(out, &data.user)?;
                }
            }
        }
        QueueRequest::Contact(d) => {
            out.push(b'C');
            match d {
                None => out.push(b'0'),
                Some((lid, sid, data)) => {
                    out.push(b'1');
                    put_short(out, lid)?;
                    put_short(out, sid)?;
                    put_large(out, &data.fixed)?;
                    put_large(out, &data.user)?;
                }
            }
        }
    }
    Ok(())
}

fn is_auth_key(k: &PublicKey) -> bool {
    k.algorithm() != KeyAlgorithm::X448
}

/// An authorization key: Ed25519, Ed448 or X25519 (as the reference's `APublicAuthKey`).
fn auth_key(r: &mut Reader<'_>) -> Option<PublicKey> {
    PublicKey::decode(r).ok().filter(is_auth_key)
}

fn sp_key(r: &mut Reader<'_>) -> Option<PublicKey> {
    sp(r)?;
    auth_key(r)
}

fn link_data(r: &mut Reader<'_>) -> Option<LinkData> {
    let fixed = r.large_bytes().ok()?.to_vec();
    let user = r.large_bytes().ok()?.to_vec();
    Some(LinkData { fixed, user })
}

fn read_basic_auth(r: &mut Reader<'_>) -> Option<Vec<u8>> {
    let a = short(r)?;
    // Printable ASCII without space, '@', ':' or '/' (the reference's `basicAuth`).
    a.iter()
        .all(|&c| c.is_ascii_graphic() && !matches!(c, b'@' | b':' | b'/'))
        .then_some(a)
}

fn parse_new(v: Version, r: &mut Reader<'_>) -> Option<Command> {
    sp(r)?;
    let rcv_auth_key = auth_key(r)?;
    let rcv_dh_key = x25519(r)?;
    let (basic_auth, subscribe, request, ntf_creds);
    if v >= SENDER_SECURES {
        basic_auth = maybe(r, read_basic_auth)?;
        subscribe = sub_mode(r)?;
        if v >= SHORT_LINKS {
            request = maybe(r, queue_request)?;
            ntf_creds = if v >= NEW_NTF_CREDS {
                maybe(r, |r| Some((auth_key(r)?, x25519(r)?)))?
            } else {
                None
            };
        } else {
            let messaging = bool::decode(r).ok()?;
            request = Some(if messaging {
                QueueRequest::Messaging(None)
            } else {
                QueueRequest::Contact(None)
            });
            ntf_creds = None;
        }
    } else {
        basic_auth = if r.peek() == Some(b'A') {
            r.byte().ok()?;
            Some(read_basic_auth(r)?)
        } else {
            None
        };
        subscribe = sub_mode(r)?;
        request = None;
        ntf_creds = None;
    }
    Some(Command::New(NewQueue {
        rcv_auth_key,
        rcv_dh_key,
        basic_auth,
        subscribe,
        request,
        ntf_creds,
    }))
}

fn sub_mode(r: &mut Reader<'_>) -> Option<bool> {
    match r.byte().ok()? {
        b'S' => Some(true),
        b'C' => Some(false),
        _ => None,
    }
}

fn queue_request(r: &mut Reader<'_>) -> Option<QueueRequest> {
    match r.byte().ok()? {
        b'M' => Some(QueueRequest::Messaging(maybe(r, |r| {
            let sid = short(r)?;
            Some((sid, link_data(r)?))
        })?)),
        b'C' => Some(QueueRequest::Contact(maybe(r, |r| {
            let lid = short(r)?;
            let sid = short(r)?;
            Some((lid, sid, link_data(r)?))
        })?)),
        _ => None,
    }
}

fn parse_send(r: &mut Reader<'_>) -> Option<Command> {
    sp(r)?;
    let notification = bool::decode(r).ok()?;
    // Flags the reference does not know yet are skipped up to the space.
    while r.peek()? != b' ' {
        r.byte().ok()?;
    }
    sp(r)?;
    Some(Command::Send {
        notification,
        body: r.rest().to_vec(),
    })
}
