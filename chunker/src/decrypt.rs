//! Decryption: encrypted chunks, in order, to a verified file under a safe, fresh name.
//!
//! ```text
//! push(chunk) ──► [SHA-256 of chunk] ──► [SHA-512 of file] ──► [Poly1305 + XSalsa20 + write] ──► .part
//!                 thread 1 (only with        thread 2                   thread 3
//!                 chunk digests)
//! finish(): digest == description? tag verifies? ──► fsync ──► link to `name` / `name_N.ext`
//! ```
//!
//! Nothing appears under the final name unless the SHA-512 of the encrypted file and the
//! Poly1305 tag both verify; on any failure the temporary file is removed.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use crossbeam_channel::{bounded, Receiver, Sender};
use subtle::ConstantTimeEq;

use crate::error::ChunkerError;
use crate::header::{FileHeader, MAX_HEADER_LEN};
use crate::name::{persist_no_clobber, sanitize_component, sanitize_file_name};
use crate::plan::{DEFAULT_MAX_FILE_SIZE, HARD_MAX_FILE_SIZE, LENGTH_PREFIX_LEN, MAX_CHUNK_SIZE};
use simplex_crypto::digest::{sha256, Sha512, SHA256_LEN, SHA512_LEN};
use simplex_crypto::secretbox::{SbKey, SbNonce, SecretBoxStream, AUTH_TAG_LEN};

/// Chunks queued between the caller and each stage.
const QUEUE: usize = 1;

/// What the decryptor needs to know about the file, all from the description.
#[derive(Debug, Clone)]
pub struct DecryptParams {
    /// File key.
    pub key: SbKey,
    /// File nonce.
    pub nonce: SbNonce,
    /// Size of every chunk, in order (their sum is the encrypted size).
    pub chunk_sizes: Vec<u32>,
    /// SHA-512 of the encrypted file.
    pub digest: [u8; SHA512_LEN],
    /// SHA-256 of every chunk, when they should be checked here too.
    pub chunk_digests: Option<Vec<[u8; SHA256_LEN]>>,
}

/// Where and how the plaintext is written.
#[derive(Debug, Clone)]
pub struct DecryptOptions {
    /// Directory of the output (and of the temporary file, so the final rename is atomic).
    pub dir: PathBuf,
    /// Use this name instead of the one in the file header (still sanitized).
    pub file_name: Option<String>,
    /// Refuse files whose content is larger (capped at the 5 GiB hard limit).
    pub max_file_size: u64,
    /// Makes the decryption resumable: the partial output is `dir/<name>` (with a
    /// `<name>.state` beside it) and is kept when the decryptor is dropped or fails for any
    /// reason but an integrity failure; a new decryptor with the same name continues after the
    /// chunks already on disk ([`Decryptor::resumed_chunks`]).
    pub resume_name: Option<String>,
    /// Where every pushed buffer goes once its chunk is written, so a caller can receive the
    /// next chunk into it (chunks replayed from a partial output are not handed over). Without
    /// one, [`Decryptor::recycled_buffer`] offers a few of them.
    pub recycle: Option<Recycler>,
}

/// Takes back the chunk buffers the decryptor is done with (called on its writer thread).
#[derive(Clone)]
pub struct Recycler(std::sync::Arc<dyn Fn(Vec<u8>) + Send + Sync>);

impl Recycler {
    /// Calls `f` with every buffer the decryptor is done with.
    pub fn new(f: impl Fn(Vec<u8>) + Send + Sync + 'static) -> Self {
        Self(std::sync::Arc::new(f))
    }
}

impl std::fmt::Debug for Recycler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Recycler")
    }
}

impl DecryptOptions {
    /// Output into `dir` under the sender's (sanitized) name, 1 GiB limit.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            file_name: None,
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            resume_name: None,
            recycle: None,
        }
    }
}

/// The verified result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecryptedFile {
    /// Where the file now is (never a path that existed before).
    pub path: PathBuf,
    /// The header as the sender wrote it (name not sanitized).
    pub header: FileHeader,
    /// Bytes of content.
    pub size: u64,
}

