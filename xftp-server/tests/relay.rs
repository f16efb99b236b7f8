//! The real `xftp-server` binary on 127.0.0.1, driven by the client library: full transfers,
//! every error row, persistence, crashes, quota, passwords, reference certificates.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod common;

use std::path::Path;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use chunker::{
    encrypt_file, DecryptOptions, DecryptParams, Decryptor, EncryptOptions, SbKey, SbNonce,
};
use common::{ed25519, noise, one_chunk, relay_err, InitOpts, TestRelay};
use simplex_crypto::{KeyAlgorithm, PrivateKey, PublicKey};
use xftp_client::{ClientError, XftpConnection};
use xftp_proto::command::{CmdError, Command, Response, XftpError};
use xftp_proto::Transmission;

struct SentChunk {
    sender_id: Vec<u8>,
    sender_key: PrivateKey,
    recipients: Vec<(Vec<u8>, PrivateKey)>,
    size: u32,
}

struct SentFile {
    key: SbKey,
    nonce: SbNonce,
    digest: [u8; 64],
    chunks: Vec<SentChunk>,
}

/// Encrypts `path` and uploads every chunk with `n` recipients.
async fn send_file(c: &XftpConnection, path: &Path, n: usize) -> SentFile {
    let key = SbKey::generate();
    let nonce = SbNonce::generate();
    let mut enc = encrypt_file(path, &key, &nonce, &EncryptOptions::default()).unwrap();
    let mut chunks = Vec::new();
    for chunk in enc.by_ref() {
        let chunk = chunk.unwrap();
        let (_, sender_key) = ed25519();
        let rcps: Vec<(PublicKey, PrivateKey)> = (0..n).map(|_| ed25519()).collect();
        let size = chunk.data().len() as u32;
        let ids = c
            .create(
                &sender_key,
                size,
                chunk.sha256,
                rcps.iter().map(|r| r.0.clone()).collect(),
                None,
            )
            .await
            .unwrap();
        assert_eq!(ids.recipient_ids.len(), n);
        c.upload(
            &ids.sender_id,
            &sender_key,
            Bytes::copy_from_slice(chunk.data()),
        )
        .await
        .unwrap();
        chunks.push(SentChunk {
            sender_id: ids.sender_id,
            sender_key,
            recipients: ids
                .recipient_ids
                .into_iter()
                .zip(rcps.into_iter().map(|r| r.1))
                .collect(),
            size,
        });
    }
    let summary = enc.finish().unwrap();
    SentFile {
        key,
        nonce,
        digest: summary.digest,
        chunks,
    }
}

/// Downloads every chunk as recipient `r` and decrypts into `out`.
async fn receive_file(c: &XftpConnection, f: &SentFile, r: usize, out: &Path) -> Vec<u8> {
    let params = DecryptParams {
        key: f.key.clone(),
        nonce: f.nonce,
        chunk_sizes: f.chunks.iter().map(|c| c.size).collect(),
        digest: f.digest,
        chunk_digests: None,
    };
    std::fs::create_dir_all(out).unwrap();
    let mut dec = Decryptor::new(params, DecryptOptions::new(out)).unwrap();
    for ch in &f.chunks {
        let (rid, rkey) = &ch.recipients[r];
        dec.push(c.download(rid, rkey, ch.size).await.unwrap())
            .unwrap();
    }
    let done = dec.finish().unwrap();
    let bytes = std::fs::read(&done.path).unwrap();
    std::fs::remove_file(done.path).unwrap();
    bytes
}

