//! Chunks on an S3-compatible object store (Garage, MinIO, AWS S3 ...), through the
//! `object_store` crate: one object per chunk, named by its base64url sender ID under an
//! optional prefix. Several relay processes can share a bucket.
//!
//! - An upload is buffered (a chunk is at most 4 MiB) and PUT only at commit, after the relay
//!   checked its size and digest: a failed or abandoned upload leaves nothing in the bucket.
//!   Uploads buffered at once are bounded ([`MAX_BUFFERED_UPLOADS`]).
//! - A download reads the object in ranges of [`READ_RANGE`] bytes as the client takes them.
//! - A delete that fails is retried in the background until it succeeds (while the process
//!   runs; an object left by a crash is found by the start-up check, which moves objects
//!   without a record aside).
//!
//! The [`ChunkStorage`] calls block: the relay makes them from blocking threads, and they run
//! the async client on the relay's runtime.

use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::path::{Path as FsPath, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig};
use simplex_codec::base64url;
use tokio::runtime::Handle;
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

use crate::storage::{ChunkSink, ChunkStorage};

/// Uploads held in memory at once (each up to one chunk); more wait for a slot.
pub const MAX_BUFFERED_UPLOADS: usize = 64;
/// Bytes fetched per range read of a download.
pub const READ_RANGE: u64 = 1024 * 1024;
/// A shared bucket's objects younger than this are left out of the start-up check: another
/// relay may have stored one a moment before recording it.
pub const SETTLED_AFTER: Duration = Duration::from_secs(3600);
/// Folder (under the prefix) where objects without a record are moved.
pub const QUARANTINE_PREFIX: &str = "quarantine/";
/// Deletes waiting for a retry at most (beyond, they are logged and left to the start-up
/// check).
const MAX_PENDING_DELETES: usize = 1_000_000;

/// `[FILES] s3_*`: the bucket.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Options {
    /// `s3_endpoint`: `http://host:port` or `https://...`.
    pub endpoint: String,
    /// `s3_bucket`.
    pub bucket: String,
    /// `s3_region` (Garage's default is `garage`).
    pub region: String,
    /// `s3_prefix`: prepended to every object name (e.g. `xftp/`).
    pub prefix: String,
    /// `s3_timeout`: seconds one request to the store may take (retries included) before the
    /// client's command fails with a retriable error.
    pub timeout: Duration,
    /// `s3_credentials`: a file with `access_key_id = ...` and `secret_access_key = ...`
    /// (readable by the relay only); without it the environment's `XFTP_S3_ACCESS_KEY_ID` and
    /// `XFTP_S3_SECRET_ACCESS_KEY` (or `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`).
    pub credentials: Option<PathBuf>,
}

impl std::fmt::Debug for S3Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Options")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("credentials", &self.credentials)
            .finish()
    }
}

/// An access key (never printed).
pub struct Credentials {
    access_key_id: Zeroizing<String>,
    secret_access_key: Zeroizing<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials(<hidden>)")
    }
}

impl Credentials {
    /// From `opts.credentials`, or the environment.
    pub fn load(opts: &S3Options) -> Result<Self, String> {
        match &opts.credentials {
            Some(path) => Self::from_file(path),
            None => {
                let var = |a: &str, b: &str| {
                    std::env::var(a)
                        .or_else(|_| std::env::var(b))
                        .ok()
                        .filter(|v| !v.is_empty())
                };
                match (
                    var("XFTP_S3_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID"),
                    var("XFTP_S3_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY"),
                ) {
                    (Some(id), Some(secret)) => Ok(Self {
                        access_key_id: Zeroizing::new(id),
                        secret_access_key: Zeroizing::new(secret),
                    }),
                    _ => Err(
                        "[FILES] s3_endpoint is set but there are no credentials: set \
                              s3_credentials to a file with access_key_id and \
                              secret_access_key, or XFTP_S3_ACCESS_KEY_ID and \
                              XFTP_S3_SECRET_ACCESS_KEY in the environment"
                            .into(),
                    ),
                }
            }
        }
    }

    fn from_file(path: &FsPath) -> Result<Self, String> {
        use std::os::unix::fs::PermissionsExt;
        let shown = path.display();
        let meta = std::fs::metadata(path).map_err(|e| format!("s3_credentials {shown}: {e}"))?;
        if meta.permissions().mode() & 0o007 != 0 {
            return Err(format!(
                "s3_credentials {shown} can be read by every user: chmod o-rwx it"
            ));
        }
        let text = Zeroizing::new(
            std::fs::read_to_string(path).map_err(|e| format!("s3_credentials {shown}: {e}"))?,
        );
        let (mut id, mut secret) = (None, None);
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                return Err(format!(
                    "s3_credentials {shown}: expected key = value lines"
                ));
            };
            match k.trim() {
                "access_key_id" => id = Some(Zeroizing::new(v.trim().to_string())),
                "secret_access_key" => secret = Some(Zeroizing::new(v.trim().to_string())),
                other => {
                    return Err(format!(
                        "s3_credentials {shown}: unknown key {other} (access_key_id, \
                         secret_access_key)"
                    ))
                }
            }
        }
        match (id, secret) {
            (Some(access_key_id), Some(secret_access_key)) => Ok(Self {
                access_key_id,
                secret_access_key,
            }),
            _ => Err(format!(
                "s3_credentials {shown}: needs access_key_id and secret_access_key"
            )),
        }
    }
}

