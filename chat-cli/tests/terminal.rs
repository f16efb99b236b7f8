//! On a terminal (a pseudo-terminal here), `simplex-chat` reads lines with its line editor:
//! a line recalled from the history with the up arrow is sent again, and output is printed
//! above the line being typed.

mod common;

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

// A pseudo-terminal needs openpty and poll: libc calls, with the invariants stated at each.
#[allow(unsafe_code)]
fn openpty() -> (std::fs::File, OwnedFd) {
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty writes two new descriptors into the integers given; no name, termios
    // or window size is passed.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty");
    // SAFETY: both descriptors were just opened by openpty and are owned here only; the
    // master side is not for the child (close-on-exec).
    unsafe {
        libc::fcntl(master, libc::F_SETFD, libc::FD_CLOEXEC);
        (
            std::fs::File::from_raw_fd(master),
            OwnedFd::from_raw_fd(slave),
        )
    }
}

#[allow(unsafe_code)]
/// Reads what the terminal has within 100 ms into `seen`; false at its end.
fn read_some(master: &mut std::fs::File, seen: &mut String) -> bool {
    let mut pfd = libc::pollfd {
        fd: master.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, for a descriptor this test owns.
    let ready = unsafe { libc::poll(&mut pfd, 1, 100) };
    if ready <= 0 {
        return true;
    }
    let mut buf = [0u8; 4096];
    match master.read(&mut buf) {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
            true
        }
    }
}

/// Reads until `want` has appeared `times` times in the output (escape sequences left in),
/// for up to 30 seconds.
fn read_until(master: &mut std::fs::File, seen: &mut String, want: &str, times: usize) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while seen.matches(want).count() < times && Instant::now() < deadline {
        if !read_some(master, seen) {
            break;
        }
    }
    seen.matches(want).count() >= times
}

