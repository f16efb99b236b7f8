//! The SMP relay: queues, messages and subscriptions ([`relay`]), with the reference's
//! semantics, behind TLS ([`net`]).
//!
//! ```text
//! TCP ─► TLS (ALPN smp/1) ─► server hello / client hello ─► blocks (encrypted from v11)
//!     ─► 1..255 transmissions ─► Relay::handle ─► answers, batched into blocks
//!                                    └─► pushes to other connections (MSG, END, DELD)
//! ```

pub mod config;
pub mod control;
pub mod journal;
pub mod net;
pub mod pg;
mod pg_schema;
pub mod proxy;
pub mod queue;
pub mod relay;
pub mod stats;
pub mod storelog;

use std::net::SocketAddr;
use std::sync::Arc;

pub use relay::{Conn, ConnId, Outgoing, Relay, RelayConfig};

/// Why the relay could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The identity (certificates, keys) is unusable.
    #[error("identity: {0}")]
    Identity(String),
    /// Another relay process uses the same state folder.
    #[error("{0} is locked by another running smp-server; stop it first (nothing was changed)")]
    Locked(std::path::PathBuf),
    /// The store log could not be read, compacted or opened.
    #[error("store log {path}: {source}")]
    StoreLog {
        /// The log.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The message store cannot be used as configured.
    #[error("{0}")]
    Store(String),
    /// The queue database cannot be used.
    #[error(transparent)]
    Database(#[from] pg::DbError),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// A running relay.
#[derive(Debug)]
pub struct Running {
    /// Where it listens (the first address).
    pub addr: SocketAddr,
    /// Every address it listens on.
    pub addrs: Vec<SocketAddr>,
    /// The queues and messages.
    pub relay: Arc<Relay>,
    /// Where the control port listens, when it is on.
    pub control_addr: Option<SocketAddr>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    stop: tokio::sync::watch::Sender<bool>,
    /// Locks on the state folders, released when the relay is dropped.
    _locks: Vec<std::fs::File>,
}

/// The lock file in the state folder.
pub const LOCK_FILE: &str = "smp-server.lock";

impl Running {
    /// Stops accepting connections and closes every open one.
    pub fn stop(self) {
        self.stop.send_replace(true);
        for t in self.tasks {
            t.abort();
        }
    }

    /// A graceful stop: no more connections, no more acknowledged changes to messages, and
    /// every stored message saved to `messages` (when given) for the next start. Returns how
    /// many messages were saved.
    pub fn shutdown(self, messages: Option<&std::path::Path>) -> std::io::Result<usize> {
        for t in &self.tasks {
            t.abort();
        }
        let lines = self.relay.close_and_snapshot_messages();
        if let Some(path) = messages {
            write_snapshot(path, &lines)?;
        }
        self.stop.send_replace(true);
        Ok(lines.len())
    }
}

/// Writes the message snapshot next to its final name, syncs it, then renames it in place.
fn write_snapshot(path: &std::path::Path, lines: &[String]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("log.new");
    {
        let mut f = store_log::private_file(&tmp)?;
        let mut text = String::new();
        for l in lines {
            text.push_str(l);
            text.push('\n');
        }
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Appends one line to a file (created 0640).
fn append_line(path: &std::path::Path, line: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .open(path)?;
    f.write_all(format!("{line}\n").as_bytes())
}

/// Where a relay keeps its state.
#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    /// The queue store log (`smp-server-store.log`).
    pub store_log: Option<std::path::PathBuf>,
    /// The message snapshot (`smp-server-messages.log`) restored at start, written at
    /// shutdown; after restoring, it is kept as `<file>.bak` until the next start.
    pub messages: Option<std::path::PathBuf>,
    /// The journal folder (`messages`): every message written to its queue's journal before it
    /// is acknowledged (instead of the snapshot).
    pub journal: Option<std::path::PathBuf>,
    /// Drop expired messages before serving (`expire_messages_on_start`).
    pub expire_on_start: bool,
    /// `[INACTIVE_CLIENTS]`: close connections without subscriptions silent this long.
    pub inactive_ttl: Option<std::time::Duration>,
    /// Connections open at once (`None`: [`config::DEFAULT_MAX_CONNECTIONS`]); also capped by
    /// the open-file limit.
    pub max_connections: Option<usize>,
    /// The control port on 127.0.0.1 (port 0: any free port, see [`Running::control_addr`]).
    pub control: Option<(u16, control::ControlConfig)>,
    /// `log_stats = on`: one line a day (at midnight UTC) appended to this file.
    pub stats_log: Option<std::path::PathBuf>,
    /// `store_queues = database`: queue records in PostgreSQL instead of the store log.
    pub database: Option<Database>,
}

/// `store_queues = database` and its `db_*` settings.
#[derive(Debug, Clone)]
pub struct Database {
    /// Where the database is.
    pub db: pg::DbOptions,
    /// `db_store_log = on`: committed changes also appended to this store log (it must exist).
    pub store_log: Option<std::path::PathBuf>,
    /// `db_deleted_ttl`: seconds deleted queues stay in the database.
    pub deleted_ttl: u64,
    /// Whether pending schema migrations are applied.
    pub migrate: pg::Migrate,
}

/// How often expired messages are dropped (the reference's interval).
pub const EXPIRE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(7200);

/// Takes the lock on a state folder (for tools that change it while no relay runs).
pub fn lock_state(dir: &std::path::Path) -> Result<std::fs::File, StartError> {
    store_log::lock_folder(dir, LOCK_FILE).map_err(|source| match source.kind() {
        std::io::ErrorKind::WouldBlock => StartError::Locked(dir.to_path_buf()),
        _ => StartError::StoreLog {
            path: dir.join(LOCK_FILE),
            source,
        },
    })
}

/// Where the offline tools read the queues from.
#[derive(Debug, Clone, Copy)]
pub enum Queues<'a> {
    /// The store log (`store_queues = memory`).
    StoreLog(&'a std::path::Path),
    /// PostgreSQL (`store_queues = database`).
    Database(&'a pg::DbOptions),
}

/// The queues, read without changing anything.
fn read_queues(from: Queues<'_>) -> Result<storelog::QueueStore, StartError> {
    let store_log = match from {
        Queues::StoreLog(path) => path,
        Queues::Database(db) => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| StartError::Store(e.to_string()))?;
            let loaded = rt.block_on(pg::load(db, pg::Migrate::Refuse))?;
            for why in &loaded.skipped {
                tracing::warn!("database: a queue was not loaded: {why}");
            }
            return Ok(loaded.store);
        }
    };
    let mut store = storelog::QueueStore::default();
    let replay =
        store_log::replay_file(&mut store, store_log).map_err(|source| StartError::StoreLog {
            path: store_log.to_path_buf(),
            source,
        })?;
    for (line, why) in &replay.skipped {
        tracing::warn!("store log line {line} skipped: {why}");
    }
    Ok(store)
}

/// A relay with the queues, for offline tools: nothing expires, nothing is logged, the state
/// folder's lock is held.
fn offline_relay(
    queues: Queues<'_>,
    journal_dir: &std::path::Path,
) -> Result<(Arc<Relay>, std::fs::File), StartError> {
    let dir = journal_dir.parent().unwrap_or(std::path::Path::new("."));
    let lock = lock_state(dir)?;
    let config = RelayConfig {
        message_ttl: None,
        expire_on_send: false,
        ..RelayConfig::default()
    };
    let relay = Relay::with_store(config, read_queues(queues)?, None, relay::system_seconds)
        .map_err(|e| StartError::Identity(e.to_string()))?;
    Ok((relay, lock))
}

/// `smp-server journal import`: writes the messages of a snapshot file into a new journal
/// folder, then renames the file to `.bak`. Returns (imported, skipped lines with why).
pub fn import_journal(
    queues: Queues<'_>,
    messages: &std::path::Path,
    journal_dir: &std::path::Path,
) -> Result<(usize, Vec<(usize, String)>), StartError> {
    let (relay, _lock) = offline_relay(queues, journal_dir)?;
    let io = |path: &std::path::Path| {
        let path = path.to_path_buf();
        move |source| StartError::StoreLog { path, source }
    };
    relay.attach_journal(journal::JournalStore::open(journal_dir).map_err(io(journal_dir))?);
    let text = std::fs::read_to_string(messages).map_err(io(messages))?;
    let (restored, skipped) = relay.restore_messages(text.lines());
    relay.journal_synced().map_err(io(journal_dir))?;
    std::fs::rename(messages, messages.with_extension("log.bak")).map_err(io(messages))?;
    Ok((restored, skipped))
}

/// `smp-server journal export`: writes every journaled message to a snapshot file (the
/// journal is left as it is). Returns how many.
pub fn export_journal(
    queues: Queues<'_>,
    journal_dir: &std::path::Path,
    messages: &std::path::Path,
) -> Result<usize, StartError> {
    let (relay, _lock) = offline_relay(queues, journal_dir)?;
    let js = journal::JournalStore::open(journal_dir).map_err(|source| StartError::StoreLog {
        path: journal_dir.to_path_buf(),
        source,
    })?;
    let (_, notes) = relay.attach_journal(js);
    for n in &notes {
        tracing::warn!("{n}");
    }
    let lines = relay.snapshot_messages();
    write_snapshot(messages, &lines).map_err(|source| StartError::StoreLog {
        path: messages.to_path_buf(),
        source,
    })?;
    Ok(lines.len())
}

/// Binds `addr` and serves SMP with `identity` until stopped, queues in memory only.
pub async fn start(
    addr: SocketAddr,
    identity: &transport::Identity,
    config: RelayConfig,
) -> Result<Running, StartError> {
    start_with_log(addr, identity, config, None).await
}

/// As [`start`], replaying and compacting the store log at `store_log` first (the previous
/// log is kept as `<log>.<seconds>`) and appending every queue change to it.
pub async fn start_with_log(
    addr: SocketAddr,
    identity: &transport::Identity,
    config: RelayConfig,
    store_log: Option<&std::path::Path>,
) -> Result<Running, StartError> {
    let opts = StartOptions {
        store_log: store_log.map(std::path::Path::to_path_buf),
        ..StartOptions::default()
    };
    start_on(&[addr], identity, config, &opts).await
}

/// As [`start_with_log`], listening on several addresses (the ini's `port = 5223,443`).
pub async fn start_on(
    addrs: &[SocketAddr],
    identity: &transport::Identity,
    config: RelayConfig,
    opts: &StartOptions,
) -> Result<Running, StartError> {
    let store_log = opts.store_log.as_deref();
    let id = |e: &dyn std::fmt::Display| StartError::Identity(e.to_string());
    if opts.database.is_some() && opts.store_log.is_some() {
        return Err(StartError::Store(
            "queues are kept either in the store log or in the database, not both".into(),
        ));
    }
    if opts.journal.is_some() && opts.messages.is_some() {
        return Err(StartError::Store(
            "messages are kept either in the journal or in the snapshot file, not both".into(),
        ));
    }
    // The identity is checked before anything else is touched.
    let acceptor = transport::smp_server_acceptor(identity).map_err(|e| id(&e))?;
    let chain_der = identity.chain_der().map_err(|e| id(&e))?;
    let key_hash = identity.key_hash().map_err(|e| id(&e))?;
    let online_key = identity.online_key().map_err(|e| id(&e))?;
    let create_password = config.create_password.clone();
    // Bind first: a second relay started by mistake fails here, before touching the log.
    let mut listeners = Vec::with_capacity(addrs.len());
    for &addr in addrs {
        let l = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| StartError::Bind { addr, source })?;
        listeners.push(l);
    }
    // ... and one relay per state folder: the lock is taken before the log or the message
    // snapshot is read, and held while the relay runs.
    let mut locks = Vec::new();
    let state_files = [
        opts.store_log.as_deref(),
        opts.messages.as_deref(),
        opts.journal.as_deref(),
        opts.database.as_ref().and_then(|d| d.store_log.as_deref()),
    ];
    let mut dirs: Vec<&std::path::Path> = state_files
        .iter()
        .flatten()
        .filter_map(|p| p.parent())
        .collect();
    dirs.dedup();
    for dir in dirs {
        let lock =
            store_log::lock_folder(dir, LOCK_FILE).map_err(|source| match source.kind() {
                std::io::ErrorKind::WouldBlock => StartError::Locked(dir.to_path_buf()),
                _ => StartError::StoreLog {
                    path: dir.join(LOCK_FILE),
                    source,
                },
            })?;
        locks.push(lock);
    }
    let mut store = storelog::QueueStore::default();
    let log = match (store_log, &opts.database) {
        (_, Some(d)) => {
            let loaded = pg::load(&d.db, d.migrate).await?;
            for why in &loaded.skipped {
                tracing::warn!("database: a queue was not loaded: {why}");
            }
            if loaded.services_ignored > 0 {
                tracing::warn!(
                    "database: {} queues are associated with services, which this relay does not serve; the association is ignored",
                    loaded.services_ignored
                );
            }
            store = loaded.store;
            tracing::info!("database: {} queues", store.queues.len());
            match pg::compact(&d.db, d.deleted_ttl).await {
                Ok(0) => {}
                Ok(n) => tracing::info!("database: removed {n} old deleted queues"),
                Err(e) => tracing::warn!("database: removing old deleted queues: {e}"),
            }
            let file = Arc::new(pg::DbLog::open(&d.db, d.store_log.as_deref())?);
            let path = std::path::Path::new("(database)");
            Some(
                store_log::StoreLog::with_file(file, path, 0).map_err(|source| {
                    StartError::StoreLog {
                        path: path.to_path_buf(),
                        source,
                    }
                })?,
            )
        }
        (None, None) => None,
        (Some(path), None) => {
            let suffix = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
                .to_string();
            let (log, replay) =
                store_log::open_log(&mut store, path, &suffix).map_err(|source| {
                    StartError::StoreLog {
                        path: path.to_path_buf(),
                        source,
                    }
                })?;
            for (line, why) in &replay.skipped {
                tracing::warn!("store log line {line} skipped: {why}");
            }
            tracing::info!(
                "store log: {} records replayed, {} queues",
                replay.applied,
                store.queues.len()
            );
            Some(log)
        }
    };
    let relay = Relay::with_store(config, store, log, relay::system_seconds).map_err(|e| id(&e))?;
    if let Some(path) = opts.messages.as_deref().filter(|p| p.exists()) {
        let io = |source| StartError::StoreLog {
            path: path.to_path_buf(),
            source,
        };
        let text = std::fs::read_to_string(path).map_err(io)?;
        let (restored, skipped) = relay.restore_messages(text.lines());
        for (line, why) in &skipped {
            tracing::warn!("{}: line {line} skipped: {why}", path.display());
        }
        tracing::info!("restored {restored} messages from {}", path.display());
        std::fs::rename(path, path.with_extension("log.bak")).map_err(io)?;
    }
    if let Some(dir) = opts.journal.as_deref() {
        let js = journal::JournalStore::open(dir).map_err(|source| StartError::StoreLog {
            path: dir.to_path_buf(),
            source,
        })?;
        let (loaded, notes) = relay.attach_journal(js);
        for n in &notes {
            tracing::warn!("{n}");
        }
        tracing::info!("journal: {loaded} messages in {}", dir.display());
    }
    if let (true, Some(ttl)) = (opts.expire_on_start, relay.message_ttl()) {
        let (expired, stored) = relay.expire_messages(relay::system_seconds() - ttl);
        tracing::info!("expired {expired} messages, {stored} stored");
    }
    let endpoint = Arc::new(net::Endpoint {
        acceptor,
        chain_der,
        key_hash,
        online_key,
        // Private routing is always offered, as by the reference (allowSMPProxy = True),
        // with the same password as creating queues.
        proxy: Some(Arc::new(proxy::ProxyAgent::new(
            create_password,
            relay.stats.clone(),
        ))),
        inactive_ttl: opts.inactive_ttl,
        connections: Arc::new(tokio::sync::Semaphore::new(net::connection_cap(
            opts.max_connections
                .unwrap_or(config::DEFAULT_MAX_CONNECTIONS),
        ))),
    });
    let mut bound = Vec::with_capacity(listeners.len());
    let mut tasks = Vec::with_capacity(listeners.len() + 4);
    let mut control_addr = None;
    if let Some((port, cfg)) = &opts.control {
        let l = control::bind(*port)
            .await
            .map_err(|source| StartError::Bind {
                addr: SocketAddr::from(([127, 0, 0, 1], *port)),
                source,
            })?;
        control_addr = l.local_addr().ok();
        tasks.push(tokio::spawn(control::serve(
            l,
            relay.clone(),
            Arc::new(cfg.clone()),
        )));
    }
    if let Some(path) = opts.stats_log.clone() {
        let relay = relay.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                // The next midnight UTC, as the reference (log_stats start time 0).
                let now = relay::system_seconds();
                let wait = 86_400 - now.rem_euclid(86_400);
                tokio::time::sleep(std::time::Duration::from_secs(wait as u64)).await;
                let line = relay.daily_stats_line();
                let path = path.clone();
                let written = tokio::task::spawn_blocking(move || append_line(&path, &line)).await;
                if let Ok(Err(e)) = written {
                    tracing::error!("stats log: {e}");
                }
            }
        }));
    }
    if let Some(ttl) = relay.message_ttl() {
        let relay = relay.clone();
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(EXPIRE_INTERVAL);
            tick.tick().await;
            loop {
                tick.tick().await;
                let r = relay.clone();
                let done = tokio::task::spawn_blocking(move || {
                    r.expire_messages(relay::system_seconds() - ttl)
                })
                .await;
                if let Ok((expired, stored)) = done {
                    tracing::info!("expired {expired} messages, {stored} stored");
                }
            }
        }));
    }
    if let Some(d) = opts.database.clone() {
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(EXPIRE_INTERVAL);
            tick.tick().await;
            loop {
                tick.tick().await;
                match pg::compact(&d.db, d.deleted_ttl).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!("database: removed {n} old deleted queues"),
                    Err(e) => tracing::warn!("database: removing old deleted queues: {e}"),
                }
            }
        }));
    }
    let (stop, stopped) = tokio::sync::watch::channel(false);
    for (l, &addr) in listeners.into_iter().zip(addrs) {
        bound.push(
            l.local_addr()
                .map_err(|source| StartError::Bind { addr, source })?,
        );
        tasks.push(tokio::spawn(net::serve(
            l,
            endpoint.clone(),
            relay.clone(),
            stopped.clone(),
        )));
    }
    let addr = *bound
        .first()
        .ok_or_else(|| StartError::Identity("no address to listen on".into()))?;
    Ok(Running {
        addr,
        addrs: bound,
        relay,
        control_addr,
        tasks,
        stop,
        _locks: locks,
    })
}
