//! Real TLS on 127.0.0.1: tls-unique agrees, identities are pinned, reference certificates load.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::path::PathBuf;
use std::pin::Pin;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_openssl::SslStream;
use transport::{client_connector, connect, server_acceptor, session_id, Identity, SignAlgorithm};

fn certs_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/xftp/certs")
}

/// Starts a one-connection TLS echo server; returns its port and the server-side session id.
async fn serve(identity: Identity) -> (u16, tokio::task::JoinHandle<(Vec<u8>, Option<Vec<u8>>)>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = server_acceptor(&identity).unwrap();
    let task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let ssl = openssl::ssl::Ssl::new(acceptor.context()).unwrap();
        let mut tls = SslStream::new(ssl, tcp).unwrap();
        if Pin::new(&mut tls).accept().await.is_err() {
            return (Vec::new(), None);
        }
        let sid = session_id(tls.ssl());
        let alpn = tls.ssl().selected_alpn_protocol().map(<[u8]>::to_vec);
        let mut buf = [0u8; 5];
        if tls.read_exact(&mut buf).await.is_ok() {
            let _ = tls.write_all(&buf).await;
        }
        (sid, alpn)
    });
    (port, task)
}

#[tokio::test]
async fn session_ids_agree_and_alpn_is_xftp() {
    for alg in [SignAlgorithm::Ed448, SignAlgorithm::Ed25519] {
        let (id, _) = Identity::generate(alg, "localhost").unwrap();
        let key_hash = id.key_hash().unwrap();
        let (port, server) = serve(id).await;
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let mut tls = connect(&client_connector().unwrap(), tcp, &key_hash)
            .await
            .unwrap();
        let client_sid = session_id(tls.ssl());
        tls.write_all(b"hello").await.unwrap();
        let mut buf = [0u8; 5];
        tls.read_exact(&mut buf).await.unwrap();
        let (server_sid, alpn) = server.await.unwrap();
        assert_eq!(client_sid.len(), 32);
        assert_eq!(client_sid, server_sid);
        assert_eq!(alpn.as_deref(), Some(&b"xftp/1"[..]));
        assert_eq!(
            tls.ssl().current_cipher().unwrap().name(),
            "TLS_CHACHA20_POLY1305_SHA256"
        );
    }
}

#[tokio::test]
async fn wrong_fingerprint_is_refused() {
    let (id, _) = Identity::generate(SignAlgorithm::Ed25519, "localhost").unwrap();
    let (port, _server) = serve(id).await;
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let err = connect(&client_connector().unwrap(), tcp, &[0u8; 32])
        .await
        .unwrap_err();
    assert!(matches!(err, transport::TlsError::Identity(_)), "{err}");
}

#[tokio::test]
async fn reference_certificates_load_and_serve() {
    let dir = tempfile::tempdir().unwrap();
    for (src, dst) in [
        ("ca.crt", "ca.crt"),
        ("server.crt", "server.crt"),
        ("server.key", "server.key"),
    ] {
        std::fs::copy(certs_dir().join(src), dir.path().join(dst)).unwrap();
    }
    let id = Identity::load(dir.path()).unwrap();
    let ca_der = openssl::x509::X509::from_pem(&std::fs::read(certs_dir().join("ca.crt")).unwrap())
        .unwrap()
        .to_der()
        .unwrap();
    let expected = openssl::sha::sha256(&ca_der);
    assert_eq!(id.key_hash().unwrap(), expected);
    let (port, server) = serve(id).await;
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut tls = connect(&client_connector().unwrap(), tcp, &expected)
        .await
        .unwrap();
    tls.write_all(b"12345").await.unwrap();
    let mut buf = [0u8; 5];
    tls.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"12345");
    server.await.unwrap();
}