/// A streaming decryptor: [`Decryptor::push`] every chunk in order, then
/// [`Decryptor::finish`]. Dropping it before `finish` succeeds removes the partial output.
#[derive(Debug)]
pub struct Decryptor {
    chunk_sizes: Vec<u32>,
    pushed: usize,
    expected_digest: [u8; SHA512_LEN],
    opts: DecryptOptions,
    to_checker: Option<Sender<Vec<u8>>>,
    checker: Option<JoinHandle<Result<(), ChunkerError>>>,
    /// `None` from the hasher: it stopped because the writer did.
    hasher: Option<JoinHandle<Result<Option<[u8; SHA512_LEN]>, ChunkerError>>>,
    writer: Option<JoinHandle<Result<(FileHeader, u64), ChunkerError>>>,
    recycled: Receiver<Vec<u8>>,
    temp: TempFile,
    /// Set once a `push` failed: the pipeline is stopped and the output will be removed.
    failed: bool,
    /// Chunks whose plaintext was already on disk from an earlier, interrupted decryption.
    resumed: usize,
}

impl Decryptor {
    /// Checks the layout and creates the temporary output file in `opts.dir`.
    pub fn new(params: DecryptParams, opts: DecryptOptions) -> Result<Self, ChunkerError> {
        let enc_size = check_layout(&params)?;
        let max = opts.max_file_size.min(HARD_MAX_FILE_SIZE);
        // Padding is less than one chunk, so a larger file cannot hold at most `max` bytes;
        // the exact content size is checked against `max` once the length prefix is read.
        if enc_size > max + u64::from(MAX_CHUNK_SIZE) {
            return Err(ChunkerError::FileTooLarge {
                size: enc_size,
                max,
            });
        }
        let (temp, file, on_disk) = match &opts.resume_name {
            None => {
                let (t, f) = TempFile::create(&opts.dir)?;
                (t, f, None)
            }
            Some(name) => TempFile::open_resumable(&opts.dir, name)?,
        };
        let resume = on_disk
            .and_then(|(prefix, len)| plan_resume(&params.chunk_sizes, enc_size, prefix, len));
        let mut file = file;
        // Replay reads the partial output through this handle, never by its name again.
        let replay_from = match &resume {
            Some(_) => Some(
                file.try_clone()
                    .map_err(|e| ChunkerError::io("cannot open", &temp.path, e))?,
            ),
            None => None,
        };
        let skip = resume.as_ref().map_or(0, |r| r.keep);
        let replayed = resume.as_ref().map_or(0, |r| r.chunks);
        let recycler = opts.recycle.clone();
        {
            use std::io::{Seek, SeekFrom};
            file.set_len(skip)
                .and_then(|()| file.seek(SeekFrom::Start(skip)).map(|_| ()))
                .map_err(|e| ChunkerError::io("cannot prepare", &temp.path, e))?;
        }
        let (to_hasher, hasher_in) = bounded::<Vec<u8>>(QUEUE);
        let (to_writer, writer_in) = bounded::<Vec<u8>>(QUEUE);
        let (recycle, recycled) = bounded::<Vec<u8>>(QUEUE);

        // SHA-256 per chunk and SHA-512 over the file run on their own threads: together on
        // one thread they would be slower than SHA-512 alone, the pipeline's floor. Without
        // chunk digests (a downloader checks them on arrival) there is no SHA-256 stage, and
        // one chunk buffer less in flight.
        let (to_checker, checker) = match params.chunk_digests.clone() {
            None => (to_hasher, None),
            Some(digests) => {
                let (to_checker, checker_in) = bounded::<Vec<u8>>(QUEUE);
                let checker = std::thread::Builder::new()
                    .name("xftp-check".into())
                    .spawn(move || {
                        for (index, chunk) in checker_in.into_iter().enumerate() {
                            if let Some(expected) = digests.get(index) {
                                if !bool::from(sha256(&chunk).ct_eq(expected)) {
                                    return Err(ChunkerError::ChunkDigest { index });
                                }
                            }
                            if to_hasher.send(chunk).is_err() {
                                break;
                            }
                        }
                        Ok(())
                    })
                    .map_err(|e| ChunkerError::io("cannot start thread for", &opts.dir, e))?;
                (to_checker, Some(checker))
            }
        };

        let hasher = std::thread::Builder::new()
            .name("xftp-verify".into())
            .spawn(move || {
                let mut h = Sha512::new();
                for chunk in hasher_in {
                    h.update(&chunk);
                    if to_writer.send(chunk).is_err() {
                        // The writer stopped; its own error is the one to report.
                        return Ok(None);
                    }
                }
                Ok(Some(h.finish()))
            })
            .map_err(|e| ChunkerError::io("cannot start thread for", &opts.dir, e))?;

        let mut writer = PlainWriter {
            stream: SecretBoxStream::new(&params.key, &params.nonce),
            stream_len: enc_size - AUTH_TAG_LEN as u64,
            tag: Vec::with_capacity(AUTH_TAG_LEN),
            state: PlainState::Prefix(Vec::with_capacity(
                LENGTH_PREFIX_LEN as usize + MAX_HEADER_LEN,
            )),
            header: None,
            written: 0,
            max_content: max,
            syncer: Syncer::start(&file, &temp.path)?,
            out: crate::output::Output::new(file, &temp.path, skip),
            path: temp.path.clone(),
            skip,
            state_path: temp.state_path(),
        };
        let writer = std::thread::Builder::new()
            .name("xftp-decrypt".into())
            .spawn(move || {
                // A payload error may be the effect of a corrupted chunk, which only the
                // file digest can tell: keep draining so the digest is computed over
                // everything. Local I/O errors stop the pipeline at once.
                let mut data_error = None;
                for (index, mut chunk) in writer_in.into_iter().enumerate() {
                    if data_error.is_none() {
                        match writer.chunk(&mut chunk) {
                            Ok(()) => {}
                            Err(e @ ChunkerError::Io { .. }) => return Err(e),
                            Err(e) => data_error = Some(e),
                        }
                    }
                    match &recycler {
                        // Replayed chunks were allocated here, not by the caller: handing
                        // them over would add buffers to the caller's budget.
                        Some(r) if index >= replayed => (r.0)(chunk),
                        Some(_) => {}
                        None => {
                            let _ = recycle.try_send(chunk);
                        }
                    }
                }
                match data_error {
                    Some(e) => Err(e),
                    None => writer.finish(),
                }
            })
            .map_err(|e| ChunkerError::io("cannot start thread for", &opts.dir, e))?;

        let mut dec = Self {
            chunk_sizes: params.chunk_sizes.clone(),
            pushed: 0,
            expected_digest: params.digest,
            opts,
            to_checker: Some(to_checker),
            checker,
            hasher: Some(hasher),
            writer: Some(writer),
            recycled,
            temp,
            failed: false,
            resumed: 0,
        };
        if let (Some(r), Some(part)) = (resume, replay_from) {
            dec.replay(&params, &r, &part)?;
        }
        Ok(dec)
    }

