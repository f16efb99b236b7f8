//! The SMP relay: queues, messages and subscriptions ([`relay`]), with the reference's
//! semantics, behind TLS ([`net`]).
//!
//! ```text
//! TCP ─► TLS (ALPN smp/1) ─► server hello / client hello ─► blocks (encrypted from v11)
//!     ─► 1..255 transmissions ─► Relay::handle ─► answers, batched into blocks
//!                                    └─► pushes to other connections (MSG, END, DELD)
//! ```

pub mod queue;
pub mod relay;

pub use relay::{Conn, ConnId, Outgoing, Relay, RelayConfig};
