//! The relay's command processing, without sockets: a connection hands in a transmission and
//! gets back what to answer; messages for other connections (MSG deliveries, END, DELD) go
//! through their push channels.
//!
//! ```text
//! transmission ─► authorization length ─► Command::parse (UNKNOWN / SYNTAX)
//!   ─► check_credentials ─► find the queue (by recipient, sender, link or notifier id)
//!   ─► verify (signature or X25519 authenticator; a dummy check for unknown ids) ─► run
//! ```
//!
//! Semantics follow simplexmq 6.5.5 `Server.hs`: one subscriber per queue (END to the one
//! before), the next message only after ACK, the 128-message quota with its marker, SUB and
//! GET never mixed on one connection, SEND unauthorized until the queue is secured.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use simplex_codec::encoding::{pad, unpad};
use simplex_crypto::{cryptobox, KeyAlgorithm, PrivateKey, PublicKey, SbNonce};
use smp_proto::command::{LinkData, NewQueue, QueueRequest};
use smp_proto::error::ProxyError;
use smp_proto::response::QueueIds;
use smp_proto::transmission::{AuthKind, Transmission};
use smp_proto::{BrokerMsg, Command, CommandError, ErrorType, Version};
use tokio::sync::mpsc;

use crate::journal::JournalStore;
use crate::queue::{
    max_message_len, Message, Notifier, QueueMode, QueueRec, Status, Written, ID_LEN,
    RCV_MSG_PADDED,
};
use crate::storelog::{self, QueueStore};
use store_log::{Durable, StoreLog};

/// A connection's id within the relay.
pub type ConnId = u64;

/// One transmission for a client: corrId (empty for pushes), entity id and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Echoed correlation id; empty in pushes.
    pub corr_id: Vec<u8>,
    /// Queue id (or empty).
    pub entity_id: Vec<u8>,
    /// The message.
    pub msg: BrokerMsg,
}

/// Queues waiting for a connection's pushes: bounded, never blocking the sender.
pub const PUSH_QUEUE: usize = 256;

/// What the relay needs to know about a connection.
#[derive(Debug)]
pub struct Conn {
    /// Its id.
    pub id: ConnId,
    /// The negotiated version.
    pub version: Version,
    /// tls-unique.
    pub session_id: Vec<u8>,
    /// The relay's X25519 session key, for clients that authorize with authenticators.
    pub session_key: Option<PrivateKey>,
    /// The session secret with the client's handshake key (DH with `session_key`): what a
    /// proxy's forwarded transmissions (RFWD) are encrypted with.
    pub session_secret: Option<simplex_crypto::SbKey>,
}

/// Settings of the relay that commands depend on.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// `[AUTH] new_queues`.
    pub allow_new_queues: bool,
    /// `[AUTH] create_password`.
    pub create_password: Option<Vec<u8>>,
    /// `[STORE_LOG] expire_messages_days`, in seconds (`None`: messages never expire).
    pub message_ttl: Option<i64>,
    /// `[STORE_LOG] expire_messages_on_send`: a SEND first drops its queue's expired messages.
    pub expire_on_send: bool,
}

/// Messages expire after 21 days, as in the reference.
pub const DEFAULT_MESSAGE_TTL: i64 = 21 * 86_400;

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            allow_new_queues: true,
            create_password: None,
            message_ttl: Some(DEFAULT_MESSAGE_TTL),
            expire_on_send: true,
        }
    }
}

/// A recipient's subscription: which connection, and the message delivered but not ACKed.
#[derive(Debug, Clone)]
struct Sub {
    conn: ConnId,
    delivered: Option<[u8; ID_LEN]>,
}

#[derive(Debug, Default)]
struct State {
    store: QueueStore,
    /// Every change to a queue record is appended here before it is made.
    log: Option<StoreLog>,
    /// The journal message store, when messages are kept in journal files.
    journal: Option<JournalStore>,
    /// SUB subscriptions by recipient id.
    subs: HashMap<Vec<u8>, Sub>,
    /// GET "subscriptions" (they only block SUB on the same connection), with the message
    /// delivered by GET.
    gets: HashMap<(ConnId, Vec<u8>), Option<[u8; ID_LEN]>>,
    /// Queues each connection is subscribed to, for clean-up when it closes.
    conn_subs: HashMap<ConnId, HashSet<Vec<u8>>>,
    pushers: HashMap<ConnId, (Version, mpsc::Sender<Outgoing>)>,
    /// Set when the messages were saved for a shutdown: nothing that changes them is
    /// acknowledged any more.
    closing: bool,
}

/// Traffic counters (blocks and transmissions each way), for statistics and benchmarks.
#[derive(Debug, Default)]
pub struct Traffic {
    /// Blocks received.
    pub blocks_in: AtomicU64,
    /// Blocks sent.
    pub blocks_out: AtomicU64,
    /// Transmissions received.
    pub transmissions_in: AtomicU64,
    /// Transmissions sent (answers and pushes).
    pub transmissions_out: AtomicU64,
}

/// The relay: queues, messages and subscriptions, shared by all connections.
#[derive(Debug)]
pub struct Relay {
    /// Blocks and transmissions each way.
    pub traffic: Traffic,
    /// Command counters (daily statistics, control port).
    pub stats: Arc<crate::stats::Stats>,
    /// When the counters started (seconds since the epoch).
    started: AtomicU64,
    state: Mutex<State>,
    config: RelayConfig,
    next_conn: AtomicU64,
    dummy_ed25519: PublicKey,
    dummy_ed448: PublicKey,
    dummy_x25519: PublicKey,
    dummy_dh: PrivateKey,
    clock: fn() -> i64,
}

/// Seconds since the epoch, from the system clock.
pub fn system_seconds() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn random_id() -> Vec<u8> {
    let mut id = vec![0u8; ID_LEN];
    simplex_crypto::random_bytes(&mut id);
    id
}

fn err(e: ErrorType) -> BrokerMsg {
    BrokerMsg::Err(e)
}

impl Relay {
    /// A relay with no queues and no store log.
    pub fn new(config: RelayConfig) -> Result<Arc<Self>, simplex_crypto::CryptoError> {
        Self::with_store(config, QueueStore::default(), None, system_seconds)
    }

    /// A relay with the queues replayed from its store log (which receives every change), and
    /// a clock (seconds since the epoch).
    pub fn with_store(
        config: RelayConfig,
        store: QueueStore,
        log: Option<StoreLog>,
        clock: fn() -> i64,
    ) -> Result<Arc<Self>, simplex_crypto::CryptoError> {
        use simplex_crypto::generate;
        Ok(Arc::new(Self {
            state: Mutex::new(State {
                store,
                log,
                ..State::default()
            }),
            config,
            traffic: Traffic::default(),
            stats: Arc::default(),
            started: AtomicU64::new(clock().max(0) as u64),
            next_conn: AtomicU64::new(1),
            dummy_ed25519: generate(KeyAlgorithm::Ed25519)?.0,
            dummy_ed448: generate(KeyAlgorithm::Ed448)?.0,
            dummy_x25519: generate(KeyAlgorithm::X25519)?.0,
            dummy_dh: generate(KeyAlgorithm::X25519)?.1,
            clock,
        }))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a connection; pushes for it arrive on the returned receiver.
    pub fn connect(&self, version: Version) -> (ConnId, mpsc::Receiver<Outgoing>) {
        let id = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(PUSH_QUEUE);
        self.lock().pushers.insert(id, (version, tx));
        (id, rx)
    }

    /// Forgets a closed connection and its subscriptions.
    pub fn disconnect(&self, conn: ConnId) {
        let mut st = self.lock();
        st.pushers.remove(&conn);
        if let Some(queues) = st.conn_subs.remove(&conn) {
            for q in queues {
                if st.subs.get(&q).is_some_and(|s| s.conn == conn) {
                    st.subs.remove(&q);
                }
            }
        }
        st.gets.retain(|(c, _), _| *c != conn);
    }

    /// `[STORE_LOG] expire_messages_days` in seconds.
    pub fn message_ttl(&self) -> Option<i64> {
        self.config.message_ttl
    }

    /// Whether a connection has subscribed (SUB) or is reading by GET from any queue.
    pub fn has_subscriptions(&self, conn: ConnId) -> bool {
        let st = self.lock();
        st.conn_subs.get(&conn).is_some_and(|s| !s.is_empty())
            || st.gets.keys().any(|(c, _)| *c == conn)
    }

    /// The recipient id of the queue with this sender or link id (what operators see).
    fn by_sender_or_link(st: &State, id: &[u8]) -> Option<Vec<u8>> {
        st.store
            .by_sender
            .get(id)
            .or_else(|| st.store.by_link.get(id))
            .cloned()
    }

    /// Control port `status`: the queue's status, day of the last change and mode.
    pub fn admin_status(&self, sender_id: &[u8]) -> Result<String, &'static str> {
        let st = self.lock();
        let rid = Self::by_sender_or_link(&st, sender_id).ok_or("AUTH")?;
        let q = st.store.queues.get(&rid).ok_or("AUTH")?;
        let status = match &q.rec.status {
            Status::Active => "EntityActive".to_string(),
            Status::Off => "EntityOff".to_string(),
            Status::Blocked(info) => format!("EntityBlocked {}", String::from_utf8_lossy(info)),
        };
        let mode = match q.rec.mode {
            Some(QueueMode::Messaging) => "Just QMMessaging",
            Some(QueueMode::Contact) => "Just QMContact",
            None => "Nothing",
        };
        let updated = q
            .rec
            .updated_at
            .map_or("Nothing".to_string(), |t| format!("Just {t}"));
        Ok(format!(
            "status: {status}, updatedAt: {updated}, queueMode: {mode}"
        ))
    }