    /// Feeds the chunks whose plaintext is already on disk back through the pipeline: their
    /// ciphertext is regenerated from the plaintext (the keystream is known), so the digest and
    /// the tag cover them, and the writer skips what is already written.
    fn replay(
        &mut self,
        params: &DecryptParams,
        r: &Resume,
        part: &File,
    ) -> Result<(), ChunkerError> {
        use std::os::unix::fs::FileExt;
        let keystream = simplex_crypto::Keystream::new(&params.key, &params.nonce);
        let prefix_len = r.prefix.len() as u64;
        let mut offset = 0u64;
        for &size in &params.chunk_sizes[..r.chunks] {
            let mut buf = vec![0u8; size as usize];
            let mut at = 0usize;
            // Stream bytes: prefix, then content from the partial file, then '#' padding.
            while at < buf.len() {
                let pos = offset + at as u64;
                if pos < prefix_len {
                    let n = ((prefix_len - pos) as usize).min(buf.len() - at);
                    buf[at..at + n].copy_from_slice(&r.prefix[pos as usize..pos as usize + n]);
                    at += n;
                } else if pos - prefix_len < r.content_len {
                    let n = ((r.content_len - (pos - prefix_len)) as usize).min(buf.len() - at);
                    part.read_exact_at(&mut buf[at..at + n], pos - prefix_len)
                        .map_err(|e| ChunkerError::io("cannot read", &self.temp.path, e))?;
                    at += n;
                } else {
                    buf[at..].fill(b'#');
                    at = buf.len();
                }
            }
            keystream.apply_at(offset, &mut buf);
            self.push(buf)?;
            offset += u64::from(size);
        }
        self.resumed = r.chunks;
        Ok(())
    }

