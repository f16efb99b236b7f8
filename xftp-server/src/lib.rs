//! A drop-in SimpleX XFTP relay.
//!
//! ```text
//!  TCP ─► TLS (transport) ─► HTTP/2 (net) ─► handshake ─► Relay::handle (relay)
//!                                                          │ verify ─► dispatch
//!                                           Store (memory + store log) │ ChunkStorage (dir)
//! ```
//!
//! Same commands, errors, config file, certificates and store log as the reference relay.

pub mod config;
pub mod control;
pub mod limits;
pub mod net;
pub mod pg;
pub mod relay;
pub mod s3;
pub mod storage;
pub mod store;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use transport::Identity;

use crate::config::{Config, StoreFiles, STORE_LOG_FILE};
use crate::net::Endpoint;
use crate::relay::{Clock, Relay};
use crate::storage::{ChunkStorage, DirStorage};
use crate::store::{open_store, MemoryStore, MetadataStore, Store, StoreLog};

/// Daily statistics, written when `[STORE_LOG] log_stats = on`.
pub const STATS_FILE: &str = "file-server-stats.daily.log";
/// How often a statistics line is written.
pub const STATS_INTERVAL: Duration = Duration::from_secs(86400);

/// One CSV line: date, then the day's created, recipients, uploaded, deleted, downloads, acks,
/// then the current chunk count and stored bytes, then the day's expired.
pub fn stats_line(now: u64, last: &[u64; 7], current: &[u64; 7], count: u64, size: u64) -> String {
    let d: Vec<u64> = last
        .iter()
        .zip(current)
        .map(|(a, b)| b.saturating_sub(*a))
        .collect();
    let date = &backup_suffix(now)[..10];
    format!(
        "{date},{},{},{},{},{},{},{count},{size},{}",
        d[0], d[1], d[2], d[3], d[4], d[5], d[6]
    )
}

fn append_line(path: &Path, line: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    writeln!(f, "{line}")
}

/// How often expired chunks (and chunks registered but never uploaded) are removed.
pub const EXPIRE_INTERVAL: Duration = Duration::from_secs(15 * 60);

