//! Several relay processes behind one address: three `xftp-server` nodes with one identity,
//! their records in one PostgreSQL database and their chunks in one Garage bucket, behind
//! HAProxy (TCP mode) on 127.0.0.1; the `xftp` CLI sends and receives through it while a node
//! is killed and restarted. And a three-node Garage cluster that loses a node mid-run.
//! Real processes throughout: PostgreSQL and HAProxy from Debian, Garage from crates.io.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

#[path = "../../xftp-server/tests/common/garage.rs"]
mod garage;
#[path = "../../xftp-server/tests/common/ini.rs"]
mod ini;
#[path = "../../xftp-server/tests/common/pg.rs"]
mod pg;

use ini::set_ini;

mod common;
use common::{text, xftp};

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `xftp send` of `path` to `n` recipients through `address`; the folder of the descriptions.
fn send(path: &Path, descs: &Path, n: usize, address: &str) -> PathBuf {
    let o = xftp(&[
        "send",
        path.to_str().unwrap(),
        descs.to_str().unwrap(),
        "-n",
        &n.to_string(),
        "-s",
        address,
        "-r",
        "6",
    ]);
    assert!(o.status.success(), "send {}: {}", path.display(), text(&o));
    descs.join(format!(
        "{}.xftp",
        path.file_name().unwrap().to_str().unwrap()
    ))
}

/// `xftp recv` of a description into a fresh folder `out`; checks the bytes against `path`.
fn receive(rcv: &Path, out: &Path, path: &Path) {
    std::fs::create_dir_all(out).unwrap();
    let o = xftp(&[
        "recv",
        rcv.to_str().unwrap(),
        out.to_str().unwrap(),
        "-r",
        "6",
    ]);
    assert!(o.status.success(), "recv {}: {}", rcv.display(), text(&o));
    let got = std::fs::read(out.join(path.file_name().unwrap())).unwrap();
    assert!(
        got == std::fs::read(path).unwrap(),
        "{}: not the bytes sent",
        rcv.display()
    );
}