/// Chunks in a bucket.
pub struct S3Storage {
    store: Arc<AmazonS3>,
    rt: Handle,
    bucket: String,
    prefix: String,
    uploads: Arc<Semaphore>,
    /// Objects whose delete failed, retried by a background task.
    pending_deletes: Arc<Mutex<HashSet<Vec<u8>>>>,
}

impl std::fmt::Debug for S3Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Storage")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn io_err(e: object_store::Error) -> io::Error {
    match e {
        object_store::Error::NotFound { .. } => io::Error::new(io::ErrorKind::NotFound, e),
        e => io::Error::other(e),
    }
}

impl S3Storage {
    /// Connects (from inside the relay's runtime) and checks that the bucket can be listed.
    pub async fn connect(opts: &S3Options, creds: &Credentials) -> Result<Self, String> {
        let store = AmazonS3Builder::new()
            .with_endpoint(opts.endpoint.trim_end_matches('/'))
            .with_bucket_name(&opts.bucket)
            .with_region(&opts.region)
            .with_access_key_id(creds.access_key_id.as_str())
            .with_secret_access_key(creds.secret_access_key.as_str())
            .with_virtual_hosted_style_request(false)
            // The relay checked the chunk's digest and clients check it again end to end:
            // hashing every byte once more for the request signature buys nothing.
            .with_unsigned_payload(true)
            .with_allow_http(opts.endpoint.starts_with("http://"))
            .with_client_options(
                ClientOptions::new()
                    .with_allow_http(opts.endpoint.starts_with("http://"))
                    .with_connect_timeout(opts.timeout.min(Duration::from_secs(5)))
                    .with_timeout(opts.timeout),
            )
            .with_retry(RetryConfig {
                max_retries: 3,
                retry_timeout: opts.timeout,
                ..RetryConfig::default()
            })
            .build()
            .map_err(|e| format!("[FILES] s3_*: {e}"))?;
        let storage = Self {
            store: Arc::new(store),
            rt: Handle::current(),
            bucket: opts.bucket.clone(),
            prefix: opts.prefix.clone(),
            uploads: Arc::new(Semaphore::new(MAX_BUFFERED_UPLOADS)),
            pending_deletes: Arc::new(Mutex::new(HashSet::new())),
        };
        // One listing request tells a wrong endpoint, bucket or key at start.
        let mut probe = storage
            .store
            .list(Some(&Path::from(storage.prefix.as_str())));
        if let Some(Err(e)) = probe.next().await {
            return Err(format!(
                "cannot use bucket {} at {}: {e}",
                opts.bucket, opts.endpoint
            ));
        }
        drop(probe);
        storage.spawn_delete_retries();
        Ok(storage)
    }

    fn path(&self, id: &[u8]) -> Path {
        Path::from(format!("{}{}", self.prefix, base64url::encode(id)))
    }

    /// Retries failed deletes, backing off from 1 s to a minute while they keep failing.
    fn spawn_delete_retries(&self) {
        let pending = Arc::downgrade(&self.pending_deletes);
        let store = self.store.clone();
        let prefix = self.prefix.clone();
        self.rt.spawn(async move {
            let mut wait = Duration::from_secs(1);
            loop {
                tokio::time::sleep(wait).await;
                let Some(pending) = pending.upgrade() else {
                    return;
                };
                let ids: Vec<Vec<u8>> = pending
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .iter()
                    .cloned()
                    .collect();
                let mut failed = false;
                for id in ids {
                    let path = Path::from(format!("{prefix}{}", base64url::encode(&id)));
                    match store.delete(&path).await {
                        Ok(()) | Err(object_store::Error::NotFound { .. }) => {
                            pending
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .remove(&id);
                        }
                        Err(e) => {
                            tracing::warn!("S3 delete retry of {path}: {e}");
                            failed = true;
                        }
                    }
                }
                wait = if failed {
                    (wait * 2).min(Duration::from_secs(60))
                } else {
                    Duration::from_secs(1)
                };
            }
        });
    }

    /// Deletes waiting for a retry.
    pub fn pending_deletes(&self) -> usize {
        self.pending_deletes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }
}

