//! Connection links in their full form, as `Agent/Protocol.hs` writes and reads them: SMP queue
//! URIs, invitation and contact requests, in text (`simplex:/invitation#/?v=..&smp=..&e2e=..`)
//! and binary (inside short-link data).
//!
//! ```text
//! queue URI  smp://<hash>@<hosts>[:port]/<senderId>#/?v=<range>&dh=<X25519>[&q=m|c][&k=s][&srv=<hosts>]
//!            (min version < 2: first host only, the others in srv=)
//! request    simplex:/<invitation|contact>#/?v=<agent range>&smp=<uri>[;<uri>..][&e2e=<params>][&data=..]
//!            every value percent-encoded (A-Z a-z 0-9 - _ . ~ kept), so the URIs' %3D become %253D
//! e2e        v=<range>&x3dh=<X448 key1>,<key2>[&kem_key=..[&kem_ct=..]]
//! ```

use simplex_codec::base64url;
use simplex_codec::encoding::{put_large, put_short};
use simplex_codec::version::VersionRange;
use simplex_codec::{Decode, Encode, Reader};
use simplex_crypto::{KeyAlgorithm, PublicKey};

/// Why a link was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad connection link: {0}")]
pub struct LinkError(pub &'static str);

type Result<T> = std::result::Result<T, LinkError>;

/// The queue mode a URI advertises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueMode {
    /// A messaging queue (its sender may secure it with SKEY).
    Messaging,
    /// A contact-address queue.
    Contact,
}

/// An SMP server as links name it (any key-hash length is carried).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkServer {
    /// Hosts, the first being the primary.
    pub hosts: Vec<String>,
    /// The port as written (empty: the default).
    pub port: String,
    /// The identity's key hash.
    pub key_hash: Vec<u8>,
}

/// A queue as links carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueUri {
    /// SMP client versions.
    pub versions: VersionRange,
    /// The relay.
    pub server: LinkServer,
    /// The sender id.
    pub sender_id: Vec<u8>,
    /// The recipient's X25519 key for the per-queue e2e layer.
    pub dh_key: PublicKey,
    /// The queue mode, when known.
    pub mode: Option<QueueMode>,
}

/// From this SMP client version the URI lists every host in its authority.
const SRV_HOSTNAMES: u16 = 2;
/// From here the binary form may carry "sender can secure".
const SND_AUTH_KEY: u16 = 3;
/// From here the binary form carries the queue mode.
const SHORT_LINKS: u16 = 4;

/// Onion hosts added to preset relays named in old (v1) URIs (`extraSMPServerHosts`).
const LEGACY_HOSTS: &[(&str, &str)] = &[
    (
        "smp4.simplex.im",
        "o5vmywmrnaxalvz6wi3zicyftgio6psuvyniis6gco6bp6ekl4cqj4id.onion",
    ),
    (
        "smp5.simplex.im",
        "jjbyvoemxysm7qxap7m5d5m35jzv5qq6gnlv7s4rsn7tdwwmuqciwpid.onion",
    ),
    (
        "smp6.simplex.im",
        "bylepyau3ty4czmn77q4fglvperknl4bi2eb2fdy2bh4jxtf32kf73yd.onion",
    ),
    (
        "smp8.simplex.im",
        "beccx4yfxxbvyhqypaavemqurytl6hozr47wfc7uuecacjqdvwpw2xid.onion",
    ),
    (
        "smp9.simplex.im",
        "jssqzccmrcws6bhmn77vgmhfjmhwlyr3u7puw4erkyoosywgl67slqqd.onion",
    ),
    (
        "smp10.simplex.im",
        "rb2pbttocvnbrngnwziclp2f4ckjq65kebafws6g4hy22cdaiv5dwjqd.onion",
    ),
];

