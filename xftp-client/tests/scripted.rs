//! The upload and download agents against a scripted relay: a small in-memory XFTP relay on
//! 127.0.0.1 (real TLS, HTTP/2 and handshake) whose answers a test can replace, so that
//! retries, replica fallback, resume decisions, redirects and misbehaving relays are driven
//! exactly. No mocks of the client: the agents run as in `xftp`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use simplex_crypto::secretbox::{SbKey, SbNonce, SecretBoxStream};
use simplex_crypto::{KeyAlgorithm, PrivateKey, PublicKey};
use tokio::net::TcpListener;
use xftp_client::agent::{self, AgentError, Pool, RecvOptions, SendOptions};
use xftp_client::ClientError;
use xftp_proto::command::{Command, Response, XftpError};
use xftp_proto::handshake::{
    ClientHandshake, ServerHandshake, VersionRange, CURRENT_VERSION, MIN_VERSION,
};
use xftp_proto::{ServerAddress, Transmission, ValidFileDescription, XFTP_BLOCK_SIZE};

/// What the relay does with one command instead of the normal answer.
#[derive(Debug, Clone)]
enum Fault {
    /// Close the connection without answering.
    Drop,
    /// Answer this error.
    Error(XftpError),
    /// FNEW: answer with one recipient ID fewer than keys.
    ShortIds,
}

/// A chunk in the scripted relay.
#[derive(Debug, Clone)]
struct Chunk {
    recipients: HashMap<Vec<u8>, PublicKey>,
    data: Option<Vec<u8>>,
}

/// Which commands get which fault: `(command tag, how many times)`.
type Script = Vec<(&'static str, usize, Fault)>;

#[derive(Debug, Default)]
struct State {
    chunks: HashMap<Vec<u8>, Chunk>,
    /// Recipient ID to sender ID.
    by_recipient: HashMap<Vec<u8>, Vec<u8>>,
    script: Script,
    /// Commands seen, by tag.
    seen: HashMap<&'static str, usize>,
}

struct Scripted {
    address: ServerAddress,
    addr: std::net::SocketAddr,
    state: Arc<Mutex<State>>,
    connections: Arc<AtomicUsize>,
}

impl Scripted {
    async fn start() -> Self {
        let (identity, _) =
            transport::Identity::generate(transport::SignAlgorithm::Ed25519, "127.0.0.1").unwrap();
        let acceptor = transport::server_acceptor(&identity).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let address: ServerAddress = format!(
            "xftp://{}@127.0.0.1:{}",
            identity.fingerprint().unwrap(),
            addr.port()
        )
        .parse()
        .unwrap();
        let online = PrivateKey::from_raw(
            KeyAlgorithm::Ed25519,
            &identity.key.raw_private_key().unwrap(),
        )
        .unwrap();
        let chain = Arc::new(identity.chain_der().unwrap());
        let state = Arc::new(Mutex::new(State::default()));
        let connections = Arc::new(AtomicUsize::new(0));
        let (st, conns) = (state.clone(), connections.clone());
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                conns.fetch_add(1, Ordering::SeqCst);
                let ssl = openssl::ssl::Ssl::new(acceptor.context()).unwrap();
                let (st, chain, online) = (st.clone(), chain.clone(), online.clone());
                tokio::spawn(async move {
                    let mut tls = tokio_openssl::SslStream::new(ssl, tcp).unwrap();
                    if std::pin::Pin::new(&mut tls).accept().await.is_err() {
                        return;
                    }
                    let sid = transport::session_id(tls.ssl());
                    serve(tls, sid, st, chain, online).await;
                });
            }
        });
        Self {
            address,
            addr,
            state,
            connections,
        }
    }

    fn script(&self, tag: &'static str, times: usize, fault: Fault) {
        self.state.lock().unwrap().script.push((tag, times, fault));
    }

    fn seen(&self, tag: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .seen
            .get(tag)
            .copied()
            .unwrap_or(0)
    }

    fn pool(relays: &[&Scripted]) -> Arc<Pool> {
        let pool = Arc::new(Pool::default());
        for r in relays {
            pool.route(&r.address, r.addr);
        }
        pool
    }
}

