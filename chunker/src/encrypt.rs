//! Encryption: a file on disk to encrypted chunks, in one pass and with bounded memory, plus
//! regeneration of any single chunk from the source alone.
//!
//! ```text
//!            pool of `window` buffers (<= 4 MiB each)
//!                 │
//!   [read + XSalsa20 + Poly1305] ──► [SHA-256 of chunk] ──► [SHA-512 of file] ──► consumer
//!          thread 1                      thread 2               thread 3          (upload)
//! ```
//!
//! Each stage owns a buffer while it works on it and passes it on; the consumer gives it back
//! by dropping the [`EncryptedChunk`]. The whole-file SHA-512 is the slowest stage and the
//! only one that cannot be split, so the pipeline runs at its speed.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use crossbeam_channel::{bounded, Receiver};

use crate::error::ChunkerError;
use crate::header::FileHeader;
use crate::name::sanitize_component;
use crate::plan::{ChunkMode, FilePlan, DEFAULT_MAX_FILE_SIZE};
use crate::pool::{BufferPool, PooledBuf};
use simplex_crypto::digest::{sha256, Sha512, SHA256_LEN, SHA512_LEN};
use simplex_crypto::secretbox::{Keystream, SbKey, SbNonce, SecretBoxStream, AUTH_TAG_LEN};

/// Default number of chunk buffers in flight (8 × 4 MiB = 32 MiB at most).
pub const DEFAULT_WINDOW: usize = 4;

/// How a file is encrypted.
#[derive(Debug, Clone)]
pub struct EncryptOptions {
    /// Refuse files larger than this (capped at the 5 GiB hard limit).
    pub max_file_size: u64,
    /// Chunk buffers in flight; the memory bound of the pipeline is `window × chunk size`.
    pub window: usize,
    /// Two-size split or a single chunk.
    pub mode: ChunkMode,
    /// Name to put in the header instead of the source file's own name.
    pub file_name: Option<String>,
    /// Extra text for the header (the reference clients send none).
    pub file_extra: Option<String>,
}

impl Default for EncryptOptions {
    fn default() -> Self {
        Self {
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            window: DEFAULT_WINDOW,
            mode: ChunkMode::Split,
            file_name: None,
            file_extra: None,
        }
    }
}

/// One encrypted chunk, ready to upload. Holding more than `window` of them stalls the
/// encryptor until one is dropped; [`EncryptedChunk::into_vec`] detaches the bytes instead.
#[derive(Debug)]
pub struct EncryptedChunk {
    /// 0-based chunk index.
    pub index: usize,
    /// Offset of the chunk in the encrypted file.
    pub offset: u64,
    /// SHA-256 of the chunk bytes (sent in FNEW, checked by relay and recipient).
    pub sha256: [u8; SHA256_LEN],
    data: PooledBuf,
}

impl EncryptedChunk {
    /// The chunk bytes.
    pub fn data(&self) -> &[u8] {
        self.data.as_slice()
    }

    /// Takes the bytes out of the pipeline's buffer pool.
    pub fn into_vec(self) -> Vec<u8> {
        self.data.into_vec()
    }
}

/// The chunk bytes; a consumer can hold the chunk itself (e.g. `Bytes::from_owner`) so that its
/// buffer goes back to the pool when the last reference is dropped.
impl AsRef<[u8]> for EncryptedChunk {
    fn as_ref(&self) -> &[u8] {
        self.data.as_slice()
    }
}

/// What the sender keeps after encrypting: enough to write the description and to regenerate
/// any chunk from the source (see [`ChunkSource`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedFile {
    /// Sizes and layout.
    pub plan: FilePlan,
    /// SHA-512 of the whole encrypted file.
    pub digest: [u8; SHA512_LEN],
    /// The Poly1305 tag at the end of the last chunk.
    pub tag: [u8; AUTH_TAG_LEN],
    /// SHA-256 of every chunk, in order.
    pub chunk_digests: Vec<[u8; SHA256_LEN]>,
}

