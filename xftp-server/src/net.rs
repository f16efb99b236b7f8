//! The network front end: TCP → TLS → HTTP/2, the per-connection handshake, and streaming of
//! request and response bodies with flow control.

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use h2::server::SendResponse;
use h2::{RecvStream, SendStream};
use openssl::ssl::{Ssl, SslAcceptor};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Mutex, Semaphore};
use tokio_openssl::SslStream;
use xftp_proto::command::{Response, XftpError};
use xftp_proto::crypto;
use xftp_proto::encoding::pad;
use xftp_proto::handshake::{
    encode_signed_key, ClientHandshake, ClientHello, ServerHandshake, VersionRange,
    CURRENT_VERSION, MIN_VERSION,
};
use xftp_proto::{KeyAlgorithm, PrivateKey, PublicKey, Transmission, XFTP_BLOCK_SIZE};

use crate::relay::{BodySource, Relay, ResponseBody, Session};

/// Time allowed for the TLS and HTTP/2 handshakes.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// Time allowed to receive a request's command block.
const REQUEST_HEAD_TIMEOUT: Duration = Duration::from_secs(60);
/// How long requests in flight may take to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// Concurrent connections accepted.
pub const MAX_CONNECTIONS: usize = 4096;
/// Concurrent requests per connection.
const MAX_STREAMS: u32 = 16;
/// Stream window: what one upload may have in flight. The window is also what the relay may
/// have to buffer per stream, so it bounds memory: 64 concurrent uploads x 1 MiB.
const STREAM_WINDOW: u32 = 1024 * 1024;
/// Connection window: several streams in flight.
const CONN_WINDOW: u32 = 4 * 1024 * 1024;
/// Largest HTTP/2 frame either side may send: four frames fill a stream window.
const MAX_FRAME: u32 = 256 * 1024;

/// What the server needs to serve TLS and sign handshakes.
pub struct Endpoint {
    /// TLS acceptor with the relay's chain.
    pub acceptor: SslAcceptor,
    /// DER of the chain (online certificate, CA).
    pub chain_der: Vec<Vec<u8>>,
    /// SHA-256 of the CA certificate.
    pub key_hash: Vec<u8>,
    /// The online key (signs the handshake's X25519 key).
    pub online_key: PrivateKey,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint").finish_non_exhaustive()
    }
}

/// Handshake state of one connection.
#[derive(Debug)]
enum HandshakeState {
    /// Nothing yet.
    New,
    /// Server hello sent with this X25519 key.
    Sent(PrivateKey, PublicKey),
    /// Done.
    Accepted(Session),
}

