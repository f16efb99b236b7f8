//! The network front end: TCP → TLS → HTTP/2, the per-connection handshake, and streaming of
//! request and response bodies with flow control.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use h2::server::SendResponse;
use h2::{RecvStream, SendStream};
use openssl::ssl::{NameType, Ssl, SslAcceptor};
use simplex_codec::encoding::pad;
use simplex_crypto::{KeyAlgorithm, PrivateKey, PublicKey};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Mutex};
use tokio_openssl::SslStream;
use xftp_proto::command::{Response, XftpError};
use xftp_proto::handshake::{
    ClientHandshake, ClientHello, ServerHandshake, VersionRange, CURRENT_VERSION, MIN_VERSION,
};
use xftp_proto::{Transmission, XFTP_BLOCK_SIZE};

use subtle::ConstantTimeEq;

use crate::limits::{Admission, ConnLimits, Ticket};
use crate::relay::{BodySource, Relay, ResponseBody, Session};

/// How long requests in flight may take to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// Concurrent requests per connection.
const MAX_STREAMS: u32 = 16;
/// Stream window: what one upload may have in flight. The window is also what the relay may
/// have to buffer per stream, so it bounds memory: 64 concurrent uploads x 1 MiB.
const STREAM_WINDOW: u32 = 1024 * 1024;
/// Connection window: several streams in flight (and what one connection may make the relay
/// buffer of request bodies it has not read yet).
const CONN_WINDOW: u32 = 4 * 1024 * 1024;
/// Largest HTTP/2 frame either side may send: four frames fill a stream window.
const MAX_FRAME: u32 = 256 * 1024;
/// Descriptors kept free for chunk files, the store log and accepting while full.
const FD_RESERVE: u64 = 128;

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

/// Handshake state of one connection (the reference's states).
#[derive(Debug)]
enum HandshakeState {
    /// Nothing yet.
    New,
    /// Server hello sent with this X25519 key.
    Sent(PrivateKey, PublicKey),
    /// Done.
    Accepted(Session),
    /// The ALPN is neither XFTP nor a browser's: every request gets an empty answer.
    Unsupported,
}

/// The connection cap that the open-files limit can carry.
pub fn connection_cap(configured: usize) -> usize {
    relay_config::connection_cap(configured, FD_RESERVE)
}