    /// Chunks already decrypted by an earlier, interrupted run (resumable mode): push only the
    /// chunks after them.
    pub fn resumed_chunks(&self) -> usize {
        self.resumed
    }

    /// Number of chunks pushed so far.
    pub fn chunks_pushed(&self) -> usize {
        self.pushed
    }

    /// A buffer the decryptor no longer needs, to receive the next chunk into (never one when
    /// [`DecryptOptions::recycle`] is set).
    pub fn recycled_buffer(&self) -> Option<Vec<u8>> {
        self.recycled.try_recv().ok()
    }

    /// Adds the next chunk (in order). Fails at once on a wrong size; errors of the
    /// background stages surface on a later `push` or in `finish`.
    pub fn push(&mut self, chunk: Vec<u8>) -> Result<(), ChunkerError> {
        if self.failed {
            return Err(ChunkerError::AlreadyFailed);
        }
        let index = self.pushed;
        let Some(&expected) = self.chunk_sizes.get(index) else {
            return Err(self.fail(ChunkerError::TooManyChunks {
                count: self.chunk_sizes.len(),
            }));
        };
        if chunk.len() as u64 != u64::from(expected) {
            return Err(self.fail(ChunkerError::ChunkSize {
                index,
                expected: u64::from(expected),
                actual: chunk.len() as u64,
            }));
        }
        let sent = self
            .to_checker
            .as_ref()
            .is_some_and(|tx| tx.send(chunk).is_ok());
        if !sent {
            let e = self.stop().err().unwrap_or(ChunkerError::Worker("decrypt"));
            return Err(self.fail(e));
        }
        self.pushed += 1;
        Ok(())
    }

    /// Verifies digest and tag and moves the file to its final name in `opts.dir`.
    pub fn finish(mut self) -> Result<DecryptedFile, ChunkerError> {
        if self.failed {
            return Err(ChunkerError::AlreadyFailed);
        }
        if self.pushed != self.chunk_sizes.len() {
            return Err(ChunkerError::MissingChunks {
                received: self.pushed,
                count: self.chunk_sizes.len(),
            });
        }
        let (digest, header, size) = match self.stop() {
            Ok(v) => v,
            Err(e) => {
                if is_integrity(&e) {
                    self.temp.discard();
                }
                return Err(e);
            }
        };
        if !bool::from(digest.ct_eq(&self.expected_digest)) {
            self.temp.discard();
            return Err(ChunkerError::DigestMismatch);
        }
        // A name chosen here is only made a safe component; the sender's is made visible too.
        let name = match self.opts.file_name.as_deref() {
            Some(n) => sanitize_component(n),
            None => sanitize_file_name(&header.name),
        };
        let path = persist_no_clobber(&self.temp.path, &self.opts.dir, &name).map_err(|e| {
            ChunkerError::io("cannot move the received file into", &self.opts.dir, e)
        })?;
        self.temp.persisted = true;
        self.temp.remove_state();
        Ok(DecryptedFile { path, header, size })
    }

    /// Closes the input and collects both stages. The digest error (a corrupted or foreign
    /// chunk) outranks the writer's, which is usually its consequence.
    fn stop(&mut self) -> Result<([u8; SHA512_LEN], FileHeader, u64), ChunkerError> {
        self.to_checker = None;
        let checked = match self.checker.take() {
            Some(c) => join(Some(c), "check"),
            None => Ok(()),
        };
        let hashed = join(self.hasher.take(), "verify");
        let written = join(self.writer.take(), "decrypt");
        checked?;
        match (hashed?, written) {
            (Some(digest), Ok((header, size))) => Ok((digest, header, size)),
            (Some(digest), Err(_)) if !bool::from(digest.ct_eq(&self.expected_digest)) => {
                Err(ChunkerError::DigestMismatch)
            }
            (_, Err(e)) => Err(e),
            (None, Ok(_)) => Err(ChunkerError::Worker("verify")),
        }
    }

