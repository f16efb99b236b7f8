//! An SMP client connection: TLS, the handshake, block encryption, and requests pipelined and
//! batched over one connection, with pushes (MSG, END, DELD) delivered as events.
//!
//! ```text
//! call / call_many ─► encode + sign ─► writer task: everything queued is packed into blocks
//!                                      as the reference packs them (135 signed SUBs a block)
//! reader task: block ─► transmissions ─► corrId known? answer the waiting call : Event
//! ```
//!
//! ```no_run
//! # async fn f() -> Result<(), smp_client::ClientError> {
//! use smp_proto::{BrokerMsg, Command};
//! let key_hash = [0u8; 32]; // from the relay's address
//! let (client, mut events) =
//!     smp_client::SmpClient::connect("127.0.0.1:5223".parse().unwrap(), &key_hash, Default::default()).await?;
//! assert_eq!(client.call(None, b"", &Command::Ping).await?, BrokerMsg::Pong);
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use simplex_codec::encoding::{pad, unpad};
use simplex_codec::limits::SMP_BLOCK_SIZE;
use simplex_crypto::{KeyAlgorithm, PrivateKey, PublicKey};
use smp_proto::block::{decode_content, encode_content, pack, Packed};
use smp_proto::handshake::{block_chains, BlockChain, ClientHello, ServerHello};
use smp_proto::transmission::Transmission;
use smp_proto::{BrokerMsg, Command, ErrorType, Version, VersionRange};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};

pub mod proxy;
mod session;
pub use session::Session;

/// What a connection needs besides the relay's address.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Time allowed for TCP, TLS and the SMP handshake.
    pub connect_timeout: Duration,
    /// Time allowed for each answer.
    pub response_timeout: Duration,
    /// Versions offered (the reference's 6..18 by default).
    pub versions: VersionRange,
    /// Pushes waiting to be taken from the event channel.
    pub event_queue: usize,
    /// Sessions send PING this often and reconnect if it gets no answer (the
    /// reference agent pings every 10 minutes; the relay drops idle connections without
    /// subscriptions).
    pub keep_alive: Duration,
    /// Connect as a relay forwarding its clients' commands (the hello's proxy-server flag,
    /// v14+): blocks are then not encrypted, RFWD carries its own encryption.
    pub proxy_server: bool,
    /// Connect through this SOCKS5 proxy (Tor), host names resolved by the proxy.
    pub socks: Option<transport::SocksProxy>,
    /// Which of a relay's hosts to use and which connections go through the proxy.
    pub network: transport::hosts::NetworkMode,
    /// When messages to other users' queues go through one of our own relays (private
    /// message routing: PRXY / PFWD), so that their relay never sees our address.
    pub private_routing: PrivateRouting,
    /// When a message that could not go through our relay may go directly after all.
    pub routing_fallback: RoutingFallback,
}

/// When to route messages privately (the reference's `--smp-proxy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PrivateRouting {
    /// Every message to another user's queue.
    Always,
    /// Messages to queues on relays that are not ours (the reference's default).
    Unknown,
    /// As `Unknown`, when our address is not hidden by a SOCKS proxy.
    Unprotected,
    /// Never: messages go directly to the queue's relay.
    #[default]
    Never,
}

impl std::str::FromStr for PrivateRouting {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "always" => Self::Always,
            "unknown" => Self::Unknown,
            "unprotected" => Self::Unprotected,
            "never" => Self::Never,
            _ => return Err(format!("{s:?}: always, unknown, unprotected or never")),
        })
    }
}

/// When a message may go directly after private routing failed (the reference's
/// `--smp-proxy-fallback`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RoutingFallback {
    /// Never: it waits and is tried through our relay again.
    No,
    /// When our address is hidden by a SOCKS proxy (the reference's default).
    #[default]
    Protected,
    /// Always.
    Yes,
}

impl std::str::FromStr for RoutingFallback {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "no" => Self::No,
            "protected" => Self::Protected,
            "yes" => Self::Yes,
            _ => return Err(format!("{s:?}: no, protected or yes")),
        })
    }
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(30),
            response_timeout: Duration::from_secs(30),
            versions: smp_proto::version::SUPPORTED,
            event_queue: 1024,
            keep_alive: Duration::from_secs(600),
            proxy_server: false,
            socks: None,
            network: transport::hosts::NetworkMode::default(),
            private_routing: PrivateRouting::default(),
            routing_fallback: RoutingFallback::default(),
        }
    }
}