    /// Control port `delete`: deletes the queue (its subscriber gets DELD); returns how many
    /// messages went with it. Blocks until the store-log record is on disk.
    pub fn admin_delete(&self, sender_id: &[u8]) -> Result<usize, String> {
        let durable = {
            let mut st = self.lock();
            let rid = Self::by_sender_or_link(&st, sender_id).ok_or("AUTH")?;
            let d = match st.log.as_mut() {
                Some(log) => log
                    .append(&storelog::rid_line("DELETE", &rid))
                    .map_err(|e| e.to_string())?,
                None => Durable::done(),
            };
            let n = st.store.queues.get(&rid).map_or(0, |q| q.msgs.len());
            self.stats.inc(|s| &s.q_deleted_all);
            let nobody = Conn {
                id: 0,
                version: 0,
                session_id: Vec::new(),
                session_key: None,
                session_secret: None,
            };
            self.delete_queue(&mut st, &nobody, &rid);
            (d, n)
        };
        durable.0.wait_blocking().map_err(|e| e.to_string())?;
        Ok(durable.1)
    }

    /// Control port `block` / `unblock`: `Some(info)` blocks the queue (its subscriber gets
    /// ERR BLOCKED), `None` unblocks it. Returns the status before.
    pub fn admin_block(&self, sender_id: &[u8], info: Option<&[u8]>) -> Result<Status, String> {
        let (durable, before) = {
            let mut st = self.lock();
            let rid = Self::by_sender_or_link(&st, sender_id).ok_or("AUTH")?;
            let before = st
                .store
                .queues
                .get(&rid)
                .map(|q| q.rec.status.clone())
                .ok_or("AUTH")?;
            let (line, after) = match info {
                Some(i) => (
                    format!(
                        "BLOCK {} {}",
                        base64url_of(&rid),
                        String::from_utf8_lossy(i)
                    ),
                    Status::Blocked(i.to_vec()),
                ),
                None => (storelog::rid_line("UNBLOCK", &rid), Status::Active),
            };
            if before == after
                || (info.is_none()
                    && before != Status::Active
                    && !matches!(before, Status::Blocked(_)))
            {
                return Ok(before);
            }
            let d = match st.log.as_mut() {
                Some(log) => log.append(&line).map_err(|e| e.to_string())?,
                None => Durable::done(),
            };
            if let Some(q) = st.store.queues.get_mut(&rid) {
                q.rec.status = after.clone();
            }
            if let (Some(i), Some(sub)) = (info, st.subs.get(&rid)) {
                if let Some((_, tx)) = st.pushers.get(&sub.conn) {
                    let _ = tx.try_send(Outgoing {
                        corr_id: Vec::new(),
                        entity_id: rid.clone(),
                        msg: err(ErrorType::Blocked(i.to_vec())),
                    });
                }
            }
            if info.is_some() {
                self.stats.inc(|s| &s.q_blocked);
            }
            (d, before)
        };
        durable.wait_blocking().map_err(|e| e.to_string())?;
        Ok(before)
    }

    /// When the counters started, as `YYYY-MM-DD HH:MM:SS UTC`.
    pub fn started(&self) -> String {
        let t = self.started.load(Ordering::Relaxed) as i64;
        let s = t.rem_euclid(86_400);
        format!(
            "{} {:02}:{:02}:{:02} UTC",
            crate::stats::iso_date(t),
            s / 3600,
            s / 60 % 60,
            s % 60
        )
    }

    /// The daily statistics line, starting a new period.
    pub fn daily_stats_line(&self) -> String {
        let now = (self.clock)();
        let from = self.started.swap(now.max(0) as u64, Ordering::Relaxed) as i64;
        let (queues, messages) = self.counts();
        let (_, _, monthday) = crate::stats::civil_date(now.div_euclid(86_400));
        self.stats.daily_line(
            &crate::stats::iso_date(from),
            crate::stats::iso_weekday(now),
            monthday,
            queues,
            messages,
        )
    }

    /// Subscriptions (SUB) held now.
    pub fn subscription_count(&self) -> usize {
        self.lock().subs.len()
    }

    /// Queues stored and messages stored (the quota markers included).
    pub fn counts(&self) -> (usize, usize) {
        let st = self.lock();
        let messages = st.store.queues.values().map(|q| q.msgs.len()).sum();
        (st.store.queues.len(), messages)
    }

    /// Connections open now.
    pub fn connection_count(&self) -> usize {
        self.lock().pushers.len()
    }

    /// Queues stored.
    pub fn queue_count(&self) -> usize {
        self.lock().store.queues.len()
    }

    /// (Feature `hostile`, tests only) misbehaves like a hostile relay: in every queue with
    /// two or more messages and no subscriber, the two oldest change places. Returns how many
    /// queues were touched. Messages in memory only (not the journal).
    #[cfg(feature = "hostile")]
    pub fn hostile_reorder(&self) -> usize {
        let mut st = self.lock();
        let State { store, subs, .. } = &mut *st;
        store
            .queues
            .iter_mut()
            .filter(|(rid, _)| !subs.contains_key(*rid))
            .filter(|(_, q)| q.msgs.len() >= 2)
            .map(|(_, q)| q.msgs.hostile_swap_oldest())
            .filter(|done| *done)
            .count()
    }

    /// (Feature `hostile`, tests only) misbehaves like a hostile relay: every queue with a
    /// message and no subscriber gets a copy of its oldest message again, under a new id.
    /// Returns how many queues were touched. Messages in memory only (not the journal).
    #[cfg(feature = "hostile")]
    pub fn hostile_replay(&self) -> usize {
        let mut st = self.lock();
        let State { store, subs, .. } = &mut *st;
        let mut n = 0;
        for (rid, q) in store.queues.iter_mut() {
            if subs.contains_key(rid) {
                continue;
            }
            let mut id = [0u8; ID_LEN];
            simplex_crypto::random_bytes(&mut id);
            if q.msgs.hostile_replay_oldest(id) {
                n += 1;
            }
        }
        n
    }

    /// Keeps messages in journal files from now on, first loading every queue's journal.
    /// Returns the messages loaded and what was repaired (for the log).
    pub fn attach_journal(&self, journal: JournalStore) -> (usize, Vec<String>) {
        let mut st = self.lock();
        let (mut count, mut notes) = (0, Vec::new());
        for (rid, q) in st.store.queues.iter_mut() {
            match journal.load(rid) {
                Ok(loaded) => {
                    notes.extend(loaded.repaired);
                    count += loaded.messages.len();
                    for m in loaded.messages {
                        q.msgs.restore(m);
                    }
                    q.journal = loaded.journal;
                }
                Err(e) => notes.push(format!(
                    "journal of {} not loaded: {e}",
                    journal.queue_dir(rid).display()
                )),
            }
        }
        st.journal = Some(journal);
        (count, notes)
    }

