//! The journal message store (`store_messages = journal`), in the reference relay's layout, so
//! that either relay can take over the other's `messages` folder.
//!
//! ```text
//! <log dir>/messages/<b64 rid split 2/2/2/2/rest>/
//!     queue_state.<b64 rid>.log    one state line per change, the last whole one counts:
//!         write=<jid>,<msgPos>,<msgCount>,<bytePos>,<byteCount> read=<same> canWrite=T|F size=<n>
//!     messages.<jid>.log           one message per line: <id> <ts> flags=T|F <body> | <id> <ts> quota
//! ```
//!
//! A SEND appends its message to the write journal, then a state line; an ACK appends a state
//! line with the read position moved past the message. The write journal moves to a new file
//! after 256 messages; a read journal that was read to its end is removed when reading moves
//! on. Both files are written (not only buffered) before the answer, and the answer waits for
//! a `syncfs` of the folder's filesystem shared by everything written meanwhile (one group
//! commit for all queues). Bytes past a recorded position were never acknowledged: they are cut
//! off at the next write or start. A queue whose files contradict its state is rebuilt from the
//! messages that parse, and its old files are kept beside it with a `.bad` suffix.
//!
//! The messages are also kept in memory (at most the queue quota per queue), so that delivery
//! never reads a file; the files are what a restart reads.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use simplex_codec::base64url;
use store_log::{Durable, LogFile, Syncer};

use crate::queue::Message;
use crate::storelog::{journal_line, parse_journal_line};

/// The folder in the log directory.
pub const MESSAGES_DIR: &str = "messages";
/// Folder levels of a queue's path (four 2-character levels, then the rest of the id).
const PATH_PARTS: usize = 5;
/// Messages per journal file before writing moves to a new one (the reference's default).
pub const MAX_MSG_COUNT: u64 = 256;
/// A state file with more lines than this is rewritten at start (the reference's default).
const MAX_STATE_LINES_AT_START: usize = 16;
/// ... and while running, after this many lines.
const MAX_STATE_LINES: u32 = 512;
/// How much of a state file's end is read (the last lines are what counts).
const STATE_TAIL: u64 = 8192;
/// Bytes of one journal file read at start: 256 messages of the largest size, with room.
const MAX_JOURNAL_READ: u64 = 8 << 20;

/// Where one journal file is read and written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalPos {
    /// The file's id (`messages.<id>.log`).
    pub id: String,
    /// Messages read (read journal) or written (write journal).
    pub msg_pos: u64,
    /// Messages in the file.
    pub msg_count: u64,
    /// Bytes read or written.
    pub byte_pos: u64,
    /// Bytes in the file.
    pub byte_count: u64,
}

impl JournalPos {
    fn new(id: String) -> Self {
        Self {
            id,
            msg_pos: 0,
            msg_count: 0,
            byte_pos: 0,
            byte_count: 0,
        }
    }

    fn encode(&self) -> String {
        format!(
            "{},{},{},{},{}",
            self.id, self.msg_pos, self.msg_count, self.byte_pos, self.byte_count
        )
    }

    fn parse(s: &str) -> Option<Self> {
        let mut p = s.split(',');
        let id = p.next()?;
        // The id becomes part of a file name: base64url characters only.
        let safe = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '=');
        if id.is_empty() || id.len() > 64 || !id.chars().all(safe) {
            return None;
        }
        let mut n = || p.next()?.parse::<u64>().ok();
        let pos = Self {
            id: id.to_string(),
            msg_pos: n()?,
            msg_count: n()?,
            byte_pos: n()?,
            byte_count: n()?,
        };
        p.next().is_none().then_some(pos)
    }
}

/// A queue's journal state: one line of `queue_state.<rid>.log`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueState {
    /// Where messages are written.
    pub write: JournalPos,
    /// Where messages are read.
    pub read: JournalPos,
    /// `false` after the quota marker was written, until the queue is empty.
    pub can_write: bool,
    /// Messages stored (the marker included).
    pub size: u64,
}

impl QueueState {
    fn new(id: String) -> Self {
        Self {
            write: JournalPos::new(id.clone()),
            read: JournalPos::new(id),
            can_write: true,
            size: 0,
        }
    }

