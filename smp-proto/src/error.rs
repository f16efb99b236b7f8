//! The protocol's error type: what `ERR` carries, with the reference's exact words.
//!
//! ```text
//! ERR BLOCK | SESSION | CMD <UNKNOWN|SYNTAX|PROHIBITED|NO_AUTH|HAS_AUTH|NO_ENTITY> | AUTH
//!   | BLOCKED reason=<spam|content>[,notice=<json>] | SERVICE | CRYPTO | QUOTA | STORE <text>
//!   | EXPIRED | NO_MSG | LARGE_MSG | INTERNAL | DUPLICATE_
//!   | PROXY <PROTOCOL <err> | BROKER <...> | BASIC_AUTH | NO_SESSION>
//! ```

use simplex_codec::Reader;

/// An error a relay reports (or a client receives) in `ERR`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorType {
    /// The block or transmission could not be parsed (also a bad authorization length).
    Block,
    /// The session id of a transmission (below v7) is not the connection's.
    Session,
    /// The command is wrong.
    Cmd(CommandError),
    /// A private-routing error.
    Proxy(ProxyError),
    /// No such queue, a wrong key or a failed signature: deliberately indistinguishable.
    Auth,
    /// The queue is blocked by the operator: `reason=spam|content[,notice=<json>]`.
    Blocked(Vec<u8>),
    /// A service-certificate error.
    Service,
    /// Decryption failed.
    Crypto,
    /// The queue holds the most messages it may.
    Quota,
    /// The relay's store failed (text for the operator).
    Store(String),
    /// A message or proxy session expired.
    Expired,
    /// ACK of a message that is not the last delivered.
    NoMsg,
    /// A message body larger than allowed.
    LargeMsg,
    /// An internal error of the relay.
    Internal,
    /// Used by the reference internally; never sent by a correct relay.
    Duplicate,
}

/// Why a command was refused before it ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandError {
    /// Not a command of this party.
    Unknown,
    /// Its fields do not parse.
    Syntax,
    /// Not allowed here (e.g. SUB and GET of one queue on one connection).
    Prohibited,
    /// An authorization (or entity) is required.
    NoAuth,
    /// No authorization (or entity) is allowed.
    HasAuth,
    /// An entity id is required.
    NoEntity,
}

/// Errors of private routing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProxyError {
    /// The destination relay answered with this error.
    Protocol(Box<ErrorType>),
    /// Connecting to the destination failed; the reference's detail, kept as sent.
    Broker(Vec<u8>),
    /// The proxy requires a password.
    BasicAuth,
    /// No such proxy session.
    NoSession,
}

impl CommandError {
    fn word(self) -> &'static str {
        match self {
            Self::Unknown => "UNKNOWN",
            Self::Syntax => "SYNTAX",
            Self::Prohibited => "PROHIBITED",
            Self::NoAuth => "NO_AUTH",
            Self::HasAuth => "HAS_AUTH",
            Self::NoEntity => "NO_ENTITY",
        }
    }

    fn from_word(w: &[u8]) -> Option<Self> {
        Some(match w {
            b"UNKNOWN" => Self::Unknown,
            b"SYNTAX" => Self::Syntax,
            b"PROHIBITED" => Self::Prohibited,
            b"NO_AUTH" => Self::NoAuth,
            b"HAS_AUTH" => Self::HasAuth,
            // The older name, still accepted by the reference.
            b"NO_ENTITY" | b"NO_QUEUE" => Self::NoEntity,
            _ => return None,
        })
    }
}