/// The plaintext stream of a source file (`L ‖ header ‖ file ‖ padding`), readable at any
/// position.
#[derive(Debug)]
struct PlainSource {
    file: File,
    path: PathBuf,
    plan: FilePlan,
}

impl PlainSource {
    fn open(path: &Path, opts: &EncryptOptions) -> Result<Self, ChunkerError> {
        let file = File::open(path).map_err(|e| ChunkerError::io("cannot open", path, e))?;
        let meta = file
            .metadata()
            .map_err(|e| ChunkerError::io("cannot stat", path, e))?;
        if !meta.is_file() {
            return Err(ChunkerError::io(
                "not a regular file:",
                path,
                std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"),
            ));
        }
        let name = match &opts.file_name {
            Some(n) => sanitize_component(n),
            None => sanitize_component(
                &path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            ),
        };
        let header = FileHeader {
            name,
            extra: opts.file_extra.clone(),
        };
        let plan = FilePlan::new(&header, meta.len(), opts.max_file_size, opts.mode)?;
        Ok(Self {
            file,
            path: path.to_path_buf(),
            plan,
        })
    }

    /// Fills `out` with plaintext-stream bytes `[pos, pos + out.len())`.
    fn fill(&self, pos: u64, out: &mut [u8]) -> Result<(), ChunkerError> {
        let plan = &self.plan;
        let mut done = plan.fill_prefix(pos, out);
        let prefix_len = plan.prefix_len();
        let content_end = prefix_len + plan.file_size();
        let at = pos + done as u64;
        if done < out.len() && at < content_end {
            let n = ((content_end - at) as usize).min(out.len() - done);
            self.file
                .read_exact_at(&mut out[done..done + n], at - prefix_len)
                .map_err(|e| match e.kind() {
                    std::io::ErrorKind::UnexpectedEof => {
                        ChunkerError::SourceChanged("the file became shorter")
                    }
                    _ => ChunkerError::io("cannot read", &self.path, e),
                })?;
            done += n;
        }
        out[done..].fill(b'#');
        Ok(())
    }

    /// Checks that the file still has the size it was planned with.
    fn check_unchanged(&self) -> Result<(), ChunkerError> {
        let len = self
            .file
            .metadata()
            .map_err(|e| ChunkerError::io("cannot stat", &self.path, e))?
            .len();
        if len == self.plan.file_size() {
            Ok(())
        } else {
            Err(ChunkerError::SourceChanged("the file size changed"))
        }
    }
}

/// Seekable encryption: produces the ciphertext of any chunk from the source file and the
/// chunk index alone, so a sender never keeps an encrypted copy. Only the last chunk needs the
/// tag from the first pass.
#[derive(Debug)]
pub struct ChunkSource {
    source: PlainSource,
    keystream: Keystream,
}

impl ChunkSource {
    /// Opens `path` for chunk regeneration with the same options it was encrypted with.
    pub fn open(
        path: &Path,
        key: &SbKey,
        nonce: &SbNonce,
        opts: &EncryptOptions,
    ) -> Result<Self, ChunkerError> {
        Ok(Self {
            source: PlainSource::open(path, opts)?,
            keystream: Keystream::new(key, nonce),
        })
    }

    /// The layout of the file.
    pub fn plan(&self) -> &FilePlan {
        &self.source.plan
    }