/// An upload held in memory until commit.
struct S3Sink {
    buf: Vec<u8>,
    store: Arc<AmazonS3>,
    path: Path,
    rt: Handle,
    _slot: tokio::sync::OwnedSemaphorePermit,
}

impl Write for S3Sink {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.buf.len() + data.len() > simplex_codec::limits::MAX_CHUNK_SIZE as usize {
            return Err(io::Error::other("chunk larger than the largest chunk size"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl ChunkSink for S3Sink {
    fn commit(self: Box<Self>) -> io::Result<()> {
        let Self {
            buf,
            store,
            path,
            rt,
            _slot,
        } = *self;
        // A chunk is below S3's 5 MiB multipart minimum: one PUT, visible whole or not at all.
        rt.block_on(store.put(&path, PutPayload::from(Bytes::from(buf))))
            .map(|_| ())
            .map_err(io_err)
    }
}

/// A download, read in ranges as it is consumed.
struct S3Reader {
    store: Arc<AmazonS3>,
    path: Path,
    rt: Handle,
    pos: u64,
    len: u64,
    piece: Bytes,
}

impl Read for S3Reader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.piece.is_empty() {
            if self.pos >= self.len {
                return Ok(0);
            }
            let end = (self.pos + READ_RANGE).min(self.len);
            let piece = self
                .rt
                .block_on(self.store.get_range(&self.path, self.pos..end))
                .map_err(io_err)?;
            if piece.is_empty() {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            self.pos += piece.len() as u64;
            self.piece = piece;
        }
        let n = out.len().min(self.piece.len());
        out[..n].copy_from_slice(&self.piece.split_to(n));
        Ok(n)
    }
}

impl ChunkStorage for S3Storage {
    fn create(&self, id: &[u8]) -> io::Result<Box<dyn ChunkSink>> {
        let slot = self
            .rt
            .block_on(self.uploads.clone().acquire_owned())
            .map_err(io::Error::other)?;
        Ok(Box::new(S3Sink {
            buf: Vec::new(),
            store: self.store.clone(),
            path: self.path(id),
            rt: self.rt.clone(),
            _slot: slot,
        }))
    }

    fn open(&self, id: &[u8]) -> io::Result<(Box<dyn Read + Send>, u64)> {
        let path = self.path(id);
        let meta = self.rt.block_on(self.store.head(&path)).map_err(io_err)?;
        Ok((
            Box::new(S3Reader {
                store: self.store.clone(),
                path,
                rt: self.rt.clone(),
                pos: 0,
                len: meta.size,
                piece: Bytes::new(),
            }),
            meta.size,
        ))
    }

    fn delete(&self, id: &[u8]) -> io::Result<()> {
        match self.rt.block_on(self.store.delete(&self.path(id))) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => {
                // The record is gone already: the object must go too, later.
                let mut pending = self
                    .pending_deletes
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                if pending.len() < MAX_PENDING_DELETES {
                    pending.insert(id.to_vec());
                    tracing::warn!("S3 delete failed ({e}); retrying in the background");
                    Ok(())
                } else {
                    Err(io_err(e))
                }
            }
        }
    }

    fn list(&self, settled_only: bool) -> io::Result<Vec<Vec<u8>>> {
        let prefix = Path::from(self.prefix.as_str());
        let settled = chrono::Utc::now()
            - chrono::Duration::from_std(SETTLED_AFTER).unwrap_or(chrono::Duration::hours(1));
        self.rt.block_on(async {
            let mut ids = Vec::new();
            let mut objects = self.store.list(Some(&prefix));
            while let Some(meta) = objects.next().await {
                let meta = meta.map_err(io_err)?;
                if settled_only && meta.last_modified > settled {
                    continue;
                }
                let name = meta.location.as_ref();
                let Some(rest) = name.strip_prefix(self.prefix.as_str()) else {
                    continue;
                };
                if let Some(id) = base64url::decode(rest) {
                    ids.push(id);
                }
            }
            Ok(ids)
        })
    }

    fn remove_uncommitted(&self) -> io::Result<usize> {
        // An upload is never visible before its single PUT completes.
        Ok(0)
    }

    fn quarantine(&self, id: &[u8]) -> io::Result<String> {
        let from = self.path(id);
        let to = Path::from(format!(
            "{}{QUARANTINE_PREFIX}{}",
            self.prefix,
            base64url::encode(id)
        ));
        self.rt.block_on(async {
            self.store.copy(&from, &to).await.map_err(io_err)?;
            self.store.delete(&from).await.map_err(io_err)
        })?;
        Ok(format!("s3://{}/{to}", self.bucket))
    }

    fn location(&self, id: &[u8]) -> PathBuf {
        PathBuf::from(format!("s3://{}/{}", self.bucket, self.path(id)))
    }

    fn shared(&self) -> bool {
        true
    }
}