impl ErrorType {
    /// The bytes after `ERR `.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let word: &[u8] = match self {
            Self::Block => b"BLOCK",
            Self::Session => b"SESSION",
            Self::Cmd(c) => {
                out.extend_from_slice(b"CMD ");
                out.extend_from_slice(c.word().as_bytes());
                return;
            }
            Self::Proxy(p) => {
                out.extend_from_slice(b"PROXY ");
                match p {
                    ProxyError::Protocol(e) => {
                        out.extend_from_slice(b"PROTOCOL ");
                        e.encode(out);
                    }
                    ProxyError::Broker(b) => {
                        out.extend_from_slice(b"BROKER ");
                        out.extend_from_slice(b);
                    }
                    ProxyError::BasicAuth => out.extend_from_slice(b"BASIC_AUTH"),
                    ProxyError::NoSession => out.extend_from_slice(b"NO_SESSION"),
                }
                return;
            }
            Self::Auth => b"AUTH",
            Self::Blocked(info) => {
                out.extend_from_slice(b"BLOCKED ");
                out.extend_from_slice(info);
                return;
            }
            Self::Service => b"SERVICE",
            Self::Crypto => b"CRYPTO",
            Self::Quota => b"QUOTA",
            Self::Store(text) => {
                out.extend_from_slice(b"STORE ");
                out.extend_from_slice(text.as_bytes());
                return;
            }
            Self::Expired => b"EXPIRED",
            Self::NoMsg => b"NO_MSG",
            Self::LargeMsg => b"LARGE_MSG",
            Self::Internal => b"INTERNAL",
            Self::Duplicate => b"DUPLICATE_",
        };
        out.extend_from_slice(word);
    }

    /// Parses the bytes after `ERR ` (all of them).
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        let mut r = Reader::new(bytes);
        let e = Self::read(&mut r)?;
        r.finish().ok()?;
        Some(e)
    }

    fn read(r: &mut Reader<'_>) -> Option<Self> {
        let word = word(r);
        Some(match word {
            b"BLOCK" => Self::Block,
            b"SESSION" => Self::Session,
            b"CMD" => {
                space(r)?;
                Self::Cmd(CommandError::from_word(self::word(r))?)
            }
            b"PROXY" => {
                space(r)?;
                Self::Proxy(match self::word(r) {
                    b"PROTOCOL" => {
                        space(r)?;
                        ProxyError::Protocol(Box::new(Self::read(r)?))
                    }
                    b"BROKER" => {
                        space(r)?;
                        ProxyError::Broker(r.rest().to_vec())
                    }
                    b"BASIC_AUTH" => ProxyError::BasicAuth,
                    b"NO_SESSION" => ProxyError::NoSession,
                    _ => return None,
                })
            }
            b"AUTH" => Self::Auth,
            b"BLOCKED" => {
                space(r)?;
                let info = r.rest();
                let reason = info.split(|&b| b == b',').next().unwrap_or_default();
                if reason != b"reason=spam" && reason != b"reason=content" {
                    return None;
                }
                Self::Blocked(info.to_vec())
            }
            b"SERVICE" => Self::Service,
            b"CRYPTO" => Self::Crypto,
            b"QUOTA" => Self::Quota,
            b"STORE" => {
                space(r)?;
                Self::Store(String::from_utf8_lossy(r.rest()).into_owned())
            }
            b"EXPIRED" => Self::Expired,
            b"NO_MSG" => Self::NoMsg,
            b"LARGE_MSG" => Self::LargeMsg,
            b"INTERNAL" => Self::Internal,
            b"DUPLICATE_" => Self::Duplicate,
            _ => return None,
        })
    }
}

/// Bytes up to the next space (or the end), not consuming the space.
fn word<'a>(r: &mut Reader<'a>) -> &'a [u8] {
    let rest = r.rest();
    let n = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
    *r = Reader::new(&rest[n..]);
    &rest[..n]
}

fn space(r: &mut Reader<'_>) -> Option<()> {
    (r.byte().ok()? == b' ').then_some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_round_trips_in_the_reference_words() {
        let cases: Vec<(ErrorType, &str)> = vec![
            (ErrorType::Block, "BLOCK"),
            (ErrorType::Session, "SESSION"),
            (ErrorType::Cmd(CommandError::Unknown), "CMD UNKNOWN"),
            (ErrorType::Cmd(CommandError::NoEntity), "CMD NO_ENTITY"),
            (ErrorType::Auth, "AUTH"),
            (
                ErrorType::Blocked(b"reason=spam,notice={\"a\":1}".to_vec()),
                "BLOCKED reason=spam,notice={\"a\":1}",
            ),
            (ErrorType::Quota, "QUOTA"),
            (ErrorType::Store("disk".into()), "STORE disk"),
            (ErrorType::NoMsg, "NO_MSG"),
            (ErrorType::LargeMsg, "LARGE_MSG"),
            (ErrorType::Duplicate, "DUPLICATE_"),
            (
                ErrorType::Proxy(ProxyError::Protocol(Box::new(ErrorType::Auth))),
                "PROXY PROTOCOL AUTH",
            ),
            (ErrorType::Proxy(ProxyError::BasicAuth), "PROXY BASIC_AUTH"),
        ];
        for (e, text) in cases {
            let mut out = Vec::new();
            e.encode(&mut out);
            assert_eq!(out, text.as_bytes());
            assert_eq!(ErrorType::parse(text.as_bytes()), Some(e), "{text}");
        }
        assert_eq!(
            ErrorType::parse(b"CMD NO_QUEUE"),
            Some(ErrorType::Cmd(CommandError::NoEntity))
        );
        for bad in ["", "CMD", "CMD FOO", "AUTH ", "BLOCKED reason=x", "NOPE"] {
            assert_eq!(ErrorType::parse(bad.as_bytes()), None, "{bad}");
        }
    }
}