/// Serves until `shutdown` becomes true; then stops accepting and waits for open requests.
pub async fn serve(
    relay: Arc<Relay>,
    endpoint: Arc<Endpoint>,
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
) {
    let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => {
                let Ok((tcp, _)) = accepted else { continue };
                let Ok(permit) = limit.clone().try_acquire_owned() else {
                    drop(tcp); // over the connection cap
                    continue;
                };
                let _ = tcp.set_nodelay(true);
                let (relay, endpoint, stop) = (relay.clone(), endpoint.clone(), shutdown.clone());
                tasks.spawn(async move {
                    if let Err(e) = connection(relay.clone(), endpoint, tcp, stop).await {
                        if relay.config.log_tls_errors {
                            tracing::info!("connection ended: {e}");
                        }
                    }
                    drop(permit);
                });
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    // Graceful: let connections finish their current requests.
    while tasks.join_next().await.is_some() {}
}

async fn connection(
    relay: Arc<Relay>,
    endpoint: Arc<Endpoint>,
    tcp: TcpStream,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), String> {
    let ssl = Ssl::new(endpoint.acceptor.context()).map_err(|e| e.to_string())?;
    let mut tls = SslStream::new(ssl, tcp).map_err(|e| e.to_string())?;
    tokio::time::timeout(HANDSHAKE_TIMEOUT, Pin::new(&mut tls).accept())
        .await
        .map_err(|_| "TLS handshake timed out".to_string())?
        .map_err(|e| format!("TLS handshake: {e}"))?;
    let session_id = transport::session_id(tls.ssl());
    let has_alpn = tls.ssl().selected_alpn_protocol().is_some();
    let mut conn = tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        h2::server::Builder::new()
            .initial_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONN_WINDOW)
            .max_frame_size(MAX_FRAME)
            .max_concurrent_streams(MAX_STREAMS)
            .max_header_list_size(16 * 1024)
            .max_send_buffer_size(MAX_FRAME as usize)
            .handshake::<_, Bytes>(tls),
    )
    .await
    .map_err(|_| "HTTP/2 handshake timed out".to_string())?
    .map_err(|e| format!("HTTP/2 handshake: {e}"))?;
    // Without ALPN the client is a legacy v1 client: no handshake.
    let state = Arc::new(Mutex::new(if has_alpn {
        HandshakeState::New
    } else {
        HandshakeState::Accepted(Session {
            id: session_id.clone(),
            version: 1,
            dh_key: None,
        })
    }));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let idle = relay
        .config
        .inactive_disconnect
        .then(|| Duration::from_secs(relay.config.inactive_ttl.max(1)));
    loop {
        let next = async {
            match idle {
                Some(ttl) => tokio::time::timeout(ttl, conn.accept()).await.ok(),
                None => Some(conn.accept().await),
            }
        };
        tokio::select! {
            _ = shutdown.changed() => {
                // Idle connections close at once; requests in flight get a grace period
                // (the connection must be driven for their responses to go out).
                if in_flight.load(Ordering::SeqCst) == 0 {
                    return Ok(());
                }
                conn.graceful_shutdown();
                let drain = async {
                    while in_flight.load(Ordering::SeqCst) > 0 {
                        tokio::select! {
                            r = conn.accept() => if !matches!(r, Some(Ok(_))) { break },
                            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                        }
                    }
                };
                let _ = tokio::time::timeout(SHUTDOWN_GRACE, drain).await;
                return Ok(());
            }
            req = next => match req {
                None => return Ok(()), // idle for too long
                Some(None) => return Ok(()),
                Some(Some(Err(e))) => return Err(format!("HTTP/2: {e}")),
                Some(Some(Ok((request, respond)))) => {
                    let (relay, endpoint, state, sid) = (relay.clone(), endpoint.clone(), state.clone(), session_id.clone());
                    let counter = in_flight.clone();
                    counter.fetch_add(1, Ordering::SeqCst);
                    tokio::spawn(async move {
                        request_task(relay, endpoint, state, sid, request.into_body(), respond).await;
                        counter.fetch_sub(1, Ordering::SeqCst);
                    });
                }
            }
        }
    }
}

/// The request body after the command block.
struct H2Body {
    stream: RecvStream,
    leftover: Option<Bytes>,
}

impl BodySource for H2Body {
    async fn next_piece(&mut self) -> Result<Option<Bytes>, String> {
        if let Some(b) = self.leftover.take() {
            return Ok(Some(b));
        }
        match self.stream.data().await {
            None => Ok(None),
            Some(Ok(b)) => {
                let _ = self.stream.flow_control().release_capacity(b.len());
                Ok(Some(b))
            }
            Some(Err(e)) => Err(e.to_string()),
        }
    }
}

/// Reads up to `XFTP_BLOCK_SIZE` bytes of head; returns the head and any bytes past it.
async fn read_head(stream: &mut RecvStream) -> Result<(Vec<u8>, Option<Bytes>), String> {
    let mut head = BytesMut::new();
    while head.len() < XFTP_BLOCK_SIZE {
        match stream.data().await {
            None => break,
            Some(Err(e)) => return Err(e.to_string()),
            Some(Ok(mut b)) => {
                let _ = stream.flow_control().release_capacity(b.len());
                let need = XFTP_BLOCK_SIZE - head.len();
                if b.len() > need {
                    let rest = b.split_off(need);
                    head.extend_from_slice(&b);
                    return Ok((head.to_vec(), Some(rest)));
                }
                head.extend_from_slice(&b);
            }
        }
    }
    Ok((head.to_vec(), None))
}

async fn request_task(
    relay: Arc<Relay>,
    endpoint: Arc<Endpoint>,
    state: Arc<Mutex<HandshakeState>>,
    session_id: Vec<u8>,
    mut body: RecvStream,
    respond: SendResponse<Bytes>,
) {
    let head = match tokio::time::timeout(REQUEST_HEAD_TIMEOUT, read_head(&mut body)).await {
        Ok(Ok(h)) => h,
        _ => return,
    };
    let (head, leftover) = head;
    let mut guard = state.lock().await;
    let (block, out) = match &*guard {
        HandshakeState::New | HandshakeState::Sent(..) => {
            let reply = handshake_step(&endpoint, &mut guard, &session_id, &head);
            drop(guard);
            (reply, ResponseBody::None)
        }
        HandshakeState::Accepted(session) => {
            let session = session.clone();
            drop(guard);
            let t = match Transmission::decode_block(&head) {
                Ok(t) => t,
                Err(e) => {
                    let reply = Transmission {
                        session_id: session.id.clone(),
                        command: Response::Err(e).encode().unwrap_or_default(),
                        ..Transmission::default()
                    };
                    send(respond, reply.encode_block().ok(), ResponseBody::None).await;
                    return;
                }
            };
            let mut src = H2Body {
                stream: body,
                leftover,
            };
            let (reply, out) = relay.handle(&session, t, &mut src).await;
            (reply.encode_block().ok(), out)
        }
    };
    send(respond, block, out).await;
}

