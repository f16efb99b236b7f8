//! Errors of the protocol crate (the encoding's own are in `simplex-codec`). Each variant
//! says what most likely caused it.

/// A server address could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    /// Not of the form `xftp://keyhash[:password]@host[,host...][:port]`.
    #[error("invalid server address {input:?}: {reason}")]
    Invalid {
        /// The address given.
        input: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl AddressError {
    pub(crate) fn new(input: &str, reason: &'static str) -> Self {
        Self::Invalid {
            input: input.to_string(),
            reason,
        }
    }
}