/// Start-up failures, each naming what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// `file-server.ini` is missing or wrong.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// Certificates are missing or wrong.
    #[error(transparent)]
    Identity(#[from] transport::IdentityError),
    /// TLS could not be configured.
    #[error(transparent)]
    Tls(#[from] transport::TlsError),
    /// A file or socket operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        source: std::io::Error,
    },
    /// Crypto set-up failed.
    #[error("crypto: {0}")]
    Crypto(String),
    /// Another relay process uses the same folders.
    #[error("{0} is locked by another running xftp-server; stop it first (nothing was changed)")]
    Locked(PathBuf),
    /// The files folder holds chunks but there is no store log to say what they are.
    #[error(
        "the store log {log} is missing but {files} holds {chunks} chunks: is \
         XFTP_SERVER_LOG_PATH right? Starting would forget them; to start anyway (they are moved \
         to {quarantine}, not deleted) run `xftp-server start --allow-missing-store-log`"
    )]
    MissingStoreLog {
        /// Where the log was expected.
        log: PathBuf,
        /// Where the chunks are (the files folder or the bucket).
        files: String,
        /// Where they would be moved.
        quarantine: String,
        /// How many chunks it holds.
        chunks: usize,
    },
    /// `store_files = database` while a store log exists: its records would be ignored.
    #[error(
        "the store log {0} exists but store_files is `database`: run `xftp-server database \
         import` to move its records into the database, or set db_store_log = on"
    )]
    StoreLogWithDatabase(PathBuf),
    /// The database cannot be used.
    #[error(transparent)]
    Database(#[from] pg::DbError),
    /// The chunk store cannot be used.
    #[error("{0}")]
    Chunks(String),
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> StartError {
    let context = context.into();
    move |source| StartError::Io { context, source }
}

/// How to start.
#[derive(Debug, Clone, Default)]
pub struct StartOptions {
    /// Listen here instead of `0.0.0.0:<port from file-server.ini>` (tests use `127.0.0.1:0`).
    pub bind: Option<SocketAddr>,
    /// Start even though the store log is missing while the files folder holds chunks.
    pub allow_missing_store_log: bool,
    /// Schema migrations the database lacks: apply them, or refuse to start.
    pub migrate: pg::Migrate,
}

/// Exclusive locks on the state and files folders, held while the relay runs.
#[derive(Debug)]
struct FolderLocks(#[allow(dead_code)] Vec<std::fs::File>);

/// Name of the lock file in the log folder and (hidden) in the files folder.
pub const LOCK_FILE: &str = "xftp-server.lock";

fn lock_folder(dir: &Path, name: &str) -> Result<std::fs::File, StartError> {
    store_log::lock_folder(dir, name).map_err(|e| match e.kind() {
        std::io::ErrorKind::WouldBlock => StartError::Locked(dir.to_path_buf()),
        _ => io_err(format!("cannot lock {}", dir.join(name).display()))(e),
    })
}

/// A running relay.
#[derive(Debug)]
pub struct ServerHandle {
    /// Where it listens.
    pub addr: SocketAddr,
    /// `xftp://fingerprint@host:port`.
    pub address: String,
    /// The relay (for stats and tests).
    pub relay: Arc<Relay>,
    /// Connection admission and limits (for stats and tests).
    pub admission: Arc<limits::Admission>,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
    _locks: FolderLocks,
}

impl ServerHandle {
    /// Stops accepting, lets open requests finish, and returns when done.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let _ = self.task.await;
    }
}

/// Starts the relay from a config dir (certificates, `file-server.ini`) and a state dir (store
/// log). `bind` overrides the configured port (tests use `127.0.0.1:0`).
pub async fn start(
    cfg_dir: &Path,
    log_dir: &Path,
    clock: Arc<dyn Clock>,
    bind: Option<SocketAddr>,
) -> Result<ServerHandle, StartError> {
    let opts = StartOptions {
        bind,
        ..StartOptions::default()
    };
    start_with(cfg_dir, log_dir, clock, &opts).await
}

/// [`start`] with all options. Nothing on disk is changed before the ports are bound and the
/// folders are locked, so a second start by mistake fails without harming the running relay.
pub async fn start_with(
    cfg_dir: &Path,
    log_dir: &Path,
    clock: Arc<dyn Clock>,
    opts: &StartOptions,
) -> Result<ServerHandle, StartError> {
    let config = Config::load(cfg_dir)?;
    warn_if_readable_by_others(&cfg_dir.join(config::CONFIG_FILE));
    warn_if_readable_by_others(&cfg_dir.join("server.key"));
    relay_config::raise_fd_limit();
    let identity = Identity::load(cfg_dir)?;
    let fingerprint = identity.fingerprint()?;
    let web = match (&config.web_cert, &config.web_key) {
        (Some(cert), Some(key)) => Some(transport::WebCertificate::load(cert, key)?),
        (None, None) => None,
        _ => {
            return Err(StartError::Config(config::ConfigError::Missing {
                section: "WEB",
                key: "cert and key (both or neither)",
            }))
        }
    };
    let acceptor = transport::server_acceptor_with_web(&identity, web.as_ref())?;
    let online_key = identity
        .online_key()
        .map_err(|e| StartError::Crypto(e.to_string()))?;
    let endpoint = Arc::new(Endpoint {
        acceptor,
        chain_der: identity.chain_der()?,
        key_hash: identity.key_hash()?.to_vec(),
        online_key,
        web_enabled: web.is_some(),
        static_path: config.web_static_path.clone(),
    });

    let bind = opts
        .bind
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], config.port)));
    let listener = TcpListener::bind(bind)
        .await
        .map_err(io_err(format!("cannot listen on {bind}")))?;
    let control = match config.control_port {
        Some(port) => Some(
            TcpListener::bind(("127.0.0.1", port))
                .await
                .map_err(io_err(format!(
                    "cannot listen on control port 127.0.0.1:{port}"
                )))?,
        ),
        None => None,
    };

    std::fs::create_dir_all(log_dir)
        .map_err(io_err(format!("cannot create {}", log_dir.display())))?;
    std::fs::create_dir_all(&config.files_path).map_err(io_err(format!(
        "cannot create files path {}",
        config.files_path.display()
    )))?;
    let mut locks = vec![lock_folder(log_dir, LOCK_FILE)?];
    if std::fs::canonicalize(log_dir).ok() != std::fs::canonicalize(&config.files_path).ok() {
        locks.push(lock_folder(&config.files_path, &format!(".{LOCK_FILE}"))?);
    }
    let locks = FolderLocks(locks);
    let storage: Arc<dyn ChunkStorage> = match &config.s3 {
        Some(opts) => {
            let creds = s3::Credentials::load(opts).map_err(StartError::Chunks)?;
            let s = s3::S3Storage::connect(opts, &creds)
                .await
                .map_err(StartError::Chunks)?;
            tracing::info!(
                "chunks in bucket {} at {} (prefix {:?})",
                opts.bucket,
                opts.endpoint,
                opts.prefix
            );
            Arc::new(s)
        }
        None => Arc::new(DirStorage::new(&config.files_path).map_err(io_err(format!(
            "cannot use files path {}",
            config.files_path.display()
        )))?),
    };
    let store: Arc<dyn MetadataStore> = if config.store_files == StoreFiles::Database {
        let path = log_dir.join(STORE_LOG_FILE);
        let log = if config.db_store_log {
            Some(StoreLog::open(&path).map_err(io_err(format!("store log {}", path.display())))?)
        } else if path.exists() {
            return Err(StartError::StoreLogWithDatabase(path));
        } else {
            None
        };
        let store = pg::PgStore::open(&config.db, false, opts.migrate, log).await?;
        tracing::info!(
            "chunk records in the database, schema {} ({} chunks)",
            config.db.schema,
            store
                .count()
                .await
                .map_err(|e| pg::DbError::Db(e.to_string()))?
        );
        Arc::new(store)
    } else if config.store_log {
        let path = log_dir.join(STORE_LOG_FILE);
        let log_exists = path.exists() || path.with_extension("log.start").exists();
        if !log_exists && !opts.allow_missing_store_log {
            let listing = storage.clone();
            let chunks = tokio::task::spawn_blocking(move || listing.list(false))
                .await
                .map_err(|e| io_err("listing the chunks")(std::io::Error::other(e)))?
                .map_err(io_err(format!(
                    "cannot list {}",
                    config.files_path.display()
                )))?
                .len();
            if chunks > 0 {
                return Err(StartError::MissingStoreLog {
                    log: path,
                    files: chunk_place(&config),
                    quarantine: quarantine_place(&config),
                    chunks,
                });
            }
        }
        let suffix = backup_suffix(clock.now());
        let (store, replay) =
            open_store(&path, &suffix).map_err(io_err(format!("store log {}", path.display())))?;
        for (line, why) in &replay.skipped {
            tracing::warn!("store log line {line} skipped: {why}");
        }
        tracing::info!(
            "store log: {} records replayed, {} files",
            replay.applied,
            store.len()
        );
        Arc::new(MemoryStore::new(store))
    } else {
        Arc::new(MemoryStore::new(Store::new(None)))
    };
    let relay = Arc::new(
        Relay::new(config.clone(), store, storage, clock)
            .map_err(|e| StartError::Crypto(e.to_string()))?,
    );
    let quarantine = quarantine_place(&config);
    if relay.store.shared() && relay.storage.shared() {
        // Other relays serve the same chunks meanwhile: check in the background, so that a
        // restarted node takes clients again at once.
        let relay = relay.clone();
        tokio::spawn(async move {
            match relay.reconcile_storage().await {
                Ok(r) => log_reconciled(&r, &quarantine),
                Err(e) => tracing::error!("cannot reconcile the chunks with their records: {e}"),
            }
        });
    } else {
        let r = relay.reconcile_storage().await.map_err(io_err(
            "cannot reconcile the files path with the chunk records",
        ))?;
        log_reconciled(&r, &quarantine);
    }
    let expired = relay.expire().await;
    let (expired, bytes) = expired;
    tracing::info!("Expiration check: {expired} files, {bytes} bytes reclaimed");

    let addr = listener.local_addr().map_err(io_err("listener address"))?;
    let address = format!("xftp://{fingerprint}@{}:{}", config.host, addr.port());
    let (shutdown, stop) = watch::channel(false);
    let expiring = relay.clone();
    let mut stop_expiry = stop.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(EXPIRE_INTERVAL) => {
                    let (n, b) = expiring.expire().await;
                    tracing::info!("Expiration check: {n} files, {b} bytes reclaimed");
                }
                _ = stop_expiry.changed() => return,
            }
        }
    });
    if config.log_stats {
        let (relay, path, mut stop) = (relay.clone(), log_dir.join(STATS_FILE), stop.clone());
        tokio::spawn(async move {
            let mut last = relay.stats.snapshot();
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(STATS_INTERVAL) => {}
                    _ = stop.changed() => return,
                }
                let now = relay.stats.snapshot();
                let (count, size) = (
                    relay.store.count().await.unwrap_or(0),
                    relay.store.used().await.unwrap_or(0),
                );
                let line = stats_line(relay.clock.now(), &last, &now, count, size);
                if let Err(e) = append_line(&path, &line) {
                    tracing::warn!("cannot write {}: {e}", path.display());
                }
                last = now;
            }
        });
    }
    if let Some(control) = control {
        tokio::spawn(control::serve(relay.clone(), control, stop.clone()));
    }
    let admission = Arc::new(limits::Admission::new(
        config.limits.clone(),
        net::connection_cap(config.limits.max_connections),
    ));
    {
        // Give memory of closed connections back to the system (glibc keeps freed heap).
        let (admission, mut stop) = (admission.clone(), stop.clone());
        tokio::spawn(async move {
            let mut last = 0;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(TRIM_INTERVAL) => {}
                    _ = stop.changed() => return,
                }
                let open = admission.open();
                if open < last {
                    let _ = tokio::task::spawn_blocking(trim_heap).await;
                }
                last = open;
            }
        });
    }
    let task = tokio::spawn(net::serve(
        relay.clone(),
        endpoint,
        listener,
        admission.clone(),
        stop,
    ));
    Ok(ServerHandle {
        addr,
        address,
        relay,
        admission,
        shutdown,
        task,
        _locks: locks,
    })
}