    /// Drops messages stored before `before` (seconds) from every queue; returns (expired,
    /// still stored). Takes the lock for a bounded number of queues at a time.
    pub fn expire_messages(&self, before: i64) -> (usize, usize) {
        let rids: Vec<Vec<u8>> = self.lock().store.queues.keys().cloned().collect();
        let (mut expired, mut stored) = (0, 0);
        for chunk in rids.chunks(1000) {
            let mut st = self.lock();
            for rid in chunk {
                let n = Self::expire_queue(&mut st, rid, before);
                self.stats
                    .msg_expired
                    .fetch_add(n as u64, Ordering::Relaxed);
                expired += n;
                stored += st.store.queues.get(rid).map_or(0, |q| q.msgs.len());
            }
        }
        (expired, stored)
    }

    /// Drops the queue's messages stored before `before`, oldest first; stops at the first
    /// one the journal cannot drop.
    fn expire_queue(st: &mut State, rid: &[u8], before: i64) -> usize {
        let State { store, journal, .. } = st;
        let Some(q) = store.queues.get_mut(rid) else {
            return 0;
        };
        let mut n = 0;
        while let Some(m) = q.msgs.peek().filter(|m| m.ts < before) {
            let id = m.id;
            if let (Some(js), Some(j)) = (journal.as_ref(), q.journal.as_mut()) {
                if let Err(e) = js.delete_tip(rid, j) {
                    tracing::error!("journal: cannot expire a message: {e}");
                    break;
                }
            }
            q.msgs.delete(&id);
            n += 1;
        }
        n
    }

    /// Removes the oldest message if it has this id, from the journal first; `Ok(true)` if a
    /// message (not the quota marker) was removed.
    fn delete_msg(st: &mut State, rid: &[u8], id: &[u8; ID_LEN]) -> Result<bool, ErrorType> {
        let State { store, journal, .. } = st;
        let Some(q) = store.queues.get_mut(rid) else {
            return Ok(false);
        };
        let Some(marker) = q
            .msgs
            .peek()
            .filter(|m| m.id == *id)
            .map(|m| m.body.is_none())
        else {
            return Ok(false);
        };
        if let (Some(js), Some(j)) = (journal.as_ref(), q.journal.as_mut()) {
            if let Err(e) = js.delete_tip(rid, j) {
                tracing::error!("journal: cannot delete a message: {e}");
                return Err(ErrorType::Store("deleteMsg".into()));
            }
        }
        q.msgs.delete(id);
        Ok(!marker)
    }

    /// Stops acknowledging anything that changes messages and returns every stored message as
    /// `smp-server-messages.log` lines (the shutdown snapshot): what was answered OK is in it,
    /// what comes later is refused.
    pub fn close_and_snapshot_messages(&self) -> Vec<String> {
        let mut st = self.lock();
        st.closing = true;
        if st.journal.is_some() {
            // Every message is in its journal already.
            return Vec::new();
        }
        Self::message_lines(&st)
    }

    /// Every stored message as a `smp-server-messages.log` line, queue by queue.
    pub fn snapshot_messages(&self) -> Vec<String> {
        Self::message_lines(&self.lock())
    }

    fn message_lines(st: &State) -> Vec<String> {
        let mut rids: Vec<&Vec<u8>> = st.store.queues.keys().collect();
        rids.sort();
        let mut lines = Vec::new();
        for rid in rids {
            if let Some(q) = st.store.queues.get(rid) {
                lines.extend(q.msgs.iter().map(|m| storelog::message_line(rid, m)));
            }
        }
        lines
    }