fn relay_bin() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_xftp")).with_file_name("xftp-server");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo test --workspace`",
        bin.display()
    );
    bin
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Deterministic contents.
fn noise(len: usize, mut x: u64) -> Vec<u8> {
    x |= 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// One relay node: its own state folders, the shared identity and settings.
struct Node {
    dir: PathBuf,
    port: u16,
    control: u16,
    child: Option<Child>,
}

impl Node {
    /// filesCreated + fileDownloads since the node's last start (its control port).
    fn activity(&self) -> u64 {
        use std::io::Write;
        let mut tcp = std::net::TcpStream::connect(("127.0.0.1", self.control)).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut r = std::io::BufReader::new(tcp.try_clone().unwrap());
        let mut line = String::new();
        for _ in 0..2 {
            line.clear();
            r.read_line(&mut line).unwrap();
        }
        tcp.write_all(b"stats\n").unwrap();
        line.clear();
        r.read_line(&mut line).unwrap();
        line.split(' ')
            .filter_map(|kv| {
                kv.strip_prefix("filesCreated=")
                    .or_else(|| kv.strip_prefix("fileDownloads="))
            })
            .map(|v| v.trim().parse::<u64>().unwrap())
            .sum()
    }

    fn start(&mut self) {
        let mut child = Command::new(relay_bin())
            .env("XFTP_SERVER_CFG_PATH", self.dir.join("cfg"))
            .env("XFTP_SERVER_LOG_PATH", self.dir.join("log"))
            .args(["start", "--bind", &format!("127.0.0.1:{}", self.port)])
            .stdout(Stdio::piped())
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.dir.join("relay.stderr"))
                    .unwrap(),
            )
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        loop {
            match lines.next() {
                Some(Ok(l)) if l.starts_with("Server address: ") => break,
                Some(_) => {}
                None => panic!(
                    "node exited: {}",
                    std::fs::read_to_string(self.dir.join("relay.stderr")).unwrap_or_default()
                ),
            }
        }
        self.child = Some(child);
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

struct Haproxy(Child);

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// HAProxy in TCP mode on `port`, balancing over the nodes, checking them every 300 ms and
/// sending a connection that a dead node refuses to another one.
fn haproxy(dir: &Path, port: u16, nodes: &[u16]) -> Haproxy {
    let mut cfg = format!(
        "global\n  maxconn 2000\n\
         defaults\n  mode tcp\n  timeout connect 2s\n  timeout client 120s\n  \
         timeout server 120s\n  retries 3\n  option redispatch\n\
         frontend xftp\n  bind 127.0.0.1:{port}\n  default_backend nodes\n\
         backend nodes\n  balance roundrobin\n"
    );
    for (i, p) in nodes.iter().enumerate() {
        cfg.push_str(&format!(
            "  server n{i} 127.0.0.1:{p} check inter 300ms fall 1 rise 1\n"
        ));
    }
    let path = dir.join("haproxy.cfg");
    std::fs::write(&path, cfg).unwrap();
    let child = Command::new("haproxy")
        .arg("-f")
        .arg(&path)
        .arg("-db")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("HAProxy is not installed: `apt-get install haproxy` (.ci/run installs it)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "HAProxy did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Haproxy(child)
}

/// Three nodes with one identity, one database schema and one bucket; the address clients
/// use is HAProxy's.
fn cluster(dir: &Path, g: &garage::Garage) -> (Vec<Node>, Haproxy, String) {
    let (nodes, proxy, address) = relays(dir, 3, Some(pg::server()), Some(g));
    (nodes, proxy.unwrap(), address)
}

/// `n` relay nodes with one identity (records in `db`, chunks in `s3`, or the embedded
/// defaults), behind HAProxy when there are several; the address clients use.
fn relays(
    dir: &Path,
    n: usize,
    db: Option<&pg::Pg>,
    s3: Option<&garage::Garage>,
) -> (Vec<Node>, Option<Haproxy>, String) {
    let first = dir.join("n0");
    let o = Command::new(relay_bin())
        .env("XFTP_SERVER_CFG_PATH", first.join("cfg"))
        .env("XFTP_SERVER_LOG_PATH", first.join("log"))
        .args(["init", "-p"])
        .arg(first.join("files"))
        .args(["--ip", "127.0.0.1", "-a", "ED25519", "-q", "20gb"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let fingerprint = text(&o)
        .lines()
        .find_map(|l| l.strip_prefix("Fingerprint: "))
        .unwrap()
        .to_string();
    let ini = first.join("cfg/file-server.ini");
    if let Some(pg) = db {
        let schema = pg.schema();
        set_ini(&ini, "STORE_LOG", "store_files", "database");
        set_ini(&ini, "STORE_LOG", "db_connection", &pg.connection());
        set_ini(&ini, "STORE_LOG", "db_schema", &schema);
    }
    if let Some(g) = s3 {
        let bucket = g.bucket();
        set_ini(&ini, "FILES", "s3_endpoint", &g.endpoint());
        set_ini(&ini, "FILES", "s3_bucket", &bucket);
        set_ini(&ini, "FILES", "s3_region", garage::REGION);
        set_ini(&ini, "FILES", "s3_timeout", "10");
    }
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(first.join("cfg/s3-credentials"))
            .unwrap();
        write!(
            f,
            "access_key_id = {}\nsecret_access_key = {}\n",
            garage::KEY_ID,
            garage::SECRET
        )
        .unwrap();
    }
    let mut nodes = Vec::new();
    for i in 0..n {
        let d = dir.join(format!("n{i}"));
        if i > 0 {
            // The same identity and settings: the configuration folder copied as it is.
            std::fs::create_dir_all(d.join("cfg")).unwrap();
            for e in std::fs::read_dir(first.join("cfg")).unwrap() {
                let e = e.unwrap();
                std::fs::copy(e.path(), d.join("cfg").join(e.file_name())).unwrap();
            }
        }
        let ini = d.join("cfg/file-server.ini");
        let control = free_port();
        set_ini(&ini, "TRANSPORT", "control_port", &control.to_string());
        set_ini(&ini, "FILES", "path", d.join("files").to_str().unwrap());
        if s3.is_some() {
            set_ini(
                &ini,
                "FILES",
                "s3_credentials",
                d.join("cfg/s3-credentials").to_str().unwrap(),
            );
        }
        let mut node = Node {
            dir: d,
            port: free_port(),
            control,
            child: None,
        };
        node.start();
        nodes.push(node);
    }
    if n == 1 {
        let port = nodes[0].port;
        return (
            nodes,
            None,
            format!("xftp://{fingerprint}@127.0.0.1:{port}"),
        );
    }
    let port = free_port();
    let ports: Vec<u16> = nodes.iter().map(|n| n.port).collect();
    let proxy = haproxy(dir, port, &ports);
    (
        nodes,
        Some(proxy),
        format!("xftp://{fingerprint}@127.0.0.1:{port}"),
    )
}

#[test]
fn three_nodes_behind_haproxy_lose_nothing_when_one_is_killed_and_restarted() {
    let dir = tempfile::tempdir().unwrap();
    let g = garage::server();
    let (mut nodes, _proxy, address) = cluster(dir.path(), g);
    // Sizes from 1 to 8 MB (set XFTP_NODES_FILES and XFTP_NODES_MAX_MB for a bigger run).
    let count: usize = std::env::var("XFTP_NODES_FILES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12);
    let max_mb: usize = std::env::var("XFTP_NODES_MAX_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let started = Instant::now();
    let mut sent = Vec::new();
    for i in 0..count {
        if i == count / 3 {
            nodes[1].kill();
        }
        if i == 2 * count / 3 {
            nodes[1].start();
        }
        let size = 1_000_000 + (i * 7_919_111) % (max_mb * 1_000_000 - 999_999);
        let path = dir.path().join(format!("f{i}.bin"));
        std::fs::write(&path, noise(size, i as u64)).unwrap();
        let descs = send(&path, &dir.path().join("descs"), 3, &address);
        sent.push((path, descs));
    }
    let sending = started.elapsed();
    let started = Instant::now();
    for (i, (path, descs)) in sent.iter().enumerate() {
        if i == count / 3 {
            nodes[2].kill();
        }
        if i == 2 * count / 3 {
            nodes[2].start();
        }
        for r in 1..=3 {
            let out = dir.path().join(format!("out{i}-{r}"));
            receive(&descs.join(format!("rcv{r}.xftp")), &out, path);
            // Disk stays bounded in a big run.
            std::fs::remove_dir_all(&out).unwrap();
        }
    }
    eprintln!(
        "{count} files (1-{max_mb} MB) to 3 recipients through 3 nodes: sent in {:.1} s, \
         received in {:.1} s",
        sending.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    // The balancer spread the work: every node registered or served chunks since its last
    // start (the restarted ones too).
    for (i, n) in nodes.iter().enumerate() {
        assert!(n.activity() > 0, "node {i} did nothing");
    }
}

#[test]
fn a_garage_cluster_with_three_copies_loses_nothing_when_a_node_dies() {
    let dir = tempfile::tempdir().unwrap();
    let mut gs = garage::Garage::cluster(3);
    let (mut nodes, _proxy, address) = cluster(dir.path(), &gs[0]);
    nodes.truncate(1);
    let mut sent = Vec::new();
    for i in 0..6 {
        if i == 2 {
            // A storage node dies: two copies of every object remain, enough to write and read.
            gs[2].kill();
        }
        let path = dir.path().join(format!("g{i}.bin"));
        std::fs::write(&path, noise(1_500_000 + i * 250_000, 100 + i as u64)).unwrap();
        let descs = send(&path, &dir.path().join("descs"), 2, &address);
        sent.push((path, descs));
    }
    // Everything is read back while the node is down, and again once it is back.
    receive_all(dir.path(), &sent, 1);
    gs[2].run();
    receive_all(dir.path(), &sent, 2);
}

/// Receives every file as recipient `r` (each recipient's chunks are acknowledged).
fn receive_all(dir: &Path, sent: &[(PathBuf, PathBuf)], r: usize) {
    for (i, (path, descs)) in sent.iter().enumerate() {
        let out = dir.join(format!("gout-{r}-{i}"));
        receive(&descs.join(format!("rcv{r}.xftp")), &out, path);
    }
}

/// User + system CPU seconds of a process and of its children it has waited for.
fn cpu(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let fields: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split(' ').collect();
    // utime, stime, cutime, cstime (fields 14-17; 0-based 11-14 after the name).
    fields[11..15]
        .iter()
        .map(|f| f.parse::<f64>().unwrap_or(0.0))
        .sum::<f64>()
        / 100.0
}

/// CPU seconds of a process and its live children.
fn tree_cpu(pid: u32) -> f64 {
    let out = Command::new("pgrep")
        .args(["-P", &pid.to_string()])
        .output()
        .unwrap();
    cpu(pid)
        + String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.trim().parse::<u32>().ok())
            .map(cpu)
            .sum::<f64>()
}

/// `xftp bench` against one node on local files, one node on PostgreSQL and Garage, and
/// three nodes behind HAProxy on both; MB/s up and down and CPU per GiB of the relays and of
/// the stores. `cargo test --release -p xftp-cli --test nodes backends -- --ignored
/// --nocapture` (XFTP_BENCH_SIZE, default 1gb); figures in docs/BENCHMARKS.md.
#[test]
#[ignore = "a benchmark: run it by hand in release"]
fn bench_backends() {
    let size = std::env::var("XFTP_BENCH_SIZE").unwrap_or_else(|_| "1gb".into());
    let bytes = xftp_proto::size::parse_file_size(&size).unwrap() as f64;
    let gib = bytes / (1u64 << 30) as f64;
    let pg = pg::own();
    let g = garage::own();
    let pg_pid: u32 = std::fs::read_to_string(pg.dir().join("data/postmaster.pid"))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let garage_pid = || -> u32 {
        let out = Command::new("pgrep")
            .args([
                "-f",
                &format!("{} server", g.dir().join("garage.toml").display()),
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .next()
            .unwrap_or(0)
    };
    let setups: [(&str, usize, bool); 3] = [
        ("one node, local files", 1, false),
        ("one node, PostgreSQL + Garage", 1, true),
        ("three nodes behind HAProxy, PostgreSQL + Garage", 3, true),
    ];
    println!("| setup | upload MB/s | download MB/s | relay CPU s/GiB | PostgreSQL CPU s/GiB | Garage CPU s/GiB |");
    println!("|---|---|---|---|---|---|");
    for (name, n, stores) in setups {
        let dir = tempfile::tempdir().unwrap();
        let (nodes, _proxy, address) =
            relays(dir.path(), n, stores.then_some(&pg), stores.then_some(&g));
        let pids: Vec<u32> = nodes
            .iter()
            .map(|n| n.child.as_ref().unwrap().id())
            .collect();
        let relay_before: f64 = pids.iter().map(|p| cpu(*p)).sum();
        let (pg_before, g_before) = (tree_cpu(pg_pid), cpu(garage_pid()));
        let o = xftp(&["bench", "--size", &size, "--server", &address]);
        assert!(o.status.success(), "{}", text(&o));
        let relay_cpu = pids.iter().map(|p| cpu(*p)).sum::<f64>() - relay_before;
        let (pg_cpu, g_cpu) = (tree_cpu(pg_pid) - pg_before, cpu(garage_pid()) - g_before);
        let out = text(&o);
        let line = out
            .lines()
            .find(|l| l.starts_with("upload "))
            .expect("the bench's summary line");
        let speed = |what: &str| -> String {
            line.split(", ")
                .find_map(|p| p.strip_prefix(what))
                .and_then(|p| p.strip_suffix(" MB/s"))
                .unwrap_or("?")
                .to_string()
        };
        let per = |s: f64| {
            if stores || s > 0.0 {
                format!("{:.2}", s / gib)
            } else {
                "-".into()
            }
        };
        println!(
            "| {name} | {} | {} | {:.2} | {} | {} |",
            speed("upload "),
            speed("download "),
            relay_cpu / gib,
            if stores { per(pg_cpu) } else { "-".into() },
            if stores { per(g_cpu) } else { "-".into() },
        );
    }
}
