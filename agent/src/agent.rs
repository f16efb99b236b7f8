//! The agent over real relays: duplex connections by invitation (both roles) on the fast
//! handshake of agent v6+ (queues secured by their senders with SKEY), and ratchet-encrypted
//! messages with sequential ids and previous-message hashes.
//!
//! ```text
//! A create_invitation: NEW Qa, X448 keys ─► link (Qa URI + e2e params)
//! B join(link, infoB):  SKEY Qa; NEW Qb; X3DH; SEND Qa: confirmation(ratchet(Qb info, infoB))
//! A ◄ MSG Qa: X3DH, ratchet ─► Confirmation(infoB);  A allow(infoA): SKEY Qb; SEND Qb:
//!   confirmation(ratchet(infoA)) ─► Connected
//! B ◄ MSG Qb ─► Info(infoA), Connected
//! send: SEND ratchet('M' id hash 'M' body) ─► the peer's Message event, after which it ACKs
//! ```
//!
//! State is kept in memory in this version: the SQLCipher store (issue 9) is the next step.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use simplex_codec::encoding::unpad;
use simplex_codec::version::VersionRange;
use simplex_crypto::{cryptobox, generate, KeyAlgorithm, PrivateKey, PublicKey, SbKey, SbNonce};
use smp_client::{ConnectOptions, Event, Session};
use smp_proto::address::SmpServer;
use smp_proto::command::{NewQueue, QueueRequest};
use smp_proto::{BrokerMsg, Command};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use crate::envelope::{self, AgentMessage, Envelope, PrivHeader, QueueInfo, RatchetParams};
use crate::links::{ConnectionRequest, E2eParams, LinkServer, QueueMode, QueueUri, RequestKind};
use crate::ratchet::{self, RandomKeys, Ratchet, RatchetError, SkippedKeys, Versions};

/// Agent protocol versions this agent speaks.
pub const AGENT_VERSIONS: VersionRange = VersionRange { min: 2, max: 7 };
/// E2E (ratchet) versions.
pub const E2E_VERSIONS: VersionRange = VersionRange { min: 2, max: 3 };
/// SMP client versions of the queue URIs this agent publishes.
pub const SMP_CLIENT_VERSIONS: VersionRange = VersionRange { min: 1, max: 4 };
/// The agent version from which senders secure queues (SKEY, no HELLO).
const FAST_HANDSHAKE: u16 = 6;

/// Ratchet plaintext sizes.
const CONN_INFO_LEN: usize = 14832;
const AGENT_MSG_LEN: usize = 15840;

/// A connection's id in this agent.
pub type ConnId = u64;

/// What the agent tells its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentEvent {
    /// (initiator) The joiner's confirmation arrived with its info: call [`Agent::allow`].
    Confirmation {
        /// The connection.
        conn: ConnId,
        /// The joiner's connection info (its profile, opaque here).
        info: Vec<u8>,
    },
    /// (joiner) The initiator's info arrived.
    Info {
        /// The connection.
        conn: ConnId,
        /// The initiator's connection info.
        info: Vec<u8>,
    },
    /// Both directions work.
    Connected {
        /// The connection.
        conn: ConnId,
    },
    /// A message: store it, then acknowledge it with [`Agent::ack`] (until then the relay
    /// keeps it and nothing more arrives on that connection; after a restart it comes again).
    Message {
        /// The connection.
        conn: ConnId,
        /// The sender's sequential id (the agent's own messages, such as A_QCONT, take ids
        /// too, so the user's may skip one; `integrity` covers the whole sequence).
        msg_id: i64,
        /// The body.
        body: Vec<u8>,
        /// `None` if ids and hashes continue as expected, else what is wrong.
        integrity: Option<IntegrityError>,
        /// Its sender set the notification flag (a message that wakes a phone's app).
        notified: bool,
    },
    /// A request to a contact address: accept it with [`Agent::accept`] or ignore it with
    /// [`Agent::reject`].
    Request {
        /// The address.
        address: ConnId,
        /// The request, for accept/reject.
        request: u64,
        /// The requester's connection info.
        info: Vec<u8>,
    },
    /// The relay accepted a message.
    Sent {
        /// The connection.
        conn: ConnId,
        /// Its id.
        msg_id: i64,
    },
    /// The connection to a relay was lost: these connections receive nothing until [`Up`].
    ///
    /// [`Up`]: AgentEvent::Up
    Down {
        /// The connections whose receiving queue is on that relay.
        conns: Vec<ConnId>,
        /// The relay's (first) host.
        host: String,
        /// The relay's address (`smp://keyhash@hosts[:port]`, never its password).
        server: String,
    },
    /// Connected to the relay again and subscribed: these connections receive again.
    Up {
        /// The connections whose receiving queue is on that relay.
        conns: Vec<ConnId>,
        /// The relay's (first) host.
        host: String,
        /// The relay's address (`smp://keyhash@hosts[:port]`, never its password).
        server: String,
    },
    /// Queues the relay refused to subscribe (AUTH: it no longer has them - a relay restarted
    /// without its store, or the queue expired): these connections receive nothing more.
    SubscriptionErrors {
        /// The relay's address (no password).
        server: String,
        /// Each connection and the relay's error.
        errors: Vec<(ConnId, String)>,
    },
    /// A queue rotation moved on (SWITCH).
    Switch {
        /// The connection.
        conn: ConnId,
        /// Our receiving queue or the peer's.
        direction: QueueDirection,
        /// How far.
        phase: SwitchPhase,
    },
    /// The connection's ratchet re-synchronisation state changed (RSYNC): `Allowed` or
    /// `Required` call for [`Agent::synchronize_ratchet`].
    RatchetSync {
        /// The connection.
        conn: ConnId,
        /// The new state.
        state: SyncState,
        /// The decryption error that caused it, if any.
        error: Option<String>,
    },
    /// A message did not decrypt (the reference's crypto error that comes with its RSYNC):
    /// dropped; what failed and how many messages it stands for (skipped or earlier ones;
    /// 0 for a message of the old ratchet while a re-synchronisation runs).
    DecryptFailed {
        /// The connection.
        conn: ConnId,
        /// What failed.
        error: DecryptError,
        /// How many messages.
        count: u32,
    },
    /// The peer confirmed that it received and stored a message (a delivery receipt, A_RCVD).
    Delivered {
        /// The connection.
        conn: ConnId,
        /// The message's id.
        msg_id: i64,
        /// `false`: the receipt's hash is not the message's (the reference's MRBadMsgHash).
        ok: bool,
    },
    /// The peer drained the queue that was full (QUOTA): delivery goes on now (A_QCONT).
    SendingResumed {
        /// The connection.
        conn: ConnId,
    },
    /// A message came again - the same bytes (a relay's redelivery, a hostile relay's
    /// replay, or the sender resending after a restart), or one the ratchet had already
    /// decrypted: dropped and acknowledged. The reference reports it as `ERR A_DUPLICATE`,
    /// which its terminal shows only at the debug log level.
    Duplicate {
        /// The connection.
        conn: ConnId,
    },
    /// The relay refused a user's message with AUTH on an established connection (the
    /// peer's queue is gone or secured with other keys: the peer deleted the connection):
    /// the message is dropped, not retried, and the next one is tried - the reference's `MERR`
    /// with `SMP AUTH`.
    Refused {
        /// The connection.
        conn: ConnId,
        /// The message.
        msg_id: i64,
    },
    /// Something failed on a connection (the connection stays usable where it can).
    Error {
        /// The connection (0: not known).
        conn: ConnId,
        /// What.
        error: String,
    },
}

/// What is wrong with a received message's id or previous-message hash (the reference's
/// `MsgErrorType`); the message is handed out all the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntegrityError {
    /// Messages `from..=to` never came (yet).
    Skipped {
        /// The first id missing.
        from: i64,
        /// The last id missing.
        to: i64,
    },
    /// An id lower than the previous message's.
    BadId(i64),
    /// The previous message's id again.
    Duplicate,
    /// The next id, but its previous-message hash is not the previous message's.
    BadHash,
}

impl IntegrityError {
    /// The reference's `checkMsgIntegrity`: `prev` is the previous message's id and hash, `id`
    /// and `claimed` this message's id and previous-message hash.
    pub fn check(prev: i64, id: i64, prev_hash: &[u8], claimed: &[u8]) -> Option<Self> {
        if id == prev + 1 && prev_hash == claimed {
            None
        } else if id < prev {
            Some(Self::BadId(id))
        } else if id == prev {
            Some(Self::Duplicate)
        } else if id > prev + 1 {
            Some(Self::Skipped {
                from: prev + 1,
                to: id - 1,
            })
        } else {
            Some(Self::BadHash)
        }
    }

    /// The stored form (`received.integrity`).
    pub fn to_stored(&self) -> String {
        match self {
            Self::Skipped { from, to } => format!("skipped {from} {to}"),
            Self::BadId(id) => format!("bad_id {id}"),
            Self::Duplicate => "duplicate".into(),
            Self::BadHash => "bad_hash".into(),
        }
    }

    /// Reads the stored form.
    pub fn from_stored(s: &str) -> Option<Self> {
        let mut w = s.split(' ');
        Some(match w.next()? {
            "skipped" => Self::Skipped {
                from: w.next()?.parse().ok()?,
                to: w.next()?.parse().ok()?,
            },
            "bad_id" => Self::BadId(w.next()?.parse().ok()?),
            "duplicate" => Self::Duplicate,
            "bad_hash" => Self::BadHash,
            _ => return None,
        })
    }
}

impl std::fmt::Display for IntegrityError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Skipped { from, to } => write!(f, "skipped messages {from}..{to}"),
            Self::BadId(id) => write!(f, "message {id} has an earlier id than the previous one"),
            Self::Duplicate => write!(f, "the previous message's id again"),
            Self::BadHash => write!(f, "bad previous-message hash"),
        }
    }
}

/// Why a message did not decrypt (the reference's `MsgDecryptError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecryptError {
    /// No header key opens it (`RATCHET_HEADER`).
    Header,
    /// Too many messages would have to be skipped (`RATCHET_SKIPPED`).
    TooManySkipped,
    /// Earlier than the last one and not among the skipped (`RATCHET_EARLIER`).
    Earlier,
    /// The body does not decrypt (`DECRYPT_AES`).
    Other,
    /// Of the old ratchet, while a re-synchronisation runs (`RATCHET_SYNC`).
    Sync,
}

impl DecryptError {
    /// Its name in the bot API (`MsgDecryptError`).
    pub fn api_name(self) -> &'static str {
        match self {
            DecryptError::Header => "ratchetHeader",
            DecryptError::TooManySkipped => "tooManySkipped",
            DecryptError::Earlier => "ratchetEarlier",
            DecryptError::Other => "other",
            DecryptError::Sync => "ratchetSync",
        }
    }
}

/// Where a connection is in ratchet re-synchronisation (the reference's `RatchetSyncState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncState {
    /// In step.
    Ok,
    /// A message did not decrypt in a way a re-synchronisation may fix: the user may start one.
    Allowed,
    /// The ratchets are out of step: sending is stopped until a re-synchronisation.
    Required,
    /// We sent new ratchet keys and wait for the peer's.
    Started,
    /// Both sides have new ratchets; back to `Ok` with the first message that decrypts.
    Agreed,
}

/// Receiving queues to subscribe: each one's key and id.
type QueueKeys = Vec<(PrivateKey, Vec<u8>)>;

/// How long [`resubscribe_later`] waits at most between tries.
const RESUBSCRIBE_MAX_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// A relay that could not be reached when the agent started: its connections are reported
/// down, then it is tried again (1 s, doubling up to a minute) until its queues are
/// subscribed and the connections reported up, or the agent is closed or dropped.
async fn resubscribe_later(inner: std::sync::Weak<Inner>, server: SmpServer, queues: QueueKeys) {
    let mut wait = std::time::Duration::from_secs(1);
    let mut told = false;
    loop {
        {
            let Some(inner) = inner.upgrade() else { return };
            let agent = Agent { inner };
            if agent.is_closed() {
                return;
            }
            if !told {
                let conns = agent.receiving_on(&server);
                let host = host_of(&server);
                let server = address_of(&server);
                agent
                    .event(AgentEvent::Down {
                        conns,
                        host,
                        server,
                    })
                    .await;
                told = true;
            } else if let Ok(refused) = agent.subscribe_on(&server, &queues).await {
                agent
                    .inner
                    .unreachable
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&server.to_string());
                // Refused queues are not subscribed: reported after the relay is up.
                let mut conns = agent.receiving_on(&server);
                conns.retain(|c| !refused.iter().any(|(r, _)| r == c));
                let host = host_of(&server);
                tracing::info!(target: "agent", %host, "subscribed again after start");
                agent
                    .event(AgentEvent::Up {
                        conns,
                        host,
                        server: address_of(&server),
                    })
                    .await;
                agent.report_refused(&server, refused).await;
                return;
            }
        }
        tracing::debug!(target: "agent", host = %host_of(&server), ?wait, "relay not reached, trying again");
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(RESUBSCRIBE_MAX_WAIT);
    }
}

/// A relay's answer as the agent's result: its ERR and a failed call are errors.
fn relay_answer(r: std::result::Result<BrokerMsg, smp_client::ClientError>) -> Result<BrokerMsg> {
    match r {
        Ok(BrokerMsg::Err(e)) => Err(AgentError::Relay(format!("{e:?}"))),
        Ok(m) => Ok(m),
        Err(e) => Err(AgentError::Relay(e.to_string())),
    }
}

/// An SMP error as the relay wrote it (`AUTH`, `QUOTA`, `CMD PROHIBITED`, ...).
fn error_name(e: &smp_proto::ErrorType) -> String {
    let mut out = Vec::new();
    e.encode(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// A connection marked as retiring its old queue; unmarked when dropped.
struct Retiring<'a> {
    agent: &'a Agent,
    conn: ConnId,
}

impl Drop for Retiring<'_> {
    fn drop(&mut self) {
        self.agent.lock().retiring.remove(&self.conn);
    }
}

/// What a relay says of a queue we receive from (the reference's `ServerQueueInfo`).
#[derive(Debug, Clone, PartialEq)]
pub struct ServerQueueInfo {
    /// The relay's address (without its password).
    pub server: String,
    /// The queue's recipient id (base64url).
    pub rcv_id: String,
    /// Its sender id (base64url).
    pub snd_id: String,
    /// `new`, `secured` or `active`.
    pub status: &'static str,
    /// The relay's answer to QUE, as it came (its JSON `QueueInfo`: `qiSnd`, `qiNtf`,
    /// `qiSub`, `qiSize`, `qiMsg`).
    pub info: String,
}

/// A relay's address as events show it: without its password.
pub fn address_of(server: &SmpServer) -> String {
    SmpServer {
        password: None,
        ..server.clone()
    }
    .to_string()
}

/// A relay's first host, as logs and events name it (never its password).
pub fn host_of(server: &SmpServer) -> String {
    server
        .hosts
        .first()
        .map_or_else(String::new, |h| h.to_string())
}

/// Which of a connection's queues a rotation moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueDirection {
    /// Ours, receiving (we started the rotation).
    Receiving,
    /// The peer's, that we send to.
    Sending,
}

/// How far a queue rotation is (the reference's SWITCH phases).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwitchPhase {
    /// The new queue exists (receiving: QADD sent; sending: QKEY sent).
    Started,
    /// Receiving: the sender's key came (QKEY); the queue is being secured.
    Confirmed,
    /// Receiving: the new queue is secured and the sender told to use it (QUSE).
    Secured,
    /// Receiving: the old queue is deleted; sending: messages go to the new queue (QTEST).
    Completed,
}

/// Why an agent call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgentError {
    /// The relay could not be reached or answered an error.
    #[error("relay: {0}")]
    Relay(String),
    /// A link that cannot be used.
    #[error("link: {0}")]
    Link(String),
    /// No such connection, or not in a state for this.
    #[error("connection: {0}")]
    Connection(&'static str),
    /// Not allowed in the connection's state (the reference's `CMD PROHIBITED`): sending while
    /// the ratchet is re-synchronised, a re-synchronisation that is not needed.
    #[error("command is prohibited: {0}")]
    Prohibited(&'static str),
    /// Encryption failed.
    #[error("crypto: {0}")]
    Crypto(String),
    /// A message received again (the reference's `A_DUPLICATE`).
    #[error("duplicate: a message received again, dropped")]
    Duplicate,
    /// The store failed: nothing was sent.
    #[error("store: {0}")]
    Store(String),
}

type Result<T> = std::result::Result<T, AgentError>;

fn crypto(e: impl std::fmt::Display) -> AgentError {
    AgentError::Crypto(e.to_string())
}

/// A queue this agent receives from.
#[derive(Clone)]
struct RcvQueue {
    server: SmpServer,
    rcv_id: Vec<u8>,
    snd_id: Vec<u8>,
    rcv_key: PrivateKey,
    /// Server-to-recipient secret (MSG bodies).
    rcv_secret: SbKey,
    /// Our per-queue e2e key (its public half is in the link or the queue info).
    e2e_key: PrivateKey,
}

/// A queue this agent sends to.
#[derive(Clone)]
struct SndQueue {
    server: SmpServer,
    snd_id: Vec<u8>,
    snd_key: PrivateKey,
    /// Our per-queue e2e public key (in the confirmation's header).
    e2e_pub: PublicKey,
    /// DH of our per-queue key and the recipient's.
    e2e_secret: SbKey,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    /// Initiator: invitation published, waiting for the confirmation.
    Invited,
    /// Initiator: confirmation received, waiting for `allow`.
    Confirmed,
    /// Joiner: confirmation sent, waiting for the initiator's.
    Joined,
    /// Both ways.
    Connected,
    /// A contact address: requests to it become [`AgentEvent::Request`].
    Address,
    /// Legacy handshake (peers before agent v6): confirmations exchanged, queues secured by
    /// their recipients (KEY); connected once the HELLOs are through.
    AwaitingHello,
}

struct Conn {
    status: Status,
    rcv: RcvQueue,
    snd: Option<SndQueue>,
    /// Initiator's X3DH keys until the confirmation.
    x3dh: Option<(PrivateKey, PrivateKey)>,
    /// The joiner's reply queues, until `allow`.
    reply: Vec<QueueInfo>,
    ratchet: Option<Ratchet>,
    skipped: SkippedKeys,
    agent_version: u16,
    snd_msg_id: i64,
    snd_prev_hash: Vec<u8>,
    rcv_msg_id: i64,
    rcv_prev_hash: Vec<u8>,
    /// The per-queue secret with the peer's key from its confirmation (later messages do not
    /// repeat the key).
    rcv_peer_secret: Option<SbKey>,
    /// The relay's id of the last message handled (committed with its effects): the same id
    /// again is a redelivery after an ACK that never reached the relay, and is only ACKed.
    last_relay_msg_id: Vec<u8>,
    /// Ratchet re-synchronisation.
    sync: SyncState,
    /// Our new X448 keys while `sync` is `Started`.
    sync_keys: Option<(PrivateKey, PrivateKey)>,
    /// Hashes of the peer's ratchet keys already used (a repeated AgentRatchetKey is ignored).
    sync_key_hashes: Vec<[u8; 32]>,
    /// Queue rotation, our side as recipient: the queue replacing `rcv` (QADD sent).
    rcv_next: Option<NextRcv>,
    /// The queue `rcv` replaced, with its per-queue secret: read until empty, then deleted.
    rcv_old: Option<(RcvQueue, Option<SbKey>)>,
    /// Queue rotation, our side as sender: the queue replacing `snd` (QKEY sent, until QUSE).
    snd_next: Option<SndQueue>,
    /// The queue `snd` replaced: messages sealed for it before the switch still go there.
    snd_old: Option<SndQueue>,
    /// Legacy handshake, initiator: the joiner's sender key from its confirmation, to secure our
    /// queue with (KEY) when the user allows the connection.
    legacy_peer_key: Option<PublicKey>,
    /// Legacy handshake: our HELLO is sent.
    hello_sent: bool,
    /// An address's short link, with what changing its data takes (LSET).
    link: Option<OwnedLink>,
    /// SHA-256 of the last ratchet messages decrypted (in memory only): one of them again is a
    /// replay, dropped without disturbing the ratchet's state (the reference checks the same
    /// hash in its store before it reports a decryption error).
    recent: std::collections::VecDeque<[u8; 32]>,
}

/// What the agent keeps of an address's short link to change its data later (LSET): the
/// relay keeps the fixed data as it was first written, so it is kept as sent.
#[derive(Clone)]
struct OwnedLink {
    kind: crate::links::ShortLinkKind,
    link_id: Vec<u8>,
    link_key: Vec<u8>,
    root: PrivateKey,
    /// The encrypted fixed data, as the relay keeps it.
    fixed: Vec<u8>,
    /// Requests may come to the address itself (not only through its relays).
    direct: bool,
}

/// The data of a contact address's short link, as read with LGET.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressData {
    /// The full link (the address).
    pub link: String,
    /// The owner's data (the chat's profile).
    pub user_data: Vec<u8>,
    /// Requests may be sent to the address itself.
    pub direct: bool,
    /// The addresses that take requests for it (a channel's relays), as short links.
    pub relays: Vec<String>,
    /// Its owners besides the link's root key (`OwnerAuth`, each authorized by the root key or
    /// an earlier owner - checked when read): application ids (a channel's member ids) and
    /// their Ed25519 keys (X.509 DER).
    pub owners: Vec<(Vec<u8>, Vec<u8>)>,
    /// The link's root key (X.509 DER): what signed its data - and what a chat relay's
    /// answer to a relay test is signed with.
    pub root_key: Vec<u8>,
}

/// How many decrypted messages' hashes a connection remembers against replays.
const RECENT_HASHES: usize = 256;

/// A receiving queue that will replace the current one.
#[derive(Clone)]
struct NextRcv {
    queue: RcvQueue,
    /// The sender's per-queue secret, from its QKEY (then the queue is secured and QUSE sent).
    peer_secret: Option<SbKey>,
}

/// How many of the peer's ratchet-key hashes are remembered.
const SYNC_KEY_HASHES: usize = 16;

/// A message handed to the user and not yet acknowledged by it (the relay waits for the ACK).
#[derive(Clone)]
struct Awaiting {
    server: SmpServer,
    rid: Vec<u8>,
    rcv_key: PrivateKey,
    relay_msg_id: Vec<u8>,
    msg_id: i64,
    /// SHA-256 of the agent message, for a delivery receipt.
    msg_hash: Vec<u8>,
}

struct State {
    conns: HashMap<ConnId, Conn>,
    awaiting: HashMap<ConnId, Awaiting>,
    /// Without a store: received messages not yet acknowledged by the user.
    unacked: HashMap<(ConnId, Vec<u8>), crate::store::Received>,
    /// Requests to addresses not yet accepted or rejected: their invitation links.
    requests: HashMap<u64, String>,
    next_request: u64,
    by_rcv: HashMap<Vec<u8>, ConnId>,
    next: ConnId,
    /// A message that arrived on a connection's new queue (rotation) while its current queue
    /// still held messages: handled once those are read, so that the order holds.
    deferred: HashMap<ConnId, Incoming>,
    /// Connections whose old receiving queue is being retired (QUE, DEL): one retirement at
    /// a time - two at once (the last old message acknowledged as the switch completes) would
    /// delete the queue twice, the second DEL failing with AUTH.
    retiring: std::collections::HashSet<ConnId>,
    /// Without a store: hashes of sent messages awaiting the peer's receipt (the newest
    /// [`RECEIPT_HASHES`] per connection).
    sent_hashes: HashMap<ConnId, std::collections::BTreeMap<i64, Vec<u8>>>,
    /// Delivery receipts to send, per connection: gathered for [`RECEIPT_DELAY`] (or until
    /// [`MAX_BATCHED_RECEIPTS`]) and sent in one A_RCVD.
    receipts: HashMap<ConnId, Vec<(i64, Vec<u8>)>>,
    /// Without a store: invitation short links read, by link id (see
    /// [`Agent::read_invitation`]).
    inv_links: HashMap<Vec<u8>, crate::store::InvShortLink>,
}