    /// Puts back the messages of a shutdown snapshot (into the journal too, when there is
    /// one: then wait for [`Relay::journal_synced`]); returns (restored, skipped with why).
    pub fn restore_messages<'a>(
        &self,
        lines: impl Iterator<Item = &'a str>,
    ) -> (usize, Vec<(usize, String)>) {
        let mut st = self.lock();
        let State { store, journal, .. } = &mut *st;
        let (mut restored, mut skipped) = (0, Vec::new());
        for (i, line) in lines.enumerate() {
            if line.is_empty() {
                continue;
            }
            match storelog::parse_message_line(line) {
                Ok((rid, m)) => match store.queues.get_mut(&rid) {
                    Some(q) => {
                        if let Some(js) = journal.as_ref() {
                            if let Err(e) = js.write(&rid, &mut q.journal, &m) {
                                skipped.push((i + 1, format!("not written to the journal: {e}")));
                                continue;
                            }
                        }
                        q.msgs.restore(m);
                        restored += 1;
                    }
                    None => skipped.push((i + 1, "message of an unknown queue".into())),
                },
                Err(why) => skipped.push((i + 1, why.into())),
            }
        }
        (restored, skipped)
    }

    /// Waits until everything written to the journal so far is on disk.
    pub fn journal_synced(&self) -> std::io::Result<()> {
        let ticket = self.lock().journal.as_ref().map(JournalStore::ticket);
        ticket.map_or(Ok(()), Durable::wait_blocking)
    }

    /// The records that recreate every queue (what compaction writes).
    pub fn snapshot_lines(&self) -> Vec<String> {
        store_log::LogState::snapshot_lines(&self.lock().store)
    }

    /// Handles one transmission; returns the answers for this connection, in order (a SUB
    /// may add the first message as a second answer), and the store-log record the answers
    /// must wait for: send them only after [`Durable::wait`].
    pub fn handle(&self, conn: &Conn, t: &Transmission) -> (Vec<Outgoing>, Durable) {
        self.handle_block(conn, std::slice::from_ref(t))
    }

    /// Handles the transmissions of one block, in order, as [`Relay::handle`] does each; the
    /// signatures are checked first, outside the lock and in one batch.
    pub fn handle_block(&self, conn: &Conn, ts: &[Transmission]) -> (Vec<Outgoing>, Durable) {
        let pre = self.precheck(conn, ts);
        let mut out = Vec::with_capacity(ts.len());
        let mut durable = Durable::done();
        for (t, pre) in ts.iter().zip(&pre) {
            let d = std::cell::RefCell::new(None);
            out.extend(self.handle_with(conn, t, &d, pre));
            if let Some(d) = d.into_inner() {
                durable = durable.and(d);
            }
        }
        (out, durable)
    }

    /// Checks the signatures of a block before its commands run: the keys are looked up under
    /// the lock, then verified without it (Ed25519 in one batch), and unknown ids get their
    /// dummy check here too. A key that changes meanwhile is checked again under the lock.
    fn precheck(&self, conn: &Conn, ts: &[Transmission]) -> Vec<Pre> {
        let mut pres: Vec<Pre> = ts.iter().map(|_| Pre::default()).collect();
        // (transmission, signed bytes, candidate keys; none = unknown id: dummy check)
        let mut wanted: Vec<(usize, Vec<u8>, Option<Vec<PublicKey>>)> = Vec::new();
        {
            let st = self.lock();
            for (i, t) in ts.iter().enumerate() {
                if t.authorization.is_empty() {
                    continue;
                }
                let Ok(cmd) = Command::parse(conn.version, &t.command) else {
                    continue;
                };
                let Ok(authorized) = t.authorized(&conn.session_id) else {
                    continue;
                };
                let id = &t.entity_id;
                let keys = match cmd {
                    Command::Ping
                    | Command::Lget
                    | Command::Subs
                    | Command::Nsubs
                    | Command::Prxy(_)
                    | Command::Pfwd(..)
                    | Command::Rfwd(_) => continue,
                    Command::New(n) => Some(vec![n.rcv_auth_key]),
                    Command::Skey(k) | Command::Lkey(k) => Some(vec![k]),
                    Command::Send { .. } => match st
                        .store
                        .by_sender
                        .get(id)
                        .and_then(|r| st.store.queues.get(r))
                    {
                        Some(q) => match &q.rec.sender_key {
                            Some(k) => Some(vec![k.clone()]),
                            None => continue,
                        },
                        None => None,
                    },
                    Command::Nsub => st
                        .store
                        .by_notifier
                        .get(id)
                        .and_then(|r| st.store.queues.get(r))
                        .and_then(|q| q.rec.notifier.as_ref())
                        .map(|n| vec![n.key.clone()]),
                    _ => st
                        .store
                        .queues
                        .get(id)
                        .map(|q| q.rec.recipient_keys.clone()),
                };
                wanted.push((i, authorized, keys));
            }
        }
        let durable = std::cell::RefCell::new(None);
        let mut batch: Vec<(usize, PublicKey)> = Vec::new();
        for (i, authorized, keys) in &wanted {
            let t = &ts[*i];
            let empty = Pre::default();
            let v = Verifier {
                relay: self,
                conn,
                t,
                authorized,
                durable: &durable,
                pre: &empty,
            };
            match keys {
                None => {
                    v.dummy();
                    pres[*i].dummy_done = true;
                }
                Some(keys) => {
                    for k in keys {
                        let sig_fits = matches!(
                            (k.algorithm(), t.authorization.len()),
                            (KeyAlgorithm::Ed25519, 64)
                        );
                        if sig_fits && t.auth_kind() == Ok(AuthKind::Signature) {
                            batch.push((*i, k.clone()));
                        } else {
                            let ok = v.verify(k);
                            pres[*i].checked.push((k.clone(), ok));
                        }
                    }
                }
            }
        }
        if !batch.is_empty() {
            let signed: Vec<&[u8]> = batch
                .iter()
                .map(|(i, _)| {
                    wanted
                        .iter()
                        .find(|w| w.0 == *i)
                        .map_or(&[][..], |w| w.1.as_slice())
                })
                .collect();
            let items: Vec<(&PublicKey, &[u8], &[u8])> = batch
                .iter()
                .zip(&signed)
                .map(|((i, k), m)| (k, *m, ts[*i].authorization.as_slice()))
                .collect();
            let results = simplex_crypto::verify_many(&items);
            for ((i, k), ok) in batch.into_iter().zip(results) {
                pres[i].checked.push((k, ok));
            }
        }
        pres
    }

    fn handle_with(
        &self,
        conn: &Conn,
        t: &Transmission,
        durable: &std::cell::RefCell<Option<Durable>>,
        pre: &Pre,
    ) -> Vec<Outgoing> {
        let reply = |msg| Outgoing {
            corr_id: t.corr_id.clone(),
            entity_id: t.entity_id.clone(),
            msg,
        };
        let auth = match t.auth_kind() {
            Ok(a) => a,
            Err(_) => {
                return vec![Outgoing {
                    corr_id: t.corr_id.clone(),
                    entity_id: Vec::new(),
                    msg: err(ErrorType::Block),
                }]
            }
        };
        if conn.version < smp_proto::version::IMPLIED_SESSION_ID && t.session_id != conn.session_id
        {
            return vec![Outgoing {
                corr_id: t.corr_id.clone(),
                entity_id: Vec::new(),
                msg: err(ErrorType::Session),
            }];
        }
        let cmd = match Command::parse(conn.version, &t.command).and_then(|c| {
            c.check_credentials(auth != AuthKind::None, &t.entity_id)
                .map(|()| c)
        }) {
            Ok(c) => c,
            Err(e) => return vec![reply(err(e))],
        };
        let authorized = match t.authorized(&conn.session_id) {
            Ok(a) => a,
            Err(_) => return vec![reply(err(ErrorType::Block))],
        };
        let v = Verifier {
            relay: self,
            conn,
            t,
            authorized: &authorized,
            durable,
            pre,
        };
        self.run(conn, t, &v, cmd)
            .into_iter()
            .map(|(corr, msg)| Outgoing {
                corr_id: if corr { t.corr_id.clone() } else { Vec::new() },
                entity_id: t.entity_id.clone(),
                msg,
            })
            .collect()
    }

    /// Runs a parsed command; `(true, msg)` answers with the command's corrId, `(false, msg)`
    /// is a message with an empty corrId (the first MSG after SUB).
    fn run(
        &self,
        conn: &Conn,
        t: &Transmission,
        v: &Verifier<'_>,
        cmd: Command,
    ) -> Vec<(bool, BrokerMsg)> {
        let one = |m| vec![(true, m)];
        let id = &t.entity_id;
        match cmd {
            Command::Ping => one(BrokerMsg::Pong),
            Command::New(n) => {
                if !v.verify(&n.rcv_auth_key) {
                    return one(err(ErrorType::Auth));
                }
                one(self.create(conn, v, n))
            }
            Command::Send { notification, body } => one(self.send(conn, v, id, notification, body)),
            Command::Skey(k) => one(self.secure_by_sender(v, id, k, false)),
            Command::Lkey(k) => one(self.secure_by_sender(v, id, k, true)),
            Command::Lget => {
                let st = self.lock();
                let Some(q) = st
                    .store
                    .by_link
                    .get(id)
                    .and_then(|r| st.store.queues.get(r))
                else {
                    v.dummy();
                    return one(err(ErrorType::Auth));
                };
                one(match (&q.rec.link, q.rec.is_contact()) {
                    (Some((_, d)), true) => BrokerMsg::Lnk(q.rec.sender_id.clone(), d.clone()),
                    _ => err(ErrorType::Auth),
                })
            }
            Command::Nsub => {
                let st = self.lock();
                let n = st
                    .store
                    .by_notifier
                    .get(id)
                    .and_then(|r| st.store.queues.get(r))
                    .and_then(|q| q.rec.notifier.clone());
                match n {
                    Some(n) if v.verify(&n.key) => one(BrokerMsg::Sok(None)),
                    Some(_) => one(err(ErrorType::Auth)),
                    None => {
                        v.dummy();
                        one(err(ErrorType::Auth))
                    }
                }
            }
            // No service certificates: service commands fail their verification.
            Command::Subs | Command::Nsubs => one(err(ErrorType::Service)),
            Command::Rfwd(enc) => {
                self.stats.inc(|s| &s.p_msg_fwds_recv);
                one(self.forwarded(conn, v, &enc))
            }
            // The proxy commands are served by the connection (they wait for another relay);
            // without a proxy they are refused as the reference refuses them.
            Command::Prxy(_) => one(err(ErrorType::Proxy(ProxyError::BasicAuth))),
            Command::Pfwd(..) => one(err(ErrorType::Proxy(ProxyError::NoSession))),
            cmd => self.recipient(conn, v, id, cmd),
        }
    }

    /// RFWD: a transmission a proxy forwards from its client (the destination side of private
    /// routing). Only SEND, SKEY, LKEY and LGET may come this way, one per RFWD.
    fn forwarded(&self, conn: &Conn, v: &Verifier<'_>, enc: &[u8]) -> BrokerMsg {
        use smp_proto::proxy::{reverse_nonce, FwdResponse, FwdTransmission, PADDED_PROXIED_LEN};
        let no_auth = || {
            err(ErrorType::Proxy(ProxyError::Broker(
                b"TRANSPORT NO_AUTH".to_vec(),
            )))
        };
        let (Some(server_key), Some(secret)) = (&conn.session_key, &conn.session_secret) else {
            return no_auth();
        };
        let Ok(proxy_nonce) = <[u8; 24]>::try_from(v.t.corr_id.as_slice()) else {
            return err(ErrorType::Crypto);
        };
        let Ok(plain) = cryptobox::open(secret, &SbNonce(proxy_nonce), enc) else {
            return err(ErrorType::Crypto);
        };
        let Ok(fwd) = FwdTransmission::decode(&plain) else {
            return err(ErrorType::Cmd(CommandError::Syntax));
        };
        let Ok(client_nonce) = <[u8; 24]>::try_from(fwd.corr_id.as_slice()) else {
            return err(ErrorType::Crypto);
        };
        let Ok(client_secret) = cryptobox::shared_key(server_key, &fwd.key) else {
            return err(ErrorType::Crypto);
        };
        let content = cryptobox::open(&client_secret, &SbNonce(client_nonce), &fwd.enc)
            .ok()
            .and_then(|p| unpad(&p).ok().map(<[u8]>::to_vec));
        let Some(content) = content else {
            return err(ErrorType::Crypto);
        };
        let version = fwd.version;
        if !smp_proto::version::SUPPORTED.contains(version) {
            return no_auth();
        }
        let t = match smp_proto::block::decode_content(&content).as_deref() {
            Ok([one]) => Transmission::decode(one, version),
            _ => return err(ErrorType::Block),
        };
        // The forwarded transmission runs as if the client were connected at its version,
        // on this (the proxy's) session.
        let inner = Conn {
            id: conn.id,
            version,
            session_id: conn.session_id.clone(),
            session_key: conn.session_key.clone(),
            session_secret: None,
        };
        let answer = match t {
            Err(_) => Outgoing {
                corr_id: Vec::new(),
                entity_id: Vec::new(),
                msg: err(ErrorType::Block),
            },
            Ok(t) => {
                let allowed = matches!(
                    Command::parse(version, &t.command),
                    Ok(Command::Send { .. } | Command::Skey(_) | Command::Lkey(_) | Command::Lget)
                ) || Command::parse(version, &t.command).is_err();
                if allowed {
                    let (mut answers, d) = self.handle_block(&inner, std::slice::from_ref(&t));
                    v.add_durable(d);
                    if answers.is_empty() {
                        return err(ErrorType::Internal);
                    }
                    answers.swap_remove(0)
                } else {
                    Outgoing {
                        corr_id: t.corr_id.clone(),
                        entity_id: t.entity_id.clone(),
                        msg: err(ErrorType::Cmd(CommandError::Prohibited)),
                    }
                }
            }
        };
        let encoded = answer.msg.encode(version).ok().and_then(|command| {
            let t = Transmission {
                corr_id: answer.corr_id,
                entity_id: answer.entity_id,
                command,
                ..Transmission::default()
            };
            let bytes = t.encode(version).ok()?;
            let content = smp_proto::block::encode_content(&[bytes]).ok()?;
            pad(&content, PADDED_PROXIED_LEN).ok()
        });
        let Some(padded) = encoded else {
            return err(ErrorType::Block);
        };
        let to_client = cryptobox::seal(
            &client_secret,
            &SbNonce(reverse_nonce(&client_nonce)),
            &padded,
        );
        let response = FwdResponse {
            corr_id: fwd.corr_id,
            enc: to_client,
        };
        match response.encode() {
            Ok(r) => BrokerMsg::Rres(cryptobox::seal(
                secret,
                &SbNonce(reverse_nonce(&proxy_nonce)),
                &r,
            )),
            Err(_) => err(ErrorType::Internal),
        }
    }

    fn create(&self, conn: &Conn, v: &Verifier<'_>, n: NewQueue) -> BrokerMsg {
        let corr_id = &v.t.corr_id;
        let allowed = self.config.allow_new_queues
            && self
                .config
                .create_password
                .as_ref()
                .is_none_or(|p| n.basic_auth.as_ref() == Some(p));
        if !allowed {
            return err(ErrorType::Auth);
        }
        let Ok((srv_pub, srv_priv)) = simplex_crypto::generate(KeyAlgorithm::X25519) else {
            return err(ErrorType::Internal);
        };
        let Ok(rcv_dh_secret) = cryptobox::shared_key(&srv_priv, &n.rcv_dh_key) else {
            return err(ErrorType::Internal);
        };
        let ntf = match &n.ntf_creds {
            None => None,
            Some((key, dh)) => {
                let Ok((pub_, priv_)) = simplex_crypto::generate(KeyAlgorithm::X25519) else {
                    return err(ErrorType::Internal);
                };
                let Ok(secret) = cryptobox::shared_key(&priv_, dh) else {
                    return err(ErrorType::Internal);
                };
                Some((key.clone(), secret, pub_))
            }
        };
        // A sender id chosen by the client must be SHA3-384(corrId)[..24]: a NEW cannot be
        // used to probe whether some queue id exists.
        let (client_ids, sender_id, link) = match &n.request {
            Some(QueueRequest::Messaging(Some((sid, d)))) => {
                (true, sid.clone(), Some((random_id(), d.clone())))
            }
            Some(QueueRequest::Contact(Some((lid, sid, d)))) => {
                (true, sid.clone(), Some((lid.clone(), d.clone())))
            }
            _ => (false, random_id(), None),
        };
        if client_ids {
            let expected = simplex_crypto::digest::sha3_384(corr_id);
            if !expected.is_ok_and(|h| h[..24] == sender_id[..]) {
                return err(ErrorType::Cmd(CommandError::Prohibited));
            }
        }
        let mode = n.request.as_ref().map(|r| match r {
            QueueRequest::Messaging(_) => QueueMode::Messaging,
            QueueRequest::Contact(_) => QueueMode::Contact,
        });
        let mut st = self.lock();
        for _ in 0..3 {
            let rcv_id = random_id();
            let (sender_id, link) = if client_ids {
                (sender_id.clone(), link.clone())
            } else {
                (random_id(), None)
            };
            let notifier_id = ntf.as_ref().map(|_| random_id());
            let taken = st.store.queues.contains_key(&rcv_id)
                || st.store.by_sender.contains_key(&sender_id)
                || link
                    .as_ref()
                    .is_some_and(|(l, _)| st.store.by_link.contains_key(l))
                || notifier_id
                    .as_ref()
                    .is_some_and(|n| st.store.by_notifier.contains_key(n));
            if taken {
                if client_ids {
                    return err(ErrorType::Auth);
                }
                continue;
            }
            let rec = QueueRec {
                rcv_id: rcv_id.clone(),
                recipient_keys: vec![n.rcv_auth_key.clone()],
                rcv_dh_secret: rcv_dh_secret.clone(),
                sender_id: sender_id.clone(),
                sender_key: None,
                mode,
                link: link.clone(),
                notifier: match (&ntf, &notifier_id) {
                    (Some((key, secret, _)), Some(id)) => Some(Notifier {
                        id: id.clone(),
                        key: key.clone(),
                        dh_secret: secret.clone(),
                    }),
                    _ => None,
                },
                status: Status::Active,
                updated_at: Some(day((self.clock)())),
            };
            if !v.log(&mut st, storelog::create_line(&rec)) {
                return err(ErrorType::Internal);
            }
            st.store.insert(rec);
            self.stats.inc(|s| &s.q_created);
            if n.subscribe {
                st.subs.insert(
                    rcv_id.clone(),
                    Sub {
                        conn: conn.id,
                        delivered: None,
                    },
                );
                st.conn_subs
                    .entry(conn.id)
                    .or_default()
                    .insert(rcv_id.clone());
            }
            return BrokerMsg::Ids(QueueIds {
                rcv_id,
                snd_id: sender_id,
                srv_dh_key: srv_pub,
                messaging: mode.map(|m| m == QueueMode::Messaging),
                link_id: link.map(|(l, _)| l),
                service_id: None,
                ntf_creds: match (notifier_id, ntf) {
                    (Some(id), Some((_, _, pub_))) => Some((id, pub_)),
                    _ => None,
                },
            });
        }
        err(ErrorType::Internal)
    }

    fn send(
        &self,
        conn: &Conn,
        v: &Verifier<'_>,
        sid: &[u8],
        notification: bool,
        body: Vec<u8>,
    ) -> BrokerMsg {
        let mut st = self.lock();
        if st.closing {
            return err(ErrorType::Internal);
        }
        let Some(rid) = st.store.by_sender.get(sid).cloned() else {
            v.dummy();
            return err(ErrorType::Auth);
        };
        let Some(q) = st.store.queues.get_mut(&rid) else {
            return err(ErrorType::Internal);
        };
        let authorized = match &q.rec.sender_key {
            None => v.t.authorization.is_empty(),
            Some(k) => v.verify(k),
        };
        if !authorized {
            self.stats.inc(|s| &s.msg_sent_auth);
            return err(ErrorType::Auth);
        }
        if body.len() > max_message_len(conn.version) {
            self.stats.inc(|s| &s.msg_sent_large);
            return err(ErrorType::LargeMsg);
        }
        match &q.rec.status {
            Status::Off => return err(ErrorType::Auth),
            Status::Blocked(info) => return err(ErrorType::Blocked(info.clone())),
            Status::Active => {}
        }
        if q.rec.link.is_some() && q.rec.is_secured_messaging() {
            // The link has served its purpose: a secured messaging queue's data is deleted.
            if v.log(&mut st, storelog::rid_line("LDELETE", &rid)) {
                if let Some((l, _)) = st
                    .store
                    .queues
                    .get_mut(&rid)
                    .and_then(|q| q.rec.link.take())
                {
                    st.store.by_link.remove(&l);
                }
            }
        }
        let now = (self.clock)();
        if let (true, Some(ttl)) = (self.config.expire_on_send, self.config.message_ttl) {
            let n = Self::expire_queue(&mut st, &rid, now - ttl);
            if n > 0 {
                self.stats
                    .msg_expired
                    .fetch_add(n as u64, Ordering::Relaxed);
                v.journaled(&st);
            }
        }
        let mut id = [0u8; ID_LEN];
        simplex_crypto::random_bytes(&mut id);
        let msg = Message {
            id,
            ts: now,
            body: Some((notification, body)),
        };
        let State { store, journal, .. } = &mut *st;
        let Some(q) = store.queues.get_mut(&rid) else {
            return err(ErrorType::Internal);
        };
        if let (Some(js), Some(stores)) = (journal.as_ref(), q.msgs.would_store()) {
            let marker;
            let written = if stores {
                &msg
            } else {
                marker = Message { body: None, ..msg };
                &marker
            };
            if let Err(e) = js.write(&rid, &mut q.journal, written) {
                tracing::error!("journal: cannot write a message: {e}");
                return err(ErrorType::Store("writeMsg".into()));
            }
            v.add_durable(js.ticket());
        }
        match q.msgs.write(msg) {
            Written::Quota => {
                self.stats.inc(|s| &s.msg_sent_quota);
                err(ErrorType::Quota)
            }
            Written::Stored(was_empty) => {
                self.stats.inc(|s| &s.msg_sent);
                self.stats.active_queue(&rid);
                if was_empty {
                    self.try_deliver(&mut st, &rid);
                }
                BrokerMsg::Ok
            }
        }
    }

    /// Pushes the first message to the queue's subscriber if it has nothing unacknowledged.
    fn try_deliver(&self, st: &mut State, rid: &[u8]) {
        let Some(sub) = st.subs.get(rid).cloned() else {
            return;
        };
        if sub.delivered.is_some() {
            return;
        }
        let Some(q) = st.store.queues.get(rid) else {
            return;
        };
        let Some(m) = q.msgs.peek().cloned() else {
            return;
        };
        let Some((_, tx)) = st.pushers.get(&sub.conn) else {
            return;
        };
        let msg = encrypt_msg(&q.rec, &m);
        let push = Outgoing {
            corr_id: Vec::new(),
            entity_id: rid.to_vec(),
            msg,
        };
        // A connection too slow to take it gets the message on its next SUB or ACK.
        if tx.try_send(push).is_ok() {
            if let Some(s) = st.subs.get_mut(rid) {
                s.delivered = Some(m.id);
            }
        }
    }

    fn secure_by_sender(
        &self,
        v: &Verifier<'_>,
        id: &[u8],
        k: PublicKey,
        by_link: bool,
    ) -> BrokerMsg {
        let mut st = self.lock();
        let index = if by_link {
            &st.store.by_link
        } else {
            &st.store.by_sender
        };
        let Some(rid) = index.get(id).cloned() else {
            v.dummy();
            return err(ErrorType::Auth);
        };
        let Some(q) = st.store.queues.get_mut(&rid) else {
            return err(ErrorType::Internal);
        };
        // Only a messaging queue, not yet secured or secured with this same key.
        let allowed = q.rec.mode == Some(QueueMode::Messaging)
            && q.rec.sender_key.as_ref().is_none_or(|s| *s == k);
        if !allowed {
            v.dummy();
            return err(ErrorType::Auth);
        }
        if !v.verify(&k) {
            return err(ErrorType::Auth);
        }
        if q.rec.sender_key.is_none() {
            if !v.log(&mut st, storelog::secure_line(&rid, &k)) {
                return err(ErrorType::Internal);
            }
            self.stats.inc(|s| &s.q_secured);
        }
        let Some(q) = st.store.queues.get_mut(&rid) else {
            return err(ErrorType::Internal);
        };
        q.rec.sender_key = Some(k);
        if by_link {
            match &q.rec.link {
                Some((_, d)) => BrokerMsg::Lnk(q.rec.sender_id.clone(), d.clone()),
                None => err(ErrorType::Auth),
            }
        } else {
            BrokerMsg::Ok
        }
    }

    /// Commands of the recipient, signed with one of its keys.
    fn recipient(
        &self,
        conn: &Conn,
        v: &Verifier<'_>,
        rid: &[u8],
        cmd: Command,
    ) -> Vec<(bool, BrokerMsg)> {
        let one = |m| vec![(true, m)];
        let mut st = self.lock();
        if st.closing {
            return one(err(ErrorType::Internal));
        }
        let Some(q) = st.store.queues.get(rid) else {
            v.dummy();
            return one(err(ErrorType::Auth));
        };
        if !q.rec.recipient_keys.iter().any(|k| v.verify(k)) {
            match cmd {
                Command::Sub => self.stats.inc(|s| &s.q_sub_auth),
                Command::Get => self.stats.inc(|s| &s.msg_get_auth),
                _ => {}
            }
            return one(err(ErrorType::Auth));
        }
        if let Status::Blocked(info) = &q.rec.status {
            if !matches!(cmd, Command::Off | Command::Del) {
                return one(err(ErrorType::Blocked(info.clone())));
            }
        }
        let st = &mut *st;
        match cmd {
            Command::Sub => self.subscribe(st, conn, rid),
            Command::Get => one(self.get(st, conn, rid)),
            Command::Ack(msg_id) => one(self.ack(st, conn, v, rid, &msg_id)),
            Command::Key(k) => {
                let current = st.store.queues.get(rid).map(|q| q.rec.sender_key.clone());
                one(match current {
                    Some(Some(s)) if s != k => err(ErrorType::Auth),
                    Some(Some(_)) => BrokerMsg::Ok,
                    Some(None) => {
                        if !v.log(st, storelog::secure_line(rid, &k)) {
                            return one(err(ErrorType::Internal));
                        }
                        self.stats.inc(|s| &s.q_secured);
                        if let Some(q) = st.store.queues.get_mut(rid) {
                            q.rec.sender_key = Some(k);
                        }
                        BrokerMsg::Ok
                    }
                    None => err(ErrorType::Internal),
                })
            }
            Command::Rkey(keys) => {
                let contact = st
                    .store
                    .queues
                    .get(rid)
                    .is_some_and(|q| q.rec.mode == Some(QueueMode::Contact));
                if !contact {
                    return one(err(ErrorType::Auth));
                }
                if !v.log(st, storelog::keys_line(rid, &keys)) {
                    return one(err(ErrorType::Internal));
                }
                if let Some(q) = st.store.queues.get_mut(rid) {
                    q.rec.recipient_keys = keys;
                }
                one(BrokerMsg::Ok)
            }
            Command::Lset(lid, data) => one(self.set_link(st, v, rid, lid, data)),
            Command::Ldel => {
                let has_link = st
                    .store
                    .queues
                    .get(rid)
                    .is_some_and(|q| q.rec.link.is_some());
                if has_link {
                    if !v.log(st, storelog::rid_line("LDELETE", rid)) {
                        return one(err(ErrorType::Internal));
                    }
                    if let Some((l, _)) =
                        st.store.queues.get_mut(rid).and_then(|q| q.rec.link.take())
                    {
                        st.store.by_link.remove(&l);
                    }
                }
                one(BrokerMsg::Ok)
            }
            Command::Nkey(key, dh) => one(self.add_notifier(st, v, rid, key, &dh)),
            Command::Ndel => {
                let has = st
                    .store
                    .queues
                    .get(rid)
                    .is_some_and(|q| q.rec.notifier.is_some());
                if has {
                    if !v.log(st, storelog::rid_line("NDELETE", rid)) {
                        return one(err(ErrorType::Internal));
                    }
                    if let Some(n) = st
                        .store
                        .queues
                        .get_mut(rid)
                        .and_then(|q| q.rec.notifier.take())
                    {
                        st.store.by_notifier.remove(&n.id);
                    }
                }
                one(BrokerMsg::Ok)
            }
            Command::Off => {
                let active = st
                    .store
                    .queues
                    .get(rid)
                    .is_some_and(|q| q.rec.status == Status::Active);
                if active {
                    if !v.log(st, storelog::rid_line("SUSPEND", rid)) {
                        return one(err(ErrorType::Internal));
                    }
                    if let Some(q) = st.store.queues.get_mut(rid) {
                        q.rec.status = Status::Off;
                    }
                }
                one(BrokerMsg::Ok)
            }
            Command::Del => {
                if !v.log(st, storelog::rid_line("DELETE", rid)) {
                    return one(err(ErrorType::Internal));
                }
                let secured = st
                    .store
                    .queues
                    .get(rid)
                    .is_some_and(|q| q.rec.sender_key.is_some());
                self.stats.inc(|s| &s.q_deleted_all);
                if secured {
                    self.stats.inc(|s| &s.q_deleted_secured);
                } else {
                    self.stats.inc(|s| &s.q_deleted_new);
                }
                self.delete_queue(st, conn, rid);
                one(BrokerMsg::Ok)
            }
            Command::Que => {
                // This connection's subscription to the queue, if any: by SUB, or taken by
                // GET (subscribing prohibited); the message delivered and not acknowledged.
                let sub = match (st.subs.get(rid), st.gets.get(&(conn.id, rid.to_vec()))) {
                    (Some(s), _) if s.conn == conn.id => Some(("subThread", s.delivered)),
                    (_, Some(d)) => Some(("prohibitSub", *d)),
                    _ => None,
                };
                one(match st.store.queues.get(rid) {
                    Some(q) => BrokerMsg::Info(queue_info_json(q, sub).into_bytes()),
                    None => err(ErrorType::Internal),
                })
            }
            _ => one(err(ErrorType::Internal)),
        }
    }

    fn subscribe(&self, st: &mut State, conn: &Conn, rid: &[u8]) -> Vec<(bool, BrokerMsg)> {
        let key = (conn.id, rid.to_vec());
        if st.gets.contains_key(&key) {
            self.stats.inc(|s| &s.q_sub_prohibited);
            return vec![(true, err(ErrorType::Cmd(CommandError::Prohibited)))];
        }
        if st.subs.get(rid).is_some_and(|s| s.conn == conn.id) {
            self.stats.inc(|s| &s.q_sub_duplicate);
        } else {
            self.stats.inc(|s| &s.q_sub);
        }
        let previous = st.subs.insert(
            rid.to_vec(),
            Sub {
                conn: conn.id,
                delivered: None,
            },
        );
        st.conn_subs
            .entry(conn.id)
            .or_default()
            .insert(rid.to_vec());
        if let Some(p) = previous.filter(|p| p.conn != conn.id) {
            if let Some(set) = st.conn_subs.get_mut(&p.conn) {
                set.remove(rid);
            }
            if let Some((_, tx)) = st.pushers.get(&p.conn) {
                let _ = tx.try_send(Outgoing {
                    corr_id: Vec::new(),
                    entity_id: rid.to_vec(),
                    msg: BrokerMsg::End,
                });
                self.stats.inc(|s| &s.q_sub_end);
            }
        }
        let mut out = vec![(true, BrokerMsg::Sok(None))];
        if let Some(q) = st.store.queues.get(rid) {
            if let Some(m) = q.msgs.peek() {
                out.push((false, encrypt_msg(&q.rec, m)));
                let id = m.id;
                if let Some(s) = st.subs.get_mut(rid) {
                    s.delivered = Some(id);
                }
            }
        }
        out
    }

    fn get(&self, st: &mut State, conn: &Conn, rid: &[u8]) -> BrokerMsg {
        if st.subs.get(rid).is_some_and(|s| s.conn == conn.id) {
            self.stats.inc(|s| &s.msg_get_prohibited);
            return err(ErrorType::Cmd(CommandError::Prohibited));
        }
        let Some(q) = st.store.queues.get(rid) else {
            return err(ErrorType::Internal);
        };
        match q.msgs.peek() {
            Some(m) => {
                self.stats.inc(|s| &s.msg_get);
                let msg = encrypt_msg(&q.rec, m);
                st.gets.insert((conn.id, rid.to_vec()), Some(m.id));
                msg
            }
            None => {
                self.stats.inc(|s| &s.msg_get_no_msg);
                st.gets.entry((conn.id, rid.to_vec())).or_insert(None);
                BrokerMsg::Ok
            }
        }
    }

    fn ack(
        &self,
        st: &mut State,
        conn: &Conn,
        v: &Verifier<'_>,
        rid: &[u8],
        msg_id: &[u8],
    ) -> BrokerMsg {
        let matches =
            |d: &Option<[u8; ID_LEN]>| d.is_some_and(|d| msg_id.is_empty() || d[..] == *msg_id);
        let get_key = (conn.id, rid.to_vec());
        if let Some(d) = st.gets.get(&get_key) {
            if !matches(d) {
                return err(ErrorType::NoMsg);
            }
            let delivered = d.unwrap_or_default();
            match Self::delete_msg(st, rid, &delivered) {
                Err(e) => return err(e),
                Ok(true) => {
                    self.stats.inc(|s| &s.msg_recv_get);
                    self.stats.active_queue(rid);
                }
                Ok(false) => {}
            }
            v.journaled(st);
            st.gets.insert(get_key, None);
            return BrokerMsg::Ok;
        }
        let Some(sub) = st.subs.get(rid).filter(|s| s.conn == conn.id).cloned() else {
            return err(ErrorType::NoMsg);
        };
        if !matches(&sub.delivered) {
            return err(ErrorType::NoMsg);
        }
        let delivered = sub.delivered.unwrap_or_default();
        match Self::delete_msg(st, rid, &delivered) {
            Err(e) => return err(e),
            Ok(true) => {
                self.stats.inc(|s| &s.msg_recv);
                self.stats.active_queue(rid);
            }
            Ok(false) => {}
        }
        v.journaled(st);
        let Some(q) = st.store.queues.get_mut(rid) else {
            return err(ErrorType::Internal);
        };
        let next = q.msgs.peek().cloned();
        let answer = match &next {
            Some(m) => encrypt_msg(&q.rec, m),
            None => BrokerMsg::Ok,
        };
        if let Some(s) = st.subs.get_mut(rid) {
            s.delivered = next.map(|m| m.id);
        }
        answer
    }

    fn set_link(
        &self,
        st: &mut State,
        v: &Verifier<'_>,
        rid: &[u8],
        lid: Vec<u8>,
        data: LinkData,
    ) -> BrokerMsg {
        let Some(q) = st.store.queues.get_mut(rid) else {
            return err(ErrorType::Internal);
        };
        if q.rec.is_secured_messaging() {
            return err(ErrorType::Auth);
        }
        match &q.rec.link {
            // The link id never changes, nor the fixed data.
            Some((l, d)) if *l != lid || d.fixed != data.fixed => return err(ErrorType::Auth),
            _ => {}
        }
        // A link id another queue holds is not taken over (its readers would get this
        // queue's data); the reference's in-memory store would overwrite the index.
        if st
            .store
            .by_link
            .get(&lid)
            .is_some_and(|r| r.as_slice() != rid)
        {
            return err(ErrorType::Auth);
        }
        if !v.log(st, storelog::link_line(rid, &lid, &data)) {
            return err(ErrorType::Internal);
        }
        if let Some(q) = st.store.queues.get_mut(rid) {
            q.rec.link = Some((lid.clone(), data));
        }
        st.store.by_link.insert(lid, rid.to_vec());
        BrokerMsg::Ok
    }

    fn add_notifier(
        &self,
        st: &mut State,
        v: &Verifier<'_>,
        rid: &[u8],
        key: PublicKey,
        dh: &PublicKey,
    ) -> BrokerMsg {
        let Ok((pub_, priv_)) = simplex_crypto::generate(KeyAlgorithm::X25519) else {
            return err(ErrorType::Internal);
        };
        let Ok(secret) = cryptobox::shared_key(&priv_, dh) else {
            return err(ErrorType::Internal);
        };
        for _ in 0..3 {
            let id = random_id();
            if st.store.by_notifier.contains_key(&id) {
                continue;
            }
            let n = Notifier {
                id: id.clone(),
                key,
                dh_secret: secret,
            };
            if !v.log(st, storelog::notifier_line(rid, &n)) {
                return err(ErrorType::Internal);
            }
            let Some(q) = st.store.queues.get_mut(rid) else {
                return err(ErrorType::Internal);
            };
            if let Some(old) = q.rec.notifier.replace(n) {
                st.store.by_notifier.remove(&old.id);
            }
            st.store.by_notifier.insert(id.clone(), rid.to_vec());
            return BrokerMsg::Nid(id, pub_);
        }
        err(ErrorType::Internal)
    }

    fn delete_queue(&self, st: &mut State, conn: &Conn, rid: &[u8]) {
        if st.store.remove(rid).is_none() {
            return;
        }
        if let Some(js) = &st.journal {
            js.remove(rid);
        }
        if let Some(sub) = st.subs.remove(rid) {
            if let Some(set) = st.conn_subs.get_mut(&sub.conn) {
                set.remove(rid);
            }
            if sub.conn != conn.id {
                if let Some((_, tx)) = st.pushers.get(&sub.conn) {
                    let _ = tx.try_send(Outgoing {
                        corr_id: Vec::new(),
                        entity_id: rid.to_vec(),
                        msg: BrokerMsg::Deld,
                    });
                }
            }
        }
        st.gets.retain(|(_, r), _| r != rid);
    }
}

