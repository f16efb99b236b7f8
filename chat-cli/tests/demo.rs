//! The README's first chat command: `simplex-chat demo` runs on its own (relays on 127.0.0.1,
//! two users, messages, a file compared with the plain XFTP pipeline) and says what it did.

use std::process::Command;

#[test]
fn the_demo_runs_end_to_end() {
    let out = Command::new(env!("CARGO_BIN_EXE_simplex-chat"))
        .args(["demo", "--size", "300kb", "--messages", "20"])
        .output()
        .expect("the demo starts");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the demo failed: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "alice and bob connected by a one-time invitation in ",
        "20 text messages alice -> bob, each stored by both, in ",
        "300.0 KiB file alice -> bob in the chat (/f, /fr): ",
        "the same file with xftp send + recv, before and after: ",
        "Demo complete: ",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(line)),
            "no line starting {line:?} in:\n{text}"
        );
    }
    assert!(text.contains("byte-identical"), "{text}");
}

#[test]
fn a_bad_size_is_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_simplex-chat"))
        .args(["demo", "--size", "lots"])
        .output()
        .expect("the demo starts");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("invalid size \"lots\""),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
