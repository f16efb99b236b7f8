//! Errors of the binary encoding. Each variant says what most likely caused it.

/// A binary encoding could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended before the value did: a truncated message.
    #[error("input ended early: {0} more bytes needed")]
    Eof(usize),
    /// Bytes were left after a value that must consume its input.
    #[error("{0} unexpected trailing bytes")]
    Trailing(usize),
    /// A tag byte that is not allowed here (Maybe, Bool, ...).
    #[error("invalid {what} tag {byte:#04x}")]
    BadTag {
        /// Which value.
        what: &'static str,
        /// The byte found.
        byte: u8,
    },
    /// A NonEmpty list with count 0.
    #[error("empty list where at least one item is required")]
    EmptyList,
    /// A DER key with an unknown algorithm, wrong length or trailing data.
    #[error("invalid key encoding: {0}")]
    BadKey(&'static str),
}

/// A value cannot be encoded within the limits of the wire format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A shortString longer than 255 bytes (the reference would silently wrap the length).
    #[error("{len} bytes do not fit a one-byte length")]
    TooLongShort {
        /// The length.
        len: usize,
    },
    /// A Large value longer than 65535 bytes.
    #[error("{len} bytes do not fit a two-byte length")]
    TooLongLarge {
        /// The length.
        len: usize,
    },
    /// A message longer than a block can carry.
    #[error("{len} bytes do not fit a block (at most {max})")]
    TooLongForBlock {
        /// The message length.
        len: usize,
        /// The most a block holds.
        max: usize,
    },
    /// A list with 0 items where NonEmpty is required, or more than 255 items.
    #[error("list of {len} items cannot be encoded (1..=255 allowed)")]
    BadListLen {
        /// The count.
        len: usize,
    },
}
