//! The relay's state and the command semantics: verify, then dispatch. No sockets here: the
//! network layer hands over a decoded transmission and a source of body bytes, and gets back
//! the response and, for FGET, the chunk to stream.

use std::collections::{BTreeSet, HashSet};
use std::future::Future;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use chunker::plan::is_allowed_chunk_size;
use chunker::secretbox::{SbKey, SbNonce, SecretBoxStream};
use subtle::ConstantTimeEq;
use tokio::sync::mpsc;
use xftp_proto::command::{CmdError, Command, FileInfo, Response, XftpError};
use xftp_proto::crypto;
use xftp_proto::handshake::BLOCKED_FILES_VERSION;
use xftp_proto::{KeyAlgorithm, PrivateKey, PublicKey, Transmission};

use crate::config::Config;
use crate::storage::ChunkStorage;
use crate::store::{FileRec, Id, MetadataStore, Status};

/// Bytes of generated IDs.
pub const ID_LEN: usize = 16;
/// How long a chunk upload may take.
pub const FILE_RECEIVE_TIMEOUT: Duration = Duration::from_secs(300);
/// Bytes per piece when streaming a chunk to a client.
const SEND_PIECE: usize = 256 * 1024;

/// Time, injectable for tests.
pub trait Clock: Send + Sync + 'static {
    /// Seconds since the epoch.
    fn now(&self) -> u64;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
}

/// Counters since start.
#[derive(Debug, Default)]
pub struct Stats {
    /// FNEW accepted.
    pub files_created: AtomicU64,
    /// Recipient IDs created.
    pub recipients: AtomicU64,
    /// FPUT completed (new uploads).
    pub uploads: AtomicU64,
    /// FGET served.
    pub downloads: AtomicU64,
    /// FACK accepted.
    pub acks: AtomicU64,
    /// FDEL accepted.
    pub deletes: AtomicU64,
    /// Chunks expired.
    pub expired: AtomicU64,
}

impl Stats {
    /// The counters now: created, recipients, uploads, deletes, downloads, acks, expired.
    pub fn snapshot(&self) -> [u64; 7] {
        [
            &self.files_created,
            &self.recipients,
            &self.uploads,
            &self.deletes,
            &self.downloads,
            &self.acks,
            &self.expired,
        ]
        .map(|c| c.load(Ordering::Relaxed))
    }
}

/// A source of request-body bytes after the command block.
pub trait BodySource: Send {
    /// The next piece, `None` at the end.
    fn next_piece(&mut self) -> impl Future<Output = Result<Option<Bytes>, String>> + Send;
}

/// What to send after the response block.
#[derive(Debug)]
pub enum ResponseBody {
    /// Nothing.
    None,
    /// An encrypted chunk, as pieces (the last carries the tag).
    Chunk(mpsc::Receiver<Result<Bytes, String>>),
}

/// The relay's handshake-level state of one connection.
#[derive(Debug, Clone)]
pub struct Session {
    /// tls-unique.
    pub id: Vec<u8>,
    /// Negotiated protocol version.
    pub version: u16,
    /// The X25519 key of the handshake (for X25519 command authenticators).
    pub dh_key: Option<PrivateKey>,
}

/// The relay.
pub struct Relay {
    /// Settings.
    pub config: Config,
    /// Chunk records.
    pub store: Mutex<Box<dyn MetadataStore>>,
    /// Chunk bytes.
    pub storage: Arc<dyn ChunkStorage>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Counters.
    pub stats: Stats,
    /// Chunks being uploaded right now (a second concurrent FPUT of one chunk is refused).
    uploading: Mutex<HashSet<Id>>,
    /// Keys for dummy verification, so unknown IDs cost the same as bad signatures.
    dummy_ed25519: PublicKey,
    dummy_ed448: PublicKey,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay").finish_non_exhaustive()
    }
}