/// What the relay proved in its hello (v7+).
#[derive(Debug, Clone)]
pub struct ServerAuth {
    /// Its certificate chain (online certificate first).
    pub chain: Vec<Vec<u8>>,
    /// Its X25519 session key signed by the online key (DER), as sent.
    pub signed_key: Vec<u8>,
    /// The session key.
    pub session_key: PublicKey,
    /// DH of the session key and this client's handshake key.
    pub session_secret: simplex_crypto::SbKey,
}

/// Why a call or a connection failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// Connecting, reading or writing failed; retrying on a new connection may help.
    #[error("network: {0}")]
    Network(String),
    /// TLS failed or the relay is not the one in the address.
    #[error("TLS: {0}")]
    Tls(String),
    /// The SMP handshake failed (no common version, bad signature, ...).
    #[error("handshake: {0}")]
    Handshake(String),
    /// No answer in time.
    #[error("no answer within the timeout")]
    Timeout,
    /// The connection is closed.
    #[error("the connection is closed")]
    Closed,
    /// A block or answer that does not parse.
    #[error("bad answer from the relay")]
    BadAnswer,
    /// A command that cannot be encoded.
    #[error("cannot encode the command")]
    Encode,
    /// A transmission larger than a block (the reference's `TELargeMsg`).
    #[error("the command does not fit a transport block")]
    TooLarge,
}

impl ClientError {
    /// Whether trying again (on a new connection) may succeed.
    pub fn is_retriable(&self) -> bool {
        matches!(self, Self::Network(_) | Self::Timeout | Self::Closed)
    }
}

/// A message the relay sent without being asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A message on a subscribed queue (recipient id, message id, encrypted body).
    Msg(Vec<u8>, Vec<u8>, Vec<u8>),
    /// Another connection subscribed to the queue.
    End(Vec<u8>),
    /// The queue was deleted by another connection.
    Deld(Vec<u8>),
    /// Anything else, with its entity id.
    Other(Vec<u8>, BrokerMsg),
    /// (Sessions) the connection was lost; reconnecting.
    Disconnected,
    /// (Sessions) connected again, with this many queues subscribed again.
    Reconnected(usize),
    /// (Sessions) queues the relay no longer has (AUTH to SUB after a reconnection): no longer
    /// subscribed; sent before [`Event::Reconnected`].
    SubscriptionsLost(Vec<Vec<u8>>),
}

type Pending = Arc<Mutex<HashMap<Vec<u8>, oneshot::Sender<BrokerMsg>>>>;

/// One connection to an SMP relay.
#[derive(Debug, Clone)]
pub struct SmpClient {
    version: Version,
    session_id: Vec<u8>,
    server_range: VersionRange,
    server_auth: Option<Arc<ServerAuth>>,
    outgoing: mpsc::Sender<Vec<u8>>,
    pending: Pending,
    response_timeout: Duration,
    closed: tokio::sync::watch::Receiver<bool>,
    /// When the last clone is dropped, the connection closes.
    closer: Arc<Closer>,
}

/// Ends the connection's reader (and so the connection) when the last client clone goes.
#[derive(Debug)]
struct Closer(tokio::sync::watch::Sender<bool>);

impl Drop for Closer {
    fn drop(&mut self) {
        self.0.send_replace(true);
    }
}

/// The port and ALPN of a connection to `server`, as the reference's `useWebPort`: a relay on
/// the web port is reached with ALPN `http/1.1`, on port 443 when its address names none; the
/// others with `smp/1` on the address's port (5223 when none).
pub fn port_and_alpn(
    server: &smp_proto::address::SmpServer,
    web_port: transport::hosts::WebPort,
) -> (u16, &'static [u8]) {
    let first = server
        .hosts
        .first()
        .map(|h| h.to_string())
        .unwrap_or_default();
    if web_port.applies(&first) {
        let port = if server.port.is_empty() {
            443
        } else {
            server.port_number()
        };
        (port, transport::ALPN_HTTP11)
    } else {
        (server.port_number(), transport::ALPN_SMP)
    }
}

