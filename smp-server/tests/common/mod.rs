//! A minimal SMP client over real TLS for the relay's tests (the client library proper is
//! `smp-client`, issue 8 part 3).
#![allow(dead_code)]
#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use simplex_codec::encoding::{pad, unpad};
use simplex_crypto::{generate, sign, KeyAlgorithm, PrivateKey, PublicKey};
use smp_proto::block::{decode_content, encode_content};
use smp_proto::handshake::{block_chains, BlockChain, ClientHello, ServerHello};
use smp_proto::transmission::Transmission;
use smp_proto::{BrokerMsg, Command, VersionRange};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_openssl::SslStream;

pub const V: u16 = 18;

pub mod bin;
#[path = "../../../xftp-server/tests/common/ini.rs"]
pub mod ini;
#[path = "../../../xftp-server/tests/common/pg.rs"]
pub mod pg;

/// Whether the suite runs with `store_queues = database` (`SMP_TEST_STORE=database`): every
/// relay the tests start keeps its queues in a schema of a real PostgreSQL server.
pub fn database_mode() -> bool {
    std::env::var("SMP_TEST_STORE").as_deref() == Ok("database")
}

/// The schema standing for a store log in database mode: the same for the same log, so that
/// a restarted relay finds its queues.
fn schema_for(log: Option<&std::path::Path>) -> String {
    static SCHEMAS: std::sync::Mutex<Vec<(std::path::PathBuf, String)>> =
        std::sync::Mutex::new(Vec::new());
    let pg = pg::server();
    let Some(log) = log else {
        return pg.schema();
    };
    let mut known = SCHEMAS.lock().unwrap();
    if let Some((_, s)) = known.iter().find(|(p, _)| p == log) {
        return s.clone();
    }
    let s = pg.schema();
    known.push((log.to_path_buf(), s.clone()));
    s
}

/// The database settings of a relay on the test PostgreSQL in `schema`.
pub fn database(schema: String) -> smp_server::Database {
    database_on(pg::server(), schema)
}

/// The database settings of a relay on `pg` in `schema`.
pub fn database_on(pg: &pg::Pg, schema: String) -> smp_server::Database {
    smp_server::Database {
        db: smp_server::pg::DbOptions {
            connection: pg.connection(),
            schema,
            pool_size: 2,
        },
        store_log: None,
        deleted_ttl: smp_server::pg::DEFAULT_DELETED_TTL,
        migrate: smp_server::pg::Migrate::Up,
    }
}

/// `smp_server::start_on` with the queue store the suite runs with: in database mode the
/// store log (if any) becomes a schema of the test PostgreSQL.
pub async fn start_on(
    addrs: &[std::net::SocketAddr],
    identity: &transport::Identity,
    config: smp_server::RelayConfig,
    opts: &smp_server::StartOptions,
) -> Result<smp_server::Running, smp_server::StartError> {
    let mut opts = opts.clone();
    if database_mode() && opts.database.is_none() {
        let log = opts.store_log.take();
        opts.database = Some(database(schema_for(log.as_deref())));
    }
    smp_server::start_on(addrs, identity, config, &opts).await
}

/// `smp_server::start_with_log` with the suite's queue store (see [`start_on`]).
pub async fn start_with_log(
    addr: std::net::SocketAddr,
    identity: &transport::Identity,
    config: smp_server::RelayConfig,
    log: Option<&std::path::Path>,
) -> Result<smp_server::Running, smp_server::StartError> {
    let opts = smp_server::StartOptions {
        store_log: log.map(std::path::Path::to_path_buf),
        ..Default::default()
    };
    start_on(&[addr], identity, config, &opts).await
}

/// `smp_server::start` with the suite's queue store (see [`start_on`]).
pub async fn start(
    addr: std::net::SocketAddr,
    identity: &transport::Identity,
    config: smp_server::RelayConfig,
) -> Result<smp_server::Running, smp_server::StartError> {
    start_with_log(addr, identity, config, None).await
}

/// A relay on 127.0.0.1 with a fresh Ed25519 or Ed448 identity.
pub async fn relay(alg: transport::SignAlgorithm) -> (smp_server::Running, [u8; 32]) {
    let (identity, _) = transport::Identity::generate(alg, "localhost").unwrap();
    let key_hash = identity.key_hash().unwrap();
    let running = start(
        "127.0.0.1:0".parse().unwrap(),
        &identity,
        smp_server::RelayConfig::default(),
    )
    .await
    .unwrap();
    (running, key_hash)
}

pub struct TestClient {
    tls: SslStream<TcpStream>,
    pub version: u16,
    pub session_id: Vec<u8>,
    pub server_range: VersionRange,
    send: Option<BlockChain>,
    recv: Option<BlockChain>,
    corr: u32,
}

/// Connects with ALPN `smp/1` (or none) and does the handshake, with block encryption.
pub async fn connect(addr: std::net::SocketAddr, key_hash: &[u8; 32], alpn: bool) -> TestClient {
    connect_pinning(addr, key_hash, key_hash, alpn).await
}

