//! The relay on the network: TLS, the SMP handshake, then blocks both ways.
//!
//! ```text
//! accept ─► TLS (ALPN smp/1, h2 or http/1.1: versions 6..18; none: 6 only) ─► server hello (session key
//!   signed with the online key) ─► client hello (version, key hash, its session key)
//!   ─► reader: block ─► decrypt (v11+ with a key) ─► transmissions ─► Relay::handle
//!   ─► writer: answers and pushes, batched into blocks as the reference packs them
//! ```
//!
//! A client that does not read blocks its own reader (bounded queue), never the relay.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use simplex_codec::encoding::{pad, unpad};
use simplex_codec::limits::SMP_BLOCK_SIZE;
use simplex_crypto::{KeyAlgorithm, PrivateKey};
use smp_proto::block::{decode_content, encode_content, pack, Packed};
use smp_proto::handshake::{block_chains, BlockChain, ClientHello, ServerHello};
use smp_proto::transmission::Transmission;
use smp_proto::version::IMPLIED_SESSION_ID;
use smp_proto::{BrokerMsg, Command, ErrorType, Version};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::relay::{Conn, Outgoing, Relay};

/// Time allowed from TCP accept to a finished SMP handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// Answers waiting for the writer, per connection.
const ANSWER_QUEUE: usize = 16;
/// Transmissions the writer gathers before it writes (a few blocks' worth).
const WRITE_BATCH: usize = 1024;

/// What a listening relay needs.
pub struct Endpoint {
    /// TLS acceptor with the relay's identity.
    pub acceptor: openssl::ssl::SslAcceptor,
    /// DER of [online certificate, CA].
    pub chain_der: Vec<Vec<u8>>,
    /// SHA-256 of the CA certificate: what clients pin.
    pub key_hash: [u8; 32],
    /// The online key, to sign session keys.
    pub online_key: PrivateKey,
    /// Private routing for this relay's clients (PRXY / PFWD); `None`: refused.
    pub proxy: Option<Arc<crate::proxy::ProxyAgent>>,
    /// Connections without subscriptions are closed after this long without a block.
    pub inactive_ttl: Option<Duration>,
    /// One permit per open connection; when none is left, new ones are closed at accept.
    pub connections: Arc<tokio::sync::Semaphore>,
}

/// File descriptors kept for everything but client connections (logs, journals, listeners,
/// proxy connections).
const FD_RESERVE: u64 = 256;

/// The configured connection cap, lowered to what the open-file limit carries.
pub fn connection_cap(configured: usize) -> usize {
    relay_config::connection_cap(configured, FD_RESERVE)
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint").finish_non_exhaustive()
    }
}

/// Accepts connections until the listener fails or `stop` turns true (which also closes
/// every connection).
pub async fn serve(
    listener: TcpListener,
    endpoint: Arc<Endpoint>,
    relay: Arc<Relay>,
    stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if *stop.borrow() {
            return;
        }
        let Ok(permit) = endpoint.connections.clone().try_acquire_owned() else {
            tracing::debug!("connection from {peer} closed: the connection limit is reached");
            drop(tcp);
            continue;
        };
        let (endpoint, relay, stop) = (endpoint.clone(), relay.clone(), stop.clone());
        tokio::spawn(async move {
            if let Err(e) = connection(tcp, &endpoint, relay, stop).await {
                tracing::debug!("connection from {peer}: {e}");
            }
            drop(permit);
        });
    }
}