/// Serves until `shutdown` becomes true; then stops accepting and waits for open requests.
pub async fn serve(
    relay: Arc<Relay>,
    endpoint: Arc<Endpoint>,
    listener: TcpListener,
    admission: Arc<Admission>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut tasks = tokio::task::JoinSet::new();
    let mut backoff = Duration::from_millis(10);
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            accepted = listener.accept() => {
                let (tcp, peer) = match accepted {
                    Ok(a) => {
                        backoff = Duration::from_millis(10);
                        a
                    }
                    Err(e) => {
                        // Out of descriptors (or memory): the pending connection stays queued
                        // and accept fails again at once; wait instead of spinning.
                        if !matches!(
                            e.kind(),
                            std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::ConnectionReset
                        ) {
                            tracing::warn!("accept: {e}; retrying in {backoff:?}");
                            tokio::select! {
                                _ = tokio::time::sleep(backoff) => {}
                                _ = shutdown.changed() => break,
                            }
                            backoff = (backoff * 2).min(Duration::from_secs(1));
                        }
                        continue;
                    }
                };
                let ticket = match admission.admit(peer.ip()) {
                    Ok(t) => t,
                    Err(why) => {
                        tracing::debug!("connection from {} refused: {why:?}", peer.ip());
                        drop(tcp);
                        continue;
                    }
                };
                let _ = tcp.set_nodelay(true);
                let (relay, endpoint, stop) = (relay.clone(), endpoint.clone(), shutdown.clone());
                tasks.spawn(async move {
                    if let Err(e) = connection(relay.clone(), endpoint, tcp, &ticket, stop).await {
                        if relay.config.log_tls_errors {
                            tracing::info!("connection ended: {e}");
                        }
                    }
                    drop(ticket);
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
    ticket: &Ticket,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), String> {
    let limits = &relay.config.limits;
    // From TCP accept to a finished XFTP handshake (or, for a browser, a first answer).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(limits.handshake_timeout);
    let ssl = Ssl::new(endpoint.acceptor.context()).map_err(|e| e.to_string())?;
    let mut tls = SslStream::new(ssl, tcp).map_err(|e| e.to_string())?;
    // Until its first request a connection may be evicted to make room for another address.
    let evicted = || async { ticket.control.closed().await };
    tokio::select! {
        r = tokio::time::timeout_at(deadline, std::pin::Pin::new(&mut tls).accept()) => r
            .map_err(|_| "TLS handshake timed out".to_string())?
            .map_err(|e| format!("TLS handshake: {e}"))?,
        _ = evicted() => return Err("evicted before the TLS handshake finished".into()),
    }
    let session_id = transport::session_id(tls.ssl());
    let alpn = tls.ssl().selected_alpn_protocol().map(<[u8]>::to_vec);
    // Browsers send SNI and get the web certificate; native clients send none.
    let web = endpoint.web_enabled && tls.ssl().servername(NameType::HOST_NAME).is_some();
    let h2 = h2::server::Builder::new()
        .initial_window_size(STREAM_WINDOW)
        .initial_connection_window_size(CONN_WINDOW)
        .max_frame_size(MAX_FRAME)
        .max_concurrent_streams(MAX_STREAMS)
        .max_header_list_size(16 * 1024)
        .max_send_buffer_size(MAX_FRAME as usize)
        .handshake::<_, Bytes>(tls);
    let mut conn = tokio::select! {
        r = tokio::time::timeout_at(deadline, h2) => r
            .map_err(|_| "HTTP/2 handshake timed out".to_string())?
            .map_err(|e| format!("HTTP/2 handshake: {e}"))?,
        _ = evicted() => return Err("evicted before the HTTP/2 handshake finished".into()),
    };
    // As the reference: no ALPN is a legacy v1 client (no handshake); xftp/1, http/1.1 and a
    // browser's h2 do the handshake; anything else gets empty answers.
    let initial = match alpn.as_deref() {
        None => HandshakeState::Accepted(Session {
            id: session_id.clone(),
            version: 1,
            dh_key: None,
            limits: ticket.limits.clone(),
        }),
        Some(b"xftp/1") | Some(b"http/1.1") => HandshakeState::New,
        Some(b"h2") if web => HandshakeState::New,
        Some(_) => HandshakeState::Unsupported,
    };
    let established = Arc::new(AtomicBool::new(!matches!(initial, HandshakeState::New)));
    let state = Arc::new(Mutex::new(initial));
    let in_flight = Arc::new(AtomicUsize::new(0));
    let ctx = Arc::new(RequestCtx {
        relay: relay.clone(),
        endpoint,
        state,
        session_id,
        web,
        limits: ticket.limits.clone(),
        established: established.clone(),
    });
    // A connection with no request in progress is closed after the idle time (and after the
    // reference's inactive-client time when that is on).
    let mut idle_ttl = Duration::from_secs(limits.idle_timeout);
    if relay.config.inactive_disconnect {
        idle_ttl = idle_ttl.min(Duration::from_secs(relay.config.inactive_ttl.max(1)));
    }
    let mut last_active = tokio::time::Instant::now();
    // Set when the relay asked this connection to make room: it closes once idle.
    let mut evicted = false;
    ticket.control.set_idle(true);
    loop {
        let busy = in_flight.load(Ordering::SeqCst) > 0;
        if busy {
            last_active = tokio::time::Instant::now();
        }
        ticket.control.set_idle(!busy);
        // Re-check every second while busy (requests end without waking this loop).
        let wake = if busy {
            tokio::time::Instant::now() + Duration::from_secs(1)
        } else if !established.load(Ordering::SeqCst) {
            deadline.min(last_active + idle_ttl)
        } else {
            last_active + idle_ttl
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
            _ = ticket.control.closed(), if !evicted => {
                // Evicted to make room for another address (chosen while idle; a request that
                // started meanwhile finishes first).
                if in_flight.load(Ordering::SeqCst) == 0 {
                    return Ok(());
                }
                evicted = true;
            }
            _ = tokio::time::sleep_until(wake) => {
                if in_flight.load(Ordering::SeqCst) > 0 {
                    continue;
                }
                if evicted {
                    return Ok(());
                }
                if !established.load(Ordering::SeqCst) && tokio::time::Instant::now() >= deadline {
                    return Err("no XFTP handshake before the deadline".into());
                }
                if tokio::time::Instant::now() >= last_active + idle_ttl {
                    return Ok(()); // idle for too long
                }
            }
            req = conn.accept() => match req {
                None => return Ok(()),
                Some(Err(e)) => return Err(format!("HTTP/2: {e}")),
                Some(Ok((request, respond))) => {
                    last_active = tokio::time::Instant::now();
                    let ctx = ctx.clone();
                    let counter = in_flight.clone();
                    counter.fetch_add(1, Ordering::SeqCst);
                    ticket.control.set_idle(false);
                    tokio::spawn(async move {
                        request_task(&ctx, request, respond).await;
                        counter.fetch_sub(1, Ordering::SeqCst);
                    });
                }
            }
        }
    }
}

/// What a request needs of its connection.
struct RequestCtx {
    relay: Arc<Relay>,
    endpoint: Arc<Endpoint>,
    state: Arc<Mutex<HandshakeState>>,
    session_id: Vec<u8>,
    web: bool,
    limits: Arc<ConnLimits>,
    /// Set when the handshake is done (or a browser got an answer): the deadline is met.
    established: Arc<AtomicBool>,
}

/// The request body after the command block.
struct H2Body {
    stream: RecvStream,
    leftover: Option<Bytes>,
    stall: Duration,
}

impl BodySource for H2Body {
    async fn next_piece(&mut self) -> Result<Option<Bytes>, String> {
        if let Some(b) = self.leftover.take() {
            return Ok(Some(b));
        }
        match tokio::time::timeout(self.stall, self.stream.data()).await {
            Err(_) => Err("the upload stalled".into()),
            Ok(None) => Ok(None),
            Ok(Some(Ok(b))) => {
                let _ = self.stream.flow_control().release_capacity(b.len());
                Ok(Some(b))
            }
            Ok(Some(Err(e))) => Err(e.to_string()),
        }
    }
}

/// No body (commands other than FPUT: whatever a client sent after the block is discarded).
struct NoBody;

impl BodySource for NoBody {
    async fn next_piece(&mut self) -> Result<Option<Bytes>, String> {
        Ok(None)
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
    ctx: &RequestCtx,
    request: http::Request<RecvStream>,
    respond: SendResponse<Bytes>,
) {
    let (parts, mut body) = request.into_parts();
    let web = ctx.web;
    let stall = Duration::from_secs(ctx.relay.config.limits.stall_timeout);
    if web {
        match parts.method {
            http::Method::OPTIONS => {
                ctx.established.store(true, Ordering::SeqCst);
                return send_status(respond, 200, Cors::Preflight, None, stall).await;
            }
            http::Method::GET => {
                ctx.established.store(true, Ordering::SeqCst);
                let file = ctx
                    .endpoint
                    .static_path
                    .as_deref()
                    .map(|root| static_file(root, parts.uri.path()));
                return match file {
                    Some(Ok((bytes, mime))) => {
                        send_status(respond, 200, Cors::None, Some((bytes, mime)), stall).await
                    }
                    // The reference leaves such a request unanswered; a status is kinder to
                    // the browser (docs/COMPATIBILITY.md).
                    Some(Err(code)) => send_status(respond, code, Cors::None, None, stall).await,
                    None => send_status(respond, 404, Cors::None, None, stall).await,
                };
            }
            _ => {}
        }
    }
    let head = match tokio::time::timeout(stall, read_head(&mut body)).await {
        Ok(Ok(h)) => h,
        _ => return,
    };
    let (head, leftover) = head;
    let mut guard = ctx.state.lock().await;
    let web_hello = web && parts.headers.contains_key("xftp-web-hello");
    let web_handshake = web && parts.headers.contains_key("xftp-handshake");
    // The reference's handshake states: what this request is, given the connection's state.
    let step = match &*guard {
        HandshakeState::Unsupported => Step::Empty,
        HandshakeState::New if web && !web_hello => Step::Fail(XftpError::Session),
        HandshakeState::New => Step::Hello(None),
        HandshakeState::Sent(key, _) if web_hello => Step::Hello(Some(key.clone())),
        HandshakeState::Sent(key, _) => Step::Accept(key.clone()),
        // A browser tab joining a connection another tab set up: the connection keeps its key.
        HandshakeState::Accepted(session) if web_hello => Step::Hello(session.dh_key.clone()),
        HandshakeState::Accepted(Session {
            dh_key: Some(key), ..
        }) if web_handshake => Step::Accept(key.clone()),
        HandshakeState::Accepted(session) => Step::Command(session.clone()),
    };
    let block = match step {
        Step::Empty => {
            drop(guard);
            drop(body);
            drop(leftover);
            return send_status(respond, 200, cors(web), None, stall).await;
        }
        Step::Fail(e) => fail(e),
        Step::Hello(key) => hello(&ctx.endpoint, &mut guard, &ctx.session_id, &head, web, key),
        Step::Accept(key) => {
            let reply = client_handshake(
                &ctx.endpoint,
                &mut guard,
                &ctx.session_id,
                &head,
                key,
                &ctx.limits,
            );
            if matches!(&*guard, HandshakeState::Accepted(_)) {
                ctx.established.store(true, Ordering::SeqCst);
            }
            reply
        }
        Step::Command(session) => {
            drop(guard);
            let t = match Transmission::decode_block(&head) {
                Ok(t) => t,
                Err(e) => {
                    let reply = Transmission {
                        session_id: session.id.clone(),
                        command: Response::Err(e).encode().unwrap_or_default(),
                        ..Transmission::default()
                    };
                    drop(body);
                    drop(leftover);
                    send(
                        respond,
                        reply.encode_block().ok(),
                        ResponseBody::None,
                        web,
                        stall,
                    )
                    .await;
                    return;
                }
            };
            let (reply, out) = if t.command.starts_with(b"FPUT") {
                let mut src = H2Body {
                    stream: body,
                    leftover,
                    stall,
                };
                ctx.relay.handle(&session, t, &mut src).await
            } else {
                // Nothing more is read: dropping the stream and the bytes past the block
                // returns their buffers.
                drop(body);
                drop(leftover);
                ctx.relay.handle(&session, t, &mut NoBody).await
            };
            send(respond, reply.encode_block().ok(), out, web, stall).await;
            return;
        }
    };
    drop(guard);
    drop(body);
    drop(leftover);
    send(respond, block, ResponseBody::None, web, stall).await;
}

/// What a request is in the handshake's state machine.
enum Step {
    /// An empty answer (an ALPN that is neither XFTP nor a browser's).
    Empty,
    /// An error block.
    Fail(XftpError),
    /// A hello: answer with the server handshake, reusing this key if given.
    Hello(Option<PrivateKey>),
    /// A client handshake block to accept with this key.
    Accept(PrivateKey),
    /// A command on an accepted connection.
    Command(Session),
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

/// Which CORS headers a response carries (browsers only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cors {
    /// None (native clients).
    None,
    /// Allow-Origin and Expose-Headers, as the reference's answers.
    Plain,
    /// The reference's preflight answer.
    Preflight,
}

fn cors(web: bool) -> Cors {
    if web {
        Cors::Plain
    } else {
        Cors::None
    }
}

fn with_cors(mut b: http::response::Builder, cors: Cors) -> http::response::Builder {
    match cors {
        Cors::None => {}
        Cors::Plain => {
            b = b
                .header("Access-Control-Allow-Origin", "*")
                .header("Access-Control-Expose-Headers", "*");
        }
        Cors::Preflight => {
            b = b
                .header("Access-Control-Allow-Origin", "*")
                .header("Access-Control-Allow-Methods", "POST, OPTIONS")
                .header("Access-Control-Allow-Headers", "*")
                .header("Access-Control-Max-Age", "86400");
        }
    }
    b
}

/// A plain HTTP answer (preflight, static page, error status).
async fn send_status(
    mut respond: SendResponse<Bytes>,
    status: u16,
    cors: Cors,
    body: Option<(Vec<u8>, &'static str)>,
    stall: Duration,
) {
    let mut b = with_cors(http::Response::builder().status(status), cors);
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
        if send_data(&mut stream, Bytes::from(bytes), stall).await {
            let _ = stream.send_data(Bytes::new(), true);
        } else {
            stream.send_reset(h2::Reason::CANCEL);
        }
    }
}

/// A padded error block.
fn fail(e: XftpError) -> Option<Vec<u8>> {
    pad(e.to_string().as_bytes(), XFTP_BLOCK_SIZE).ok()
}

/// The client's hello: answers with the server handshake, signing the connection's X25519
/// key (the one already sent or accepted on this connection, if any: as the reference, a
/// connection keeps one key).
fn hello(
    endpoint: &Endpoint,
    state: &mut HandshakeState,
    session_id: &[u8],
    head: &[u8],
    web: bool,
    key: Option<PrivateKey>,
) -> Option<Vec<u8>> {
    let proof = if head.is_empty() {
        Vec::new()
    } else if web {
        match ClientHello::decode(head) {
            Ok(ClientHello::Web(challenge)) => {
                // Proves to a browser, which trusts the web certificate, that the relay also
                // holds the XFTP identity's online key.
                let mut msg = challenge.to_vec();
                msg.extend_from_slice(session_id);
                match simplex_crypto::sign(&endpoint.online_key, &msg) {
                    Ok(sig) => sig,
                    Err(_) => return fail(XftpError::Internal),
                }
            }
            Ok(ClientHello::Plain) => Vec::new(),
            Err(_) => return fail(XftpError::Handshake),
        }
    } else {
        return fail(XftpError::Handshake);
    };
    let (priv_key, pub_key) = match (&*state, key) {
        (HandshakeState::Sent(k, p), _) => (k.clone(), p.clone()),
        (_, Some(k)) => match simplex_crypto::public_key(&k) {
            Ok(p) => (k, p),
            Err(_) => return fail(XftpError::Internal),
        },
        (_, None) => match simplex_crypto::generate(KeyAlgorithm::X25519) {
            Ok((p, k)) => (k, p),
            Err(_) => return fail(XftpError::Internal),
        },
    };
    let spki = pub_key.to_der();
    let Ok(sig) = simplex_crypto::sign(&endpoint.online_key, &spki) else {
        return fail(XftpError::Internal);
    };
    let hs = ServerHandshake {
        versions: VersionRange {
            min: MIN_VERSION,
            max: CURRENT_VERSION,
        },
        session_id: session_id.to_vec(),
        cert_chain: endpoint.chain_der.clone(),
        signed_key: simplex_crypto::signed::encode_signed_key(
            &spki,
            endpoint.online_key.algorithm(),
            &sig,
        ),
        web_identity_proof: proof,
    };
    *state = HandshakeState::Sent(priv_key, pub_key);
    hs.encode_block().ok()
}

/// The client's handshake block: accepts the connection with `key`; an empty answer.
fn client_handshake(
    endpoint: &Endpoint,
    state: &mut HandshakeState,
    session_id: &[u8],
    head: &[u8],
    key: PrivateKey,
    limits: &Arc<ConnLimits>,
) -> Option<Vec<u8>> {
    if head.len() != XFTP_BLOCK_SIZE {
        return fail(XftpError::Handshake);
    }
    match ClientHandshake::decode_block(head) {
        Ok(ch)
            if bool::from(ch.key_hash.ct_eq(&endpoint.key_hash))
                && (MIN_VERSION..=CURRENT_VERSION).contains(&ch.version) =>
        {
            *state = HandshakeState::Accepted(Session {
                id: session_id.to_vec(),
                version: ch.version,
                dh_key: Some(key),
                limits: limits.clone(),
            });
            Some(Vec::new())
        }
        _ => fail(XftpError::Handshake),
    }
}

/// Sends a 200 response: the block, then the chunk if any, with flow control. A peer that
/// takes nothing for the stall time gets the stream reset (and its buffers freed).
async fn send(
    mut respond: SendResponse<Bytes>,
    block: Option<Vec<u8>>,
    out: ResponseBody,
    web: bool,
    stall: Duration,
) {
    let Ok(response) = with_cors(http::Response::builder().status(200), cors(web)).body(()) else {
        return;
    };
    let Ok(mut stream) = respond.send_response(response, false) else {
        return;
    };
    let block = block.unwrap_or_default();
    if !send_data(&mut stream, Bytes::from(block), stall).await {
        stream.send_reset(h2::Reason::CANCEL);
        return;
    }
    if let ResponseBody::Chunk(mut rx) = out {
        while let Some(piece) = rx.recv().await {
            let sent = match piece {
                Ok(p) => send_data(&mut stream, p, stall).await,
                Err(_) => false,
            };
            if !sent {
                stream.send_reset(h2::Reason::INTERNAL_ERROR);
                return;
            }
        }
    }
    let _ = stream.send_data(Bytes::new(), true);
}

/// Sends `data` respecting the peer's flow-control window, so nothing is buffered beyond it;
/// `false` if the stream failed or the peer took nothing for `stall`.
async fn send_data(stream: &mut SendStream<Bytes>, mut data: Bytes, stall: Duration) -> bool {
    while !data.is_empty() {
        stream.reserve_capacity(data.len());
        let capacity = std::future::poll_fn(|cx| stream.poll_capacity(cx));
        let cap = match tokio::time::timeout(stall, capacity).await {
            Ok(Some(Ok(n))) => n,
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