    fn fail(&mut self, e: ChunkerError) -> ChunkerError {
        self.to_checker = None;
        self.failed = true;
        if is_integrity(&e) {
            self.temp.discard();
        }
        e
    }
}

/// Errors that mean the data (not the network or the disk) is wrong: a partial output is not
/// worth keeping after them.
fn is_integrity(e: &ChunkerError) -> bool {
    matches!(
        e,
        ChunkerError::DigestMismatch
            | ChunkerError::AuthTag
            | ChunkerError::BadPayload(_)
            | ChunkerError::ChunkDigest { .. }
            | ChunkerError::ChunkSize { .. }
            | ChunkerError::TooManyChunks { .. }
            | ChunkerError::FileTooLarge { .. }
    )
}

/// What can be reused from an interrupted decryption.
#[derive(Debug)]
struct Resume {
    /// `L ‖ header`, from the state file.
    prefix: Vec<u8>,
    /// Whole chunks covered by the partial output.
    chunks: usize,
    /// Content bytes of those chunks (the partial output is cut to this).
    keep: u64,
    /// Content bytes of the whole file.
    content_len: u64,
}

/// Works out how many leading chunks the partial output covers (never the last one, which
/// holds the tag); `None` if the state is unusable, which restarts from scratch.
fn plan_resume(sizes: &[u32], enc_size: u64, prefix: Vec<u8>, on_disk: u64) -> Option<Resume> {
    let l = u64::from_be_bytes(prefix.get(..8)?.try_into().ok()?);
    let (_, used) = FileHeader::decode_prefix(prefix.get(8..)?).ok()??;
    if 8 + used != prefix.len() || l < used as u64 || l > enc_size - AUTH_TAG_LEN as u64 - 8 {
        return None;
    }
    let p = prefix.len() as u64;
    let content_len = l - used as u64;
    let (mut chunks, mut keep, mut end) = (0, 0, 0u64);
    for &size in &sizes[..sizes.len().saturating_sub(1)] {
        end += u64::from(size);
        let content_end = end.min(p + content_len).saturating_sub(p);
        if content_end > on_disk {
            break;
        }
        chunks += 1;
        keep = content_end;
    }
    (chunks > 0).then_some(Resume {
        prefix,
        chunks,
        keep,
        content_len,
    })
}

impl Drop for Decryptor {
    fn drop(&mut self) {
        // Let the stages finish what they hold before the partial output is removed or left
        // for a resume; they end as soon as the input is closed.
        if self.hasher.is_some() || self.writer.is_some() {
            let _ = self.stop();
        }
    }
}

fn join<T>(
    handle: Option<JoinHandle<Result<T, ChunkerError>>>,
    what: &'static str,
) -> Result<T, ChunkerError> {
    handle
        .ok_or(ChunkerError::AlreadyFailed)?
        .join()
        .map_err(|_| ChunkerError::Worker(what))?
}

/// Checks the chunk list from a description before anything is allocated; returns the
/// encrypted size.
fn check_layout(params: &DecryptParams) -> Result<u64, ChunkerError> {
    if params.chunk_sizes.is_empty() {
        return Err(ChunkerError::BadLayout("no chunks"));
    }
    if params.chunk_sizes.len() as u64 > HARD_MAX_FILE_SIZE / 65536 + 1 {
        return Err(ChunkerError::BadLayout("too many chunks"));
    }
    if let Some(d) = &params.chunk_digests {
        if d.len() != params.chunk_sizes.len() {
            return Err(ChunkerError::BadLayout("one digest per chunk is needed"));
        }
    }
    let mut total = 0u64;
    for &s in &params.chunk_sizes {
        if s == 0 || s > MAX_CHUNK_SIZE {
            return Err(ChunkerError::BadLayout("chunk size out of range"));
        }
        total += u64::from(s);
    }
    let last = params.chunk_sizes[params.chunk_sizes.len() - 1];
    if (last as usize) < AUTH_TAG_LEN || total < LENGTH_PREFIX_LEN + AUTH_TAG_LEN as u64 {
        return Err(ChunkerError::BadLayout("too small to hold a file"));
    }
    Ok(total)
}