/// Why a connection ended.
#[derive(Debug, thiserror::Error)]
pub enum ConnError {
    /// TLS failed.
    #[error("TLS: {0}")]
    Tls(String),
    /// The handshake took too long.
    #[error("handshake timed out")]
    Timeout,
    /// The client's hello is malformed, offers no common version or pins another relay.
    #[error("handshake: {0}")]
    Handshake(&'static str),
    /// Reading or writing failed (also a normal close).
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// A block could not be decrypted.
    #[error("bad block")]
    Block,
}

struct Session {
    version: Version,
    session_id: Vec<u8>,
    server_key: Option<PrivateKey>,
    session_secret: Option<simplex_crypto::SbKey>,
    chains: Option<(BlockChain, BlockChain)>,
}

async fn connection(
    tcp: TcpStream,
    endpoint: &Endpoint,
    relay: Arc<Relay>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Result<(), ConnError> {
    let _ = tcp.set_nodelay(true);
    let ssl = openssl::ssl::Ssl::new(endpoint.acceptor.context())
        .map_err(|e| ConnError::Tls(e.to_string()))?;
    let mut tls =
        tokio_openssl::SslStream::new(ssl, tcp).map_err(|e| ConnError::Tls(e.to_string()))?;
    let session = tokio::time::timeout(HANDSHAKE_TIMEOUT, async {
        std::pin::Pin::new(&mut tls)
            .accept()
            .await
            .map_err(|e| ConnError::Tls(e.to_string()))?;
        handshake(&mut tls, endpoint).await
    })
    .await
    .map_err(|_| ConnError::Timeout)??;
    run(
        tls,
        session,
        relay,
        endpoint.proxy.clone(),
        endpoint.inactive_ttl,
        stop,
    )
    .await
}

async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
    tls: &mut tokio_openssl::SslStream<S>,
    endpoint: &Endpoint,
) -> Result<Session, ConnError> {
    // As the reference: any ALPN negotiated (`smp/1`, or `h2` / `http/1.1` of a client on the
    // web port) gets the current versions; none, the legacy one.
    let range = if tls.ssl().selected_alpn_protocol().is_some() {
        smp_proto::version::SUPPORTED
    } else {
        smp_proto::version::LEGACY
    };
    let session_id = transport::session_id(tls.ssl());
    let (server_pub, server_key) = simplex_crypto::generate(KeyAlgorithm::X25519)
        .map_err(|_| ConnError::Handshake("key generation failed"))?;
    let signed = simplex_crypto::signed::sign_key(&endpoint.online_key, &server_pub)
        .map_err(|_| ConnError::Handshake("signing the session key failed"))?;
    let hello = ServerHello {
        range,
        session_id: session_id.clone(),
        auth: Some((endpoint.chain_der.clone(), signed)),
    };
    let content = hello
        .encode()
        .map_err(|_| ConnError::Handshake("server hello too large"))?;
    let block = pad(&content, SMP_BLOCK_SIZE)
        .map_err(|_| ConnError::Handshake("server hello too large"))?;
    tls.write_all(&block).await?;
    tls.flush().await?;
    let mut block = vec![0u8; SMP_BLOCK_SIZE];
    tls.read_exact(&mut block).await?;
    let client = unpad(&block)
        .ok()
        .and_then(|c| ClientHello::decode(c).ok())
        .ok_or(ConnError::Handshake("malformed client hello"))?;
    if !range.contains(client.version) {
        return Err(ConnError::Handshake("no common version"));
    }
    if client.key_hash[..] != endpoint.key_hash[..] {
        return Err(ConnError::Handshake(
            "the client expects another relay (key hash)",
        ));
    }
    let chains = if client.encrypts_blocks() {
        let theirs = client.session_key.as_ref().ok_or(ConnError::Block)?;
        let secret = simplex_crypto::dh(&server_key, theirs).map_err(|_| ConnError::Block)?;
        Some(block_chains(&session_id, &secret).map_err(|_| ConnError::Block)?)
    } else {
        None
    };
    let session_secret = match &client.session_key {
        Some(theirs) if client.version >= IMPLIED_SESSION_ID => Some(
            simplex_crypto::cryptobox::shared_key(&server_key, theirs)
                .map_err(|_| ConnError::Block)?,
        ),
        _ => None,
    };
    let server_key = (client.version >= IMPLIED_SESSION_ID).then_some(server_key);
    Ok(Session {
        version: client.version,
        session_id,
        server_key,
        session_secret,
        chains,
    })
}

async fn run<S: AsyncRead + AsyncWrite + Send + 'static>(
    tls: tokio_openssl::SslStream<S>,
    session: Session,
    relay: Arc<Relay>,
    proxy: Option<Arc<crate::proxy::ProxyAgent>>,
    inactive_ttl: Option<Duration>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<(), ConnError> {
    let proxied = Arc::new(tokio::sync::Semaphore::new(crate::proxy::PER_CONNECTION));
    let (conn_id, mut pushes) = relay.connect(session.version);
    let conn = Conn {
        id: conn_id,
        version: session.version,
        session_id: session.session_id,
        session_key: session.server_key,
        session_secret: session.session_secret,
    };
    let (mut send_chain, mut recv_chain) = match session.chains {
        Some((s, r)) => (Some(s), Some(r)),
        None => (None, None),
    };
    let version = session.version;
    let (mut rd, mut wr) = tokio::io::split(tls);
    let (tx, mut rx) = mpsc::channel::<Vec<Outgoing>>(ANSWER_QUEUE);
    let writer_relay = relay.clone();
    let writer = tokio::spawn(async move {
        loop {
            let mut batch = tokio::select! {
                a = rx.recv() => match a {
                    Some(a) => a,
                    None => break,
                },
                p = pushes.recv() => match p {
                    Some(p) => vec![p],
                    None => break,
                },
            };
            // Whatever else is ready goes into the same blocks: pushes (MSG, END) to many
            // queues then cost one block, not one each. Other tasks first get one turn to add
            // to it (no timer: an idle relay answers at once).
            tokio::task::yield_now().await;
            while batch.len() < WRITE_BATCH {
                if let Ok(a) = rx.try_recv() {
                    batch.extend(a);
                } else if let Ok(p) = pushes.try_recv() {
                    batch.push(p);
                } else {
                    break;
                }
            }
            let n = batch.len() as u64;
            let blocks = write_batch(&mut wr, &mut send_chain, version, batch).await?;
            let tr = &writer_relay.traffic;
            tr.transmissions_out.fetch_add(n, Ordering::Relaxed);
            tr.blocks_out.fetch_add(blocks, Ordering::Relaxed);
        }
        Ok::<(), ConnError>(())
    });
    let reading = async {
        loop {
            // An idle connection holds no block buffer: it is taken when a block starts.
            let first = match inactive_ttl {
                None => rd.read_u8().await?,
                Some(ttl) => loop {
                    match tokio::time::timeout(ttl, rd.read_u8()).await {
                        Ok(byte) => break byte?,
                        // Silent too long and nothing to deliver to it: closed, as the
                        // reference closes inactive clients without subscriptions.
                        Err(_) if !relay.has_subscriptions(conn_id) => {
                            return Ok::<(), ConnError>(());
                        }
                        Err(_) => {}
                    }
                },
            };
            let mut block = vec![0u8; SMP_BLOCK_SIZE];
            block[0] = first;
            rd.read_exact(&mut block[1..]).await?;
            let content = match &mut recv_chain {
                Some(chain) => chain.open(&block).map_err(|_| ConnError::Block)?,
                None => unpad(&block).map_err(|_| ConnError::Block)?.to_vec(),
            };
            let mut durable = store_log::Durable::done();
            relay.traffic.blocks_in.fetch_add(1, Ordering::Relaxed);
            let answers = match decode_content(&content) {
                Ok(items) => {
                    let n = items.len() as u64;
                    relay
                        .traffic
                        .transmissions_in
                        .fetch_add(n, Ordering::Relaxed);
                    let mut out = Vec::with_capacity(items.len());
                    // Runs of well-formed transmissions are handled together (their
                    // signatures are checked in one batch); a malformed one answers in place.
                    let mut run = Vec::with_capacity(items.len());
                    for bytes in items {
                        match Transmission::decode(bytes, version) {
                            Ok(t) => match (&proxy, proxy_command(&t, &conn)) {
                                (Some(agent), Some(cmd)) => {
                                    // Answered when the other relay answers; at most
                                    // PER_CONNECTION wait at once.
                                    let permit = proxied.clone().acquire_owned().await;
                                    let (agent, tx) = (agent.clone(), tx.clone());
                                    tokio::spawn(async move {
                                        let msg = match cmd {
                                            Command::Prxy(body) => agent.prxy(&body).await,
                                            Command::Pfwd(v, key, enc) => {
                                                agent
                                                    .pfwd(&t.entity_id, &t.corr_id, v, key, enc)
                                                    .await
                                            }
                                            _ => BrokerMsg::Err(ErrorType::Internal),
                                        };
                                        let answer = Outgoing {
                                            corr_id: t.corr_id,
                                            entity_id: t.entity_id,
                                            msg,
                                        };
                                        let _ = tx.send(vec![answer]).await;
                                        drop(permit);
                                    });
                                }
                                _ => run.push(t),
                            },
                            Err(_) => {
                                let (a, d) = relay.handle_block(&conn, &run);
                                out.extend(a);
                                durable = durable.and(d);
                                run.clear();
                                out.push(block_error());
                            }
                        }
                    }
                    if !run.is_empty() {
                        let (a, d) = relay.handle_block(&conn, &run);
                        out.extend(a);
                        durable = durable.and(d);
                    }
                    out
                }
                Err(_) => vec![block_error()],
            };
            // Nothing is acknowledged before its store-log record is on disk; if the log
            // failed, the connection ends without the answers.
            durable.wait().await?;
            if tx.send(answers).await.is_err() {
                return Ok::<(), ConnError>(());
            }
        }
    };
    let result = tokio::select! {
        r = reading => r,
        // The relay is stopping: the connection closes (after the message snapshot).
        _ = stop.wait_for(|s| *s) => Ok(()),
    };
    drop(tx);
    relay.disconnect(conn_id);
    let _ = writer.await;
    result
}

/// A well-formed PRXY or PFWD (the proxy answers them asynchronously).
fn proxy_command(t: &Transmission, conn: &Conn) -> Option<Command> {
    if !matches!(t.command.get(..4), Some(b"PRXY" | b"PFWD")) {
        return None;
    }
    if conn.version < IMPLIED_SESSION_ID && t.session_id != conn.session_id {
        return None;
    }
    let cmd = Command::parse(conn.version, &t.command).ok()?;
    cmd.check_credentials(!t.authorization.is_empty(), &t.entity_id)
        .ok()?;
    Some(cmd)
}

fn block_error() -> Outgoing {
    Outgoing {
        corr_id: Vec::new(),
        entity_id: Vec::new(),
        msg: BrokerMsg::Err(ErrorType::Block),
    }
}

async fn write_batch<W: AsyncWrite + Unpin>(
    wr: &mut W,
    chain: &mut Option<BlockChain>,
    version: Version,
    batch: Vec<Outgoing>,
) -> Result<u64, ConnError> {
    let mut blocks = 0;
    let encoded: Vec<Vec<u8>> = batch
        .into_iter()
        .filter_map(|o| {
            let command = o.msg.encode(version).ok()?;
            Transmission {
                corr_id: o.corr_id,
                entity_id: o.entity_id,
                command,
                ..Transmission::default()
            }
            .encode(version)
            .ok()
        })
        .collect();
    let lengths: Vec<usize> = encoded.iter().map(Vec::len).collect();
    for p in pack(&lengths) {
        let Packed::Block { first, count } = p else {
            // Never happens: relay messages always fit a block.
            continue;
        };
        let content =
            encode_content(&encoded[first..first + count]).map_err(|_| ConnError::Block)?;
        let block = match chain {
            Some(c) => c.seal(&content).map_err(|_| ConnError::Block)?,
            None => pad(&content, SMP_BLOCK_SIZE).map_err(|_| ConnError::Block)?,
        };
        wr.write_all(&block).await?;
        blocks += 1;
    }
    wr.flush().await?;
    Ok(blocks)
}
