//! The relays' append-only store logs: one text record per line, each appended whole or cut
//! back, made durable by a group-commit thread, replayed and compacted at start.
//!
//! ```text
//! change ─► StoreLog::append(line) ─► Durable ─► (fsync by "store-log-sync", shared by every
//!                                                 record written meanwhile) ─► acknowledge
//! start: <log> ─rename─► <log>.start ─replay─► state ─snapshot─► <log>.new ─rename─► <log>
//!        <log>.start ─rename─► <log>.<backup suffix>   (the previous log is kept)
//! ```
//!
//! Used by the XFTP relay (`file-server-store.log`) and the SMP relay (`smp-server-store.log`);
//! each defines its records by implementing [`LogState`].

use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What a store log replays into.
pub trait LogState {
    /// Record tags, each with its trailing space (to find a whole record glued to a torn one).
    const TAGS: &'static [&'static str];
    /// Applies one record; an error says why the line was skipped.
    fn apply_line(&mut self, line: &str) -> Result<(), &'static str>;
    /// The records that recreate the current state (the compacted log).
    fn snapshot_lines(&self) -> Vec<String>;
}

/// Where the store log's bytes go: the log file, or (in tests) a file that fails on demand.
pub trait LogFile: Send + Sync + std::fmt::Debug {
    /// Appends `buf` at the end (all of it, or an error; a part may have been written).
    fn append(&self, buf: &[u8]) -> io::Result<()>;
    /// Makes everything appended so far durable.
    fn sync(&self) -> io::Result<()>;
    /// Cuts the file back to `len` bytes (removes a partly written record).
    fn truncate(&self, len: u64) -> io::Result<()>;
}

impl LogFile for File {
    fn append(&self, buf: &[u8]) -> io::Result<()> {
        (&mut &*self).write_all(buf)
    }
    fn sync(&self) -> io::Result<()> {
        self.sync_data()
    }
    fn truncate(&self, len: u64) -> io::Result<()> {
        self.set_len(len)
    }
}

/// Progress of the group commit: what was written, what is durable, and whether syncing failed.
#[derive(Debug, Default, Clone)]
struct SyncProgress {
    written: u64,
    synced: u64,
    failed: Option<String>,
    stop: bool,
    fsyncs: u64,
}

/// The group committer: one thread that syncs the log whenever records were appended since the
/// last sync, so that many records written meanwhile share one fsync. Nothing waits for it on
/// the async threads: a change is acknowledged when [`Durable::wait`] returns.
#[derive(Debug)]
pub struct Syncer {
    state: std::sync::Mutex<SyncProgress>,
    wake: std::sync::Condvar,
    durable: tokio::sync::watch::Sender<(u64, bool)>,
}

impl Syncer {
    fn start(file: Arc<dyn LogFile>) -> io::Result<Arc<Self>> {
        Self::spawn("store-log-sync", file)
    }

    /// A group committer over any [`LogFile`] (only its `sync` is called), on a thread named
    /// `name`. Changes written to the file are marked with [`Syncer::ticket`]; stop the thread
    /// with [`Syncer::stop`].
    pub fn spawn(name: &str, file: Arc<dyn LogFile>) -> io::Result<Arc<Self>> {
        let (durable, _) = tokio::sync::watch::channel((0, false));
        let syncer = Arc::new(Self {
            state: std::sync::Mutex::new(SyncProgress::default()),
            wake: std::sync::Condvar::new(),
            durable,
        });
        let me = syncer.clone();
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || me.run(&*file))?;
        Ok(syncer)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SyncProgress> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn run(&self, file: &dyn LogFile) {
        loop {
            let target = {
                let mut s = self.lock();
                while s.written == s.synced && !s.stop && s.failed.is_none() {
                    s = self.wake.wait(s).unwrap_or_else(|p| p.into_inner());
                }
                if s.failed.is_some() || (s.stop && s.written == s.synced) {
                    return;
                }
                s.written
            };
            let result = file.sync();
            let mut s = self.lock();
            s.fsyncs += 1;
            match result {
                Ok(()) => s.synced = target,
                Err(e) => {
                    // Whether the records reached the disk is unknown (and Linux may forget
                    // the error): nothing more is acknowledged until a restart replays the log.
                    tracing::error!(
                        "store log fsync failed: {e}; refusing changes until the relay restarts"
                    );
                    s.failed = Some(e.to_string());
                }
            }
            // `send_replace`: the value must change even while nobody is subscribed.
            self.durable.send_replace((s.synced, s.failed.is_some()));
            self.wake.notify_all();
        }
    }

