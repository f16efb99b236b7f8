//! Helpers of the end-to-end tests: `simplex-chat` processes driven through stdin/stdout,
//! relays on 127.0.0.1.
#![allow(dead_code)]

pub mod groups;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long one expected line may take.
pub const LINE_WAIT: Duration = Duration::from_secs(30);

pub struct Client {
    pub name: &'static str,
    child: Child,
    stdin: Option<ChildStdin>,
    pub lines: mpsc::Receiver<String>,
}

impl Client {
    pub fn start(dir: &std::path::Path, name: &'static str, server: &str) -> Self {
        Self::start_with(dir, name, server, &[])
    }

    /// With more options (`--xftp-server`, `--files-folder`, ...).
    pub fn start_with(
        dir: &std::path::Path,
        name: &'static str,
        server: &str,
        more: &[&str],
    ) -> Self {
        // In the test's directory: a relative path (the default files folder, `.`) stays in it.
        let mut child = Command::new(env!("CARGO_BIN_EXE_simplex-chat"))
            .current_dir(dir)
            .args(["-d", &dir.join(name).to_string_lossy(), "-s", server])
            .args(more)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("simplex-chat starts");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match r.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {
                        let l = String::from_utf8_lossy(&buf);
                        // Compared without trailing spaces, as the reference's harness does.
                        if tx.send(l.trim_end().to_string()).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        Self {
            name,
            child,
            stdin: Some(stdin),
            lines,
        }
    }

    pub fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").expect("stdin open");
        stdin.flush().expect("flush");
    }

    pub fn next(&mut self) -> String {
        self.next_within(LINE_WAIT)
    }

    /// The next line, waiting at most `wait` (a long transfer's completion).
    pub fn next_within(&mut self, wait: Duration) -> String {
        let line = self
            .lines
            .recv_timeout(wait)
            .unwrap_or_else(|e| panic!("{}: no line in time ({e})", self.name));
        // CHAT_TEST_ECHO=1 shows every line read (debugging a transcript).
        if std::env::var_os("CHAT_TEST_ECHO").is_some() {
            eprintln!("{}| {line}", self.name);
        }
        line
    }

    pub fn expect(&mut self, expected: &str) {
        let got = self.next();
        assert_eq!(got, expected, "{}", self.name);
    }

    /// These lines in any order (printed by concurrent events); item lines (`HH:MM ` then
    /// the text) are written as `~ text`.
    pub fn expect_unordered(&mut self, expected: &[&str]) {
        let mut left: Vec<&str> = expected.to_vec();
        while !left.is_empty() {
            let got = self.next();
            let pos = left.iter().position(|e| match e.strip_prefix("~ ") {
                Some(rest) => item_text(&got) == Some(rest),
                None => got == *e,
            });
            match pos {
                Some(i) => {
                    left.remove(i);
                }
                None => panic!("{}: unexpected {got:?}, waiting for {left:?}", self.name),
            }
        }
    }

    /// A chat's page as the terminal prints it (`/_get chat <chat> count=<n>`: one line of
    /// JSON).
    pub fn page(&mut self, chat: &str, n: usize) -> serde_json::Value {
        let cmd = format!("/_get chat {chat} count={n}");
        self.type_line(&cmd);
        self.expect(&cmd);
        serde_json::from_str(&self.next()).expect("a chat's JSON")
    }

    /// A chat item line: `HH:MM ` then `rest`.
    pub fn expect_item(&mut self, rest: &str) {
        let got = self.next();
        let text =
            item_text(&got).unwrap_or_else(|| panic!("{}: no time prefix in {got:?}", self.name));
        assert_eq!(text, rest, "{}", self.name);
    }

    /// Lines until one ending with `expected` (the first start's banner; the prompt
    /// `display name: ` has no line end of its own when input is not a terminal).
    pub fn skip_to(&mut self, expected: &str) {
        for _ in 0..50 {
            if self.next().ends_with(expected) {
                return;
            }
        }
        panic!("{}: never printed {expected:?}", self.name);
    }

    /// Types a command: its echo, then exactly the lines `answer`.
    pub fn command(&mut self, line: &str, answer: &[&str]) {
        self.type_line(line);
        self.expect(line);
        for l in answer {
            self.expect(l);
        }
    }

    /// Creates the profile on the first start: display name at the prompt, then the full name.
    pub fn create_profile(&mut self, display: &str, full: &str) {
        self.type_line(display);
        self.skip_to(&format!("Current user: {display}"));
        self.type_line(&format!("/p {display} {full}"));
        self.expect(&format!("/p {display} {full}"));
        self.expect(&format!(
            "user full name changed to {full} (your 0 contacts are notified)"
        ));
    }

