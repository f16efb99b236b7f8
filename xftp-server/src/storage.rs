//! Where chunk bytes live: a trait, so that scale-out backends (object stores) can replace the
//! embedded default, a directory of files named by the base64url sender ID.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use simplex_codec::base64url;

/// Chunk storage. Methods block: the relay calls them from blocking tasks.
pub trait ChunkStorage: Send + Sync + 'static {
    /// Starts writing the chunk `id` aside; the chunk appears under `id` only at
    /// [`ChunkSink::commit`], so a failed or racing upload never touches a committed chunk.
    fn create(&self, id: &[u8]) -> io::Result<Box<dyn ChunkSink>>;
    /// Opens the chunk `id` for reading; also returns its stored length.
    fn open(&self, id: &[u8]) -> io::Result<(Box<dyn Read + Send>, u64)>;
    /// Removes the chunk `id` (no error if it is already gone).
    fn delete(&self, id: &[u8]) -> io::Result<()>;
    /// IDs of every committed chunk (to reconcile with the records at start). With
    /// `settled_only` (records shared by several relays) a store that several relays write
    /// leaves out the chunks written lately, which another relay may be about to record.
    fn list(&self, settled_only: bool) -> io::Result<Vec<Vec<u8>>>;
    /// Removes uploads that were never committed (at start, before anything is uploaded);
    /// returns how many.
    fn remove_uncommitted(&self) -> io::Result<usize>;
    /// Moves the chunk `id` out of the way (kept for an operator to recover, never served);
    /// returns where it went.
    fn quarantine(&self, id: &[u8]) -> io::Result<String>;
    /// The location recorded in the store log.
    fn location(&self, id: &[u8]) -> PathBuf;
    /// Whether other relay processes may write this storage (a bucket; a folder is locked by
    /// one relay).
    fn shared(&self) -> bool {
        false
    }
}

/// A chunk being written. Dropping it without `commit` leaves nothing under the chunk's ID.
pub trait ChunkSink: Write + Send {
    /// Makes the written bytes durable under the chunk's ID. Called once per upload, by the
    /// only uploader of this ID.
    fn commit(self: Box<Self>) -> io::Result<()>;
}

/// Folder (inside the files path) where chunks unknown to the store log are moved at start.
pub const QUARANTINE_DIR: &str = "quarantine";
/// Ending of a chunk being uploaded (`.` is not in the base64url alphabet).
const UPLOAD_SUFFIX: &str = ".upload";

/// Chunks as files in one directory (the reference's layout: `<files path>/<base64url id>`).
#[derive(Debug, Clone)]
pub struct DirStorage {
    dir: PathBuf,
}

impl DirStorage {
    /// Uses (and creates) `dir`.
    pub fn new(dir: &Path) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn upload_path(&self, id: &[u8]) -> PathBuf {
        self.dir
            .join(format!("{}{UPLOAD_SUFFIX}", base64url::encode(id)))
    }
}

/// Writes a chunk with `O_DIRECT` where the file system allows it (chunk sizes are multiples
/// of 64 KiB, so only the staging is needed): no copy into fresh page cache.
struct FileSink {
    out: Option<chunker::output::Output>,
    dir: PathBuf,
    temp: PathBuf,
    path: PathBuf,
}

impl Write for FileSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.out {
            Some(out) => out.write(buf)?,
            None => return Err(io::Error::other("chunk already committed")),
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl ChunkSink for FileSink {
    fn commit(mut self: Box<Self>) -> io::Result<()> {
        let out = self
            .out
            .take()
            .ok_or_else(|| io::Error::other("chunk already committed"))?;
        let file = out.finish()?;
        file.sync_all()?;
        drop(file);
        fs::rename(&self.temp, &self.path)?;
        // The directory entry must be durable too.
        File::open(&self.dir)?.sync_all()
    }
}

impl Drop for FileSink {
    fn drop(&mut self) {
        if self.out.is_some() {
            let _ = fs::remove_file(&self.temp);
        }
    }
}

impl ChunkStorage for DirStorage {
    fn create(&self, id: &[u8]) -> io::Result<Box<dyn ChunkSink>> {
        use std::os::unix::fs::OpenOptionsExt;
        let temp = self.upload_path(id);
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .custom_flags(libc::O_NOFOLLOW)
            .mode(0o640)
            .open(&temp)?;
        Ok(Box::new(FileSink {
            // Small staging: a relay has many uploads at once.
            out: Some(chunker::output::Output::with_stage(
                file,
                &temp,
                0,
                256 * 1024,
            )),
            dir: self.dir.clone(),
            temp,
            path: self.location(id),
        }))
    }

    fn open(&self, id: &[u8]) -> io::Result<(Box<dyn Read + Send>, u64)> {
        let f = File::open(self.location(id))?;
        let len = f.metadata()?.len();
        Ok((Box::new(f), len))
    }

    fn delete(&self, id: &[u8]) -> io::Result<()> {
        match fs::remove_file(self.location(id)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    fn list(&self, _settled_only: bool) -> io::Result<Vec<Vec<u8>>> {
        // The folder is locked by this relay: nothing is in flight at start.
        let mut ids = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            if !entry.file_type()?.is_file() {
                continue;
            }
            if let Some(id) = entry.file_name().to_str().and_then(base64url::decode) {
                ids.push(id);
            }
        }
        Ok(ids)
    }

    fn remove_uncommitted(&self) -> io::Result<usize> {
        let mut n = 0;
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let is_upload = name
                .to_str()
                .and_then(|n| n.strip_suffix(UPLOAD_SUFFIX))
                .is_some_and(|id| base64url::decode(id).is_some());
            if is_upload && entry.file_type()?.is_file() {
                fs::remove_file(entry.path())?;
                n += 1;
            }
        }
        Ok(n)
    }

    fn quarantine(&self, id: &[u8]) -> io::Result<String> {
        let qdir = self.dir.join(QUARANTINE_DIR);
        fs::create_dir_all(&qdir)?;
        let name = base64url::encode(id);
        let mut target = qdir.join(&name);
        let mut n = 1;
        while target.symlink_metadata().is_ok() {
            target = qdir.join(format!("{name}.{n}"));
            n += 1;
        }
        fs::rename(self.location(id), &target)?;
        File::open(&self.dir)?.sync_all()?;
        Ok(target.display().to_string())
    }

    fn location(&self, id: &[u8]) -> PathBuf {
        self.dir.join(base64url::encode(id))
    }
}
