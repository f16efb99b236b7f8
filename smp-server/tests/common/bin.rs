//! The `smp-server` binary as the tests run it.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command as Process, Stdio};

pub fn smp_server(cfg: &std::path::Path, log: &std::path::Path) -> Process {
    let mut p = Process::new(env!("CARGO_BIN_EXE_smp-server"));
    p.env("SMP_SERVER_CFG_PATH", cfg)
        .env("SMP_SERVER_LOG_PATH", log);
    p
}

/// Starts the relay on an ephemeral port; returns the process and where it listens.
pub fn start(
    cfg: &std::path::Path,
    log: &std::path::Path,
) -> (Child, std::net::SocketAddr, String) {
    let mut child = smp_server(cfg, log)
        .args(["start", "--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // Notes about the stores may come first.
    let addr = lines
        .by_ref()
        .find_map(|l| l.unwrap().strip_prefix("Listening on ").map(str::to_string))
        .unwrap()
        .parse()
        .unwrap();
    let address = lines.next().unwrap().unwrap();
    (child, addr, address)
}

pub fn key_hash(cfg: &std::path::Path) -> [u8; 32] {
    let fp = std::fs::read_to_string(cfg.join("fingerprint")).unwrap();
    simplex_codec::base64url::decode(fp.trim())
        .unwrap()
        .try_into()
        .unwrap()
}

pub fn terminate(mut child: Child) {
    let ok = Process::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let status = child.wait().unwrap();
    assert!(status.success(), "graceful exit: {status}");
}

/// Runs `smp-server <args>` to its end: whether it succeeded, and what it printed (stdout,
/// then stderr).
pub fn run(cfg: &std::path::Path, log: &std::path::Path, args: &[&str]) -> (bool, String) {
    let out = smp_server(cfg, log).args(args).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Runs `smp-server <args>`, which must succeed; what it printed.
pub fn run_ok(cfg: &std::path::Path, log: &std::path::Path, args: &[&str]) -> String {
    let (ok, text) = run(cfg, log, args);
    assert!(ok, "smp-server {args:?}: {text}");
    text
}

/// `smp-server init -l --ip 127.0.0.1 -a ED25519`: what it printed.
pub fn init(cfg: &std::path::Path, log: &std::path::Path) -> String {
    run_ok(
        cfg,
        log,
        &["init", "-l", "--ip", "127.0.0.1", "-a", "ED25519"],
    )
}