/// Percent-encodes a query value as http-types does: `A-Z a-z 0-9 - _ . ~` stay.
pub fn percent_encode(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for &b in s {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` and `+` (a space).
pub fn percent_decode(s: &str) -> Result<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = s.get(i + 1..i + 3).ok_or(LinkError("truncated %-escape"))?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| LinkError("bad %-escape"))?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

/// A query's parameters, values decoded, in order.
fn parse_query(q: &str) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for part in q.split(['&', ';']).filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let k = String::from_utf8(percent_decode(k)?).map_err(|_| LinkError("bad query"))?;
        let v = String::from_utf8(percent_decode(v)?).map_err(|_| LinkError("bad query"))?;
        out.push((k, v));
    }
    Ok(out)
}

fn param<'a>(q: &'a [(String, String)], k: &str) -> Option<&'a str> {
    q.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str())
}

fn render_query(params: &[(&str, String)], escape: bool) -> String {
    params
        .iter()
        .map(|(k, v)| {
            if escape {
                format!("{k}={}", percent_encode(v.as_bytes()))
            } else {
                format!("{k}={v}")
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn range_str(r: VersionRange) -> String {
    if r.min == r.max {
        r.min.to_string()
    } else {
        format!("{}-{}", r.min, r.max)
    }
}

fn parse_range(s: &str) -> Result<VersionRange> {
    let bad = || LinkError("bad version range");
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let (a, b) = (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
    VersionRange::new(a, b).ok_or_else(bad)
}

fn b64(s: &str) -> Result<Vec<u8>> {
    base64url::decode(s).ok_or(LinkError("bad base64url"))
}

fn key_of(s: &str, alg: KeyAlgorithm) -> Result<PublicKey> {
    let k = PublicKey::from_der(&b64(s)?).map_err(|_| LinkError("bad key"))?;
    (k.algorithm() == alg)
        .then_some(k)
        .ok_or(LinkError("wrong key algorithm"))
}

fn key_str(k: &PublicKey) -> String {
    base64url::encode(&k.to_der())
}

impl LinkServer {
    fn authority(&self, all_hosts: bool) -> String {
        let hosts = if all_hosts {
            self.hosts.join(",")
        } else {
            self.hosts.first().cloned().unwrap_or_default()
        };
        let port = if self.port.is_empty() {
            String::new()
        } else {
            format!(":{}", self.port)
        };
        format!("smp://{}@{hosts}{port}", base64url::encode(&self.key_hash))
    }

    /// Parses `smp://<hash>@<hosts>[:<port>]`.
    fn parse(s: &str) -> Result<Self> {
        let rest = s
            .strip_prefix("smp://")
            .ok_or(LinkError("not an smp:// server"))?;
        let (hash, location) = rest.split_once('@').ok_or(LinkError("missing '@'"))?;
        let (hosts, port) = match location.rsplit_once(':') {
            Some((h, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => (h, p),
            _ => (location, ""),
        };
        let hosts: Vec<String> = hosts.split(',').map(str::to_string).collect();
        if hosts.iter().any(|h| h.is_empty()) {
            return Err(LinkError("empty host"));
        }
        Ok(Self {
            hosts,
            port: port.to_string(),
            key_hash: b64(hash)?,
        })
    }

    fn encode_into(&self, out: &mut Vec<u8>) -> Result<()> {
        let enc = |_| LinkError("server too long to encode");
        let n = u8::try_from(self.hosts.len()).map_err(|_| LinkError("too many hosts"))?;
        out.push(n);
        for h in &self.hosts {
            put_short(out, h.as_bytes()).map_err(enc)?;
        }
        put_short(out, self.port.as_bytes()).map_err(enc)?;
        put_short(out, &self.key_hash).map_err(enc)
    }

    fn decode_from(r: &mut Reader<'_>) -> Result<Self> {
        let bad = |_| LinkError("bad binary server");
        let n = r.byte().map_err(bad)?;
        if n == 0 {
            return Err(LinkError("no host"));
        }
        let text =
            |b: &[u8]| String::from_utf8(b.to_vec()).map_err(|_| LinkError("host is not text"));
        let mut hosts = Vec::with_capacity(usize::from(n));
        for _ in 0..n {
            hosts.push(text(r.short_bytes().map_err(bad)?)?);
        }
        let port = text(r.short_bytes().map_err(bad)?)?;
        let key_hash = r.short_bytes().map_err(bad)?.to_vec();
        Ok(Self {
            hosts,
            port,
            key_hash,
        })
    }
}

impl QueueUri {
    /// The text form.
    pub fn to_uri(&self) -> String {
        let min = self.versions.min;
        let mut params = vec![
            ("v", range_str(self.versions)),
            ("dh", key_str(&self.dh_key)),
        ];
        match self.mode {
            Some(QueueMode::Messaging) => params.push(("q", "m".into())),
            Some(QueueMode::Contact) => params.push(("q", "c".into())),
            None => {}
        }
        if self.mode == Some(QueueMode::Messaging) && min < SHORT_LINKS {
            params.push(("k", "s".into()));
        }
        let all_hosts = min >= SRV_HOSTNAMES;
        if !all_hosts && self.server.hosts.len() > 1 {
            params.push(("srv", self.server.hosts[1..].join(",")));
        }
        format!(
            "{}/{}#/?{}",
            self.server.authority(all_hosts),
            base64url::encode(&self.sender_id),
            render_query(&params, true)
        )
    }

    /// Parses the text form (also the unversioned `#<dh key>` form and the key before `/?`).
    pub fn parse(s: &str) -> Result<Self> {
        let (before_hash, fragment) = s.split_once('#').ok_or(LinkError("missing '#'"))?;
        let before_hash = before_hash.strip_suffix('/').unwrap_or(before_hash);
        let (server_part, sender) = before_hash
            .rsplit_once('/')
            .ok_or(LinkError("missing sender id"))?;
        let mut server = LinkServer::parse(server_part)?;
        let sender_id = b64(sender)?;
        // `#<key>`, `#<key>/?<query>`, `#/?<query>` or `#?<query>`.
        let (key_text, query) = match fragment.split_once('?') {
            None => (Some(fragment), None),
            Some((k, q)) => {
                let k = k.strip_suffix('/').unwrap_or(k);
                ((!k.is_empty()).then_some(k), Some(q))
            }
        };
        let (versions, dh_text, extra_hosts, mode) = match query {
            None => (
                VersionRange::new(1, 1).ok_or(LinkError("range"))?,
                key_text.map(str::to_string),
                Vec::new(),
                None,
            ),
            Some(q) => {
                let q = parse_query(q)?;
                let versions = parse_range(param(&q, "v").ok_or(LinkError("no version"))?)?;
                let mode = match param(&q, "q") {
                    Some("m") => Some(QueueMode::Messaging),
                    Some("c") => Some(QueueMode::Contact),
                    _ if param(&q, "k") == Some("s") => Some(QueueMode::Messaging),
                    _ => None,
                };
                let hosts: Vec<String> = param(&q, "srv")
                    .map(|h| {
                        h.split(',')
                            .filter(|h| !h.is_empty())
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default();
                let dh = key_text.or(param(&q, "dh")).map(str::to_string);
                (versions, dh, hosts, mode)
            }
        };
        let dh_key = key_of(
            dh_text.as_deref().ok_or(LinkError("no dh key"))?,
            KeyAlgorithm::X25519,
        )?;
        server.hosts.extend(extra_hosts);
        if versions.max < SRV_HOSTNAMES && server.hosts.len() == 1 {
            if let Some((_, onion)) = LEGACY_HOSTS.iter().find(|(h, _)| *h == server.hosts[0]) {
                server.hosts.push((*onion).to_string());
            }
        }
        Ok(Self {
            versions,
            server,
            sender_id,
            dh_key,
            mode,
        })
    }

    /// The binary form (`SMPQueueUri` smpEncode).
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<()> {
        let enc = |_| LinkError("queue too long to encode");
        self.versions.encode(out).map_err(enc)?;
        self.server.encode_into(out)?;
        put_short(out, &self.sender_id).map_err(enc)?;
        self.dh_key.encode(out).map_err(enc)?;
        let messaging = self.mode == Some(QueueMode::Messaging);
        if self.versions.min >= SHORT_LINKS {
            match self.mode {
                Some(QueueMode::Messaging) => out.push(b'M'),
                Some(QueueMode::Contact) => out.push(b'C'),
                None => {}
            }
        } else if self.versions.min >= SND_AUTH_KEY
            || (self.versions.max >= SND_AUTH_KEY && messaging)
        {
            out.push(if messaging { b'T' } else { b'F' });
        }
        Ok(())
    }

    /// Parses the binary form.
    pub fn decode_from(r: &mut Reader<'_>) -> Result<Self> {
        let bad = |_| LinkError("bad binary queue");
        let versions = VersionRange::decode(r).map_err(bad)?;
        let server = LinkServer::decode_from(r)?;
        let sender_id = r.short_bytes().map_err(bad)?.to_vec();
        let dh_key = PublicKey::decode(r).map_err(bad)?;
        let mode = match r.peek() {
            Some(b'M') => Some(QueueMode::Messaging),
            Some(b'C') => Some(QueueMode::Contact),
            Some(b'T') => Some(QueueMode::Messaging),
            Some(b'F') => Some(QueueMode::Contact),
            _ => None,
        };
        if mode.is_some() {
            r.byte().map_err(bad)?;
        }
        Ok(Self {
            versions,
            server,
            sender_id,
            dh_key,
            mode,
        })
    }
}

/// Post-quantum KEM parameters in e2e params (kept, never used here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kem {
    /// `kem_key`: a proposal.
    Proposed(Vec<u8>),
    /// `kem_ct` and `kem_key`: an acceptance.
    Accepted(Vec<u8>, Vec<u8>),
}

/// The ratchet parameters of an invitation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct E2eParams {
    /// E2E versions.
    pub versions: VersionRange,
    /// X448 key 1.
    pub key1: PublicKey,
    /// X448 key 2.
    pub key2: PublicKey,
    /// Post-quantum parameters.
    pub kem: Option<Kem>,
}

impl E2eParams {
    /// The text form (`v=..&x3dh=k1,k2[&kem_key=..]`, not escaped).
    pub fn to_text(&self) -> String {
        let mut params = vec![
            ("v", range_str(self.versions)),
            (
                "x3dh",
                format!("{},{}", key_str(&self.key1), key_str(&self.key2)),
            ),
        ];
        if self.versions.max >= crate::ratchet::PQ_VERSION {
            match &self.kem {
                Some(Kem::Proposed(k)) => params.push(("kem_key", base64url::encode(k))),
                Some(Kem::Accepted(ct, k)) => {
                    params.push(("kem_ct", base64url::encode(ct)));
                    params.push(("kem_key", base64url::encode(k)));
                }
                None => {}
            }
        }
        render_query(&params, false)
    }

    /// Parses the text form.
    pub fn parse(s: &str) -> Result<Self> {
        let q = parse_query(s)?;
        let versions = parse_range(param(&q, "v").ok_or(LinkError("no e2e version"))?)?;
        let keys = param(&q, "x3dh").ok_or(LinkError("no x3dh keys"))?;
        let (k1, k2) = keys
            .split_once(',')
            .ok_or(LinkError("two x3dh keys needed"))?;
        let kem = if versions.max >= crate::ratchet::PQ_VERSION {
            match (param(&q, "kem_key"), param(&q, "kem_ct")) {
                (Some(k), None) => Some(Kem::Proposed(b64(k)?)),
                (Some(k), Some(ct)) => Some(Kem::Accepted(b64(ct)?, b64(k)?)),
                _ => None,
            }
        } else {
            None
        };
        Ok(Self {
            versions,
            key1: key_of(k1, KeyAlgorithm::X448)?,
            key2: key_of(k2, KeyAlgorithm::X448)?,
            kem,
        })
    }

    fn encode_into(&self, out: &mut Vec<u8>) -> Result<()> {
        let enc = |_| LinkError("e2e params too long to encode");
        self.versions.encode(out).map_err(enc)?;
        self.key1.encode(out).map_err(enc)?;
        self.key2.encode(out).map_err(enc)?;
        match &self.kem {
            None => out.push(b'0'),
            Some(Kem::Proposed(k)) => {
                out.extend_from_slice(b"1P");
                put_large(out, k).map_err(enc)?;
            }
            Some(Kem::Accepted(ct, k)) => {
                out.extend_from_slice(b"1A");
                put_large(out, ct).map_err(enc)?;
                put_large(out, k).map_err(enc)?;
            }
        }
        Ok(())
    }

    fn decode_from(r: &mut Reader<'_>) -> Result<Self> {
        let bad = |_| LinkError("bad binary e2e params");
        let versions = VersionRange::decode(r).map_err(bad)?;
        let key1 = PublicKey::decode(r).map_err(bad)?;
        let key2 = PublicKey::decode(r).map_err(bad)?;
        let kem = match r.byte().map_err(bad)? {
            b'0' => None,
            b'1' => match r.byte().map_err(bad)? {
                b'P' => Some(Kem::Proposed(r.large_bytes().map_err(bad)?.to_vec())),
                b'A' => {
                    let ct = r.large_bytes().map_err(bad)?.to_vec();
                    Some(Kem::Accepted(ct, r.large_bytes().map_err(bad)?.to_vec()))
                }
                _ => return Err(LinkError("bad KEM params")),
            },
            _ => return Err(LinkError("bad Maybe")),
        };
        Ok(Self {
            versions,
            key1,
            key2,
            kem,
        })
    }
}

/// The binary form of a relay (`smpEncode` of ProtocolServer), for other agent encodings.
pub fn encode_server(server: &LinkServer, out: &mut Vec<u8>) -> Result<()> {
    server.encode_into(out)
}

/// Parses the binary form of a relay.
pub fn decode_server(r: &mut Reader<'_>) -> Result<LinkServer> {
    LinkServer::decode_from(r)
}

/// What kind of connection a request opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestKind {
    /// A one-time invitation, with the inviter's ratchet parameters.
    Invitation(E2eParams),
    /// A contact address.
    Contact,
}

/// A full connection link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionRequest {
    /// Invitation or contact address.
    pub kind: RequestKind,
    /// Agent versions.
    pub versions: VersionRange,
    /// The queues to send to (at least one).
    pub queues: Vec<QueueUri>,
    /// Application data (`data=`), e.g. a group link's JSON.
    pub client_data: Option<String>,
}

impl ConnectionRequest {
    /// The text form, with the `simplex:` scheme.
    pub fn to_uri(&self) -> String {
        let mode = match self.kind {
            RequestKind::Invitation(_) => "invitation",
            RequestKind::Contact => "contact",
        };
        let queues: Vec<String> = self.queues.iter().map(QueueUri::to_uri).collect();
        let mut params = vec![("v", range_str(self.versions)), ("smp", queues.join(";"))];
        if let RequestKind::Invitation(e2e) = &self.kind {
            params.push(("e2e", e2e.to_text()));
        }
        if let Some(d) = &self.client_data {
            params.push(("data", d.clone()));
        }
        format!("simplex:/{mode}#/?{}", render_query(&params, true))
    }

    /// Parses `simplex:/...` or `https://<host>/...` (also `/invitation/#/?`).
    pub fn parse(s: &str) -> Result<Self> {
        let rest = if let Some(r) = s.strip_prefix("simplex:") {
            r
        } else if let Some(r) = s.strip_prefix("https://") {
            let i = r.find('/').ok_or(LinkError("no path"))?;
            &r[i..]
        } else {
            return Err(LinkError("unknown scheme"));
        };
        let (path, query) = rest.split_once("#/?").ok_or(LinkError("missing '#/?'"))?;
        let path = path.strip_suffix('/').unwrap_or(path);
        let invitation = match path {
            "/invitation" => true,
            "/contact" => false,
            _ => return Err(LinkError("neither invitation nor contact")),
        };
        let q = parse_query(query)?;
        let mut versions = parse_range(param(&q, "v").ok_or(LinkError("no version"))?)?;
        let queues = param(&q, "smp")
            .ok_or(LinkError("no queue"))?
            .split(';')
            .map(QueueUri::parse)
            .collect::<Result<Vec<_>>>()?;
        if queues.is_empty() {
            return Err(LinkError("no queue"));
        }
        let client_data = param(&q, "data").map(str::to_string);
        let kind = if invitation {
            RequestKind::Invitation(E2eParams::parse(
                param(&q, "e2e").ok_or(LinkError("no e2e params"))?,
            )?)
        } else {
            // Old published contact links: at least agent version 2.
            versions = VersionRange::new(versions.min.max(2), versions.max.max(2))
                .ok_or(LinkError("range"))?;
            RequestKind::Contact
        };
        Ok(Self {
            kind,
            versions,
            queues,
            client_data,
        })
    }

    /// The binary form.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let enc = |_| LinkError("request too long to encode");
        let mut out = Vec::new();
        out.push(match self.kind {
            RequestKind::Invitation(_) => b'I',
            RequestKind::Contact => b'C',
        });
        self.versions.encode(&mut out).map_err(enc)?;
        let n = u8::try_from(self.queues.len())
            .ok()
            .filter(|&n| n > 0)
            .ok_or(LinkError("1 to 255 queues"))?;
        out.push(n);
        for q in &self.queues {
            q.encode_into(&mut out)?;
        }
        match &self.client_data {
            None => out.push(b'0'),
            Some(d) => {
                out.push(b'1');
                put_large(&mut out, d.as_bytes()).map_err(enc)?;
            }
        }
        if let RequestKind::Invitation(e2e) = &self.kind {
            e2e.encode_into(&mut out)?;
        }
        Ok(out)
    }

    /// Parses the binary form (a queue without a mode is a contact queue, as the reference
    /// patches it).
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        Self::decode_from(&mut Reader::new(bytes))
    }

    /// As [`ConnectionRequest::decode`], from a reader (what follows is left in it).
    pub fn decode_from(r: &mut Reader<'_>) -> Result<Self> {
        let bad = |_| LinkError("bad binary request");
        let invitation = match r.byte().map_err(bad)? {
            b'I' => true,
            b'C' => false,
            _ => return Err(LinkError("bad request mode")),
        };
        let versions = VersionRange::decode(r).map_err(bad)?;
        let n = r.byte().map_err(bad)?;
        if n == 0 {
            return Err(LinkError("no queue"));
        }
        let mut queues = Vec::with_capacity(usize::from(n));
        for _ in 0..n {
            let mut q = QueueUri::decode_from(r)?;
            q.mode.get_or_insert(QueueMode::Contact);
            queues.push(q);
        }
        let client_data = match r.byte().map_err(bad)? {
            b'0' => None,
            b'1' => Some(String::from_utf8_lossy(r.large_bytes().map_err(bad)?).into_owned()),
            _ => return Err(LinkError("bad Maybe")),
        };
        let kind = if invitation {
            RequestKind::Invitation(E2eParams::decode_from(r)?)
        } else {
            RequestKind::Contact
        };
        Ok(Self {
            kind,
            versions,
            queues,
            client_data,
        })
    }
}