#[tokio::test]
async fn full_transfers_with_one_and_three_recipients() {
    let relay = TestRelay::init_and_start(InitOpts::default());
    let c = relay.connect().await;
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("report.bin");
    let content = noise(5_000_000, 7);
    std::fs::write(&src, &content).unwrap();

    for n in [1usize, 3] {
        let f = send_file(&c, &src, n).await;
        assert_eq!(f.chunks.len(), 2, "5 MB is a 4 MiB and a 1 MiB chunk");
        for r in 0..n {
            assert_eq!(
                receive_file(&c, &f, r, &dir.path().join("out")).await,
                content
            );
        }
        // Idempotent re-upload.
        let ch = &f.chunks[0];
        let data = c
            .download(&ch.recipients[0].0, &ch.recipients[0].1, ch.size)
            .await
            .unwrap();
        c.upload(&ch.sender_id, &ch.sender_key, Bytes::from(data))
            .await
            .unwrap();
        // A recipient that acknowledged can no longer download; the others still can.
        c.ack(&ch.recipients[0].0, &ch.recipients[0].1)
            .await
            .unwrap();
        let e = relay_err(
            c.download(&ch.recipients[0].0, &ch.recipients[0].1, ch.size)
                .await,
        );
        assert_eq!(e, XftpError::Auth);
        if n == 3 {
            assert!(c
                .download(&ch.recipients[2].0, &ch.recipients[2].1, ch.size)
                .await
                .is_ok());
        }
        // Delete: every recipient loses access and the chunk files go.
        for ch in &f.chunks {
            c.delete(&ch.sender_id, &ch.sender_key).await.unwrap();
            let (rid, rkey) = ch.recipients.last().unwrap();
            assert_eq!(
                relay_err(c.download(rid, rkey, ch.size).await),
                XftpError::Auth
            );
            assert_eq!(
                relay_err(c.delete(&ch.sender_id, &ch.sender_key).await),
                XftpError::Auth
            );
        }
    }
    assert!(
        relay.chunk_files().is_empty(),
        "deleted chunks leave no files"
    );
}