/// Where the writer is in the plaintext stream.
#[derive(Debug)]
enum PlainState {
    /// Collecting the length prefix and header.
    Prefix(Vec<u8>),
    /// Writing content; this many bytes remain.
    Content(u64),
    /// Past the content: `#` padding, ignored.
    Padding,
}

/// The decrypting stage: MAC, decrypt in place, split off prefix and padding, write content.
struct PlainWriter {
    stream: SecretBoxStream,
    stream_len: u64,
    tag: Vec<u8>,
    state: PlainState,
    header: Option<FileHeader>,
    written: u64,
    max_content: u64,
    out: crate::output::Output,
    path: PathBuf,
    syncer: Syncer,
    /// Content bytes already on disk from an interrupted run: counted, not written again.
    skip: u64,
    /// Where the prefix is saved for a later resume (resumable mode only).
    state_path: Option<PathBuf>,
}

/// Bytes written between two background `fdatasync` requests.
const SYNC_EVERY: u64 = 32 << 20;

/// Flushes the output to disk in the background while decryption goes on, so that the final
/// `fsync` before the rename has little left to write (1 GiB at ~400 MB/s would otherwise
/// take seconds at the very end).
struct Syncer {
    requests: Option<Sender<()>>,
    handle: Option<JoinHandle<std::io::Result<()>>>,
    requested_at: u64,
}

impl Syncer {
    fn start(file: &File, path: &Path) -> Result<Self, ChunkerError> {
        let file = file
            .try_clone()
            .map_err(|e| ChunkerError::io("cannot open", path, e))?;
        // One pending request at most: a request while a sync runs covers everything before it.
        let (requests, pending) = bounded::<()>(1);
        let handle = std::thread::Builder::new()
            .name("xftp-sync".into())
            .spawn(move || {
                for () in pending {
                    file.sync_data()?;
                }
                Ok(())
            })
            .map_err(|e| ChunkerError::io("cannot start thread for", path, e))?;
        Ok(Self {
            requests: Some(requests),
            handle: Some(handle),
            requested_at: 0,
        })
    }

    fn wrote(&mut self, total: u64) {
        if total - self.requested_at >= SYNC_EVERY {
            if let Some(tx) = &self.requests {
                let _ = tx.try_send(());
            }
            self.requested_at = total;
        }
    }

    fn stop(&mut self, path: &Path) -> Result<(), ChunkerError> {
        self.requests = None;
        match self.handle.take().map(JoinHandle::join) {
            None | Some(Ok(Ok(()))) => Ok(()),
            Some(Ok(Err(e))) => Err(ChunkerError::io("cannot sync", path, e)),
            Some(Err(_)) => Err(ChunkerError::Worker("sync")),
        }
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        // Let a running sync finish on its own; nothing waits for it.
        self.requests = None;
    }
}

impl PlainWriter {
    fn chunk(&mut self, chunk: &mut [u8]) -> Result<(), ChunkerError> {
        let pos = self.stream.position();
        let body_len = (self.stream_len.saturating_sub(pos) as usize).min(chunk.len());
        let (body, tail) = chunk.split_at_mut(body_len);
        if !body.is_empty() {
            self.stream.authenticate(body);
            self.stream.keystream().apply_at(pos, body);
            self.plain(body)?;
        }
        self.tag.extend_from_slice(tail);
        // A chunk boundary: what it decrypted is in the file, ready for a resume.
        self.out
            .checkpoint()
            .map_err(|e| ChunkerError::io("cannot write", &self.path, e))
    }