/// A queue's information (QUE's answer, the reference's `QueueInfo` JSON): secured by its
/// sender, with notifications, the asking connection's subscription (its state and the
/// message delivered), the messages stored, and the first of them.
fn queue_info_json(q: &storelog::Queue, sub: Option<(&str, Option<[u8; ID_LEN]>)>) -> String {
    use base64::Engine;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let mut s = format!(
        "{{\"qiSnd\":{},\"qiNtf\":{}",
        q.rec.sender_key.is_some(),
        q.rec.notifier.is_some()
    );
    if let Some((thread, delivered)) = sub {
        s.push_str(&format!(",\"qiSub\":{{\"qSubThread\":\"{thread}\""));
        if let Some(id) = delivered {
            s.push_str(&format!(",\"qDelivered\":\"{}\"", b64(&id)));
        }
        s.push('}');
    }
    s.push_str(&format!(",\"qiSize\":{}", q.msgs.len()));
    if let Some(m) = q.msgs.peek() {
        s.push_str(&format!(
            ",\"qiMsg\":{{\"msgId\":\"{}\",\"msgTs\":\"{}\",\"msgType\":\"{}\"}}",
            b64(&m.id),
            simplex_codec::time::UtcTime::from_millis(m.ts.saturating_mul(1000)),
            if m.body.is_some() { "message" } else { "quota" }
        ));
    }
    s.push('}');
    s
}

