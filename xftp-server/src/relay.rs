//! The relay's state and the command semantics: verify, then dispatch. No sockets here: the
//! network layer hands over a decoded transmission and a source of body bytes, and gets back
//! the response and, for FGET, the chunk to stream.

use std::collections::{BTreeSet, HashSet};
use std::future::Future;
use std::io::{Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use simplex_codec::limits::is_allowed_chunk_size;
use simplex_crypto::transit::{self, TransitEncryptor};
use simplex_crypto::SbNonce;
use simplex_crypto::{KeyAlgorithm, PrivateKey, PublicKey};
use subtle::ConstantTimeEq;
use tokio::sync::mpsc;
use xftp_proto::command::{CmdError, Command, FileInfo, Response, XftpError};
use xftp_proto::handshake::BLOCKED_FILES_VERSION;
use xftp_proto::Transmission;

use crate::config::Config;
use crate::limits::{ConnLimits, DownloadSlot};
use crate::storage::ChunkStorage;
use crate::store::{FileRec, Id, MetadataStore, Status, StoreError};

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
    /// The rate and download limits of the connection.
    pub limits: Arc<ConnLimits>,
}

/// The relay.
pub struct Relay {
    /// Settings.
    pub config: Config,
    /// Chunk records.
    pub store: Arc<dyn MetadataStore>,
    /// Chunk bytes.
    pub storage: Arc<dyn ChunkStorage>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Counters.
    pub stats: Stats,
    /// Chunks being uploaded right now (a second concurrent FPUT of one chunk is refused).
    uploading: Mutex<HashSet<Id>>,
    /// Bytes of uploads in progress on this relay, counted against the quota with the store's
    /// uploaded bytes.
    reserved: AtomicU64,
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
        store: Arc<dyn MetadataStore>,
        storage: Arc<dyn ChunkStorage>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, simplex_crypto::CryptoError> {
        Ok(Self {
            config,
            store,
            storage,
            clock,
            stats: Stats::default(),
            uploading: Mutex::new(HashSet::new()),
            reserved: AtomicU64::new(0),
            dummy_ed25519: simplex_crypto::generate(KeyAlgorithm::Ed25519)?.0,
            dummy_ed448: simplex_crypto::generate(KeyAlgorithm::Ed448)?.0,
        })
    }