impl Relay {
    /// A relay over `store` and `storage`.
    pub fn new(
        config: Config,
        store: Box<dyn MetadataStore>,
        storage: Arc<dyn ChunkStorage>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, crypto::CryptoError> {
        Ok(Self {
            config,
            store: Mutex::new(store),
            storage,
            clock,
            stats: Stats::default(),
            uploading: Mutex::new(HashSet::new()),
            dummy_ed25519: crypto::generate(KeyAlgorithm::Ed25519)?.0,
            dummy_ed448: crypto::generate(KeyAlgorithm::Ed448)?.0,
        })
    }

    /// The store, even if a thread panicked while holding it (its data stays consistent:
    /// every mutation is a single map operation after the log write).
    pub fn store(&self) -> MutexGuard<'_, Box<dyn MetadataStore>> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Handles one command transmission; returns the response transmission and its body.
    pub async fn handle<B: BodySource>(
        &self,
        session: &Session,
        t: Transmission,
        body: &mut B,
    ) -> (Transmission, ResponseBody) {
        let reply = |command: Response| Transmission {
            authenticator: Vec::new(),
            session_id: session.id.clone(),
            corr_id: t.corr_id.clone(),
            entity_id: t.entity_id.clone(),
            command: command
                .encode()
                .unwrap_or_else(|_| b"ERR INTERNAL".to_vec()),
        };
        if !bool::from(t.session_id.ct_eq(&session.id)) {
            return (reply(Response::Err(XftpError::Session)), ResponseBody::None);
        }
        let (resp, out) = match self.dispatch(session, &t, body).await {
            Ok(r) => r,
            Err(e) => (Response::Err(e), ResponseBody::None),
        };
        (reply(resp), out)
    }

    async fn dispatch<B: BodySource>(
        &self,
        session: &Session,
        t: &Transmission,
        body: &mut B,
    ) -> Result<(Response, ResponseBody), XftpError> {
        let cmd = Command::decode(&t.command).map_err(XftpError::Cmd)?;
        check_credentials(&cmd, t)?;
        let signed = t.signed_bytes().map_err(|_| XftpError::Block)?;
        match cmd {
            Command::Ping => Ok((Response::Pong, ResponseBody::None)),
            Command::New {
                info,
                recipient_keys,
                basic_auth,
            } => {
                if !self.verify(session, &info.sender_key, t, &signed) {
                    return Err(XftpError::Auth);
                }
                self.new_file(info, recipient_keys, basic_auth)
            }
            Command::Add { recipient_keys } => {
                let rec = self.sender_file(session, t, &signed)?;
                let ids = self.add_recipients(&rec.sender_id, recipient_keys)?;
                Ok((Response::Rids(ids), ResponseBody::None))
            }
            Command::Put => {
                let rec = self.sender_file(session, t, &signed)?;
                self.put(rec, body).await
            }
            Command::Del => {
                let rec = self.sender_file(session, t, &signed)?;
                self.delete_chunk(&rec.sender_id)?;
                self.stats.deletes.fetch_add(1, Ordering::Relaxed);
                Ok((Response::Ok, ResponseBody::None))
            }
            Command::Get { dh_key } => {
                let rec = self.recipient_file(session, t, &signed)?;
                self.get(rec, dh_key)
            }
            Command::Ack => {
                self.recipient_file(session, t, &signed)?;
                self.store()
                    .ack(&t.entity_id)
                    .map_err(|_| XftpError::Auth)?;
                self.stats.acks.fetch_add(1, Ordering::Relaxed);
                Ok((Response::Ok, ResponseBody::None))
            }
        }
    }

    /// Verifies the authenticator with `key`: Ed25519/Ed448 signatures, or the X25519
    /// authenticator against the session's handshake key.
    fn verify(&self, session: &Session, key: &PublicKey, t: &Transmission, signed: &[u8]) -> bool {
        match key.algorithm() {
            KeyAlgorithm::Ed25519 | KeyAlgorithm::Ed448 => {
                crypto::verify(key, signed, &t.authenticator)
            }
            KeyAlgorithm::X25519 => match &session.dh_key {
                Some(ours) => crypto::dh(ours, key)
                    .map(|s| crypto::verify_authenticator(&s, &t.corr_id, signed, &t.authenticator))
                    .unwrap_or(false),
                None => false,
            },
            KeyAlgorithm::X448 => false,
        }
    }

    /// A verification that cannot succeed, costing what a real one costs.
    fn dummy_verify(&self, t: &Transmission, signed: &[u8]) {
        let key = if t.authenticator.len() == 114 {
            &self.dummy_ed448
        } else {
            &self.dummy_ed25519
        };
        let _ = crypto::verify(key, signed, &t.authenticator);
    }

    fn check_status(&self, session: &Session, rec: &FileRec) -> Result<(), XftpError> {
        match &rec.status {
            Status::Active => Ok(()),
            Status::Blocked(info) if session.version >= BLOCKED_FILES_VERSION => {
                Err(XftpError::Blocked(info.clone()))
            }
            _ => Err(XftpError::Auth),
        }
    }

    fn sender_file(
        &self,
        session: &Session,
        t: &Transmission,
        signed: &[u8],
    ) -> Result<FileRec, XftpError> {
        let found = self
            .store()
            .file(&t.entity_id)
            .map(|f| (f.info.sender_key.clone(), f));
        self.authorize(session, found, t, signed)
    }

    fn recipient_file(
        &self,
        session: &Session,
        t: &Transmission,
        signed: &[u8],
    ) -> Result<FileRec, XftpError> {
        let found = self
            .store()
            .recipient(&t.entity_id)
            .map(|(r, f)| (r.key, f));
        self.authorize(session, found, t, signed)
    }

    /// The record if the transmission is signed by its key and the record is usable;
    /// unknown IDs get a dummy verification and the same `AUTH` as bad signatures.
    fn authorize(
        &self,
        session: &Session,
        found: Option<(PublicKey, FileRec)>,
        t: &Transmission,
        signed: &[u8],
    ) -> Result<FileRec, XftpError> {
        match found {
            Some((key, rec)) if self.verify(session, &key, t, signed) => {
                self.check_status(session, &rec)?;
                Ok(rec)
            }
            Some(_) => Err(XftpError::Auth),
            None => {
                self.dummy_verify(t, signed);
                Err(XftpError::Auth)
            }
        }
    }

    fn new_file(
        &self,
        info: FileInfo,
        recipient_keys: Vec<PublicKey>,
        basic_auth: Option<Vec<u8>>,
    ) -> Result<(Response, ResponseBody), XftpError> {
        if !self.config.new_files {
            return Err(XftpError::Auth);
        }
        if let Some(pw) = &self.config.create_password {
            let given = basic_auth.unwrap_or_default();
            if !bool::from(given.as_slice().ct_eq(pw.as_bytes())) {
                return Err(XftpError::Auth);
            }
        }
        if !is_allowed_chunk_size(info.size) {
            return Err(XftpError::Size);
        }
        let now = self.clock.now();
        let created_at = now - now % 3600;
        let mut store = self.store();
        let sender_id = fresh_id(&**store)?;
        store
            .add_file(FileRec {
                sender_id: sender_id.clone(),
                info,
                path: None,
                recipients: BTreeSet::new(),
                created_at,
                status: Status::Active,
            })
            .map_err(|_| XftpError::Internal)?;
        drop(store);
        let recipient_ids = self.add_recipients(&sender_id, recipient_keys)?;
        self.stats.files_created.fetch_add(1, Ordering::Relaxed);
        Ok((
            Response::Sids {
                sender_id,
                recipient_ids,
            },
            ResponseBody::None,
        ))
    }

    fn add_recipients(&self, sender_id: &[u8], keys: Vec<PublicKey>) -> Result<Vec<Id>, XftpError> {
        let mut store = self.store();
        let mut taken = HashSet::new();
        let mut rcps = Vec::with_capacity(keys.len());
        for key in keys {
            let id = loop_fresh(&**store, &mut taken)?;
            rcps.push((id, key));
        }
        let ids: Vec<Id> = rcps.iter().map(|(id, _)| id.clone()).collect();
        let n = ids.len() as u64;
        store
            .add_recipients(sender_id, rcps)
            .map_err(|_| XftpError::Internal)?;
        self.stats.recipients.fetch_add(n, Ordering::Relaxed);
        Ok(ids)
    }

    async fn put<B: BodySource>(
        &self,
        rec: FileRec,
        body: &mut B,
    ) -> Result<(Response, ResponseBody), XftpError> {
        let size = u64::from(rec.info.size);
        if rec.path.is_some() {
            // Idempotent retry: the content never changes.
            drain(body, size).await?;
            return Ok((Response::Ok, ResponseBody::None));
        }
        let id = rec.sender_id.clone();
        let fresh = self
            .uploading
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone());
        if !fresh {
            drain(body, size).await?;
            return Err(XftpError::FileIo);
        }
        let result = self.receive(&rec, body).await;
        self.uploading
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        result.map(|()| (Response::Ok, ResponseBody::None))
    }