/// Where the chunks are, for messages.
fn chunk_place(config: &Config) -> String {
    match &config.s3 {
        Some(s3) => format!("s3://{}/{}", s3.bucket, s3.prefix),
        None => config.files_path.display().to_string(),
    }
}

/// Where chunks without a record are moved, for messages.
fn quarantine_place(config: &Config) -> String {
    match &config.s3 {
        Some(s3) => format!("s3://{}/{}{}", s3.bucket, s3.prefix, s3::QUARANTINE_PREFIX),
        None => config
            .files_path
            .join(crate::storage::QUARANTINE_DIR)
            .display()
            .to_string(),
    }
}

/// Logs what the start-up check of the chunks did.
fn log_reconciled(r: &relay::Reconciled, quarantine: &str) {
    if r.uncommitted + r.partial > 0 {
        tracing::info!("removed {} unfinished uploads", r.uncommitted + r.partial);
    }
    if r.adopted > 0 {
        tracing::warn!(
            "{} chunks matched records that had lost their upload line: kept",
            r.adopted
        );
    }
    if r.quarantined > 0 {
        tracing::warn!(
            "{} chunks have no record: moved to {quarantine} (not served; delete them once you \
             know they are not needed)",
            r.quarantined,
        );
    }
    if r.forgotten > 0 {
        tracing::info!(
            "store log off: removed {} chunks of an earlier run",
            r.forgotten
        );
    }
}

