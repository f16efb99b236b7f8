//! A real Garage (the distributed S3 store, crates.io `garage`) for the tests: one single-node
//! cluster per test binary, in a temporary directory on 127.0.0.1; it stops and its directory
//! is removed when the test process exits. Each relay gets a bucket of its own.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The access key the tests import (Garage's format: GK + 24 hex digits, 64 hex digits).
pub const KEY_ID: &str = "GK0123456789abcdef01234567";
pub const SECRET: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
pub const REGION: &str = "garage";

pub struct Garage {
    pub s3_port: u16,
    rpc_port: u16,
    bin: PathBuf,
    dir: PathBuf,
    watchdog: Option<std::process::Child>,
}

/// `$GARAGE_BIN`, `garage` on the PATH, or where `.ci/run` installs it.
pub fn bin() -> PathBuf {
    if let Some(b) = std::env::var_os("GARAGE_BIN") {
        return PathBuf::from(b);
    }
    let mut candidates: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("garage"))
                .collect()
        })
        .unwrap_or_default();
    candidates.push(PathBuf::from("/opt/garage/bin/garage"));
    if let Some(home) = std::env::var_os("HOME") {
        candidates.push(PathBuf::from(home).join(".cargo/bin/garage"));
    }
    candidates.into_iter().find(|p| p.is_file()).expect(
        "Garage is not installed: `cargo install garage --locked --no-default-features \
         --features bundled-libs,sqlite --root /opt/garage` (or set GARAGE_BIN); .ci/run \
         installs it",
    )
}

/// A port free now, below Linux's ephemeral range (32768-60999): a port the kernel gave out
/// and took back (`bind(0)`) may be handed to another test's outgoing connection before
/// Garage binds it (its S3 API then exits with "Address already in use").
fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let seed = std::process::id()
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
    for _ in 0..1000 {
        let n = seed.wrapping_add(NEXT.fetch_add(7919, Ordering::Relaxed));
        let port = 20_000 + (n % 12_000) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port below the ephemeral range")
}

impl Garage {
    fn config(&self) -> PathBuf {
        self.dir.join("garage.toml")
    }

    /// Runs a `garage` admin command; its output.
    pub fn admin(&self, args: &[&str]) -> String {
        let out = Command::new(&self.bin)
            .arg("-c")
            .arg(self.config())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "garage {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A node of a cluster of `replication` nodes, started (not yet in a layout).
    fn spawn_node(replication: usize) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("xftp-garage-")
            .tempdir()
            .unwrap()
            .keep();
        let rpc = free_port();
        let g = Self {
            s3_port: free_port(),
            rpc_port: rpc,
            bin: bin(),
            dir,
            watchdog: None,
        };
        let config = format!(
            "metadata_dir = \"{dir}/meta\"\n\
             data_dir = \"{dir}/data\"\n\
             db_engine = \"sqlite\"\n\
             compression_level = \"none\"\n\
             replication_factor = {replication}\n\
             rpc_bind_addr = \"127.0.0.1:{rpc}\"\n\
             rpc_public_addr = \"127.0.0.1:{rpc}\"\n\
             rpc_secret = \"{secret}\"\n\
             [s3_api]\n\
             s3_region = \"{REGION}\"\n\
             api_bind_addr = \"127.0.0.1:{s3}\"\n\
             root_domain = \".s3.garage.localhost\"\n",
            dir = g.dir.display(),
            secret = "ab".repeat(32),
            s3 = g.s3_port,
        );
        {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(g.config())
                .unwrap();
            f.write_all(config.as_bytes()).unwrap();
        }
        let mut g = g;
        g.run();
        g
    }