/// A request for [`SmpClient::call_many`]: authorizing key, entity id, command.
pub type Request<'a> = (Option<&'a PrivateKey>, &'a [u8], &'a Command);

impl SmpClient {
    /// Connects to the relay at `addr` whose identity hashes to `key_hash`.
    pub async fn connect(
        addr: SocketAddr,
        key_hash: &[u8; 32],
        opts: ConnectOptions,
    ) -> Result<(Self, mpsc::Receiver<Event>), ClientError> {
        Self::connect_host(&addr.ip().to_string(), addr.port(), key_hash, opts).await
    }

    /// Connects to a relay by its address, trying its hosts in the order `opts.network` gives
    /// (with a SOCKS proxy the onion host first; `.onion` hosts only through the proxy).
    pub async fn connect_server(
        server: &smp_proto::address::SmpServer,
        opts: ConnectOptions,
    ) -> Result<(Self, mpsc::Receiver<Event>), ClientError> {
        let kh = server
            .key_hash_array()
            .ok_or_else(|| ClientError::Handshake("the key hash is not 32 bytes".into()))?;
        let hosts: Vec<String> = server.connect_hosts().collect();
        let plan = transport::hosts::plan(&hosts, opts.socks.is_some(), opts.network)
            .map_err(ClientError::Network)?;
        let (port, alpn) = port_and_alpn(server, opts.network.web_port);
        let mut last = ClientError::Network("no host to connect to".into());
        for (host, via_proxy) in plan {
            let opts = ConnectOptions {
                socks: opts.socks.clone().filter(|_| via_proxy),
                ..opts.clone()
            };
            match Self::connect_timed(&host, port, &kh, &opts, alpn).await {
                Ok(c) => return Ok(c),
                Err(e) if e.is_retriable() => last = e,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    /// Connects to the relay at `host:port` (a name, an address, or an onion host with a
    /// SOCKS proxy in `opts`) whose identity hashes to `key_hash`.
    pub async fn connect_host(
        host: &str,
        port: u16,
        key_hash: &[u8; 32],
        opts: ConnectOptions,
    ) -> Result<(Self, mpsc::Receiver<Event>), ClientError> {
        Self::connect_timed(host, port, key_hash, &opts, transport::ALPN_SMP).await
    }

    /// [`SmpClient::connect_inner`] within the options' connect timeout.
    async fn connect_timed(
        host: &str,
        port: u16,
        key_hash: &[u8; 32],
        opts: &ConnectOptions,
        alpn: &[u8],
    ) -> Result<(Self, mpsc::Receiver<Event>), ClientError> {
        tokio::time::timeout(
            opts.connect_timeout,
            Self::connect_inner(host, port, key_hash, opts, alpn),
        )
        .await
        .map_err(|_| ClientError::Timeout)?
    }

    async fn connect_inner(
        host: &str,
        port: u16,
        key_hash: &[u8; 32],
        opts: &ConnectOptions,
        alpn: &[u8],
    ) -> Result<(Self, mpsc::Receiver<Event>), ClientError> {
        let net = |e: std::io::Error| ClientError::Network(e.to_string());
        let tcp = match &opts.socks {
            Some(proxy) => transport::socks::connect(proxy, host, port)
                .await
                .map_err(net)?,
            None => {
                let bare = host.trim_start_matches('[').trim_end_matches(']');
                TcpStream::connect((bare, port)).await.map_err(net)?
            }
        };
        let _ = tcp.set_nodelay(true);
        let connector = transport::shared_client_connector(alpn)
            .map_err(|e| ClientError::Tls(e.to_string()))?;
        let mut tls = transport::connect(connector, tcp, key_hash)
            .await
            .map_err(|e| ClientError::Tls(e.to_string()))?;
        let session_id = transport::session_id(tls.ssl());
        let mut block = vec![0u8; SMP_BLOCK_SIZE];
        tls.read_exact(&mut block).await.map_err(net)?;
        let hello = unpad(&block)
            .ok()
            .and_then(|c| ServerHello::decode(c).ok())
            .ok_or_else(|| ClientError::Handshake("malformed server hello".into()))?;
        if hello.session_id != session_id {
            return Err(ClientError::Handshake(
                "the session id is not the TLS session's".into(),
            ));
        }
        let version = hello
            .range
            .highest_common(opts.versions)
            .ok_or_else(|| ClientError::Handshake("no common version".into()))?;
        let (my_pub, my_priv) = simplex_crypto::generate(KeyAlgorithm::X25519)
            .map_err(|e| ClientError::Handshake(e.to_string()))?;
        let mut chains = None;
        let mut session_key = None;
        let mut server_auth = None;
        if let Some((chain, signed)) = &hello.auth {
            let signer = online_key(chain)?;
            let server_key =
                simplex_crypto::signed::verify_signed_key(signed, &signer).map_err(|_| {
                    ClientError::Handshake("the session key is not signed by the relay".into())
                })?;
            let session_secret = simplex_crypto::cryptobox::shared_key(&my_priv, &server_key)
                .map_err(|e| ClientError::Handshake(e.to_string()))?;
            server_auth = Some(Arc::new(ServerAuth {
                chain: chain.clone(),
                signed_key: signed.clone(),
                session_key: server_key.clone(),
                session_secret,
            }));
            let proxy =
                opts.proxy_server && version >= smp_proto::handshake::PROXY_SERVER_HANDSHAKE;
            if version >= smp_proto::version::BLOCK_ENCRYPTION && !proxy {
                let secret = simplex_crypto::dh(&my_priv, &server_key)
                    .map_err(|e| ClientError::Handshake(e.to_string()))?;
                chains = Some(
                    block_chains(&session_id, &secret)
                        .map_err(|e| ClientError::Handshake(e.to_string()))?,
                );
            }
            session_key = Some(my_pub);
        }
        let client = ClientHello {
            version,
            key_hash: key_hash.to_vec(),
            session_key: if version >= smp_proto::version::IMPLIED_SESSION_ID {
                session_key
            } else {
                None
            },
            proxy_server: opts.proxy_server
                && version >= smp_proto::handshake::PROXY_SERVER_HANDSHAKE,
            service: None,
        };
        let content = client.encode().map_err(|_| ClientError::Encode)?;
        let block = pad(&content, SMP_BLOCK_SIZE).map_err(|_| ClientError::Encode)?;
        tls.write_all(&block).await.map_err(net)?;
        // Server → client chain first, client → server second.
        let (recv_chain, send_chain) = match chains {
            Some((s, c)) => (Some(s), Some(c)),
            None => (None, None),
        };
        let (rd, wr) = tokio::io::split(tls);
        let pending: Pending = Arc::default();
        let pending_r = pending.clone();
        let (out_tx, out_rx) = mpsc::channel::<Vec<u8>>(1024);
        let (ev_tx, ev_rx) = mpsc::channel(opts.event_queue.max(1));
        let (closed_tx, closed) = tokio::sync::watch::channel(false);
        let (drop_tx, mut dropped) = tokio::sync::watch::channel(false);
        tokio::spawn(writer(wr, out_rx, send_chain));
        tokio::spawn(async move {
            tokio::select! {
                () = reader(rd, recv_chain, version, pending_r.clone(), ev_tx) => {}
                _ = dropped.wait_for(|d| *d) => {}
            }
            pending_r.lock().unwrap_or_else(|p| p.into_inner()).clear();
            closed_tx.send_replace(true);
        });
        Ok((
            Self {
                version,
                session_id,
                server_range: hello.range,
                server_auth,
                outgoing: out_tx,
                pending,
                response_timeout: opts.response_timeout,
                closed,
                closer: Arc::new(Closer(drop_tx)),
            },
            ev_rx,
        ))
    }

    /// Resolves once the connection is closed (by the relay, the network or an error).
    pub async fn closed(&self) {
        let mut rx = self.closed.clone();
        let _ = rx.wait_for(|c| *c).await;
    }

    /// Whether the connection is closed.
    pub fn is_closed(&self) -> bool {
        *self.closed.borrow()
    }

    /// Closes the connection now (for every clone): waiting calls fail with `Closed`.
    pub fn abort(&self) {
        self.closer.0.send_replace(true);
    }

    /// A signal that turns true when the connection closes, without keeping it open.
    pub fn closed_signal(&self) -> tokio::sync::watch::Receiver<bool> {
        self.closed.clone()
    }

    /// The negotiated version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The TLS session id (tls-unique).
    pub fn session_id(&self) -> &[u8] {
        &self.session_id
    }

    /// The versions the relay offered.
    pub fn server_range(&self) -> VersionRange {
        self.server_range
    }

    /// What the relay proved in its hello (v7+).
    pub fn server_auth(&self) -> Option<&ServerAuth> {
        self.server_auth.as_deref()
    }

    /// Sends one command with a chosen 24-byte corrId (private routing uses it as a nonce).
    pub async fn call_with_corr_id(
        &self,
        corr_id: [u8; 24],
        key: Option<&PrivateKey>,
        entity: &[u8],
        cmd: &Command,
    ) -> Result<BrokerMsg, ClientError> {
        let (corr, rx) = self.enqueue_as(corr_id.to_vec(), key, entity, cmd).await?;
        match tokio::time::timeout(self.response_timeout, rx).await {
            Ok(Ok(m)) => Ok(m),
            Ok(Err(_)) => Err(ClientError::Closed),
            Err(_) => {
                self.forget(&corr);
                Err(ClientError::Timeout)
            }
        }
    }

    /// Sends one command and waits for its answer.
    pub async fn call(
        &self,
        key: Option<&PrivateKey>,
        entity: &[u8],
        cmd: &Command,
    ) -> Result<BrokerMsg, ClientError> {
        let mut answers = self.call_many(&[(key, entity, cmd)]).await;
        answers.pop().unwrap_or(Err(ClientError::Closed))
    }

    /// Sends many commands at once (they travel in as few blocks as the packing allows) and
    /// waits for every answer, in order.
    pub async fn call_many(&self, reqs: &[Request<'_>]) -> Vec<Result<BrokerMsg, ClientError>> {
        let mut waits = Vec::with_capacity(reqs.len());
        for (key, entity, cmd) in reqs {
            waits.push(self.enqueue(*key, entity, cmd).await);
        }
        let mut out = Vec::with_capacity(waits.len());
        for w in waits {
            out.push(match w {
                Err(e) => Err(e),
                Ok((corr, rx)) => match tokio::time::timeout(self.response_timeout, rx).await {
                    Ok(Ok(m)) => Ok(m),
                    Ok(Err(_)) => Err(ClientError::Closed),
                    Err(_) => {
                        self.forget(&corr);
                        Err(ClientError::Timeout)
                    }
                },
            });
        }
        out
    }

    /// How many calls wait for their answer.
    pub fn in_flight(&self) -> usize {
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    fn forget(&self, corr: &[u8]) {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(corr);
    }

    async fn enqueue(
        &self,
        key: Option<&PrivateKey>,
        entity: &[u8],
        cmd: &Command,
    ) -> Result<(Vec<u8>, oneshot::Receiver<BrokerMsg>), ClientError> {
        let mut corr_id = vec![0u8; 24];
        simplex_crypto::random_bytes(&mut corr_id);
        self.enqueue_as(corr_id, key, entity, cmd).await
    }

    async fn enqueue_as(
        &self,
        corr_id: Vec<u8>,
        key: Option<&PrivateKey>,
        entity: &[u8],
        cmd: &Command,
    ) -> Result<(Vec<u8>, oneshot::Receiver<BrokerMsg>), ClientError> {
        let mut t = Transmission {
            corr_id: corr_id.clone(),
            entity_id: entity.to_vec(),
            command: cmd.encode(self.version).map_err(|_| ClientError::Encode)?,
            session_id: if self.version < smp_proto::version::IMPLIED_SESSION_ID {
                self.session_id.clone()
            } else {
                Vec::new()
            },
            ..Transmission::default()
        };
        if let Some(k) = key {
            let signed = t
                .authorized(&self.session_id)
                .map_err(|_| ClientError::Encode)?;
            t.authorization = simplex_crypto::sign(k, &signed).map_err(|_| ClientError::Encode)?;
        }
        let bytes = t.encode(self.version).map_err(|_| ClientError::Encode)?;
        if bytes.len() + 2 > smp_proto::BATCH_ROOM {
            return Err(ClientError::TooLarge);
        }
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(corr_id.clone(), tx);
        if self.outgoing.send(bytes).await.is_err() {
            self.forget(&corr_id);
            return Err(ClientError::Closed);
        }
        Ok((corr_id, rx))
    }
}

/// The online certificate's public key (the first of the chain).
pub(crate) fn online_key(chain: &[Vec<u8>]) -> Result<PublicKey, ClientError> {
    let bad = || ClientError::Handshake("bad certificate in the server hello".into());
    let cert = openssl::x509::X509::from_der(chain.first().ok_or_else(bad)?).map_err(|_| bad())?;
    let key = cert.public_key().map_err(|_| bad())?;
    let alg = match key.id() {
        openssl::pkey::Id::ED25519 => KeyAlgorithm::Ed25519,
        openssl::pkey::Id::ED448 => KeyAlgorithm::Ed448,
        _ => return Err(bad()),
    };
    let raw = key.raw_public_key().map_err(|_| bad())?;
    PublicKey::from_raw(alg, &raw).map_err(|_| bad())
}

/// Packs everything queued into blocks and writes them.
async fn writer<W: tokio::io::AsyncWrite + Unpin>(
    mut wr: W,
    mut rx: mpsc::Receiver<Vec<u8>>,
    mut chain: Option<BlockChain>,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        // Requests made by other tasks meanwhile share the block (one turn, no timer).
        tokio::task::yield_now().await;
        while batch.len() < 4096 {
            match rx.try_recv() {
                Ok(t) => batch.push(t),
                Err(_) => break,
            }
        }
        let lengths: Vec<usize> = batch.iter().map(Vec::len).collect();
        for p in pack(&lengths) {
            // Never happens: `enqueue` refuses transmissions larger than a block.
            let Packed::Block { first, count } = p else {
                continue;
            };
            let Ok(content) = encode_content(&batch[first..first + count]) else {
                return;
            };
            let block = match &mut chain {
                Some(c) => match c.seal(&content) {
                    Ok(b) => b,
                    Err(_) => return,
                },
                None => match pad(&content, SMP_BLOCK_SIZE) {
                    Ok(b) => b,
                    Err(_) => return,
                },
            };
            if wr.write_all(&block).await.is_err() {
                return;
            }
        }
        if wr.flush().await.is_err() {
            return;
        }
    }
}

/// Reads blocks; answers go to their callers, pushes to the event channel.
async fn reader<R: tokio::io::AsyncRead + Unpin>(
    mut rd: R,
    mut chain: Option<BlockChain>,
    version: Version,
    pending: Pending,
    events: mpsc::Sender<Event>,
) {
    let mut block = vec![0u8; SMP_BLOCK_SIZE];
    loop {
        if rd.read_exact(&mut block).await.is_err() {
            break;
        }
        let content = match &mut chain {
            Some(c) => match c.open(&block) {
                Ok(c) => c,
                Err(_) => break,
            },
            None => match unpad(&block) {
                Ok(c) => c.to_vec(),
                Err(_) => break,
            },
        };
        let Ok(items) = decode_content(&content) else {
            break;
        };
        for bytes in items {
            let Ok(t) = Transmission::decode(bytes, version) else {
                continue;
            };
            let msg =
                BrokerMsg::parse(version, &t.command).unwrap_or(BrokerMsg::Err(ErrorType::Block));
            let waiting = if t.corr_id.is_empty() {
                None
            } else {
                pending
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&t.corr_id)
            };
            match waiting {
                Some(tx) => {
                    let _ = tx.send(msg);
                }
                None => {
                    let ev = match msg {
                        BrokerMsg::Msg(id, body) => Event::Msg(t.entity_id, id, body),
                        BrokerMsg::End => Event::End(t.entity_id),
                        BrokerMsg::Deld => Event::Deld(t.entity_id),
                        other => Event::Other(t.entity_id, other),
                    };
                    if events.send(ev).await.is_err() {
                        // Nobody listens for pushes any more; answers still matter.
                    }
                }
            }
        }
    }
    // Closed: every waiting call fails now rather than at its timeout.
    pending.lock().unwrap_or_else(|p| p.into_inner()).clear();
}