    /// Bytes counted against the quota: uploaded chunks and uploads in progress here.
    pub async fn used(&self) -> Result<u64, StoreError> {
        let stored = self.store.used().await?;
        Ok(stored.saturating_add(self.reserved.load(Ordering::Relaxed)))
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
                // Registrations are paced per connection and address (a flood waits).
                session.limits.new_file().await;
                if !self.verify(session, &info.sender_key, t, &signed) {
                    return Err(XftpError::Auth);
                }
                self.new_file(info, recipient_keys, basic_auth).await
            }
            Command::Add { recipient_keys } => {
                let rec = self.sender_file(session, t, &signed).await?;
                let ids = self.add_recipients(&rec.sender_id, recipient_keys).await?;
                Ok((Response::Rids(ids), ResponseBody::None))
            }
            Command::Put => {
                let rec = self.sender_file(session, t, &signed).await?;
                self.put(rec, body).await
            }
            Command::Del => {
                let rec = self.sender_file(session, t, &signed).await?;
                self.delete_chunk(&rec.sender_id, "FDEL").await?;
                self.stats.deletes.fetch_add(1, Ordering::Relaxed);
                Ok((Response::Ok, ResponseBody::None))
            }
            Command::Get { dh_key } => {
                let rec = self.recipient_file(session, t, &signed).await?;
                let slot = session.limits.download().await.ok_or(XftpError::Internal)?;
                self.get(rec, dh_key, slot).await
            }
            Command::Ack => {
                self.recipient_file(session, t, &signed).await?;
                self.store
                    .ack(&t.entity_id)
                    .await
                    .map_err(|e| store_failure("FACK", e))?;
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
                simplex_crypto::verify(key, signed, &t.authenticator)
            }
            KeyAlgorithm::X25519 => match &session.dh_key {
                Some(ours) => simplex_crypto::dh(ours, key)
                    .map(|s| {
                        simplex_crypto::verify_authenticator(
                            &s,
                            &t.corr_id,
                            signed,
                            &t.authenticator,
                        )
                    })
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
        let _ = simplex_crypto::verify(key, signed, &t.authenticator);
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

    async fn sender_file(
        &self,
        session: &Session,
        t: &Transmission,
        signed: &[u8],
    ) -> Result<FileRec, XftpError> {
        let found = self
            .store
            .file(&t.entity_id)
            .await
            .map_err(|e| store_failure("read", e))?
            .map(|f| (f.info.sender_key.clone(), f));
        self.authorize(session, found, t, signed)
    }

    async fn recipient_file(
        &self,
        session: &Session,
        t: &Transmission,
        signed: &[u8],
    ) -> Result<FileRec, XftpError> {
        let found = self
            .store
            .recipient(&t.entity_id)
            .await
            .map_err(|e| store_failure("read", e))?
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

    async fn new_file(
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
        let mut rec = FileRec {
            sender_id: Vec::new(),
            info,
            path: None,
            recipients: BTreeSet::new(),
            created_at,
            status: Status::Active,
        };
        // A random ID that is taken (never seen in practice) is retried, like the reference.
        let mut tries = 0;
        let sender_id = loop {
            rec.sender_id = random_id()?;
            match self.store.add_file(rec.clone()).await {
                Ok(()) => break rec.sender_id,
                Err(StoreError::Duplicate) if tries < 2 => tries += 1,
                Err(e) => return Err(store_failure("FNEW", e)),
            }
        };
        let recipient_ids = self.add_recipients(&sender_id, recipient_keys).await?;
        self.stats.files_created.fetch_add(1, Ordering::Relaxed);
        Ok((
            Response::Sids {
                sender_id,
                recipient_ids,
            },
            ResponseBody::None,
        ))
    }

    async fn add_recipients(
        &self,
        sender_id: &[u8],
        keys: Vec<PublicKey>,
    ) -> Result<Vec<Id>, XftpError> {
        let mut tries = 0;
        let ids = loop {
            let mut taken = HashSet::new();
            let mut rcps = Vec::with_capacity(keys.len());
            for key in &keys {
                let id = random_id()?;
                if !taken.insert(id.clone()) {
                    return Err(internal_failure("FADD", "a random ID came twice"));
                }
                rcps.push((id, key.clone()));
            }
            let ids: Vec<Id> = rcps.iter().map(|(id, _)| id.clone()).collect();
            match self.store.add_recipients(sender_id, rcps).await {
                Ok(()) => break ids,
                Err(StoreError::Duplicate) if tries < 2 => tries += 1,
                Err(e) => return Err(store_failure("FADD", e)),
            }
        };
        self.stats
            .recipients
            .fetch_add(ids.len() as u64, Ordering::Relaxed);
        Ok(ids)
    }

    /// FPUT of the chunk `rec` (a snapshot taken when the command was authorized: it is read
    /// again once this upload holds the chunk, so a stale one cannot overwrite a finished
    /// upload).
    #[doc(hidden)]
    pub async fn put<B: BodySource>(
        &self,
        rec: FileRec,
        body: &mut B,
    ) -> Result<(Response, ResponseBody), XftpError> {
        let size = u64::from(rec.info.size);
        let id = rec.sender_id.clone();
        let Some(_claim) = UploadClaim::take(&self.uploading, &id) else {
            // Another upload of this chunk is running.
            drain(body, size).await?;
            return Err(XftpError::FileIo);
        };
        let current = match self.store.file(&id).await {
            Ok(c) => c,
            Err(e) => {
                drain(body, size).await?;
                return Err(store_failure("FPUT", e));
            }
        };
        match current {
            None => {
                drain(body, size).await?;
                Err(XftpError::Auth)
            }
            Some(f) if f.path.is_some() => {
                // Idempotent retry: the content never changes.
                drain(body, size).await?;
                Ok((Response::Ok, ResponseBody::None))
            }
            Some(f) => {
                self.receive(&f, body).await?;
                Ok((Response::Ok, ResponseBody::None))
            }
        }
    }

    async fn receive<B: BodySource>(&self, rec: &FileRec, body: &mut B) -> Result<(), XftpError> {
        let size = u64::from(rec.info.size);
        let quota = self.config.storage_quota;
        let used = match self.used().await {
            Ok(u) => u,
            Err(e) => {
                drain(body, size).await?;
                return Err(store_failure("FPUT", e));
            }
        };
        if used.saturating_add(size) > quota {
            drain(body, size).await?;
            return Err(XftpError::Quota);
        }
        let id = rec.sender_id.clone();
        // Quota is taken as bytes arrive, so uploads that never send hold none of it.
        let reserved = Reservation {
            relay: self,
            bytes: AtomicU64::new(0),
        };
        let written = tokio::time::timeout(
            FILE_RECEIVE_TIMEOUT,
            self.write_chunk(&id, size, &rec.info.digest, body, &reserved),
        )
        .await
        .unwrap_or(Err(XftpError::Timeout));
        written?;
        // The chunk is committed under its ID; the FPUT record makes it downloadable.
        let recorded = self.store.set_path(&id, self.storage.location(&id)).await;
        match recorded {
            Ok(()) => {
                // Counted by the store from now on.
                drop(reserved);
                self.stats.uploads.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(StoreError::NotFound) => {
                // Deleted while it was uploaded: its bytes must not stay behind.
                let storage = self.storage.clone();
                let _ = tokio::task::spawn_blocking(move || storage.delete(&id)).await;
                Err(XftpError::Auth)
            }
            Err(e) => {
                // Not acknowledged; the bytes stay (a retry or the start-up check settles them:
                // a database may have committed the record before the failure).
                Err(store_failure("FPUT", e))
            }
        }
    }

    /// Streams the body into storage with SHA-256 and commits the chunk only if it is exactly
    /// `size` bytes with the expected digest.
    async fn write_chunk<B: BodySource>(
        &self,
        id: &[u8],
        size: u64,
        digest: &[u8],
        body: &mut B,
        reserved: &Reservation<'_>,
    ) -> Result<(), XftpError> {
        enum Piece {
            Data(Bytes),
            End,
        }
        let (tx, mut rx) = mpsc::channel::<Piece>(2);
        let storage = self.storage.clone();
        let (id, expected) = (id.to_vec(), digest.to_vec());
        let writer = tokio::task::spawn_blocking(move || -> Result<(), XftpError> {
            // Created at the first byte: an upload that sends nothing holds no file or buffer.
            let mut sink = None;
            let mut sha = simplex_crypto::digest::Sha256::new();
            let mut written = 0u64;
            loop {
                match rx.blocking_recv() {
                    Some(Piece::Data(piece)) => {
                        sha.update(&piece);
                        written += piece.len() as u64;
                        let out = match &mut sink {
                            Some(s) => s,
                            None => sink.insert(
                                storage
                                    .create(&id)
                                    .map_err(|e| io_failure("FPUT create", e))?,
                            ),
                        };
                        out.write_all(&piece)
                            .map_err(|e| io_failure("FPUT write", e))?;
                    }
                    Some(Piece::End) => break,
                    // The request failed: dropping the sink removes the partial upload.
                    None => return Err(XftpError::Internal),
                }
            }
            if written != size {
                return Err(XftpError::Size);
            }
            if !bool::from(sha.finish().ct_eq(expected.as_slice())) {
                return Err(XftpError::Digest);
            }
            sink.ok_or(XftpError::Size)?
                .commit()
                .map_err(|e| io_failure("FPUT commit", e))
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
                    if !reserved.add(piece.len() as u64).await {
                        result = Err(XftpError::Quota);
                        break;
                    }
                    if tx.send(Piece::Data(piece)).await.is_err() {
                        break; // the writer failed; its error is reported below
                    }
                }
                Ok(None) => {
                    let _ = tx.send(Piece::End).await;
                    break;
                }
                Err(_) => {
                    result = Err(XftpError::Timeout);
                    break;
                }
            }
        }
        drop(tx);
        let written = writer.await.map_err(|e| internal_failure("FPUT", e))?;
        result?;
        written
    }

    async fn get(
        &self,
        rec: FileRec,
        client_key: PublicKey,
        slot: DownloadSlot,
    ) -> Result<(Response, ResponseBody), XftpError> {
        if rec.path.is_none() {
            return Err(XftpError::NoFile);
        }
        if client_key.algorithm() != KeyAlgorithm::X25519 {
            return Err(XftpError::Cmd(CmdError::Syntax));
        }
        let size = u64::from(rec.info.size);
        let (storage, id) = (self.storage.clone(), rec.sender_id.clone());
        let opened = tokio::task::spawn_blocking(move || storage.open(&id))
            .await
            .map_err(|e| internal_failure("FGET", e))?;
        let (mut reader, stored) = match opened {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // Deleted meanwhile (FDEL or expiry), or lost on disk.
                if let Ok(Some(_)) = self.store.file(&rec.sender_id).await {
                    tracing::error!("FGET: the chunk file of a stored chunk is missing");
                }
                return Err(XftpError::Auth);
            }
            Err(e) => return Err(io_failure("FGET open", e)),
        };
        if stored != size {
            tracing::error!(
                "FGET: chunk file has {stored} bytes, its record {size}: not served (damaged on disk)"
            );
            return Err(XftpError::FileIo);
        }
        let (server_pub, server_priv) = simplex_crypto::generate(KeyAlgorithm::X25519)
            .map_err(|e| internal_failure("FGET", e))?;
        let key = transit::key(&server_priv, &client_key)
            .map_err(|_| XftpError::Cmd(CmdError::Syntax))?;
        let nonce = SbNonce::generate();
        // One piece queued while the next is read and encrypted: about 1 MiB per download
        // with the one being sent and HTTP/2's buffer, held while the download lasts.
        let (tx, rx) = mpsc::channel::<Result<Bytes, String>>(1);
        let mut stream = TransitEncryptor::new(&key, &nonce);
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            let mut left = size;
            while left > 0 {
                let n = left.min(SEND_PIECE as u64) as usize;
                // Read into spare capacity: no zero-filling of a buffer about to be overwritten.
                let mut piece = Vec::with_capacity(n);
                let read = (&mut reader).take(n as u64).read_to_end(&mut piece);
                let short = matches!(read, Ok(got) if got != n);
                if let Err(e) = read.and_then(|_| {
                    if short {
                        Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof))
                    } else {
                        Ok(())
                    }
                }) {
                    tracing::error!("FGET: reading a chunk file failed: {e}");
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
                nonce: nonce.0,
            },
            ResponseBody::Chunk(rx),
        ))
    }

    /// Deletes a chunk's record, then its bytes (FDEL, control port, expiry). The bytes are
    /// removed even when the record says they were never uploaded: an upload whose record
    /// could not be written leaves them behind.
    pub async fn delete_chunk(&self, sender_id: &[u8], op: &'static str) -> Result<(), XftpError> {
        self.store
            .delete_file(sender_id)
            .await
            .map_err(|e| store_failure(op, e))?;
        let (storage, id) = (self.storage.clone(), sender_id.to_vec());
        tokio::task::spawn_blocking(move || storage.delete(&id))
            .await
            .map_err(|e| internal_failure(op, e))?
            .map_err(|e| io_failure(op, e))
    }

    /// Deletes chunks created more than `expire_files_hours` ago, and chunks never uploaded
    /// after `expire_unuploaded_hours`; returns (count, bytes). With a shared store every
    /// relay expires the same chunks: the first one deletes each.
    pub async fn expire(&self) -> (usize, u64) {
        const BATCH: usize = 1000;
        let now = self.clock.now();
        // Expired when createdAt + 1 h < now - ttl (createdAt is rounded down to the hour).
        let cutoff = |hours: u64| now.saturating_sub(hours * 3600).saturating_sub(3600);
        let (old, unuploaded) = (
            cutoff(self.config.expire_files_hours),
            cutoff(self.config.expire_unuploaded_hours),
        );
        let (mut count, mut bytes) = (0, 0);
        let mut failed = HashSet::new();
        // Bounded: each round deletes what it found or remembers it as failed.
        for _ in 0..10_000 {
            let batch = match self
                .store
                .expired(old, unuploaded, BATCH + failed.len())
                .await
            {
                Ok(b) => b,
                Err(e) => {
                    tracing::error!("expire: {e}");
                    break;
                }
            };
            let fresh: Vec<(Id, u64)> = batch
                .into_iter()
                .filter(|(id, _)| !failed.contains(id))
                .collect();
            if fresh.is_empty() {
                break;
            }
            for (id, size) in fresh {
                match self.delete_chunk(&id, "expire").await {
                    Ok(()) => {
                        count += 1;
                        bytes += size;
                    }
                    // Another relay sharing the store deleted it first.
                    Err(XftpError::Auth) => {}
                    Err(_) => {
                        failed.insert(id);
                    }
                }
            }
        }
        self.stats
            .expired
            .fetch_add(count as u64, Ordering::Relaxed);
        (count, bytes)
    }

    /// Brings the files folder in line with the records at start: uploads that were never
    /// committed are removed; a chunk whose record lost its upload line but whose bytes match
    /// the record is adopted; a chunk without a record is moved to the quarantine folder (or,
    /// with records that do not outlive the process, where forgetting chunks at restart is the
    /// configuration, deleted). Nothing the relay does not understand is deleted.
    pub async fn reconcile_storage(self: &Arc<Self>) -> std::io::Result<Reconciled> {
        let storage = self.storage.clone();
        let shared = self.store.shared() && self.storage.shared();
        let (uncommitted, ids) = tokio::task::spawn_blocking(move || {
            Ok::<_, std::io::Error>((storage.remove_uncommitted()?, storage.list(shared)?))
        })
        .await
        .map_err(std::io::Error::other)??;
        let mut report = Reconciled {
            uncommitted,
            ..Reconciled::default()
        };
        let persistent = self.store.persistent();
        for id in ids {
            let rec = self.store.file(&id).await.map_err(std::io::Error::other)?;
            let (relay, chunk) = (self.clone(), id.clone());
            let step = tokio::task::spawn_blocking(move || -> std::io::Result<Step> {
                let id = chunk;
                Ok(match rec {
                    Some(f) if f.path.is_some() => Step::Keep,
                    Some(f) if relay.stored_chunk_matches(&f) => Step::Adopt,
                    Some(_) => {
                        // An upload of a known chunk that never completed.
                        relay.storage.delete(&id)?;
                        Step::Partial
                    }
                    None if !persistent => {
                        relay.storage.delete(&id)?;
                        Step::Forgotten
                    }
                    None => {
                        let to = relay.storage.quarantine(&id)?;
                        tracing::warn!("chunk file without a record moved to {to}");
                        Step::Quarantined
                    }
                })
            })
            .await
            .map_err(std::io::Error::other)??;
            match step {
                Step::Keep => {}
                Step::Adopt => {
                    // Counted against the quota like every stored chunk from now on.
                    self.store
                        .set_path(&id, self.storage.location(&id))
                        .await
                        .map_err(std::io::Error::other)?;
                    report.adopted += 1;
                }
                Step::Partial => report.partial += 1,
                Step::Forgotten => report.forgotten += 1,
                Step::Quarantined => report.quarantined += 1,
            }
        }
        Ok(report)
    }

    fn stored_chunk_matches(&self, f: &FileRec) -> bool {
        let Ok((mut reader, len)) = self.storage.open(&f.sender_id) else {
            return false;
        };
        if len != u64::from(f.info.size) {
            return false;
        }
        let mut sha = simplex_crypto::digest::Sha256::new();
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => sha.update(&buf[..n]),
                Err(_) => return false,
            }
        }
        bool::from(sha.finish().ct_eq(f.info.digest.as_slice()))
    }
}