async fn serve(
    tls: tokio_openssl::SslStream<tokio::net::TcpStream>,
    session_id: Vec<u8>,
    state: Arc<Mutex<State>>,
    chain: Arc<Vec<Vec<u8>>>,
    online: PrivateKey,
) {
    let Ok(mut conn) = h2::server::handshake(tls).await else {
        return;
    };
    let (dh_pub, _) = simplex_crypto::generate(KeyAlgorithm::X25519).unwrap();
    let hello_done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Each request on its own task: the connection must keep being driven for bodies to flow.
    let (gone_tx, mut gone) = tokio::sync::mpsc::channel::<()>(1);
    loop {
        let next = tokio::select! {
            r = conn.accept() => r,
            _ = gone.recv() => return, // a scripted Drop: close the connection
        };
        let Some(Ok((req, respond))) = next else {
            return;
        };
        let (state, chain, online, sid, dh_pub, hello_done, gone_tx) = (
            state.clone(),
            chain.clone(),
            online.clone(),
            session_id.clone(),
            dh_pub.clone(),
            hello_done.clone(),
            gone_tx.clone(),
        );
        tokio::spawn(async move {
            let ctx = Ctx {
                state,
                chain,
                online,
                session_id: sid,
                dh_pub,
                hello_done,
            };
            if !request(ctx, req, respond).await {
                let _ = gone_tx.send(()).await;
            }
        });
    }
}

struct Ctx {
    state: Arc<Mutex<State>>,
    chain: Arc<Vec<Vec<u8>>>,
    online: PrivateKey,
    session_id: Vec<u8>,
    dh_pub: PublicKey,
    hello_done: Arc<std::sync::atomic::AtomicBool>,
}

/// Answers one request; `false` to drop the connection.
async fn request(
    ctx: Ctx,
    req: http::Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
) -> bool {
    let mut body = req.into_body();
    let mut bytes = BytesMut::new();
    while let Some(Ok(piece)) = body.data().await {
        let _ = body.flow_control().release_capacity(piece.len());
        bytes.extend_from_slice(&piece);
    }
    let mut answer = |block: Vec<u8>, extra: Option<Vec<u8>>| {
        let resp = http::Response::builder().status(200).body(()).unwrap();
        let mut s = respond.send_response(resp, false).unwrap();
        let mut all = block;
        if let Some(e) = extra {
            all.extend_from_slice(&e);
        }
        let _ = s.send_data(Bytes::from(all), true);
    };
    if !ctx.hello_done.load(Ordering::SeqCst) {
        if bytes.is_empty() {
            let spki = ctx.dh_pub.to_der();
            let sig = simplex_crypto::sign(&ctx.online, &spki).unwrap();
            let hs = ServerHandshake {
                versions: VersionRange {
                    min: MIN_VERSION,
                    max: CURRENT_VERSION,
                },
                session_id: ctx.session_id.clone(),
                cert_chain: ctx.chain.to_vec(),
                signed_key: simplex_crypto::signed::encode_signed_key(
                    &spki,
                    KeyAlgorithm::Ed25519,
                    &sig,
                ),
                web_identity_proof: Vec::new(),
            };
            answer(hs.encode_block().unwrap(), None);
        } else {
            ClientHandshake::decode_block(&bytes).unwrap();
            ctx.hello_done.store(true, Ordering::SeqCst);
            answer(Vec::new(), None);
        }
        return true;
    }
    let t = Transmission::decode_block(&bytes[..XFTP_BLOCK_SIZE]).unwrap();
    let cmd = Command::decode(&t.command).unwrap();
    let chunk_bytes = &bytes[XFTP_BLOCK_SIZE..];
    let reply = |r: Response| {
        Transmission {
            session_id: ctx.session_id.clone(),
            corr_id: t.corr_id.clone(),
            entity_id: t.entity_id.clone(),
            command: r.encode().unwrap(),
            ..Transmission::default()
        }
        .encode_block()
        .unwrap()
    };
    let fault = {
        let mut st = ctx.state.lock().unwrap();
        *st.seen.entry(cmd.tag()).or_default() += 1;
        let pos = st
            .script
            .iter()
            .position(|(tag, n, _)| *tag == cmd.tag() && *n > 0);
        pos.map(|i| {
            st.script[i].1 -= 1;
            st.script[i].2.clone()
        })
    };
    match fault {
        Some(Fault::Drop) => return false,
        Some(Fault::Error(e)) => {
            answer(reply(Response::Err(e)), None);
            return true;
        }
        _ => {}
    }
    let short = matches!(fault, Some(Fault::ShortIds));
    let (resp, extra) = execute(&ctx.state, &t, cmd, chunk_bytes, short);
    answer(reply(resp), extra);
    true
}

