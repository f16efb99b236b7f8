//! The SimpleX agent: what turns one-way SMP queues into end-to-end encrypted duplex
//! connections (simplexmq 6.5.x `Simplex.Messaging.Agent` and `Crypto.Ratchet`).
//!
//! ```text
//! ratchet   X3DH (X448) and the header-encrypted double ratchet (AES-256-GCM, HKDF-SHA512),
//!           sans-IO: state in, state out, keys from a KeyGen
//! ```
#![forbid(unsafe_code)]

pub mod agent;
pub mod envelope;
pub mod links;
pub mod ratchet;
pub mod shortlink;
pub mod store;
