//! Errors of the chunk engine. Each variant says what most likely caused it.

use std::io;
use std::path::PathBuf;

/// Everything that can go wrong while planning, encrypting or decrypting a file.
#[derive(Debug, thiserror::Error)]
pub enum ChunkerError {
    /// Reading the source, writing the output or syncing it failed (disk full, permissions,
    /// a vanished directory).
    #[error("{context} {}: {source}", path.display())]
    Io {
        /// What the engine was doing.
        context: &'static str,
        /// The file involved.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// The file is larger than the configured limit (1 GiB by default, 5 GiB at most).
    #[error("files bigger than {max} bytes are not supported (this one has {size})")]
    FileTooLarge {
        /// Size of the file.
        size: u64,
        /// The limit in force.
        max: u64,
    },
    /// A redirect description had to fit one chunk and does not.
    #[error("{size} bytes do not fit in a single chunk of at most {max} bytes")]
    TooLargeForSingleChunk {
        /// Payload size.
        size: u64,
        /// Largest chunk.
        max: u64,
    },
    /// The file name or extra text is longer than the 255 bytes a header can carry.
    #[error("{field} is {len} bytes long, at most 255 fit in the file header")]
    HeaderFieldTooLong {
        /// Which field.
        field: &'static str,
        /// Its length.
        len: usize,
    },
    /// The source file changed size or content while it was being encrypted or when a chunk
    /// was regenerated from it.
    #[error("the source file changed while it was being sent: {0}")]
    SourceChanged(&'static str),
    /// A chunk index outside the plan.
    #[error("chunk {} does not exist (the file has {count} chunks)", .index + 1)]
    NoSuchChunk {
        /// Requested index.
        index: usize,
        /// Chunks in the plan.
        count: usize,
    },
    /// The chunk sizes given to the decryptor are impossible (zero, over 4 MiB, too small to
    /// hold the tag, or not summing to the file size): a broken description.
    #[error("invalid chunk layout: {0}")]
    BadLayout(&'static str),
    /// A chunk arrived with a length other than the description says (truncated download or a
    /// chunk for another file).
    #[error("chunk {} has {actual} bytes, expected {expected}", .index + 1)]
    ChunkSize {
        /// Chunk index (0-based).
        index: usize,
        /// Size from the plan.
        expected: u64,
        /// Size received.
        actual: u64,
    },
    /// More chunks were pushed than the file has.
    #[error("more chunks than the file has ({count})")]
    TooManyChunks {
        /// Chunks in the plan.
        count: usize,
    },
    /// `finish` was called before every chunk arrived.
    #[error("only {received} of {count} chunks were received")]
    MissingChunks {
        /// Chunks received.
        received: usize,
        /// Chunks in the plan.
        count: usize,
    },
    /// The SHA-256 of a chunk differs from the one in the description: corrupted or swapped
    /// chunk.
    #[error("chunk {} digest mismatch", .index + 1)]
    ChunkDigest {
        /// Chunk index (0-based).
        index: usize,
    },
    /// The SHA-512 of the encrypted file differs from the description: corrupted, swapped or
    /// foreign chunks.
    #[error("file digest mismatch")]
    DigestMismatch,
    /// The Poly1305 tag does not verify: wrong key or nonce, or tampered ciphertext.
    #[error("error decrypting file: incorrect auth tag")]
    AuthTag,
    /// The decrypted content is not a valid payload (impossible length prefix or header).
    #[error("invalid decrypted payload: {0}")]
    BadPayload(&'static str),
    /// The consumer stopped taking chunks (it was dropped); not an error of the data.
    #[error("cancelled")]
    Cancelled,
    /// A `push` already failed; the decryptor stopped and its output was discarded.
    #[error("the decryptor stopped after an earlier error")]
    AlreadyFailed,
    /// A worker thread panicked; a bug.
    #[error("internal error: {0} thread failed")]
    Worker(&'static str),
}

impl ChunkerError {
    /// An I/O error while doing `context` on `path`.
    pub fn io(context: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::Io {
            context,
            path: path.into(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ChunkerError;

    #[test]
    fn chunk_numbers_in_messages_count_from_one() {
        let e = ChunkerError::ChunkDigest { index: 0 };
        assert_eq!(e.to_string(), "chunk 1 digest mismatch");
    }
}