    /// The state line (without its newline).
    pub fn encode(&self) -> String {
        format!(
            "write={} read={} canWrite={} size={}",
            self.write.encode(),
            self.read.encode(),
            if self.can_write { 'T' } else { 'F' },
            self.size
        )
    }

    /// Parses a state line.
    pub fn parse(line: &str) -> Option<Self> {
        let mut w = line.split(' ');
        let write = JournalPos::parse(w.next()?.strip_prefix("write=")?)?;
        let read = JournalPos::parse(w.next()?.strip_prefix("read=")?)?;
        let can_write = match w.next()?.strip_prefix("canWrite=")? {
            "T" => true,
            "F" => false,
            _ => return None,
        };
        let size = w.next()?.strip_prefix("size=")?.parse().ok()?;
        w.next().is_none().then_some(Self {
            write,
            read,
            can_write,
            size,
        })
    }

    /// The reference's consistency rules.
    pub fn valid(&self) -> bool {
        let (r, w) = (&self.read, &self.write);
        let always = r.msg_pos <= r.msg_count
            && r.byte_pos <= r.byte_count
            && w.msg_pos == w.msg_count
            && w.byte_pos == w.byte_count;
        if r.id == w.id {
            always
                && r.msg_pos <= w.msg_pos
                && r.msg_count == w.msg_count
                && r.byte_pos <= w.byte_pos
                && r.byte_count == w.byte_count
                && Some(self.size) == r.msg_count.checked_sub(r.msg_pos)
        } else {
            always && Some(self.size) == (w.msg_count + r.msg_count).checked_sub(r.msg_pos)
        }
    }
}

/// A queue's journal while the relay runs.
#[derive(Debug)]
pub struct QueueJournal {
    state: QueueState,
    /// Line lengths of the stored messages, oldest first.
    lens: VecDeque<u64>,
    /// Lines in the state file (it is rewritten when there are too many).
    state_lines: u32,
}

impl QueueJournal {
    /// The current state.
    pub fn state(&self) -> &QueueState {
        &self.state
    }
}

/// What [`JournalStore::load`] found for a queue.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The journal, when the queue has messages.
    pub journal: Option<Box<QueueJournal>>,
    /// Its messages, oldest first.
    pub messages: Vec<Message>,
    /// What was wrong and repaired (for the log).
    pub repaired: Vec<String>,
}

/// Syncs the filesystem that holds the journals: one call makes every file written before it
/// durable, whatever queue it belongs to.
#[derive(Debug)]
struct SyncFs(File);

impl LogFile for SyncFs {
    fn append(&self, _: &[u8]) -> io::Result<()> {
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }
    #[allow(unsafe_code)]
    fn sync(&self) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        // SAFETY: syncfs only reads the descriptor, which `self.0` keeps open.
        if unsafe { libc::syncfs(self.0.as_raw_fd()) } == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
    fn truncate(&self, _: u64) -> io::Result<()> {
        Err(io::Error::from(io::ErrorKind::Unsupported))
    }
}

/// The journal folder and its group commit.
#[derive(Debug)]
pub struct JournalStore {
    root: PathBuf,
    syncer: Arc<Syncer>,
}

impl Drop for JournalStore {
    fn drop(&mut self) {
        self.syncer.stop();
    }
}

fn new_journal_id() -> String {
    let mut b = [0u8; 12];
    simplex_crypto::random_bytes(&mut b);
    base64url::encode(&b)
}

fn other(path: &Path, what: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("{}: {what}", path.display()))
}

/// Opens a journal file for writing at `pos`, cutting off anything after it (bytes that were
/// never acknowledged); a file shorter than `pos` lost acknowledged messages: an error.
fn open_at(path: &Path, pos: u64) -> io::Result<File> {
    let f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    let len = f.metadata()?.len();
    if len > pos {
        f.set_len(pos)?;
    } else if len < pos {
        return Err(other(
            path,
            format!("{len} bytes, shorter than its recorded {pos}"),
        ));
    }
    Ok(f)
}

/// Cuts an existing journal file back to `end` (bytes after it were never acknowledged); a
/// missing or shorter file is an error.
fn fix_size(path: &Path, end: u64) -> io::Result<()> {
    let f = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    let len = f.metadata()?.len();
    if len > end {
        tracing::warn!(
            "journal: {} cut from {len} to {end} bytes (an unacknowledged write)",
            path.display()
        );
        f.set_len(end)?;
    } else if len < end {
        return Err(other(
            path,
            format!("{len} bytes, shorter than its recorded {end}"),
        ));
    }
    Ok(())
}