    async fn receive<B: BodySource>(&self, rec: &FileRec, body: &mut B) -> Result<(), XftpError> {
        let size = u64::from(rec.info.size);
        if !self.store().reserve(size, self.config.storage_quota) {
            drain(body, size).await?;
            return Err(XftpError::Quota);
        }
        let id = rec.sender_id.clone();
        let outcome =
            tokio::time::timeout(FILE_RECEIVE_TIMEOUT, self.write_chunk(&id, size, body)).await;
        let outcome = match outcome {
            Ok(Ok(digest)) if bool::from(digest.ct_eq(rec.info.digest.as_slice())) => Ok(()),
            Ok(Ok(_)) => Err(XftpError::Digest),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(XftpError::Timeout),
        };
        let outcome = outcome.and_then(|()| {
            self.store()
                .set_path(&id, self.storage.location(&id))
                .map_err(|_| XftpError::FileIo)
        });
        if outcome.is_err() {
            self.store().release(size);
            let storage = self.storage.clone();
            let _ = tokio::task::spawn_blocking(move || storage.delete(&id)).await;
        } else {
            self.stats.uploads.fetch_add(1, Ordering::Relaxed);
        }
        outcome
    }

    /// Streams the body into storage with SHA-256; exactly `size` bytes or `SIZE`.
    async fn write_chunk<B: BodySource>(
        &self,
        id: &[u8],
        size: u64,
        body: &mut B,
    ) -> Result<[u8; 32], XftpError> {
        let (tx, mut rx) = mpsc::channel::<Bytes>(2);
        let storage = self.storage.clone();
        let id = id.to_vec();
        let writer = tokio::task::spawn_blocking(move || -> Result<[u8; 32], XftpError> {
            let mut sink = storage.create(&id).map_err(|_| XftpError::FileIo)?;
            let mut sha = chunker::digest::Sha256::new();
            while let Some(piece) = rx.blocking_recv() {
                sha.update(&piece);
                sink.write_all(&piece).map_err(|_| XftpError::FileIo)?;
            }
            sink.commit().map_err(|_| XftpError::FileIo)?;
            Ok(sha.finish())
        });
        let mut received = 0u64;
        let mut result = Ok(());
        loop {
            match body.next_piece().await {
                Ok(Some(piece)) => {
                    received += piece.len() as u64;
                    if received > size {
                        result = Err(XftpError::Size);
                        break;
                    }
                    if tx.send(piece).await.is_err() {
                        break; // the writer failed; its error is reported below
                    }
                }
                Ok(None) => break,
                Err(_) => {
                    result = Err(XftpError::Timeout);
                    break;
                }
            }
        }
        drop(tx);
        let written = writer.await.map_err(|_| XftpError::Internal)?;
        result?;
        let digest = written?;
        if received != size {
            return Err(XftpError::Size);
        }
        Ok(digest)
    }