    fn plain(&mut self, mut data: &[u8]) -> Result<(), ChunkerError> {
        while !data.is_empty() {
            match &mut self.state {
                PlainState::Prefix(prefix) => {
                    let cap = LENGTH_PREFIX_LEN as usize + MAX_HEADER_LEN;
                    let take = (cap - prefix.len()).min(data.len());
                    prefix.extend_from_slice(&data[..take]);
                    data = &data[take..];
                    let prefix = std::mem::take(prefix);
                    if let Some((header_end, content)) = self.parse_prefix(&prefix)? {
                        self.state = PlainState::Content(content);
                        // Bytes collected past the header belong to the content.
                        let extra = prefix[header_end..].to_vec();
                        self.plain(&extra)?;
                    } else {
                        self.state = PlainState::Prefix(prefix);
                    }
                }
                PlainState::Content(remaining) => {
                    let n = (*remaining).min(data.len() as u64) as usize;
                    let on_disk = (self.skip.saturating_sub(self.written) as usize).min(n);
                    self.out
                        .write(&data[on_disk..n])
                        .map_err(|e| ChunkerError::io("cannot write", &self.path, e))?;
                    *remaining -= n as u64;
                    self.written += n as u64;
                    self.syncer.wrote(self.written);
                    if *remaining == 0 {
                        self.state = PlainState::Padding;
                    }
                    data = &data[n..];
                }
                PlainState::Padding => break,
            }
        }
        Ok(())
    }

    /// Parses `L ‖ header` once enough bytes are there: returns where the header ends and how
    /// much content follows, or `None` to wait for more.
    fn parse_prefix(&mut self, prefix: &[u8]) -> Result<Option<(usize, u64)>, ChunkerError> {
        let Some(len_bytes) = prefix.get(..LENGTH_PREFIX_LEN as usize) else {
            return Ok(None);
        };
        let mut l = [0u8; 8];
        l.copy_from_slice(len_bytes);
        let payload_len = u64::from_be_bytes(l);
        if payload_len > self.stream_len - LENGTH_PREFIX_LEN {
            return Err(ChunkerError::BadPayload(
                "length prefix larger than the file",
            ));
        }
        let avail = (prefix.len() - LENGTH_PREFIX_LEN as usize).min(payload_len as usize);
        let header_bytes = &prefix[LENGTH_PREFIX_LEN as usize..LENGTH_PREFIX_LEN as usize + avail];
        match FileHeader::decode_prefix(header_bytes)? {
            Some((header, used)) => {
                let content = payload_len - used as u64;
                if content > self.max_content {
                    return Err(ChunkerError::FileTooLarge {
                        size: content,
                        max: self.max_content,
                    });
                }
                self.header = Some(header);
                let end = LENGTH_PREFIX_LEN as usize + used;
                if let Some(state) = &self.state_path {
                    // Best effort: without it a later run starts from scratch.
                    let hex: String = prefix[..end].iter().map(|b| format!("{b:02x}")).collect();
                    let _ = replace_file(state, &hex);
                }
                Ok(Some((end, content)))
            }
            None if avail == payload_len as usize || avail == MAX_HEADER_LEN => {
                Err(ChunkerError::BadPayload("file header is truncated"))
            }
            None => Ok(None),
        }
    }

    fn finish(self) -> Result<(FileHeader, u64), ChunkerError> {
        let Self {
            stream,
            stream_len,
            tag,
            state,
            header,
            written,
            out,
            path,
            mut syncer,
            ..
        } = self;
        syncer.stop(&path)?;
        if stream.position() != stream_len {
            return Err(ChunkerError::BadPayload("the encrypted stream ended early"));
        }
        if !stream.verify(&tag) {
            return Err(ChunkerError::AuthTag);
        }
        let header = match (header, state) {
            (Some(h), PlainState::Padding | PlainState::Content(0)) => h,
            _ => {
                return Err(ChunkerError::BadPayload(
                    "the content is shorter than its length",
                ))
            }
        };
        let file = out
            .finish()
            .map_err(|e| ChunkerError::io("cannot write", &path, e))?;
        file.sync_all()
            .map_err(|e| ChunkerError::io("cannot sync", &path, e))?;
        Ok((header, written))
    }
}