/// What the start-up check does with one chunk file.
enum Step {
    Keep,
    Adopt,
    Partial,
    Forgotten,
    Quarantined,
}

/// What [`Relay::reconcile_storage`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reconciled {
    /// Uploads never committed, removed.
    pub uncommitted: usize,
    /// Committed chunks of records without an upload record, whose bytes match: kept.
    pub adopted: usize,
    /// Chunks of records without an upload record that do not match: removed.
    pub partial: usize,
    /// Chunks without a record moved to the quarantine folder.
    pub quarantined: usize,
    /// Chunks without a record deleted because the store log is off.
    pub forgotten: usize,
}

/// The right to upload one chunk; given back on drop (also when the request is cancelled).
struct UploadClaim<'a> {
    set: &'a Mutex<HashSet<Id>>,
    id: Id,
}

impl<'a> UploadClaim<'a> {
    fn take(set: &'a Mutex<HashSet<Id>>, id: &[u8]) -> Option<Self> {
        let fresh = set
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_vec());
        fresh.then(|| Self {
            set,
            id: id.to_vec(),
        })
    }
}

impl Drop for UploadClaim<'_> {
    fn drop(&mut self) {
        self.set
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
    }
}

/// Quota taken by an upload so far; given back on drop unless kept.
struct Reservation<'a> {
    relay: &'a Relay,
    bytes: AtomicU64,
}