    fn get(
        &self,
        rec: FileRec,
        client_key: PublicKey,
    ) -> Result<(Response, ResponseBody), XftpError> {
        if rec.path.is_none() {
            return Err(XftpError::NoFile);
        }
        if client_key.algorithm() != KeyAlgorithm::X25519 {
            return Err(XftpError::Cmd(CmdError::Syntax));
        }
        let mut reader = self
            .storage
            .open(&rec.sender_id)
            .map_err(|_| XftpError::Auth)?;
        let (server_pub, server_priv) =
            crypto::generate(KeyAlgorithm::X25519).map_err(|_| XftpError::Internal)?;
        let shared =
            crypto::dh(&server_priv, &client_key).map_err(|_| XftpError::Cmd(CmdError::Syntax))?;
        let key: [u8; 32] = shared.try_into().map_err(|_| XftpError::Internal)?;
        let mut nonce = [0u8; 24];
        openssl::rand::rand_bytes(&mut nonce).map_err(|_| XftpError::Internal)?;
        let size = u64::from(rec.info.size);
        let (tx, rx) = mpsc::channel::<Result<Bytes, String>>(2);
        let mut stream = SecretBoxStream::new(&SbKey::from_bytes(key), &SbNonce(nonce));
        tokio::task::spawn_blocking(move || {
            let mut left = size;
            while left > 0 {
                let n = left.min(SEND_PIECE as u64) as usize;
                let mut piece = vec![0u8; n];
                if let Err(e) = reader.read_exact(&mut piece) {
                    let _ = tx.blocking_send(Err(e.to_string()));
                    return;
                }
                stream.encrypt_in_place(&mut piece);
                left -= n as u64;
                if tx.blocking_send(Ok(Bytes::from(piece))).is_err() {
                    return;
                }
            }
            let _ = tx.blocking_send(Ok(Bytes::copy_from_slice(&stream.tag())));
        });
        self.stats.downloads.fetch_add(1, Ordering::Relaxed);
        Ok((
            Response::File {
                dh_key: server_pub,
                nonce,
            },
            ResponseBody::Chunk(rx),
        ))
    }