fn base64url_of(b: &[u8]) -> String {
    simplex_codec::base64url::encode(b)
}

/// Seconds at the start of the day of `t`.
fn day(t: i64) -> i64 {
    t - t.rem_euclid(86_400)
}

/// The MSG for the recipient: `crypto_box(rcvDhSecret, msgId, pad(ts ‖ flags ‖ ' ' ‖ body))`,
/// or for the quota marker `pad("QUOTA " ‖ ts)`.
pub fn encrypt_msg(rec: &QueueRec, m: &Message) -> BrokerMsg {
    let mut plain = Vec::with_capacity(16 + m.body.as_ref().map_or(0, |b| b.1.len()));
    match &m.body {
        Some((notification, body)) => {
            plain.extend_from_slice(&m.ts.to_be_bytes());
            plain.push(if *notification { b'T' } else { b'F' });
            plain.push(b' ');
            plain.extend_from_slice(body);
        }
        None => {
            plain.extend_from_slice(b"QUOTA ");
            plain.extend_from_slice(&m.ts.to_be_bytes());
        }
    }
    match pad(&plain, RCV_MSG_PADDED) {
        Ok(padded) => BrokerMsg::Msg(
            m.id.to_vec(),
            cryptobox::seal(&rec.rcv_dh_secret, &SbNonce(m.id), &padded),
        ),
        Err(_) => BrokerMsg::Err(ErrorType::Internal),
    }
}