/// One step of the handshake; returns the response body (`Some(vec![])` = empty body).
fn handshake_step(
    endpoint: &Endpoint,
    state: &mut HandshakeState,
    session_id: &[u8],
    head: &[u8],
) -> Option<Vec<u8>> {
    let fail = |e: XftpError| pad(e.to_string().as_bytes(), XFTP_BLOCK_SIZE).ok();
    // A hello (empty or '0'/'1' block) while the handshake is not accepted: (re)send ours.
    if let Ok(hello) = ClientHello::decode(head) {
        if matches!(hello, ClientHello::Web(_)) && head.len() == XFTP_BLOCK_SIZE {
            // Web clients are served only with SNI, which is not implemented yet.
            return fail(XftpError::Session);
        }
        let (priv_key, pub_key) = match &*state {
            HandshakeState::Sent(k, p) => (k.clone(), p.clone()),
            _ => match crypto::generate(KeyAlgorithm::X25519) {
                Ok((p, k)) => (k, p),
                Err(_) => return fail(XftpError::Internal),
            },
        };
        let spki = pub_key.to_der();
        let Ok(sig) = crypto::sign(&endpoint.online_key, &spki) else {
            return fail(XftpError::Internal);
        };
        let hs = ServerHandshake {
            versions: VersionRange {
                min: MIN_VERSION,
                max: CURRENT_VERSION,
            },
            session_id: session_id.to_vec(),
            cert_chain: endpoint.chain_der.clone(),
            signed_key: encode_signed_key(&spki, endpoint.online_key.algorithm(), &sig),
            web_identity_proof: Vec::new(),
        };
        *state = HandshakeState::Sent(priv_key, pub_key);
        return hs.encode_block().ok();
    }
    let HandshakeState::Sent(priv_key, _) = &*state else {
        return fail(XftpError::Handshake);
    };
    if head.len() != XFTP_BLOCK_SIZE {
        return fail(XftpError::Handshake);
    }
    match ClientHandshake::decode_block(head) {
        Ok(ch)
            if ch.key_hash == endpoint.key_hash
                && (MIN_VERSION..=CURRENT_VERSION).contains(&ch.version) =>
        {
            *state = HandshakeState::Accepted(Session {
                id: session_id.to_vec(),
                version: ch.version,
                dh_key: Some(priv_key.clone()),
            });
            Some(Vec::new())
        }
        _ => fail(XftpError::Handshake),
    }
}

/// Sends a 200 response: the block, then the chunk if any, with flow control.
async fn send(mut respond: SendResponse<Bytes>, block: Option<Vec<u8>>, out: ResponseBody) {
    let Ok(response) = http::Response::builder().status(200).body(()) else {
        return;
    };
    let Ok(mut stream) = respond.send_response(response, false) else {
        return;
    };
    let block = block.unwrap_or_default();
    let ok = send_data(&mut stream, Bytes::from(block)).await;
    if ok {
        if let ResponseBody::Chunk(mut rx) = out {
            while let Some(piece) = rx.recv().await {
                let sent = match piece {
                    Ok(p) => send_data(&mut stream, p).await,
                    Err(_) => false,
                };
                if !sent {
                    stream.send_reset(h2::Reason::INTERNAL_ERROR);
                    return;
                }
            }
        }
    }
    let _ = stream.send_data(Bytes::new(), true);
}

/// Sends `data` respecting the peer's flow-control window, so nothing is buffered beyond it.
async fn send_data(stream: &mut SendStream<Bytes>, mut data: Bytes) -> bool {
    while !data.is_empty() {
        stream.reserve_capacity(data.len());
        let cap = match std::future::poll_fn(|cx| stream.poll_capacity(cx)).await {
            Some(Ok(n)) => n,
            _ => return false,
        };
        if cap == 0 {
            continue;
        }
        let piece = data.split_to(cap.min(data.len()));
        if stream.send_data(piece, false).is_err() {
            return false;
        }
    }
    true
}
