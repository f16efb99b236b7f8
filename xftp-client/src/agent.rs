//! The upload and download agents: whole files over one or more relays.
//!
//! ```text
//! send:  encryptor thread ─chunks─► up to `parallel` uploads (FNEW + FPUT, retries, reconnect)
//!        ─► sender description + one recipient description per recipient
//! recv:  up to `parallel` FGETs (transit-decrypted, SHA-256 checked, replica fallback)
//!        ─► reorder window ─► Decryptor (verifies SHA-512 + tag) ─► FACK
//! ```

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use chunker::{
    encrypt_file, ChunkerError, DecryptOptions, DecryptParams, DecryptedFile, Decryptor,
    EncryptOptions, SbKey, SbNonce,
};
use simplex_crypto::{KeyAlgorithm, PrivateKey};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use xftp_proto::description::{FileChunk, FileChunkReplica, FileKey};
use xftp_proto::{FileDescription, FileParty, ServerAddress, ValidFileDescription, XftpServer};

use crate::{ClientError, XftpConnection};

/// Agent errors.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// A relay or connection error that retries did not fix.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// Encryption or decryption failed (wrong key, corrupted data, disk).
    #[error(transparent)]
    Chunker(#[from] ChunkerError),
    /// The description cannot be used.
    #[error(transparent)]
    Description(#[from] xftp_proto::DescriptionError),
    /// A downloaded chunk does not match its digest on any replica (0-based index; the
    /// message counts from 1, as every other message).
    #[error("chunk {} digest mismatch on every replica", .0 + 1)]
    ChunkDigest(usize),
    /// No relays to send to.
    #[error("no servers to upload to")]
    NoServers,
    /// An internal task failed.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Progress of a transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Encrypted bytes transferred.
    pub done: u64,
    /// Encrypted bytes in all.
    pub total: u64,
}

/// One relay's connection slot: tasks wanting the same relay wait for one connect; other
/// relays are not held up by it.
type Slot = Arc<tokio::sync::Mutex<Option<XftpConnection>>>;

/// Connections by relay, opened on demand and replaced after failures.
#[derive(Debug, Default)]
pub struct Pool {
    slots: Mutex<HashMap<String, Slot>>,
    /// Where to connect instead of each relay's host (tests, proxies), by relay.
    connect_to: Mutex<HashMap<String, std::net::SocketAddr>>,
    /// Connections through this SOCKS5 proxy (Tor), as the network mode says, and which of a
    /// relay's hosts to use (changed by [`Pool::set_network`]).
    net: Mutex<(Option<transport::SocksProxy>, transport::hosts::NetworkMode)>,
}

impl Pool {
    /// A pool whose connections all go through a SOCKS5 proxy (to the onion host of a relay
    /// that has one, else its public host).
    pub fn with_socks(proxy: transport::SocksProxy) -> Self {
        Self::with_network(Some(proxy), transport::hosts::NetworkMode::default())
    }

    /// A pool choosing hosts and the proxy's use as `network` says (the reference's
    /// `--host-mode`, `--required-host-mode`, `--socks-mode`).
    pub fn with_network(
        socks: Option<transport::SocksProxy>,
        network: transport::hosts::NetworkMode,
    ) -> Self {
        Self {
            net: Mutex::new((socks, network)),
            ..Self::default()
        }
    }

    /// The proxy and network mode in effect.
    fn network(&self) -> (Option<transport::SocksProxy>, transport::hosts::NetworkMode) {
        self.net.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// A new proxy and network mode: the open connections are dropped (a transfer using one
    /// finishes its request on it), the next ones are made with these.
    pub fn set_network(
        &self,
        socks: Option<transport::SocksProxy>,
        network: transport::hosts::NetworkMode,
    ) {
        *self.net.lock().unwrap_or_else(|p| p.into_inner()) = (socks, network);
        self.slots.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// Whether `addr` is reached as a relay on the web port (ALPN `http/1.1`): the first host
    /// decides, as for SMP relays. XFTP's own port is 443 already.
    fn web_port(&self, addr: &ServerAddress) -> bool {
        let first = addr
            .server
            .hosts
            .first()
            .map(|h| h.to_string())
            .unwrap_or_default();
        self.network().1.web_port.applies(&first)
    }

    fn slot(&self, addr: &ServerAddress) -> Slot {
        self.slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(addr.server.to_string())
            .or_default()
            .clone()
    }

    /// A connection to `addr`, reusing an open one.
    pub async fn get(&self, addr: &ServerAddress) -> Result<XftpConnection, ClientError> {
        let slot = self.slot(addr);
        let mut conn = slot.lock().await;
        if let Some(c) = &*conn {
            return Ok(c.clone());
        }
        let to = self
            .connect_to
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&addr.server.to_string())
            .copied();
        let c = match to {
            Some(_) => {
                let (socks, _) = self.network();
                XftpConnection::connect_native(addr, to, socks.as_ref(), self.web_port(addr))
                    .await?
            }
            None => self.connect_hosts(addr).await?,
        };
        *conn = Some(c.clone());
        Ok(c)
    }

    /// Connects to the relay's hosts in the order the network mode gives, each directly or
    /// through the proxy; the first that answers.
    async fn connect_hosts(&self, addr: &ServerAddress) -> Result<XftpConnection, ClientError> {
        let shown: Vec<String> = addr
            .server
            .hosts
            .iter()
            .map(|h| h.to_string().trim_matches(['[', ']']).to_string())
            .collect();
        let (proxy, network) = self.network();
        let plan = transport::hosts::plan(&shown, proxy.is_some(), network).map_err(|e| {
            ClientError::Connect {
                addr: addr.server.to_string(),
                source: std::io::Error::other(e),
            }
        })?;
        let mut last = None;
        for (host, via_proxy) in plan {
            let Some(i) = shown.iter().position(|h| *h == host) else {
                continue;
            };
            let mut one = addr.clone();
            one.server.hosts = vec![addr.server.hosts[i].clone()];
            let socks = proxy.as_ref().filter(|_| via_proxy);
            let r = XftpConnection::connect_native(&one, None, socks, self.web_port(addr)).await;
            match r {
                Ok(c) => return Ok(c),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(ClientError::Connect {
            addr: addr.server.to_string(),
            source: std::io::Error::other("no host to connect to"),
        }))
    }

    /// Connects to `to` instead of the host in `addr` (tests, port forwards).
    pub fn route(&self, addr: &ServerAddress, to: std::net::SocketAddr) {
        self.connect_to
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(addr.server.to_string(), to);
    }

    /// Forgets the connection to `addr` (the next `get` reconnects).
    pub async fn reset(&self, addr: &ServerAddress) {
        self.slot(addr).lock().await.take();
    }
}

/// Runs `op` with up to `retries` attempts, reconnecting and backing off exponentially
/// (100 ms, 200 ms, ... up to 10 s) after retriable errors.
pub async fn with_retry<T, F, Fut>(
    pool: &Pool,
    addr: &ServerAddress,
    retries: u32,
    op: F,
) -> Result<T, ClientError>
where
    F: Fn(XftpConnection) -> Fut,
    Fut: std::future::Future<Output = Result<T, ClientError>>,
{
    let mut delay = Duration::from_millis(100);
    let mut attempt = 1;
    loop {
        let result = match pool.get(addr).await {
            Ok(c) => op(c).await,
            Err(e) => Err(e),
        };
        match result {
            Err(e) if e.is_retriable() && attempt < retries.max(1) => {
                pool.reset(addr).await;
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(10));
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// How to send.
#[derive(Debug, Clone)]
pub struct SendOptions {
    /// Recipient descriptions to create.
    pub recipients: usize,
    /// Attempts per relay operation.
    pub retries: u32,
    /// Chunks uploaded at once.
    pub parallel: usize,
    /// Relays each chunk is stored on (a recipient falls back to the next one).
    pub replicas: usize,
    /// Encryption options (size limit, file name).
    pub encrypt: EncryptOptions,
    /// Makes the send resumable: the key, nonce and every uploaded chunk are recorded here
    /// (mode 0600: it holds keys), and a send with the same file and state continues without
    /// creating or uploading those chunks again. Removed after success.
    pub state: Option<std::path::PathBuf>,
}

impl Default for SendOptions {
    fn default() -> Self {
        Self {
            recipients: 1,
            retries: 3,
            parallel: 4,
            replicas: 1,
            encrypt: EncryptOptions::default(),
            state: None,
        }
    }
}

/// The descriptions of a sent file.
#[derive(Debug, Clone)]
pub struct SentFile {
    /// For deleting the file (keep private).
    pub sender: FileDescription,
    /// One per recipient.
    pub recipients: Vec<FileDescription>,
}

/// One chunk, stored on one or more relays.
struct UploadedChunk {
    index: usize,
    size: u32,
    digest: [u8; 32],
    replicas: Vec<UploadedReplica>,
}

/// One copy of a chunk on one relay.
struct UploadedReplica {
    server: XftpServer,
    sender_id: Vec<u8>,
    sender_key: PrivateKey,
    recipients: Vec<(Vec<u8>, PrivateKey)>,
}

/// Encrypts and uploads `path`, spreading chunks over `servers` (round robin), uploading each
/// chunk as soon as it is encrypted.
pub async fn send_file(
    pool: Arc<Pool>,
    path: &Path,
    servers: &[ServerAddress],
    opts: &SendOptions,
    progress: impl Fn(Progress) + Send + Sync + 'static,
) -> Result<SentFile, AgentError> {
    if servers.is_empty() {
        return Err(AgentError::NoServers);
    }
    let replicas = opts.replicas.max(1);
    if replicas > servers.len() {
        return Err(AgentError::Internal(format!(
            "{replicas} replicas need at least as many relays ({} given)",
            servers.len()
        )));
    }
    let (key, nonce, mut state) = match &opts.state {
        Some(p) => {
            let s = SendState::open(p, path, opts.recipients, replicas)?;
            (s.key.clone(), s.nonce, Some(s))
        }
        None => (SbKey::generate(), SbNonce::generate(), None),
    };
    let parallel = opts.parallel.max(1);
    // Uploads hold their chunk's pooled buffer (returned when the upload drops it), so the
    // pool covers the uploads, the channel below and the encryptor's own stages.
    let mut enc_opts = opts.encrypt.clone();
    enc_opts.window = enc_opts.window.max(parallel + 3);
    let mut enc = encrypt_file(path, &key, &nonce, &enc_opts)?;
    let total = enc.plan().enc_size();
    // The encryptor runs on its own threads; chunks come over a channel no longer than the
    // upload window, so memory stays bounded.
    let (tx, mut rx) = mpsc::channel(2);
    let encryptor = tokio::task::spawn_blocking(move || {
        for chunk in enc.by_ref() {
            let item = chunk.map(|c| (c.index, c.sha256, Bytes::from_owner(c)));
            let failed = item.is_err();
            if tx.blocking_send(item).is_err() || failed {
                break;
            }
        }
        enc.finish()
    });
    let done = Arc::new(Mutex::new(0u64));
    let progress = Arc::new(progress);
    let mut uploads = JoinSet::new();
    let mut results = Vec::new();
    let mut next_server = 0usize;
    let mut failure: Option<AgentError> = None;
    loop {
        // Keep at most `parallel` uploads running.
        while uploads.len() >= parallel && failure.is_none() {
            if let Some(r) = uploads.join_next().await {
                settle(r, &mut state, &mut results, &mut failure);
            }
        }
        if failure.is_some() {
            break;
        }
        let Some(item) = rx.recv().await else { break };
        let (index, digest, data) = item?;
        if let Some(prev) = state.as_mut().and_then(|s| s.done.remove(&index)) {
            // Uploaded by an interrupted run: the same key and nonce give the same chunk.
            if prev.digest != digest {
                if let Some(s) = state.take() {
                    s.remove();
                }
                return Err(AgentError::Chunker(ChunkerError::SourceChanged(
                    "the file differs from the interrupted send; its state was removed, send again",
                )));
            }
            next_server += 1;
            let mut d = done.lock().unwrap_or_else(|p| p.into_inner());
            *d += u64::from(prev.size);
            progress(Progress { done: *d, total });
            results.push(prev);
            continue;
        }
        // Consecutive relays for the replicas, rotating the first one chunk by chunk.
        let addrs: Vec<ServerAddress> = (0..replicas)
            .map(|r| servers[(next_server + r) % servers.len()].clone())
            .collect();
        next_server += 1;
        let (pool, n, retries) = (pool.clone(), opts.recipients, opts.retries);
        let (done, progress) = (done.clone(), progress.clone());
        uploads.spawn(async move {
            let mut copies = Vec::with_capacity(addrs.len());
            for addr in &addrs {
                copies.push(upload_replica(&pool, addr, digest, data.clone(), n, retries).await?);
            }
            let size = data.len() as u32;
            let mut d = done.lock().unwrap_or_else(|p| p.into_inner());
            *d += u64::from(size);
            progress(Progress { done: *d, total });
            Ok::<_, AgentError>(UploadedChunk {
                index,
                size,
                digest,
                replicas: copies,
            })
        });
    }
    // Let every started upload end, recording the ones that succeeded, so that a resumed
    // send does not repeat them even when another one failed.
    while let Some(r) = uploads.join_next().await {
        settle(r, &mut state, &mut results, &mut failure);
    }
    drop(rx);
    if let Some(e) = failure {
        return Err(e);
    }
    let summary = encryptor
        .await
        .map_err(|e| AgentError::Internal(e.to_string()))??;
    results.sort_by_key(|c| c.index);
    if let Some(s) = state {
        s.remove();
    }
    descriptions(&key, &nonce, &summary, results, opts.recipients)
}

/// Takes the outcome of one chunk upload: records a success, keeps the first failure.
fn settle(
    joined: Result<Result<UploadedChunk, AgentError>, tokio::task::JoinError>,
    state: &mut Option<SendState>,
    results: &mut Vec<UploadedChunk>,
    failure: &mut Option<AgentError>,
) {
    let outcome = joined
        .map_err(|e| AgentError::Internal(e.to_string()))
        .and_then(|r| r)
        .and_then(|chunk| record(state, &chunk).map(|()| chunk));
    match outcome {
        Ok(chunk) => results.push(chunk),
        Err(e) => {
            failure.get_or_insert(e);
        }
    }
}

fn record(state: &mut Option<SendState>, chunk: &UploadedChunk) -> Result<(), AgentError> {
    match state {
        Some(s) => s
            .record(chunk)
            .map_err(|e| AgentError::Chunker(ChunkerError::io("cannot write", &s.path, e))),
        None => Ok(()),
    }
}

/// One line of a send state after the header.
enum StateLine {
    Replica(usize, UploadedReplica),
    Chunk(usize, u32, [u8; 32]),
}

/// The record of a resumable send: the file's identity, the key and nonce, and every chunk
/// uploaded so far (a `replica` line per copy, then a `chunk` line that commits them).
struct SendState {
    path: std::path::PathBuf,
    writer: StateWriter,
    key: SbKey,
    nonce: SbNonce,
    done: HashMap<usize, UploadedChunk>,
}

impl SendState {
    /// Continues the state at `path` if it belongs to this file and these settings; starts a
    /// new one otherwise.
    fn open(
        path: &Path,
        source: &Path,
        recipients: usize,
        replicas: usize,
    ) -> Result<Self, AgentError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let io = |e| AgentError::Chunker(ChunkerError::io("cannot use the send state", path, e));
        let meta = std::fs::metadata(source)
            .map_err(|e| AgentError::Chunker(ChunkerError::io("cannot stat", source, e)))?;
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        let identity = format!("{} {mtime} {recipients} {replicas}", meta.len());
        if let Some(s) = std::fs::read_to_string(path)
            .ok()
            .and_then(|t| Self::parse(&t, &identity, recipients, replicas))
        {
            let file = std::fs::OpenOptions::new()
                .append(true)
                .open(path)
                .map_err(io)?;
            let (key, nonce, done) = s;
            return Ok(Self {
                path: path.to_path_buf(),
                writer: StateWriter::start(file),
                key,
                nonce,
                done,
            });
        }
        let key = SbKey::generate();
        let nonce = SbNonce::generate();
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
            .map_err(io)?;
        let header = format!(
            "xftp-send v1 {identity} {} {}\n",
            simplex_codec::base64url::encode(key.as_bytes()),
            simplex_codec::base64url::encode(&nonce.0)
        );
        file.write_all(header.as_bytes())
            .and_then(|()| file.sync_data())
            .map_err(io)?;
        Ok(Self {
            path: path.to_path_buf(),
            writer: StateWriter::start(file),
            key,
            nonce,
            done: HashMap::new(),
        })
    }

    #[allow(clippy::type_complexity)]
    fn parse(
        text: &str,
        identity: &str,
        recipients: usize,
        copies: usize,
    ) -> Option<(SbKey, SbNonce, HashMap<usize, UploadedChunk>)> {
        use simplex_codec::base64url::decode;
        let mut lines = text.lines();
        let header = lines.next()?.strip_prefix("xftp-send v1 ")?;
        let (id, keys) = header.rsplit_once(' ').and_then(|(rest, nonce)| {
            let (id, key) = rest.rsplit_once(' ')?;
            Some((id, (key, nonce)))
        })?;
        if id != identity {
            return None;
        }
        let key = SbKey::from_bytes(decode(keys.0)?.try_into().ok()?);
        let nonce = SbNonce(decode(keys.1)?.try_into().ok()?);
        let mut replicas: HashMap<usize, Vec<UploadedReplica>> = HashMap::new();
        let mut done = HashMap::new();
        // A line that does not parse (a torn last line after a kill) is skipped: the chunk
        // it belonged to has no commit line and is simply sent again.
        for line in lines {
            match Self::parse_line(line) {
                Some(StateLine::Replica(index, r)) => replicas.entry(index).or_default().push(r),
                Some(StateLine::Chunk(index, size, digest)) => {
                    // A chunk whose lines do not add up (a damaged state) is sent again.
                    let whole = |c: &Vec<UploadedReplica>| {
                        c.len() == copies && c.iter().all(|r| r.recipients.len() == recipients)
                    };
                    if let Some(copies) = replicas.remove(&index).filter(whole) {
                        done.insert(
                            index,
                            UploadedChunk {
                                index,
                                size,
                                digest,
                                replicas: copies,
                            },
                        );
                    }
                }
                None => {}
            }
        }
        Some((key, nonce, done))
    }

    fn parse_line(line: &str) -> Option<StateLine> {
        use simplex_codec::base64url::decode;
        let mut w = line.split(' ');
        match w.next()? {
            "replica" => {
                let index: usize = w.next()?.parse().ok()?;
                let server: XftpServer = w.next()?.parse().ok()?;
                let sender_id = decode(w.next()?)?;
                let sender_key = PrivateKey::from_der(&decode(w.next()?)?).ok()?;
                let mut recipients = Vec::new();
                for item in w.next()?.split(',') {
                    let (rid, rkey) = item.split_once(':')?;
                    recipients.push((decode(rid)?, PrivateKey::from_der(&decode(rkey)?).ok()?));
                }
                Some(StateLine::Replica(
                    index,
                    UploadedReplica {
                        server,
                        sender_id,
                        sender_key,
                        recipients,
                    },
                ))
            }
            "chunk" => Some(StateLine::Chunk(
                w.next()?.parse().ok()?,
                w.next()?.parse().ok()?,
                decode(w.next()?)?.try_into().ok()?,
            )),
            _ => None,
        }
    }

    /// Hands a finished chunk's lines to the writer (see [`StateWriter`]).
    fn record(&mut self, c: &UploadedChunk) -> std::io::Result<()> {
        use simplex_codec::base64url::encode;
        let mut text = String::new();
        for r in &c.replicas {
            let rcps: Vec<String> = r
                .recipients
                .iter()
                .map(|(id, k)| format!("{}:{}", encode(id), encode(&k.to_der())))
                .collect();
            text.push_str(&format!(
                "replica {} {} {} {} {}\n",
                c.index,
                r.server,
                encode(&r.sender_id),
                encode(&r.sender_key.to_der()),
                rcps.join(",")
            ));
        }
        text.push_str(&format!(
            "chunk {} {} {}\n",
            c.index,
            c.size,
            encode(&c.digest)
        ));
        self.writer.write(text)
    }

    fn remove(self) {
        let Self { path, writer, .. } = self;
        drop(writer);
        let _ = std::fs::remove_file(&path);
    }
}

/// Appends a send state's lines and syncs them on its own thread, so that the upload loop
/// never waits for the disk's flush. A line is written (to the page cache) before its chunk
/// counts as sent, so a killed process loses none; the syncs run behind, one per batch of
/// lines (those written during a sync are covered by the next), so a power cut may lose the
/// last lines, whose chunks a resumed send uploads again. Syncing every chunk in the loop cost
/// a 1 GiB send 1.2-1.6 s of waits on this machine while the relay wrote to the same disk.
struct StateWriter {
    file: std::fs::File,
    /// Wakes the syncing thread; none when it could not start (then each write syncs).
    tx: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// The first sync error, which fails the send at its next chunk.
    error: Arc<Mutex<Option<(std::io::ErrorKind, String)>>>,
}

impl StateWriter {
    fn start(file: std::fs::File) -> Self {
        let error = Arc::new(Mutex::new(None));
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let slot = error.clone();
        let thread = file.try_clone().and_then(|syncer| {
            std::thread::Builder::new()
                .name("xftp-send-state".into())
                .spawn(move || {
                    while rx.recv().is_ok() {
                        while rx.try_recv().is_ok() {}
                        if let Err(e) = syncer.sync_data() {
                            *slot.lock().unwrap_or_else(|p| p.into_inner()) =
                                Some((e.kind(), e.to_string()));
                            return;
                        }
                    }
                })
        });
        match thread {
            Ok(t) => Self {
                file,
                tx: Some(tx),
                thread: Some(t),
                error,
            },
            Err(_) => Self {
                file,
                tx: None,
                thread: None,
                error,
            },
        }
    }

    fn write(&mut self, text: String) -> std::io::Result<()> {
        use std::io::Write;
        if let Some((kind, msg)) = self.error.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            return Err(std::io::Error::new(kind, msg));
        }
        self.file.write_all(text.as_bytes())?;
        match &self.tx {
            Some(tx) if tx.send(()).is_ok() => Ok(()),
            // No syncing thread (or it stopped): synced here, as before it existed.
            _ => self.file.sync_data(),
        }
    }
}

impl Drop for StateWriter {
    /// Lets the syncing thread finish its last sync (a send that stops leaves its record on
    /// disk).
    fn drop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn upload_replica(
    pool: &Pool,
    addr: &ServerAddress,
    digest: [u8; 32],
    data: Bytes,
    recipients: usize,
    retries: u32,
) -> Result<UploadedReplica, AgentError> {
    let gen = || {
        simplex_crypto::generate(KeyAlgorithm::Ed25519)
            .map_err(|e| AgentError::Internal(e.to_string()))
    };
    let (_, sender_key) = gen()?;
    let mut rcps = Vec::with_capacity(recipients);
    for _ in 0..recipients {
        rcps.push(gen()?);
    }
    let size = data.len() as u32;
    let password = addr.password.clone();
    // FNEW carries at most 200 recipient keys (as the reference agent); FADD adds the rest.
    let first: Vec<_> = rcps.iter().take(200).map(|r| r.0.clone()).collect();
    let ids = with_retry(pool, addr, retries, |c| {
        let (k, keys, pw) = (sender_key.clone(), first.clone(), password.clone());
        async move { c.create(&k, size, digest, keys, pw.as_deref()).await }
    })
    .await?;
    let mut rids = ids.recipient_ids;
    if rids.len() != first.len() {
        return Err(AgentError::Client(ClientError::Unexpected(format!(
            "the relay returned {} recipient IDs for {} keys",
            rids.len(),
            first.len()
        ))));
    }
    for batch in rcps[rids.len()..].chunks(200) {
        let keys: Vec<_> = batch.iter().map(|r| r.0.clone()).collect();
        let more = with_retry(pool, addr, retries, |c| {
            let (k, keys, sid) = (sender_key.clone(), keys.clone(), ids.sender_id.clone());
            async move { c.add_recipients(&sid, &k, keys).await }
        })
        .await?;
        if more.len() != batch.len() {
            return Err(AgentError::Client(ClientError::Unexpected(format!(
                "the relay returned {} recipient IDs for {} keys",
                more.len(),
                batch.len()
            ))));
        }
        rids.extend(more);
    }
    with_retry(pool, addr, retries, |c| {
        let (k, sid, data) = (sender_key.clone(), ids.sender_id.clone(), data.clone());
        async move { c.upload(&sid, &k, data).await }
    })
    .await?;
    Ok(UploadedReplica {
        server: addr.server.clone(),
        sender_id: ids.sender_id,
        sender_key,
        recipients: rids
            .into_iter()
            .zip(rcps.into_iter().map(|r| r.1))
            .collect(),
    })
}

fn descriptions(
    key: &SbKey,
    nonce: &SbNonce,
    summary: &chunker::EncryptedFile,
    chunks: Vec<UploadedChunk>,
    recipients: usize,
) -> Result<SentFile, AgentError> {
    let base = |party, chunks| FileDescription {
        party,
        size: summary.plan.enc_size(),
        digest: summary.digest.to_vec(),
        key: FileKey(*key.as_bytes()),
        nonce: nonce.0,
        chunk_size: summary
            .plan
            .chunk_sizes()
            .first()
            .map_or(0, |&s| u64::from(s)),
        chunks,
        redirect: None,
    };
    // `who(replica)` picks the ID and key of the party the description is for; a replica
    // without them (checked when uploaded and when a send state is read) is an error.
    type Who<'a> = &'a dyn Fn(&UploadedReplica) -> Option<(Vec<u8>, PrivateKey)>;
    let party_chunks = |who: Who<'_>| -> Result<Vec<FileChunk>, AgentError> {
        chunks
            .iter()
            .map(|c| {
                let replicas = c
                    .replicas
                    .iter()
                    .map(|r| {
                        who(r).map(|(replica_id, replica_key)| FileChunkReplica {
                            server: r.server.clone(),
                            replica_id,
                            replica_key,
                        })
                    })
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| {
                        AgentError::Internal(format!("chunk {} lacks recipient IDs", c.index + 1))
                    })?;
                Ok(FileChunk {
                    chunk_no: c.index as u32 + 1,
                    chunk_size: u64::from(c.size),
                    digest: c.digest.to_vec(),
                    replicas,
                })
            })
            .collect()
    };
    let sender = base(
        FileParty::Sender,
        party_chunks(&|r| Some((r.sender_id.clone(), r.sender_key.clone())))?,
    );
    let recipients = (0..recipients)
        .map(|i| {
            Ok(base(
                FileParty::Recipient,
                party_chunks(&|r| r.recipients.get(i).cloned())?,
            ))
        })
        .collect::<Result<_, AgentError>>()?;
    Ok(SentFile { sender, recipients })
}

/// How to receive.
#[derive(Debug, Clone)]
pub struct RecvOptions {
    /// Attempts per relay operation.
    pub retries: u32,
    /// Chunks downloaded at once (also the reorder window).
    pub parallel: usize,
    /// Largest file accepted.
    pub max_file_size: u64,
    /// Send FACK for every chunk after the file verified.
    pub ack: bool,
    /// Keep a partial download (`DIR/.xftp-<digest>.part`) when interrupted and continue it
    /// the next time the same description is received into the same directory.
    pub resume: bool,
    /// Save under this name instead of the sender's (still never replacing a file).
    pub file_name: Option<String>,
}

impl Default for RecvOptions {
    fn default() -> Self {
        Self {
            retries: 3,
            parallel: 4,
            max_file_size: chunker::plan::DEFAULT_MAX_FILE_SIZE,
            ack: true,
            resume: true,
            file_name: None,
        }
    }
}

/// Downloads, verifies and decrypts the file of a recipient description into `dir`; follows
/// one level of redirect.
pub async fn receive_file(
    pool: Arc<Pool>,
    desc: &ValidFileDescription,
    dir: &Path,
    opts: &RecvOptions,
    progress: impl Fn(Progress) + Send + Sync + 'static,
) -> Result<DecryptedFile, AgentError> {
    let progress = Arc::new(progress);
    let desc = desc.clone().for_party(FileParty::Recipient)?;
    desc.check_transferable()?;
    let Some(redirect) = desc.redirect.clone() else {
        return receive_direct(pool, &desc, dir, opts, progress).await;
    };
    // The description points at another description: fetch it into a private temp dir.
    let tmp = tempfile_dir(dir)?;
    let inner_opts = RecvOptions {
        file_name: None,
        ..opts.clone()
    };
    let inner = receive_direct(
        pool.clone(),
        &desc,
        tmp.path(),
        &inner_opts,
        Arc::new(|_| {}),
    )
    .await?;
    let text = std::fs::read_to_string(&inner.path)
        .map_err(|e| AgentError::Chunker(ChunkerError::io("cannot read", &inner.path, e)))?;
    let real = ValidFileDescription::from_yaml(&text)?.for_party(FileParty::Recipient)?;
    real.check_transferable()?;
    if real.redirect.is_some() {
        return Err(AgentError::Description(
            xftp_proto::DescriptionError::NotTransferable("redirect chain too long"),
        ));
    }
    if real.size != redirect.size || real.digest != redirect.digest {
        return Err(AgentError::Description(
            xftp_proto::DescriptionError::NotTransferable(
                "the redirected description does not match the redirect's size and digest",
            ),
        ));
    }
    receive_direct(pool, &real, dir, opts, progress).await
}

fn tempfile_dir(dir: &Path) -> Result<TempDir, AgentError> {
    let mut rnd = [0u8; 8];
    openssl::rand::rand_bytes(&mut rnd).map_err(|e| AgentError::Internal(e.to_string()))?;
    let path = dir.join(format!(".xftp-redirect-{:016x}", u64::from_le_bytes(rnd)));
    // Private: it holds a whole description (file key and replica keys) for a while.
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&path)
        .map_err(|e| AgentError::Chunker(ChunkerError::io("cannot create", &path, e)))?;
    Ok(TempDir(path))
}

/// A directory removed on drop.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Chunk buffers a download may use beyond one per parallel download: they keep the
/// decryptor's hashing and writing stages fed while the downloads continue.
const RECV_PIPELINE_BUFFERS: usize = 3;

async fn receive_direct(
    pool: Arc<Pool>,
    desc: &FileDescription,
    dir: &Path,
    opts: &RecvOptions,
    progress: Arc<dyn Fn(Progress) + Send + Sync>,
) -> Result<DecryptedFile, AgentError> {
    let sizes: Vec<u32> = desc
        .chunks
        .iter()
        .map(|c| u32::try_from(c.chunk_size).map_err(|_| AgentError::Internal("chunk size".into())))
        .collect::<Result<_, _>>()?;
    let digest: [u8; 64] = desc
        .digest
        .clone()
        .try_into()
        .map_err(|_| AgentError::Internal("digest length".into()))?;
    let params = DecryptParams {
        key: SbKey::from_bytes(desc.key.0),
        nonce: SbNonce(desc.nonce),
        chunk_sizes: sizes,
        digest,
        // Every chunk's SHA-256 is checked on arrival below.
        chunk_digests: None,
    };
    let mut dec_opts = DecryptOptions::new(dir);
    dec_opts.max_file_size = opts.max_file_size;
    dec_opts.file_name = opts.file_name.clone();
    let part_name = opts.resume.then(|| {
        // Named after the file digest: the same description resumes into the same file.
        let id: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
        format!(".xftp-{id}.part")
    });
    dec_opts.resume_name = part_name.clone();
    // Chunk buffers circulate: download -> reorder window -> decryptor -> back here. At most
    // `budget` of them ever exist, so memory does not grow with the decryptor's queues.
    let (free_tx, mut free_rx) = mpsc::unbounded_channel::<Vec<u8>>();
    dec_opts.recycle = Some(chunker::Recycler::new(move |buf| {
        let _ = free_tx.send(buf);
    }));
    // Opening may replay a partial output from an earlier run: blocking work.
    let mut dec = tokio::task::spawn_blocking(move || Decryptor::new(params, dec_opts))
        .await
        .map_err(|e| AgentError::Internal(e.to_string()))??;
    let resumed = dec.resumed_chunks();
    let (tx, mut rx) = mpsc::channel::<Vec<u8>>(1);
    let decrypting = tokio::task::spawn_blocking(move || {
        while let Some(data) = rx.blocking_recv() {
            dec.push(data)?;
        }
        dec.finish()
    });

    let chunks = Arc::new(desc.chunks.clone());
    let parallel = opts.parallel.max(1);
    // The downloads plus what keeps the decryptor's two stages busy.
    let budget = parallel + RECV_PIPELINE_BUFFERS;
    let mut allocated = 0usize;
    let mut spare: Vec<Vec<u8>> = Vec::new();
    let total = desc.size;
    let mut done: u64 = desc.chunks[..resumed].iter().map(|c| c.chunk_size).sum();
    let mut next_spawn = resumed;
    let mut next_push = resumed;
    let mut pending: BTreeMap<usize, Vec<u8>> = BTreeMap::new();
    let mut running = JoinSet::new();
    let mut used: Vec<Option<usize>> = vec![None; chunks.len()];
    let mut failure = None;
    while next_push < chunks.len() {
        // Spawn within the reorder window only, so at most `parallel` chunks are held, and
        // only with a buffer to receive into.
        while next_spawn < chunks.len() && next_spawn < next_push + parallel {
            let buf = match spare.pop().or_else(|| free_rx.try_recv().ok()) {
                Some(b) => b,
                None if allocated < budget => {
                    allocated += 1;
                    Vec::new()
                }
                None => break,
            };
            let (pool, chunks, retries, i) =
                (pool.clone(), chunks.clone(), opts.retries, next_spawn);
            running.spawn(
                async move { (i, download_chunk(&pool, &chunks[i], i, retries, buf).await) },
            );
            next_spawn += 1;
        }
        let starved = next_spawn < chunks.len() && next_spawn < next_push + parallel;
        let joined = tokio::select! {
            joined = running.join_next(), if !running.is_empty() => joined,
            buf = free_rx.recv(), if starved => {
                match buf {
                    Some(b) => {
                        spare.push(b);
                        continue;
                    }
                    // The decryptor stopped; its error is reported below.
                    None => break,
                }
            }
            else => {
                failure = Some(AgentError::Internal("receive stalled with nothing running".into()));
                break;
            }
        };
        let Some(joined) = joined else {
            break;
        };
        let (i, replica, data) = match joined {
            Ok((i, Ok((replica, data)))) => (i, replica, data),
            Ok((_, Err(e))) => {
                failure = Some(e);
                break;
            }
            Err(e) => {
                failure = Some(AgentError::Internal(e.to_string()));
                break;
            }
        };
        used[i] = Some(replica);
        done += data.len() as u64;
        progress(Progress { done, total });
        pending.insert(i, data);
        while let Some(data) = pending.remove(&next_push) {
            if tx.send(data).await.is_err() {
                break; // the decryptor failed; its error is reported below
            }
            next_push += 1;
        }
        if tx.is_closed() {
            break;
        }
    }
    drop(tx);
    running.abort_all();
    let decrypted = decrypting
        .await
        .map_err(|e| AgentError::Internal(e.to_string()))?;
    if let Some(e) = failure {
        // Keep the partial output for a later resume only if trying again can help.
        let retriable = matches!(&e, AgentError::Client(c) if c.is_retriable());
        if !retriable {
            if let Some(name) = &part_name {
                let part = dir.join(name);
                let _ = std::fs::remove_file(&part);
                let mut state = part.into_os_string();
                state.push(".state");
                let _ = std::fs::remove_file(state);
            }
        }
        return Err(e);
    }
    let file = decrypted?;
    if opts.ack {
        for (chunk, replica) in desc.chunks.iter().zip(used) {
            // Chunks of an earlier, interrupted run: which replica served them is unknown,
            // and acknowledging every one of ours is harmless once the file is saved.
            let acks: Vec<&FileChunkReplica> = match replica {
                Some(r) => chunk.replicas.get(r).into_iter().collect(),
                None => chunk.replicas.iter().collect(),
            };
            for r in acks {
                let addr = ServerAddress {
                    server: r.server.clone(),
                    password: None,
                };
                // Best effort: the file is already verified and saved.
                let _ = with_retry(&pool, &addr, opts.retries, |c| {
                    let (id, k) = (r.replica_id.clone(), r.replica_key.clone());
                    async move { c.ack(&id, &k).await }
                })
                .await;
            }
        }
    }
    Ok(file)
}

/// Downloads a chunk from its first working replica; returns the replica used and the bytes.
async fn download_chunk(
    pool: &Pool,
    chunk: &FileChunk,
    index: usize,
    retries: u32,
    buf: Vec<u8>,
) -> Result<(usize, Vec<u8>), AgentError> {
    let spare = Mutex::new(Some(buf));
    let size =
        u32::try_from(chunk.chunk_size).map_err(|_| AgentError::Internal("chunk size".into()))?;
    let mut last = None;
    for (r, replica) in chunk.replicas.iter().enumerate() {
        let addr = ServerAddress {
            server: replica.server.clone(),
            password: None,
        };
        // Transit decryption and the chunk's SHA-256 in one blocking pass.
        let checked = with_retry(pool, &addr, retries, |c| {
            let (id, k) = (replica.replica_id.clone(), replica.replica_key.clone());
            let buf = spare
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take()
                .unwrap_or_default();
            let digest = chunk.digest.clone();
            async move { c.download_checked(&id, &k, size, buf, Some(digest)).await }
        })
        .await
        .map(|(data, ok)| (ok, data))
        .map_err(AgentError::Client);
        match checked {
            Ok((true, data)) => return Ok((r, data)),
            Ok((false, _)) => last = Some(AgentError::ChunkDigest(index)),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or(AgentError::ChunkDigest(index)))
}

/// Deletes one chunk replica as its sender; one already gone (deleted or expired) counts as
/// deleted.
async fn delete_replica(
    pool: &Arc<Pool>,
    server: &XftpServer,
    id: &[u8],
    key: &PrivateKey,
    retries: u32,
) -> Result<(), AgentError> {
    let addr = ServerAddress {
        server: server.clone(),
        password: None,
    };
    let r = with_retry(pool, &addr, retries, |c| {
        let (id, k) = (id.to_vec(), key.clone());
        async move { c.delete(&id, &k).await }
    })
    .await;
    match r {
        Ok(()) | Err(ClientError::Relay(xftp_proto::XftpError::Auth)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Deletes every chunk replica a resumable send recorded in its state file at `state` (an
/// upload given up before it finished: nothing else knows these chunks), then the state file.
/// Replicas already gone count as deleted. The number of replicas deleted.
pub async fn delete_partial_send(
    pool: Arc<Pool>,
    state: &Path,
    retries: u32,
) -> Result<usize, AgentError> {
    let text = match std::fs::read_to_string(state) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => {
            return Err(AgentError::Chunker(ChunkerError::io(
                "cannot read the send state",
                state,
                e,
            )))
        }
    };
    let mut deleted = 0;
    // Every replica line, committed or not: an uncommitted one was created on its relay too.
    for line in text.lines().skip(1) {
        let Some(StateLine::Replica(_, r)) = SendState::parse_line(line) else {
            continue;
        };
        delete_replica(&pool, &r.server, &r.sender_id, &r.sender_key, retries).await?;
        deleted += 1;
    }
    let _ = std::fs::remove_file(state);
    Ok(deleted)
}

/// Deletes every chunk of a sender description.
pub async fn delete_file(
    pool: Arc<Pool>,
    desc: &ValidFileDescription,
    retries: u32,
) -> Result<(), AgentError> {
    let desc = desc.clone().for_party(FileParty::Sender)?;
    for chunk in &desc.chunks {
        for replica in &chunk.replicas {
            delete_replica(
                &pool,
                &replica.server,
                &replica.replica_id,
                &replica.replica_key,
                retries,
            )
            .await?;
        }
    }
    Ok(())
}

/// Replaces every recipient description whose web link would be longer than `link_limit`
/// characters by a redirect: the description itself is uploaded as a one-chunk file and the
/// recipient gets a small description of that upload, carrying the size and digest of the real
/// file. Recipients follow one redirect ([`receive_file`]).
pub async fn redirect_large(
    pool: Arc<Pool>,
    sent: SentFile,
    servers: &[ServerAddress],
    opts: &SendOptions,
    link_limit: usize,
) -> Result<SentFile, AgentError> {
    let mut recipients = Vec::with_capacity(sent.recipients.len());
    for desc in sent.recipients {
        let link_len = xftp_proto::description::encode_web_link(&desc).map_or(0, |l| l.len());
        if link_len <= link_limit {
            recipients.push(desc);
            continue;
        }
        let dir = tempfile_dir(&std::env::temp_dir())?;
        let yaml = dir.path().join("direct.yaml");
        std::fs::write(&yaml, desc.to_yaml())
            .map_err(|e| AgentError::Chunker(ChunkerError::io("cannot write", &yaml, e)))?;
        let inner_opts = SendOptions {
            recipients: 1,
            state: None,
            encrypt: EncryptOptions {
                mode: chunker::ChunkMode::Single,
                file_name: Some("direct.yaml".into()),
                ..EncryptOptions::default()
            },
            ..opts.clone()
        };
        let inner = send_file(pool.clone(), &yaml, servers, &inner_opts, |_| {}).await?;
        let mut small = inner
            .recipients
            .into_iter()
            .next()
            .ok_or_else(|| AgentError::Internal("no recipient description".into()))?;
        small.redirect = Some(xftp_proto::description::RedirectFileInfo {
            size: desc.size,
            digest: desc.digest.clone(),
        });
        recipients.push(small);
    }
    Ok(SentFile {
        sender: sent.sender,
        recipients,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A state line for chunk 0 with `n` recipients on `server`.
    fn replica_line(server: &str, n: usize) -> String {
        use simplex_codec::base64url::encode;
        let key = |_| simplex_crypto::generate(KeyAlgorithm::Ed25519).unwrap().1;
        let rcps: Vec<String> = (0..n)
            .map(|i| format!("{}:{}", encode(&[i as u8; 16]), encode(&key(i).to_der())))
            .collect();
        format!(
            "replica 0 {server} {} {} {}",
            encode(&[9; 16]),
            encode(&key(0).to_der()),
            rcps.join(",")
        )
    }

    #[test]
    fn a_damaged_send_state_sends_the_chunk_again_instead_of_failing_later() {
        use simplex_codec::base64url::encode;
        let server = "xftp://LcJUMfVhwD8yxjAiSaDzzGF3-kLG4Uh9Fd2tV3kYU7s=@127.0.0.1:443";
        let header = format!("xftp-send v1 ID {} {}", encode(&[1; 32]), encode(&[2; 24]));
        let chunk = format!("chunk 0 65536 {}", encode(&[3; 32]));
        // One recipient ID where the send has two: the chunk is not taken as done.
        let text = format!("{header}\n{}\n{chunk}\n", replica_line(server, 1));
        let (_, _, done) = SendState::parse(&text, "ID", 2, 1).unwrap();
        assert!(done.is_empty());
        // Whole: taken.
        let text = format!("{header}\n{}\n{chunk}\n", replica_line(server, 2));
        let (_, _, done) = SendState::parse(&text, "ID", 2, 1).unwrap();
        assert_eq!(done.len(), 1);
        // Fewer copies than replicas: sent again.
        let (_, _, done) = SendState::parse(&text, "ID", 2, 2).unwrap();
        assert!(done.is_empty());
        // Garbage lines and a torn last line are skipped; a wrong identity starts afresh.
        let text = format!(
            "{header}\nreplica x y\n{}\n{chunk}\nchunk 0 6",
            replica_line(server, 2)
        );
        assert_eq!(SendState::parse(&text, "ID", 2, 1).unwrap().2.len(), 1);
        assert!(SendState::parse(&text, "OTHER", 2, 1).is_none());
    }

    #[test]
    fn descriptions_refuse_replicas_without_every_recipient() {
        let (_, k) = simplex_crypto::generate(KeyAlgorithm::Ed25519).unwrap();
        let chunk = UploadedChunk {
            index: 0,
            size: 65536,
            digest: [0; 32],
            replicas: vec![UploadedReplica {
                server: "xftp://LcJUMfVhwD8yxjAiSaDzzGF3-kLG4Uh9Fd2tV3kYU7s=@127.0.0.1:443"
                    .parse()
                    .unwrap(),
                sender_id: vec![1; 16],
                sender_key: k.clone(),
                recipients: vec![(vec![2; 16], k)],
            }],
        };
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("f");
        std::fs::write(&src, b"x").unwrap();
        let (key, nonce) = (SbKey::generate(), SbNonce::generate());
        let mut enc = encrypt_file(&src, &key, &nonce, &EncryptOptions::default()).unwrap();
        for c in enc.by_ref() {
            c.unwrap();
        }
        let summary = enc.finish().unwrap();
        let r = descriptions(&key, &nonce, &summary, vec![chunk], 2);
        assert!(matches!(r, Err(AgentError::Internal(_))));
    }
}