#[tokio::test]
async fn every_error_row() {
    let relay = TestRelay::init_and_start(InitOpts::default());
    let c = relay.connect().await;
    let (_, skey) = ed25519();
    let (rpub, rkey) = ed25519();
    let data = noise(65536, 1);
    let digest = openssl::sha::sha256(&data);

    // SIZE: a size relays do not accept; bodies shorter or longer than declared.
    let e = relay_err(
        c.create(&skey, 1000, digest, vec![rpub.clone()], None)
            .await,
    );
    assert_eq!(e, XftpError::Size);
    let ids = c
        .create(&skey, 65536, digest, vec![rpub.clone()], None)
        .await
        .unwrap();
    let e = relay_err(
        c.upload(&ids.sender_id, &skey, Bytes::from(data[..1000].to_vec()))
            .await,
    );
    assert_eq!(e, XftpError::Size);
    let mut long = data.clone();
    long.extend_from_slice(&[0; 10]);
    assert_eq!(
        relay_err(c.upload(&ids.sender_id, &skey, Bytes::from(long)).await),
        XftpError::Size
    );

    // NO_FILE: download before upload.
    assert_eq!(
        relay_err(c.download(&ids.recipient_ids[0], &rkey, 65536).await),
        XftpError::NoFile
    );

    // DIGEST: wrong content.
    let e = relay_err(
        c.upload(&ids.sender_id, &skey, Bytes::from(noise(65536, 2)))
            .await,
    );
    assert_eq!(e, XftpError::Digest);
    assert!(
        relay.chunk_files().is_empty(),
        "failed uploads leave no file"
    );
    c.upload(&ids.sender_id, &skey, Bytes::from(data.clone()))
        .await
        .unwrap();

    // AUTH: signed by the wrong key; unknown IDs (sender and recipient).
    let (_, other) = ed25519();
    assert_eq!(
        relay_err(c.delete(&ids.sender_id, &other).await),
        XftpError::Auth
    );
    assert_eq!(relay_err(c.delete(&[1; 16], &skey).await), XftpError::Auth);
    assert_eq!(
        relay_err(c.download(&[2; 16], &rkey, 65536).await),
        XftpError::Auth
    );
    // A recipient ID used as a sender ID.
    assert_eq!(
        relay_err(c.delete(&ids.recipient_ids[0], &rkey).await),
        XftpError::Auth
    );

    // CMD errors.
    let cmd = |e| XftpError::Cmd(e);
    let raw = |entity: &[u8], key: Option<&PrivateKey>, command: &[u8]| {
        let mut t = Transmission {
            authenticator: vec![],
            session_id: c.session_id().to_vec(),
            corr_id: b"1".to_vec(),
            entity_id: entity.to_vec(),
            command: command.to_vec(),
        };
        if let Some(k) = key {
            t.authenticator = simplex_crypto::sign(k, &t.signed_bytes().unwrap()).unwrap();
        }
        t
    };
    let answer = |t: Transmission| {
        let c = c.clone();
        async move { c.transmit(&t, None).await.unwrap().0 }
    };
    assert_eq!(
        answer(raw(&ids.sender_id, Some(&skey), b"NOPE")).await,
        Response::Err(cmd(CmdError::Unknown))
    );
    assert_eq!(
        answer(raw(&ids.sender_id, Some(&skey), b"FPUT x")).await,
        Response::Err(cmd(CmdError::Syntax))
    );
    assert_eq!(
        answer(raw(&ids.sender_id, None, b"FDEL")).await,
        Response::Err(cmd(CmdError::NoAuth))
    );
    assert_eq!(
        answer(raw(&[], Some(&skey), b"FDEL")).await,
        Response::Err(cmd(CmdError::NoAuth))
    );
    let fnew = Command::New {
        info: xftp_proto::FileInfo {
            sender_key: simplex_crypto::public_key(&skey).unwrap(),
            size: 65536,
            digest: digest.to_vec(),
        },
        recipient_keys: vec![rpub.clone()],
        basic_auth: None,
    }
    .encode()
    .unwrap();
    assert_eq!(
        answer(raw(&[], None, &fnew)).await,
        Response::Err(cmd(CmdError::NoAuth))
    );
    assert_eq!(
        answer(raw(b"id", Some(&skey), &fnew)).await,
        Response::Err(cmd(CmdError::HasAuth))
    );
    assert_eq!(
        answer(raw(&[], Some(&skey), b"PING")).await,
        Response::Err(cmd(CmdError::HasAuth))
    );
    assert_eq!(
        answer(raw(b"id", None, b"PING")).await,
        Response::Err(cmd(CmdError::HasAuth))
    );
    assert_eq!(answer(raw(&[], None, b"PING")).await, Response::Pong);

    // SESSION: a transmission signed for another TLS session.
    let mut foreign = raw(&ids.sender_id, None, b"FDEL");
    foreign.session_id = vec![7; 32];
    foreign.authenticator = simplex_crypto::sign(&skey, &foreign.signed_bytes().unwrap()).unwrap();
    assert_eq!(answer(foreign).await, Response::Err(XftpError::Session));
    // ... including one signed on a real, other connection.
    let c2 = relay.connect().await;
    let mut t = raw(&ids.sender_id, None, b"FDEL");
    t.session_id = c2.session_id().to_vec();
    t.authenticator = simplex_crypto::sign(&skey, &t.signed_bytes().unwrap()).unwrap();
    assert_eq!(answer(t).await, Response::Err(XftpError::Session));

    // BLOCK: a head that is not one padded 16 KiB block with one transmission.
    let short = c
        .transmit_raw(Bytes::from_static(b"short"), None)
        .await
        .unwrap()
        .0;
    assert_eq!(short, Response::Err(XftpError::Block));
    let mut two = raw(&[], None, b"PING").encode_block().unwrap();
    two[2] = 2;
    assert_eq!(
        c.transmit_raw(Bytes::from(two), None).await.unwrap().0,
        Response::Err(XftpError::Block)
    );

    // The chunk survived all of it.
    assert_eq!(
        c.download(&ids.recipient_ids[0], &rkey, 65536)
            .await
            .unwrap(),
        data
    );
}

