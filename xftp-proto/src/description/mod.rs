//! File descriptions: what a recipient needs to download a file (or a sender to delete it).
//!
//! ```text
//! YAML text ──parse──► FileDescription ──validate──► ValidFileDescription ──for_party──► use
//!     ▲                      │
//!     └──── to_yaml ◄────────┘          web link: https://host/#base64url(deflate(YAML))
//! ```
//!
//! The YAML is read with a real YAML parser (any valid YAML of this shape, quoted scalars
//! included) and written canonically, byte-identical to the reference: keys in alphabetical
//! order, replicas grouped by server in the reference's server order, the chunk digest and a
//! non-default chunk size only on a chunk's first replica, `redirect.size` as an integer.

mod link;
mod yaml;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::address::XftpServer;
use crate::size::{encode_file_size, parse_file_size};
use simplex_codec::base64url;
use simplex_crypto::keys::PrivateKey;
use yaml::Node;

pub use link::{decode_web_link, encode_web_link, MAX_LINK_LEN};

/// Largest description text accepted (a redirect description must fit one 4 MiB chunk).
pub const MAX_DESCRIPTION_LEN: usize = 4 * 1024 * 1024;
/// Most chunks a description may list (a 5 GiB file in 64 KiB chunks would need 81,920; real
/// files of that size use 4 MiB chunks, 1,280 of them).
pub const MAX_CHUNKS: usize = 100_000;
/// Longest replica ID accepted (the reference uses 16 or 24 bytes).
pub const MAX_ID_LEN: usize = 255;

/// Who the description is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileParty {
    /// Holds sender IDs and keys: can delete the file.
    Sender,
    /// Holds recipient IDs and keys: can download the file.
    Recipient,
}

impl FileParty {
    /// The YAML spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sender => "sender",
            Self::Recipient => "recipient",
        }
    }
}

/// The 32-byte file key. Zeroized on drop; never printed.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct FileKey(pub [u8; 32]);

impl std::fmt::Debug for FileKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FileKey(<secret>)")
    }
}

/// Where the real file is, when this description only points at another description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectFileInfo {
    /// Encrypted size of the real file.
    pub size: u64,
    /// SHA-512 of the real encrypted file.
    pub digest: Vec<u8>,
}

/// One copy of a chunk on one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChunkReplica {
    /// The server that holds it.
    pub server: XftpServer,
    /// The sender or recipient ID on that server.
    pub replica_id: Vec<u8>,
    /// The key that signs commands for that ID.
    pub replica_key: PrivateKey,
}

/// One chunk of the encrypted file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChunk {
    /// 1-based position.
    pub chunk_no: u32,
    /// Bytes of the chunk.
    pub chunk_size: u64,
    /// SHA-256 of the chunk.
    pub digest: Vec<u8>,
    /// Copies, the first one preferred.
    pub replicas: Vec<FileChunkReplica>,
}

/// A parsed description; [`FileDescription::validate`] turns it into a
/// [`ValidFileDescription`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDescription {
    /// Sender or recipient.
    pub party: FileParty,
    /// Total encrypted size.
    pub size: u64,
    /// SHA-512 of the encrypted file.
    pub digest: Vec<u8>,
    /// File key.
    pub key: FileKey,
    /// File nonce.
    pub nonce: [u8; 24],
    /// Default chunk size (that of the first chunk).
    pub chunk_size: u64,
    /// Chunks in order.
    pub chunks: Vec<FileChunk>,
    /// Set when this description points at another one.
    pub redirect: Option<RedirectFileInfo>,
}

