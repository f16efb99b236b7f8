//! Chunk records: in memory, with every change appended to the store log in the reference's
//! text format, so that a restart (or the reference relay) can replay them.
//!
//! ```text
//! FNEW <senderId> <sndKey SPKI> <size> <sha256> <createdAt> <active|blocked,reason=..|off>
//! FADD <senderId> <rcpId>:<rcpKey SPKI>[,<rcpId>:<rcpKey>...]
//! FPUT <senderId> <base64url(file path)>
//! FDEL <senderId>
//! FBLK <senderId> reason=<spam|content>[,notice=<json>]
//! FACK <recipientId>
//! ```
//! (IDs, keys and digests in padded base64url.)

use std::collections::{BTreeSet, HashMap};
use std::io;
use std::path::{Path, PathBuf};

use simplex_codec::base64url;
use simplex_crypto::PublicKey;
use xftp_proto::command::{BlockingInfo, FileInfo};

/// A chunk ID (16 random bytes).
pub type Id = Vec<u8>;

/// Whether a chunk may be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Normal.
    Active,
    /// Blocked by the operator.
    Blocked(BlockingInfo),
    /// Switched off.
    Off,
}

/// One chunk on this relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRec {
    /// Sender ID (also the chunk file's name).
    pub sender_id: Id,
    /// Sender key, size, digest.
    pub info: FileInfo,
    /// Where the uploaded bytes are; `None` until FPUT completes.
    pub path: Option<PathBuf>,
    /// Recipient IDs that may download it.
    pub recipients: BTreeSet<Id>,
    /// Creation time, epoch seconds rounded down to the hour (the reference's privacy rule).
    pub created_at: u64,
    /// Active, blocked or off.
    pub status: Status,
}

/// A recipient ID's chunk and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// The chunk.
    pub sender_id: Id,
    /// The key that signs this recipient's commands.
    pub key: PublicKey,
}

/// The relay's chunk records.
#[derive(Debug, Default)]
pub struct Store {
    files: HashMap<Id, FileRec>,
    recipients: HashMap<Id, Recipient>,
    /// Bytes of uploaded chunks, for the quota.
    used: u64,
    log: Option<StoreLog>,
}

/// What went wrong with the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store log could not be written (the change was not made).
    #[error("store log: {0}")]
    Log(#[from] io::Error),
    /// No such chunk or recipient.
    #[error("no such record")]
    NotFound,
    /// An ID collision (retry with another ID).
    #[error("duplicate ID")]
    Duplicate,
    /// The database failed or could not be reached (the change is not acknowledged; it was
    /// made only if the database committed it before the failure).
    #[error("database: {0}")]
    Db(String),
}

/// Chunk metadata behind the relay: the embedded [`MemoryStore`] keeps it in memory with the
/// store log; [`crate::pg::PgStore`] keeps it in PostgreSQL (the reference's schema), where
/// several relay processes can share it. Every change is durable when its call returns; reads
/// return copies.
#[async_trait::async_trait]
pub trait MetadataStore: Send + Sync + std::fmt::Debug {
    /// A chunk by sender ID.
    async fn file(&self, sender_id: &[u8]) -> Result<Option<FileRec>, StoreError>;
    /// A recipient and its chunk.
    async fn recipient(&self, rid: &[u8]) -> Result<Option<(Recipient, FileRec)>, StoreError>;
    /// FNEW; [`StoreError::Duplicate`] if the ID is taken.
    async fn add_file(&self, rec: FileRec) -> Result<(), StoreError>;
    /// FADD; [`StoreError::Duplicate`] if an ID is taken (none is added then).
    async fn add_recipients(
        &self,
        sender_id: &[u8],
        rcps: Vec<(Id, PublicKey)>,
    ) -> Result<(), StoreError>;
    /// FPUT completed (a second completion of the same chunk is accepted: its bytes are the
    /// same, checked against the digest).
    async fn set_path(&self, sender_id: &[u8], path: PathBuf) -> Result<(), StoreError>;
    /// FDEL (and expiry): removes the record and its recipients; returns it.
    async fn delete_file(&self, sender_id: &[u8]) -> Result<FileRec, StoreError>;
    /// Blocks a chunk.
    async fn block_file(&self, sender_id: &[u8], info: BlockingInfo) -> Result<(), StoreError>;
    /// FACK: removes one recipient.
    async fn ack(&self, rid: &[u8]) -> Result<(), StoreError>;
    /// Bytes of uploaded chunks (of every relay sharing the store; a shared store may answer
    /// from a recent reading).
    async fn used(&self) -> Result<u64, StoreError>;
    /// Number of chunks.
    async fn count(&self) -> Result<u64, StoreError>;
    /// Up to `limit` chunks created before `before`, or before `unuploaded_before` and never
    /// uploaded (epoch seconds): sender IDs and sizes, oldest first.
    async fn expired(
        &self,
        before: u64,
        unuploaded_before: u64,
        limit: usize,
    ) -> Result<Vec<(Id, u64)>, StoreError>;
    /// Whether records outlive the process (a store log or a database): a chunk file without
    /// a record is then kept aside rather than deleted.
    fn persistent(&self) -> bool;
    /// Whether other relay processes may change the store while this one runs.
    fn shared(&self) -> bool {
        false
    }
}