/// As [`connect`], checking the TLS chain against `key_hash` but sending `hello_hash` in the
/// client hello.
pub async fn connect_pinning(
    addr: std::net::SocketAddr,
    key_hash: &[u8; 32],
    hello_hash: &[u8; 32],
    alpn: bool,
) -> TestClient {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let connector = if alpn {
        transport::client_connector_for(transport::ALPN_SMP).unwrap()
    } else {
        // No ALPN at all: the relay offers only the legacy version.
        let mut b =
            openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls_client()).unwrap();
        b.set_verify(openssl::ssl::SslVerifyMode::NONE);
        b.set_ciphersuites("TLS_CHACHA20_POLY1305_SHA256").unwrap();
        b.build()
    };
    let mut tls = transport::connect(&connector, tcp, key_hash).await.unwrap();
    let session_id = transport::session_id(tls.ssl());
    let mut block = vec![0u8; 16384];
    tls.read_exact(&mut block).await.unwrap();
    let hello = ServerHello::decode(unpad(&block).unwrap()).unwrap();
    assert_eq!(hello.session_id, session_id, "tls-unique");
    let version = hello.range.max.min(V);
    let (my_pub, my_priv) = generate(KeyAlgorithm::X25519).unwrap();
    let (mut send, mut recv) = (None, None);
    let session_key = match &hello.auth {
        Some((chain, signed)) => {
            let online = openssl::x509::X509::from_der(&chain[0])
                .unwrap()
                .public_key()
                .unwrap();
            let alg = if online.id() == openssl::pkey::Id::ED448 {
                KeyAlgorithm::Ed448
            } else {
                KeyAlgorithm::Ed25519
            };
            let signer = PublicKey::from_raw(alg, &online.raw_public_key().unwrap()).unwrap();
            let server_key = simplex_crypto::signed::verify_signed_key(signed, &signer).unwrap();
            if version >= 11 {
                let secret = simplex_crypto::dh(&my_priv, &server_key).unwrap();
                let (server_send, client_send) = block_chains(&session_id, &secret).unwrap();
                recv = Some(server_send);
                send = Some(client_send);
            }
            Some(my_pub)
        }
        None => None,
    };
    let client = ClientHello {
        version,
        key_hash: hello_hash.to_vec(),
        session_key: if version >= 7 { session_key } else { None },
        proxy_server: false,
        service: None,
    };
    tls.write_all(&pad(&client.encode().unwrap(), 16384).unwrap())
        .await
        .unwrap();
    TestClient {
        tls,
        version,
        session_id,
        server_range: hello.range,
        send,
        recv,
        corr: 0,
    }
}

impl TestClient {
    /// Builds a transmission (signed with `key` if given).
    pub fn transmission(
        &mut self,
        key: Option<&PrivateKey>,
        entity: &[u8],
        cmd: &Command,
    ) -> Transmission {
        self.corr += 1;
        let mut corr_id = vec![0u8; 24];
        corr_id[..4].copy_from_slice(&self.corr.to_be_bytes());
        let mut t = Transmission {
            corr_id,
            entity_id: entity.to_vec(),
            command: cmd.encode(self.version).unwrap(),
            session_id: if self.version < 7 {
                self.session_id.clone()
            } else {
                Vec::new()
            },
            ..Transmission::default()
        };
        if let Some(k) = key {
            t.authorization = sign(k, &t.authorized(&self.session_id).unwrap()).unwrap();
        }
        t
    }

    /// Sends transmissions in one block.
    pub async fn send_block(&mut self, ts: &[Transmission]) {
        let encoded: Vec<Vec<u8>> = ts.iter().map(|t| t.encode(self.version).unwrap()).collect();
        let content = encode_content(&encoded).unwrap();
        let block = match &mut self.send {
            Some(c) => c.seal(&content).unwrap(),
            None => pad(&content, 16384).unwrap(),
        };
        self.tls.write_all(&block).await.unwrap();
    }

    /// Sends raw bytes (for hostile tests).
    pub async fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.tls.write_all(bytes).await
    }

    /// Reads one block: its transmissions as (corrId, entity, message).
    pub async fn recv_block(&mut self) -> Vec<(Vec<u8>, Vec<u8>, BrokerMsg)> {
        let mut block = vec![0u8; 16384];
        tokio::time::timeout(
            std::time::Duration::from_secs(10),
            self.tls.read_exact(&mut block),
        )
        .await
        .expect("a block within 10 s")
        .unwrap();
        let content = match &mut self.recv {
            Some(c) => c.open(&block).unwrap(),
            None => unpad(&block).unwrap().to_vec(),
        };
        decode_content(&content)
            .unwrap()
            .into_iter()
            .map(|b| {
                let t = Transmission::decode(b, self.version).unwrap();
                let m = BrokerMsg::parse(self.version, &t.command).unwrap();
                (t.corr_id, t.entity_id, m)
            })
            .collect()
    }

    /// One command, one answer.
    pub async fn call(
        &mut self,
        key: Option<&PrivateKey>,
        entity: &[u8],
        cmd: &Command,
    ) -> BrokerMsg {
        let t = self.transmission(key, entity, cmd);
        self.send_block(&[t]).await;
        let mut got = self.recv_block().await;
        assert_eq!(got.len(), 1, "{got:?}");
        got.remove(0).2
    }

    /// Whether the relay closed the connection (EOF or reset within 10 s).
    pub async fn closed(&mut self) -> bool {
        let mut buf = [0u8; 1];
        matches!(
            tokio::time::timeout(std::time::Duration::from_secs(10), self.tls.read(&mut buf)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }
}