/// What a short link points to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShortLinkKind {
    /// A contact address (`a`).
    Contact,
    /// A group (`g`).
    Group,
    /// A channel (`c`).
    Channel,
    /// A relay (`r`).
    Relay,
    /// A one-time invitation (`i`, with a link id).
    Invitation,
}

impl ShortLinkKind {
    /// The letter of the link's fragment (`a`, `g`, `c`, `r`, `i`).
    pub fn letter(self) -> char {
        match self {
            Self::Contact => 'a',
            Self::Group => 'g',
            Self::Channel => 'c',
            Self::Relay => 'r',
            Self::Invitation => 'i',
        }
    }

    /// The kind a fragment's letter names.
    pub fn from_letter(c: &str) -> Option<Self> {
        Some(match c {
            "a" => Self::Contact,
            "g" => Self::Group,
            "c" => Self::Channel,
            "r" => Self::Relay,
            "i" => Self::Invitation,
            _ => return None,
        })
    }
}

/// A short link (SMP v15 relays): the link data is fetched with LGET / LKEY and decrypted with
/// the link key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShortLink {
    /// `simplex:/` (true) or `https://<first host>/`.
    pub simplex_scheme: bool,
    /// What it points to.
    pub kind: ShortLinkKind,
    /// The relay (host-only when shortened for a preset relay).
    pub server: LinkServer,
    /// The link id (invitations only; for contacts it is derived from the key).
    pub link_id: Option<Vec<u8>>,
    /// The key that decrypts the link data.
    pub link_key: Vec<u8>,
}

