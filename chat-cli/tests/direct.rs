//! The direct-chat transcripts of `testdata/chat/cli_transcripts.md` (sections 1 and 2) with
//! real `simplex-chat` processes driven through stdin/stdout and an SMP relay on 127.0.0.1:
//! connecting by invitation and by address (accepted and rejected), messages both ways, and a
//! client restarted on its databases.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long one expected line may take.
const LINE_WAIT: Duration = Duration::from_secs(30);

struct Client {
    name: &'static str,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl Client {
    fn start(dir: &std::path::Path, name: &'static str, server: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_simplex-chat"))
            .args(["-d", &dir.join(name).to_string_lossy(), "-s", server])
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

    fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").expect("stdin open");
        stdin.flush().expect("flush");
    }

    fn next(&mut self) -> String {
        self.lines
            .recv_timeout(LINE_WAIT)
            .unwrap_or_else(|e| panic!("{}: no line in time ({e})", self.name))
    }

    fn expect(&mut self, expected: &str) {
        let got = self.next();
        assert_eq!(got, expected, "{}", self.name);
    }

    /// A chat item line: `HH:MM ` then `rest`.
    fn expect_item(&mut self, rest: &str) {
        let got = self.next();
        let b = got.as_bytes();
        assert!(
            got.len() > 6
                && b[..2].iter().all(u8::is_ascii_digit)
                && b[2] == b':'
                && b[3..5].iter().all(u8::is_ascii_digit)
                && b[5] == b' ',
            "{}: no time prefix in {got:?}",
            self.name
        );
        assert_eq!(&got[6..], rest, "{}", self.name);
    }

    /// Lines until one ending with `expected` (the first start's banner; the prompt
    /// `display name: ` has no line end of its own when input is not a terminal).
    fn skip_to(&mut self, expected: &str) {
        for _ in 0..50 {
            if self.next().ends_with(expected) {
                return;
            }
        }
        panic!("{}: never printed {expected:?}", self.name);
    }

    /// Creates the profile on the first start: display name at the prompt, then the full name.
    fn create_profile(&mut self, display: &str, full: &str) {
        self.type_line(display);
        self.skip_to(&format!("Current user: {display}"));
        self.type_line(&format!("/p {display} {full}"));
        self.expect(&format!("/p {display} {full}"));
        self.expect(&format!(
            "user profile is changed to {display} ({full}) (your 0 contacts are notified)"
        ));
    }

    /// A link block: the head line, empty, the link, empty, then `tail` lines; the link.
    fn link_block(&mut self, head: &str, tail: &[&str]) -> String {
        self.expect(head);
        self.expect("");
        let link = self.next();
        self.expect("");
        for t in tail {
            self.expect(t);
        }
        link
    }

    /// Closes stdin (the client exits at end of input) and waits.
    fn stop(mut self) {
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
fn relay() -> (tokio::runtime::Runtime, smp_server::Running, String) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let (identity, _) =
        transport::Identity::generate(transport::SignAlgorithm::Ed448, "localhost").expect("id");
    let kh = identity.key_hash().expect("hash");
    let running = rt
        .block_on(smp_server::start(
            "127.0.0.1:0".parse().expect("addr"),
            &identity,
            smp_server::RelayConfig::default(),
        ))
        .expect("relay");
    let address = format!(
        "smp://{}@127.0.0.1:{}",
        simplex_codec::base64url::encode(&kh),
        running.addr.port()
    );
    (rt, running, address)
}

fn connect(a: &mut Client, b: &mut Client, a_full: &str, b_full: &str) -> String {
    a.type_line("/c");
    a.expect("/c");
    let link = a.link_block(
        "pass this invitation link to your contact (via another channel):",
        &["and ask them to connect: /c <invitation_link_above>"],
    );
    assert!(
        link.starts_with("https://simplex.chat/invitation#/?v="),
        "{link}"
    );
    b.type_line(&format!("/c {link}"));
    b.expect(&format!("/c {link}"));
    b.expect("confirmation sent!");
    b.expect(&format!("{} ({a_full}): contact is connected", a.name));
    a.expect(&format!("{} ({b_full}): contact is connected", b.name));
    link
}

#[test]
fn invitation_messages_and_a_restart() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let mut alice = Client::start(dir.path(), "alice", &server);
    let mut bob = Client::start(dir.path(), "bob", &server);
    alice.create_profile("alice", "Alice");
    bob.create_profile("bob", "Bob");
    connect(&mut alice, &mut bob, "Alice", "Bob");

