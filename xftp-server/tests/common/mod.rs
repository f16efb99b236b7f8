//! A real `xftp-server` process on 127.0.0.1 in temporary directories.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod garage;
pub mod ini;
pub mod pg;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use simplex_crypto::{KeyAlgorithm, PrivateKey, PublicKey};
use xftp_client::{ClientError, XftpConnection};
use xftp_proto::command::XftpError;
use xftp_proto::ServerAddress;

pub struct TestRelay {
    pub dir: tempfile::TempDir,
    pub child: Option<Child>,
    pub addr: SocketAddr,
    pub address: String,
    /// A command (and arguments) the relay is started under, e.g. `prlimit --nofile=...`.
    pub wrapper: Vec<String>,
    /// The Garage endpoint and bucket of its chunks, when they are not in the files folder.
    pub bucket: Option<(String, String)>,
}

pub struct InitOpts {
    pub quota: &'static str,
    pub password: Option<&'static str>,
    pub store_log: bool,
    pub algorithm: &'static str,
    /// The test reads or plants chunk files in the files folder: keep chunks there even when
    /// the suite runs with `XFTP_TEST_CHUNKS=s3`.
    pub local_files: bool,
}

impl Default for InitOpts {
    fn default() -> Self {
        Self {
            quota: "1gb",
            password: None,
            store_log: true,
            algorithm: "ED25519",
            local_files: false,
        }
    }
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_xftp-server")
}

impl TestRelay {
    pub fn cfg(&self) -> PathBuf {
        self.dir.path().join("cfg")
    }
    pub fn log(&self) -> PathBuf {
        self.dir.path().join("log")
    }
    pub fn files(&self) -> PathBuf {
        self.dir.path().join("files")
    }

    /// `init` in a fresh directory, then `start` (with a store log: in the database instead
    /// when the suite runs with `XFTP_TEST_STORE=database`).
    pub fn init_and_start(opts: InitOpts) -> Self {
        let mut relay = Self::init(&opts);
        if opts.store_log && pg::database_mode() {
            relay.use_database();
        }
        if !opts.local_files && garage::s3_mode() {
            relay.use_s3();
        }
        relay.start();
        relay
    }

    /// `init` and `start` with the records in the store log, whatever the suite runs on.
    pub fn with_store_log(opts: InitOpts) -> Self {
        let mut relay = Self::init(&opts);
        relay.start();
        relay
    }

    /// Keeps chunk records in a fresh schema of the test PostgreSQL server; returns it.
    pub fn use_database(&self) -> String {
        self.use_database_on(pg::server())
    }

    /// Keeps chunk records in a fresh schema of `pg`; returns it.
    pub fn use_database_on(&self, pg: &pg::Pg) -> String {
        let schema = pg.schema();
        self.set_ini("STORE_LOG", "store_files", "database");
        self.set_ini("STORE_LOG", "db_connection", &pg.connection());
        self.set_ini("STORE_LOG", "db_schema", &schema);
        schema
    }

    /// Keeps chunks in a fresh bucket of the test Garage; returns it.
    pub fn use_s3(&mut self) -> String {
        self.use_s3_on(garage::server())
    }