    /// Starts the daemon on this node's folder; returns when it answers admin commands. The
    /// folder is removed once the test process is gone.
    pub fn run(&mut self) {
        let script = format!(
            "\"$0\" -c '{cfg}' server >> '{dir}/server.log' 2>&1 & g=$!; \
             while [ -d /proc/{parent} ] && kill -0 $g 2>/dev/null; do sleep 0.5; done; \
             kill $g 2>/dev/null; wait $g; [ -d /proc/{parent} ] || rm -rf '{dir}'",
            cfg = self.config().display(),
            dir = self.dir.display(),
            parent = std::process::id(),
        );
        let child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .arg(&self.bin)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        if let Some(mut old) = self.watchdog.replace(child) {
            let _ = old.wait();
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let status = Command::new(&self.bin)
                .arg("-c")
                .arg(self.config())
                .arg("status")
                .stdin(Stdio::null())
                .output()
                .unwrap();
            if status.status.success() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "Garage did not start: {}",
                std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `<node id>@127.0.0.1:<rpc port>`.
    fn node_addr(&self) -> String {
        self.admin(&["node", "id", "-q"]).trim().to_string()
    }

    fn start() -> Self {
        let g = Self::spawn_node(1);
        let id = g.node_addr().split('@').next().unwrap().to_string();
        g.admin(&["layout", "assign", "-z", "dc1", "-c", "10G", &id]);
        g.admin(&["layout", "apply", "--version", "1"]);
        g.admin(&["key", "import", "--yes", "-n", "tests", KEY_ID, SECRET]);
        g
    }

    /// A cluster of `n` nodes, each in its own zone, storing every object on all of them.
    pub fn cluster(n: usize) -> Vec<Self> {
        let nodes: Vec<Self> = (0..n).map(|_| Self::spawn_node(n)).collect();
        let addrs: Vec<String> = nodes.iter().map(Self::node_addr).collect();
        for a in &addrs[1..] {
            nodes[0].admin(&["node", "connect", a]);
        }
        for (i, a) in addrs.iter().enumerate() {
            let id = a.split('@').next().unwrap();
            nodes[0].admin(&["layout", "assign", "-z", &format!("dc{i}"), "-c", "10G", id]);
        }
        nodes[0].admin(&["layout", "apply", "--version", "1"]);
        nodes[0].admin(&["key", "import", "--yes", "-n", "tests", KEY_ID, SECRET]);
        nodes
    }

    /// Kills the daemon (SIGKILL); [`Garage::run`] starts it again on the same data.
    pub fn kill(&mut self) {
        let pid = self.daemon_pid();
        assert!(Command::new("kill")
            .args(["-KILL", &pid])
            .status()
            .unwrap()
            .success());
        if let Some(mut w) = self.watchdog.take() {
            let _ = w.wait();
        }
    }

    /// A fresh bucket the test key may use.
    pub fn bucket(&self) -> String {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "t{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        self.admin(&["bucket", "create", &name]);
        self.admin(&[
            "bucket", "allow", "--read", "--write", "--owner", &name, "--key", KEY_ID,
        ]);
        name
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.s3_port)
    }

    /// The server's process IDs (the garage daemon under the watchdog shell).
    fn daemon_pid(&self) -> String {
        let watchdog = self.watchdog.as_ref().unwrap().id();
        let out = Command::new("pgrep")
            .args(["-P", &watchdog.to_string(), "garage"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .expect("the garage daemon is not running")
            .to_string()
    }

    /// Stops the daemon answering (SIGSTOP), as when the store's host is gone.
    pub fn freeze(&self) {
        assert!(Command::new("kill")
            .args(["-STOP", &self.daemon_pid()])
            .status()
            .unwrap()
            .success());
    }

    pub fn thaw(&self) {
        assert!(Command::new("kill")
            .args(["-CONT", &self.daemon_pid()])
            .status()
            .unwrap()
            .success());
    }

    /// Names of the objects in a bucket.
    pub fn objects(&self, bucket: &str) -> Vec<String> {
        objects(&self.endpoint(), bucket)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// A client of a bucket with the test key.
pub fn client(endpoint: &str, bucket: &str) -> object_store::aws::AmazonS3 {
    object_store::aws::AmazonS3Builder::new()
        .with_endpoint(endpoint)
        .with_bucket_name(bucket)
        .with_region(REGION)
        .with_access_key_id(KEY_ID)
        .with_secret_access_key(SECRET)
        .with_allow_http(true)
        .with_client_options(object_store::ClientOptions::new().with_allow_http(true))
        .build()
        .unwrap()
}

/// Names of the objects in a bucket of the Garage at `endpoint`.
pub fn objects(endpoint: &str, bucket: &str) -> Vec<String> {
    {
        let (endpoint, bucket) = (endpoint.to_string(), bucket.to_string());
        // Its own runtime on its own thread: callers may be inside one.
        std::thread::spawn(move || {
            use futures_util::StreamExt;
            use object_store::ObjectStore;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let store = client(&endpoint, &bucket);
                let mut names = Vec::new();
                let mut list = store.list(None);
                while let Some(m) = list.next().await {
                    names.push(m.unwrap().location.to_string());
                }
                names
            })
        })
        .join()
        .unwrap()
    }
}

/// A Garage of the caller's own (for a test that stops it: the shared one serves other tests).
pub fn own() -> Garage {
    Garage::start()
}

/// The test binary's Garage, started on first use.
pub fn server() -> &'static Garage {
    static G: OnceLock<Garage> = OnceLock::new();
    G.get_or_init(Garage::start)
}

/// Whether the suite keeps chunks in Garage (`XFTP_TEST_CHUNKS=s3`).
pub fn s3_mode() -> bool {
    std::env::var("XFTP_TEST_CHUNKS").as_deref() == Ok("s3")
}