/// The embedded store behind [`MetadataStore`]: [`Store`] under a lock, each change waiting
/// for its store-log record to be on disk (records of concurrent changes share one fsync).
#[derive(Debug)]
pub struct MemoryStore {
    inner: std::sync::Mutex<Store>,
}

impl MemoryStore {
    /// Wraps `store`.
    pub fn new(store: Store) -> Self {
        Self {
            inner: std::sync::Mutex::new(store),
        }
    }

    /// The store, even if a thread panicked while holding it (its data stays consistent:
    /// every mutation is a single map operation after the log write).
    pub fn lock(&self) -> std::sync::MutexGuard<'_, Store> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

async fn durable(d: Durable) -> Result<(), StoreError> {
    d.wait().await.map_err(StoreError::Log)
}

#[async_trait::async_trait]
impl MetadataStore for MemoryStore {
    async fn file(&self, sender_id: &[u8]) -> Result<Option<FileRec>, StoreError> {
        Ok(self.lock().file(sender_id))
    }

    async fn recipient(&self, rid: &[u8]) -> Result<Option<(Recipient, FileRec)>, StoreError> {
        Ok(self.lock().recipient(rid))
    }

    async fn add_file(&self, rec: FileRec) -> Result<(), StoreError> {
        let d = self.lock().add_file(rec)?;
        durable(d).await
    }

    async fn add_recipients(
        &self,
        sender_id: &[u8],
        rcps: Vec<(Id, PublicKey)>,
    ) -> Result<(), StoreError> {
        let d = self.lock().add_recipients(sender_id, rcps)?;
        durable(d).await
    }

    async fn set_path(&self, sender_id: &[u8], path: PathBuf) -> Result<(), StoreError> {
        let d = self.lock().set_path(sender_id, path)?;
        durable(d).await
    }

    async fn delete_file(&self, sender_id: &[u8]) -> Result<FileRec, StoreError> {
        let (rec, d) = self.lock().delete_file(sender_id)?;
        durable(d).await?;
        Ok(rec)
    }

    async fn block_file(&self, sender_id: &[u8], info: BlockingInfo) -> Result<(), StoreError> {
        let d = self.lock().block_file(sender_id, info)?;
        durable(d).await
    }

    async fn ack(&self, rid: &[u8]) -> Result<(), StoreError> {
        let d = self.lock().ack(rid)?;
        durable(d).await
    }

    async fn used(&self) -> Result<u64, StoreError> {
        Ok(self.lock().used())
    }

    async fn count(&self) -> Result<u64, StoreError> {
        Ok(self.lock().len() as u64)
    }

    async fn expired(
        &self,
        before: u64,
        unuploaded_before: u64,
        limit: usize,
    ) -> Result<Vec<(Id, u64)>, StoreError> {
        Ok(self.lock().expired(before, unuploaded_before, limit))
    }