fn remove_if_exists(path: &Path) {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            tracing::warn!("journal: cannot remove {}: {e}", path.display());
        }
        _ => {}
    }
}

fn read_range(path: &Path, from: u64, to: u64) -> io::Result<Vec<u8>> {
    if to <= from {
        return Ok(Vec::new());
    }
    if to - from > MAX_JOURNAL_READ {
        return Err(other(path, "recorded range larger than any journal"));
    }
    let mut f = File::open(path)?;
    f.seek(SeekFrom::Start(from))?;
    let mut buf = vec![0u8; (to - from) as usize];
    f.read_exact(&mut buf)?;
    Ok(buf)
}

impl JournalStore {
    /// Opens (creating, mode 0700) the journal folder.
    pub fn open(root: &Path) -> io::Result<Self> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(root)?;
        let dir = File::open(root)?;
        let syncer = Syncer::spawn("smp-journal-sync", Arc::new(SyncFs(dir)))?;
        Ok(Self {
            root: root.to_path_buf(),
            syncer,
        })
    }

    /// The folder of a queue's journal.
    pub fn queue_dir(&self, rid: &[u8]) -> PathBuf {
        let enc = base64url::encode(rid);
        let mut dir = self.root.clone();
        let mut rest = enc.as_str();
        for _ in 1..PATH_PARTS {
            if rest.len() <= 2 {
                break;
            }
            let (seg, r) = rest.split_at(2);
            dir.push(seg);
            rest = r;
        }
        if !rest.is_empty() {
            dir.push(rest);
        }
        dir
    }

    fn state_path(dir: &Path, rid: &[u8]) -> PathBuf {
        dir.join(format!("queue_state.{}.log", base64url::encode(rid)))
    }

    fn journal_path(dir: &Path, id: &str) -> PathBuf {
        dir.join(format!("messages.{id}.log"))
    }

    /// A change written to the journals: durable after the next group commit.
    pub fn ticket(&self) -> Durable {
        self.syncer.ticket()
    }

    /// Appends a message (or the quota marker) to the queue's journal.
    pub fn write(
        &self,
        rid: &[u8],
        journal: &mut Option<Box<QueueJournal>>,
        m: &Message,
    ) -> io::Result<()> {
        let dir = self.queue_dir(rid);
        let j = match journal {
            Some(j) => j,
            None => {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(&dir)?;
                journal.insert(Box::new(QueueJournal {
                    state: QueueState::new(new_journal_id()),
                    lens: VecDeque::new(),
                    state_lines: 0,
                }))
            }
        };
        let mut line = journal_line(m);
        line.push('\n');
        let len = line.len() as u64;
        let mut st = j.state.clone();
        if st.write.id == st.read.id && st.write.msg_count >= MAX_MSG_COUNT {
            st.write = JournalPos::new(new_journal_id());
        }
        let path = Self::journal_path(&dir, &st.write.id);
        open_at(&path, st.write.byte_pos)?.write_all_at(line.as_bytes(), st.write.byte_pos)?;
        st.write.msg_pos += 1;
        st.write.msg_count = st.write.msg_pos;
        st.write.byte_pos += len;
        st.write.byte_count = st.write.byte_pos;
        if st.write.id == st.read.id {
            st.read.msg_count = st.write.msg_count;
            st.read.byte_count = st.write.byte_count;
        }
        st.can_write = m.body.is_some();
        st.size += 1;
        self.append_state(&dir, rid, j, &st)?;
        j.state = st;
        j.lens.push_back(len);
        Ok(())
    }

    /// Moves the read position past the oldest message.
    pub fn delete_tip(&self, rid: &[u8], j: &mut QueueJournal) -> io::Result<()> {
        let dir = self.queue_dir(rid);
        let Some(&len) = j.lens.front() else {
            return Err(other(&dir, "no message to delete"));
        };
        let mut st = j.state.clone();
        let mut finished = None;
        if st.read.msg_pos >= st.read.msg_count && st.read.id != st.write.id {
            finished = Some(st.read.id.clone());
            st.read = JournalPos {
                msg_count: st.write.msg_count,
                byte_count: st.write.byte_count,
                ..JournalPos::new(st.write.id.clone())
            };
        }
        st.read.msg_pos += 1;
        st.read.byte_pos += len;
        st.size = st.size.saturating_sub(1);
        self.append_state(&dir, rid, j, &st)?;
        j.state = st;
        j.lens.pop_front();
        if let Some(id) = finished {
            remove_if_exists(&Self::journal_path(&dir, &id));
        }
        Ok(())
    }

    /// Removes a deleted queue's journal folder.
    pub fn remove(&self, rid: &[u8]) {
        let dir = self.queue_dir(rid);
        match fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                tracing::warn!("journal: cannot remove {}: {e}", dir.display());
            }
            _ => {}
        }
    }

    fn append_state(
        &self,
        dir: &Path,
        rid: &[u8],
        j: &mut QueueJournal,
        st: &QueueState,
    ) -> io::Result<()> {
        let path = Self::state_path(dir, rid);
        let mut line = st.encode();
        line.push('\n');
        if j.state_lines >= MAX_STATE_LINES {
            Self::replace_state(&path, &line)?;
            j.state_lines = 1;
            return Ok(());
        }
        let mut f = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)?;
        let before = f.metadata()?.len();
        if let Err(e) = f.write_all(line.as_bytes()) {
            // A torn line would glue onto the next one: cut it off, or rewrite the file next.
            if f.set_len(before).is_err() {
                j.state_lines = MAX_STATE_LINES;
            }
            return Err(e);
        }
        j.state_lines += 1;
        Ok(())
    }

    /// Replaces the state file by one line, atomically (synced before the rename).
    fn replace_state(path: &Path, line: &str) -> io::Result<()> {
        let tmp = path.with_extension("log.new");
        {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&tmp)?;
            f.write_all(line.as_bytes())?;
            f.sync_data()?;
        }
        fs::rename(&tmp, path)
    }

    /// Reads a queue's journal at start; messages are returned oldest first.
    pub fn load(&self, rid: &[u8]) -> io::Result<Loaded> {
        let dir = self.queue_dir(rid);
        let path = Self::state_path(&dir, rid);
        // The reference renames the state file to `.bak` while it rewrites it.
        let temp_backup = path.with_extension("log.bak");
        if temp_backup.exists() && !path.exists() {
            fs::rename(&temp_backup, &path)?;
        }
        let tail = match File::open(&path) {
            Ok(mut f) => {
                let size = f.metadata()?.len();
                let from = size.saturating_sub(STATE_TAIL);
                f.seek(SeekFrom::Start(from))?;
                let mut buf = Vec::new();
                f.take(STATE_TAIL).read_to_end(&mut buf)?;
                buf
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Loaded::default()),
            Err(e) => return Err(e),
        };
        let text = String::from_utf8_lossy(&tail);
        let lines: Vec<&str> = text.split('\n').filter(|l| !l.is_empty()).collect();
        let mut loaded = Loaded::default();
        // The last line, or the one before when the last was torn.
        let state = match lines.last().and_then(|l| QueueState::parse(l)) {
            Some(s) => Some(s),
            None => {
                let prev = lines.len().checked_sub(2).and_then(|i| lines.get(i));
                let s = prev.and_then(|l| QueueState::parse(l));
                if s.is_some() {
                    loaded
                        .repaired
                        .push("torn last state line ignored".to_string());
                }
                s
            }
        };
        let Some(mut st) = state.filter(QueueState::valid) else {
            // Nothing usable: keep the files aside, start the queue empty.
            self.quarantine(&dir, rid, None)?;
            loaded.repaired.push(format!(
                "no valid state in {}: its files were kept with a .bad suffix",
                path.display()
            ));
            return Ok(loaded);
        };
        if st.size == 0 {
            // Empty: the journals are finished with; the next message starts a new one.
            remove_if_exists(&Self::journal_path(&dir, &st.read.id));
            remove_if_exists(&Self::journal_path(&dir, &st.write.id));
            remove_if_exists(&path);
            return Ok(loaded);
        }
        let (messages, lens, problem) = self.read_messages(&dir, &mut st);
        let problem = problem.or_else(|| {
            (messages.len() as u64 != st.size).then(|| {
                format!(
                    "{} messages found, the state says {}",
                    messages.len(),
                    st.size
                )
            })
        });
        match problem {
            None => {
                let mut j = QueueJournal {
                    state: st,
                    lens,
                    state_lines: lines.len() as u32,
                };
                if lines.len() > MAX_STATE_LINES_AT_START || !loaded.repaired.is_empty() {
                    let mut line = j.state.encode();
                    line.push('\n');
                    Self::replace_state(&path, &line)?;
                    j.state_lines = 1;
                }
                loaded.journal = Some(Box::new(j));
            }
            Some(why) => {
                // The files contradict the state: rebuild the queue from what parses.
                self.quarantine(&dir, rid, Some(&st))?;
                let mut journal = None;
                for m in &messages {
                    self.write(rid, &mut journal, m)?;
                }
                loaded.repaired.push(format!(
                    "journal of {} rebuilt ({why}); old files kept with a .bad suffix",
                    dir.display()
                ));
                loaded.journal = journal;
            }
        }
        loaded.messages = messages;
        Ok(loaded)
    }

    /// The messages between the read and write positions, cutting unacknowledged bytes off,
    /// with their line lengths; on a problem, the messages read before it and what it was.
    fn read_messages(
        &self,
        dir: &Path,
        st: &mut QueueState,
    ) -> (Vec<Message>, VecDeque<u64>, Option<String>) {
        let mut messages = Vec::new();
        let mut lens = VecDeque::new();
        let rpath = Self::journal_path(dir, &st.read.id);
        let wpath = Self::journal_path(dir, &st.write.id);
        // (file, read from, read to, where the file must end)
        let mut ranges: Vec<(PathBuf, u64, u64, u64)> = Vec::new();
        if st.read.id == st.write.id {
            ranges.push((
                rpath,
                st.read.byte_pos,
                st.write.byte_pos,
                st.write.byte_pos,
            ));
        } else if !rpath.exists() {
            // The read journal was finished and removed: read from the write journal.
            st.read = JournalPos {
                msg_count: st.write.msg_count,
                byte_count: st.write.byte_count,
                ..JournalPos::new(st.write.id.clone())
            };
            st.size = st.write.msg_count;
            ranges.push((wpath, 0, st.write.byte_pos, st.write.byte_pos));
        } else {
            let (rfrom, rend) = (st.read.byte_pos, st.read.byte_count);
            ranges.push((rpath, rfrom, rend, rend));
            ranges.push((wpath, 0, st.write.byte_pos, st.write.byte_pos));
        }
        for (path, from, to, end) in ranges {
            let buf = match fix_size(&path, end).and_then(|()| read_range(&path, from, to)) {
                Ok(b) => b,
                Err(e) => return (messages, lens, Some(e.to_string())),
            };
            for line in buf.split_inclusive(|&b| b == b'\n') {
                let m = std::str::from_utf8(line)
                    .ok()
                    .and_then(|l| l.strip_suffix('\n'))
                    .ok_or("not a text line")
                    .and_then(parse_journal_line);
                match m {
                    Ok(m) => {
                        messages.push(m);
                        lens.push_back(line.len() as u64);
                    }
                    Err(e) => {
                        let why = format!("{}: bad message line: {e}", path.display());
                        return (messages, lens, Some(why));
                    }
                }
            }
        }
        (messages, lens, None)
    }

    /// Renames a queue's state and journal files with a `.bad` suffix (kept for inspection).
    fn quarantine(&self, dir: &Path, rid: &[u8], st: Option<&QueueState>) -> io::Result<()> {
        let mut files = vec![Self::state_path(dir, rid)];
        if let Some(st) = st {
            files.push(Self::journal_path(dir, &st.read.id));
            files.push(Self::journal_path(dir, &st.write.id));
        }
        for f in files {
            if f.exists() {
                let mut bad = f.clone().into_os_string();
                bad.push(".bad");
                fs::rename(&f, PathBuf::from(bad))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(i: u32, body: Option<&[u8]>) -> Message {
        let mut id = [0u8; crate::queue::ID_LEN];
        id[..4].copy_from_slice(&i.to_be_bytes());
        Message {
            id,
            ts: 1_700_000_000 + i64::from(i),
            body: body.map(|b| (i.is_multiple_of(2), b.to_vec())),
        }
    }

    fn rid() -> Vec<u8> {
        (0u8..24).collect()
    }

    fn state_file(js: &JournalStore) -> PathBuf {
        JournalStore::state_path(&js.queue_dir(&rid()), &rid())
    }

    #[test]
    fn state_lines_have_the_reference_form() {
        // As the reference writes it (MsgStore/Journal.hs strEncode MsgQueueState).
        let line = "write=AQIDBAUGBwgJCgsM,3,3,321,321 read=AQIDBAUGBwgJCgsM,1,3,107,321 canWrite=T size=2";
        let st = QueueState::parse(line).unwrap();
        assert_eq!(st.encode(), line);
        assert!(st.valid());
        assert_eq!((st.read.msg_pos, st.write.byte_pos, st.size), (1, 321, 2));
        for bad in [
            "write=a/b,0,0,0,0 read=a/b,0,0,0,0 canWrite=T size=0",
            "write=..,0,0,0,0 read=..,0,0,0,0 canWrite=T size=0",
            "write=a,0,0,0,0 read=a,0,0,0,0 canWrite=X size=0",
            "write=a,0,0,0 read=a,0,0,0,0 canWrite=T size=0",
            "write=a,0,0,0,0 read=a,0,0,0,0 canWrite=T size=0 extra",
        ] {
            assert!(QueueState::parse(bad).is_none(), "{bad}");
        }
        // Parsed but inconsistent: the size does not match the positions.
        let st = QueueState::parse("write=a,2,2,20,20 read=a,0,2,0,20 canWrite=T size=1").unwrap();
        assert!(!st.valid());
    }

    #[test]
    fn queue_paths_split_the_id_like_the_reference() {
        let tmp = tempfile::tempdir().unwrap();
        let js = JournalStore::open(tmp.path()).unwrap();
        let dir = js.queue_dir(&rid());
        let enc = base64url::encode(&rid());
        let rel = dir.strip_prefix(tmp.path()).unwrap();
        let parts: Vec<&str> = rel.iter().map(|p| p.to_str().unwrap()).collect();
        assert_eq!(
            parts,
            [&enc[0..2], &enc[2..4], &enc[4..6], &enc[6..8], &enc[8..]]
        );
    }

    #[test]
    fn messages_survive_a_reload_and_journals_rotate() {
        let tmp = tempfile::tempdir().unwrap();
        let js = JournalStore::open(tmp.path()).unwrap();
        let mut j = None;
        // 300 messages: the write journal moves to a second file after 256.
        for i in 0..300 {
            js.write(
                &rid(),
                &mut j,
                &msg(i, Some(format!("body {i}").as_bytes())),
            )
            .unwrap();
        }
        let first = j.as_ref().unwrap().state.read.id.clone();
        assert_ne!(first, j.as_ref().unwrap().state.write.id);
        // Read 260: the first journal is finished and removed.
        for _ in 0..260 {
            js.delete_tip(&rid(), j.as_mut().unwrap()).unwrap();
        }
        let dir = js.queue_dir(&rid());
        assert!(!JournalStore::journal_path(&dir, &first).exists());
        js.ticket().wait_blocking().unwrap();
        drop(js);

        let js = JournalStore::open(tmp.path()).unwrap();
        let loaded = js.load(&rid()).unwrap();
        assert!(loaded.repaired.is_empty(), "{:?}", loaded.repaired);
        let ids: Vec<u32> = loaded
            .messages
            .iter()
            .map(|m| u32::from_be_bytes(m.id[..4].try_into().unwrap()))
            .collect();
        assert_eq!(ids, (260..300).collect::<Vec<_>>());
        assert_eq!(loaded.messages[0], msg(260, Some(b"body 260")));
        // The long state file was rewritten to one line.
        let text = fs::read_to_string(state_file(&js)).unwrap();
        assert_eq!(text.lines().count(), 1);
        // Reading on after the reload continues at the right bytes.
        let mut j = loaded.journal;
        for _ in 0..40 {
            js.delete_tip(&rid(), j.as_mut().unwrap()).unwrap();
        }
        js.write(&rid(), &mut j, &msg(999, None)).unwrap();
        drop(js);
        let js = JournalStore::open(tmp.path()).unwrap();
        let loaded = js.load(&rid()).unwrap();
        assert_eq!(loaded.messages, [msg(999, None)]);
        assert!(!loaded.journal.unwrap().state.can_write);
    }

    #[test]
    fn an_emptied_queue_leaves_no_files_and_starts_again() {
        let tmp = tempfile::tempdir().unwrap();
        let js = JournalStore::open(tmp.path()).unwrap();
        let mut j = None;
        js.write(&rid(), &mut j, &msg(1, Some(b"x"))).unwrap();
        js.delete_tip(&rid(), j.as_mut().unwrap()).unwrap();
        let loaded = js.load(&rid()).unwrap();
        assert!(loaded.journal.is_none() && loaded.messages.is_empty());
        let dir = js.queue_dir(&rid());
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
        let mut j = None;
        js.write(&rid(), &mut j, &msg(2, Some(b"y"))).unwrap();
        assert_eq!(js.load(&rid()).unwrap().messages, [msg(2, Some(b"y"))]);
        js.remove(&rid());
        assert!(!dir.exists());
    }

    #[test]
    fn unacknowledged_bytes_and_a_torn_state_line_are_cut_off() {
        let tmp = tempfile::tempdir().unwrap();
        let js = JournalStore::open(tmp.path()).unwrap();
        let mut j = None;
        js.write(&rid(), &mut j, &msg(1, Some(b"kept"))).unwrap();
        let st = j.as_ref().unwrap().state.clone();
        let dir = js.queue_dir(&rid());
        let journal = JournalStore::journal_path(&dir, &st.write.id);
        // A process killed between the message and its state line, and in the middle of the
        // next state line.
        let mut f = OpenOptions::new().append(true).open(&journal).unwrap();
        f.write_all(b"AAAA 17 flags=F Ym9k").unwrap();
        let mut s = OpenOptions::new()
            .append(true)
            .open(state_file(&js))
            .unwrap();
        s.write_all(b"write=").unwrap();
        let loaded = js.load(&rid()).unwrap();
        assert_eq!(loaded.messages, [msg(1, Some(b"kept"))]);
        assert_eq!(fs::metadata(&journal).unwrap().len(), st.write.byte_pos);
        // The next message follows the kept one directly.
        let mut j = loaded.journal;
        js.write(&rid(), &mut j, &msg(2, Some(b"next"))).unwrap();
        let loaded = js.load(&rid()).unwrap();
        assert!(loaded.repaired.is_empty(), "{:?}", loaded.repaired);
        assert_eq!(
            loaded.messages,
            [msg(1, Some(b"kept")), msg(2, Some(b"next"))]
        );
    }

    #[test]
    fn files_that_contradict_the_state_are_kept_aside_and_the_queue_rebuilt() {
        let tmp = tempfile::tempdir().unwrap();
        let js = JournalStore::open(tmp.path()).unwrap();
        let mut j = None;
        for i in 0..3 {
            js.write(&rid(), &mut j, &msg(i, Some(b"m"))).unwrap();
        }
        let st = j.unwrap().state.clone();
        let dir = js.queue_dir(&rid());
        let journal = JournalStore::journal_path(&dir, &st.write.id);
        // The second line damaged in place (same length).
        let text = fs::read_to_string(&journal).unwrap();
        let second = text.lines().nth(1).unwrap().len();
        let first = text.lines().next().unwrap().len() + 1;
        let mut bytes = text.into_bytes();
        bytes[first..first + second].fill(b'#');
        fs::write(&journal, bytes).unwrap();
        let loaded = js.load(&rid()).unwrap();
        assert_eq!(loaded.messages, [msg(0, Some(b"m"))]);
        assert_eq!(loaded.repaired.len(), 1, "{:?}", loaded.repaired);
        let mut bad = journal.clone().into_os_string();
        bad.push(".bad");
        assert!(PathBuf::from(bad).exists(), "the damaged journal is kept");
        // The rebuilt queue loads cleanly.
        let again = js.load(&rid()).unwrap();
        assert!(again.repaired.is_empty());
        assert_eq!(again.messages, [msg(0, Some(b"m"))]);
    }
}