/// How long receipts wait for more to go with them in one A_RCVD.
const RECEIPT_DELAY: std::time::Duration = std::time::Duration::from_millis(50);

/// The most receipts in one A_RCVD (about 43 bytes each).
const MAX_BATCHED_RECEIPTS: usize = 64;

/// Without a store, the hashes kept per connection for receipts.
const RECEIPT_HASHES: usize = 4096;

/// A MSG from a relay: the relay, recipient id, message id, encrypted body.
type Incoming = (SmpServer, Vec<u8>, Vec<u8>, Vec<u8>);

struct Inner {
    /// The relays new queues are made on (one chosen at random for each; never empty).
    servers: std::sync::RwLock<Vec<SmpServer>>,
    /// Preset relays: short links to them name only the host (as the reference's
    /// `shortLinkPresetServers`), and such links are read back with the preset's key hash.
    link_presets: std::sync::RwLock<Vec<LinkServer>>,
    /// How to connect to relays (changed by [`Agent::set_options`]).
    opts: std::sync::RwLock<ConnectOptions>,
    /// Where connections are kept (none: in memory only).
    store: Option<Mutex<crate::store::Store>>,
    /// Each connection's delivery task. A message is handed to it in the same critical
    /// section of the state lock that gives the message its id, so the task gets every
    /// connection's messages in id order whoever sends them (a user's message, an agent
    /// message answered from the receive path such as QKEY, the key of a re-synchronisation
    /// the peer started) - without an async lock the receive path would have to wait on.
    delivery: Mutex<HashMap<ConnId, Worker>>,
    /// Set by [`Agent::close`]: nothing more is processed or sent.
    closed: std::sync::atomic::AtomicBool,
    sessions: tokio::sync::Mutex<HashMap<String, Session>>,
    /// Relays that could not be reached when the agent started, tried again meanwhile.
    unreachable: Mutex<std::collections::HashSet<String>>,
    /// Private routing: the destination relays reached through our relays, by destination
    /// (`smp://` address): the proxy relay and what its PKEY told.
    proxied: Mutex<HashMap<String, (SmpServer, smp_client::proxy::ProxiedRelay)>>,
    state: Mutex<State>,
    events: mpsc::Sender<AgentEvent>,
    incoming: mpsc::Sender<Incoming>,
}

/// The agent.
#[derive(Clone)]
pub struct Agent {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent").finish_non_exhaustive()
    }
}

/// Runs `f` on the store. A store call may wait for the disk: on a multi-threaded runtime the
/// worker hands its other tasks to another thread meanwhile, so that relays, sockets and the
/// other connections keep moving.
fn on_store<T>(
    store: &Mutex<crate::store::Store>,
    f: impl FnOnce(&mut crate::store::Store) -> std::result::Result<T, crate::store::StoreError>,
) -> Result<T> {
    let run = || {
        f(&mut store.lock().unwrap_or_else(|p| p.into_inner()))
            .map_err(|e| AgentError::Store(e.to_string()))
    };
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(run)
        }
        _ => run(),
    }
}

fn x25519() -> Result<(PublicKey, PrivateKey)> {
    generate(KeyAlgorithm::X25519).map_err(crypto)
}

/// A new short link's keys and its data for the relay.
struct NewLinkData {
    /// The link's key (the hash of its fixed data).
    link_key: Vec<u8>,
    /// The root signing key.
    root: PrivateKey,
    /// An address's link id (an invitation's is the relay's).
    link_id: Option<Vec<u8>>,
    /// The encrypted fixed and user data.
    data: smp_proto::command::LinkData,
}

/// A new short link's data for `request` (the link's fixed data), signed with a new root key and
/// encrypted under the link's key: an invitation's user data as it is, an address's as
/// `ContactData` (`direct`: requests may come to it).
fn new_link_data(
    request: ConnectionRequest,
    mode: QueueMode,
    user_data: &[u8],
    direct: bool,
) -> Result<NewLinkData> {
    use crate::shortlink::{self as sl, ConnLinkData, ContactData, FixedLinkData};
    let link_err = |e: sl::LinkDataError| AgentError::Link(e.to_string());
    let (root_pub, root) = generate(KeyAlgorithm::Ed25519).map_err(crypto)?;
    let fixed = FixedLinkData {
        versions: AGENT_VERSIONS,
        root_key: root_pub,
        request,
        entity_id: None,
    };
    let user = match mode {
        QueueMode::Messaging => ConnLinkData::Invitation {
            versions: AGENT_VERSIONS,
            user_data: user_data.to_vec(),
        },
        QueueMode::Contact => ConnLinkData::Contact {
            versions: AGENT_VERSIONS,
            data: ContactData {
                direct,
                owners: Vec::new(),
                relays: Vec::new(),
                user_data: user_data.to_vec(),
            },
        },
    };
    let (link_key, fd, md) = sl::sign_link_data(&root, &fixed, &user).map_err(link_err)?;
    let (key, link_id) = match mode {
        QueueMode::Messaging => (sl::invitation_key(&link_key).map_err(link_err)?, None),
        QueueMode::Contact => {
            let (id, key) = sl::contact_link_id_and_key(&link_key).map_err(link_err)?;
            (key, Some(id))
        }
    };
    let data = smp_proto::command::LinkData {
        fixed: sl::encrypt(&key, &fd, sl::FIXED_DATA_LEN).map_err(link_err)?,
        user: sl::encrypt(&key, &md, sl::USER_DATA_LEN).map_err(link_err)?,
    };
    Ok(NewLinkData {
        link_key,
        root,
        link_id,
        data,
    })
}

fn link_server(s: &SmpServer) -> LinkServer {
    LinkServer {
        hosts: s.hosts.iter().map(ToString::to_string).collect(),
        port: s.port.clone(),
        key_hash: s.key_hash.clone(),
    }
}

fn smp_server(s: &LinkServer) -> Result<SmpServer> {
    let text = format!(
        "smp://{}@{}{}",
        simplex_codec::base64url::encode(&s.key_hash),
        s.hosts.join(","),
        if s.port.is_empty() {
            String::new()
        } else {
            format!(":{}", s.port)
        }
    );
    text.parse().map_err(|e| AgentError::Link(format!("{e}")))
}

impl Agent {
    /// Starts an agent that creates its queues on `server`, keeping its state in memory only.
    /// Its events must be read: when 1,024 wait, the agent waits for room.
    pub fn start(server: SmpServer, opts: ConnectOptions) -> (Self, mpsc::Receiver<AgentEvent>) {
        Self::with_store(server, opts, None, HashMap::new())
    }

    /// Opens an agent on its store: every stored connection is loaded and its queue subscribed
    /// again (on the relays that can be reached now; the others when they reconnect).
    pub async fn open(
        server: SmpServer,
        opts: ConnectOptions,
        store: crate::store::Store,
    ) -> Result<(Self, mpsc::Receiver<AgentEvent>)> {
        let (agent, events) = Self::open_stopped(server, opts, store)?;
        agent.resume().await?;
        Ok((agent, events))
    }

    /// Opens an agent on its store without starting it: its connections are loaded (their
    /// codes and states can be read) but no relay is contacted and nothing is received or sent
    /// until [`Agent::resume`].
    pub fn open_stopped(
        server: SmpServer,
        opts: ConnectOptions,
        store: crate::store::Store,
    ) -> Result<(Self, mpsc::Receiver<AgentEvent>)> {
        let mut conns = HashMap::new();
        for (id, state) in store
            .load_all()
            .map_err(|e| AgentError::Store(e.to_string()))?
        {
            conns.insert(id, persist::decode(&state)?);
        }
        let (agent, events) = Self::with_store(server, opts, Some(store), conns);
        agent
            .inner
            .closed
            .store(true, std::sync::atomic::Ordering::SeqCst);
        Ok((agent, events))
    }

    /// Starts an agent opened stopped or stopped by [`Agent::close`], as [`Agent::open`]
    /// starts one: requests to addresses not yet answered are announced again, messages
    /// committed but not accepted by a relay are sent, and every receiving queue is subscribed
    /// again (a relay delivers what was not acknowledged before the stop).
    pub async fn resume(&self) -> Result<()> {
        let agent = self;
        {
            let mut st = agent.lock();
            st.awaiting.clear();
            st.unacked.clear();
            st.deferred.clear();
        }
        agent
            .inner
            .closed
            .store(false, std::sync::atomic::Ordering::SeqCst);
        let (pending, requests) = match &agent.inner.store {
            Some(store) => on_store(store, |db| Ok((db.pending()?, db.requests()?)))?,
            None => (Vec::new(), Vec::new()),
        };
        let queues: Vec<(SmpServer, PrivateKey, Vec<u8>)> = agent
            .lock()
            .conns
            .values()
            .flat_map(|c| c.rcv_queues())
            .map(|q| (q.server.clone(), q.rcv_key.clone(), q.rcv_id.clone()))
            .collect();
        // Requests to addresses not yet answered are announced again (by a task: the events
        // channel is not read before this returns).
        if !requests.is_empty() {
            let mut again = Vec::with_capacity(requests.len());
            {
                let mut st = agent.lock();
                for (request, address, link, info) in requests {
                    st.next_request = st.next_request.max(request + 1);
                    st.requests.insert(request, link);
                    again.push(AgentEvent::Request {
                        address,
                        request,
                        info,
                    });
                }
            }
            let tx = agent.inner.events.clone();
            tokio::spawn(async move {
                for e in again {
                    if tx.send(e).await.is_err() {
                        return;
                    }
                }
            });
        }
        // Messages committed but not accepted by the relay before the stop go out first.
        for (conn, msg_id, body, snd_id, user, notify) in pending {
            // The queue it was sealed for: the current one, or the one a rotation replaced.
            let q = agent.lock().conns.get(&conn).and_then(|c| {
                let old = c
                    .snd_old
                    .as_ref()
                    .filter(|o| Some(&o.snd_id) == snd_id.as_ref());
                old.or(c.snd.as_ref()).cloned()
            });
            if let Some(q) = q {
                let m = Committed {
                    q,
                    msg_id,
                    sealed: body,
                    user,
                    notify,
                };
                agent.enqueue(conn, m, None);
            }
        }
        // Relay by relay: one that cannot be reached now does not stop the start - its
        // connections are reported down and it is tried again in the background until they
        // are subscribed (then reported up).
        let mut by_server: Vec<(SmpServer, QueueKeys)> = Vec::new();
        for (server, key, rid) in queues {
            match by_server.iter_mut().find(|(s, _)| *s == server) {
                Some((_, list)) => list.push((key, rid)),
                None => by_server.push((server, vec![(key, rid)])),
            }
        }
        for (server, list) in by_server {
            let e = match agent.subscribe_on(&server, &list).await {
                Ok(refused) => {
                    agent.report_refused(&server, refused).await;
                    continue;
                }
                Err(e) => e,
            };
            if agent.is_closed() {
                return Err(AgentError::Connection("the agent is closed"));
            }
            tracing::warn!(
                target: "connections",
                host = %host_of(&server),
                queues = list.len(),
                "subscription error on start: {e}; trying again in the background"
            );
            agent
                .inner
                .unreachable
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(server.to_string());
            tokio::spawn(resubscribe_later(
                Arc::downgrade(&agent.inner),
                server,
                list,
            ));
        }
        Ok(())
    }

    /// Subscribes queues on one relay; the connections whose queues it refused (AUTH for a
    /// queue gone), with its error - not a failure here: only not reaching the relay is.
    async fn subscribe_on(
        &self,
        server: &SmpServer,
        queues: &[(PrivateKey, Vec<u8>)],
    ) -> Result<Vec<(ConnId, String)>> {
        let session = self.session(server).await?;
        let mut refused: Vec<(Vec<u8>, String)> = Vec::new();
        for (key, rid) in queues {
            let answer = session
                .subscribe(key, rid)
                .await
                .map_err(|e| AgentError::Relay(e.to_string()))?;
            if let BrokerMsg::Err(e) = answer {
                refused.push((rid.clone(), error_name(&e)));
            }
        }
        Ok(self.conns_of(refused))
    }

    /// The connections of receiving queues, each with its error.
    fn conns_of(&self, refused: Vec<(Vec<u8>, String)>) -> Vec<(ConnId, String)> {
        let st = self.lock();
        refused
            .into_iter()
            .filter_map(|(rid, e)| st.by_rcv.get(&rid).map(|c| (*c, e)))
            .collect()
    }

    /// Connections whose queues `server` refused, reported (none: nothing).
    async fn report_refused(&self, server: &SmpServer, errors: Vec<(ConnId, String)>) {
        if !errors.is_empty() {
            self.event(AgentEvent::SubscriptionErrors {
                server: address_of(server),
                errors,
            })
            .await;
        }
    }

    fn with_store(
        server: SmpServer,
        opts: ConnectOptions,
        store: Option<crate::store::Store>,
        conns: HashMap<ConnId, Conn>,
    ) -> (Self, mpsc::Receiver<AgentEvent>) {
        let (events, events_rx) = mpsc::channel(1024);
        let (incoming, mut incoming_rx) = mpsc::channel(1024);
        let id_base = store.as_ref().map_or(0, crate::store::Store::id_base);
        let agent = Self {
            inner: Arc::new(Inner {
                servers: std::sync::RwLock::new(vec![server]),
                link_presets: std::sync::RwLock::default(),
                opts: std::sync::RwLock::new(opts),
                store: store.map(Mutex::new),
                delivery: Mutex::default(),
                sessions: tokio::sync::Mutex::default(),
                unreachable: Mutex::default(),
                proxied: Mutex::default(),
                closed: std::sync::atomic::AtomicBool::new(false),
                state: Mutex::new(State {
                    awaiting: HashMap::new(),
                    unacked: HashMap::new(),
                    requests: HashMap::new(),
                    next_request: id_base + 1,
                    next: conns.keys().max().map_or(1, |m| m + 1).max(id_base + 1),
                    sent_hashes: HashMap::new(),
                    receipts: HashMap::new(),
                    inv_links: HashMap::new(),
                    deferred: HashMap::new(),
                    retiring: std::collections::HashSet::new(),
                    by_rcv: conns
                        .iter()
                        .flat_map(|(id, c)| {
                            c.rcv_queues().into_iter().map(|q| (q.rcv_id.clone(), *id))
                        })
                        .collect(),
                    conns,
                }),
                events,
                incoming,
            }),
        };
        // One task processes every received message in order, then ACKs it.
        let weak = Arc::downgrade(&agent.inner);
        tokio::spawn(async move {
            while let Some((server, rid, msg_id, body)) = incoming_rx.recv().await {
                let Some(inner) = weak.upgrade() else { return };
                let agent = Agent { inner };
                // Closed: dropped unacknowledged (the relay delivers it again after a resume).
                if agent.is_closed() {
                    continue;
                }
                agent.received(&server, rid, msg_id, body).await;
            }
        });
        (agent, events_rx)
    }

    /// The connections, with whether each is connected both ways.
    pub fn connections(&self) -> Vec<(ConnId, bool)> {
        let st = self.lock();
        let mut v: Vec<(ConnId, bool)> = st
            .conns
            .iter()
            .map(|(id, c)| (*id, c.status == Status::Connected))
            .collect();
        v.sort_unstable();
        v
    }

    /// The id the next message sent on `conn` will get.
    pub fn next_msg_id(&self, conn: ConnId) -> Option<i64> {
        self.lock().conns.get(&conn).map(|c| c.snd_msg_id + 1)
    }

    /// SHA-256 of the connection's ratchet associated data (both identity keys): the same on
    /// both sides of a connection, and only there - the source of the security code the users
    /// compare (`/code`). None before the ratchet exists.
    pub fn ratchet_ad_hash(&self, conn: ConnId) -> Option<[u8; 32]> {
        let st = self.lock();
        let r = st.conns.get(&conn)?.ratchet.as_ref()?;
        Some(simplex_crypto::digest::sha256(&r.ad))
    }

    /// Whether message `msg_id` of `conn` is still waiting to be accepted by the relay (in
    /// the store's pending sends; without a store: unknown, false).
    pub fn is_pending(&self, conn: ConnId, msg_id: i64) -> Result<bool> {
        match &self.inner.store {
            Some(store) => on_store(store, |db| db.is_pending(conn, msg_id)),
            None => Ok(false),
        }
    }

    /// Bytes of the store's pages in use (0 without a store).
    pub fn store_bytes(&self) -> Result<u64> {
        match &self.inner.store {
            None => Ok(0),
            Some(s) => on_store(s, |db| db.live_bytes()),
        }
    }

    /// The connections receiving on a relay that could not be reached when the agent started
    /// (and not since): their queues are not subscribed yet.
    pub fn unreachable(&self) -> Vec<ConnId> {
        let servers = self
            .inner
            .unreachable
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let st = self.lock();
        let mut v: Vec<ConnId> = st
            .conns
            .iter()
            .filter(|(_, c)| servers.contains(&c.rcv.server.to_string()))
            .map(|(id, _)| *id)
            .collect();
        v.sort_unstable();
        v
    }

    /// A relay for a new queue (or a rotation): one of [`Agent::servers`], at random.
    pub fn server(&self) -> SmpServer {
        let servers = self.inner.servers.read().unwrap_or_else(|e| e.into_inner());
        let mut b = [0u8; 8];
        simplex_crypto::random_bytes(&mut b);
        let i = (u64::from_le_bytes(b) % servers.len().max(1) as u64) as usize;
        servers[i].clone()
    }