    fn persistent(&self) -> bool {
        self.lock().log().is_some()
    }
}

impl Store {
    /// An empty store, logging to `log` if given.
    pub fn new(log: Option<StoreLog>) -> Self {
        Self {
            log,
            ..Self::default()
        }
    }

    fn insert_recipients(&mut self, sender_id: &[u8], rcps: Vec<(Id, PublicKey)>) {
        let Some(f) = self.files.get_mut(sender_id) else {
            return;
        };
        for (rid, key) in rcps {
            f.recipients.insert(rid.clone());
            self.recipients.insert(
                rid,
                Recipient {
                    sender_id: sender_id.to_vec(),
                    key,
                },
            );
        }
    }

    fn remove_file(&mut self, sender_id: &[u8]) -> Option<FileRec> {
        let rec = self.files.remove(sender_id)?;
        for rid in &rec.recipients {
            self.recipients.remove(rid);
        }
        if rec.path.is_some() {
            self.used = self.used.saturating_sub(u64::from(rec.info.size));
        }
        Some(rec)
    }

    /// Every chunk (for expiry and compaction).
    pub fn files(&self) -> impl Iterator<Item = &FileRec> {
        self.files.values()
    }

    /// Every recipient with its ID.
    pub fn recipients(&self) -> Vec<(Id, Recipient)> {
        self.recipients
            .iter()
            .map(|(id, r)| (id.clone(), r.clone()))
            .collect()
    }

    fn write_log(&mut self, line: &str) -> Result<Durable, StoreError> {
        match &mut self.log {
            Some(log) => Ok(log.append(line)?),
            None => Ok(Durable::done()),
        }
    }

    /// The store log, if there is one.
    pub fn log(&self) -> Option<&StoreLog> {
        self.log.as_ref()
    }

    /// Applies one store-log line (replay); `Err` names what is wrong with it.
    pub fn apply_line(&mut self, line: &str) -> Result<(), &'static str> {
        let mut words = line.split(' ');
        let tag = words.next().unwrap_or("");
        let mut next = || words.next().ok_or("too few fields");
        match tag {
            "FNEW" => {
                let sender_id = unb64(next()?)?;
                let key = PublicKey::from_der(&unb64(next()?)?).map_err(|_| "bad sender key")?;
                let size: u32 = next()?.parse().map_err(|_| "bad size")?;
                let digest = unb64(next()?)?;
                let created_at: u64 = next()?.parse().map_err(|_| "bad time")?;
                let status = parse_status(next().unwrap_or("active"))?;
                self.files.insert(
                    sender_id.clone(),
                    FileRec {
                        sender_id,
                        info: FileInfo {
                            sender_key: key,
                            size,
                            digest,
                        },
                        path: None,
                        recipients: BTreeSet::new(),
                        created_at,
                        status,
                    },
                );
            }
            "FADD" => {
                let sender_id = unb64(next()?)?;
                let mut rcps = Vec::new();
                for item in next()?.split(',') {
                    let (rid, key) = item.split_once(':').ok_or("bad recipient")?;
                    let key = PublicKey::from_der(&unb64(key)?).map_err(|_| "bad recipient key")?;
                    rcps.push((unb64(rid)?, key));
                }
                if !self.files.contains_key(&sender_id) {
                    return Err("FADD for an unknown file");
                }
                self.insert_recipients(&sender_id, rcps);
            }
            "FPUT" => {
                let sender_id = unb64(next()?)?;
                let path = String::from_utf8(unb64(next()?)?).map_err(|_| "bad path")?;
                let f = self
                    .files
                    .get_mut(&sender_id)
                    .ok_or("FPUT for an unknown file")?;
                if f.path.is_none() {
                    self.used += u64::from(f.info.size);
                }
                f.path = Some(PathBuf::from(path));
            }
            "FDEL" => {
                let sender_id = unb64(next()?)?;
                self.remove_file(&sender_id)
                    .ok_or("FDEL for an unknown file")?;
            }
            "FBLK" => {
                let sender_id = unb64(next()?)?;
                let info: BlockingInfo = next()?.parse().map_err(|_| "bad blocking info")?;
                self.files
                    .get_mut(&sender_id)
                    .ok_or("FBLK for an unknown file")?
                    .status = Status::Blocked(info);
            }
            "FACK" => {
                let rid = unb64(next()?)?;
                let r = self
                    .recipients
                    .remove(&rid)
                    .ok_or("FACK for an unknown recipient")?;
                if let Some(f) = self.files.get_mut(&r.sender_id) {
                    f.recipients.remove(&rid);
                }
            }
            _ => return Err("unknown record"),
        }
        Ok(())
    }