impl Reservation<'_> {
    /// Takes `n` more bytes; `false` if the quota is exhausted (or the store cannot say).
    async fn add(&self, n: u64) -> bool {
        let Ok(stored) = self.relay.store.used().await else {
            return false;
        };
        let quota = self.relay.config.storage_quota;
        let reserved = &self.relay.reserved;
        let mut current = reserved.load(Ordering::Relaxed);
        loop {
            match stored.checked_add(current).and_then(|u| u.checked_add(n)) {
                Some(total) if total <= quota => {}
                _ => return false,
            }
            match reserved.compare_exchange_weak(
                current,
                current + n,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => current = now,
            }
        }
        self.bytes.fetch_add(n, Ordering::Relaxed);
        true
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        let n = self.bytes.load(Ordering::Relaxed);
        if n > 0 {
            self.relay.reserved.fetch_sub(n, Ordering::Relaxed);
        }
    }
}

/// Logs why a store change failed (never keys) and maps it to the protocol error.
fn store_failure(op: &'static str, e: StoreError) -> XftpError {
    match e {
        StoreError::NotFound => XftpError::Auth,
        StoreError::Log(e) => {
            tracing::error!("{op}: store log: {e}");
            XftpError::FileIo
        }
        StoreError::Duplicate => {
            tracing::error!("{op}: ID collision");
            XftpError::Internal
        }
        StoreError::Db(e) => {
            tracing::error!("{op}: {e}");
            XftpError::Internal
        }
    }
}

/// Logs a file operation's failure and answers FILE_IO.
fn io_failure(op: &'static str, e: std::io::Error) -> XftpError {
    tracing::error!("{op}: {e}");
    XftpError::FileIo
}

/// Logs an internal failure and answers INTERNAL.
fn internal_failure(op: &'static str, e: impl std::fmt::Display) -> XftpError {
    tracing::error!("{op}: {e}");
    XftpError::Internal
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
    openssl::rand::rand_bytes(&mut id).map_err(|e| internal_failure("random ID", e))?;
    Ok(id)
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
