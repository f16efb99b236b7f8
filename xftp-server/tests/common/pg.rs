//! A real PostgreSQL server (Debian's `postgresql` package) for the tests: one per test
//! binary, in a temporary directory, on 127.0.0.1 and a free port; it stops and its directory
//! is removed when the test process exits. Each relay gets a schema of its own.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub struct Pg {
    pub port: u16,
    bin: PathBuf,
    dir: PathBuf,
    /// The unprivileged user the server runs as when the tests run as root.
    user: Option<String>,
    /// The shell that runs the server and stops it when the test process is gone.
    watchdog: Option<std::process::Child>,
}

/// The directory of `initdb` and `postgres`: `$PG_BIN`, or the newest one Debian installed.
fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.flatten()
                .filter_map(|e| {
                    let v = e.file_name().to_str()?.parse().ok()?;
                    let bin = e.path().join("bin");
                    bin.join("postgres").exists().then_some((v, bin))
                })
                .collect()
        })
        .unwrap_or_default();
    versions.sort();
    versions.pop().map(|(_, b)| b).expect(
        "PostgreSQL is not installed: `apt-get install postgresql` (or set PG_BIN to the \
         directory of initdb and postgres); .ci/run installs it",
    )
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .map(|u| u.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Pg {
    fn command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        match &self.user {
            Some(u) => {
                let mut c = Command::new("runuser");
                c.args(["-u", u, "--"]).arg(path);
                c
            }
            None => Command::new(path),
        }
    }

    fn start() -> Self {
        let mut pg = Self::init();
        pg.spawn();
        pg
    }

    fn init() -> Self {
        let bin = bin_dir();
        // Not removed by a TempDir: the watchdog below removes it after the server stops.
        let dir = tempfile::Builder::new()
            .prefix("xftp-pg-")
            .tempdir()
            .unwrap()
            .keep();
        let user = is_root().then(|| "postgres".to_string());
        let pg = Self {
            port: free_port(),
            bin,
            dir,
            user,
            watchdog: None,
        };
        if let Some(u) = &pg.user {
            let ok = Command::new("chown")
                .args(["-R", &format!("{u}:"), pg.dir.to_str().unwrap()])
                .status()
                .unwrap()
                .success();
            assert!(ok, "cannot give {} to the user {u}", pg.dir.display());
        }
        let data = pg.dir.join("data");
        let out = pg
            .command("initdb")
            .args(["-D", data.to_str().unwrap()])
            .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C"])
            .arg("--no-sync")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        pg
    }

    fn spawn(&mut self) {
        let pg = self;
        let data = pg.dir.join("data");
        // The server stops (and its folder goes) when this test process is gone.
        let script = format!(
            "\"$0\" -D '{data}' -k '{dir}' -p {port} -c listen_addresses=127.0.0.1 \
             -c fsync=off -c max_connections=300 -c shared_buffers=32MB \
             > '{dir}/server.log' 2>&1 & pg=$!; \
             while [ -d /proc/{parent} ] && kill -0 $pg 2>/dev/null; do sleep 0.5; done; \
             kill -INT $pg 2>/dev/null; wait $pg; rm -rf '{dir}'",
            data = data.display(),
            dir = pg.dir.display(),
            port = pg.port,
            parent = std::process::id(),
        );
        let mut sh = match &pg.user {
            Some(u) => {
                let mut c = Command::new("runuser");
                c.args(["-u", u, "--", "sh", "-c"]);
                c
            }
            None => {
                let mut c = Command::new("sh");
                c.arg("-c");
                c
            }
        };
        let child = sh
            .arg(script)
            .arg(pg.bin.join("postgres"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        pg.watchdog = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if pg.psql("SELECT 1").is_ok() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "PostgreSQL did not start: {}",
                std::fs::read_to_string(pg.dir.join("server.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs SQL as the superuser; the output or the error.
    pub fn psql(&self, sql: &str) -> Result<String, String> {
        let out = Command::new(self.bin.join("psql"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1"])
            .args(["-At", "-c", sql])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).to_string())
        }
    }

    /// A connection string for `db_connection`.
    pub fn connection(&self) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// A fresh schema name (not created).
    pub fn schema_name(&self) -> String {
        static N: AtomicU32 = AtomicU32::new(0);
        format!(
            "t{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        )
    }

    /// A fresh, empty schema.
    pub fn schema(&self) -> String {
        let s = self.schema_name();
        self.psql(&format!("CREATE SCHEMA {s}")).unwrap();
        s
    }

    /// Stops the server (SIGSTOP: connections hang, as when the database host is gone).
    pub fn freeze(&self) {
        self.signal("STOP");
    }

    /// Lets a frozen server go on.
    pub fn thaw(&self) {
        self.signal("CONT");
    }

    fn signal(&self, sig: &str) {
        let pid = std::fs::read_to_string(self.dir.join("data/postmaster.pid")).unwrap();
        let pid = pid.lines().next().unwrap().trim().to_string();
        // The postmaster and its backends.
        let ok = Command::new("pkill")
            .args([&format!("-{sig}"), "-P", &pid])
            .status()
            .unwrap();
        let _ = ok;
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &pid])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} {pid}");
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// A server of the caller's own (for a test that stops it: the shared one serves other tests).
pub fn own() -> Pg {
    Pg::start()
}

/// The test binary's server, started on first use.
pub fn server() -> &'static Pg {
    static PG: OnceLock<Pg> = OnceLock::new();
    PG.get_or_init(Pg::start)
}

/// Whether the suite runs with `store_files = database` (`XFTP_TEST_STORE=database`).
pub fn database_mode() -> bool {
    std::env::var("XFTP_TEST_STORE").as_deref() == Ok("database")
}
