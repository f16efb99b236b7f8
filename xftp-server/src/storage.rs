//! Where chunk bytes live: a trait, so that scale-out backends (object stores) can replace the
//! embedded default, a directory of files named by the base64url sender ID.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use xftp_proto::base64url;

/// Chunk storage. Methods block: the relay calls them from blocking tasks.
pub trait ChunkStorage: Send + Sync + 'static {
    /// Starts writing the chunk `id` (replacing a half-written one).
    fn create(&self, id: &[u8]) -> io::Result<Box<dyn ChunkSink>>;
    /// Opens the chunk `id` for reading.
    fn open(&self, id: &[u8]) -> io::Result<Box<dyn Read + Send>>;
    /// Removes the chunk `id` (no error if it is already gone).
    fn delete(&self, id: &[u8]) -> io::Result<()>;
    /// IDs of every stored chunk, finished or not (to remove orphans at start).
    fn list(&self) -> io::Result<Vec<Vec<u8>>>;
    /// The location recorded in the store log.
    fn location(&self, id: &[u8]) -> PathBuf;
}

/// A chunk being written. Dropping it without `commit` leaves a partial chunk that the
/// relay deletes.
pub trait ChunkSink: Write + Send {
    /// Makes the written bytes durable.
    fn commit(self: Box<Self>) -> io::Result<()>;
}

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
}

/// Writes a chunk with `O_DIRECT` where the file system allows it (chunk sizes are multiples
/// of 64 KiB, so only the staging is needed): no copy into fresh page cache.
struct FileSink {
    out: chunker::output::Output,
    dir: PathBuf,
}

impl Write for FileSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.write(buf)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl ChunkSink for FileSink {
    fn commit(self: Box<Self>) -> io::Result<()> {
        let file = self.out.finish()?;
        file.sync_all()?;
        // The directory entry must be durable too.
        File::open(&self.dir)?.sync_all()
    }
}

impl ChunkStorage for DirStorage {
    fn create(&self, id: &[u8]) -> io::Result<Box<dyn ChunkSink>> {
        let path = self.location(id);
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)?;
        Ok(Box::new(FileSink {
            // Small staging: a relay has many uploads at once.
            out: chunker::output::Output::with_stage(file, &path, 0, 256 * 1024),
            dir: self.dir.clone(),
        }))
    }

    fn open(&self, id: &[u8]) -> io::Result<Box<dyn Read + Send>> {
        Ok(Box::new(File::open(self.location(id))?))
    }

    fn delete(&self, id: &[u8]) -> io::Result<()> {
        match fs::remove_file(self.location(id)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    fn list(&self) -> io::Result<Vec<Vec<u8>>> {
        let mut ids = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let name = entry?.file_name();
            if let Some(id) = name.to_str().and_then(base64url::decode) {
                ids.push(id);
            }
        }
        Ok(ids)
    }

    fn location(&self, id: &[u8]) -> PathBuf {
        self.dir.join(base64url::encode(id))
    }
}