/// The normal semantics, in memory (signatures are not checked: the client is not under test
/// for that, its answers are).
fn execute(
    state: &Mutex<State>,
    t: &Transmission,
    cmd: Command,
    chunk_bytes: &[u8],
    short_ids: bool,
) -> (Response, Option<Vec<u8>>) {
    let mut st = state.lock().unwrap();
    let new_id = || {
        let mut id = vec![0u8; 16];
        openssl::rand::rand_bytes(&mut id).unwrap();
        id
    };
    match cmd {
        Command::New { recipient_keys, .. } => {
            let sender_id = new_id();
            let mut ids = Vec::new();
            let mut recipients = HashMap::new();
            for k in recipient_keys {
                let rid = new_id();
                st.by_recipient.insert(rid.clone(), sender_id.clone());
                recipients.insert(rid.clone(), k);
                ids.push(rid);
            }
            if short_ids {
                ids.pop();
            }
            st.chunks.insert(
                sender_id.clone(),
                Chunk {
                    recipients,
                    data: None,
                },
            );
            (
                Response::Sids {
                    sender_id,
                    recipient_ids: ids,
                },
                None,
            )
        }
        Command::Put => match st.chunks.get_mut(&t.entity_id) {
            Some(c) => {
                c.data = Some(chunk_bytes.to_vec());
                (Response::Ok, None)
            }
            None => (Response::Err(XftpError::Auth), None),
        },
        Command::Get { dh_key } => {
            let data = st
                .by_recipient
                .get(&t.entity_id)
                .and_then(|s| st.chunks.get(s))
                .and_then(|c| c.data.clone());
            let Some(mut data) = data else {
                return (Response::Err(XftpError::Auth), None);
            };
            let (server_pub, server_priv) = simplex_crypto::generate(KeyAlgorithm::X25519).unwrap();
            let key: [u8; 32] = simplex_crypto::dh(&server_priv, &dh_key)
                .unwrap()
                .try_into()
                .unwrap();
            let mut nonce = [0u8; 24];
            openssl::rand::rand_bytes(&mut nonce).unwrap();
            let mut stream = SecretBoxStream::new(&SbKey::from_bytes(key), &SbNonce(nonce));
            stream.encrypt_in_place(&mut data);
            data.extend_from_slice(&stream.tag());
            (
                Response::File {
                    dh_key: server_pub,
                    nonce,
                },
                Some(data),
            )
        }
        Command::Ack => {
            let sid = st.by_recipient.remove(&t.entity_id);
            if let Some(c) = sid.and_then(|s| st.chunks.get_mut(&s)) {
                c.recipients.remove(&t.entity_id);
            }
            (Response::Ok, None)
        }
        Command::Del => {
            st.chunks.remove(&t.entity_id);
            (Response::Ok, None)
        }
        Command::Add { .. } => (Response::Err(XftpError::Internal), None),
        Command::Ping => (Response::Pong, None),
    }
}