#[tokio::test]
async fn wrong_fingerprint_is_refused() {
    let relay = TestRelay::init_and_start(InitOpts::default());
    let mut addr = relay.server_address();
    addr.server.key_hash[0] ^= 1;
    let err = XftpConnection::connect(&addr, Some(relay.addr))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::Tls(transport::TlsError::Identity(_))),
        "{err}"
    );
    assert!(!err.is_retriable());
}

#[tokio::test]
async fn restart_with_store_log_keeps_files_and_without_forgets_them() {
    let mut relay = TestRelay::init_and_start(InitOpts::default());
    let c = relay.connect().await;
    let (_, _, rid, rkey, data) = one_chunk(&c, 3).await;
    // One acknowledged, one deleted: the restart must remember those too.
    let (_, _, rid2, rkey2, _) = one_chunk(&c, 4).await;
    c.ack(&rid2, &rkey2).await.unwrap();
    relay.stop();
    relay.start();
    let c = relay.connect().await;
    assert_eq!(c.download(&rid, &rkey, 65536).await.unwrap(), data);
    assert_eq!(
        relay_err(c.download(&rid2, &rkey2, 65536).await),
        XftpError::Auth
    );
    // The log was compacted and a backup kept (on the database there is none).
    if !common::pg::database_mode() {
        store_log_was_compacted(&relay);
    }

    let mut relay = TestRelay::init_and_start(InitOpts {
        store_log: false,
        ..InitOpts::default()
    });
    let c = relay.connect().await;
    let (_, _, rid, rkey, _) = one_chunk(&c, 5).await;
    relay.stop();
    relay.start();
    let c = relay.connect().await;
    assert_eq!(
        relay_err(c.download(&rid, &rkey, 65536).await),
        XftpError::Auth
    );
    assert!(
        relay.chunk_files().is_empty(),
        "forgotten chunks are removed, not left as orphans"
    );
}

fn store_log_was_compacted(relay: &TestRelay) {
    let logs: Vec<String> = common::list(&relay.log())
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(
        logs.iter().any(|n| n == "file-server-store.log"),
        "{logs:?}"
    );
    assert!(
        logs.iter()
            .any(|n| n.starts_with("file-server-store.log.") && !n.ends_with(".start")),
        "{logs:?}"
    );
}

#[tokio::test]
async fn kill9_during_upload_then_reupload() {
    let mut relay = TestRelay::init_and_start(InitOpts {
        local_files: true,
        ..InitOpts::default()
    });
    let c = relay.connect().await;
    let (_, skey) = ed25519();
    let (rpub, rkey) = ed25519();
    let data = noise(4 << 20, 9);
    let ids = c
        .create(
            &skey,
            4 << 20,
            openssl::sha::sha256(&data),
            vec![rpub],
            None,
        )
        .await
        .unwrap();
    let upload = {
        let (c, sid, skey, data) = (c.clone(), ids.sender_id.clone(), skey.clone(), data.clone());
        tokio::spawn(async move { c.upload(&sid, &skey, Bytes::from(data)).await })
    };
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    relay.kill9();
    let _ = upload.await;
    // Whatever the kill interrupted, plant what a torn write leaves: a partial chunk file for
    // this record and a file no record knows.
    let location = relay
        .files()
        .join(simplex_codec::base64url::encode(&ids.sender_id));
    if !location.exists() {
        std::fs::write(&location, &data[..1000]).unwrap();
    }
    std::fs::write(
        relay
            .files()
            .join(simplex_codec::base64url::encode(&[5; 16])),
        b"orphan",
    )
    .unwrap();
    relay.start();
    let files = relay.chunk_files();
    assert!(
        files.is_empty(),
        "no orphan or partial chunk stays: {files:?}"
    );
    // The partial upload of a known record is removed; the file nobody knows is kept aside.
    let kept = relay
        .files()
        .join("quarantine")
        .join(simplex_codec::base64url::encode(&[5; 16]));
    assert_eq!(std::fs::read(kept).unwrap(), b"orphan");
    let c = relay.connect().await;
    c.upload(&ids.sender_id, &skey, Bytes::from(data.clone()))
        .await
        .unwrap();
    assert_eq!(
        c.download(&ids.recipient_ids[0], &rkey, 4 << 20)
            .await
            .unwrap(),
        data
    );
}