    /// Deletes a chunk and its file (FDEL, expiry, control port).
    pub fn delete_chunk(&self, sender_id: &[u8]) -> Result<(), XftpError> {
        let rec = self
            .store()
            .delete_file(sender_id)
            .map_err(|_| XftpError::Auth)?;
        if rec.path.is_some() {
            self.storage
                .delete(sender_id)
                .map_err(|_| XftpError::FileIo)?;
        }
        Ok(())
    }

    /// Deletes chunks created more than `expire_files_hours` ago; returns (count, bytes).
    pub fn expire(&self) -> (usize, u64) {
        let ttl = self.config.expire_files_hours * 3600;
        let now = self.clock.now();
        // Expired when createdAt + 1 h < now - ttl (createdAt is rounded down to the hour).
        let old = self
            .store()
            .created_before(now.saturating_sub(ttl).saturating_sub(3600));
        let mut bytes = 0;
        let mut count = 0;
        for (id, size) in old {
            if self.delete_chunk(&id).is_ok() {
                count += 1;
                bytes += size;
            }
        }
        self.stats
            .expired
            .fetch_add(count as u64, Ordering::Relaxed);
        (count, bytes)
    }

    /// Removes stored chunks that have no completed record (half-written uploads, chunks of
    /// deleted or forgotten records); returns how many.
    pub fn remove_orphans(&self) -> std::io::Result<usize> {
        let stored = self.storage.list()?;
        let store = self.store();
        let orphans: Vec<Id> = stored
            .into_iter()
            .filter(|id| store.file(id).is_none_or(|f| f.path.is_none()))
            .collect();
        drop(store);
        for id in &orphans {
            self.storage.delete(id)?;
        }
        Ok(orphans.len())
    }
}

/// The credential rules: which commands must, and must not, carry a signature and an ID.
fn check_credentials(cmd: &Command, t: &Transmission) -> Result<(), XftpError> {
    let signed = !t.authenticator.is_empty();
    let entity = !t.entity_id.is_empty();
    let err = |e| Err(XftpError::Cmd(e));
    match cmd {
        Command::New { .. } if !signed => err(CmdError::NoAuth),
        Command::New { .. } if entity => err(CmdError::HasAuth),
        Command::Ping if signed || entity => err(CmdError::HasAuth),
        Command::New { .. } | Command::Ping => Ok(()),
        _ if !signed || !entity => err(CmdError::NoAuth),
        _ => Ok(()),
    }
}

fn random_id() -> Result<Id, XftpError> {
    let mut id = vec![0u8; ID_LEN];
    openssl::rand::rand_bytes(&mut id).map_err(|_| XftpError::Internal)?;
    Ok(id)
}

/// A sender ID not in use (3 tries, like the reference).
fn fresh_id(store: &dyn MetadataStore) -> Result<Id, XftpError> {
    loop_fresh(store, &mut HashSet::new())
}

fn loop_fresh(store: &dyn MetadataStore, taken: &mut HashSet<Id>) -> Result<Id, XftpError> {
    for _ in 0..3 {
        let id = random_id()?;
        if !store.id_taken(&id) && taken.insert(id.clone()) {
            return Ok(id);
        }
    }
    Err(XftpError::Internal)
}

/// Reads and discards the body (at most `size` bytes plus one piece).
async fn drain<B: BodySource>(body: &mut B, size: u64) -> Result<(), XftpError> {
    let mut seen = 0u64;
    let read = async {
        while let Ok(Some(p)) = body.next_piece().await {
            seen += p.len() as u64;
            if seen > size {
                break;
            }
        }
    };
    tokio::time::timeout(FILE_RECEIVE_TIMEOUT, read)
        .await
        .map_err(|_| XftpError::Timeout)
}