    /// Writes chunk `index` into `out` (resized to the chunk size). `tag` is required for the
    /// chunk that holds the tag (the last one) and ignored otherwise.
    pub fn read_chunk(
        &self,
        index: usize,
        tag: Option<&[u8; AUTH_TAG_LEN]>,
        out: &mut Vec<u8>,
    ) -> Result<(), ChunkerError> {
        let plan = &self.source.plan;
        let offset = plan.chunk_offset(index).ok_or(ChunkerError::NoSuchChunk {
            index,
            count: plan.chunk_count(),
        })?;
        let size = plan.chunk_sizes()[index] as usize;
        out.resize(size, 0);
        let stream_part = (plan.stream_len().saturating_sub(offset) as usize).min(size);
        let (body, tail) = out.split_at_mut(stream_part);
        self.source.fill(offset, body)?;
        self.keystream.apply_at(offset, body);
        if !tail.is_empty() {
            let tag = tag.ok_or(ChunkerError::SourceChanged(
                "the last chunk needs the tag of the first pass",
            ))?;
            let from = (offset + stream_part as u64 - plan.stream_len()) as usize;
            tail.copy_from_slice(&tag[from..from + tail.len()]);
        }
        self.source.check_unchanged()
    }
}

/// A running encryption pipeline. Iterate it for chunks (in order), then call
/// [`FileEncryptor::finish`] for the digest and tag. Dropping it stops the worker threads at
/// their next hand-off.
#[derive(Debug)]
pub struct FileEncryptor {
    plan: FilePlan,
    chunks: Receiver<EncryptedChunk>,
    received: usize,
    chunk_digests: Vec<[u8; SHA256_LEN]>,
    reader: Option<JoinHandle<Result<[u8; AUTH_TAG_LEN], ChunkerError>>>,
    hasher256: Option<JoinHandle<()>>,
    hasher512: Option<JoinHandle<[u8; SHA512_LEN]>>,
}

/// Starts encrypting the file at `path` with `key` and `nonce`.
pub fn encrypt_file(
    path: &Path,
    key: &SbKey,
    nonce: &SbNonce,
    opts: &EncryptOptions,
) -> Result<FileEncryptor, ChunkerError> {
    let source = PlainSource::open(path, opts)?;
    let plan = source.plan.clone();
    let window = opts.window.max(1);
    let mut pool = BufferPool::new(window, plan.max_chunk_size() as usize);
    let (to_256, from_reader) = bounded::<EncryptedChunk>(window);
    let (to_512, from_256) = bounded::<EncryptedChunk>(window);
    let (to_consumer, chunks) = bounded::<EncryptedChunk>(window);
    let stream = SecretBoxStream::new(key, nonce);

    let reader = std::thread::Builder::new()
        .name("xftp-encrypt".into())
        .spawn(move || {
            let plan = &source.plan;
            let mut stream = Some(stream);
            let mut tag = None;
            for (index, &size) in plan.chunk_sizes().iter().enumerate() {
                let offset = plan.chunk_offset(index).unwrap_or(0);
                let mut data = pool.get();
                let buf = data.set_len(size as usize);
                let stream_part = (plan.stream_len() - offset).min(u64::from(size)) as usize;
                let (body, tail) = buf.split_at_mut(stream_part);
                source.fill(offset, body)?;
                let running = stream
                    .as_mut()
                    .ok_or(ChunkerError::BadLayout("data after the tag"))?;
                running.encrypt_in_place(body);
                if !tail.is_empty() {
                    // Only the last chunk has a tail, and it is exactly the tag: every chunk
                    // is at least 64 KiB, so the tag never straddles two chunks.
                    if tail.len() != AUTH_TAG_LEN {
                        return Err(ChunkerError::BadLayout("the tag straddles two chunks"));
                    }
                    source.check_unchanged()?;
                    let t = stream
                        .take()
                        .ok_or(ChunkerError::BadLayout("two tags"))?
                        .tag();
                    tail.copy_from_slice(&t);
                    tag = Some(t);
                }
                let chunk = EncryptedChunk {
                    index,
                    offset,
                    sha256: [0; SHA256_LEN],
                    data,
                };
                if to_256.send(chunk).is_err() {
                    return Err(ChunkerError::Cancelled);
                }
            }
            tag.ok_or(ChunkerError::BadLayout("plan without a tag chunk"))
        })
        .map_err(|e| ChunkerError::io("cannot start thread for", path, e))?;

    let hasher256 = std::thread::Builder::new()
        .name("xftp-sha256".into())
        .spawn(move || {
            for mut chunk in from_reader {
                chunk.sha256 = sha256(chunk.data());
                if to_512.send(chunk).is_err() {
                    return;
                }
            }
        })
        .map_err(|e| ChunkerError::io("cannot start thread for", path, e))?;

    let hasher512 = std::thread::Builder::new()
        .name("xftp-sha512".into())
        .spawn(move || {
            let mut h = Sha512::new();
            let mut consumer_gone = false;
            for chunk in from_256 {
                h.update(chunk.data());
                if !consumer_gone && to_consumer.send(chunk).is_err() {
                    consumer_gone = true;
                }
            }
            h.finish()
        })
        .map_err(|e| ChunkerError::io("cannot start thread for", path, e))?;

    Ok(FileEncryptor {
        chunk_digests: Vec::with_capacity(plan.chunk_count()),
        plan,
        chunks,
        received: 0,
        reader: Some(reader),
        hasher256: Some(hasher256),
        hasher512: Some(hasher512),
    })
}