#[tokio::test]
async fn quota_is_reserved_and_released() {
    let relay = TestRelay::init_and_start(InitOpts {
        quota: "128kb",
        ..InitOpts::default()
    });
    let c = relay.connect().await;
    let (s1, k1, ..) = one_chunk(&c, 1).await;
    one_chunk(&c, 2).await;
    let (_, skey) = ed25519();
    let (rpub, _) = ed25519();
    let data = noise(65536, 3);
    let ids = c
        .create(&skey, 65536, openssl::sha::sha256(&data), vec![rpub], None)
        .await
        .unwrap();
    let e = relay_err(
        c.upload(&ids.sender_id, &skey, Bytes::from(data.clone()))
            .await,
    );
    assert_eq!(e, XftpError::Quota);
    c.delete(&s1, &k1).await.unwrap();
    c.upload(&ids.sender_id, &skey, Bytes::from(data))
        .await
        .unwrap();
}

#[tokio::test]
async fn password_and_new_files_off() {
    let mut relay = TestRelay::init_and_start(InitOpts {
        password: Some("s3cret"),
        ..InitOpts::default()
    });
    let c = relay.connect().await;
    let (_, skey) = ed25519();
    let (rpub, _) = ed25519();
    let d = [0u8; 32];
    assert_eq!(
        relay_err(c.create(&skey, 65536, d, vec![rpub.clone()], None).await),
        XftpError::Auth
    );
    assert_eq!(
        relay_err(
            c.create(&skey, 65536, d, vec![rpub.clone()], Some("wrong"))
                .await
        ),
        XftpError::Auth
    );
    c.create(&skey, 65536, d, vec![rpub.clone()], Some("s3cret"))
        .await
        .unwrap();

    relay.stop();
    relay.set_ini("AUTH", "new_files", "off");
    relay.start();
    let c = relay.connect().await;
    let e = relay_err(c.create(&skey, 65536, d, vec![rpub], Some("s3cret")).await);
    assert_eq!(e, XftpError::Auth);
}