fn b64_unpadded(b: &[u8]) -> String {
    base64url::encode(b).trim_end_matches('=').to_string()
}

impl ShortLink {
    /// The text form.
    pub fn to_link(&self) -> String {
        let mut fragment = String::new();
        if let Some(id) = &self.link_id {
            fragment.push_str(&b64_unpadded(id));
            fragment.push('/');
        }
        fragment.push_str(&b64_unpadded(&self.link_key));
        let first = self.server.hosts.first().cloned().unwrap_or_default();
        let hosts = if self.simplex_scheme {
            self.server.hosts.join(",")
        } else {
            self.server.hosts.get(1..).unwrap_or_default().join(",")
        };
        let mut params = Vec::new();
        if !hosts.is_empty() {
            params.push(("h", hosts));
        }
        if !self.server.port.is_empty() {
            params.push(("p", self.server.port.clone()));
        }
        if !self.server.key_hash.is_empty() {
            params.push(("c", b64_unpadded(&self.server.key_hash)));
        }
        let query = if params.is_empty() {
            String::new()
        } else {
            format!("?{}", render_query(&params, true))
        };
        let t = self.kind.letter();
        if self.simplex_scheme {
            format!("simplex:/{t}#{fragment}{query}")
        } else {
            format!("https://{first}/{t}#{fragment}{query}")
        }
    }