    fn written(&self, seq: u64) {
        self.lock().written = seq;
        self.wake.notify_all();
    }

    /// Marks a change written to the file: the returned [`Durable`] completes after the next
    /// sync that starts from now on. For syncers made with [`Syncer::spawn`] only.
    pub fn ticket(self: &Arc<Self>) -> Durable {
        let seq = {
            let mut s = self.lock();
            s.written += 1;
            s.written
        };
        self.wake.notify_all();
        Durable(vec![(seq, self.clone())])
    }

    fn failure(&self) -> Option<String> {
        self.lock().failed.clone()
    }

    /// How many fsyncs ran (for tests and statistics).
    pub fn fsyncs(&self) -> u64 {
        self.lock().fsyncs
    }

    /// Why syncing stopped, if it failed: nothing more may be acknowledged.
    pub fn failed(&self) -> Option<String> {
        self.failure()
    }

    /// Ends the thread once everything written is synced.
    pub fn stop(&self) {
        self.lock().stop = true;
        self.wake.notify_all();
    }
}

/// A change that is in memory and written to one or more logs; [`Durable::wait`] returns once
/// every record is on disk. Acknowledge the change only after that.
#[derive(Debug)]
#[must_use = "a change may be acknowledged only after it is durable"]
pub struct Durable(Vec<(u64, Arc<Syncer>)>);

impl Durable {
    /// Nothing to wait for (no log, or nothing written).
    pub fn done() -> Self {
        Self(Vec::new())
    }

    /// Waits for this and `other` (records in different logs, or later records in the same).
    pub fn and(mut self, other: Durable) -> Durable {
        for (seq, syncer) in other.0 {
            match self.0.iter_mut().find(|(_, s)| Arc::ptr_eq(s, &syncer)) {
                Some(t) => t.0 = t.0.max(seq),
                None => self.0.push((seq, syncer)),
            }
        }
        self
    }

    /// Whether there is nothing to wait for.
    pub fn is_done(&self) -> bool {
        self.0.is_empty()
    }

    /// Waits (without blocking a thread) until the records are synced.
    pub async fn wait(self) -> io::Result<()> {
        for (seq, syncer) in self.0 {
            let mut rx = syncer.durable.subscribe();
            let r = rx
                .wait_for(|&(synced, failed)| synced >= seq || failed)
                .await;
            match r {
                Ok(v) if v.0 >= seq => {}
                _ => {
                    return Err(io::Error::other(
                        syncer
                            .failure()
                            .unwrap_or_else(|| "store log closed".into()),
                    ))
                }
            }
        }
        Ok(())
    }

    /// Like [`Durable::wait`], blocking the calling thread (for blocking tasks).
    pub fn wait_blocking(self) -> io::Result<()> {
        for (seq, syncer) in self.0 {
            let mut s = syncer.lock();
            while s.synced < seq && s.failed.is_none() {
                s = syncer.wake.wait(s).unwrap_or_else(|p| p.into_inner());
            }
            if s.synced < seq {
                return Err(io::Error::other(s.failed.clone().unwrap_or_default()));
            }
        }
        Ok(())
    }
}

/// The append-only store log. A record is either appended whole or cut back (and the change
/// refused); it is acknowledged only after the group committer synced it.
#[derive(Debug)]
pub struct StoreLog {
    file: Arc<dyn LogFile>,
    path: PathBuf,
    /// Bytes of whole records: where a failed append is cut back to.
    len: u64,
    /// Records appended.
    seq: u64,
    /// Set when a failed append could not be cut back: the log's end is unknown.
    broken: Option<String>,
    syncer: Arc<Syncer>,
}

impl StoreLog {
    /// Opens (creating, mode 0640) the log for appending.
    pub fn open(path: &Path) -> io::Result<Self> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o640)
            .open(path)?;
        let len = file.metadata()?.len();
        Self::with_file(Arc::new(file), path, len)
    }

    /// A log over any [`LogFile`] whose whole records end at `len` (tests inject failures).
    pub fn with_file(file: Arc<dyn LogFile>, path: &Path, len: u64) -> io::Result<Self> {
        let syncer = Syncer::start(file.clone())?;
        Ok(Self {
            file,
            path: path.to_path_buf(),
            len,
            seq: 0,
            broken: None,
            syncer,
        })
    }

    /// Appends one record; on failure cuts the log back to its last whole record and returns
    /// the error (the caller must not make the change).
    pub fn append(&mut self, line: &str) -> io::Result<Durable> {
        if let Some(why) = self.broken.clone().or_else(|| self.syncer.failure()) {
            return Err(io::Error::other(format!(
                "store log unusable after an earlier failure ({why}); restart the relay"
            )));
        }
        let mut buf = String::with_capacity(line.len() + 1);
        buf.push_str(line);
        buf.push('\n');
        if let Err(e) = self.file.append(buf.as_bytes()) {
            if let Err(t) = self.file.truncate(self.len) {
                tracing::error!(
                    "store log: cannot cut back a failed record ({t}); refusing changes until the relay restarts"
                );
                self.broken = Some(format!("append failed: {e}; cut back failed: {t}"));
            }
            return Err(e);
        }
        self.len += buf.len() as u64;
        self.seq += 1;
        self.syncer.written(self.seq);
        Ok(Durable(vec![(self.seq, self.syncer.clone())]))
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The group committer (statistics).
    pub fn syncer(&self) -> &Arc<Syncer> {
        &self.syncer
    }
}