    /// The lines that recreate the current state.
    pub fn snapshot_lines(&self) -> Vec<String> {
        let mut files: Vec<&FileRec> = self.files.values().collect();
        files.sort_by(|a, b| (a.created_at, &a.sender_id).cmp(&(b.created_at, &b.sender_id)));
        let mut lines = Vec::new();
        for f in files {
            lines.push(fnew_line(f));
            let rcps: Vec<(Id, PublicKey)> = f
                .recipients
                .iter()
                .filter_map(|rid| {
                    self.recipients
                        .get(rid)
                        .map(|r| (rid.clone(), r.key.clone()))
                })
                .collect();
            for batch in rcps.chunks(64) {
                lines.push(fadd_line(&f.sender_id, batch));
            }
            if let Some(p) = &f.path {
                lines.push(fput_line(&f.sender_id, p));
            }
        }
        lines
    }

    /// Attaches the log after replay and compaction.
    pub fn set_log(&mut self, log: StoreLog) {
        self.log = Some(log);
    }
}

impl Store {
    /// A chunk by sender ID.
    pub fn file(&self, sender_id: &[u8]) -> Option<FileRec> {
        self.files.get(sender_id).cloned()
    }

    /// A recipient and its chunk.
    pub fn recipient(&self, rid: &[u8]) -> Option<(Recipient, FileRec)> {
        let r = self.recipients.get(rid)?;
        Some((r.clone(), self.files.get(&r.sender_id)?.clone()))
    }

    /// Number of chunks.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether there are no chunks.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Bytes of uploaded chunks.
    pub fn used(&self) -> u64 {
        self.used
    }

    /// Whether an ID is taken as a sender or recipient ID.
    pub fn id_taken(&self, id: &[u8]) -> bool {
        self.files.contains_key(id) || self.recipients.contains_key(id)
    }

    /// FNEW.
    pub fn add_file(&mut self, rec: FileRec) -> Result<Durable, StoreError> {
        if self.id_taken(&rec.sender_id) {
            return Err(StoreError::Duplicate);
        }
        let durable = self.write_log(&fnew_line(&rec))?;
        self.files.insert(rec.sender_id.clone(), rec);
        Ok(durable)
    }

    /// FADD.
    pub fn add_recipients(
        &mut self,
        sender_id: &[u8],
        rcps: Vec<(Id, PublicKey)>,
    ) -> Result<Durable, StoreError> {
        if !self.files.contains_key(sender_id) {
            return Err(StoreError::NotFound);
        }
        if rcps.iter().any(|(id, _)| self.id_taken(id)) {
            return Err(StoreError::Duplicate);
        }
        let durable = self.write_log(&fadd_line(sender_id, &rcps))?;
        self.insert_recipients(sender_id, rcps);
        Ok(durable)
    }

    /// FPUT completed: the chunk's bytes count as used from now on.
    pub fn set_path(&mut self, sender_id: &[u8], path: PathBuf) -> Result<Durable, StoreError> {
        match self.files.get(sender_id) {
            None => return Err(StoreError::NotFound),
            Some(f) if f.path.as_ref() == Some(&path) => return Ok(Durable::done()),
            Some(_) => {}
        }
        let durable = self.write_log(&fput_line(sender_id, &path))?;
        if let Some(f) = self.files.get_mut(sender_id) {
            if f.path.is_none() {
                self.used += u64::from(f.info.size);
            }
            f.path = Some(path);
        }
        Ok(durable)
    }