    /// A link block: the head line, empty, the link, empty, then `tail` lines; the link.
    pub fn link_block(&mut self, head: &str, tail: &[&str]) -> String {
        self.expect(head);
        self.expect("");
        let link = self.next();
        self.expect("");
        for t in tail {
            self.expect(t);
        }
        link
    }

    /// Closes stdin without waiting for the process (a bot's chat keeps running).
    pub fn close_stdin(&mut self) {
        drop(self.stdin.take());
    }

    /// Whether the process still runs.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends a signal (`STOP`, `CONT`) to the process.
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .expect("kill runs")
            .success();
        assert!(ok, "{}: kill -{sig}", self.name);
    }

    /// SIGKILL, as a crash.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Closes stdin (the client exits at end of input) and waits.
    pub fn stop(mut self) {
        drop(self.stdin.take());
        let deadline = std::time::Instant::now() + LINE_WAIT;
        loop {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("{}: did not exit at end of input", self.name);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An SMP relay on 127.0.0.1 in a runtime of its own; its address.
/// A chat item line's text after its `HH:MM ` time (none: not an item line).
pub fn item_text(line: &str) -> Option<&str> {
    let b = line.as_bytes();
    let timed = line.len() > 6
        && b[..2].iter().all(u8::is_ascii_digit)
        && b[2] == b':'
        && b[3..5].iter().all(u8::is_ascii_digit)
        && b[5] == b' ';
    timed.then(|| &line[6..])
}

pub fn relay() -> (tokio::runtime::Runtime, smp_server::Running, String) {
    let (rt, _, running, address) = restartable_relay();
    (rt, running, address)
}

/// As [`relay`], with the relay's identity too: stopped, it starts again on the same port
/// with [`start_relay`] (its `addr`).
pub fn restartable_relay() -> (
    tokio::runtime::Runtime,
    transport::Identity,
    smp_server::Running,
    String,
) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let (identity, _) =
        transport::Identity::generate(transport::SignAlgorithm::Ed448, "localhost").expect("id");
    let running = start_relay(&rt, &identity, "127.0.0.1:0".parse().expect("addr"));
    let address = relay_address(&identity, running.addr.port());
    (rt, identity, running, address)
}

/// An SMP relay with `identity` on `addr` in `rt`. A port a stopped relay just left may be
/// busy for a moment (its listener goes when its task is dropped): tried for 10 s at most.
pub fn start_relay(
    rt: &tokio::runtime::Runtime,
    identity: &transport::Identity,
    addr: std::net::SocketAddr,
) -> smp_server::Running {
    let mut tries = 0;
    loop {
        match rt.block_on(smp_server::start(
            addr,
            identity,
            smp_server::RelayConfig::default(),
        )) {
            Ok(r) => return r,
            Err(_) if tries < 200 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(e) => panic!("relay: {e:?}"),
        }
    }
}

/// The `smp://` address of a relay with `identity` on 127.0.0.1:`port`.
pub fn relay_address(identity: &transport::Identity, port: u16) -> String {
    let kh = identity.key_hash().expect("hash");
    format!(
        "smp://{}@127.0.0.1:{port}",
        simplex_codec::base64url::encode(&kh)
    )
}

/// alice (Alice) and bob (Bob) on `server`, profiles created, not connected yet.
pub fn alice_and_bob(dir: &std::path::Path, server: &str, more: &[&str]) -> (Client, Client) {
    let mut alice = Client::start_with(dir, "alice", server, more);
    let mut bob = Client::start_with(dir, "bob", server, more);
    alice.create_profile("alice", "Alice");
    bob.create_profile("bob", "Bob");
    (alice, bob)
}

/// The lines after an address link (`/ad`, `/sa`).
pub const ADDRESS_TAIL: [&str; 4] = [
    "Anybody can send you contact requests with: /c <contact_link_above>",
    "to show it again: /sa",
    "to share with your contacts: /profile_address on",
    "to delete it: /da (accepted contacts will remain connected)",
];

/// The invitation link block after `/c` (or `/c i`): the short link, then the full one "for
/// old clients" (the transcripts' block); both links.
pub fn invitation_links(a: &mut Client) -> (String, String) {
    let short = a.link_block(
        "pass this invitation link to your contact (via another channel):",
        &["and ask them to connect: /c <invitation_link_above>"],
    );
    assert!(short.starts_with("https://127.0.0.1/i#"), "{short}");
    a.expect("The invitation link for old clients:");
    let full = a.next();
    assert!(
        full.starts_with("https://simplex.chat/invitation#/?v="),
        "{full}"
    );
    (short, full)
}

/// The full link of the invitation block after `/c` (or `/c i`): the transcripts join by it.
pub fn invitation_link(a: &mut Client) -> String {
    invitation_links(a).1
}

/// The address block after `/ad` or `/sa` (`head`: its first line): the short link, then the
/// full one "for old clients"; both links.
pub fn address_links(a: &mut Client, head: &str) -> (String, String) {
    let short = a.link_block(head, &ADDRESS_TAIL);
    assert!(short.starts_with("https://127.0.0.1/a#"), "{short}");
    let line = a.next();
    let full = line
        .strip_prefix("The contact link for old clients: ")
        .unwrap_or_else(|| panic!("{}: the full address expected, got {line:?}", a.name))
        .to_string();
    assert!(
        full.starts_with("https://simplex.chat/contact#/?v="),
        "{full}"
    );
    (short, full)
}

pub fn connect(a: &mut Client, b: &mut Client, a_full: &str, b_full: &str) -> String {
    a.type_line("/c");
    a.expect("/c");
    let link = invitation_link(a);
    b.type_line(&format!("/c {link}"));
    b.expect(&format!("/c {link}"));
    b.expect("confirmation sent!");
    b.expect(&format!("{} ({a_full}): contact is connected", a.name));
    a.expect(&format!("{} ({b_full}): contact is connected", b.name));
    link
}

/// An XFTP relay on 127.0.0.1 (files in `dir`) started in `rt`; its address.
pub fn xftp_relay(
    rt: &tokio::runtime::Runtime,
    dir: &std::path::Path,
) -> (xftp_server::ServerHandle, String) {
    xftp_relay_with(rt, dir, None)
}

/// [`xftp_relay`] whose new files need `password` (its address as returned without it).
pub fn xftp_relay_with(
    rt: &tokio::runtime::Runtime,
    dir: &std::path::Path,
    password: Option<&str>,
) -> (xftp_server::ServerHandle, String) {
    let cfg = dir.join("xftp-cfg");
    let files = dir.join("xftp-files");
    std::fs::create_dir_all(&cfg).expect("cfg dir");
    std::fs::create_dir_all(&files).expect("files dir");
    let (identity, ca_key) =
        transport::Identity::generate(transport::SignAlgorithm::Ed25519, "127.0.0.1")
            .expect("identity");
    identity.write_new(&ca_key, &cfg).expect("certificates");
    let ini = xftp_server::config::default_ini(&files, "10gb", "127.0.0.1", false, password);
    std::fs::write(cfg.join(xftp_server::config::CONFIG_FILE), ini).expect("ini");
    let handle = rt
        .block_on(xftp_server::start(
            &cfg,
            &dir.join("xftp-log"),
            std::sync::Arc::new(xftp_server::relay::SystemClock),
            Some("127.0.0.1:0".parse().expect("addr")),
        ))
        .expect("xftp relay");
    let address = handle.address.clone();
    (handle, address)
}

/// The XFTP relay of [`xftp_relay`] in `dir` started again on `addr` (the port it had), with
/// its store log on (`keep_files`: files uploaded from now on survive its next restart) or
/// off (it forgets the files it has - those uploaded while the log was on are lost to it).
/// A port just left may be busy for a moment: tried for 10 s at most.
#[allow(dead_code)] // not every test binary restarts an XFTP relay
pub fn restart_xftp_relay(
    rt: &tokio::runtime::Runtime,
    dir: &std::path::Path,
    addr: std::net::SocketAddr,
    keep_files: bool,
) -> xftp_server::ServerHandle {
    let cfg = dir.join("xftp-cfg");
    let ini = xftp_server::config::default_ini(
        &dir.join("xftp-files"),
        "10gb",
        "127.0.0.1",
        keep_files,
        None,
    );
    std::fs::write(cfg.join(xftp_server::config::CONFIG_FILE), ini).expect("ini");
    let mut tries = 0;
    loop {
        match rt.block_on(xftp_server::start(
            &cfg,
            &dir.join("xftp-log"),
            std::sync::Arc::new(xftp_server::relay::SystemClock),
            Some(addr),
        )) {
            Ok(h) => return h,
            Err(_) if tries < 200 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(e) => panic!("xftp relay: {e:?}"),
        }
    }
}

/// A stopped client's databases (`<name>_chat.db`, `<name>_agent.db` and their journals)
/// kept aside as `old-...` (`restore` false), or put back over the current ones (`restore`
/// true): a user restoring a backup, whose ratchets are behind its contacts'.
pub fn keep_old_databases(dir: &std::path::Path, name: &str, restore: bool) {
    for f in ["chat", "agent"] {
        for j in ["", "-wal", "-shm"] {
            let cur = dir.join(format!("{name}_{f}.db{j}"));
            let old = dir.join(format!("old-{name}_{f}.db{j}"));
            let (from, to) = if restore { (&old, &cur) } else { (&cur, &old) };
            let _ = std::fs::remove_file(to);
            if from.exists() {
                std::fs::copy(from, to).expect("copy");
            }
        }
    }
}

/// Bytes that do not repeat (xorshift from `seed`): file contents of the tests.
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}
