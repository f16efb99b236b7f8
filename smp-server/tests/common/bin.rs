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

/// `smp-server init -l --ip 127.0.0.1 -a ED25519`: what it printed.
pub fn init(cfg: &std::path::Path, log: &std::path::Path) -> String {
    let out = smp_server(cfg, log)
        .args(["init", "-l", "--ip", "127.0.0.1", "-a", "ED25519"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}