    /// Keeps chunks in a fresh bucket of `g`; returns it.
    pub fn use_s3_on(&mut self, g: &garage::Garage) -> String {
        use std::os::unix::fs::OpenOptionsExt;
        let bucket = g.bucket();
        let creds = self.cfg().join("s3-credentials");
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&creds)
            .unwrap();
        std::io::Write::write_all(
            &mut f,
            format!(
                "access_key_id = {}\nsecret_access_key = {}\n",
                garage::KEY_ID,
                garage::SECRET
            )
            .as_bytes(),
        )
        .unwrap();
        self.set_ini("FILES", "s3_endpoint", &g.endpoint());
        self.set_ini("FILES", "s3_bucket", &bucket);
        self.set_ini("FILES", "s3_region", garage::REGION);
        self.set_ini("FILES", "s3_credentials", creds.to_str().unwrap());
        self.bucket = Some((g.endpoint(), bucket.clone()));
        bucket
    }

    /// `init` in a fresh directory.
    pub fn init(opts: &InitOpts) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(bin());
        cmd.env("XFTP_SERVER_CFG_PATH", dir.path().join("cfg"))
            .env("XFTP_SERVER_LOG_PATH", dir.path().join("log"))
            .args(["init", "-p"])
            .arg(dir.path().join("files"))
            .args(["-q", opts.quota, "--ip", "127.0.0.1", "-a", opts.algorithm]);
        if !opts.store_log {
            cmd.arg("--disable-store-log");
        }
        if let Some(p) = opts.password {
            cmd.args(["--password", p]);
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "init failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self {
            dir,
            child: None,
            addr: "127.0.0.1:1".parse().unwrap(),
            address: String::new(),
            wrapper: Vec::new(),
            bucket: None,
        }
    }

    /// Uses an existing config directory (e.g. with reference certificates).
    pub fn with_dir(dir: tempfile::TempDir) -> Self {
        let mut relay = Self {
            dir,
            child: None,
            addr: "127.0.0.1:1".parse().unwrap(),
            address: String::new(),
            wrapper: Vec::new(),
            bucket: None,
        };
        relay.start();
        relay
    }

    pub fn start(&mut self) {
        let mut cmd = match self.wrapper.split_first() {
            Some((w, args)) => {
                let mut c = Command::new(w);
                c.args(args).arg(bin());
                c
            }
            None => Command::new(bin()),
        };
        let mut child = cmd
            .env("XFTP_SERVER_CFG_PATH", self.cfg())
            .env("XFTP_SERVER_LOG_PATH", self.log())
            .args(["start", "--bind", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(self.stderr_file())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let deadline = Instant::now() + Duration::from_secs(30);
        let (mut addr, mut address) = (None, None);
        while addr.is_none() || address.is_none() {
            assert!(Instant::now() < deadline, "relay did not start");
            let Some(Ok(line)) = lines.next() else {
                panic!(
                    "relay exited before printing its address: {}",
                    self.logged()
                );
            };
            if let Some(a) = line.strip_prefix("Listening on ") {
                addr = Some(a.parse().unwrap());
            }
            if let Some(a) = line.strip_prefix("Server address: ") {
                address = Some(a.to_string());
            }
        }
        self.addr = addr.unwrap();
        self.address = address.unwrap();
        self.child = Some(child);
        let ini = std::fs::read_to_string(self.cfg().join("file-server.ini")).unwrap();
        if ini.lines().any(|l| l.starts_with("s3_endpoint = ")) {
            assert!(
                self.logged().contains("chunks in bucket"),
                "the relay did not use the bucket"
            );
        }
        if ini.lines().any(|l| l.trim() == "store_files = database") {
            assert!(
                self.logged().contains("chunk records in the database"),
                "the relay did not use the database"
            );
        }
    }

    /// Where the relay's log lines (stderr) go, appended across starts.
    pub fn stderr_path(&self) -> PathBuf {
        self.dir.path().join("relay.stderr")
    }

    fn stderr_file(&self) -> Stdio {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.stderr_path())
            .map_or_else(|_| Stdio::null(), Stdio::from)
    }

    /// Everything the relay logged so far.
    pub fn logged(&self) -> String {
        std::fs::read_to_string(self.stderr_path()).unwrap_or_default()
    }

    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, and wait (at most 20 s: a relay that does not stop fails the test).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").arg(c.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if let Ok(Some(status)) = c.try_wait() {
                    assert!(status.success(), "relay exited with {status} on SIGTERM");
                    return;
                }
                if Instant::now() > deadline {
                    let _ = c.kill();
                    let _ = c.wait();
                    panic!("relay did not stop within 20 s of SIGTERM");
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    pub fn server_address(&self) -> ServerAddress {
        self.address.parse().unwrap()
    }

    pub async fn connect(&self) -> XftpConnection {
        XftpConnection::connect(&self.server_address(), Some(self.addr))
            .await
            .unwrap()
    }

    pub fn set_ini(&self, section: &str, key: &str, value: &str) {
        ini::set_ini(&self.cfg().join("file-server.ini"), section, key, value);
    }

    /// Committed chunk files (not the lock, uploads in progress or the quarantine folder);
    /// in a bucket, its objects outside the quarantine.
    pub fn chunk_files(&self) -> Vec<PathBuf> {
        if let Some((endpoint, bucket)) = &self.bucket {
            return garage::objects(endpoint, bucket)
                .into_iter()
                .filter(|n| !n.starts_with("quarantine/"))
                .map(PathBuf::from)
                .collect();
        }
        list(&self.files())
            .into_iter()
            .filter(|p| {
                p.is_file()
                    && p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| !n.starts_with('.') && !n.contains(".upload"))
            })
            .collect()
    }
}