    /// Parses `https://<host>/<t>#...` or `simplex:/<t>#...`.
    pub fn parse(s: &str) -> Result<Self> {
        let (simplex_scheme, first_host, rest) = if let Some(r) = s.strip_prefix("simplex:/") {
            (true, None, r)
        } else if let Some(r) = s.strip_prefix("https://") {
            let (host, r) = r.split_once('/').ok_or(LinkError("no path"))?;
            (false, Some(host.to_string()), r)
        } else {
            return Err(LinkError("unknown scheme"));
        };
        let (t, rest) = rest.split_once('#').ok_or(LinkError("missing '#'"))?;
        let kind = ShortLinkKind::from_letter(t).ok_or(LinkError("unknown short link type"))?;
        let (fragment, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (link_id, link_key) = match fragment.split_once('/') {
            Some((id, key)) => (Some(b64(id)?), b64(key)?),
            None => (None, b64(fragment)?),
        };
        if (kind == ShortLinkKind::Invitation) != link_id.is_some() {
            return Err(LinkError("only invitations have a link id"));
        }
        let q = parse_query(query)?;
        let mut hosts: Vec<String> = first_host.into_iter().collect();
        if let Some(h) = param(&q, "h") {
            hosts.extend(h.split(',').filter(|h| !h.is_empty()).map(str::to_string));
        }
        if hosts.is_empty() || hosts.iter().any(|h| h.is_empty()) {
            return Err(LinkError("no host"));
        }
        let key_hash = match param(&q, "c") {
            Some(c) if !c.is_empty() => b64(c)?,
            _ => Vec::new(),
        };
        Ok(Self {
            simplex_scheme,
            kind,
            server: LinkServer {
                hosts,
                port: param(&q, "p").unwrap_or("").to_string(),
                key_hash,
            },
            link_id,
            link_key,
        })
    }

    /// The binary form (the scheme is not kept).
    pub fn encode(&self) -> Result<Vec<u8>> {
        let enc = |_| LinkError("short link too long to encode");
        let mut out = Vec::new();
        match (self.kind, &self.link_id) {
            (ShortLinkKind::Invitation, Some(id)) => {
                out.push(b'I');
                self.server.encode_into(&mut out)?;
                put_short(&mut out, id).map_err(enc)?;
            }
            (ShortLinkKind::Invitation, None) => return Err(LinkError("invitation without id")),
            (k, _) => {
                out.push(b'C');
                out.push(match k {
                    ShortLinkKind::Contact => b'A',
                    ShortLinkKind::Channel => b'C',
                    ShortLinkKind::Group => b'G',
                    _ => b'R',
                });
                self.server.encode_into(&mut out)?;
            }
        }
        put_short(&mut out, &self.link_key).map_err(enc)?;
        Ok(out)
    }

    /// Parses the binary form (as an `https://` link).
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let mut r = Reader::new(bytes);
        let link = Self::decode_from(&mut r)?;
        r.finish().map_err(|_| LinkError("bad binary short link"))?;
        Ok(link)
    }