/// Signature checks made before the lock was taken.
#[derive(Debug, Default)]
struct Pre {
    /// Keys already checked, with the result.
    checked: Vec<(PublicKey, bool)>,
    /// The dummy check for an unknown id was made.
    dummy_done: bool,
}

/// Checks a transmission's authorization against a key, as the reference does.
struct Verifier<'a> {
    relay: &'a Relay,
    conn: &'a Conn,
    t: &'a Transmission,
    authorized: &'a [u8],
    /// The store-log record this command wrote.
    durable: &'a std::cell::RefCell<Option<Durable>>,
    /// What was checked before the lock.
    pre: &'a Pre,
}

impl Verifier<'_> {
    /// The answer waits for `d` too.
    fn add_durable(&self, d: Durable) {
        let mut cur = self.durable.borrow_mut();
        *cur = Some(match cur.take() {
            Some(c) => c.and(d),
            None => d,
        });
    }

    /// The answer waits for the journal writes made so far (when messages are journaled).
    fn journaled(&self, st: &State) {
        if let Some(js) = &st.journal {
            self.add_durable(js.ticket());
        }
    }

    /// Appends a record before the change is made; `false` (and a logged cause) if it could
    /// not be written: the change must then not be made.
    fn log(&self, st: &mut State, line: String) -> bool {
        let Some(log) = st.log.as_mut() else {
            return true;
        };
        match log.append(&line) {
            Ok(d) => {
                self.add_durable(d);
                true
            }
            Err(e) => {
                tracing::error!("store log: cannot write a record: {e}");
                false
            }
        }
    }

    /// Whether the transmission is authorized by `key`.
    fn verify(&self, key: &PublicKey) -> bool {
        if let Some((_, ok)) = self.pre.checked.iter().find(|(k, _)| k == key) {
            return *ok;
        }
        let auth = &self.t.authorization;
        match self.t.auth_kind() {
            Ok(AuthKind::Signature) => {
                let matches = matches!(
                    (key.algorithm(), auth.len()),
                    (KeyAlgorithm::Ed25519, 64) | (KeyAlgorithm::Ed448, 114)
                );
                if matches {
                    simplex_crypto::verify(key, self.authorized, auth)
                } else {
                    self.dummy();
                    false
                }
            }
            Ok(AuthKind::Authenticator) => match (&self.conn.session_key, key.algorithm()) {
                (Some(ours), KeyAlgorithm::X25519) => simplex_crypto::dh(ours, key)
                    .map(|s| {
                        simplex_crypto::verify_authenticator(
                            &s,
                            &self.t.corr_id,
                            self.authorized,
                            auth,
                        )
                    })
                    .unwrap_or(false),
                _ => {
                    self.dummy();
                    false
                }
            },
            _ => false,
        }
    }

    /// The same work as a real check, for ids that do not exist (no timing oracle).
    fn dummy(&self) {
        if self.pre.dummy_done {
            return;
        }
        let auth = &self.t.authorization;
        let _ = match auth.len() {
            64 => simplex_crypto::verify(&self.relay.dummy_ed25519, self.authorized, auth),
            114 => simplex_crypto::verify(&self.relay.dummy_ed448, self.authorized, auth),
            80 => simplex_crypto::dh(&self.relay.dummy_dh, &self.relay.dummy_x25519)
                .map(|s| {
                    simplex_crypto::verify_authenticator(&s, &self.t.corr_id, self.authorized, auth)
                })
                .unwrap_or(false),
            _ => false,
        };
    }
}