pub fn list(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

impl Drop for TestRelay {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub fn ed25519() -> (PublicKey, PrivateKey) {
    simplex_crypto::generate(KeyAlgorithm::Ed25519).unwrap()
}

pub fn relay_err<T: std::fmt::Debug>(r: Result<T, ClientError>) -> XftpError {
    match r {
        Err(ClientError::Relay(e)) => e,
        other => panic!("expected a relay error, got {other:?}"),
    }
}

pub fn noise(len: usize, mut x: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A chunk of `len` bytes of `noise(len, seed)` registered (FNEW with its digest and one
/// recipient), not uploaded: (sender id, sender key, recipient id, recipient key, data).
pub async fn registered(
    c: &XftpConnection,
    len: u32,
    seed: u64,
) -> (Vec<u8>, PrivateKey, Vec<u8>, PrivateKey, Vec<u8>) {
    let (_, skey) = ed25519();
    let (rpub, rkey) = ed25519();
    let data = noise(len as usize, seed);
    let ids = c
        .create(&skey, len, openssl::sha::sha256(&data), vec![rpub], None)
        .await
        .unwrap();
    (
        ids.sender_id,
        skey,
        ids.recipient_ids[0].clone(),
        rkey,
        data,
    )
}

/// A 64 KiB chunk registered and uploaded (see [`registered`]).
pub async fn one_chunk(
    c: &XftpConnection,
    seed: u64,
) -> (Vec<u8>, PrivateKey, Vec<u8>, PrivateKey, Vec<u8>) {
    let chunk = registered(c, 65536, seed).await;
    c.upload(&chunk.0, &chunk.1, Bytes::from(chunk.4.clone()))
        .await
        .unwrap();
    chunk
}

/// ((user, system) CPU seconds, VmRSS in kB) of a process.
pub fn cpu_and_rss(pid: u32) -> (f64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split(' ').collect();
    let cpu = (fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap()) / 100.0;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0);
    (cpu, rss)
}

/// A clock the test moves.
pub struct FakeClock(pub std::sync::atomic::AtomicU64);

impl xftp_server::relay::Clock for FakeClock {
    fn now(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Stops the relay process and starts its folders in this process with a clock the test moves
/// (at `start` epoch seconds); returns the handle, the clock and a connection.
pub async fn in_process_with_clock(
    relay: &mut TestRelay,
    start: u64,
) -> (
    xftp_server::ServerHandle,
    std::sync::Arc<FakeClock>,
    XftpConnection,
) {
    relay.kill9();
    let clock = std::sync::Arc::new(FakeClock(std::sync::atomic::AtomicU64::new(start)));
    let handle = xftp_server::start(
        &relay.cfg(),
        &relay.log(),
        clock.clone(),
        Some("127.0.0.1:0".parse().unwrap()),
    )
    .await
    .unwrap();
    let addr: ServerAddress = handle.address.parse().unwrap();
    let c = XftpConnection::connect(&addr, Some(handle.addr))
        .await
        .unwrap();
    (handle, clock, c)
}

/// Sends one request (the body, if any, ends it) and returns status, headers and body.
pub async fn exchange(
    send: &h2::client::SendRequest<Bytes>,
    req: http::Request<()>,
    body: Vec<u8>,
) -> (u16, http::HeaderMap, Vec<u8>) {
    let mut send = send.clone().ready().await.unwrap();
    let (resp, mut stream) = send.send_request(req, body.is_empty()).unwrap();
    if !body.is_empty() {
        stream.send_data(Bytes::from(body), true).unwrap();
    }
    let resp = resp.await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let mut rb = resp.into_body();
    let mut out = Vec::new();
    while let Some(piece) = rb.data().await {
        let piece = piece.unwrap();
        let _ = rb.flow_control().release_capacity(piece.len());
        out.extend_from_slice(&piece);
    }
    (status, headers, out)
}

/// A native TLS connection to the relay (identity checked), before HTTP/2.
pub async fn tls_to(relay: &TestRelay) -> tokio_openssl::SslStream<tokio::net::TcpStream> {
    let tcp = tokio::net::TcpStream::connect(relay.addr).await.unwrap();
    let connector = transport::client_connector().unwrap();
    let key_hash = relay.server_address().server.key_hash.clone();
    transport::connect(&connector, tcp, &key_hash)
        .await
        .unwrap()
}
