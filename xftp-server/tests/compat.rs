//! Behaviour a client can tell apart from the reference relay's (simplexmq 6.5): repeated
//! handshakes on one connection (browser tabs share connections), commands while a handshake
//! is pending, and connections with an ALPN that is neither XFTP nor a browser's.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod common;

use std::path::Path;

use bytes::Bytes;
use common::{InitOpts, TestRelay};
use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
use simplex_codec::encoding::{pad, unpad};
use xftp_proto::handshake::{ClientHandshake, ClientHello, ServerHandshake, CURRENT_VERSION};
use xftp_proto::{Transmission, XFTP_BLOCK_SIZE};

/// One HTTP/2 connection kept open for several requests.
struct Raw(h2::client::SendRequest<Bytes>);

impl Raw {
    /// `alpn` in wire format; `sni` makes it a browser connection (web certificate checked).
    async fn connect(relay: &TestRelay, alpn: &[u8], sni: Option<&str>) -> Self {
        let mut b = SslConnector::builder(SslMethod::tls_client()).unwrap();
        b.set_alpn_protos(alpn).unwrap();
        match sni {
            Some(_) => {
                let ca = std::fs::read(certs().join("web_ca.crt")).unwrap();
                let mut store = openssl::x509::store::X509StoreBuilder::new().unwrap();
                store
                    .add_cert(openssl::x509::X509::from_pem(&ca).unwrap())
                    .unwrap();
                b.set_verify_cert_store(store.build()).unwrap();
            }
            None => b.set_verify(SslVerifyMode::NONE),
        }
        let mut cfg = b.build().configure().unwrap();
        if sni.is_none() {
            cfg.set_use_server_name_indication(false);
            cfg.set_verify_hostname(false);
        }
        let ssl = cfg.into_ssl(sni.unwrap_or("relay")).unwrap();
        let tcp = tokio::net::TcpStream::connect(relay.addr).await.unwrap();
        let mut tls = tokio_openssl::SslStream::new(ssl, tcp).unwrap();
        std::pin::Pin::new(&mut tls).connect().await.unwrap();
        let (send, conn) = h2::client::handshake(tls).await.unwrap();
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Self(send)
    }

    /// POSTs `body` with an optional header; returns status and body.
    async fn post(&mut self, header: Option<&str>, body: Vec<u8>) -> (u16, Vec<u8>) {
        let mut req = http::Request::post("https://localhost/");
        if let Some(h) = header {
            req = req.header(h, "1");
        }
        let (status, _, out) = common::exchange(&self.0, req.body(()).unwrap(), body).await;
        (status, out)
    }
}

fn certs() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/xftp/certs")
}

fn web_relay() -> TestRelay {
    let mut relay = TestRelay::init_and_start(InitOpts::default());
    relay.stop();
    relay.set_ini("WEB", "cert", certs().join("web.crt").to_str().unwrap());
    relay.set_ini("WEB", "key", certs().join("web.key").to_str().unwrap());
    relay.start();
    relay
}

fn client_handshake(relay: &TestRelay) -> Vec<u8> {
    ClientHandshake {
        version: CURRENT_VERSION,
        key_hash: relay.server_address().server.key_hash.clone(),
    }
    .encode_block()
    .unwrap()
}

#[tokio::test]
async fn a_second_browser_handshake_on_one_connection_keeps_its_key_and_succeeds() {
    let relay = web_relay();
    let mut c = Raw::connect(&relay, b"\x02h2", Some("localhost")).await;
    let hello = ClientHello::Web([7; 32]).encode().unwrap();
    let (status, first) = c.post(Some("xftp-web-hello"), hello.clone()).await;
    assert_eq!(status, 200);
    let first = ServerHandshake::decode_block(&first).unwrap();
    let (_, done) = c
        .post(Some("xftp-handshake"), client_handshake(&relay))
        .await;
    assert!(done.is_empty(), "{:?}", String::from_utf8_lossy(&done));
    // Another tab on the same connection: hello and handshake again.
    let (_, second) = c.post(Some("xftp-web-hello"), hello).await;
    let second = ServerHandshake::decode_block(&second).unwrap();
    assert_eq!(
        second.signed_key, first.signed_key,
        "the connection's key changed"
    );
    let (_, done) = c
        .post(Some("xftp-handshake"), client_handshake(&relay))
        .await;
    assert!(done.is_empty(), "{:?}", String::from_utf8_lossy(&done));
    // A repeated handshake block alone on an accepted connection: answered empty too.
    let (_, again) = c
        .post(Some("xftp-handshake"), client_handshake(&relay))
        .await;
    assert!(again.is_empty(), "{:?}", String::from_utf8_lossy(&again));
}

#[tokio::test]
async fn a_command_while_the_handshake_is_pending_gets_handshake() {
    let relay = TestRelay::init_and_start(InitOpts::default());
    let mut c = Raw::connect(&relay, b"\x06xftp/1", None).await;
    let (_, hs) = c.post(None, Vec::new()).await;
    let hs = ServerHandshake::decode_block(&hs).unwrap();
    let ping = Transmission {
        session_id: hs.session_id,
        command: b"PING".to_vec(),
        ..Transmission::default()
    }
    .encode_block()
    .unwrap();
    let (_, answer) = c.post(None, ping).await;
    assert_eq!(unpad(&answer).unwrap(), b"HANDSHAKE");
}

#[tokio::test]
async fn h2_without_sni_gets_empty_answers() {
    let relay = TestRelay::init_and_start(InitOpts::default());
    let mut c = Raw::connect(&relay, b"\x02h2", None).await;
    let (status, body) = c.post(None, Vec::new()).await;
    assert_eq!((status, body.len()), (200, 0));
    let (status, body) = c
        .post(None, pad(b"anything", XFTP_BLOCK_SIZE).unwrap())
        .await;
    assert_eq!((status, body.len()), (200, 0));
}