/// How often the heap is trimmed after connections closed.
const TRIM_INTERVAL: Duration = Duration::from_secs(5);

/// Returns free heap memory to the system.
#[allow(unsafe_code)]
fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own free lists; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Warns when a file holding secrets can be read by other users.
fn warn_if_readable_by_others(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.permissions().mode() & 0o004 != 0 {
            tracing::warn!(
                "{} is readable by every user; it holds secrets: chmod o-rwx it",
                path.display()
            );
        }
    }
}

/// The online key as a protocol private key (Ed25519 or Ed448).
/// `YYYY-MM-DDTHH:MM:SSZ`-like suffix for store-log backups (UTC, from epoch seconds).
fn backup_suffix(now: u64) -> String {
    let secs = now % 86400;
    let (y, m, d) = relay_config::civil_date((now / 86400) as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}{:02}{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Paths from the environment, as the reference reads them.
pub fn default_dirs() -> (PathBuf, PathBuf) {
    let cfg = std::env::var_os("XFTP_SERVER_CFG_PATH")
        .map_or_else(|| PathBuf::from(config::DEFAULT_CFG_PATH), PathBuf::from);
    let log = std::env::var_os("XFTP_SERVER_LOG_PATH")
        .map_or_else(|| PathBuf::from(config::DEFAULT_LOG_PATH), PathBuf::from);
    (cfg, log)
}

#[cfg(test)]
mod tests {
    #[test]
    fn stats_lines_are_daily_deltas() {
        let line = super::stats_line(
            1_754_467_200,
            &[1, 2, 3, 4, 5, 6, 7],
            &[2, 4, 6, 8, 10, 12, 14],
            9,
            65536,
        );
        assert_eq!(line, "2025-08-06,1,2,3,4,5,6,9,65536,7");
    }

    #[test]
    fn backup_suffix_is_a_utc_date() {
        assert_eq!(super::backup_suffix(1_754_467_200), "2025-08-06T080000Z");
        assert_eq!(super::backup_suffix(0), "1970-01-01T000000Z");
    }
}