/// What is wrong with a description. One variant per rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DescriptionError {
    /// The text is larger than any real description.
    #[error("description is {len} bytes, more than the {max} allowed")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not valid YAML, or YAML the reader refuses (aliases, duplicate keys, too deep).
    #[error("invalid YAML: {0}")]
    Yaml(String),
    /// The document or a field has the wrong YAML shape (e.g. a list where text belongs).
    #[error("{0} has the wrong shape")]
    Shape(&'static str),
    /// A required field is absent.
    #[error("missing field {0}")]
    Missing(&'static str),
    /// `party` is neither `sender` nor `recipient`.
    #[error("unknown party {0:?}")]
    BadParty(String),
    /// A size is not `N`, `Nkb`, `Nmb` or `Ngb`.
    #[error("invalid size {value:?} in {field}")]
    BadSize {
        /// Which field.
        field: &'static str,
        /// The text.
        value: String,
    },
    /// A field that must be base64url is not, or decodes to the wrong length.
    #[error("invalid {field}: {reason}")]
    BadField {
        /// Which field.
        field: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// A server address in `replicas` does not parse.
    #[error("invalid server: {0}")]
    BadServer(String),
    /// A chunk entry is not `chunkNo:replicaId:replicaKey[:digest[:size]]`.
    #[error("invalid chunk entry {entry:?}: {reason}")]
    BadReplica {
        /// The entry text (keys are not secret-free: only its first 16 characters are kept).
        entry: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// Two replicas of the same chunk give different digests or sizes.
    #[error("replicas of chunk {0} disagree on its digest or size")]
    ConflictingReplicas(u32),
    /// No replica of a chunk carries its digest.
    #[error("no digest for chunk {0}")]
    NoDigest(u32),
    /// Chunk numbers are not exactly 1..n.
    #[error("chunk numbers are not sequential")]
    NotSequential,
    /// The chunks do not add up to `size`.
    #[error("chunks total size ({total}) is different than file size ({size})")]
    SizeMismatch {
        /// Sum of chunk sizes.
        total: u64,
        /// The `size` field.
        size: u64,
    },
    /// More chunks than any file has.
    #[error("more than {0} chunks")]
    TooManyChunks(usize),
    /// The description is for the other party (e.g. a sender description given to `recv`).
    #[error("this is a {actual} description, a {expected} description is needed")]
    WrongParty {
        /// The party needed.
        expected: &'static str,
        /// The party found.
        actual: &'static str,
    },
    /// A value that parses but cannot be used for a transfer (digest length, chunk size).
    #[error("description cannot be used for a transfer: {0}")]
    NotTransferable(&'static str),
    /// A web link that cannot be decoded.
    #[error("invalid file link: {0}")]
    BadLink(&'static str),
}

type Result<T> = std::result::Result<T, DescriptionError>;

impl FileDescription {
    /// Parses a description from YAML. Checks the shape of every field and the per-chunk rules
    /// (entries parse, replicas agree, every chunk has a digest); the whole-file rules are
    /// [`FileDescription::validate`]'s.
    pub fn from_yaml(text: &str) -> Result<Self> {
        if text.len() > MAX_DESCRIPTION_LEN {
            return Err(DescriptionError::TooLarge {
                len: text.len(),
                max: MAX_DESCRIPTION_LEN,
            });
        }
        let root = yaml::parse(text).map_err(DescriptionError::Yaml)?;
        if !matches!(root, Node::Map(_)) {
            return Err(DescriptionError::Shape("the description"));
        }
        let party = match scalar(&root, "party")? {
            "sender" => FileParty::Sender,
            "recipient" => FileParty::Recipient,
            other => return Err(DescriptionError::BadParty(other.to_string())),
        };
        let size = size_field(&root, "size")?;
        let chunk_size = size_field(&root, "chunkSize")?;
        let digest = b64_field(scalar(&root, "digest")?, "digest")?;
        let key: [u8; 32] = b64_field(scalar(&root, "key")?, "key")?
            .try_into()
            .map_err(|_| DescriptionError::BadField {
                field: "key",
                reason: "must be 32 bytes",
            })?;
        let nonce: [u8; 24] = b64_field(scalar(&root, "nonce")?, "nonce")?
            .try_into()
            .map_err(|_| DescriptionError::BadField {
                field: "nonce",
                reason: "must be 24 bytes",
            })?;
        let redirect = match root.get("redirect") {
            None => None,
            Some(r) => Some(RedirectFileInfo {
                size: scalar(r, "size")?
                    .parse()
                    .map_err(|_| DescriptionError::BadSize {
                        field: "redirect.size",
                        value: scalar(r, "size").unwrap_or_default().to_string(),
                    })?,
                digest: b64_field(scalar(r, "digest")?, "redirect.digest")?,
            }),
        };
        let replicas = match root.get("replicas") {
            Some(Node::Seq(groups)) => groups,
            Some(_) => return Err(DescriptionError::Shape("replicas")),
            None => return Err(DescriptionError::Missing("replicas")),
        };
        let chunks = fold_replicas(replicas, chunk_size)?;
        Ok(Self {
            party,
            size,
            digest,
            key: FileKey(key),
            nonce,
            chunk_size,
            chunks,
            redirect,
        })
    }

    /// Checks the whole-file rules: chunk numbers are 1..n and chunk sizes add up to `size`.
    pub fn validate(self) -> Result<ValidFileDescription> {
        if self
            .chunks
            .iter()
            .enumerate()
            .any(|(i, c)| u64::from(c.chunk_no) != i as u64 + 1)
        {
            return Err(DescriptionError::NotSequential);
        }
        let total: u64 = self.chunks.iter().map(|c| c.chunk_size).sum();
        if total != self.size {
            return Err(DescriptionError::SizeMismatch {
                total,
                size: self.size,
            });
        }
        Ok(ValidFileDescription(self))
    }

    /// Writes the canonical YAML (byte-identical to the reference's output).
    pub fn to_yaml(&self) -> String {
        let mut out = String::with_capacity(512 + self.chunks.len() * 160);
        let _ = writeln!(
            out,
            "chunkSize: {}",
            yaml::scalar(&encode_file_size(self.chunk_size))
        );
        let _ = writeln!(
            out,
            "digest: {}",
            yaml::scalar(&base64url::encode(&self.digest))
        );
        let _ = writeln!(
            out,
            "key: {}",
            yaml::scalar(&base64url::encode(&self.key.0))
        );
        let _ = writeln!(
            out,
            "nonce: {}",
            yaml::scalar(&base64url::encode(&self.nonce))
        );
        let _ = writeln!(out, "party: {}", self.party.as_str());
        if let Some(r) = &self.redirect {
            out.push_str("redirect:\n");
            let _ = writeln!(
                out,
                "  digest: {}",
                yaml::scalar(&base64url::encode(&r.digest))
            );
            let _ = writeln!(out, "  size: {}", r.size);
        }
        let groups = self.replica_groups();
        if groups.is_empty() {
            out.push_str("replicas: []\n");
        } else {
            out.push_str("replicas:\n");
            for (server, entries) in groups {
                out.push_str("- chunks:\n");
                for e in entries {
                    let _ = writeln!(out, "  - {}", yaml::scalar(&e));
                }
                let _ = writeln!(out, "  server: {}", yaml::scalar(&server.to_string()));
            }
        }
        let _ = writeln!(out, "size: {}", yaml::scalar(&encode_file_size(self.size)));
        out
    }

    /// Chunk entries grouped by server, in server order; within a group in chunk order. Only a
    /// chunk's first replica carries its digest and (if not the default) its size.
    fn replica_groups(&self) -> BTreeMap<&XftpServer, Vec<String>> {
        let mut groups: BTreeMap<&XftpServer, Vec<String>> = BTreeMap::new();
        for chunk in &self.chunks {
            for (i, r) in chunk.replicas.iter().enumerate() {
                let mut e = format!(
                    "{}:{}:{}",
                    chunk.chunk_no,
                    base64url::encode(&r.replica_id),
                    base64url::encode(&r.replica_key.to_der())
                );
                if i == 0 {
                    let _ = write!(e, ":{}", base64url::encode(&chunk.digest));
                    if chunk.chunk_size != self.chunk_size {
                        let _ = write!(e, ":{}", encode_file_size(chunk.chunk_size));
                    }
                }
                groups.entry(&r.server).or_default().push(e);
            }
        }
        groups
    }
}

/// A description whose whole-file rules hold (proof type: only [`FileDescription::validate`]
/// makes one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidFileDescription(FileDescription);

impl ValidFileDescription {
    /// The description.
    pub fn get(&self) -> &FileDescription {
        &self.0
    }

    /// Gives the description back.
    pub fn into_inner(self) -> FileDescription {
        self.0
    }

    /// Parses and validates.
    pub fn from_yaml(text: &str) -> Result<Self> {
        FileDescription::from_yaml(text)?.validate()
    }

    /// Fails unless the description is for `party`.
    pub fn for_party(self, party: FileParty) -> Result<Self> {
        if self.0.party == party {
            Ok(self)
        } else {
            Err(DescriptionError::WrongParty {
                expected: party.as_str(),
                actual: self.0.party.as_str(),
            })
        }
    }

    /// The stricter checks a client applies before transferring: SHA-512/SHA-256 digest
    /// lengths, relay chunk sizes, at least one replica per chunk, non-empty IDs.
    pub fn check_transferable(&self) -> Result<()> {
        let d = &self.0;
        if d.digest.len() != 64 {
            return Err(DescriptionError::NotTransferable(
                "file digest is not SHA-512",
            ));
        }
        if d.chunks.is_empty() {
            return Err(DescriptionError::NotTransferable("no chunks"));
        }
        for c in &d.chunks {
            if c.digest.len() != 32 {
                return Err(DescriptionError::NotTransferable(
                    "chunk digest is not SHA-256",
                ));
            }
            if ![65536u64, 262144, 1048576, 4194304].contains(&c.chunk_size) {
                return Err(DescriptionError::NotTransferable(
                    "chunk size not accepted by relays",
                ));
            }
            if c.replicas.is_empty() {
                return Err(DescriptionError::NotTransferable("a chunk has no replica"));
            }
        }
        if let Some(r) = &d.redirect {
            if r.digest.len() != 64 {
                return Err(DescriptionError::NotTransferable(
                    "redirect digest is not SHA-512",
                ));
            }
        }
        Ok(())
    }

    /// The canonical YAML.
    pub fn to_yaml(&self) -> String {
        self.0.to_yaml()
    }
}

impl std::ops::Deref for ValidFileDescription {
    type Target = FileDescription;
    fn deref(&self) -> &FileDescription {
        &self.0
    }
}

fn scalar<'a>(node: &'a Node, field: &'static str) -> Result<&'a str> {
    match node.get(field) {
        Some(Node::Scalar(s)) => Ok(s),
        Some(_) => Err(DescriptionError::Shape(field)),
        None => Err(DescriptionError::Missing(field)),
    }
}

fn size_field(node: &Node, field: &'static str) -> Result<u64> {
    let text = scalar(node, field)?;
    parse_file_size(text).ok_or_else(|| DescriptionError::BadSize {
        field,
        value: text.chars().take(32).collect(),
    })
}

fn b64_field(text: &str, field: &'static str) -> Result<Vec<u8>> {
    base64url::decode(text).ok_or(DescriptionError::BadField {
        field,
        reason: "not base64url",
    })
}

/// One `chunkNo:replicaId:replicaKey[:digest[:size]]` entry with its server.
struct ReplicaEntry {
    chunk_no: u32,
    replica: FileChunkReplica,
    digest: Option<Vec<u8>>,
    size: Option<u64>,
}

fn parse_entry(text: &str, server: &XftpServer) -> Result<ReplicaEntry> {
    let bad = |reason| DescriptionError::BadReplica {
        entry: text.chars().take(16).collect(),
        reason,
    };
    let parts: Vec<&str> = text.splitn(6, ':').collect();
    if !(3..=5).contains(&parts.len()) {
        return Err(bad("expected 3 to 5 ':'-separated fields"));
    }
    let chunk_no: u32 = match parts[0].parse() {
        Ok(n) if n > 0 && parts[0].bytes().all(|b| b.is_ascii_digit()) => n,
        _ => return Err(bad("chunk number is not a positive integer")),
    };
    let replica_id = base64url::decode(parts[1]).ok_or(bad("replica ID is not base64url"))?;
    if replica_id.len() > MAX_ID_LEN {
        return Err(bad("replica ID is too long"));
    }
    let key_der = base64url::decode(parts[2]).ok_or(bad("replica key is not base64url"))?;
    let replica_key =
        PrivateKey::from_der(&key_der).map_err(|_| bad("replica key is not a PKCS#8 key"))?;
    let digest = match parts.get(3) {
        Some(d) => Some(base64url::decode(d).ok_or(bad("chunk digest is not base64url"))?),
        None => None,
    };
    let size = match parts.get(4) {
        Some(s) => Some(parse_file_size(s).ok_or(bad("invalid chunk size"))?),
        None => None,
    };
    Ok(ReplicaEntry {
        chunk_no,
        replica: FileChunkReplica {
            server: server.clone(),
            replica_id,
            replica_key,
        },
        digest,
        size,
    })
}

/// Gathers the replica groups into chunks ordered by number, replicas in order of appearance.
fn fold_replicas(groups: &[Node], default_size: u64) -> Result<Vec<FileChunk>> {
    struct Acc {
        digest: Option<Vec<u8>>,
        size: Option<u64>,
        replicas: Vec<FileChunkReplica>,
    }
    let mut chunks: BTreeMap<u32, Acc> = BTreeMap::new();
    for group in groups {
        let server_text = scalar(group, "server")?;
        let server: XftpServer = server_text
            .parse()
            .map_err(|e: crate::error::AddressError| DescriptionError::BadServer(e.to_string()))?;
        let entries = match group.get("chunks") {
            Some(Node::Seq(entries)) => entries,
            Some(_) => return Err(DescriptionError::Shape("chunks")),
            None => return Err(DescriptionError::Missing("chunks")),
        };
        for entry in entries {
            let Node::Scalar(text) = entry else {
                return Err(DescriptionError::Shape("chunk entry"));
            };
            let e = parse_entry(text, &server)?;
            if !chunks.contains_key(&e.chunk_no) && chunks.len() >= MAX_CHUNKS {
                return Err(DescriptionError::TooManyChunks(MAX_CHUNKS));
            }
            let acc = chunks.entry(e.chunk_no).or_insert(Acc {
                digest: None,
                size: None,
                replicas: Vec::new(),
            });
            match (acc.size, e.size) {
                (Some(a), Some(b)) if a != b => {
                    return Err(DescriptionError::ConflictingReplicas(e.chunk_no))
                }
                (None, Some(b)) => acc.size = Some(b),
                _ => {}
            }
            match (&acc.digest, e.digest) {
                (Some(a), Some(b)) if *a != b => {
                    return Err(DescriptionError::ConflictingReplicas(e.chunk_no))
                }
                (None, Some(b)) => acc.digest = Some(b),
                _ => {}
            }
            acc.replicas.push(e.replica);
        }
    }
    chunks
        .into_iter()
        .map(|(chunk_no, acc)| {
            Ok(FileChunk {
                chunk_no,
                chunk_size: acc.size.unwrap_or(default_size),
                digest: acc.digest.ok_or(DescriptionError::NoDigest(chunk_no))?,
                replicas: acc.replicas,
            })
        })
        .collect()
}