    /// FDEL (and expiry): removes the record and its recipients; returns it.
    pub fn delete_file(&mut self, sender_id: &[u8]) -> Result<(FileRec, Durable), StoreError> {
        if !self.files.contains_key(sender_id) {
            return Err(StoreError::NotFound);
        }
        let durable = self.write_log(&fdel_line(sender_id))?;
        let rec = self.remove_file(sender_id).ok_or(StoreError::NotFound)?;
        Ok((rec, durable))
    }

    /// FBLK: blocks a chunk.
    pub fn block_file(
        &mut self,
        sender_id: &[u8],
        info: BlockingInfo,
    ) -> Result<Durable, StoreError> {
        if !self.files.contains_key(sender_id) {
            return Err(StoreError::NotFound);
        }
        let durable = self.write_log(&fblk_line(sender_id, &info))?;
        if let Some(f) = self.files.get_mut(sender_id) {
            f.status = Status::Blocked(info);
        }
        Ok(durable)
    }

    /// FACK: removes one recipient.
    pub fn ack(&mut self, rid: &[u8]) -> Result<Durable, StoreError> {
        if !self.recipients.contains_key(rid) {
            return Err(StoreError::NotFound);
        }
        let durable = self.write_log(&fack_line(rid))?;
        if let Some(r) = self.recipients.remove(rid) {
            if let Some(f) = self.files.get_mut(&r.sender_id) {
                f.recipients.remove(rid);
            }
        }
        Ok(durable)
    }

    /// Up to `limit` chunks created before `before`, or before `unuploaded_before` and never
    /// uploaded: sender IDs and sizes, oldest first.
    pub fn expired(&self, before: u64, unuploaded_before: u64, limit: usize) -> Vec<(Id, u64)> {
        let mut old: Vec<&FileRec> = self
            .files
            .values()
            .filter(|f| {
                f.created_at < before || (f.created_at < unuploaded_before && f.path.is_none())
            })
            .collect();
        old.sort_by(|a, b| (a.created_at, &a.sender_id).cmp(&(b.created_at, &b.sender_id)));
        old.into_iter()
            .take(limit)
            .map(|f| (f.sender_id.clone(), u64::from(f.info.size)))
            .collect()
    }
}

fn b64(b: &[u8]) -> String {
    base64url::encode(b)
}

fn unb64(s: &str) -> Result<Vec<u8>, &'static str> {
    base64url::decode(s).ok_or("bad base64")
}

/// A status as the store log and the database's `status` column write it.
pub(crate) fn status_text(status: &Status) -> String {
    match status {
        Status::Active => "active".to_string(),
        Status::Off => "off".to_string(),
        Status::Blocked(info) => format!("blocked,{info}"),
    }
}

/// Reads [`status_text`].
pub(crate) fn parse_status(s: &str) -> Result<Status, &'static str> {
    Ok(match s {
        "active" => Status::Active,
        "off" => Status::Off,
        s => Status::Blocked(
            s.strip_prefix("blocked,")
                .ok_or("bad status")?
                .parse()
                .map_err(|_| "bad blocking info")?,
        ),
    })
}

pub(crate) fn fnew_line(f: &FileRec) -> String {
    let status = status_text(&f.status);
    format!(
        "FNEW {} {} {} {} {} {status}",
        b64(&f.sender_id),
        b64(&f.info.sender_key.to_der()),
        f.info.size,
        b64(&f.info.digest),
        f.created_at
    )
}

pub(crate) fn fput_line(sender_id: &[u8], path: &Path) -> String {
    format!(
        "FPUT {} {}",
        b64(sender_id),
        b64(path.to_string_lossy().as_bytes())
    )
}

pub(crate) fn fdel_line(sender_id: &[u8]) -> String {
    format!("FDEL {}", b64(sender_id))
}

pub(crate) fn fblk_line(sender_id: &[u8], info: &BlockingInfo) -> String {
    format!("FBLK {} {info}", b64(sender_id))
}

pub(crate) fn fack_line(rid: &[u8]) -> String {
    format!("FACK {}", b64(rid))
}