    /// As [`ShortLink::decode`], from a reader (what follows is left in it).
    pub fn decode_from(r: &mut Reader<'_>) -> Result<Self> {
        let bad = |_| LinkError("bad binary short link");
        let (kind, server, link_id) = match r.byte().map_err(bad)? {
            b'I' => {
                let server = LinkServer::decode_from(r)?;
                let id = r.short_bytes().map_err(bad)?.to_vec();
                (ShortLinkKind::Invitation, server, Some(id))
            }
            b'C' => {
                let kind = match r.byte().map_err(bad)? {
                    b'A' => ShortLinkKind::Contact,
                    b'C' => ShortLinkKind::Channel,
                    b'G' => ShortLinkKind::Group,
                    b'R' => ShortLinkKind::Relay,
                    _ => return Err(LinkError("bad short link type")),
                };
                (kind, LinkServer::decode_from(r)?, None)
            }
            _ => return Err(LinkError("bad short link tag")),
        };
        let link_key = r.short_bytes().map_err(bad)?.to_vec();
        Ok(Self {
            simplex_scheme: false,
            kind,
            server,
            link_id,
            link_key,
        })
    }
}

impl LinkServer {
    /// Whether this server is one of `presets` (same first host, hosts among the preset's,
    /// same key hash, same port or a default port against a preset without one).
    pub fn is_preset(&self, presets: &[LinkServer]) -> bool {
        let Some(first) = self.hosts.first() else {
            return false;
        };
        presets
            .iter()
            .find(|p| p.hosts.first() == Some(first))
            .is_some_and(|p| {
                self.hosts.iter().all(|h| p.hosts.contains(h))
                    && (self.port == p.port
                        || (p.port.is_empty() && matches!(self.port.as_str(), "443" | "5223")))
                    && self.key_hash == p.key_hash
            })
    }

    /// For a short link: a preset server shrinks to its first host.
    pub fn shorten(&self, presets: &[LinkServer]) -> LinkServer {
        if self.is_preset(presets) {
            LinkServer {
                hosts: self.hosts[..1].to_vec(),
                port: String::new(),
                key_hash: Vec::new(),
            }
        } else {
            self.clone()
        }
    }

    /// From a short link: a host-only server becomes the preset with that first host.
    pub fn restore(&self, presets: &[LinkServer]) -> LinkServer {
        let host_only = self.hosts.len() == 1 && self.port.is_empty() && self.key_hash.is_empty();
        if host_only {
            if let Some(p) = presets
                .iter()
                .find(|p| p.hosts.first() == self.hosts.first())
            {
                return p.clone();
            }
        }
        self.clone()
    }
}