/// Reads a small text file without following a link at its name.
fn read_nofollow(path: &Path) -> Option<String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let f = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    if !f.metadata().ok()?.file_type().is_file() {
        return None;
    }
    let mut text = String::new();
    f.take(64 * 1024).read_to_string(&mut text).ok()?;
    Some(text)
}

/// Replaces `path` with `text` by writing a new private file and renaming it over the name, so
/// that nothing planted at the name (a link) is written through.
fn replace_file(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut rnd = [0u8; 8];
    simplex_crypto::random_bytes(&mut rnd);
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".{:016x}", u64::from_le_bytes(rnd)));
    let tmp = PathBuf::from(tmp);
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    let written = f.write_all(text.as_bytes()).and_then(|()| f.sync_data());
    match written.and_then(|()| std::fs::rename(&tmp, path)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

/// The `.part` file; removed on drop unless it was moved to its final name.
#[derive(Debug)]
struct TempFile {
    path: PathBuf,
    persisted: bool,
    /// Resumable mode: keep the partial output (and its state) unless discarded.
    keep: bool,
}

impl TempFile {
    fn create(dir: &Path) -> Result<(Self, File), ChunkerError> {
        for _ in 0..16 {
            let mut rnd = [0u8; 8];
            simplex_crypto::random_bytes(&mut rnd);
            let name = format!(".xftp-{:016x}.part", u64::from_le_bytes(rnd));
            let path = dir.join(name);
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => {
                    return Ok((
                        Self {
                            path,
                            persisted: false,
                            keep: false,
                        },
                        file,
                    ))
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(ChunkerError::io("cannot create a file in", dir, e)),
            }
        }
        Err(ChunkerError::io(
            "cannot create a file in",
            dir,
            std::io::Error::new(std::io::ErrorKind::AlreadyExists, "no free temporary name"),
        ))
    }
}

impl TempFile {
    /// Opens (or creates) the partial output `dir/name` of a resumable decryption; returns the
    /// saved prefix and the content bytes on disk if an earlier run left them.
    #[allow(clippy::type_complexity)]
    fn open_resumable(
        dir: &Path,
        name: &str,
    ) -> Result<(Self, File, Option<(Vec<u8>, u64)>), ChunkerError> {
        use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
        let name = sanitize_component(name);
        let path = dir.join(&name);
        // The name is predictable: never follow a link planted there, and use only a plain
        // file that is ours alone (not a hard link to a file elsewhere).
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(|e| ChunkerError::io("cannot open", &path, e))?;
        let meta = file
            .metadata()
            .map_err(|e| ChunkerError::io("cannot stat", &path, e))?;
        if !meta.file_type().is_file() || meta.nlink() != 1 {
            return Err(ChunkerError::io(
                "refusing to use",
                &path,
                std::io::Error::other("not a plain file of its own (a link or a device)"),
            ));
        }
        let temp = Self {
            path,
            persisted: false,
            keep: true,
        };
        let len = file
            .metadata()
            .map_err(|e| ChunkerError::io("cannot stat", &temp.path, e))?
            .len();
        let prefix = temp
            .state_path()
            .and_then(|s| read_nofollow(&s))
            .and_then(|hex| {
                (0..hex.trim().len())
                    .step_by(2)
                    .map(|i| {
                        hex.get(i..i + 2)
                            .and_then(|h| u8::from_str_radix(h, 16).ok())
                    })
                    .collect::<Option<Vec<u8>>>()
            });
        Ok((temp, file, prefix.map(|p| (p, len))))
    }

    /// The state file of a resumable partial output.
    fn state_path(&self) -> Option<PathBuf> {
        self.keep.then(|| {
            let mut p = self.path.clone().into_os_string();
            p.push(".state");
            PathBuf::from(p)
        })
    }

    fn remove_state(&self) {
        if let Some(s) = self.state_path() {
            let _ = std::fs::remove_file(s);
        }
    }

    /// Removes the partial output and its state now (an integrity failure: nothing to resume).
    fn discard(&mut self) {
        self.remove_state();
        let _ = std::fs::remove_file(&self.path);
        self.keep = false;
        self.persisted = true;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.persisted && !self.keep {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