pub(crate) fn fadd_line(sender_id: &[u8], rcps: &[(Id, PublicKey)]) -> String {
    let items: Vec<String> = rcps
        .iter()
        .map(|(rid, key)| format!("{}:{}", b64(rid), b64(&key.to_der())))
        .collect();
    format!("FADD {} {}", b64(sender_id), items.join(","))
}

pub use store_log::{Durable, LogFile, Replay, StoreLog, Syncer};

impl store_log::LogState for Store {
    const TAGS: &'static [&'static str] = &["FNEW ", "FADD ", "FPUT ", "FDEL ", "FBLK ", "FACK "];

    fn apply_line(&mut self, line: &str) -> Result<(), &'static str> {
        Store::apply_line(self, line)
    }

    fn snapshot_lines(&self) -> Vec<String> {
        Store::snapshot_lines(self)
    }
}

/// Replays the log at `path` into a new store, compacts it and attaches the fresh log
/// (`store-log` does the work).
pub fn open_store(path: &Path, backup_suffix: &str) -> io::Result<(Store, Replay)> {
    let mut store = Store::new(None);
    let (log, replay) = store_log::open_log(&mut store, path, backup_suffix)?;
    store.set_log(log);
    Ok((store, replay))
}

#[cfg(test)]
mod tests {
    use super::*;
    use simplex_crypto::KeyAlgorithm;
    use std::fs::OpenOptions;
    use std::io::Write;
    use std::sync::Arc;

    fn rec(id: u8) -> FileRec {
        FileRec {
            sender_id: vec![id; 16],
            info: FileInfo {
                sender_key: PublicKey::from_raw(KeyAlgorithm::Ed25519, &[id; 32]).unwrap(),
                size: 65536,
                digest: vec![id; 32],
            },
            path: None,
            recipients: BTreeSet::new(),
            created_at: 1_754_467_200,
            status: Status::Active,
        }
    }

    #[test]
    fn log_replays_to_the_same_state_and_tolerates_a_torn_line() {
        let dir = tempfile::tempdir().unwrap();
        let log_path = dir.path().join("file-server-store.log");
        let (mut s, _) = open_store(&log_path, "b1").unwrap();
        let key = PublicKey::from_raw(KeyAlgorithm::Ed25519, &[9; 32]).unwrap();
        let _ = s.add_file(rec(1)).unwrap();
        let _ = s.add_file(rec(2)).unwrap();
        let _ = s
            .add_recipients(
                &[1; 16],
                vec![(vec![11; 16], key.clone()), (vec![12; 16], key.clone())],
            )
            .unwrap();
        let _ = s.set_path(&[1; 16], dir.path().join("x")).unwrap();
        let _ = s.ack(&[12; 16]).unwrap();
        let _ = s.delete_file(&[2; 16]).unwrap();
        let _ = s.add_file(rec(3)).unwrap();
        s.block_file(&[3; 16], "reason=spam".parse().unwrap())
            .unwrap()
            .wait_blocking()
            .unwrap();
        let before = s.snapshot_lines();
        drop(s);
        // A crash mid-write leaves half a line.
        let mut f = OpenOptions::new().append(true).open(&log_path).unwrap();
        f.write_all(b"FNEW AAAA").unwrap();
        let (s2, replay) = open_store(&log_path, "b2").unwrap();
        assert_eq!(s2.snapshot_lines(), before);
        assert_eq!(replay.skipped.len(), 1);
        assert_eq!(s2.used(), 65536);
        assert!(s2.recipient(&[11; 16]).is_some());
        assert!(s2.recipient(&[12; 16]).is_none());
        assert!(matches!(
            s2.file(&[3; 16]).unwrap().status,
            Status::Blocked(_)
        ));
        // The compacted log replays to the same state again.
        drop(s2);
        let (s3, replay) = open_store(&log_path, "b3").unwrap();
        assert!(replay.skipped.is_empty());
        assert_eq!(s3.snapshot_lines(), before);
    }