/// Types `keys` as a person does: one key at a time, each after the editor has answered the
/// previous one (its echo, or a redraw).
fn type_keys(master: &mut std::fs::File, seen: &mut String, keys: &[&[u8]]) {
    for k in keys {
        let before = seen.len();
        master.write_all(k).expect("type");
        let deadline = Instant::now() + Duration::from_secs(10);
        while seen.len() == before && Instant::now() < deadline {
            if !read_some(master, seen) {
                return;
            }
        }
        // A person's pace between keys. Typed faster - each key within a millisecond of the
        // previous one's echo - rustyline 17 was seen to stop reading keys now and then.
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The keys of a line: its characters, then Enter.
fn line(text: &str) -> Vec<&[u8]> {
    let mut keys: Vec<&[u8]> = text
        .char_indices()
        .map(|(i, c)| &text.as_bytes()[i..i + c.len_utf8()])
        .collect();
    keys.push(b"\r");
    keys
}

/// The child gets a session of its own with the terminal (on stdin) as its controlling
/// terminal, as a shell would start it.
#[allow(unsafe_code)]
fn controlling_terminal(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: between fork and exec only async-signal-safe calls (setsid, ioctl) are made, on
    // the child's own descriptors.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY as _, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// `simplex-chat` for user `name` (database in `dir`, which is its working directory) on a new
/// pseudo-terminal: the terminal's master side and the child.
fn on_terminal(
    dir: &std::path::Path,
    name: &str,
    server: &str,
) -> (std::fs::File, std::process::Child) {
    let (master, slave) = openpty();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_simplex-chat"));
    cmd.current_dir(dir)
        .args(["-d", &dir.join(name).to_string_lossy(), "-s", server])
        .stdin(Stdio::from(slave.try_clone().expect("dup")))
        .stdout(Stdio::from(slave.try_clone().expect("dup")))
        .stderr(Stdio::from(slave));
    controlling_terminal(&mut cmd);
    let child = cmd.spawn().expect("simplex-chat starts");
    drop(cmd); // the terminal's slave side belongs to the child only
    (master, child)
}

/// SIGKILL for the child when the test ends, passed or not.
struct KillOnDrop(u32);

impl Drop for KillOnDrop {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        // SAFETY: kill(2) with a pid this test spawned; at worst it is already gone (ESRCH).
        unsafe {
            libc::kill(self.0 as libc::pid_t, libc::SIGKILL);
        }
    }
}

#[test]
fn the_line_editor_recalls_history() {
    let (_rt, relay, server) = common::relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut master, mut child) = on_terminal(dir.path(), "alice", &server);
    let _kill = KillOnDrop(child.id());
    let mut seen = String::new();
    assert!(
        read_until(&mut master, &mut seen, "display name: ", 1),
        "{seen}"
    );
    type_keys(&mut master, &mut seen, &line("alice"));
    assert!(
        read_until(&mut master, &mut seen, "Current user: alice", 1),
        "{seen}"
    );
    type_keys(&mut master, &mut seen, &line("/* note one"));
    assert!(
        read_until(&mut master, &mut seen, "* note one", 2),
        "{seen}"
    );
    // Up arrow, Enter: the note again, from the history.
    type_keys(&mut master, &mut seen, &[b"\x1b[A", b"\r"]);
    assert!(
        read_until(&mut master, &mut seen, "* note one", 4),
        "{seen}"
    );
    type_keys(&mut master, &mut seen, &line("/tail *"));
    // The two notes, each printed as an item of the chat.
    assert!(
        read_until(&mut master, &mut seen, " * note one", 4),
        "{seen}"
    );
    type_keys(&mut master, &mut seen, &line("/q"));
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut status = None;
    while status.is_none() && Instant::now() < deadline {
        status = child.try_wait().expect("wait");
        if status.is_none() {
            let _ = read_some(&mut master, &mut seen);
        }
    }
    if status.is_none() {
        let _ = child.kill();
    }
    let status = child.wait().expect("wait");
    assert!(status.success(), "did not quit on /q: {status}");
    relay.stop();
}

/// The reference's live typing on a terminal: after `/live @bob hello` the line editor holds
/// the message, typed on; what is typed reaches bob while it changes (a whole word at a time,
/// every 3 seconds), Enter ends it with the line as typed. Ctrl-L sends a message live;
/// Alt-Enter ends one and starts the next to the same contact; Ctrl-C ends it and the client.
#[test]
fn a_live_message_is_typed_on() {
    let (_rt, relay, server) = common::relay();
    let dir = tempfile::tempdir().expect("tmp");
    let (mut alice, mut bob) = common::alice_and_bob(dir.path(), &server, &[]);
    common::connect(&mut alice, &mut bob, "Alice", "Bob");
    alice.stop();
    bob.type_line("/show on");
    bob.expect("/show on");
    bob.expect("ok");
    // alice again, on a terminal.
    let (mut master, mut child) = on_terminal(dir.path(), "alice", &server);
    let _kill = KillOnDrop(child.id());
    let mut seen = String::new();
    assert!(
        read_until(&mut master, &mut seen, "1 contacts connected", 1),
        "{seen}"
    );
    let started = |bob: &mut common::Client, text: &str| {
        let l = bob.next();
        let rest = l.get(6..).unwrap_or_default();
        assert!(
            rest.starts_with("alice> [LIVE started] use /show [on/off/") && l.ends_with(text),
            "{l}"
        );
    };
    // Tab completes a contact's name (and a space after the only one).
    let mut keys = line("@b");
    keys.pop();
    keys.extend([&b"\t"[..], b"h", b"i", b"\r"]);
    type_keys(&mut master, &mut seen, &keys);
    bob.expect_item("alice> hi");
    type_keys(&mut master, &mut seen, &line("/live @bob hello"));
    started(&mut bob, "] hello");
    // The line editor holds the message (its prompt says so): typed on, the whole words
    // reach bob while it is typed.
    assert!(
        read_until(&mut master, &mut seen, "> @bob [LIVE] hello", 1),
        "{seen}"
    );
    let mut keys = line(" there");
    keys.pop();
    type_keys(&mut master, &mut seen, &keys);
    bob.expect_item("alice> [LIVE] hello");
    type_keys(&mut master, &mut seen, &[b"\r"]);
    bob.expect_item("alice> [LIVE ended] hello there");
    assert!(
        read_until(&mut master, &mut seen, "@bob [LIVE] hello there", 1),
        "{seen}"
    );
    // The history keeps it with its chat: recalled (up arrow), it is a message to send.
    type_keys(&mut master, &mut seen, &[b"\x1b[A", b"\r"]);
    bob.expect_item("alice> hello there");
    // Ctrl-L sends a message live; Alt-Enter ends it as it is and starts the next; Enter
    // ends that one.
    let mut keys = line("@bob hi");
    keys.pop();
    keys.push(b"\x0c");
    type_keys(&mut master, &mut seen, &keys);
    started(&mut bob, "] hi");
    type_keys(&mut master, &mut seen, &[b"!", b"\x1b\r"]);
    bob.expect_item("alice> [LIVE ended] hi!");
    started(&mut bob, "]");
    type_keys(&mut master, &mut seen, &line("yo"));
    bob.expect_item("alice> [LIVE ended] yo");
    // Ctrl-C while one is typed: it ends as typed (not left live), and the client exits.
    type_keys(&mut master, &mut seen, &line("/live @bob bye"));
    started(&mut bob, "] bye");
    let mut keys = line(" now");
    keys.pop();
    keys.push(b"\x03");
    type_keys(&mut master, &mut seen, &keys);
    bob.expect_item("alice> [LIVE ended] bye now");
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().expect("wait").is_none() && Instant::now() < deadline {
        let _ = read_some(&mut master, &mut seen);
    }
    let status = child.try_wait().expect("wait");
    assert!(
        status.is_some_and(|s| s.success()),
        "did not exit: {status:?} {seen}"
    );
    relay.stop();
}
