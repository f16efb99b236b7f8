//! The network front end: TCP → TLS → HTTP/2, the per-connection handshake, and streaming of
//! request and response bodies with flow control.

use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use h2::server::SendResponse;
use h2::{RecvStream, SendStream};
use openssl::ssl::{NameType, Ssl, SslAcceptor};
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
    /// The online key (signs the handshake's X25519 key and web identity proofs).
    pub online_key: PrivateKey,
    /// A web certificate is configured: SNI connections are browser connections.
    pub web_enabled: bool,
    /// Directory of the static pages served to browsers.
    pub static_path: Option<std::path::PathBuf>,
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
    // Browsers send SNI and get the web certificate; native clients send none.
    let web = endpoint.web_enabled && tls.ssl().servername(NameType::HOST_NAME).is_some();
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
                        request_task(relay, endpoint, state, sid, web, request, respond).await;
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
    web: bool,
    request: http::Request<RecvStream>,
    respond: SendResponse<Bytes>,
) {
    let (parts, mut body) = request.into_parts();
    if web {
        match parts.method {
            http::Method::OPTIONS => return send_status(respond, 200, true, None).await,
            http::Method::GET => {
                let file = endpoint
                    .static_path
                    .as_deref()
                    .map(|root| static_file(root, parts.uri.path()));
                return match file {
                    Some(Ok((bytes, mime))) => {
                        send_status(respond, 200, true, Some((bytes, mime))).await
                    }
                    Some(Err(code)) => send_status(respond, code, true, None).await,
                    None => send_status(respond, 404, true, None).await,
                };
            }
            http::Method::POST => {}
            _ => return send_status(respond, 405, true, None).await,
        }
    }
    let head = match tokio::time::timeout(REQUEST_HEAD_TIMEOUT, read_head(&mut body)).await {
        Ok(Ok(h)) => h,
        _ => return,
    };
    let (head, leftover) = head;
    let mut guard = state.lock().await;
    let web_hello = web && parts.headers.contains_key("xftp-web-hello");
    let web_handshake = web && parts.headers.contains_key("xftp-handshake");
    if web_hello {
        // A web client may start over on a reused connection.
        *guard = HandshakeState::New;
    }
    let (block, out) = match &*guard {
        HandshakeState::New if web && !web_hello => {
            drop(guard);
            (pad(b"SESSION", XFTP_BLOCK_SIZE).ok(), ResponseBody::None)
        }
        HandshakeState::Sent(..) if web && !web_handshake => {
            drop(guard);
            (pad(b"SESSION", XFTP_BLOCK_SIZE).ok(), ResponseBody::None)
        }
        HandshakeState::New | HandshakeState::Sent(..) => {
            let reply = handshake_step(&endpoint, &mut guard, &session_id, &head, web);
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
                    send(respond, reply.encode_block().ok(), ResponseBody::None, web).await;
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
    send(respond, block, out, web).await;
}

/// Reads a static file under `root` for `path`; `Err(403)` for paths that try to leave it,
/// `Err(404)` for missing files.
fn static_file(root: &std::path::Path, path: &str) -> Result<(Vec<u8>, &'static str), u16> {
    let decoded = percent_decode(path).ok_or(403u16)?;
    let mut rel = std::path::PathBuf::new();
    for seg in decoded.split('/') {
        match seg {
            "" | "." => {}
            ".." => return Err(403),
            s if s.contains(['\\', '\0']) => return Err(403),
            s => rel.push(s),
        }
    }
    let root = std::fs::canonicalize(root).map_err(|_| 404u16)?;
    let mut full = root.join(&rel);
    if full.is_dir() {
        full.push("index.html");
    }
    let full = std::fs::canonicalize(&full).map_err(|_| 404u16)?;
    if !full.starts_with(&root) {
        return Err(403); // a symlink out of the static directory
    }
    let bytes = std::fs::read(&full).map_err(|_| 404u16)?;
    let mime = match full.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css",
        Some("js") => "text/javascript",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("txt") => "text/plain; charset=utf-8",
        Some("wasm") => "application/wasm",
        _ => "application/octet-stream",
    };
    Ok((bytes, mime))
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let h = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(h, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn with_cors(mut b: http::response::Builder, web: bool) -> http::response::Builder {
    if web {
        b = b
            .header("Access-Control-Allow-Origin", "*")
            .header("Access-Control-Expose-Headers", "*")
            .header("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
            .header("Access-Control-Allow-Headers", "*")
            .header("Access-Control-Max-Age", "86400");
    }
    b
}

/// A plain HTTP answer (preflight, static page, error status).
async fn send_status(
    mut respond: SendResponse<Bytes>,
    status: u16,
    web: bool,
    body: Option<(Vec<u8>, &'static str)>,
) {
    let mut b = with_cors(http::Response::builder().status(status), web);
    if let Some((_, mime)) = &body {
        b = b.header("Content-Type", *mime);
    }
    let Ok(response) = b.body(()) else {
        return;
    };
    let end = body.is_none();
    let Ok(mut stream) = respond.send_response(response, end) else {
        return;
    };
    if let Some((bytes, _)) = body {
        if send_data(&mut stream, Bytes::from(bytes)).await {
            let _ = stream.send_data(Bytes::new(), true);
        }
    }
}

/// One step of the handshake; returns the response body (`Some(vec![])` = empty body).
fn handshake_step(
    endpoint: &Endpoint,
    state: &mut HandshakeState,
    session_id: &[u8],
    head: &[u8],
    web: bool,
) -> Option<Vec<u8>> {
    let fail = |e: XftpError| pad(e.to_string().as_bytes(), XFTP_BLOCK_SIZE).ok();
    // A hello (empty or '0'/'1' block) while the handshake is not accepted: (re)send ours.
    if let Ok(hello) = ClientHello::decode(head) {
        let proof = match hello {
            ClientHello::Web(_) if !web => return fail(XftpError::Session),
            ClientHello::Web(challenge) => {
                // Proves to a browser, which trusts the web certificate, that the relay also
                // holds the XFTP identity's online key.
                let mut msg = challenge.to_vec();
                msg.extend_from_slice(session_id);
                match crypto::sign(&endpoint.online_key, &msg) {
                    Ok(sig) => sig,
                    Err(_) => return fail(XftpError::Internal),
                }
            }
            ClientHello::Plain => Vec::new(),
        };
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
            web_identity_proof: proof,
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
async fn send(
    mut respond: SendResponse<Bytes>,
    block: Option<Vec<u8>>,
    out: ResponseBody,
    web: bool,
) {
    let Ok(response) = with_cors(http::Response::builder().status(200), web).body(()) else {
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