impl FileEncryptor {
    /// The layout of the file being encrypted.
    pub fn plan(&self) -> &FilePlan {
        &self.plan
    }

    /// The next chunk in order; `None` after the last one. An error ends the iteration.
    pub fn next_chunk(&mut self) -> Option<Result<EncryptedChunk, ChunkerError>> {
        if self.received == self.plan.chunk_count() {
            return None;
        }
        match self.chunks.recv() {
            Ok(chunk) => {
                self.received += 1;
                self.chunk_digests.push(chunk.sha256);
                Some(Ok(chunk))
            }
            // The pipeline ended early: the reader stopped with an error.
            Err(_) => {
                self.received = self.plan.chunk_count();
                Some(Err(self
                    .join_reader()
                    .err()
                    .unwrap_or(ChunkerError::Worker("encryption pipeline"))))
            }
        }
    }

    /// Drains any chunks not yet taken (dropping them) and returns the digest and tag. Chunks
    /// the caller still holds occupy the window: with `window` of them held, this waits for
    /// them forever, so drop them or detach them with [`EncryptedChunk::into_vec`] first.
    pub fn finish(mut self) -> Result<EncryptedFile, ChunkerError> {
        while let Some(chunk) = self.next_chunk() {
            chunk?;
        }
        let tag = self.join_reader()?;
        if let Some(h) = self.hasher256.take() {
            h.join().map_err(|_| ChunkerError::Worker("sha256"))?;
        }
        let digest = self
            .hasher512
            .take()
            .ok_or(ChunkerError::Worker("sha512"))?
            .join()
            .map_err(|_| ChunkerError::Worker("sha512"))?;
        Ok(EncryptedFile {
            plan: self.plan.clone(),
            digest,
            tag,
            chunk_digests: std::mem::take(&mut self.chunk_digests),
        })
    }

    fn join_reader(&mut self) -> Result<[u8; AUTH_TAG_LEN], ChunkerError> {
        self.reader
            .take()
            .ok_or(ChunkerError::Worker("encrypt"))?
            .join()
            .map_err(|_| ChunkerError::Worker("encrypt"))?
    }
}

impl Iterator for FileEncryptor {
    type Item = Result<EncryptedChunk, ChunkerError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_chunk()
    }
}

/// Encrypts a whole file and collects every chunk in memory; for small files and tests.
pub fn encrypt_file_to_vec(
    path: &Path,
    key: &SbKey,
    nonce: &SbNonce,
    opts: &EncryptOptions,
) -> Result<(EncryptedFile, Vec<u8>), ChunkerError> {
    let mut enc = encrypt_file(path, key, nonce, opts)?;
    let mut out = Vec::with_capacity(usize::try_from(enc.plan().enc_size()).unwrap_or(0));
    for chunk in enc.by_ref() {
        out.extend_from_slice(chunk?.data());
    }
    Ok((enc.finish()?, out))
}