    /// The relays new queues are made on.
    pub fn servers(&self) -> Vec<SmpServer> {
        self.inner
            .servers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// New queues go to these relays from now on (existing ones stay where they are); an
    /// empty list changes nothing.
    pub fn set_servers(&self, servers: Vec<SmpServer>) {
        if servers.is_empty() {
            return;
        }
        *self
            .inner
            .servers
            .write()
            .unwrap_or_else(|e| e.into_inner()) = servers;
    }

    /// The preset relays of short links: a short link this agent makes on one of them names
    /// only its host, and a host-only short link is read from the preset with that host (the
    /// reference clients make and read them so).
    pub fn set_link_presets(&self, presets: &[SmpServer]) {
        *self
            .inner
            .link_presets
            .write()
            .unwrap_or_else(|e| e.into_inner()) = presets.iter().map(link_server).collect();
    }

    fn link_presets(&self) -> Vec<LinkServer> {
        self.inner
            .link_presets
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Whether [`Agent::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Reconnects to every relay the agent is connected to now (the reference's
    /// `reconnectAllServers`, e.g. after a network change): each connection is replaced
    /// ([`Session::reconnect`]: the calls it carries are answered first), its queues subscribed
    /// again. Returns how many relays.
    pub async fn reconnect_all(&self) -> usize {
        let sessions = self.inner.sessions.lock().await;
        for s in sessions.values() {
            s.reconnect();
        }
        sessions.len()
    }

    /// What the relay says of the queue `conn` receives from (QUE; the reference's
    /// `getConnectionQueueInfo`): the relay, the queue's ids, its status here and the relay's
    /// answer (its JSON `QueueInfo`).
    pub async fn queue_info(&self, conn: ConnId) -> Result<ServerQueueInfo> {
        let (q, status) = {
            let st = self.lock();
            let c = st
                .conns
                .get(&conn)
                .ok_or(AgentError::Connection("no such connection"))?;
            (c.rcv.clone(), c.status)
        };
        let info = match self
            .call(&q.server, Some(&q.rcv_key), &q.rcv_id, &Command::Que)
            .await?
        {
            BrokerMsg::Info(json) => String::from_utf8(json)
                .map_err(|_| AgentError::Relay("the queue's information is not text".into()))?,
            _ => {
                return Err(AgentError::Relay(
                    "QUE answered with something else than INFO".into(),
                ))
            }
        };
        let b64 = simplex_codec::base64url::encode;
        Ok(ServerQueueInfo {
            server: address_of(&q.server),
            rcv_id: b64(&q.rcv_id),
            snd_id: b64(&q.snd_id),
            // The reference's queue statuses: waiting for the sender, secured, in use.
            status: match status {
                Status::Invited | Status::Address => "new",
                Status::Confirmed | Status::Joined | Status::AwaitingHello => "secured",
                Status::Connected => "active",
            },
            info,
        })
    }

    /// The connection options in effect.
    pub fn options(&self) -> ConnectOptions {
        self.inner
            .opts
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// New connection options (the reference's `setNetworkConfig`: a SOCKS proxy, host
    /// modes, private routing, timeouts): every relay connection is made again with them, its
    /// queues subscribed again. Returns how many relays.
    pub async fn set_options(&self, opts: ConnectOptions) -> usize {
        *self
            .inner
            .opts
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = opts.clone();
        let sessions = self.inner.sessions.lock().await;
        for s in sessions.values() {
            s.set_options(opts.clone());
            s.reconnect();
        }
        sessions.len()
    }

    /// Reconnects to one relay (the reference's `reconnectSMPServer`); false when the agent
    /// is not connected to it.
    pub async fn reconnect_server(&self, server: &SmpServer) -> bool {
        let sessions = self.inner.sessions.lock().await;
        match sessions.get(&server.to_string()) {
            Some(s) => {
                s.reconnect();
                true
            }
            None => false,
        }
    }

    /// Stops the agent: its relay connections close, nothing more is processed or sent (what
    /// was committed is sent again by the next [`Agent::open`]).
    pub async fn close(&self) {
        self.inner
            .closed
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.inner.sessions.lock().await.clear();
        // Senders waiting for a place go on (what they commit is sent by the next open).
        let workers = std::mem::take(
            &mut *self
                .inner
                .delivery
                .lock()
                .unwrap_or_else(|p| p.into_inner()),
        );
        for w in workers.values() {
            w.slots.close();
        }
    }

    /// The user has stored message `msg_id` of `conn`: the relay may drop it, and the next one
    /// (if any) is delivered.
    pub async fn ack(&self, conn: ConnId, msg_id: i64) -> Result<()> {
        let a = {
            let mut st = self.lock();
            match st.awaiting.get(&conn) {
                Some(a) if a.msg_id == msg_id => {}
                _ => return Err(AgentError::Connection("no such message to acknowledge")),
            }
            let a = st
                .awaiting
                .remove(&conn)
                .ok_or(AgentError::Connection("gone"))?;
            st.unacked.remove(&(conn, a.relay_msg_id.clone()));
            a
        };
        // The stored copy goes while the ACK travels (its loss in a crash is harmless: see
        // `Store::acknowledged`); the relay's answer may carry the next message.
        let ack = Command::Ack(a.relay_msg_id.clone());
        let (answer, forgotten) = tokio::join!(
            self.call(&a.server, Some(&a.rcv_key), &a.rid, &ack),
            async {
                match &self.inner.store {
                    Some(store) => on_store(store, |db| db.acknowledged(conn, &a.relay_msg_id)),
                    None => Ok(()),
                }
            }
        );
        if let Err(e) = forgotten {
            self.event(AgentEvent::Error {
                conn,
                error: format!("acknowledged message {msg_id} stays in the store: {e}"),
            })
            .await;
        }
        match answer? {
            BrokerMsg::Msg(next_id, next_body) => {
                // Handed to the task that handles every received message, not handled here:
                // the caller is the application handling the previous message, and handling
                // emits an event into the application's own queue - when that queue is full
                // (a burst of delivery reports), waiting here would never end.
                let incoming = self.inner.incoming.clone();
                let msg = (a.server.clone(), a.rid, next_id, next_body);
                tokio::spawn(async move {
                    let _ = incoming.send(msg).await;
                });
            }
            _ => self.after_ack(&a.rid).await,
        }
        Ok(())
    }

    /// As [`Agent::ack`], and sends the peer a delivery receipt (A_RCVD) for the message with
    /// `info` (opaque to the agent; the chat sends none). Receipts without info are gathered
    /// for [`RECEIPT_DELAY`] after the first and sent together in one A_RCVD (the format takes
    /// a list): a burst of messages costs the peer one decryption per batch, not per message.
    /// A receipt with info goes at once, alone (as before batching: committed before the
    /// acknowledgement). A receipt still gathering when the process stops is not sent (the
    /// message itself was stored and acknowledged: only the sender's "received" mark is lost).
    pub async fn ack_with_receipt(&self, conn: ConnId, msg_id: i64, info: &[u8]) -> Result<()> {
        if info.is_empty() {
            return self.ack_with_batched_receipt(conn, msg_id).await;
        }
        let hash = receipt_hash(&self.lock(), conn, msg_id)?;
        let mut amsg = vec![b'V'];
        encode_receipts(&[(msg_id, &hash, info)], &mut amsg)?;
        self.send_agent_message(conn, amsg, false, false).await?;
        self.ack(conn, msg_id).await
    }

    /// [`Agent::ack_with_receipt`] of a receipt without info: acknowledged now, the receipt
    /// gathered with the connection's next ones.
    async fn ack_with_batched_receipt(&self, conn: ConnId, msg_id: i64) -> Result<()> {
        let (first, full) = {
            let mut st = self.lock();
            let hash = receipt_hash(&st, conn, msg_id)?;
            let list = st.receipts.entry(conn).or_default();
            list.push((msg_id, hash));
            (list.len() == 1, list.len() >= MAX_BATCHED_RECEIPTS)
        };
        self.ack(conn, msg_id).await?;
        if full {
            self.flush_receipts(conn).await?;
        } else if first {
            let agent = self.clone();
            tokio::spawn(async move {
                tokio::time::sleep(RECEIPT_DELAY).await;
                // Best effort: a connection deleted meanwhile has nobody to tell.
                let _ = agent.flush_receipts(conn).await;
            });
        }
        Ok(())
    }

    /// Sends the connection's gathered receipts in one A_RCVD.
    async fn flush_receipts(&self, conn: ConnId) -> Result<()> {
        let list = self.lock().receipts.remove(&conn).unwrap_or_default();
        if list.is_empty() || self.is_closed() {
            return Ok(());
        }
        let refs: Vec<(i64, &[u8], &[u8])> = list
            .iter()
            .map(|(id, hash)| (*id, hash.as_slice(), &[][..]))
            .collect();
        let mut amsg = vec![b'V'];
        encode_receipts(&refs, &mut amsg)?;
        self.send_agent_message(conn, amsg, false, false)
            .await
            .map(|_| ())
    }

    /// Moves the connection's receiving queue to a new queue on `server` (queue rotation, as
    /// the reference's `switchConnection`): QADD to the peer, its QKEY, KEY on the new queue,
    /// QUSE, the peer's first message on the new queue; the old queue is read until empty and
    /// deleted. Progress comes as [`AgentEvent::Switch`].
    pub async fn switch_connection(&self, conn: ConnId, server: SmpServer) -> Result<()> {
        let (old_server, old_snd_id) = {
            let st = self.lock();
            let c = st
                .conns
                .get(&conn)
                .ok_or(AgentError::Connection("unknown"))?;
            if c.status != Status::Connected {
                return Err(AgentError::Connection("not connected"));
            }
            if c.rcv_next.is_some() || c.rcv_old.is_some() {
                return Err(AgentError::Prohibited(
                    "switchConnectionAsync: already switching",
                ));
            }
            if matches!(
                c.sync,
                SyncState::Required | SyncState::Started | SyncState::Agreed
            ) {
                return Err(AgentError::Connection(
                    "the ratchet is being re-synchronised",
                ));
            }
            (c.rcv.server.clone(), c.rcv.snd_id.clone())
        };
        let (e2e_pub, e2e_key) = x25519()?;
        let (queue, _) = self
            .new_queue_with(&server, QueueRequest::Messaging(None), None, e2e_key)
            .await?;
        let uri = QueueUri {
            versions: SMP_CLIENT_VERSIONS,
            server: link_server(&queue.server),
            sender_id: queue.snd_id.clone(),
            dh_key: e2e_pub,
            mode: Some(QueueMode::Messaging),
        };
        let mut qadd = b"QA".to_vec();
        qadd.push(1);
        uri.encode_into(&mut qadd)
            .map_err(|e| AgentError::Link(e.to_string()))?;
        qadd.push(b'1');
        encode_queue_address(&old_server, &old_snd_id, &mut qadd)?;
        let rid = queue.rcv_id.clone();
        {
            let mut st = self.lock();
            st.by_rcv.insert(rid.clone(), conn);
            if let Some(c) = st.conns.get_mut(&conn) {
                c.rcv_next = Some(NextRcv {
                    queue: queue.clone(),
                    peer_secret: None,
                });
            }
        }
        // The new queue is committed with the QADD that announces it.
        if let Err(e) = self.send_agent_message(conn, qadd, false, false).await {
            let mut st = self.lock();
            st.by_rcv.remove(&rid);
            if let Some(c) = st.conns.get_mut(&conn) {
                c.rcv_next = None;
            }
            return Err(e);
        }
        self.event(AgentEvent::Switch {
            conn,
            direction: QueueDirection::Receiving,
            phase: SwitchPhase::Started,
        })
        .await;
        Ok(())
    }

    /// Stops a rotation of the receiving queue that the peer has not answered yet (the
    /// reference's `abortConnectionSwitch`: before the peer's QKEY); the new queue is deleted
    /// on its relay. A QKEY coming later for it is ignored.
    pub async fn abort_switch(&self, conn: ConnId) -> Result<()> {
        let next = {
            let mut st = self.lock();
            let c = st
                .conns
                .get_mut(&conn)
                .ok_or(AgentError::Connection("unknown"))?;
            if c.rcv_next.as_ref().is_none_or(|n| n.peer_secret.is_some()) {
                return Err(AgentError::Prohibited("abortConnectionSwitch: not allowed"));
            }
            let next = c.rcv_next.take();
            self.persist(conn, c)?;
            if let Some(n) = &next {
                st.by_rcv.remove(&n.queue.rcv_id);
            }
            next
        };
        if let Some(n) = next {
            let q = n.queue;
            // Best effort: a queue the relay keeps expires there.
            let _ = self
                .call(&q.server, Some(&q.rcv_key), &q.rcv_id, &Command::Del)
                .await;
            if let Ok(session) = self.session(&q.server).await {
                session.forget(&q.rcv_id);
            }
        }
        Ok(())
    }

    /// After the sender's QKEY: secures the new queue with its key (KEY) and tells it to use
    /// the queue (QUSE).
    async fn secure_next_queue(&self, conn: ConnId, s: SecureNext) {
        let step = async {
            self.call(
                &s.server,
                Some(&s.rcv_key),
                &s.rcv_id,
                &Command::Key(s.sender_key.clone()),
            )
            .await?;
            let mut quse = b"QU".to_vec();
            quse.push(1);
            encode_queue_address(&s.server, &s.snd_id, &mut quse)?;
            quse.push(b'T');
            self.send_agent_message(conn, quse, false, false).await
        };
        match step.await {
            Ok(_) => {
                self.event(AgentEvent::Switch {
                    conn,
                    direction: QueueDirection::Receiving,
                    phase: SwitchPhase::Secured,
                })
                .await
            }
            Err(e) => {
                self.event(AgentEvent::Error {
                    conn,
                    error: format!("queue rotation, securing the new queue: {e}"),
                })
                .await
            }
        }
    }

    /// Deletes the replaced receiving queue once the relay says it is empty (QUE); called when
    /// the new queue takes over and after each message read from the old one.
    async fn retire_old_queue(&self, conn: ConnId) {
        let old = {
            let mut st = self.lock();
            let old = st
                .conns
                .get(&conn)
                .and_then(|c| c.rcv_old.as_ref().map(|(q, _)| q.clone()));
            match old {
                Some(q) if st.retiring.insert(conn) => q,
                _ => return, // none, or retired by another task right now
            }
        };
        // Unmarked however the retirement ends (also when its task is dropped).
        let _marked = Retiring { agent: self, conn };
        self.retire(conn, old).await;
    }

    /// [`Agent::retire_old_queue`]'s work: the old queue deleted once empty.
    async fn retire(&self, conn: ConnId, old: RcvQueue) {
        let info = self
            .call(&old.server, Some(&old.rcv_key), &old.rcv_id, &Command::Que)
            .await;
        let empty = match &info {
            Ok(BrokerMsg::Info(json)) => queue_size(json) == Some(0),
            _ => false,
        };
        if !empty {
            return;
        }
        let deleted = self
            .call(&old.server, Some(&old.rcv_key), &old.rcv_id, &Command::Del)
            .await;
        if let Err(e) = deleted {
            self.event(AgentEvent::Error {
                conn,
                error: format!("queue rotation, deleting the old queue: {e}"),
            })
            .await;
            return;
        }
        if let Ok(session) = self.session(&old.server).await {
            session.forget(&old.rcv_id);
        }
        let persisted = {
            let mut st = self.lock();
            st.by_rcv.remove(&old.rcv_id);
            match st.conns.get_mut(&conn) {
                Some(c) => {
                    c.rcv_old = None;
                    self.persist(conn, c)
                }
                None => Ok(()),
            }
        };
        let e = match persisted {
            Ok(()) => AgentEvent::Switch {
                conn,
                direction: QueueDirection::Receiving,
                phase: SwitchPhase::Completed,
            },
            Err(e) => AgentEvent::Error {
                conn,
                error: e.to_string(),
            },
        };
        self.event(e).await;
    }

    /// If `rid` is a secured queue that replaces a connection's current one: the connection and
    /// its current queue.
    fn replacing(&self, rid: &[u8]) -> Option<(ConnId, RcvQueue)> {
        let st = self.lock();
        let conn = *st.by_rcv.get(rid)?;
        let c = st.conns.get(&conn)?;
        let next = c.rcv_next.as_ref()?;
        (next.queue.rcv_id == rid && next.peer_secret.is_some()).then(|| (conn, c.rcv.clone()))
    }

    /// Whether the relay holds no message in `q` (QUE); `false` when it cannot tell.
    async fn queue_empty(&self, q: &RcvQueue) -> bool {
        match self
            .call(&q.server, Some(&q.rcv_key), &q.rcv_id, &Command::Que)
            .await
        {
            Ok(BrokerMsg::Info(json)) => queue_size(&json) == Some(0),
            _ => false,
        }
    }

    /// After a message of `rid` was ACKed: if it is a replaced queue, maybe it can go now; if
    /// it is a current queue with a message waiting on its replacement, maybe that can come.
    async fn after_ack(&self, rid: &[u8]) {
        let waiting = {
            let st = self.lock();
            st.by_rcv.get(rid).copied().filter(|c| {
                st.deferred.contains_key(c) && st.conns.get(c).is_some_and(|c| c.rcv.rcv_id == rid)
            })
        };
        if let Some(conn) = waiting {
            let current = self.lock().conns.get(&conn).map(|c| c.rcv.clone());
            if let Some(current) = current {
                if self.queue_empty(&current).await {
                    let msg = self.lock().deferred.remove(&conn);
                    if let Some(msg) = msg {
                        // Through the queue of received messages (not a direct call: this
                        // runs inside the handling of another message).
                        let incoming = self.inner.incoming.clone();
                        tokio::spawn(async move {
                            let _ = incoming.send(msg).await;
                        });
                    }
                }
            }
        }
        let conn = {
            let st = self.lock();
            st.by_rcv.get(rid).copied().filter(|c| {
                st.conns
                    .get(c)
                    .is_some_and(|c| c.rcv_old.as_ref().is_some_and(|(q, _)| q.rcv_id == rid))
            })
        };
        if let Some(conn) = conn {
            self.retire_old_queue(conn).await;
        }
    }

    /// Starts a ratchet re-synchronisation (the reference's `synchronizeRatchet`): new X448
    /// keys to the peer in an AgentRatchetKey; the connection is `Agreed` when the peer's keys
    /// come back and `Ok` with the first message that decrypts. Allowed when a decryption error
    /// made the state `Allowed` or `Required`, or with `force`.
    pub async fn synchronize_ratchet(&self, conn: ConnId, force: bool) -> Result<()> {
        let slot = self.delivery_slot(conn).await;
        {
            let mut st = self.lock();
            let c = st
                .conns
                .get_mut(&conn)
                .ok_or(AgentError::Connection("unknown"))?;
            if c.status != Status::Connected {
                return Err(AgentError::Connection("not connected"));
            }
            if !force && !matches!(c.sync, SyncState::Allowed | SyncState::Required) {
                return Err(AgentError::Prohibited(
                    "re-synchronisation is not needed (use force)",
                ));
            }
            let (k1_pub, k1) = generate(KeyAlgorithm::X448).map_err(crypto)?;
            let (k2_pub, k2) = generate(KeyAlgorithm::X448).map_err(crypto)?;
            let before = (c.sync, c.sync_keys.take());
            c.sync = SyncState::Started;
            c.sync_keys = Some((k1, k2));
            match self.commit_ratchet_key(conn, c, &(k1_pub, k2_pub)) {
                Ok(sent) => self.enqueue(conn, sent, slot),
                Err(e) => {
                    (c.sync, c.sync_keys) = before;
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Seals an AgentRatchetKey with our new public keys (per-queue layer only) as the next
    /// message and commits it with the connection's state; the caller delivers it.
    fn commit_ratchet_key(
        &self,
        conn: ConnId,
        c: &mut Conn,
        keys: &(PublicKey, PublicKey),
    ) -> Result<Committed> {
        let q = c
            .snd
            .clone()
            .ok_or(AgentError::Connection("no send queue"))?;
        let env = Envelope::RatchetKey {
            version: c.agent_version,
            e2e: RatchetParams {
                version: E2E_VERSIONS.max,
                key1: keys.0.clone(),
                key2: keys.1.clone(),
                kem: None,
            },
            // The encoded AgentRatchetInfo "" - it takes a message id and its hash is the next
            // message's previous hash, as in the reference.
            info: b"R".to_vec(),
        };
        let sealed = seal_for(&q, &env, false)?;
        let before = (c.snd_msg_id, c.snd_prev_hash.clone());
        let id = c.snd_msg_id + 1;
        c.snd_msg_id = id;
        c.snd_prev_hash = simplex_crypto::digest::sha256(b"R").to_vec();
        let pending = crate::store::NewPending {
            msg_id: id,
            body: &sealed,
            receipt_hash: None,
            snd_id: &q.snd_id,
            notify: true,
        };
        if let Err(e) = self.persist_pending(conn, c, &pending) {
            (c.snd_msg_id, c.snd_prev_hash) = before;
            return Err(e);
        }
        Ok(Committed {
            q,
            msg_id: id,
            sealed,
            user: false,
            notify: true,
        })
    }

    /// HELLO (legacy handshake): our side's queue is secured.
    async fn send_hello(&self, conn: ConnId) {
        match self
            .send_agent_message(conn, b"H".to_vec(), false, true)
            .await
        {
            Ok(_) => {
                let mut st = self.lock();
                if let Some(c) = st.conns.get_mut(&conn) {
                    c.hello_sent = true;
                    let _ = self.persist(conn, c);
                }
            }
            Err(e) => {
                self.event(AgentEvent::Error {
                    conn,
                    error: format!("HELLO: {e}"),
                })
                .await
            }
        }
    }

    /// EREADY with the last id received: the new ratchet works on this side.
    async fn send_eready(&self, conn: ConnId) {
        let last = self.lock().conns.get(&conn).map(|c| c.rcv_msg_id);
        let Some(last) = last else { return };
        let mut amsg = vec![b'E'];
        amsg.extend_from_slice(&last.to_be_bytes());
        if let Err(e) = self.send_agent_message(conn, amsg, false, true).await {
            self.event(AgentEvent::Error {
                conn,
                error: format!("EREADY: {e}"),
            })
            .await;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn event(&self, e: AgentEvent) {
        let _ = self.inner.events.send(e).await;
    }

    /// The session with a relay, connected on first use; its MSG events feed the agent.
    async fn session(&self, server: &SmpServer) -> Result<Session> {
        if self.is_closed() {
            return Err(AgentError::Connection("the agent is closed"));
        }
        let key = server.to_string();
        let mut sessions = self.inner.sessions.lock().await;
        if let Some(s) = sessions.get(&key) {
            return Ok(s.clone());
        }
        let host = host_of(server);
        let (s, mut events) = match Session::connect_server(server, self.options()).await {
            Ok(s) => s,
            Err(e) => {
                if matches!(e, smp_client::ClientError::Tls(_)) {
                    tracing::warn!(target: "tls", %host, "TLS error: {e}");
                } else {
                    tracing::info!(target: "hosts", %host, "cannot connect: {e}");
                }
                return Err(AgentError::Relay(e.to_string()));
            }
        };
        tracing::info!(target: "hosts", %host, "connected");
        let incoming = self.inner.incoming.clone();
        let weak = Arc::downgrade(&self.inner);
        let srv = server.clone();
        tokio::spawn(async move {
            // Connections whose queues the relay refused as it was reconnected: not reported
            // as subscribed again, but reported after the relay is (as the reference's UP,
            // then ERRS).
            let mut lost: Vec<(ConnId, String)> = Vec::new();
            while let Some(ev) = events.recv().await {
                let up = match ev {
                    Event::SubscriptionsLost(rids) => {
                        let Some(inner) = weak.upgrade() else { return };
                        let refused = rids.into_iter().map(|r| (r, "AUTH".to_string())).collect();
                        lost = Agent { inner }.conns_of(refused);
                        continue;
                    }
                    Event::Msg(rid, msg_id, body) => {
                        if incoming
                            .send((srv.clone(), rid, msg_id, body))
                            .await
                            .is_err()
                        {
                            return;
                        }
                        continue;
                    }
                    Event::Disconnected => false,
                    Event::Reconnected(_) => true,
                    _ => continue,
                };
                let Some(inner) = weak.upgrade() else { return };
                let agent = Agent { inner };
                let mut conns = agent.receiving_on(&srv);
                let any = !conns.is_empty();
                let errors = if up {
                    let errors = std::mem::take(&mut lost);
                    conns.retain(|c| !errors.iter().any(|(l, _)| l == c));
                    errors
                } else {
                    Vec::new()
                };
                let host = host_of(&srv);
                if up {
                    tracing::info!(target: "hosts", %host, "connected again");
                } else {
                    tracing::info!(target: "hosts", %host, "disconnected");
                }
                if any {
                    let e = if up {
                        AgentEvent::Up {
                            conns,
                            host,
                            server: address_of(&srv),
                        }
                    } else {
                        AgentEvent::Down {
                            conns,
                            host,
                            server: address_of(&srv),
                        }
                    };
                    agent.event(e).await;
                }
                agent.report_refused(&srv, errors).await;
            }
        });
        sessions.insert(key, s.clone());
        Ok(s)
    }

    /// The connections that receive on `server`.
    fn receiving_on(&self, server: &SmpServer) -> Vec<ConnId> {
        let st = self.lock();
        let mut v: Vec<ConnId> = st
            .conns
            .iter()
            .filter(|(_, c)| &c.rcv.server == server)
            .map(|(id, _)| *id)
            .collect();
        v.sort_unstable();
        v
    }

    async fn call(
        &self,
        server: &SmpServer,
        key: Option<&PrivateKey>,
        entity: &[u8],
        cmd: &Command,
    ) -> Result<BrokerMsg> {
        let s = self.session(server).await?;
        relay_answer(s.call(key, entity, cmd).await)
    }

    /// [`Agent::call`] for a command to another user's queue (SEND, SKEY): through one of
    /// our relays when private routing says so.
    async fn call_peer(
        &self,
        server: &SmpServer,
        key: Option<&PrivateKey>,
        entity: &[u8],
        cmd: &Command,
    ) -> Result<BrokerMsg> {
        relay_answer(self.send_to_peer(server, key, entity, cmd).await)
    }

    /// Whether a command to a queue on `dest` goes through one of our relays: always, to a
    /// relay not ours (`Unknown`), or to one not ours while no SOCKS proxy hides our address
    /// (`Unprotected`).
    fn routes_privately(&self, dest: &SmpServer) -> bool {
        use smp_client::PrivateRouting as P;
        // (On every SEND: the list is read in place, not copied.)
        let ours = || {
            self.inner
                .servers
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .any(|s| {
                    s.key_hash == dest.key_hash && s.hosts.iter().any(|h| dest.hosts.contains(h))
                })
        };
        match self.options().private_routing {
            P::Never => false,
            P::Always => true,
            P::Unknown => !ours(),
            P::Unprotected => self.options().socks.is_none() && !ours(),
        }
    }

    /// Sends a command to another user's queue on `dest`, through one of our relays when
    /// [`Agent::routes_privately`] says so (then directly only if the fallback allows it and
    /// the proxy failed); the destination's answer.
    async fn send_to_peer(
        &self,
        dest: &SmpServer,
        key: Option<&PrivateKey>,
        entity: &[u8],
        cmd: &Command,
    ) -> std::result::Result<BrokerMsg, smp_client::ClientError> {
        if self.routes_privately(dest) {
            let failure = match self.send_proxied(dest, key, entity, cmd).await {
                // The proxy itself failed (it could not reach the destination, ...).
                Ok(BrokerMsg::Err(smp_proto::ErrorType::Proxy(e))) => {
                    smp_client::ClientError::Network(format!("private routing: {e:?}"))
                }
                Ok(answer) => return Ok(answer),
                Err(e) => e,
            };
            self.lock_proxied().remove(&dest.to_string());
            use smp_client::RoutingFallback as F;
            let fallback = match self.options().routing_fallback {
                F::Yes => true,
                F::Protected => self.options().socks.is_some(),
                F::No => false,
            };
            if !fallback {
                return Err(failure);
            }
            tracing::info!(target: "agent", host = %host_of(dest), "private routing failed ({failure}); sending directly");
        }
        match self.session(dest).await {
            Ok(session) => session.call(key, entity, cmd).await,
            Err(e) => Err(smp_client::ClientError::Network(e.to_string())),
        }
    }

    fn lock_proxied(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, (SmpServer, smp_client::proxy::ProxiedRelay)>>
    {
        self.inner.proxied.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A command to a queue on `dest` through one of our relays (PRXY once per destination,
    /// then PFWD): the destination's answer, or the proxy's error.
    async fn send_proxied(
        &self,
        dest: &SmpServer,
        key: Option<&PrivateKey>,
        entity: &[u8],
        cmd: &Command,
    ) -> std::result::Result<BrokerMsg, smp_client::ClientError> {
        let net = |e: AgentError| smp_client::ClientError::Network(e.to_string());
        let known = self.lock_proxied().get(&dest.to_string()).cloned();
        let (proxy, relay) = match known {
            Some(pr) => pr,
            None => {
                // One of our relays: the first that is not the destination itself.
                let servers = self.servers();
                let proxy = servers
                    .iter()
                    .find(|s| s.key_hash != dest.key_hash)
                    .or(servers.first())
                    .cloned()
                    .ok_or_else(|| smp_client::ClientError::Network("no relay".into()))?;
                let client = self.session(&proxy).await.map_err(net)?.client().await?;
                let addr = smp_proto::proxy::ServerAddr {
                    hosts: dest.hosts.iter().map(ToString::to_string).collect(),
                    port: dest.port.clone(),
                    key_hash: dest.key_hash.clone(),
                };
                let auth = proxy.password.as_deref().map(str::as_bytes);
                let relay = match smp_client::proxy::proxy_session(
                    &client,
                    &addr,
                    auth,
                    self.options().versions,
                )
                .await?
                {
                    Ok(r) => r,
                    Err(e) => return Ok(BrokerMsg::Err(e)),
                };
                tracing::info!(target: "agent", dest = %host_of(dest), proxy = %host_of(&proxy), "private routing session");
                self.lock_proxied()
                    .insert(dest.to_string(), (proxy.clone(), relay.clone()));
                (proxy, relay)
            }
        };
        let client = self.session(&proxy).await.map_err(net)?.client().await?;
        smp_client::proxy::send_via(&client, &relay, key, entity, cmd).await
    }

    /// Creates a messaging queue on this agent's relay and subscribes to it.
    async fn new_queue(&self, mode: QueueMode) -> Result<RcvQueue> {
        let request = match mode {
            QueueMode::Messaging => QueueRequest::Messaging(None),
            QueueMode::Contact => QueueRequest::Contact(None),
        };
        let server = self.server();
        Ok(self
            .new_queue_with(&server, request, None, x25519()?.1)
            .await?
            .0)
    }

    /// Creates a queue (with link data: `corr_id` chose its sender id) and subscribes to it;
    /// also returns the relay's link id.
    async fn new_queue_with(
        &self,
        server: &SmpServer,
        request: QueueRequest,
        corr_id: Option<[u8; 24]>,
        e2e_key: PrivateKey,
    ) -> Result<(RcvQueue, Option<Vec<u8>>)> {
        let server = server.clone();
        let (rk_pub, rcv_key) = generate(KeyAlgorithm::Ed25519).map_err(crypto)?;
        let (dh_pub, dh_priv) = x25519()?;
        let new = Command::New(NewQueue {
            rcv_auth_key: rk_pub,
            rcv_dh_key: dh_pub,
            basic_auth: server.password.clone().map(String::into_bytes),
            subscribe: false,
            request: Some(request),
            ntf_creds: None,
        });
        let answer = match corr_id {
            None => self.call(&server, Some(&rcv_key), b"", &new).await?,
            Some(corr) => match self
                .session(&server)
                .await?
                .call_with_corr_id(corr, Some(&rcv_key), b"", &new)
                .await
            {
                Ok(BrokerMsg::Err(e)) => return Err(AgentError::Relay(format!("{e:?}"))),
                Ok(m) => m,
                Err(e) => return Err(AgentError::Relay(e.to_string())),
            },
        };
        let BrokerMsg::Ids(ids) = answer else {
            return Err(AgentError::Relay("unexpected answer to NEW".into()));
        };
        let rcv_secret = cryptobox::shared_key(&dh_priv, &ids.srv_dh_key).map_err(crypto)?;
        let session = self.session(&server).await?;
        session
            .subscribe(&rcv_key, &ids.rcv_id)
            .await
            .map_err(|e| AgentError::Relay(e.to_string()))?;
        Ok((
            RcvQueue {
                server,
                rcv_id: ids.rcv_id,
                snd_id: ids.snd_id,
                rcv_key,
                rcv_secret,
                e2e_key,
            },
            ids.link_id,
        ))
    }

    /// Tests a relay as the reference's `/smp test` does: connects, creates a queue and
    /// deletes it. The step that failed (`Connect`, `CreateQueue`, `DeleteQueue`) and why.
    pub async fn test_server(
        &self,
        server: &SmpServer,
    ) -> std::result::Result<(), (&'static str, String)> {
        self.session(server)
            .await
            .map_err(|e| ("Connect", e.to_string()))?;
        let (rk_pub, rcv_key) =
            generate(KeyAlgorithm::Ed25519).map_err(|e| ("CreateQueue", e.to_string()))?;
        let (dh_pub, _) = x25519().map_err(|e| ("CreateQueue", e.to_string()))?;
        let new = Command::New(NewQueue {
            rcv_auth_key: rk_pub,
            rcv_dh_key: dh_pub,
            basic_auth: server.password.clone().map(String::into_bytes),
            subscribe: false,
            request: Some(QueueRequest::Messaging(None)),
            ntf_creds: None,
        });
        let ids = match self.call(server, Some(&rcv_key), b"", &new).await {
            Ok(BrokerMsg::Ids(ids)) => ids,
            Ok(_) => return Err(("CreateQueue", "unexpected answer to NEW".into())),
            Err(e) => return Err(("CreateQueue", e.to_string())),
        };
        self.call(server, Some(&rcv_key), &ids.rcv_id, &Command::Del)
            .await
            .map_err(|e| ("DeleteQueue", e.to_string()))?;
        Ok(())
    }

    /// Adds a connection and stores it before anything is sent for it.
    fn add_conn(&self, conn: Conn) -> Result<ConnId> {
        let mut st = self.lock();
        let id = st.next;
        self.persist(id, &conn)?;
        st.next += 1;
        st.by_rcv.insert(conn.rcv.rcv_id.clone(), id);
        st.conns.insert(id, conn);
        Ok(id)
    }

    /// Stores a connection's state (committed before the caller acts on the network).
    fn persist(&self, id: ConnId, conn: &Conn) -> Result<()> {
        if let Some(store) = &self.inner.store {
            let state = persist::encode(conn)?;
            on_store(store, |db| db.save(id, &state))?;
        }
        Ok(())
    }

    /// Creates a one-time invitation: its link, to pass to the other party.
    pub async fn create_invitation(&self) -> Result<(ConnId, String)> {
        let (id, full, _) = self.create_link(QueueMode::Messaging, None, None).await?;
        Ok((id, full))
    }

    /// As [`Agent::create_invitation`], with a short link too: the relay keeps the invitation
    /// and `user_data` (e.g. the chat's profile) encrypted under a key only the link holds, and
    /// the first party to use the link secures the queue (LKEY). Needs an SMP v15+ relay.
    /// Returns the connection, the full link and the short link.
    pub async fn create_invitation_with_short_link(
        &self,
        user_data: &[u8],
    ) -> Result<(ConnId, String, String)> {
        let (id, full, short) = self
            .create_link(
                QueueMode::Messaging,
                Some((user_data, crate::links::ShortLinkKind::Invitation, true)),
                None,
            )
            .await?;
        Ok((id, full, short.unwrap_or_default()))
    }

    /// Creates a contact address: a link anyone can use to ask for a connection.
    pub async fn create_address(&self) -> Result<(ConnId, String)> {
        let (id, full, _) = self.create_link(QueueMode::Contact, None, None).await?;
        Ok((id, full))
    }

    /// A contact address whose link carries `client_data` (the link's `data` parameter, e.g. a
    /// group link's `{"type":"group","groupLinkId":"..."}`), read by whoever uses it; with a
    /// short link of `kind` when `short` holds its user data and the relay keeps link data.
    /// Returns the connection, the full link and the short link (empty: none).
    pub async fn create_address_with_data(
        &self,
        client_data: &str,
        short: Option<(&[u8], crate::links::ShortLinkKind)>,
    ) -> Result<(ConnId, String, String)> {
        if short.is_some_and(|(_, k)| k == crate::links::ShortLinkKind::Invitation) {
            return Err(AgentError::Link(
                "an address's link is not an invitation".into(),
            ));
        }
        let (id, full, short) = self
            .create_link(
                QueueMode::Contact,
                short.map(|(d, k)| (d, k, true)),
                Some(client_data.to_string()),
            )
            .await?;
        Ok((id, full, short.unwrap_or_default()))
    }

    /// As [`Agent::create_address`], with a short link too (the address and `user_data`
    /// readable with LGET by anyone holding the link). Returns the connection, the full link
    /// and the short link.
    pub async fn create_address_with_short_link(
        &self,
        user_data: &[u8],
    ) -> Result<(ConnId, String, String)> {
        self.create_address_link(user_data, crate::links::ShortLinkKind::Contact, true)
            .await
    }

    /// A contact address with a short link of `kind` (a group's `g`, a channel's `c`, a chat
    /// relay's `r`); `direct`: requests may come to the address itself - a channel's link
    /// says no, as requests go to its relays. The agent keeps what changing the link's data
    /// takes ([`Agent::set_link_data`]). Returns the connection, the full link and the short
    /// link (empty when the relay keeps no link data).
    pub async fn create_address_link(
        &self,
        user_data: &[u8],
        kind: crate::links::ShortLinkKind,
        direct: bool,
    ) -> Result<(ConnId, String, String)> {
        if kind == crate::links::ShortLinkKind::Invitation {
            return Err(AgentError::Link(
                "an address's link is not an invitation".into(),
            ));
        }
        let (id, full, short) = self
            .create_link(QueueMode::Contact, Some((user_data, kind, direct)), None)
            .await?;
        Ok((id, full, short.unwrap_or_default()))
    }

    /// A contact address on `server` rather than one of the agent's relays (a chat relay's
    /// address on the relay its operator chose, `--relay-address-server`), with a short link
    /// when `user_data` is given and the relay keeps link data. Returns the connection, the
    /// full link and the short link (empty: none).
    pub async fn create_address_on(
        &self,
        server: SmpServer,
        user_data: Option<&[u8]>,
    ) -> Result<(ConnId, String, String)> {
        let short = user_data.map(|d| (d, crate::links::ShortLinkKind::Contact, true));
        let (id, full, short) = self
            .create_link_on(Some(server), QueueMode::Contact, short, None)
            .await?;
        Ok((id, full, short.unwrap_or_default()))
    }

    /// Changes the data of an address's short link (LSET): the owner's data and the addresses
    /// that take requests for it (a channel's relays, as short links); of an invitation's, the
    /// owner's data only, until it is used (the relay refuses once the queue is secured). The
    /// link stays the same.
    pub async fn set_link_data(
        &self,
        conn: ConnId,
        user_data: &[u8],
        relays: &[String],
    ) -> Result<()> {
        self.set_link_data_with_owners(conn, user_data, relays, &[])
            .await
    }

    /// [`Agent::set_link_data`] with the address's owners (an application id and an Ed25519
    /// key, X.509 DER, each): written as the reference's `OwnerAuth`, each authorized by the
    /// link's root key (its signature over the id and the key's DER).
    pub async fn set_link_data_with_owners(
        &self,
        conn: ConnId,
        user_data: &[u8],
        relays: &[String],
        owners: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<()> {
        use crate::shortlink::{self as sl, ConnLinkData, ContactData};
        let link_err = |e: sl::LinkDataError| AgentError::Link(e.to_string());
        let relays = relays
            .iter()
            .map(|r| crate::links::ShortLink::parse(r).map_err(|e| AgentError::Link(e.to_string())))
            .collect::<Result<Vec<_>>>()?;
        let (q, link) = self.owned_link(conn)?;
        let (user, key) = if link.kind == crate::links::ShortLinkKind::Invitation {
            if !relays.is_empty() {
                return Err(AgentError::Link("an invitation names no relays".into()));
            }
            let user = ConnLinkData::Invitation {
                versions: AGENT_VERSIONS,
                user_data: user_data.to_vec(),
            };
            (user, sl::invitation_key(&link.link_key).map_err(link_err)?)
        } else {
            let owners = owners
                .iter()
                .map(|(id, key)| {
                    let owner_key = simplex_crypto::keys::PublicKey::from_der(key)
                        .map_err(|e| AgentError::Link(format!("an owner's key: {e}")))?;
                    if owner_key.algorithm() != KeyAlgorithm::Ed25519 {
                        return Err(AgentError::Link("an owner's key is not Ed25519".into()));
                    }
                    // Signed as it is read back: the id and the key's own DER.
                    let mut signed = id.clone();
                    signed.extend_from_slice(&owner_key.to_der());
                    let signature = simplex_crypto::asymmetric::sign(&link.root, &signed)
                        .map_err(|e| AgentError::Link(e.to_string()))?;
                    Ok(sl::OwnerAuth {
                        owner_id: id.clone(),
                        owner_key,
                        signature,
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            let user = ConnLinkData::Contact {
                versions: AGENT_VERSIONS,
                data: ContactData {
                    direct: link.direct,
                    owners,
                    relays,
                    user_data: user_data.to_vec(),
                },
            };
            let (_, key) = sl::contact_link_id_and_key(&link.link_key).map_err(link_err)?;
            (user, key)
        };
        let md = sl::sign_user_data(&link.root, &user).map_err(link_err)?;
        let data = smp_proto::command::LinkData {
            fixed: link.fixed.clone(),
            user: sl::encrypt(&key, &md, sl::USER_DATA_LEN).map_err(link_err)?,
        };
        match self
            .call(
                &q.server,
                Some(&q.rcv_key),
                &q.rcv_id,
                &Command::Lset(link.link_id, data),
            )
            .await?
        {
            BrokerMsg::Ok => Ok(()),
            _ => Err(AgentError::Relay("unexpected answer to LSET".into())),
        }
    }

    /// Signs `msg` with the root key of the short link of our address `conn` (a chat relay's
    /// answer to a relay test proves it holds the address it was asked at).
    pub fn sign_with_link_key(&self, conn: ConnId, msg: &[u8]) -> Result<Vec<u8>> {
        let (_, link) = self.owned_link(conn)?;
        simplex_crypto::asymmetric::sign(&link.root, msg)
            .map_err(|e| AgentError::Link(e.to_string()))
    }

    /// Our connection's receiving queue and the short link we keep for it (an address's or
    /// an invitation's).
    fn owned_link(&self, conn: ConnId) -> Result<(RcvQueue, OwnedLink)> {
        let st = self.lock();
        let c = st
            .conns
            .get(&conn)
            .ok_or(AgentError::Connection("unknown"))?;
        let link = c
            .link
            .clone()
            .ok_or(AgentError::Connection("no short link of ours"))?;
        Ok((c.rcv.clone(), link))
    }

    /// A short link of `kind` for an address made without one (the reference's
    /// `setConnShortLink` of a contact connection without link credentials): `request` is the
    /// address's full link as made, kept as the link's fixed data, `user_data` its data
    /// (LSET). The link's keys are stored before the relay is asked, so a retry after a
    /// failure sets the same link. An address with a short link already keeps it, its data
    /// changed. Returns the short link.
    pub async fn add_short_link(
        &self,
        conn: ConnId,
        request: &str,
        user_data: &[u8],
        kind: crate::links::ShortLinkKind,
    ) -> Result<String> {
        if kind == crate::links::ShortLinkKind::Invitation {
            return Err(AgentError::Link(
                "an address's link is not an invitation".into(),
            ));
        }
        let (q, existing) = {
            let st = self.lock();
            let c = st
                .conns
                .get(&conn)
                .ok_or(AgentError::Connection("unknown"))?;
            if c.status != Status::Address {
                return Err(AgentError::Connection("not an address"));
            }
            (c.rcv.clone(), c.link.clone())
        };
        let short = |kind, link_key: Vec<u8>| crate::links::ShortLink {
            simplex_scheme: false,
            kind,
            server: link_server(&q.server).shorten(&self.link_presets()),
            link_id: None,
            link_key,
        };
        if let Some(l) = existing {
            self.set_link_data(conn, user_data, &[]).await?;
            return Ok(short(l.kind, l.link_key).to_link());
        }
        let req = ConnectionRequest::parse(request).map_err(|e| AgentError::Link(e.to_string()))?;
        let own = matches!(req.kind, RequestKind::Contact)
            && req.queues.len() == 1
            && req.queues[0].sender_id == q.snd_id;
        if !own {
            return Err(AgentError::Link("the link is not this address's".into()));
        }
        let version = self
            .session(&q.server)
            .await?
            .version()
            .await
            .map_err(|e| AgentError::Relay(e.to_string()))?;
        if version < smp_proto::command::SHORT_LINKS {
            return Err(AgentError::Link(
                "the address's relay keeps no link data".into(),
            ));
        }
        let NewLinkData {
            link_key,
            root,
            link_id,
            data,
        } = new_link_data(req, QueueMode::Contact, user_data, true)?;
        let link_id = link_id.ok_or(AgentError::Link("an address's link has an id".into()))?;
        {
            let mut st = self.lock();
            let c = st
                .conns
                .get_mut(&conn)
                .ok_or(AgentError::Connection("unknown"))?;
            c.link = Some(OwnedLink {
                kind,
                link_id: link_id.clone(),
                link_key: link_key.clone(),
                root,
                fixed: data.fixed.clone(),
                direct: true,
            });
            self.persist(conn, c)?;
        }
        match self
            .call(
                &q.server,
                Some(&q.rcv_key),
                &q.rcv_id,
                &Command::Lset(link_id, data),
            )
            .await?
        {
            BrokerMsg::Ok => Ok(short(kind, link_key).to_link()),
            _ => Err(AgentError::Relay("unexpected answer to LSET".into())),
        }
    }

    /// Reads a contact address's short link data (LGET), whether or not the address takes
    /// requests itself: a channel's link names the relays to ask instead.
    pub async fn read_address(&self, link: &str) -> Result<AddressData> {
        let short =
            crate::links::ShortLink::parse(link).map_err(|e| AgentError::Link(e.to_string()))?;
        if short.kind == crate::links::ShortLinkKind::Invitation {
            return Err(AgentError::Link(
                "a one-time invitation is used up when it is read: join it".into(),
            ));
        }
        let (req, user, _, root) = self.read_short(&short).await?;
        let crate::shortlink::ConnLinkData::Contact { data, .. } = user else {
            return Err(AgentError::Link("the link data is of another kind".into()));
        };
        Ok(AddressData {
            link: req.to_uri(),
            user_data: data.user_data,
            direct: data.direct,
            relays: data.relays.iter().map(|r| r.to_link()).collect(),
            owners: data
                .owners
                .iter()
                .map(|o| (o.owner_id.clone(), o.owner_key.to_der()))
                .collect(),
            root_key: root.to_der(),
        })
    }

    /// Reads a one-time invitation's short link data (LKEY): the inviter's user data. Reading
    /// it secures the invitation's queue with a sender key of ours (no one else can use the
    /// invitation then), kept to join it later by its short or its full link (the reference's
    /// plan of an invitation's short link).
    pub async fn read_invitation(&self, link: &str) -> Result<Vec<u8>> {
        let short =
            crate::links::ShortLink::parse(link).map_err(|e| AgentError::Link(e.to_string()))?;
        if short.kind != crate::links::ShortLinkKind::Invitation {
            return Err(AgentError::Link("not a one-time invitation".into()));
        }
        let (_, user, _, _) = self.read_short(&short).await?;
        Ok(user.user_data().to_vec())
    }

    /// An invitation short link read before, by its link id.
    fn inv_link(&self, link_id: &[u8]) -> Result<Option<crate::store::InvShortLink>> {
        match &self.inner.store {
            Some(store) => on_store(store, |db| db.inv_short_link(link_id)),
            None => Ok(self.lock().inv_links.get(link_id).cloned()),
        }
    }

    /// Keeps an invitation short link read (durably, before its key is used).
    fn save_inv_link(&self, link_id: &[u8], l: &crate::store::InvShortLink) -> Result<()> {
        match &self.inner.store {
            Some(store) => on_store(store, |db| db.save_inv_short_link(link_id, l)),
            None => {
                self.lock().inv_links.insert(link_id.to_vec(), l.clone());
                Ok(())
            }
        }
    }

    /// The sender key an invitation's queue was secured with when its short link was read
    /// (LKEY), if it was: by the queue's relay (its hosts) and sender id.
    fn inv_link_key(&self, hosts: &[String], snd_id: &[u8]) -> Result<Option<PrivateKey>> {
        let links = match &self.inner.store {
            Some(store) => on_store(store, |db| db.inv_short_links_by_sender(snd_id))?,
            None => self
                .lock()
                .inv_links
                .values()
                .filter(|l| l.snd_id.as_deref() == Some(snd_id))
                .cloned()
                .collect(),
        };
        links
            .iter()
            .find(|l| hosts.contains(&l.host))
            .map(|l| PrivateKey::from_der(&l.snd_key).map_err(crypto))
            .transpose()
    }

    /// Forgets the invitation short links of a queue joined.
    fn forget_inv_links(&self, snd_id: &[u8]) -> Result<()> {
        match &self.inner.store {
            Some(store) => on_store(store, |db| db.delete_inv_short_links(snd_id)),
            None => {
                self.lock()
                    .inv_links
                    .retain(|_, l| l.snd_id.as_deref() != Some(snd_id));
                Ok(())
            }
        }
    }

    /// A new receiving queue and its link (an invitation or an address), with a short link when
    /// `short` holds the user data for it.
    async fn create_link(
        &self,
        mode: QueueMode,
        short: Option<(&[u8], crate::links::ShortLinkKind, bool)>,
        client_data: Option<String>,
    ) -> Result<(ConnId, String, Option<String>)> {
        self.create_link_on(None, mode, short, client_data).await
    }

    /// [`Agent::create_link`] on `on` (else one of the agent's relays).
    async fn create_link_on(
        &self,
        on: Option<SmpServer>,
        mode: QueueMode,
        short: Option<(&[u8], crate::links::ShortLinkKind, bool)>,
        client_data: Option<String>,
    ) -> Result<(ConnId, String, Option<String>)> {
        let (e2e_pub, e2e_key) = x25519()?;
        let x3dh = match mode {
            QueueMode::Messaging => Some((
                generate(KeyAlgorithm::X448).map_err(crypto)?,
                generate(KeyAlgorithm::X448).map_err(crypto)?,
            )),
            QueueMode::Contact => None,
        };
        let queue_server = on.unwrap_or_else(|| self.server());
        let server = link_server(&queue_server);
        // A relay before SMP v15 keeps no link data: only the full link then.
        let short = match short {
            Some(d) => {
                let version = self
                    .session(&queue_server)
                    .await?
                    .version()
                    .await
                    .map_err(|e| AgentError::Relay(e.to_string()))?;
                (version >= smp_proto::command::SHORT_LINKS).then_some(d)
            }
            None => None,
        };
        let build = |sender_id: Vec<u8>| ConnectionRequest {
            kind: match &x3dh {
                Some(((k1_pub, _), (k2_pub, _))) => RequestKind::Invitation(E2eParams {
                    versions: E2E_VERSIONS,
                    key1: k1_pub.clone(),
                    key2: k2_pub.clone(),
                    kem: None,
                }),
                None => RequestKind::Contact,
            },
            versions: AGENT_VERSIONS,
            queues: vec![QueueUri {
                versions: SMP_CLIENT_VERSIONS,
                server: server.clone(),
                sender_id,
                dh_key: e2e_pub.clone(),
                mode: Some(mode),
            }],
            client_data: client_data.clone(),
        };
        let mut owned = None;
        let (rcv, link, short_link) = match short {
            None => {
                let request = match mode {
                    QueueMode::Messaging => QueueRequest::Messaging(None),
                    QueueMode::Contact => QueueRequest::Contact(None),
                };
                let (rcv, _) = self
                    .new_queue_with(&queue_server, request, None, e2e_key)
                    .await?;
                let link = build(rcv.snd_id.clone());
                (rcv, link, None)
            }
            Some((user_data, kind, direct)) => {
                // The relay takes a sender id we chose only as SHA3-384(corrId)[..24].
                let mut corr = [0u8; 24];
                simplex_crypto::random_bytes(&mut corr);
                let sid = simplex_crypto::digest::sha3_384(&corr).map_err(crypto)?[..24].to_vec();
                let link = build(sid.clone());
                let NewLinkData {
                    link_key,
                    root,
                    link_id: contact_id,
                    data,
                } = new_link_data(link.clone(), mode, user_data, direct)?;
                let fixed_sent = data.fixed.clone();
                let request = match &contact_id {
                    None => QueueRequest::Messaging(Some((sid.clone(), data))),
                    Some(id) => QueueRequest::Contact(Some((id.clone(), sid.clone(), data))),
                };
                let (rcv, link_id) = self
                    .new_queue_with(&queue_server, request, Some(corr), e2e_key)
                    .await?;
                if rcv.snd_id != sid {
                    return Err(AgentError::Relay("the relay changed the sender id".into()));
                }
                let contact_id_kept = contact_id.clone();
                let link_id = match (contact_id, link_id) {
                    (None, Some(id)) => Some(id),
                    (Some(ours), Some(theirs)) if ours == theirs => None,
                    _ => {
                        return Err(AgentError::Relay(
                            "no or a wrong link id from the relay".into(),
                        ))
                    }
                };
                // What changing the link's data takes (LSET): an address's link id is ours,
                // an invitation's the relay's.
                if let Some(id) = contact_id_kept.or_else(|| link_id.clone()) {
                    owned = Some(OwnedLink {
                        kind,
                        link_id: id,
                        link_key: link_key.clone(),
                        root,
                        fixed: fixed_sent,
                        direct,
                    });
                }
                let short = crate::links::ShortLink {
                    simplex_scheme: false,
                    kind,
                    server: server.shorten(&self.link_presets()),
                    link_id,
                    link_key,
                };
                (rcv, link, Some(short.to_link()))
            }
        };
        let id = match x3dh {
            Some(((_, k1), (_, k2))) => self.add_conn(Conn {
                x3dh: Some((k1, k2)),
                link: owned,
                ..Conn::new(Status::Invited, rcv, AGENT_VERSIONS.max)
            })?,
            None => self.add_conn(Conn {
                link: owned,
                ..Conn::new(Status::Address, rcv, AGENT_VERSIONS.max)
            })?,
        };
        Ok((id, link.to_uri(), short_link))
    }

    /// Accepts a request to an address with this side's info: joins the requester's
    /// invitation (the connection then completes as for [`Agent::join`]).
    /// The request stays until the join succeeded (it can be accepted again after a failure).
    pub async fn accept(&self, request: u64, info: &[u8]) -> Result<ConnId> {
        let link = self
            .lock()
            .requests
            .get(&request)
            .cloned()
            .ok_or(AgentError::Connection("no such request"))?;
        let conn = self.join(&link, info).await?;
        self.forget_request(request)?;
        Ok(conn)
    }

    /// Deletes a connection (a contact deleted, an address or invitation withdrawn): forgotten
    /// in the store first, so that nothing of it is subscribed or sent after a restart, then
    /// its receiving queues deleted on their relays (DEL) - the peer's messages to it fail from
    /// then on. Messages not yet delivered to the peer are dropped. A relay that cannot be
    /// reached keeps the queue until its expiry: reported as an error, the connection is gone
    /// here either way.
    pub async fn delete_connection(&self, conn: ConnId) -> Result<()> {
        if !self.lock().conns.contains_key(&conn) {
            return Err(AgentError::Connection("no such connection"));
        }
        if let Some(store) = &self.inner.store {
            on_store(store, |db| db.delete(conn))?;
        }
        let queues = {
            let mut st = self.lock();
            let mut queues = Vec::new();
            if let Some(c) = st.conns.remove(&conn) {
                queues.push(c.rcv);
                queues.extend(c.rcv_old.map(|(q, _)| q));
                queues.extend(c.rcv_next.map(|n| n.queue));
            }
            for q in &queues {
                st.by_rcv.remove(&q.rcv_id);
            }
            st.awaiting.remove(&conn);
            st.deferred.remove(&conn);
            st.unacked.retain(|(c, _), _| *c != conn);
            queues
        };
        // The delivery task ends with its channel; senders waiting for a place go on (to find
        // the connection gone).
        let worker = self
            .inner
            .delivery
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&conn);
        if let Some(w) = worker {
            w.slots.close();
        }
        let mut failed = None;
        for q in queues {
            if let Ok(session) = self.session(&q.server).await {
                session.forget(&q.rcv_id);
            }
            if let Err(e) = self
                .call(&q.server, Some(&q.rcv_key), &q.rcv_id, &Command::Del)
                .await
            {
                failed = Some(e);
            }
        }
        match failed {
            None => Ok(()),
            Some(e) => Err(e),
        }
    }

    /// Rejects a request (nothing is sent: the requester is not told).
    pub fn reject(&self, request: u64) -> Result<()> {
        if !self.lock().requests.contains_key(&request) {
            return Err(AgentError::Connection("no such request"));
        }
        self.forget_request(request)
    }

    fn forget_request(&self, request: u64) -> Result<()> {
        if let Some(store) = &self.inner.store {
            on_store(store, |db| db.delete_request(request))?;
        }
        self.lock().requests.remove(&request);
        Ok(())
    }

    /// Asks for a connection through a contact address: our own invitation, sent to the
    /// address with our info, encrypted for the address's queue with a one-time key.
    async fn request_contact(&self, req: &ConnectionRequest, info: &[u8]) -> Result<ConnId> {
        let q = req
            .queues
            .first()
            .ok_or(AgentError::Link("no queue".into()))?;
        let agent_version = req
            .versions
            .highest_common(AGENT_VERSIONS)
            .filter(|&v| v >= FAST_HANDSHAKE)
            .ok_or(AgentError::Link(
                "no common agent version (6+ needed)".into(),
            ))?;
        let (id, invitation) = self.create_invitation().await?;
        let env = Envelope::Invitation {
            version: agent_version,
            link: invitation,
            conn_info: info.to_vec(),
        };
        let (one_pub, one_priv) = x25519()?;
        let secret = cryptobox::shared_key(&one_priv, &q.dh_key).map_err(crypto)?;
        let mut nonce = [0u8; 24];
        simplex_crypto::random_bytes(&mut nonce);
        let body = envelope::seal(
            SMP_CLIENT_VERSIONS.max,
            Some(&one_pub),
            &secret,
            &nonce,
            &PrivHeader::None,
            &env.encode().map_err(crypto)?,
            envelope::CONFIRMATION_LEN,
        )
        .map_err(crypto)?;
        // An address queue is never secured: the SEND is not signed. It wakes the address
        // owner's app, as the reference's (`sendInvitation`).
        let server = smp_server(&q.server)?;
        self.call_peer(
            &server,
            None,
            &q.sender_id,
            &Command::Send {
                notification: true,
                body,
            },
        )
        .await?;
        Ok(id)
    }

    /// Secures a queue of the peer with a new sender key (SKEY) and returns it.
    async fn secure(
        &self,
        server: SmpServer,
        snd_id: Vec<u8>,
        their_e2e: &PublicKey,
        secured_with: Option<PrivateKey>,
    ) -> Result<SndQueue> {
        let snd_key = match secured_with {
            Some(k) => k,
            None => {
                let (sk_pub, snd_key) = generate(KeyAlgorithm::Ed25519).map_err(crypto)?;
                self.call_peer(&server, Some(&snd_key), &snd_id, &Command::Skey(sk_pub))
                    .await?;
                snd_key
            }
        };
        let (e2e_pub, e2e_priv) = x25519()?;
        let e2e_secret = cryptobox::shared_key(&e2e_priv, their_e2e).map_err(crypto)?;
        Ok(SndQueue {
            server,
            snd_id,
            snd_key,
            e2e_pub,
            e2e_secret,
        })
    }

    /// Legacy handshake: a confirmation with our sender key in the private header, sent
    /// unsigned (the queue is not secured yet: its recipient secures it with this key).
    async fn send_legacy_confirmation(&self, q: &SndQueue, env: &Envelope) -> Result<()> {
        let key = simplex_crypto::public_key(&q.snd_key).map_err(crypto)?;
        let body = seal_with(q, env, true, &PrivHeader::SenderKey(key))?;
        let send = Command::Send {
            notification: true,
            body,
        };
        self.call_peer(&q.server, None, &q.snd_id, &send)
            .await
            .map(|_| ())
    }

    /// Seals and sends an envelope to the peer's queue.
    async fn send_envelope(&self, q: &SndQueue, env: &Envelope, confirmation: bool) -> Result<()> {
        let body = seal_for(q, env, confirmation)?;
        // A confirmation wakes the peer's app, as the reference's (`sendConfirmation`).
        let send = Command::Send {
            notification: confirmation,
            body,
        };
        self.call_peer(&q.server, Some(&q.snd_key), &q.snd_id, &send)
            .await
            .map(|_| ())
    }

    /// Joins an invitation with this side's info (its profile); the initiator's info and the
    /// connection follow as events.
    pub async fn join(&self, link: &str, info: &[u8]) -> Result<ConnId> {
        self.join_with_data(link, info).await.map(|(conn, _)| conn)
    }

    /// As [`Agent::join`], with the owner's data of a short link (an invitation's: the
    /// inviter's data as it was when the link was used; empty for a full link).
    pub async fn join_with_data(&self, link: &str, info: &[u8]) -> Result<(ConnId, Vec<u8>)> {
        if let Ok(short) = crate::links::ShortLink::parse(link) {
            let (req, data, snd_key) = self.resolve_short(&short).await?;
            let conn = self.join_request(&req, info, snd_key).await?;
            return Ok((conn, data));
        }
        let req = ConnectionRequest::parse(link).map_err(|e| AgentError::Link(e.to_string()))?;
        let conn = self.join_request(&req, info, None).await?;
        Ok((conn, Vec::new()))
    }

    /// The full link behind a contact address's short link and the owner's user data (LGET:
    /// nothing changes at the relay). Invitation short links cannot be looked at without being
    /// used: join them.
    pub async fn resolve_address(&self, link: &str) -> Result<(String, Vec<u8>)> {
        let short =
            crate::links::ShortLink::parse(link).map_err(|e| AgentError::Link(e.to_string()))?;
        if short.kind == crate::links::ShortLinkKind::Invitation {
            return Err(AgentError::Link(
                "a one-time invitation is used up when it is read: join it".into(),
            ));
        }
        let (req, user, _) = self.resolve_short(&short).await?;
        Ok((req.to_uri(), user))
    }

    /// Fetches and checks a short link's data: the full link, the user data and, for an
    /// invitation, the sender key that LKEY secured the queue with.
    async fn resolve_short(
        &self,
        link: &crate::links::ShortLink,
    ) -> Result<(ConnectionRequest, Vec<u8>, Option<PrivateKey>)> {
        let (req, user, snd_key, _) = self.read_short(link).await?;
        if let crate::shortlink::ConnLinkData::Contact { data, .. } = &user {
            if !data.direct {
                return Err(AgentError::Link(
                    "this address takes requests only through its relays".into(),
                ));
            }
        }
        Ok((req, user.user_data().to_vec(), snd_key))
    }

    /// [`Agent::resolve_short`] without the check that the address takes requests itself.
    async fn read_short(
        &self,
        link: &crate::links::ShortLink,
    ) -> Result<(
        ConnectionRequest,
        crate::shortlink::ConnLinkData,
        Option<PrivateKey>,
        PublicKey,
    )> {
        use crate::shortlink as sl;
        let link_err = |e: sl::LinkDataError| AgentError::Link(e.to_string());
        let link_server = link.server.restore(&self.link_presets());
        if link_server.key_hash.is_empty() {
            return Err(AgentError::Link(format!(
                "a short link to {} without its key hash: not a preset relay here",
                link_server.hosts.first().map_or("", String::as_str)
            )));
        }
        let server = smp_server(&link_server)?;
        let host = link.server.hosts.first().cloned().unwrap_or_default();
        let (answer, key, snd_key) = match link.kind {
            crate::links::ShortLinkKind::Invitation => {
                let id = link
                    .link_id
                    .as_deref()
                    .ok_or(AgentError::Link("an invitation without a link id".into()))?;
                // Read before (a plan): the same key again - LKEY with it answers again, and
                // the join uses it. Else a new key, kept before the relay secures the queue
                // with it (a crash after LKEY must not lose it: the invitation would be lost).
                let kept = self
                    .inv_link(id)?
                    .filter(|l| l.host == host && l.link_key == link.link_key);
                let snd_key = match kept {
                    Some(l) => PrivateKey::from_der(&l.snd_key).map_err(crypto)?,
                    None => {
                        let (_, snd_key) = generate(KeyAlgorithm::Ed25519).map_err(crypto)?;
                        let l = crate::store::InvShortLink {
                            host: host.clone(),
                            link_key: link.link_key.clone(),
                            snd_key: zeroize::Zeroizing::new(snd_key.to_der()),
                            snd_id: None,
                        };
                        self.save_inv_link(id, &l)?;
                        snd_key
                    }
                };
                let sk_pub = simplex_crypto::public_key(&snd_key).map_err(crypto)?;
                let answer = self
                    .call_peer(&server, Some(&snd_key), id, &Command::Lkey(sk_pub))
                    .await?;
                let key = sl::invitation_key(&link.link_key).map_err(link_err)?;
                (answer, key, Some(snd_key))
            }
            _ => {
                let (id, key) = sl::contact_link_id_and_key(&link.link_key).map_err(link_err)?;
                (
                    self.call_peer(&server, None, &id, &Command::Lget).await?,
                    key,
                    None,
                )
            }
        };
        let BrokerMsg::Lnk(sid, data) = answer else {
            return Err(AgentError::Relay("unexpected answer to LKEY/LGET".into()));
        };
        let (fixed, user) = sl::decrypt_link_data(&link.link_key, &key, &data.fixed, &data.user)
            .map_err(link_err)?;
        // The data must point at the queue the relay answered for.
        let q = fixed
            .request
            .queues
            .first()
            .ok_or(AgentError::Link("no queue".into()))?;
        let first_host = link.server.hosts.first();
        if q.sender_id != sid || !first_host.is_some_and(|h| q.server.hosts.contains(h)) {
            return Err(AgentError::Link(
                "the link data is for another queue".into(),
            ));
        }
        let invitation = matches!(fixed.request.kind, RequestKind::Invitation(_));
        if invitation != (link.kind == crate::links::ShortLinkKind::Invitation) {
            return Err(AgentError::Link("the link data is of another kind".into()));
        }
        // The key kept is found again by the queue's sender id when the full link is joined.
        if let (Some(id), Some(k)) = (link.link_id.as_deref(), &snd_key) {
            let l = crate::store::InvShortLink {
                host,
                link_key: link.link_key.clone(),
                snd_key: zeroize::Zeroizing::new(k.to_der()),
                snd_id: Some(sid),
            };
            self.save_inv_link(id, &l)?;
        }
        Ok((fixed.request, user, snd_key, fixed.root_key))
    }

    /// Joins a full link; `snd_key`: the queue is already secured with it (LKEY).
    async fn join_request(
        &self,
        req: &ConnectionRequest,
        info: &[u8],
        snd_key: Option<PrivateKey>,
    ) -> Result<ConnId> {
        let RequestKind::Invitation(e2e) = &req.kind else {
            return self.request_contact(req, info).await;
        };
        let agent_version = req
            .versions
            .highest_common(AGENT_VERSIONS)
            .ok_or(AgentError::Link("no common agent version".into()))?;
        let e2e_version = e2e
            .versions
            .highest_common(E2E_VERSIONS)
            .ok_or(AgentError::Link("no common e2e version".into()))?;
        let qa = req
            .queues
            .first()
            .ok_or(AgentError::Link("no queue".into()))?;
        let server_a = smp_server(&qa.server)?;
        // Its short link read before (a plan): the queue is secured with the key kept then.
        let snd_key = match snd_key {
            Some(k) => Some(k),
            None => self.inv_link_key(&qa.server.hosts, &qa.sender_id)?,
        };
        // Older agents, or a queue its sender may not secure: the legacy handshake - our key
        // goes in the confirmation and the initiator secures its queue with it (KEY).
        let legacy = agent_version < FAST_HANDSHAKE || qa.mode != Some(QueueMode::Messaging);
        let snd_key = match (legacy, snd_key) {
            (true, None) => Some(generate(KeyAlgorithm::Ed25519).map_err(crypto)?.1),
            (_, k) => k,
        };
        let snd = self
            .secure(server_a, qa.sender_id.clone(), &qa.dh_key, snd_key)
            .await?;
        let rcv = self.new_queue(QueueMode::Messaging).await?;
        // X3DH as the joiner, and the sending ratchet against the initiator's key 2.
        let (b1_pub, b1) = generate(KeyAlgorithm::X448).map_err(crypto)?;
        let (b2_pub, b2) = generate(KeyAlgorithm::X448).map_err(crypto)?;
        let x = ratchet::x3dh_joiner(&b1, &b2, &e2e.key1, &e2e.key2).map_err(crypto)?;
        let versions = Versions {
            current: e2e_version,
            max_supported: E2E_VERSIONS.max,
        };
        let mut rc = Ratchet::init_snd(
            versions,
            e2e.key2.clone(),
            generate(KeyAlgorithm::X448).map_err(crypto)?.1,
            &x,
        )
        .map_err(crypto)?;
        let reply = QueueInfo {
            version: SMP_CLIENT_VERSIONS.max,
            server: link_server(&rcv.server),
            sender_id: rcv.snd_id.clone(),
            dh_key: simplex_crypto::public_key(&rcv.e2e_key).map_err(crypto)?,
            mode: Some(QueueMode::Messaging),
        };
        let am = AgentMessage::ConnInfoReply(vec![reply], info.to_vec())
            .encode()
            .map_err(crypto)?;
        let enc = rc
            .encrypt(&am, CONN_INFO_LEN, E2E_VERSIONS.max)
            .map_err(crypto)?;
        let env = Envelope::Confirmation {
            version: agent_version,
            e2e: Some(RatchetParams {
                version: e2e_version,
                key1: b1_pub,
                key2: b2_pub,
                kem: None,
            }),
            enc,
        };
        let id = self.add_conn(Conn {
            snd: Some(snd.clone()),
            ratchet: Some(rc),
            snd_msg_id: 1,
            snd_prev_hash: simplex_crypto::digest::sha256(&am).to_vec(),
            ..Conn::new(Status::Joined, rcv, agent_version)
        })?;
        if legacy {
            self.send_legacy_confirmation(&snd, &env).await?;
        } else {
            self.send_envelope(&snd, &env, true).await?;
        }
        // Joined: its short link's key is not needed any more (a failure leaves a row that
        // nothing reads again).
        let _ = self.forget_inv_links(&qa.sender_id);
        Ok(id)
    }

    /// (initiator) Accepts the joiner's confirmation with this side's info: secures the
    /// joiner's reply queue and sends the initiator's confirmation.
    pub async fn allow(&self, conn: ConnId, info: &[u8]) -> Result<()> {
        let reply = {
            let st = self.lock();
            let c = st
                .conns
                .get(&conn)
                .ok_or(AgentError::Connection("unknown"))?;
            if c.status != Status::Confirmed {
                return Err(AgentError::Connection("no confirmation to allow"));
            }
            c.reply
                .first()
                .cloned()
                .ok_or(AgentError::Connection("no reply queue"))?
        };
        let (legacy_key, rcv) = {
            let st = self.lock();
            let c = st
                .conns
                .get(&conn)
                .ok_or(AgentError::Connection("unknown"))?;
            (c.legacy_peer_key.clone(), c.rcv.clone())
        };
        let server = smp_server(&reply.server)?;
        let secured_with = match &legacy_key {
            // Legacy: we secure our queue with the joiner's key, the joiner secures its own.
            Some(k) => {
                self.call(
                    &rcv.server,
                    Some(&rcv.rcv_key),
                    &rcv.rcv_id,
                    &Command::Key(k.clone()),
                )
                .await?;
                Some(generate(KeyAlgorithm::Ed25519).map_err(crypto)?.1)
            }
            None => None,
        };
        let snd = self
            .secure(server, reply.sender_id.clone(), &reply.dh_key, secured_with)
            .await?;
        let am = AgentMessage::ConnInfo(info.to_vec())
            .encode()
            .map_err(crypto)?;
        let env = {
            let mut st = self.lock();
            let c = st
                .conns
                .get_mut(&conn)
                .ok_or(AgentError::Connection("unknown"))?;
            let rc = c
                .ratchet
                .as_mut()
                .ok_or(AgentError::Connection("no ratchet"))?;
            let enc = rc
                .encrypt(&am, CONN_INFO_LEN, E2E_VERSIONS.max)
                .map_err(crypto)?;
            c.snd_msg_id = 1;
            c.snd_prev_hash = simplex_crypto::digest::sha256(&am).to_vec();
            c.snd = Some(snd.clone());
            c.status = if legacy_key.is_some() {
                Status::AwaitingHello
            } else {
                Status::Connected
            };
            c.legacy_peer_key = None;
            c.reply.clear();
            let env = Envelope::Confirmation {
                version: c.agent_version,
                e2e: None,
                enc,
            };
            self.persist(conn, c)?;
            env
        };
        if legacy_key.is_some() {
            // Connected when the joiner's HELLO comes and ours is sent.
            self.send_legacy_confirmation(&snd, &env).await?;
        } else {
            self.send_envelope(&snd, &env, true).await?;
            self.event(AgentEvent::Connected { conn }).await;
        }
        Ok(())
    }

    /// Sends a message: it is encrypted and committed with the connection's state, returned
    /// with its id at once, and delivered in order by the connection's delivery task (also
    /// after a restart) - [`AgentEvent::Sent`] when the relay has it. Without the
    /// notification flag: see [`Agent::send_with`].
    pub async fn send(&self, conn: ConnId, body: &[u8]) -> Result<i64> {
        self.send_with(conn, body, false).await
    }

    /// [`Agent::send`]; `notify`: the relay's SEND carries the notification flag, so a peer
    /// whose queue has a notifier (a phone's app) is woken for it - the reference's chat sets
    /// it for new messages, invitations and calls.
    pub async fn send_with(&self, conn: ConnId, body: &[u8], notify: bool) -> Result<i64> {
        let (sync, status) = match self.lock().conns.get(&conn) {
            Some(c) => (Some(c.sync), Some(c.status)),
            None => (None, None),
        };
        if status == Some(Status::AwaitingHello) {
            return Err(AgentError::Connection(
                "not connected yet (waiting for HELLO)",
            ));
        }
        if matches!(
            sync,
            Some(SyncState::Required | SyncState::Started | SyncState::Agreed)
        ) {
            return Err(AgentError::Prohibited(
                "the ratchet is being re-synchronised: sending waits for it",
            ));
        }
        let mut amsg = Vec::with_capacity(body.len() + 1);
        amsg.push(b'M');
        amsg.extend_from_slice(body);
        self.send_agent_message(conn, amsg, true, notify).await
    }

    /// Sends an agent message (`amsg`: the message's tag and content, e.g. `M` and the user's
    /// body, or `QC` and a queue address) with the connection's next message id; `receipt`: keep
    /// its hash for the peer's delivery receipt (user messages); `notify`: its SEND carries the
    /// notification flag.
    async fn send_agent_message(
        &self,
        conn: ConnId,
        amsg: Vec<u8>,
        receipt: bool,
        notify: bool,
    ) -> Result<i64> {
        // A place in the delivery queue first (waiting here holds no lock).
        let slot = self.delivery_slot(conn).await;
        {
            let mut st = self.lock();
            let c = st
                .conns
                .get_mut(&conn)
                .ok_or(AgentError::Connection("unknown"))?;
            if !matches!(c.status, Status::Connected | Status::AwaitingHello) {
                return Err(AgentError::Connection("not connected"));
            }
            let q = c
                .snd
                .clone()
                .ok_or(AgentError::Connection("no send queue"))?;
            let id = c.snd_msg_id + 1;
            let am = AgentMessage::Message {
                snd_msg_id: id,
                prev_hash: c.snd_prev_hash.clone(),
                body: amsg,
            }
            .encode()
            .map_err(crypto)?;
            // The new state is computed apart and kept only once it is committed.
            let mut rc = c
                .ratchet
                .clone()
                .ok_or(AgentError::Connection("no ratchet"))?;
            let enc = rc
                .encrypt(&am, AGENT_MSG_LEN, E2E_VERSIONS.max)
                .map_err(crypto)?;
            let env = Envelope::Message {
                version: c.agent_version,
                enc,
            };
            let sealed = seal_for(&q, &env, false)?;
            let old = (c.ratchet.replace(rc), c.snd_msg_id, c.snd_prev_hash.clone());
            c.snd_msg_id = id;
            c.snd_prev_hash = simplex_crypto::digest::sha256(&am).to_vec();
            let hash = receipt.then(|| c.snd_prev_hash.clone());
            let pending = crate::store::NewPending {
                msg_id: id,
                body: &sealed,
                receipt_hash: hash.as_deref(),
                snd_id: &q.snd_id,
                notify,
            };
            if let Err(e) = self.persist_pending(conn, c, &pending) {
                (c.ratchet, c.snd_msg_id, c.snd_prev_hash) = old;
                return Err(e);
            }
            if let (Some(hash), None) = (hash, &self.inner.store) {
                let kept = st.sent_hashes.entry(conn).or_default();
                kept.insert(id, hash);
                while kept.len() > RECEIPT_HASHES {
                    kept.pop_first();
                }
            }
            self.enqueue(
                conn,
                Committed {
                    q,
                    msg_id: id,
                    sealed,
                    user: receipt,
                    notify,
                },
                slot,
            );
            Ok(id)
        }
    }

    /// Stores a connection's state with a message to send.
    fn persist_pending(
        &self,
        id: ConnId,
        conn: &Conn,
        m: &crate::store::NewPending<'_>,
    ) -> Result<()> {
        if let Some(store) = &self.inner.store {
            let state = persist::encode(conn)?;
            on_store(store, |db| db.save_with_pending(id, &state, m))?;
        }
        Ok(())
    }

    /// The connection's delivery task (started on first use): its queue and its places.
    fn worker(&self, conn: ConnId) -> (mpsc::UnboundedSender<Outgoing>, Arc<Semaphore>) {
        let mut workers = self
            .inner
            .delivery
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let w = workers.entry(conn).or_insert_with(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            let wake = Arc::new(tokio::sync::Notify::new());
            let worker = delivery(Arc::downgrade(&self.inner), conn, rx, wake.clone());
            tokio::spawn(worker);
            Worker {
                tx,
                wake,
                slots: Arc::new(Semaphore::new(DELIVERY_QUEUE)),
            }
        });
        (w.tx.clone(), w.slots.clone())
    }

    /// A place in the connection's delivery queue, waited for while [`DELIVERY_QUEUE`]
    /// messages are waiting there (the peer's queue full, its relay away): what bounds the
    /// memory a sender can fill. None for an unknown connection, or when the wait was ended:
    /// the agent closed or the connection deleted meanwhile.
    async fn delivery_slot(&self, conn: ConnId) -> Option<OwnedSemaphorePermit> {
        // No task for a connection that does not exist (the caller then finds it unknown).
        if !self.lock().conns.contains_key(&conn) {
            return None;
        }
        let (_, slots) = self.worker(conn);
        slots.acquire_owned().await.ok()
    }

    /// Hands a committed message to the connection's delivery task, never waiting: called in
    /// the critical section that gave the message its id (see `Inner::delivery`). `slot`: its
    /// place in the queue, if it has one (the receive path takes a free one or goes over the
    /// bound by its one message).
    fn enqueue(&self, conn: ConnId, m: Committed, slot: Option<OwnedSemaphorePermit>) {
        let (tx, slots) = self.worker(conn);
        let slot = slot.or_else(|| slots.try_acquire_owned().ok());
        let _ = tx.send((m.msg_id, m.q, m.sealed, m.user, m.notify, slot));
    }

    /// The peer drained the queue we send to (A_QCONT): a delivery waiting after QUOTA goes on
    /// at once.
    fn continue_sending(&self, conn: ConnId) {
        let workers = self
            .inner
            .delivery
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(w) = workers.get(&conn) {
            w.wake.notify_one();
        }
    }

    /// The relay delivered the quota marker of one of our queues: everything before it has been
    /// received, so the peer may send again - tell it (A_QCONT with the queue's sender address,
    /// committed before the marker is acknowledged).
    async fn queue_drained(&self, rid: &[u8]) -> Result<()> {
        let target = {
            let st = self.lock();
            st.by_rcv.get(rid).and_then(|id| {
                let c = st.conns.get(id)?;
                let ready = c.status == Status::Connected && c.snd.is_some();
                ready.then(|| (*id, c.rcv.server.clone(), c.rcv.snd_id.clone()))
            })
        };
        let Some((conn, server, snd_id)) = target else {
            return Ok(());
        };
        let mut amsg = b"QC".to_vec();
        encode_queue_address(&server, &snd_id, &mut amsg)?;
        self.send_agent_message(conn, amsg, false, false)
            .await
            .map(|_| ())
    }

    /// Handles a MSG from a relay, then ACKs it (the answer may be the next message).
    async fn received(&self, server: &SmpServer, rid: Vec<u8>, msg_id: Vec<u8>, body: Vec<u8>) {
        let (mut msg_id, mut body) = (msg_id, body);
        // The first message on a queue that replaces ours waits until the current queue is
        // empty: the peer sent everything there before it, and it must not overtake it.
        if self.is_closed() {
            return;
        }
        if let Some((conn, current)) = self.replacing(&rid) {
            if !self.queue_empty(&current).await {
                self.lock()
                    .deferred
                    .insert(conn, (server.clone(), rid, msg_id, body));
                return;
            }
        }
        loop {
            // Closed: nothing more is handled (the relay delivers it again to the next start).
            if self.is_closed() {
                return;
            }
            let key = {
                let st = self.lock();
                st.by_rcv
                    .get(&rid)
                    .and_then(|c| st.conns.get(c))
                    .and_then(|c| c.rcv_queue(&rid))
                    .map(|q| (q.rcv_key.clone(), q.rcv_secret.clone()))
            };
            let Some((rcv_key, secret)) = key else { return };
            match self.process(&rid, &secret, &msg_id, &body).await {
                Ok(Some((conn, r))) => {
                    // The user acknowledges it (Agent::ack); the relay waits until then. The
                    // acknowledgement is possible as soon as the event is out.
                    self.lock().awaiting.insert(
                        conn,
                        Awaiting {
                            server: server.clone(),
                            rid,
                            rcv_key,
                            relay_msg_id: msg_id,
                            msg_id: r.msg_id,
                            msg_hash: r.msg_hash,
                        },
                    );
                    self.event(AgentEvent::Message {
                        conn,
                        msg_id: r.msg_id,
                        body: r.body,
                        integrity: r.integrity,
                        notified: r.notified,
                    })
                    .await;
                    return;
                }
                Ok(None) => {}
                Err(e) => {
                    // None: the queue's connection was deleted while the relay delivered
                    // this message - nobody to tell.
                    let conn = self.lock().by_rcv.get(&rid).copied();
                    if let Some(conn) = conn {
                        self.event(match e {
                            AgentError::Duplicate => AgentEvent::Duplicate { conn },
                            e => AgentEvent::Error {
                                conn,
                                error: e.to_string(),
                            },
                        })
                        .await;
                    }
                }
            }
            // Acknowledged after it was handled; the answer may carry the next message.
            match self
                .call(server, Some(&rcv_key), &rid, &Command::Ack(msg_id.clone()))
                .await
            {
                Ok(BrokerMsg::Msg(next_id, next_body)) => {
                    msg_id = next_id;
                    body = next_body;
                }
                Ok(_) => {
                    self.after_ack(&rid).await;
                    return;
                }
                Err(_) => return,
            }
        }
    }

    /// Handles one message; `Some((conn, msg_id))` when it went to the user, who acknowledges
    /// it, `None` when the relay can be ACKed now.
    async fn process(
        &self,
        rid: &[u8],
        secret: &SbKey,
        msg_id: &[u8],
        enc: &[u8],
    ) -> Result<Option<(ConnId, crate::store::Received)>> {
        // Server-to-recipient layer.
        let nonce: [u8; 24] = msg_id
            .try_into()
            .map_err(|_| AgentError::Crypto("message id length".into()))?;
        let padded = cryptobox::open(secret, &SbNonce(nonce), enc).map_err(crypto)?;
        let plain = unpad(&padded).map_err(crypto)?;
        if plain.starts_with(b"QUOTA ") {
            self.queue_drained(rid).await?;
            return Ok(None);
        }
        // A message handed to the user before a restart and not acknowledged: the same again
        // (the ratchet has moved past it).
        let conn_of = self.lock().by_rcv.get(rid).copied();
        if let Some(conn) = conn_of {
            let again = match &self.inner.store {
                Some(store) => on_store(store, |db| db.received(conn, msg_id))?,
                None => self.lock().unacked.get(&(conn, msg_id.to_vec())).cloned(),
            };
            if let Some(r) = again {
                return Ok(Some((conn, r)));
            }
        }
        // Int64 timestamp ‖ flags ‖ ' ' ‖ SEND body.
        let send_body = plain
            .get(10..)
            .ok_or(AgentError::Crypto("short message".into()))?;
        // The sender's notification flag (`T`).
        let notified = plain.get(8) == Some(&b'T');
        let (_, sender_key) = envelope::public_header(send_body).map_err(crypto)?;
        let mut events = Vec::new();
        let mut new_request = None;
        let mut for_user = None;
        let mut wake = None;
        let mut failure = None;
        // A decryption failure that is a matter of re-synchronisation: reported as the
        // state (RatchetSync, once per change), not as an error each time.
        let mut sync_failure = false;
        let mut receipts_in: Vec<(i64, Vec<u8>)> = Vec::new();
        let mut eready = None;
        let mut reply_keys: Option<(PublicKey, PublicKey)> = None;
        let mut ratchet_key_committed = false;
        let mut retire = None;
        let mut then_send: Vec<Vec<u8>> = Vec::new();
        let mut secure_next: Option<SecureNext> = None;
        let mut switch_events: Vec<(QueueDirection, SwitchPhase)> = Vec::new();
        let mut legacy_secure: Option<(RcvQueue, PublicKey)> = None;
        let mut hello = None;
        let mut connected_now = false;
        {
            let mut st = self.lock();
            let conn = *st
                .by_rcv
                .get(rid)
                .ok_or(AgentError::Connection("unknown queue"))?;
            let c = st
                .conns
                .get_mut(&conn)
                .ok_or(AgentError::Connection("unknown"))?;
            if !msg_id.is_empty() && c.last_relay_msg_id == msg_id {
                // Handled before the last stop; only the ACK was missing.
                return Ok(None);
            }
            c.last_relay_msg_id = msg_id.to_vec();
            let on_next = c.rcv_next.as_ref().filter(|n| n.queue.rcv_id == rid);
            let on_old = c.rcv_old.as_ref().filter(|(q, _)| q.rcv_id == rid);
            let qsecret = match (&sender_key, on_next, on_old) {
                (_, Some(n), _) => n.peer_secret.clone().ok_or(AgentError::Connection(
                    "a message on a queue not yet secured",
                ))?,
                (_, _, Some((_, secret))) => secret
                    .clone()
                    .ok_or(AgentError::Connection("no per-queue key for the old queue"))?,
                (Some(k), None, None) => {
                    cryptobox::shared_key(&c.rcv.e2e_key, k).map_err(crypto)?
                }
                (None, None, None) => c
                    .snd_peer_secret()
                    .ok_or(AgentError::Connection("no per-queue key yet"))?,
            };
            let opened = envelope::open(send_body, &qsecret).map_err(crypto)?;
            if sender_key.is_some() && on_next.is_none() && on_old.is_none() {
                c.rcv_peer_secret = Some(qsecret);
            }
            // The first message on the queue that replaces ours: it is ours now; the old one
            // is read until empty, then deleted.
            if on_next.is_some() {
                if let Some(next) = c.rcv_next.take() {
                    let old_q = std::mem::replace(&mut c.rcv, next.queue);
                    let old_secret = std::mem::replace(&mut c.rcv_peer_secret, next.peer_secret);
                    c.rcv_old = Some((old_q, old_secret));
                    retire = Some(conn);
                }
            }
            let env = Envelope::decode(&opened.envelope).map_err(crypto)?;
            // Legacy handshake: the sender's key for us to secure the queue with.
            let legacy_key = match &opened.priv_header {
                PrivHeader::SenderKey(k) => Some(k.clone()),
                PrivHeader::None => None,
            };
            match env {
                Envelope::Confirmation {
                    version,
                    e2e: Some(p),
                    enc,
                } if c.status == Status::Invited => {
                    let (k1, k2) = c.x3dh.take().ok_or(AgentError::Connection("no keys"))?;
                    let x = ratchet::x3dh_initiator(&k1, &k2, &p.key1, &p.key2).map_err(crypto)?;
                    let versions = Versions {
                        current: p.version,
                        max_supported: E2E_VERSIONS.max,
                    };
                    let rc = Ratchet::init_rcv(versions, k2, &x);
                    let d = rc
                        .decrypt(&c.skipped, &enc, &mut RandomKeys)
                        .map_err(crypto)?;
                    let plain = d.message.map_err(crypto)?;
                    d.diff.apply(&mut c.skipped);
                    c.ratchet = Some(d.ratchet);
                    match AgentMessage::decode(&plain).map_err(crypto)? {
                        AgentMessage::ConnInfoReply(queues, info) => {
                            c.reply = queues;
                            c.legacy_peer_key = legacy_key;
                            c.agent_version = c.agent_version.min(version.max(AGENT_VERSIONS.min));
                            c.rcv_msg_id = 1;
                            c.rcv_prev_hash = simplex_crypto::digest::sha256(&plain).to_vec();
                            c.status = Status::Confirmed;
                            events.push(AgentEvent::Confirmation { conn, info });
                        }
                        _ => return Err(AgentError::Connection("unexpected confirmation")),
                    }
                }
                Envelope::Confirmation { e2e: None, enc, .. } if c.status == Status::Joined => {
                    let plain = c.decrypt(&enc)?;
                    match AgentMessage::decode(&plain).map_err(crypto)? {
                        AgentMessage::ConnInfo(info) => {
                            c.rcv_msg_id = 1;
                            c.rcv_prev_hash = simplex_crypto::digest::sha256(&plain).to_vec();
                            events.push(AgentEvent::Info { conn, info });
                            match legacy_key {
                                // Legacy: secure our queue with the initiator's key, then
                                // HELLO; connected when its HELLO comes back.
                                Some(k) => {
                                    c.status = Status::AwaitingHello;
                                    legacy_secure = Some((c.rcv.clone(), k));
                                }
                                None => {
                                    c.status = Status::Connected;
                                    events.push(AgentEvent::Connected { conn });
                                }
                            }
                        }
                        _ => return Err(AgentError::Connection("unexpected confirmation")),
                    }
                }
                Envelope::Invitation {
                    link, conn_info, ..
                } if c.status == Status::Address => {
                    ConnectionRequest::parse(&link).map_err(|e| AgentError::Link(e.to_string()))?;
                    // Each request has its own one-time key: no secret to keep.
                    c.rcv_peer_secret = None;
                    new_request = Some((link, conn_info));
                }
                Envelope::Message { enc, .. }
                    if matches!(c.status, Status::Connected | Status::AwaitingHello) =>
                {
                    // A ratchet set up as receiving has not sent EREADY (re-synchronisation).
                    let receiving_only = c.ratchet.as_ref().is_some_and(|r| r.snd.is_none());
                    let enc_hash = simplex_crypto::digest::sha256(&enc);
                    if c.recent.contains(&enc_hash) {
                        // A replay (a hostile relay, or a resend of a message we had): dropped.
                        return Err(AgentError::Duplicate);
                    }
                    // From here the ratchet may have moved: whatever is wrong with the message,
                    // the state is committed below and the error reported after that.
                    let decrypted = c.decrypt_ratchet(&enc);
                    if decrypted.is_ok() {
                        c.recent.push_back(enc_hash);
                        if c.recent.len() > RECENT_HASHES {
                            c.recent.pop_front();
                        }
                    }
                    if let Err(e) = &decrypted {
                        let failed = match e {
                            _ if matches!(c.sync, SyncState::Started | SyncState::Agreed) => {
                                Some((DecryptError::Sync, 0))
                            }
                            RatchetError::Header => Some((DecryptError::Header, 1)),
                            RatchetError::TooManySkipped(n) => {
                                Some((DecryptError::TooManySkipped, *n))
                            }
                            RatchetError::Earlier(n) => Some((DecryptError::Earlier, *n)),
                            RatchetError::Decrypt => Some((DecryptError::Other, 1)),
                            _ => None,
                        };
                        if let Some((error, count)) = failed {
                            events.push(AgentEvent::DecryptFailed { conn, error, count });
                        }
                        let next = match e {
                            RatchetError::Header | RatchetError::TooManySkipped(_) => {
                                Some(SyncState::Required)
                            }
                            RatchetError::Earlier(_) | RatchetError::Decrypt => {
                                Some(SyncState::Allowed)
                            }
                            _ => None,
                        };
                        let may_change = matches!(
                            c.sync,
                            SyncState::Ok | SyncState::Allowed | SyncState::Required
                        );
                        // While a re-synchronisation runs, messages of the old ratchet that
                        // still come are expected not to decrypt: dropped without a word.
                        if next.is_some()
                            && matches!(c.sync, SyncState::Started | SyncState::Agreed)
                        {
                            sync_failure = true;
                        }
                        if let (Some(state), true) = (next, may_change) {
                            sync_failure = true;
                            if c.sync != state {
                                c.sync = state;
                                events.push(AgentEvent::RatchetSync {
                                    conn,
                                    state,
                                    error: Some(e.to_string()),
                                });
                            }
                        }
                    } else if !matches!(c.sync, SyncState::Ok | SyncState::Started) {
                        c.sync = SyncState::Ok;
                        c.sync_keys = None;
                        events.push(AgentEvent::RatchetSync {
                            conn,
                            state: SyncState::Ok,
                            error: None,
                        });
                    }
                    let decoded = decrypted
                        .map_err(|e| match e {
                            RatchetError::Duplicate => AgentError::Duplicate,
                            e => crypto(e),
                        })
                        .and_then(|plain| {
                            let m = AgentMessage::decode(&plain).map_err(crypto)?;
                            Ok((plain, m))
                        });
                    match decoded {
                        Err(e) => failure = Some(e),
                        Ok((
                            plain,
                            AgentMessage::Message {
                                snd_msg_id,
                                prev_hash,
                                body,
                            },
                        )) => {
                            let integrity = IntegrityError::check(
                                c.rcv_msg_id,
                                snd_msg_id,
                                &c.rcv_prev_hash,
                                &prev_hash,
                            );
                            let msg_hash = simplex_crypto::digest::sha256(&plain).to_vec();
                            // As the reference: the last id and hash are this message's.
                            c.rcv_msg_id = snd_msg_id;
                            c.rcv_prev_hash = msg_hash.clone();
                            if let Some(user) = body.strip_prefix(b"M") {
                                for_user = Some(crate::store::Received {
                                    relay_msg_id: msg_id.to_vec(),
                                    msg_id: snd_msg_id,
                                    body: user.to_vec(),
                                    integrity,
                                    msg_hash,
                                    notified,
                                });
                            } else if let Some(addr) = body.strip_prefix(b"QC") {
                                match decode_queue_address(addr) {
                                    Ok((server, snd_id))
                                        if c.snd.as_ref().is_some_and(|q| {
                                            link_server(&q.server) == server && q.snd_id == snd_id
                                        }) =>
                                    {
                                        wake = Some(conn);
                                    }
                                    _ => {
                                        failure = Some(AgentError::Connection(
                                            "QCONT: queue address not found",
                                        ))
                                    }
                                }
                            } else if let Some(rest) = body.strip_prefix(b"QA") {
                                match q_add(c, rest) {
                                    Ok(qkey) => {
                                        then_send.push(qkey);
                                        switch_events
                                            .push((QueueDirection::Sending, SwitchPhase::Started));
                                    }
                                    Err(e) => failure = Some(e),
                                }
                            } else if let Some(rest) = body.strip_prefix(b"QK") {
                                match q_key(c, rest) {
                                    Ok(Some(secure)) => {
                                        secure_next = Some(secure);
                                        switch_events.push((
                                            QueueDirection::Receiving,
                                            SwitchPhase::Confirmed,
                                        ));
                                    }
                                    Ok(None) => {}
                                    Err(e) => failure = Some(e),
                                }
                            } else if let Some(rest) = body.strip_prefix(b"QU") {
                                match q_use(c, rest) {
                                    Ok(qtest) => {
                                        then_send.push(qtest);
                                        switch_events.push((
                                            QueueDirection::Sending,
                                            SwitchPhase::Completed,
                                        ));
                                    }
                                    Err(e) => failure = Some(e),
                                }
                            } else if body.first() == Some(&b'H') {
                                // HELLO (legacy handshake): the peer's queue is secured.
                                if c.status == Status::AwaitingHello {
                                    if !c.hello_sent {
                                        hello = Some(conn);
                                    }
                                    c.status = Status::Connected;
                                    connected_now = true;
                                }
                            } else if body.starts_with(b"QT") {
                                // QTEST: its arrival on the new queue was the point.
                            } else if body.first() == Some(&b'E') {
                                // EREADY: the peer's new ratchet works; answer once if ours
                                // was set up as receiving.
                                if receiving_only {
                                    eready = Some(conn);
                                }
                            } else if let Some(list) = body.strip_prefix(b"V") {
                                match decode_receipts(list) {
                                    Ok(receipts) => receipts_in = receipts,
                                    Err(e) => failure = Some(e),
                                }
                            } else {
                                failure = Some(AgentError::Connection(
                                    "an agent message this agent does not handle",
                                ));
                            }
                        }
                        Ok(_) => {
                            failure = Some(AgentError::Connection(
                                "a connection message after the connection was made",
                            ))
                        }
                    }
                }
                Envelope::RatchetKey { e2e, .. } if c.status == Status::Connected => {
                    match new_ratchet_key(c, &e2e) {
                        Ok(KeyOutcome::Ignored) => {}
                        Ok(KeyOutcome::Agreed { reply, send_eready }) => {
                            events.push(AgentEvent::RatchetSync {
                                conn,
                                state: SyncState::Agreed,
                                error: None,
                            });
                            if send_eready {
                                eready = Some(conn);
                            }
                            reply_keys = reply;
                        }
                        Err(e) => {
                            if c.sync == SyncState::Required {
                                events.push(AgentEvent::RatchetSync {
                                    conn,
                                    state: SyncState::Required,
                                    error: Some(e.to_string()),
                                });
                            }
                            failure = Some(e);
                        }
                    }
                }
                _ => return Err(AgentError::Connection("unexpected message for the state")),
            }
            // Our new ratchet keys (a reply to the peer's) are committed with the state.
            if let Some(keys) = &reply_keys {
                let sent = self.commit_ratchet_key(conn, c, keys)?;
                self.enqueue(conn, sent, None);
                ratchet_key_committed = true;
            }
            // Stored before the message is acknowledged.
            match &for_user {
                Some(r) => match &self.inner.store {
                    Some(store) => {
                        let state = persist::encode(c)?;
                        on_store(store, |db| db.save_with_received(conn, &state, r))?;
                    }
                    None => {
                        st.unacked.insert((conn, msg_id.to_vec()), r.clone());
                    }
                },
                None if ratchet_key_committed => {}
                None => self.persist(conn, c)?,
            }
            // Delivery receipts for messages we sent: the hash must be the one we kept.
            for (id, hash) in receipts_in {
                let kept = match &self.inner.store {
                    Some(store) => on_store(store, |db| db.sent_hash(conn, id))?,
                    None => st.sent_hashes.get(&conn).and_then(|m| m.get(&id)).cloned(),
                };
                let Some(kept) = kept else {
                    events.push(AgentEvent::Error {
                        conn,
                        error: format!("a receipt for message {id}, unknown or already confirmed"),
                    });
                    continue;
                };
                let ok = kept == hash;
                if ok {
                    match &self.inner.store {
                        Some(store) => on_store(store, |db| db.delivered(conn, id))?,
                        None => {
                            if let Some(m) = st.sent_hashes.get_mut(&conn) {
                                m.remove(&id);
                            }
                        }
                    }
                }
                events.push(AgentEvent::Delivered {
                    conn,
                    msg_id: id,
                    ok,
                });
            }
            if let Some((link, info)) = new_request {
                let request = st.next_request;
                // Kept before the relay is ACKed: a request survives a restart.
                if let Some(store) = &self.inner.store {
                    on_store(store, |db| db.save_request(request, conn, &link, &info))?;
                }
                st.next_request += 1;
                st.requests.insert(request, link);
                events.push(AgentEvent::Request {
                    address: conn,
                    request,
                    info,
                });
            }
        }
        if let Some(conn) = wake {
            self.continue_sending(conn);
            events.push(AgentEvent::SendingResumed { conn });
        }
        if let Some(conn) = eready {
            self.send_eready(conn).await;
        }
        if let (Some(conn), Some((q, key))) = (conn_of, legacy_secure) {
            // Legacy joiner: KEY on our queue with the initiator's key, then our HELLO.
            let secured = self
                .call(&q.server, Some(&q.rcv_key), &q.rcv_id, &Command::Key(key))
                .await;
            match secured {
                Ok(_) => self.send_hello(conn).await,
                Err(e) => {
                    self.event(AgentEvent::Error {
                        conn,
                        error: format!("securing our queue (legacy handshake): {e}"),
                    })
                    .await
                }
            }
        }
        if let Some(conn) = hello {
            self.send_hello(conn).await;
        }
        if let (Some(conn), true) = (conn_of, connected_now) {
            self.event(AgentEvent::Connected { conn }).await;
        }
        if let Some(conn) = conn_of {
            for (direction, phase) in switch_events {
                self.event(AgentEvent::Switch {
                    conn,
                    direction,
                    phase,
                })
                .await;
            }
            for amsg in then_send {
                if let Err(e) = self.send_agent_message(conn, amsg, false, false).await {
                    self.event(AgentEvent::Error {
                        conn,
                        error: format!("queue rotation: {e}"),
                    })
                    .await;
                }
            }
            if let Some(secure) = secure_next {
                self.secure_next_queue(conn, secure).await;
            }
            if retire.is_some() {
                self.retire_old_queue(conn).await;
            }
        }
        for e in events {
            self.event(e).await;
        }
        match failure {
            // Said by the RatchetSync event: acknowledged without an error of its own.
            Some(_) if sync_failure => Ok(None),
            Some(e) => Err(e),
            None => Ok(for_user.map(|r| (conn_of.unwrap_or(0), r))),
        }
    }
}

impl Conn {
    /// A connection with its receiving queue and nothing else yet.
    fn new(status: Status, rcv: RcvQueue, agent_version: u16) -> Self {
        Self {
            status,
            rcv,
            snd: None,
            x3dh: None,
            reply: Vec::new(),
            ratchet: None,
            skipped: SkippedKeys::new(),
            agent_version,
            snd_msg_id: 0,
            snd_prev_hash: Vec::new(),
            rcv_msg_id: 0,
            rcv_prev_hash: Vec::new(),
            rcv_peer_secret: None,
            last_relay_msg_id: Vec::new(),
            sync: SyncState::Ok,
            sync_keys: None,
            sync_key_hashes: Vec::new(),
            rcv_next: None,
            rcv_old: None,
            snd_next: None,
            snd_old: None,
            legacy_peer_key: None,
            hello_sent: false,
            link: None,
            recent: std::collections::VecDeque::new(),
        }
    }

    /// The per-queue secret of messages the peer sends without a key in the header.
    fn snd_peer_secret(&self) -> Option<SbKey> {
        self.rcv_peer_secret.clone()
    }

    /// Our receiving queue with recipient id `rid`: the current one, the one replacing it, or
    /// the one it replaced.
    fn rcv_queue(&self, rid: &[u8]) -> Option<&RcvQueue> {
        if self.rcv.rcv_id == rid {
            Some(&self.rcv)
        } else if let Some(n) = self.rcv_next.as_ref().filter(|n| n.queue.rcv_id == rid) {
            Some(&n.queue)
        } else {
            self.rcv_old
                .as_ref()
                .filter(|(q, _)| q.rcv_id == rid)
                .map(|(q, _)| q)
        }
    }

    /// Every receiving queue (to subscribe).
    fn rcv_queues(&self) -> Vec<&RcvQueue> {
        let mut v = vec![&self.rcv];
        v.extend(self.rcv_next.as_ref().map(|n| &n.queue));
        v.extend(self.rcv_old.as_ref().map(|(q, _)| q));
        v
    }

    fn decrypt(&mut self, enc: &[u8]) -> Result<Vec<u8>> {
        self.decrypt_ratchet(enc).map_err(crypto)
    }

    /// Decrypts with the ratchet, keeping the ratchet's own error (for re-synchronisation).
    fn decrypt_ratchet(&mut self, enc: &[u8]) -> std::result::Result<Vec<u8>, RatchetError> {
        let rc = self.ratchet.as_ref().ok_or(RatchetError::State)?;
        let d = rc.decrypt(&self.skipped, enc, &mut RandomKeys)?;
        d.diff.apply(&mut self.skipped);
        self.ratchet = Some(d.ratchet);
        d.message
    }
}

/// Seals an envelope for the peer's queue (the per-queue e2e layer).
fn seal_for(q: &SndQueue, env: &Envelope, confirmation: bool) -> Result<Vec<u8>> {
    seal_with(q, env, confirmation, &PrivHeader::None)
}

/// As [`seal_for`] with a private header (the legacy confirmation carries our sender key).
fn seal_with(
    q: &SndQueue,
    env: &Envelope,
    confirmation: bool,
    header: &PrivHeader,
) -> Result<Vec<u8>> {
    let mut nonce = [0u8; 24];
    simplex_crypto::random_bytes(&mut nonce);
    envelope::seal(
        SMP_CLIENT_VERSIONS.max,
        confirmation.then_some(&q.e2e_pub),
        &q.e2e_secret,
        &nonce,
        header,
        &env.encode().map_err(crypto)?,
        if confirmation {
            envelope::CONFIRMATION_LEN
        } else {
            envelope::MESSAGE_LEN
        },
    )
    .map_err(crypto)
}

/// A sealed message for the delivery task: its id, the queue it is sealed for, the body,
/// whether it is a user's message, its place in the queue (freed once the relay has it).
/// A message to deliver: its id, the queue, the sealed body, whether it is a user's, whether
/// its SEND notifies, its place in the queue.
type Outgoing = (
    i64,
    SndQueue,
    Vec<u8>,
    bool,
    bool,
    Option<OwnedSemaphorePermit>,
);

/// Messages that may wait for a connection's delivery task before senders wait.
const DELIVERY_QUEUE: usize = 1024;
/// A connection's delivery task: its queue of sealed messages, the places in it, its wake-up
/// after QUOTA.
struct Worker {
    tx: mpsc::UnboundedSender<Outgoing>,
    wake: Arc<tokio::sync::Notify>,
    slots: Arc<Semaphore>,
}

/// How long a delivery refused with QUOTA waits for the peer's A_QCONT before trying again: 1 s
/// at first, doubling up to a minute. Without the timer two peers whose queues both filled
/// would wait for each other: each one's A_QCONT is queued behind its own refused message.
const QUOTA_RETRY: (std::time::Duration, std::time::Duration) = (
    std::time::Duration::from_secs(1),
    std::time::Duration::from_secs(60),
);

/// Delivers a connection's messages in order, one at a time as the reference agent does: a
/// message goes out only after the relay accepted the one before it, so a refused message
/// (QUOTA, a lost connection) can never be overtaken by a later one - with several SENDs in
/// flight, one refused with QUOTA could be followed by one accepted after the peer drained the
/// queue, and the peer would see a gap and then an old message. Each message is removed from
/// the store once the relay has it; failures are retried, in order: after QUOTA when the peer
/// says it drained the queue (A_QCONT) or after [`QUOTA_RETRY`], otherwise with back-off.
async fn delivery(
    inner: std::sync::Weak<Inner>,
    conn: ConnId,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
    wake: Arc<tokio::sync::Notify>,
) {
    const FIRST_BACKOFF: std::time::Duration = std::time::Duration::from_millis(100);
    let mut backoff = FIRST_BACKOFF;
    let mut quota_wait = QUOTA_RETRY.0;
    let mut next: Option<Outgoing> = None;
    // A refusal (AUTH) is reported once per message, not at every retry.
    let mut refused_reported = false;
    loop {
        let (id, q, body, user, notify, slot) = match next.take() {
            Some(m) => m,
            None => {
                refused_reported = false;
                match rx.recv().await {
                    Some(m) => m,
                    None => return,
                }
            }
        };
        let Some(inner) = inner.upgrade() else { return };
        let agent = Agent { inner };
        if agent.is_closed() || !agent.lock().conns.contains_key(&conn) {
            return;
        }
        let cmd = Command::Send {
            notification: notify,
            body,
        };
        let answer = agent
            .send_to_peer(&q.server, Some(&q.snd_key), &q.snd_id, &cmd)
            .await;
        let Command::Send { body, .. } = cmd else {
            return;
        };
        let wait = match answer {
            Ok(BrokerMsg::Ok) => {
                let done = match &agent.inner.store {
                    Some(store) => {
                        on_store(store, |db| db.sent(conn, id)).map_err(|e| e.to_string())
                    }
                    None => Ok(()),
                };
                match done {
                    Ok(()) => {
                        agent.event(AgentEvent::Sent { conn, msg_id: id }).await;
                        backoff = FIRST_BACKOFF;
                        quota_wait = QUOTA_RETRY.0;
                        continue;
                    }
                    // Sent, but still in the store: it would go again after a restart (and be
                    // dropped there as a duplicate); nothing to resend now.
                    Err(error) => {
                        agent.event(AgentEvent::Error { conn, error }).await;
                        continue;
                    }
                }
            }
            // On an established connection the queue is gone for good (the peer deleted it):
            // the message is dropped, as the reference's (a queue not secured yet, during a
            // handshake, answers so too - then it is tried again). A user's is reported as
            // refused, the agent's own (a receipt, a rotation step) as an error.
            Ok(BrokerMsg::Err(smp_proto::ErrorType::Auth))
                if agent
                    .lock()
                    .conns
                    .get(&conn)
                    .is_some_and(|c| c.status == Status::Connected) =>
            {
                let dropped = match &agent.inner.store {
                    Some(store) => {
                        on_store(store, |db| db.sent(conn, id)).map_err(|e| e.to_string())
                    }
                    None => Ok(()),
                };
                if let Err(error) = dropped {
                    agent.event(AgentEvent::Error { conn, error }).await;
                }
                let event = if user {
                    AgentEvent::Refused { conn, msg_id: id }
                } else {
                    AgentEvent::Error {
                        conn,
                        error: format!(
                            "message {id}: connection authorization failed - the peer's queue \
                             is gone; dropped"
                        ),
                    }
                };
                agent.event(event).await;
                backoff = FIRST_BACKOFF;
                continue;
            }
            Ok(BrokerMsg::Err(smp_proto::ErrorType::Quota)) => {
                agent
                    .event(AgentEvent::Error {
                        conn,
                        error: format!("message {id}: the peer's queue is full (QUOTA), waiting"),
                    })
                    .await;
                None
            }
            other => {
                let error = match other {
                    // The reference's words: the queue is gone or its keys differ. Tried again
                    // all the same, with back-off (a queue not secured yet answers so during a
                    // handshake), but said once.
                    Ok(BrokerMsg::Err(smp_proto::ErrorType::Auth)) if refused_reported => None,
                    Ok(BrokerMsg::Err(smp_proto::ErrorType::Auth)) => {
                        refused_reported = true;
                        Some(format!(
                            "message {id}: connection authorization failed - this could happen \
                             if connection was deleted, secured with different credentials, or \
                             due to a bug - please re-create the connection (retrying)"
                        ))
                    }
                    other => Some(format!("message {id}: {other:?}, retrying")),
                };
                if let Some(error) = error {
                    agent.event(AgentEvent::Error { conn, error }).await;
                }
                let b = backoff;
                backoff = (backoff * 2).min(std::time::Duration::from_secs(30));
                Some(b)
            }
        };
        drop(agent);
        next = Some((id, q, body, user, notify, slot));
        match wait {
            Some(b) => tokio::time::sleep(b).await,
            None => {
                let _ = tokio::time::timeout(quota_wait, wake.notified()).await;
                quota_wait = (quota_wait * 2).min(QUOTA_RETRY.1);
            }
        }
    }
}

/// What securing the replacing queue needs (after the sender's QKEY).
struct SecureNext {
    server: SmpServer,
    rcv_id: Vec<u8>,
    rcv_key: PrivateKey,
    snd_id: Vec<u8>,
    sender_key: PublicKey,
}

fn malformed_rotation<E>(what: &'static str) -> impl Fn(E) -> AgentError {
    move |_| AgentError::Connection(what)
}

/// QADD (the peer moves its receiving queue): a queue of ours to send to next, and the QKEY
/// with our new sender key and per-queue key to send back (through the current queue).
fn q_add(c: &mut Conn, rest: &[u8]) -> Result<Vec<u8>> {
    let bad = malformed_rotation("malformed QADD");
    let mut r = simplex_codec::Reader::new(rest);
    if r.byte().map_err(&bad)? == 0 {
        return Err(AgentError::Connection("QADD without a queue"));
    }
    let uri = QueueUri::decode_from(&mut r).map_err(|e| AgentError::Link(e.to_string()))?;
    if r.byte().map_err(&bad)? != b'1' {
        return Err(AgentError::Connection(
            "adding a queue without replacing one is not supported",
        ));
    }
    let old_server =
        crate::links::decode_server(&mut r).map_err(|e| AgentError::Link(e.to_string()))?;
    let old_id = r.short_bytes().map_err(&bad)?.to_vec();
    let current = c
        .snd
        .as_ref()
        .ok_or(AgentError::Connection("no send queue"))?;
    if link_server(&current.server) != old_server || current.snd_id != old_id {
        return Err(AgentError::Connection(
            "QADD: the replaced queue is not this connection's",
        ));
    }
    let (sk_pub, snd_key) = generate(KeyAlgorithm::Ed25519).map_err(crypto)?;
    let (e2e_pub, e2e_priv) = x25519()?;
    let e2e_secret = cryptobox::shared_key(&e2e_priv, &uri.dh_key).map_err(crypto)?;
    let info = QueueInfo {
        version: uri.versions.max.min(SMP_CLIENT_VERSIONS.max),
        server: uri.server.clone(),
        sender_id: uri.sender_id.clone(),
        dh_key: e2e_pub.clone(),
        mode: Some(QueueMode::Messaging),
    };
    c.snd_next = Some(SndQueue {
        server: smp_server(&uri.server)?,
        snd_id: uri.sender_id,
        snd_key,
        e2e_pub,
        e2e_secret,
    });
    let mut qkey = b"QK".to_vec();
    qkey.push(1);
    info.encode_into(&mut qkey).map_err(crypto)?;
    simplex_codec::encoding::put_short(&mut qkey, &sk_pub.to_der()).map_err(crypto)?;
    Ok(qkey)
}

/// QKEY (the sender's keys for our replacing queue): the per-queue secret, and what securing
/// the queue (KEY) needs; none for a queue we are not adding (the answer to a rotation we
/// aborted, perhaps while a new one is under way: nothing to do).
fn q_key(c: &mut Conn, rest: &[u8]) -> Result<Option<SecureNext>> {
    let bad = malformed_rotation("malformed QKEY");
    let mut r = simplex_codec::Reader::new(rest);
    if r.byte().map_err(&bad)? == 0 {
        return Err(AgentError::Connection("QKEY without a queue"));
    }
    let info = QueueInfo::decode_from(&mut r).map_err(crypto)?;
    let sender_key = PublicKey::from_der(r.short_bytes().map_err(&bad)?)
        .map_err(|_| AgentError::Connection("QKEY: bad key"))?;
    let Some(next) = c.rcv_next.as_mut().filter(|n| {
        link_server(&n.queue.server) == info.server && n.queue.snd_id == info.sender_id
    }) else {
        return Ok(None);
    };
    if next.peer_secret.is_some() {
        return Err(AgentError::Connection("QKEY: the queue is already secured"));
    }
    next.peer_secret =
        Some(cryptobox::shared_key(&next.queue.e2e_key, &info.dh_key).map_err(crypto)?);
    Ok(Some(SecureNext {
        server: next.queue.server.clone(),
        rcv_id: next.queue.rcv_id.clone(),
        rcv_key: next.queue.rcv_key.clone(),
        snd_id: next.queue.snd_id.clone(),
        sender_key,
    }))
}

/// QUSE (the peer secured the new queue): send to it from now on, starting with QTEST; the old
/// queue keeps only what was sealed for it already.
fn q_use(c: &mut Conn, rest: &[u8]) -> Result<Vec<u8>> {
    let bad = malformed_rotation("malformed QUSE");
    let mut r = simplex_codec::Reader::new(rest);
    if r.byte().map_err(&bad)? == 0 {
        return Err(AgentError::Connection("QUSE without a queue"));
    }
    let server =
        crate::links::decode_server(&mut r).map_err(|e| AgentError::Link(e.to_string()))?;
    let id = r.short_bytes().map_err(&bad)?.to_vec();
    let _primary = r.byte().map_err(&bad)?;
    let matches = c
        .snd_next
        .as_ref()
        .is_some_and(|q| link_server(&q.server) == server && q.snd_id == id);
    if !matches {
        return Err(AgentError::Connection("QUSE: no such queue being added"));
    }
    let next = c
        .snd_next
        .take()
        .ok_or(AgentError::Connection("QUSE: gone"))?;
    c.snd_old = c.snd.replace(next.clone());
    let mut qtest = b"QT".to_vec();
    qtest.push(1);
    encode_queue_address(&next.server, &next.snd_id, &mut qtest)?;
    Ok(qtest)
}

/// A message committed to be sent (its state and the pending message stored): the queue it is
/// sealed for, its id, the sealed body.
struct Committed {
    q: SndQueue,
    msg_id: i64,
    sealed: Vec<u8>,
    /// A user's message (not the agent's own).
    user: bool,
    /// Its SEND carries the notification flag.
    notify: bool,
}

/// What the peer's new ratchet keys led to.
enum KeyOutcome {
    /// Keys already used.
    Ignored,
    /// New ratchets: our keys to send back (when we did not start), EREADY to send (when ours
    /// is the sending side).
    Agreed {
        reply: Option<(PublicKey, PublicKey)>,
        send_eready: bool,
    },
}

/// `qiSize` from a QUE answer's JSON.
fn queue_size(json: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(json).ok()?;
    let at = text.find("\"qiSize\":")? + "\"qiSize\":".len();
    let digits: String = text[at..]
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// SHA-256 of two ratchet keys' raw bytes: which side of a re-synchronisation takes which role.
fn rk_hash(k1: &PublicKey, k2: &PublicKey) -> [u8; 32] {
    let mut b = k1.raw().to_vec();
    b.extend_from_slice(k2.raw());
    simplex_crypto::digest::sha256(&b)
}

/// The peer's AgentRatchetKey (the reference's `newRatchetKey`): with our keys (the ones we
/// sent when we started, or new ones to send back) both sides build new ratchets, the side with
/// the smaller key hash as receiver.
fn new_ratchet_key(c: &mut Conn, e2e: &RatchetParams) -> Result<KeyOutcome> {
    let theirs = rk_hash(&e2e.key1, &e2e.key2);
    if c.sync_key_hashes.contains(&theirs) {
        return Ok(KeyOutcome::Ignored);
    }
    c.sync_key_hashes.push(theirs);
    if c.sync_key_hashes.len() > SYNC_KEY_HASHES {
        c.sync_key_hashes.remove(0);
    }
    if !(E2E_VERSIONS.min..=E2E_VERSIONS.max).contains(&e2e.version) {
        return Err(AgentError::Connection(
            "ratchet keys of an unknown e2e version",
        ));
    }
    // A post-quantum proposal (`e2e.kem`) is answered without KEM: we never offer it.
    let (k1, k2, reply) = match c.sync {
        SyncState::Ok | SyncState::Allowed | SyncState::Required => {
            let (p1, k1) = generate(KeyAlgorithm::X448).map_err(crypto)?;
            let (p2, k2) = generate(KeyAlgorithm::X448).map_err(crypto)?;
            (k1, k2, Some((p1, p2)))
        }
        SyncState::Started => {
            let (k1, k2) = c
                .sync_keys
                .take()
                .ok_or(AgentError::Connection("re-synchronisation keys lost"))?;
            (k1, k2, None)
        }
        SyncState::Agreed => {
            c.sync = SyncState::Required;
            return Err(AgentError::Crypto(
                "RATCHET_SYNC: new ratchet keys after the agreement".into(),
            ));
        }
    };
    let versions = Versions {
        current: e2e.version,
        max_supported: E2E_VERSIONS.max,
    };
    let p1 = simplex_crypto::public_key(&k1).map_err(crypto)?;
    let p2 = simplex_crypto::public_key(&k2).map_err(crypto)?;
    let (rc, send_eready) = if rk_hash(&p1, &p2) <= theirs {
        let x = ratchet::x3dh_initiator(&k1, &k2, &e2e.key1, &e2e.key2).map_err(crypto)?;
        (Ratchet::init_rcv(versions, k2, &x), false)
    } else {
        let x = ratchet::x3dh_joiner(&k1, &k2, &e2e.key1, &e2e.key2).map_err(crypto)?;
        let dh = generate(KeyAlgorithm::X448).map_err(crypto)?.1;
        let rc = Ratchet::init_snd(versions, e2e.key2.clone(), dh, &x).map_err(crypto)?;
        (rc, true)
    };
    c.ratchet = Some(rc);
    c.skipped = SkippedKeys::new();
    c.sync = SyncState::Agreed;
    c.sync_keys = None;
    Ok(KeyOutcome::Agreed { reply, send_eready })
}

/// The first agent version with delivery receipts (`deliveryRcptsSMPAgentVersion`).
const RECEIPTS_AGENT_VERSION: u16 = 4;

/// Receipts as A_RCVD carries them after its `V`: a count, then per receipt the sender's message
/// id (Int64), the message's hash (shortString) and the receipt info (Large).
fn encode_receipts(receipts: &[(i64, &[u8], &[u8])], out: &mut Vec<u8>) -> Result<()> {
    let bad = |what: &str| AgentError::Crypto(format!("receipt: {what}"));
    out.push(u8::try_from(receipts.len()).map_err(|_| bad("too many"))?);
    for (id, hash, info) in receipts {
        out.extend_from_slice(&id.to_be_bytes());
        out.push(u8::try_from(hash.len()).map_err(|_| bad("hash"))?);
        out.extend_from_slice(hash);
        let len = u16::try_from(info.len()).map_err(|_| bad("info longer than 65,535 bytes"))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(info);
    }
    Ok(())
}

/// The hash a receipt for `msg_id` of `conn` carries: the message being acknowledged, from a
/// peer whose agent takes receipts.
fn receipt_hash(st: &State, conn: ConnId, msg_id: i64) -> Result<Vec<u8>> {
    let hash = st
        .awaiting
        .get(&conn)
        .filter(|a| a.msg_id == msg_id)
        .map(|a| a.msg_hash.clone())
        .ok_or(AgentError::Connection("no such message to acknowledge"))?;
    let c = st
        .conns
        .get(&conn)
        .ok_or(AgentError::Connection("unknown"))?;
    if c.agent_version < RECEIPTS_AGENT_VERSION {
        return Err(AgentError::Connection(
            "the peer's agent does not take delivery receipts",
        ));
    }
    if hash.is_empty() {
        return Err(AgentError::Connection(
            "no hash kept for this message (received by an older version)",
        ));
    }
    Ok(hash)
}

/// The receipts of an A_RCVD (after its `V`): (message id, hash) each; at least one.
fn decode_receipts(bytes: &[u8]) -> Result<Vec<(i64, Vec<u8>)>> {
    let bad = |_| AgentError::Crypto("malformed receipt".into());
    let mut r = simplex_codec::Reader::new(bytes);
    let n = r.byte().map_err(bad)?;
    if n == 0 {
        return Err(AgentError::Crypto(
            "a receipt message without receipts".into(),
        ));
    }
    let mut out = Vec::with_capacity(usize::from(n));
    for _ in 0..n {
        let id = i64::from_be_bytes(r.take_array::<8>().map_err(bad)?);
        let hash = r.short_bytes().map_err(bad)?.to_vec();
        let _info = r.large_bytes().map_err(bad)?;
        out.push((id, hash));
    }
    r.finish().map_err(bad)?;
    Ok(out)
}

/// A queue's address as its sender knows it (`SndQAddr`: relay, sender id), as in A_QCONT.
fn encode_queue_address(server: &SmpServer, snd_id: &[u8], out: &mut Vec<u8>) -> Result<()> {
    crate::links::encode_server(&link_server(server), out).map_err(crypto)?;
    let len = u8::try_from(snd_id.len()).map_err(|_| AgentError::Crypto("queue id".into()))?;
    out.push(len);
    out.extend_from_slice(snd_id);
    Ok(())
}

fn decode_queue_address(bytes: &[u8]) -> Result<(LinkServer, Vec<u8>)> {
    let mut r = simplex_codec::Reader::new(bytes);
    let server = crate::links::decode_server(&mut r).map_err(crypto)?;
    let id = r.short_bytes().map_err(crypto)?.to_vec();
    Ok((server, id))
}

/// The stored form of a connection (version 1): every field the agent needs after a restart.
mod persist {
    use super::*;
    use crate::ratchet::{MessageKey, RcvRatchet, SndRatchet};
    use simplex_codec::Reader;
    use zeroize::Zeroizing;

    /// Version 2 added the relay's id of the last message received, version 3 the ratchet
    /// re-synchronisation state, version 4 the queues of a rotation, version 5 the legacy
    /// handshake's peer key and HELLO flag.
    const VERSION: u8 = 6;

    #[derive(Default)]
    struct W(Vec<u8>);

    impl W {
        fn u8(&mut self, v: u8) {
            self.0.push(v);
        }
        fn u16(&mut self, v: u16) {
            self.0.extend_from_slice(&v.to_be_bytes());
        }
        fn u32(&mut self, v: u32) {
            self.0.extend_from_slice(&v.to_be_bytes());
        }
        fn i64(&mut self, v: i64) {
            self.0.extend_from_slice(&v.to_be_bytes());
        }
        fn blob(&mut self, b: &[u8]) {
            self.u32(b.len() as u32);
            self.0.extend_from_slice(b);
        }
        fn fixed(&mut self, b: &[u8]) {
            self.0.extend_from_slice(b);
        }
        fn flag(&mut self, b: bool) {
            self.u8(u8::from(b));
        }
    }

    struct R<'a>(Reader<'a>);

    fn bad<E>(_: E) -> AgentError {
        AgentError::Connection("stored connection does not parse")
    }

    impl<'a> R<'a> {
        fn u8(&mut self) -> Result<u8> {
            self.0.byte().map_err(bad)
        }
        fn u16(&mut self) -> Result<u16> {
            Ok(u16::from_be_bytes(self.0.take_array().map_err(bad)?))
        }
        fn u32(&mut self) -> Result<u32> {
            Ok(u32::from_be_bytes(self.0.take_array().map_err(bad)?))
        }
        fn i64(&mut self) -> Result<i64> {
            Ok(i64::from_be_bytes(self.0.take_array().map_err(bad)?))
        }
        fn blob(&mut self) -> Result<&'a [u8]> {
            let n = self.u32()? as usize;
            self.0.take(n).map_err(bad)
        }
        fn key32(&mut self) -> Result<Zeroizing<[u8; 32]>> {
            Ok(Zeroizing::new(self.0.take_array().map_err(bad)?))
        }
        fn flag(&mut self) -> Result<bool> {
            match self.u8()? {
                0 => Ok(false),
                1 => Ok(true),
                _ => Err(bad(())),
            }
        }
        fn private(&mut self) -> Result<PrivateKey> {
            PrivateKey::from_der(self.blob()?).map_err(bad)
        }
        fn public(&mut self) -> Result<PublicKey> {
            PublicKey::from_der(self.blob()?).map_err(bad)
        }
        fn server(&mut self) -> Result<SmpServer> {
            std::str::from_utf8(self.blob()?)
                .map_err(bad)?
                .parse()
                .map_err(bad)
        }
        fn secret(&mut self) -> Result<SbKey> {
            Ok(SbKey::from_bytes(self.0.take_array().map_err(bad)?))
        }
    }

    fn put_rcv(w: &mut W, q: &RcvQueue) {
        w.blob(q.server.to_string().as_bytes());
        w.blob(&q.rcv_id);
        w.blob(&q.snd_id);
        w.blob(&q.rcv_key.to_der());
        w.fixed(q.rcv_secret.as_bytes());
        w.blob(&q.e2e_key.to_der());
    }

    fn get_rcv(r: &mut R<'_>) -> Result<RcvQueue> {
        Ok(RcvQueue {
            server: r.server()?,
            rcv_id: r.blob()?.to_vec(),
            snd_id: r.blob()?.to_vec(),
            rcv_key: r.private()?,
            rcv_secret: r.secret()?,
            e2e_key: r.private()?,
        })
    }

    fn put_snd(w: &mut W, s: &SndQueue) {
        w.blob(s.server.to_string().as_bytes());
        w.blob(&s.snd_id);
        w.blob(&s.snd_key.to_der());
        w.blob(&s.e2e_pub.to_der());
        w.fixed(s.e2e_secret.as_bytes());
    }

    fn get_snd(r: &mut R<'_>) -> Result<SndQueue> {
        Ok(SndQueue {
            server: r.server()?,
            snd_id: r.blob()?.to_vec(),
            snd_key: r.private()?,
            e2e_pub: r.public()?,
            e2e_secret: r.secret()?,
        })
    }

    pub(super) fn encode(c: &Conn) -> Result<Vec<u8>> {
        let mut w = W::default();
        w.u8(VERSION);
        w.u8(match c.status {
            Status::Invited => 0,
            Status::Confirmed => 1,
            Status::Joined => 2,
            Status::Connected => 3,
            Status::Address => 4,
            Status::AwaitingHello => 5,
        });
        put_rcv(&mut w, &c.rcv);
        w.flag(c.snd.is_some());
        if let Some(s) = &c.snd {
            w.blob(s.server.to_string().as_bytes());
            w.blob(&s.snd_id);
            w.blob(&s.snd_key.to_der());
            w.blob(&s.e2e_pub.to_der());
            w.fixed(s.e2e_secret.as_bytes());
        }
        w.flag(c.x3dh.is_some());
        if let Some((k1, k2)) = &c.x3dh {
            w.blob(&k1.to_der());
            w.blob(&k2.to_der());
        }
        w.u32(c.reply.len() as u32);
        for r in &c.reply {
            let mut b = Vec::new();
            r.encode_into(&mut b).map_err(crypto)?;
            w.blob(&b);
        }
        w.flag(c.ratchet.is_some());
        if let Some(rc) = &c.ratchet {
            w.u16(rc.version.current);
            w.u16(rc.version.max_supported);
            w.blob(&rc.ad);
            w.blob(&rc.dhrs.to_der());
            w.fixed(&rc.rk[..]);
            w.flag(rc.snd.is_some());
            if let Some(s) = &rc.snd {
                w.blob(&s.dhrr.to_der());
                w.fixed(&s.ck[..]);
                w.fixed(&s.hk[..]);
            }
            w.flag(rc.rcv.is_some());
            if let Some(r) = &rc.rcv {
                w.fixed(&r.ck[..]);
                w.fixed(&r.hk[..]);
            }
            w.u32(rc.ns);
            w.u32(rc.nr);
            w.u32(rc.pn);
            w.fixed(&rc.nhks[..]);
            w.fixed(&rc.nhkr[..]);
        }
        w.u32(c.skipped.len() as u32);
        for (hk, keys) in &c.skipped {
            w.fixed(hk);
            w.u32(keys.len() as u32);
            for (n, k) in keys {
                w.u32(*n);
                w.fixed(&k.key[..]);
                w.fixed(&k.iv[..]);
            }
        }
        w.u16(c.agent_version);
        w.i64(c.snd_msg_id);
        w.blob(&c.snd_prev_hash);
        w.i64(c.rcv_msg_id);
        w.blob(&c.rcv_prev_hash);
        w.flag(c.rcv_peer_secret.is_some());
        if let Some(s) = &c.rcv_peer_secret {
            w.fixed(s.as_bytes());
        }
        w.blob(&c.last_relay_msg_id);
        w.u8(match c.sync {
            SyncState::Ok => 0,
            SyncState::Allowed => 1,
            SyncState::Required => 2,
            SyncState::Started => 3,
            SyncState::Agreed => 4,
        });
        w.flag(c.sync_keys.is_some());
        if let Some((k1, k2)) = &c.sync_keys {
            w.blob(&k1.to_der());
            w.blob(&k2.to_der());
        }
        w.u32(c.sync_key_hashes.len() as u32);
        for h in &c.sync_key_hashes {
            w.fixed(h);
        }
        w.flag(c.rcv_next.is_some());
        if let Some(n) = &c.rcv_next {
            put_rcv(&mut w, &n.queue);
            w.flag(n.peer_secret.is_some());
            if let Some(k) = &n.peer_secret {
                w.fixed(k.as_bytes());
            }
        }
        w.flag(c.rcv_old.is_some());
        if let Some((q, secret)) = &c.rcv_old {
            put_rcv(&mut w, q);
            w.flag(secret.is_some());
            if let Some(k) = secret {
                w.fixed(k.as_bytes());
            }
        }
        for q in [&c.snd_next, &c.snd_old] {
            w.flag(q.is_some());
            if let Some(q) = q {
                put_snd(&mut w, q);
            }
        }
        w.flag(c.legacy_peer_key.is_some());
        if let Some(k) = &c.legacy_peer_key {
            w.blob(&k.to_der());
        }
        w.flag(c.hello_sent);
        w.flag(c.link.is_some());
        if let Some(l) = &c.link {
            w.u8(l.kind.letter() as u8);
            w.blob(&l.link_id);
            w.blob(&l.link_key);
            w.blob(&l.root.to_der());
            w.blob(&l.fixed);
            w.flag(l.direct);
        }
        Ok(w.0)
    }

    pub(super) fn decode(bytes: &[u8]) -> Result<Conn> {
        let mut r = R(Reader::new(bytes));
        let version = r.u8()?;
        if !(1..=VERSION).contains(&version) {
            return Err(AgentError::Connection(
                "stored connection of an unknown version",
            ));
        }
        let status = match r.u8()? {
            0 => Status::Invited,
            1 => Status::Confirmed,
            2 => Status::Joined,
            3 => Status::Connected,
            4 => Status::Address,
            5 => Status::AwaitingHello,
            _ => return Err(bad(())),
        };
        let rcv = get_rcv(&mut r)?;
        let snd = if r.flag()? {
            Some(SndQueue {
                server: r.server()?,
                snd_id: r.blob()?.to_vec(),
                snd_key: r.private()?,
                e2e_pub: r.public()?,
                e2e_secret: r.secret()?,
            })
        } else {
            None
        };
        let x3dh = if r.flag()? {
            Some((r.private()?, r.private()?))
        } else {
            None
        };
        let n = r.u32()?;
        let mut reply = Vec::new();
        for _ in 0..n {
            let b = r.blob()?;
            reply.push(QueueInfo::decode_from(&mut Reader::new(b)).map_err(bad)?);
        }
        let ratchet = if r.flag()? {
            let version = Versions {
                current: r.u16()?,
                max_supported: r.u16()?,
            };
            let ad = r.blob()?.to_vec();
            let dhrs = r.private()?;
            let rk = r.key32()?;
            let snd = if r.flag()? {
                Some(SndRatchet {
                    dhrr: r.public()?,
                    ck: r.key32()?,
                    hk: r.key32()?,
                })
            } else {
                None
            };
            let rcv = if r.flag()? {
                Some(RcvRatchet {
                    ck: r.key32()?,
                    hk: r.key32()?,
                })
            } else {
                None
            };
            Some(Ratchet {
                version,
                ad,
                dhrs,
                rk,
                snd,
                rcv,
                ns: r.u32()?,
                nr: r.u32()?,
                pn: r.u32()?,
                nhks: r.key32()?,
                nhkr: r.key32()?,
            })
        } else {
            None
        };
        let mut skipped = SkippedKeys::new();
        for _ in 0..r.u32()? {
            let hk: [u8; 32] = r.0.take_array().map_err(bad)?;
            let mut keys = std::collections::BTreeMap::new();
            for _ in 0..r.u32()? {
                let n = r.u32()?;
                let key = r.key32()?;
                let iv = Zeroizing::new(r.0.take_array().map_err(bad)?);
                keys.insert(n, MessageKey { key, iv });
            }
            skipped.insert(hk, keys);
        }
        let c = Conn {
            status,
            rcv,
            snd,
            x3dh,
            reply,
            ratchet,
            skipped,
            agent_version: r.u16()?,
            snd_msg_id: r.i64()?,
            snd_prev_hash: r.blob()?.to_vec(),
            rcv_msg_id: r.i64()?,
            rcv_prev_hash: r.blob()?.to_vec(),
            rcv_peer_secret: if r.flag()? { Some(r.secret()?) } else { None },
            last_relay_msg_id: if version >= 2 {
                r.blob()?.to_vec()
            } else {
                Vec::new()
            },
            sync: SyncState::Ok,
            sync_keys: None,
            sync_key_hashes: Vec::new(),
            rcv_next: None,
            rcv_old: None,
            snd_next: None,
            snd_old: None,
            legacy_peer_key: None,
            hello_sent: false,
            link: None,
            recent: std::collections::VecDeque::new(),
        };
        let mut c = c;
        if version >= 3 {
            c.sync = match r.u8()? {
                0 => SyncState::Ok,
                1 => SyncState::Allowed,
                2 => SyncState::Required,
                3 => SyncState::Started,
                4 => SyncState::Agreed,
                _ => return Err(AgentError::Connection("stored sync state unknown")),
            };
            if r.flag()? {
                c.sync_keys = Some((r.private()?, r.private()?));
            }
            let n = r.u32()?;
            if n as usize > SYNC_KEY_HASHES {
                return Err(AgentError::Connection("stored sync hashes: too many"));
            }
            for _ in 0..n {
                c.sync_key_hashes.push(r.0.take_array().map_err(bad)?);
            }
        }
        if version >= 4 {
            if r.flag()? {
                let queue = get_rcv(&mut r)?;
                let peer_secret = if r.flag()? { Some(r.secret()?) } else { None };
                c.rcv_next = Some(NextRcv { queue, peer_secret });
            }
            if r.flag()? {
                let q = get_rcv(&mut r)?;
                let secret = if r.flag()? { Some(r.secret()?) } else { None };
                c.rcv_old = Some((q, secret));
            }
            c.snd_next = if r.flag()? {
                Some(get_snd(&mut r)?)
            } else {
                None
            };
            c.snd_old = if r.flag()? {
                Some(get_snd(&mut r)?)
            } else {
                None
            };
        }
        if version >= 5 {
            c.legacy_peer_key = if r.flag()? { Some(r.public()?) } else { None };
            c.hello_sent = r.flag()?;
        }
        if version >= 6 && r.flag()? {
            let letter = [r.u8()?];
            let kind = std::str::from_utf8(&letter)
                .ok()
                .and_then(crate::links::ShortLinkKind::from_letter)
                .ok_or_else(|| bad(()))?;
            c.link = Some(OwnedLink {
                kind,
                link_id: r.blob()?.to_vec(),
                link_key: r.blob()?.to_vec(),
                root: r.private()?,
                fixed: r.blob()?.to_vec(),
                direct: r.flag()?,
            });
        }
        r.0.finish().map_err(bad)?;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn receipts_and_queue_addresses_round_trip() {
        let mut out = Vec::new();
        encode_receipts(&[(5, &[1; 32], b"info"), (-1, b"", b"")], &mut out).unwrap();
        // count, Int64 id, shortString hash, Large info - twice.
        assert_eq!(out.len(), 1 + (8 + 1 + 32 + 2 + 4) + (8 + 1 + 2));
        assert_eq!(
            decode_receipts(&out).unwrap(),
            [(5, vec![1; 32]), (-1, vec![])]
        );
        assert!(decode_receipts(&[0]).is_err(), "NonEmpty");
        assert!(decode_receipts(&out[..out.len() - 1]).is_err());
        let mut long = out.clone();
        long.push(0);
        assert!(decode_receipts(&long).is_err(), "trailing bytes");

        let server: SmpServer =
            "smp://AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=@a.example,b.example:5224"
                .parse()
                .unwrap();
        let mut addr = Vec::new();
        encode_queue_address(&server, b"sender id", &mut addr).unwrap();
        let (s, id) = decode_queue_address(&addr).unwrap();
        assert_eq!((s, id), (link_server(&server), b"sender id".to_vec()));
    }

    #[test]
    fn integrity_as_the_reference_checks_it() {
        let (h, other) = (b"hash".as_slice(), b"other".as_slice());
        assert_eq!(IntegrityError::check(4, 5, h, h), None);
        assert_eq!(
            IntegrityError::check(4, 5, h, other),
            Some(IntegrityError::BadHash)
        );
        assert_eq!(
            IntegrityError::check(4, 3, h, h),
            Some(IntegrityError::BadId(3))
        );
        assert_eq!(
            IntegrityError::check(4, 4, h, h),
            Some(IntegrityError::Duplicate)
        );
        assert_eq!(
            IntegrityError::check(4, 7, h, h),
            Some(IntegrityError::Skipped { from: 5, to: 6 })
        );
        for e in [
            IntegrityError::Skipped { from: 5, to: 6 },
            IntegrityError::BadId(-3),
            IntegrityError::Duplicate,
            IntegrityError::BadHash,
        ] {
            assert_eq!(IntegrityError::from_stored(&e.to_stored()), Some(e));
        }
        assert_eq!(IntegrityError::from_stored("skipped 5"), None);
        assert_eq!(IntegrityError::from_stored("something"), None);
    }

    #[test]
    fn a_connection_stored_by_version_1_is_read() {
        let server: SmpServer = "smp://AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=@a.example"
            .parse()
            .unwrap();
        let rcv = RcvQueue {
            server,
            rcv_id: vec![1; 24],
            snd_id: vec![2; 24],
            rcv_key: generate(KeyAlgorithm::Ed25519).unwrap().1,
            rcv_secret: SbKey::from_bytes([3; 32]),
            e2e_key: x25519().unwrap().1,
        };
        let mut c = Conn::new(Status::Address, rcv, 7);
        c.last_relay_msg_id = vec![4; 24];
        c.sync = SyncState::Required;
        c.sync_key_hashes = vec![[5; 32]];
        c.hello_sent = true;
        let v6 = persist::encode(&c).unwrap();
        let back = persist::decode(&v6).unwrap();
        assert!(back.hello_sent && back.legacy_peer_key.is_none() && back.link.is_none());
        // Version 5: without the short link's flag.
        let mut v5 = v6[..v6.len() - 1].to_vec();
        v5[0] = 5;
        let back = persist::decode(&v5).unwrap();
        assert!(back.hello_sent && back.link.is_none());
        // Version 4: without the legacy-handshake fields (two flags).
        let mut v4 = v5[..v5.len() - 2].to_vec();
        v4[0] = 4;
        let back = persist::decode(&v4).unwrap();
        assert!(back.rcv_next.is_none() && back.snd_old.is_none() && !back.hello_sent);
        // Version 3: without the four rotation flags.
        let mut v3 = v4[..v4.len() - 4].to_vec();
        v3[0] = 3;
        let back = persist::decode(&v3).unwrap();
        assert_eq!(back.last_relay_msg_id, vec![4; 24]);
        assert_eq!(back.sync, SyncState::Required);
        assert_eq!(back.sync_key_hashes, [[5; 32]]);
        // Version 2: without the sync fields (state, no keys, one hash).
        let mut v2 = v3[..v3.len() - (1 + 1 + 4 + 32)].to_vec();
        v2[0] = 2;
        let old = persist::decode(&v2).unwrap();
        assert_eq!((old.sync, old.last_relay_msg_id.len()), (SyncState::Ok, 24));
        // Version 1: also without the relay id (its 4-byte length and 24 bytes).
        let mut v1 = v2[..v2.len() - 28].to_vec();
        v1[0] = 1;
        let old = persist::decode(&v1).unwrap();
        assert!(old.last_relay_msg_id.is_empty());
        assert_eq!((old.status, old.agent_version), (Status::Address, 7));
        v1[0] = 6;
        assert!(persist::decode(&v1).is_err(), "a newer version is refused");
    }

    proptest! {
        #[test]
        fn agent_message_decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode_receipts(&bytes);
            let _ = decode_queue_address(&bytes);
        }
    }
}