#[tokio::test]
async fn reference_certificates_are_served_with_their_fingerprint() {
    let certs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/xftp/certs");
    for (ca, crt, key) in [
        ("ca.crt", "server.crt", "server.key"),
        ("ed25519_ca.crt", "ed25519_server.crt", "ed25519_server.key"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("cfg");
        std::fs::create_dir_all(&cfg).unwrap();
        std::fs::copy(certs.join(ca), cfg.join("ca.crt")).unwrap();
        std::fs::copy(certs.join(crt), cfg.join("server.crt")).unwrap();
        std::fs::copy(certs.join(key), cfg.join("server.key")).unwrap();
        std::fs::write(
            cfg.join("file-server.ini"),
            format!(
                "[STORE_LOG]\nenable = on\n[TRANSPORT]\nhost = localhost\n[FILES]\npath = {}\n",
                dir.path().join("files").display()
            ),
        )
        .unwrap();
        let der = openssl::x509::X509::from_pem(&std::fs::read(certs.join(ca)).unwrap())
            .unwrap()
            .to_der()
            .unwrap();
        let fp = simplex_codec::base64url::encode(&openssl::sha::sha256(&der));
        let relay = TestRelay::with_dir(dir);
        assert_eq!(
            relay.address,
            format!("xftp://{fp}@localhost:{}", relay.addr.port())
        );
        let c = relay.connect().await;
        c.ping().await.unwrap();
        let (_, _, rid, rkey, data) = one_chunk(&c, 11).await;
        assert_eq!(c.download(&rid, &rkey, 65536).await.unwrap(), data);
    }
}

#[tokio::test]
async fn expiry_with_a_fake_clock() {
    // In-process relay so the clock can be moved.
    let mut relay = TestRelay::init_and_start(InitOpts::default());
    let (handle, clock, c) = common::in_process_with_clock(&mut relay, 1_754_467_200 + 1800).await;
    let (_, _, rid, rkey, data) = one_chunk(&c, 21).await;
    assert_eq!(handle.relay.store.used().await.unwrap(), 65536);
    // 48 h later (created_at rounds down to the hour, +1 h grace): still there.
    clock.0.fetch_add(48 * 3600, Ordering::SeqCst);
    assert_eq!(handle.relay.expire().await.0, 0);
    assert_eq!(c.download(&rid, &rkey, 65536).await.unwrap(), data);
    clock.0.fetch_add(3 * 3600, Ordering::SeqCst);
    assert_eq!(handle.relay.expire().await, (1, 65536));
    assert_eq!(
        relay_err(c.download(&rid, &rkey, 65536).await),
        XftpError::Auth
    );
    assert_eq!(
        handle.relay.store.used().await.unwrap(),
        0,
        "expiry releases quota"
    );
    assert!(relay.chunk_files().is_empty());
    handle.shutdown().await;
}

/// Sends control-port lines and returns the answers (after the two greeting lines).
fn control(port: u16, lines: &[&str]) -> Vec<String> {
    use std::io::{BufRead, BufReader, Write};
    let mut tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut reader = BufReader::new(tcp.try_clone().unwrap());
    let mut line = String::new();
    for _ in 0..2 {
        line.clear();
        reader.read_line(&mut line).unwrap();
    }
    let mut answers = Vec::new();
    for l in lines {
        tcp.write_all(format!("{l}\n").as_bytes()).unwrap();
        line.clear();
        reader.read_line(&mut line).unwrap();
        answers.push(line.trim_end().to_string());
    }
    answers
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn control_port_blocks_and_deletes() {
    let mut relay = TestRelay::init_and_start(InitOpts::default());
    relay.stop();
    let port = free_port();
    relay.set_ini("TRANSPORT", "control_port", &port.to_string());
    relay.set_ini("AUTH", "control_port_admin_password", "adminpw");
    relay.start();
    let c = relay.connect().await;
    let (_, _, rid, rkey, _) = one_chunk(&c, 31).await;
    let (_, _, rid2, rkey2, _) = one_chunk(&c, 32).await;
    let r = simplex_codec::base64url::encode(&rid);
    let r2 = simplex_codec::base64url::encode(&rid2);
    let answers = control(
        port,
        &[
            &format!("block {r} reason=spam"),
            "auth wrong",
            "auth adminpw",
            &format!("block {r} reason=spam"),
            &format!("delete {r2}"),
            "stats",
            "bogus",
        ],
    );
    assert_eq!(answers[..5], ["AUTH", "AUTH", "ok", "ok", "ok"]);
    assert!(answers[5].contains("filesCount=1"), "{}", answers[5]);
    assert!(answers[6].starts_with("error:"));
    let e = relay_err(c.download(&rid, &rkey, 65536).await);
    assert_eq!(
        e,
        XftpError::Blocked(xftp_proto::command::BlockingInfo {
            reason: xftp_proto::command::BlockingReason::Spam,
            notice: None
        })
    );
    assert_eq!(
        relay_err(c.download(&rid2, &rkey2, 65536).await),
        XftpError::Auth
    );
    // Blocking survives a restart (FBLK in the store log).
    relay.stop();
    relay.start();
    let c = relay.connect().await;
    assert!(matches!(
        relay_err(c.download(&rid, &rkey, 65536).await),
        XftpError::Blocked(_)
    ));
}

/// A browser-like HTTP/2 request over TLS with SNI: (status, headers, body).
async fn web_request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, http::HeaderMap, Vec<u8>) {
    use openssl::ssl::{SslConnector, SslMethod};
    let certs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/xftp/certs");
    let ca =
        openssl::x509::X509::from_pem(&std::fs::read(certs.join("web_ca.crt")).unwrap()).unwrap();
    let mut b = SslConnector::builder(SslMethod::tls_client()).unwrap();
    let mut store = openssl::x509::store::X509StoreBuilder::new().unwrap();
    store.add_cert(ca).unwrap();
    b.set_verify_cert_store(store.build()).unwrap();
    b.set_alpn_protos(b"\x02h2").unwrap();
    let ssl = b
        .build()
        .configure()
        .unwrap()
        .into_ssl("localhost")
        .unwrap();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut tls = tokio_openssl::SslStream::new(ssl, tcp).unwrap();
    std::pin::Pin::new(&mut tls).connect().await.unwrap();
    let (send, conn) = h2::client::handshake(tls).await.unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut req = http::Request::builder()
        .method(method)
        .uri(format!("https://localhost{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    common::exchange(&send, req.body(()).unwrap(), body).await
}

#[tokio::test]
async fn web_mode_for_browsers() {
    let certs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/xftp/certs");
    let mut relay = TestRelay::init_and_start(InitOpts::default());
    relay.stop();
    let site = relay.dir.path().join("www");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("index.html"), b"<h1>XFTP</h1>").unwrap();
    std::fs::write(relay.dir.path().join("secret.txt"), b"not for the web").unwrap();
    relay.set_ini("WEB", "cert", certs.join("web.crt").to_str().unwrap());
    relay.set_ini("WEB", "key", certs.join("web.key").to_str().unwrap());
    relay.set_ini("WEB", "static_path", site.to_str().unwrap());
    relay.start();

    // A browser-like client: SNI, web certificate, identity proof, web headers.
    let web = xftp_client::WebOptions {
        sni: "localhost".into(),
        ca: openssl::x509::X509::from_pem(&std::fs::read(certs.join("web_ca.crt")).unwrap())
            .unwrap(),
    };
    let c = XftpConnection::connect_web(&relay.server_address(), Some(relay.addr), &web)
        .await
        .unwrap();
    c.ping().await.unwrap();
    let (_, _, rid, rkey, data) = one_chunk(&c, 41).await;
    assert_eq!(c.download(&rid, &rkey, 65536).await.unwrap(), data);
    // Native clients on the same port still get the XFTP chain.
    let native = relay.connect().await;
    assert_eq!(native.download(&rid, &rkey, 65536).await.unwrap(), data);

    // Preflight and CORS.
    let (status, headers, _) = web_request(relay.addr, "OPTIONS", "/", &[], vec![]).await;
    assert_eq!(status, 200);
    // The reference's preflight headers, exactly.
    assert_eq!(headers["access-control-allow-origin"], "*");
    assert_eq!(headers["access-control-allow-methods"], "POST, OPTIONS");
    assert_eq!(headers["access-control-allow-headers"], "*");
    assert_eq!(headers["access-control-max-age"], "86400");
    assert!(!headers.contains_key("access-control-expose-headers"));
    // Static pages (without CORS headers, as the reference), and nothing outside the static
    // directory.
    let (status, headers, body) = web_request(relay.addr, "GET", "/", &[], vec![]).await;
    assert_eq!((status, body.as_slice()), (200, &b"<h1>XFTP</h1>"[..]));
    assert!(!headers.contains_key("access-control-allow-origin"));
    for bad in [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/a/../../secret.txt",
    ] {
        let (status, _, body) = web_request(relay.addr, "GET", bad, &[], vec![]).await;
        assert_eq!(status, 403, "{bad}");
        assert!(body.is_empty());
    }
    assert_eq!(
        web_request(relay.addr, "GET", "/missing.html", &[], vec![])
            .await
            .0,
        404
    );
    // A browser request without the hello header before a handshake: SESSION.
    let block = simplex_codec::encoding::pad(b"0", xftp_proto::XFTP_BLOCK_SIZE).unwrap();
    let (status, headers, body) = web_request(relay.addr, "POST", "/", &[], block).await;
    assert_eq!(status, 200);
    assert_eq!(headers["access-control-allow-origin"], "*");
    assert_eq!(simplex_codec::encoding::unpad(&body).unwrap(), b"SESSION");
}

#[tokio::test]
async fn ed448_and_x25519_command_authentication() {
    let relay = TestRelay::init_and_start(InitOpts::default());
    let c = relay.connect().await;
    let data = noise(65536, 51);
    let digest = openssl::sha::sha256(&data);
    // Ed448 sender and recipient keys (114-byte signatures).
    let (_, s448) = simplex_crypto::generate(KeyAlgorithm::Ed448).unwrap();
    let (r448pub, r448) = simplex_crypto::generate(KeyAlgorithm::Ed448).unwrap();
    let ids = c
        .create(&s448, 65536, digest, vec![r448pub], None)
        .await
        .unwrap();
    c.upload(&ids.sender_id, &s448, Bytes::from(data.clone()))
        .await
        .unwrap();
    assert_eq!(
        c.download(&ids.recipient_ids[0], &r448, 65536)
            .await
            .unwrap(),
        data
    );

    // An X25519 sender key: the 80-byte authenticator over DH with the handshake key.
    let (xpub, xpriv) = simplex_crypto::generate(KeyAlgorithm::X25519).unwrap();
    let (rpub, _) = ed25519();
    let shared = simplex_crypto::dh(&xpriv, c.server_dh_key()).unwrap();
    let fnew = Command::New {
        info: xftp_proto::FileInfo {
            sender_key: xpub,
            size: 65536,
            digest: digest.to_vec(),
        },
        recipient_keys: vec![rpub],
        basic_auth: None,
    };
    let mut t = Transmission {
        authenticator: vec![],
        session_id: c.session_id().to_vec(),
        corr_id: b"corr-1".to_vec(),
        entity_id: vec![],
        command: fnew.encode().unwrap(),
    };
    let signed = t.signed_bytes().unwrap();
    t.authenticator = simplex_crypto::authenticator(&shared, &t.corr_id, &signed)
        .unwrap()
        .to_vec();
    let (resp, ..) = c.transmit(&t, None).await.unwrap();
    let Response::Sids { sender_id, .. } = resp else {
        panic!("X25519-authenticated FNEW refused: {resp:?}");
    };
    // A wrong authenticator is AUTH, like a bad signature.
    t.authenticator[20] ^= 1;
    assert_eq!(
        c.transmit(&t, None).await.unwrap().0,
        Response::Err(XftpError::Auth)
    );
    // And the relay's key of another connection does not work.
    let other = relay.connect().await;
    let wrong = simplex_crypto::dh(&xpriv, other.server_dh_key()).unwrap();
    let mut t2 = Transmission {
        authenticator: vec![],
        session_id: c.session_id().to_vec(),
        corr_id: b"corr-2".to_vec(),
        entity_id: sender_id,
        command: Command::Del.encode().unwrap(),
    };
    let signed = t2.signed_bytes().unwrap();
    t2.authenticator = simplex_crypto::authenticator(&wrong, &t2.corr_id, &signed)
        .unwrap()
        .to_vec();
    assert_eq!(
        c.transmit(&t2, None).await.unwrap().0,
        Response::Err(XftpError::Auth)
    );
    t2.authenticator = simplex_crypto::authenticator(&shared, &t2.corr_id, &signed)
        .unwrap()
        .to_vec();
    assert_eq!(c.transmit(&t2, None).await.unwrap().0, Response::Ok);
}
