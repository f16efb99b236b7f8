//! The `xftp` binary as the CLI tests run it.
#![allow(dead_code, clippy::unwrap_used)]

use std::process::{Command, Output};

/// Runs `xftp` with `args` (without `XFTP_SERVERS` from the environment).
pub fn xftp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xftp"))
        .args(args)
        .env_remove("XFTP_SERVERS")
        .output()
        .unwrap()
}

/// What it printed, stdout then stderr.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