impl Drop for StoreLog {
    fn drop(&mut self) {
        self.syncer.stop();
    }
}

/// Result of reading the store log at start.
#[derive(Debug, Default)]
pub struct Replay {
    /// Lines applied.
    pub applied: usize,
    /// Lines skipped (malformed, torn, or referring to unknown records), with why.
    pub skipped: Vec<(usize, &'static str)>,
}

/// Applies a whole record that follows a torn one on the same line (the last one that parses).
fn glued_record<S: LogState>(store: &mut S, line: &str) -> Option<()> {
    let mut starts: Vec<usize> = S::TAGS
        .iter()
        .flat_map(|t| line.match_indices(t).map(|(i, _)| i))
        .filter(|&i| i > 0)
        .collect();
    starts.sort_unstable();
    starts
        .into_iter()
        .rev()
        .find_map(|i| store.apply_line(&line[i..]).ok())
}

/// Replays a log into `store` without changing the file (for tools that only read it).
pub fn replay_file<S: LogState>(store: &mut S, path: &Path) -> io::Result<Replay> {
    let mut replay = Replay::default();
    let reader = BufReader::new(File::open(path)?);
    for (i, line) in reader.split(b'\n').enumerate() {
        let line = line?;
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches('\r');
        if text.is_empty() {
            continue;
        }
        match store.apply_line(text) {
            Ok(()) => replay.applied += 1,
            Err(why) => match glued_record(store, text) {
                // An older relay appended the next record to a torn one: keep the whole one.
                Some(()) => {
                    replay.applied += 1;
                    replay.skipped.push((
                        i + 1,
                        "torn record before a whole one (that one was applied)",
                    ));
                }
                None => replay.skipped.push((i + 1, why)),
            },
        }
    }
    Ok(replay)
}

/// Takes an exclusive lock on `dir/name` (created mode 0600, never through a symlink), held
/// while the returned file stays open: a second relay process on the same folder gets an error
/// of kind `WouldBlock` before it touches anything.
pub fn lock_folder(dir: &Path, name: &str) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(dir.join(name))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(io::ErrorKind::WouldBlock.into()),
        Err(std::fs::TryLockError::Error(e)) => Err(e),
    }
}

/// Creates (replacing) a file readable by the relay's user and group only: the log holds keys.
pub fn private_file(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    // A leftover from a crash keeps its old mode when reopened: start afresh.
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o640)
        .open(path)
}

/// Replays the log at `path` into `store`, compacts it (via `<log>.start`, which survives a
/// crash during compaction; the previous log is kept as `<log>.<backup_suffix>`), and opens
/// the compacted log for appending.
pub fn open_log<S: LogState>(
    store: &mut S,
    path: &Path,
    backup_suffix: &str,
) -> io::Result<(StoreLog, Replay)> {
    let start = path.with_extension("log.start");
    // A leftover `.start` is the last complete log: a compaction died after the rename.
    if !start.exists() {
        if path.exists() {
            std::fs::rename(path, &start)?;
        } else {
            private_file(&start)?.sync_all()?;
        }
    }
    let replay = replay_file(store, &start)?;
    // Write the compacted log next to the final name, then swap it in.
    let tmp = path.with_extension("log.new");
    {
        let mut f = private_file(&tmp)?;
        let mut text = String::new();
        for l in store.snapshot_lines() {
            text.push_str(&l);
            text.push('\n');
        }
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    // Never replace an earlier backup (two starts within one second share a suffix).
    let mut backup = path.with_extension(format!("log.{backup_suffix}"));
    let mut n = 1;
    while backup.exists() {
        backup = path.with_extension(format!("log.{backup_suffix}.{n}"));
        n += 1;
    }
    std::fs::rename(&start, backup)?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok((StoreLog::open(path)?, replay))
}