    /// A log file that fails on demand: a partial append, a failed cut-back, a held or
    /// failed fsync.
    #[derive(Debug, Default)]
    struct Faulty {
        bytes: std::sync::Mutex<Vec<u8>>,
        /// The next append writes this many bytes, then fails with ENOSPC.
        torn_after: std::sync::Mutex<Option<usize>>,
        fail_truncate: std::sync::atomic::AtomicBool,
        fail_sync: std::sync::atomic::AtomicBool,
        hold_sync: std::sync::Mutex<bool>,
        released: std::sync::Condvar,
    }

    impl LogFile for Faulty {
        fn append(&self, buf: &[u8]) -> io::Result<()> {
            let mut bytes = self.bytes.lock().unwrap();
            if let Some(n) = self.torn_after.lock().unwrap().take() {
                bytes.extend_from_slice(&buf[..n.min(buf.len())]);
                return Err(io::Error::from_raw_os_error(libc::ENOSPC));
            }
            bytes.extend_from_slice(buf);
            Ok(())
        }
        fn sync(&self) -> io::Result<()> {
            let mut held = self.hold_sync.lock().unwrap();
            while *held {
                held = self.released.wait(held).unwrap();
            }
            if self.fail_sync.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(io::Error::from_raw_os_error(libc::EIO));
            }
            Ok(())
        }
        fn truncate(&self, len: u64) -> io::Result<()> {
            if self.fail_truncate.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(io::Error::from_raw_os_error(libc::EIO));
            }
            self.bytes.lock().unwrap().truncate(len as usize);
            Ok(())
        }
    }

    fn faulty_store() -> (Store, Arc<Faulty>) {
        let file = Arc::new(Faulty::default());
        let log = StoreLog::with_file(file.clone(), Path::new("faulty.log"), 0).unwrap();
        (Store::new(Some(log)), file)
    }

    /// Replays what the faulty file holds into a fresh store.
    fn replay(file: &Faulty) -> (Store, Replay) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("file-server-store.log");
        std::fs::write(&path, &*file.bytes.lock().unwrap()).unwrap();
        open_store(&path, "b").unwrap()
    }

    #[test]
    fn a_failed_append_is_cut_back_and_refused_and_later_records_survive() {
        let (mut s, file) = faulty_store();
        s.add_file(rec(1)).unwrap().wait_blocking().unwrap();
        // The disk fills in the middle of the next record.
        *file.torn_after.lock().unwrap() = Some(20);
        assert!(matches!(s.add_file(rec(2)), Err(StoreError::Log(_))));
        assert!(s.file(&[2; 16]).is_none(), "a refused change is not made");
        // Space again: the next change is acknowledged and must survive a restart.
        s.add_file(rec(3)).unwrap().wait_blocking().unwrap();
        s.set_path(&[3; 16], PathBuf::from("/files/x"))
            .unwrap()
            .wait_blocking()
            .unwrap();
        let (r, replayed) = replay(&file);
        assert!(replayed.skipped.is_empty(), "{:?}", replayed.skipped);
        assert!(r.file(&[1; 16]).is_some());
        assert!(r.file(&[2; 16]).is_none());
        assert_eq!(
            r.file(&[3; 16]).unwrap().path,
            Some(PathBuf::from("/files/x"))
        );
    }

    #[test]
    fn a_log_that_cannot_be_cut_back_refuses_every_later_change() {
        let (mut s, file) = faulty_store();
        *file.torn_after.lock().unwrap() = Some(7);
        file.fail_truncate
            .store(true, std::sync::atomic::Ordering::SeqCst);
        assert!(s.add_file(rec(1)).is_err());
        file.fail_truncate
            .store(false, std::sync::atomic::Ordering::SeqCst);
        // The log's end is unknown: appending now would glue a record to the torn one.
        assert!(matches!(s.add_file(rec(2)), Err(StoreError::Log(_))));
        assert!(s.is_empty());
    }

    #[test]
    fn a_failed_fsync_fails_the_waiting_changes_and_refuses_later_ones() {
        let (mut s, file) = faulty_store();
        file.fail_sync
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let d = s.add_file(rec(1)).unwrap();
        assert!(d.wait_blocking().is_err(), "not acknowledged: not durable");
        assert!(matches!(s.add_file(rec(2)), Err(StoreError::Log(_))));
    }

    #[test]
    fn group_commit_acknowledges_only_after_the_sync_and_shares_it() {
        let (mut s, file) = faulty_store();
        *file.hold_sync.lock().unwrap() = true;
        let tickets: Vec<Durable> = (1..=20).map(|i| s.add_file(rec(i)).unwrap()).collect();
        let syncer = s.log().unwrap().syncer().clone();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut waits: Vec<_> = tickets.into_iter().map(|d| Box::pin(d.wait())).collect();
            // Nothing is acknowledged while the sync is held.
            for w in &mut waits {
                let pending =
                    tokio::time::timeout(std::time::Duration::from_millis(20), w.as_mut());
                assert!(pending.await.is_err(), "acknowledged before its fsync");
            }
            *file.hold_sync.lock().unwrap() = false;
            file.released.notify_all();
            for w in waits {
                w.await.unwrap();
            }
        });
        // 20 records, at most two fsyncs (one may have started before the rest were written).
        assert!(syncer.fsyncs() <= 2, "{} fsyncs", syncer.fsyncs());
    }

    #[test]
    fn a_change_waited_for_after_its_sync_finished_is_acknowledged_at_once() {
        let (mut s, _file) = faulty_store();
        let d = s.add_file(rec(1)).unwrap();
        let syncer = s.log().unwrap().syncer().clone();
        for _ in 0..500 {
            if syncer.fsyncs() > 0 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        assert!(syncer.fsyncs() > 0, "the committer never synced");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let waited = rt.block_on(async {
            tokio::time::timeout(std::time::Duration::from_secs(5), d.wait()).await
        });
        assert!(matches!(waited, Ok(Ok(()))), "{waited:?}");
    }

    #[test]
    fn a_whole_record_glued_to_a_torn_one_is_recovered() {
        let dir = tempfile::tempdir().unwrap();
        let log_path = dir.path().join("file-server-store.log");
        let whole = fnew_line(&rec(4));
        std::fs::write(&log_path, format!("FNEW AAAA{whole}\n")).unwrap();
        let (s, replay) = open_store(&log_path, "b1").unwrap();
        assert!(s.file(&[4; 16]).is_some());
        assert_eq!(replay.applied, 1);
    }

    #[test]
    fn the_log_is_not_readable_by_others() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let log_path = dir.path().join("file-server-store.log");
        let (mut s, _) = open_store(&log_path, "b1").unwrap();
        s.add_file(rec(1)).unwrap().wait_blocking().unwrap();
        let mode = std::fs::metadata(&log_path).unwrap().permissions().mode();
        assert_eq!(mode & 0o007, 0, "mode {mode:o}");
    }

    #[test]
    fn leftover_start_file_is_used() {
        let dir = tempfile::tempdir().unwrap();
        let log_path = dir.path().join("file-server-store.log");
        let (mut s, _) = open_store(&log_path, "b1").unwrap();
        s.add_file(rec(7)).unwrap().wait_blocking().unwrap();
        drop(s);
        // Simulate a crash right after the rename to .start, before the new log was complete.
        std::fs::rename(&log_path, log_path.with_extension("log.start")).unwrap();
        std::fs::write(&log_path, b"FNEW partial").unwrap();
        let (s2, _) = open_store(&log_path, "b2").unwrap();
        assert!(s2.file(&[7; 16]).is_some());
    }

    #[test]
    fn reference_line_parses() {
        let mut s = Store::new(None);
        let line = format!(
            "FNEW hudAcneBHmQXeD8g4gVpwg== {} 65536 {} 1754467200 active",
            b64(&PublicKey::from_raw(KeyAlgorithm::Ed25519, &[1; 32])
                .unwrap()
                .to_der()),
            b64(&[2; 32])
        );
        s.apply_line(&line).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s.snapshot_lines(), vec![line]);
    }
}