fn noise(len: usize, mut x: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn file(dir: &Path, len: usize) -> std::path::PathBuf {
    let p = dir.join("data.bin");
    std::fs::write(&p, noise(len, 99)).unwrap();
    p
}

fn opts(recipients: usize, retries: u32) -> SendOptions {
    SendOptions {
        recipients,
        retries,
        ..SendOptions::default()
    }
}

fn valid(d: &xftp_proto::FileDescription) -> ValidFileDescription {
    ValidFileDescription::from_yaml(&d.to_yaml()).unwrap()
}

#[tokio::test]
async fn fewer_recipient_ids_than_keys_is_an_error_not_a_panic() {
    let relay = Scripted::start().await;
    relay.script("FNEW", 1, Fault::ShortIds);
    let dir = tempfile::tempdir().unwrap();
    let r = agent::send_file(
        Scripted::pool(&[&relay]),
        &file(dir.path(), 10_000),
        std::slice::from_ref(&relay.address),
        &opts(2, 1),
        |_| {},
    )
    .await;
    match r {
        Err(AgentError::Client(ClientError::Unexpected(m))) => {
            assert!(m.contains("1 recipient IDs for 2 keys"), "{m}")
        }
        other => panic!("expected an error, got {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn a_dropped_connection_is_retried_on_a_new_one_and_a_refusal_is_not() {
    let relay = Scripted::start().await;
    relay.script("FPUT", 1, Fault::Drop);
    let dir = tempfile::tempdir().unwrap();
    let src = file(dir.path(), 10_000);
    let sent = agent::send_file(
        Scripted::pool(&[&relay]),
        &src,
        std::slice::from_ref(&relay.address),
        &opts(1, 3),
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(relay.seen("FPUT"), 2, "one retry");
    assert_eq!(
        relay.connections.load(Ordering::SeqCst),
        2,
        "on a new connection"
    );
    // The retried upload is whole: the file comes back.
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let got = agent::receive_file(
        Scripted::pool(&[&relay]),
        &valid(&sent.recipients[0]),
        &out,
        &RecvOptions::default(),
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(std::fs::read(got.path).unwrap(), noise(10_000, 99));

    // AUTH is final: no second attempt.
    relay.script("FNEW", 1, Fault::Error(XftpError::Auth));
    let before = relay.seen("FNEW");
    let r = agent::send_file(
        Scripted::pool(&[&relay]),
        &src,
        std::slice::from_ref(&relay.address),
        &opts(1, 3),
        |_| {},
    )
    .await;
    assert!(matches!(
        r,
        Err(AgentError::Client(ClientError::Relay(XftpError::Auth)))
    ));
    assert_eq!(relay.seen("FNEW") - before, 1);
}

#[tokio::test]
async fn a_download_falls_back_to_the_next_replica() {
    let (a, b) = (Scripted::start().await, Scripted::start().await);
    let dir = tempfile::tempdir().unwrap();
    let sent = agent::send_file(
        Scripted::pool(&[&a, &b]),
        &file(dir.path(), 10_000),
        &[a.address.clone(), b.address.clone()],
        &SendOptions {
            replicas: 2,
            ..opts(1, 1)
        },
        |_| {},
    )
    .await
    .unwrap();
    let desc = valid(&sent.recipients[0]);
    let first = &desc.chunks[0].replicas[0].server;
    let (bad, good) = if *first == a.address.server {
        (&a, &b)
    } else {
        (&b, &a)
    };
    bad.script("FGET", 1, Fault::Error(XftpError::Auth));
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let got = agent::receive_file(
        Scripted::pool(&[&a, &b]),
        &desc,
        &out,
        &RecvOptions {
            retries: 1,
            ..RecvOptions::default()
        },
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(std::fs::read(got.path).unwrap(), noise(10_000, 99));
    assert_eq!((bad.seen("FGET"), good.seen("FGET")), (1, 1));
    // The replica that served it is the one acknowledged.
    assert_eq!((bad.seen("FACK"), good.seen("FACK")), (0, 1));
}

/// A progress callback that replaces the relay's script once the first chunk has arrived.
fn after_first_chunk(relay: &Scripted, script: Script) -> impl Fn(agent::Progress) + Send + Sync {
    let pending = Mutex::new(Some((relay.state.clone(), script)));
    move |_| {
        if let Some((state, script)) = pending.lock().unwrap().take() {
            state.lock().unwrap().script = script;
        }
    }
}

/// The partial download file of a description in `dir`, if one is kept.
fn kept_part(dir: &Path) -> bool {
    std::fs::read_dir(dir).unwrap().flatten().any(|e| {
        let n = e.file_name().to_string_lossy().into_owned();
        n.starts_with(".xftp-") && n.ends_with(".part")
    })
}

#[tokio::test]
async fn a_download_keeps_its_partial_file_only_when_trying_again_can_help() {
    let relay = Scripted::start().await;
    let dir = tempfile::tempdir().unwrap();
    // Several chunks, so that some are on disk before the failure.
    let len = 5_000_000;
    let src = dir.path().join("big.bin");
    std::fs::write(&src, noise(len, 5)).unwrap();
    let sent = agent::send_file(
        Scripted::pool(&[&relay]),
        &src,
        std::slice::from_ref(&relay.address),
        &opts(1, 1),
        |_| {},
    )
    .await
    .unwrap();
    let desc = valid(&sent.recipients[0]);
    assert!(desc.chunks.len() > 1);
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let recv_opts = RecvOptions {
        retries: 1,
        parallel: 1,
        ..RecvOptions::default()
    };
    // A connection lost on the second chunk (the first is on disk): retriable, so the
    // partial file stays ...
    let r = agent::receive_file(
        Scripted::pool(&[&relay]),
        &desc,
        &out,
        &recv_opts,
        after_first_chunk(&relay, vec![("FGET", 1, Fault::Drop)]),
    )
    .await;
    assert!(
        matches!(&r, Err(AgentError::Client(c)) if c.is_retriable()),
        "{r:?}"
    );
    assert!(
        kept_part(&out),
        "a retriable failure keeps the partial file"
    );
    // ... and the next run resumes after the chunk already on disk.
    let before = relay.seen("FGET");
    let got = agent::receive_file(Scripted::pool(&[&relay]), &desc, &out, &recv_opts, |_| {})
        .await
        .unwrap();
    assert_eq!(std::fs::read(got.path).unwrap(), noise(len, 5));
    assert_eq!(
        relay.seen("FGET") - before,
        desc.chunks.len() - 1,
        "the chunk on disk was not downloaded again"
    );

    // A refusal (the file is gone): nothing to resume, nothing kept.
    let out2 = dir.path().join("out2");
    std::fs::create_dir_all(&out2).unwrap();
    let r = agent::receive_file(
        Scripted::pool(&[&relay]),
        &desc,
        &out2,
        &recv_opts,
        after_first_chunk(&relay, vec![("FGET", 10, Fault::Error(XftpError::Auth))]),
    )
    .await;
    assert!(r.is_err());
    assert!(
        !kept_part(&out2),
        "a final failure removes the partial file"
    );
}

#[tokio::test]
async fn a_description_too_long_for_a_link_goes_through_a_redirect() {
    let relay = Scripted::start().await;
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("big.bin");
    std::fs::write(&src, noise(3_000_000, 8)).unwrap();
    let pool = Scripted::pool(&[&relay]);
    let servers = [relay.address.clone()];
    let o = opts(1, 1);
    let sent = agent::send_file(pool.clone(), &src, &servers, &o, |_| {})
        .await
        .unwrap();
    let direct_chunks = sent.recipients[0].chunks.len();
    let sent = agent::redirect_large(pool.clone(), sent, &servers, &o, 100)
        .await
        .unwrap();
    let small = valid(&sent.recipients[0]);
    assert!(small.redirect.is_some());
    assert_eq!(small.chunks.len(), 1);
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let got = agent::receive_file(pool, &small, &out, &RecvOptions::default(), |_| {})
        .await
        .unwrap();
    assert_eq!(std::fs::read(&got.path).unwrap(), noise(3_000_000, 8));
    assert_eq!(relay.seen("FGET"), 1 + direct_chunks);
    assert!(
        !std::fs::read_dir(&out).unwrap().flatten().any(|e| e
            .file_name()
            .to_string_lossy()
            .starts_with(".xftp-redirect")),
        "the redirect's temporary folder is removed"
    );
}

#[tokio::test]
async fn a_relay_that_never_answers_does_not_hold_up_connections_to_others() {
    let good = Scripted::start().await;
    // Accepts TCP and then says nothing: a connect to it hangs until its timeout.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let silent_address: ServerAddress = format!(
        "xftp://LcJUMfVhwD8yxjAiSaDzzGF3-kLG4Uh9Fd2tV3kYU7s=@127.0.0.1:{}",
        silent_addr.port()
    )
    .parse()
    .unwrap();
    let _held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            open.push(s);
        }
    });
    let pool = Scripted::pool(&[&good]);
    pool.route(&silent_address, silent_addr);
    let stuck = {
        let (pool, a) = (pool.clone(), silent_address.clone());
        tokio::spawn(async move { pool.get(&a).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let t = std::time::Instant::now();
    let c = tokio::time::timeout(std::time::Duration::from_secs(10), pool.get(&good.address))
        .await
        .expect("a connect to another relay waited for the silent one")
        .unwrap();
    c.ping().await.unwrap();
    assert!(t.elapsed() < std::time::Duration::from_secs(10));
    assert!(
        !stuck.is_finished(),
        "the silent relay's connect is still pending"
    );
    stuck.abort();
}