    alice.type_line("@bob hello there 🙂");
    alice.expect_item("@bob hello there 🙂");
    bob.expect_item("alice> hello there 🙂");
    bob.type_line("@alice hello there");
    bob.expect_item("@alice hello there");
    alice.expect_item("bob> hello there");
    bob.type_line("@alice how are you?");
    bob.expect_item("@alice how are you?");
    alice.expect_item("bob> how are you?");

    // Alice stops; Bob writes meanwhile; Alice starts again on her databases.
    alice.stop();
    bob.type_line("@alice are you back?");
    bob.expect_item("@alice are you back?");
    let mut alice = Client::start(dir.path(), "alice", &server);
    alice.expect("Current user: alice (Alice)");
    alice.expect_item("bob> are you back?");
    alice.type_line("@bob yes");
    alice.expect_item("@bob yes");
    bob.expect_item("alice> yes");
    alice.type_line("/tail @bob 2");
    alice.expect("/tail @bob 2");
    alice.expect_item("bob> are you back?");
    alice.expect_item("@bob yes");

    // A message to no one is refused with the line echoed.
    alice.type_line("@nobody hi");
    alice.expect("@nobody hi");
    alice.expect("chat error: no contact nobody");
    relay.stop();
}

#[test]
fn address_with_requests_accepted_and_rejected() {
    let (_rt, relay, server) = relay();
    let dir = tempfile::tempdir().expect("tmp");
    let mut alice = Client::start(dir.path(), "alice", &server);
    let mut bob = Client::start(dir.path(), "bob", &server);
    let mut cath = Client::start(dir.path(), "cath", &server);
    alice.create_profile("alice", "Alice");
    bob.create_profile("bob", "Bob");
    cath.create_profile("cath", "Catherine");

    alice.type_line("/ad");
    alice.expect("/ad");
    let tail = [
        "Anybody can send you contact requests with: /c <contact_link_above>",
        "to show it again: /sa",
        "to share with your contacts: /profile_address on",
        "to delete it: /da (accepted contacts will remain connected)",
    ];
    let address = alice.link_block("Your new chat address is created!", &tail);
    assert!(
        address.starts_with("https://simplex.chat/contact#/?v="),
        "{address}"
    );

    bob.type_line(&format!("/c {address}"));
    bob.expect(&format!("/c {address}"));
    bob.expect("connection request sent!");
    alice.expect("bob (Bob) wants to connect to you!");
    alice.expect("to accept: /ac bob");
    alice.expect("to reject: /rc bob (the sender will NOT be notified)");
    alice.type_line("/ac bob");
    alice.expect("/ac bob");
    alice.expect("bob (Bob): accepting contact request, you can send messages to contact");
    bob.expect("alice (Alice): contact is connected");
    alice.expect("bob (Bob): contact is connected");
    alice.type_line("@bob hi");
    alice.expect_item("@bob hi");
    bob.expect_item("alice> hi");
    bob.type_line("@alice hey");
    bob.expect_item("@alice hey");
    alice.expect_item("bob> hey");

    // Cath's request is rejected: nothing reaches her.
    cath.type_line(&format!("/c {address}"));
    cath.expect(&format!("/c {address}"));
    cath.expect("connection request sent!");
    alice.expect("cath (Catherine) wants to connect to you!");
    alice.expect("to accept: /ac cath");
    alice.expect("to reject: /rc cath (the sender will NOT be notified)");
    alice.type_line("/rc cath");
    alice.expect("/rc cath");
    alice.expect("cath: contact request rejected");
    alice.type_line("/ac cath");
    alice.expect("/ac cath");
    alice.expect("chat error: no contact request from cath");

    alice.type_line("/_show_address 1");
    alice.expect("/_show_address 1");
    assert_eq!(alice.link_block("Your chat address:", &tail), address);
    assert!(
        cath.lines.recv_timeout(Duration::from_millis(300)).is_err(),
        "cath hears nothing"
    );
    relay.stop();
}
