//! Two agents in separate processes (`agent-peer`), a relay on 127.0.0.1: 1,000 messages each
//! way while either side is killed with SIGKILL at random moments and started again. Every
//! message arrives in order with its integrity intact (no id skipped, no bad hash, no
//! duplicate), exactly once after the consumer's own de-duplication by message id: a message
//! received but not yet acknowledged when the process died comes again, right away, with the
//! same id. A peer down for a while also fills the other's queue to the quota (QUOTA, then
//! A_QCONT when it drains it).

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const COUNT: i64 = 1000;

struct Peer {
    args: Vec<String>,
    out: PathBuf,
    child: Option<Child>,
}

impl Peer {
    fn start(&mut self) {
        self.child = Some(
            Command::new(env!("CARGO_BIN_EXE_agent-peer"))
                .args(&self.args)
                .stdout(Stdio::null())
                .stderr(
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(self.out.with_extension("err"))
                        .unwrap(),
                )
                .spawn()
                .unwrap(),
        );
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap(); // SIGKILL
            c.wait().unwrap();
        }
    }

    fn received(&self) -> Vec<Line> {
        read_log(&self.out)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A received message as `agent-peer` logs it: id, body, integrity.
type Line = (i64, String, String);

fn read_log(path: &Path) -> Vec<Line> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    // A line being written when the process died may be cut: only whole lines count.
    text.split_inclusive('\n')
        .filter(|l| l.ends_with('\n'))
        .map(|l| {
            let mut f = l.trim_end().splitn(3, ' ');
            let id = f.next().unwrap().parse().unwrap();
            let body = f.next().unwrap_or_default().to_string();
            (id, body, f.next().unwrap_or_default().to_string())
        })
        .collect()
}

/// Checks the log and returns the distinct messages and the last id: ids only go up, except
/// that the last one may come again (redelivery after a restart); the agent reported every
/// message intact. Ids the agent used for its own messages (A_QCONT) are not the user's, so an
/// id may be missing - but then the agent, which checks the whole sequence, would have said so
/// if a message had been lost. Each body is the id the sender expected for it: the id itself,
/// or less when one of the agent's own messages took that id in the meantime - so bodies go up
/// with the ids and never exceed them.
fn check(lines: &[Line]) -> (usize, i64) {
    let mut last = 1;
    let mut last_body = 0;
    let mut distinct = 0;
    for (i, (id, body, integrity)) in lines.iter().enumerate() {
        let near = || &lines[i.saturating_sub(8)..(i + 8).min(lines.len())];
        let body: i64 = body.parse().unwrap();
        assert_eq!(integrity, "ok", "message {id}; lines near it: {:?}", near());
        if *id > last {
            assert!(
                body > last_body && body <= *id,
                "body {body} of message {id}; lines near it: {:?}",
                near()
            );
            distinct += 1;
            last = *id;
            last_body = body;
        } else {
            assert_eq!(*id, last, "{id} after {last}; lines near it: {:?}", near());
            assert_eq!(body, last_body, "message {id} again, another body");
        }
    }
    (distinct, last)
}

/// A small generator for the kill points, seeded from the clock (the seed is printed).
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !done() {
        assert!(t0.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn messages_both_ways_survive_sigkill_of_either_side() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (identity, _) =
        transport::Identity::generate(transport::SignAlgorithm::Ed25519, "localhost").unwrap();
    let kh = identity.key_hash().unwrap();
    let relay = rt
        .block_on(smp_server::start(
            "127.0.0.1:0".parse().unwrap(),
            &identity,
            smp_server::RelayConfig::default(),
        ))
        .unwrap();
    let server = format!(
        "smp://{}@127.0.0.1:{}",
        simplex_codec::base64url::encode(&kh),
        relay.addr.port()
    );
    let link = dir.path().join("link.txt");
    let peer = |name: &str, role: &str| {
        let out = dir.path().join(format!("{name}.out"));
        Peer {
            args: [
                "--db",
                dir.path().join(format!("{name}.db")).to_str().unwrap(),
                "--key",
                &format!("{name}'s key"),
                "--server",
                &server,
                role,
                link.to_str().unwrap(),
                "--count",
                &COUNT.to_string(),
                "--out",
                out.to_str().unwrap(),
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            out,
            child: None,
        }
    };
    let mut alice = peer("alice", "--invite");
    let mut bob = peer("bob", "--join");
    alice.start();
    bob.start();
    let progress = |p: &Peer| check(&p.received()).0;
    let last = |p: &Peer| check(&p.received()).1;
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("kill points from seed {seed}");
    let mut rng = XorShift(seed);
    wait_until("the first messages", Duration::from_secs(60), || {
        progress(&alice) > 5 && progress(&bob) > 5
    });
    // Six kills, each side three times, each after a random number of further messages (up to
    // 150 in either direction) or a random moment of the hand-shake's aftermath; some restarts
    // come at once, others after a pause in which the peer's queue fills up.
    for round in 0..6 {
        let (victim, other) = if round % 2 == 0 {
            (&mut alice, &bob)
        } else {
            (&mut bob, &alice)
        };
        let before = (progress(victim), progress(other));
        let more = rng.below(150) as usize + 1;
        wait_until("messages before a kill", Duration::from_secs(120), || {
            let (v, o) = (progress(victim), progress(other));
            let at_end = last(victim) >= COUNT && last(other) >= COUNT;
            v + o >= before.0 + before.1 + more || at_end
        });
        std::thread::sleep(Duration::from_millis(rng.below(30)));
        victim.kill();
        if round == 3 {
            // Down for a while (at most 3 s) while the other sends: its queue may reach the
            // quota (QUOTA, then A_QCONT after the restart). The quota on its own is checked
            // by a test in tests/handshake.rs; here it only adds to the mix.
            let quotas = |p: &Peer| {
                std::fs::read_to_string(p.out.with_extension("err"))
                    .unwrap_or_default()
                    .matches("QUOTA")
                    .count()
            };
            let (q0, t0) = (quotas(other), Instant::now());
            while quotas(other) == q0 && t0.elapsed() < Duration::from_secs(3) {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        victim.start();
    }
    wait_until("every message", Duration::from_secs(180), || {
        last(&alice) >= COUNT && last(&bob) >= COUNT
    });
    let (a, b) = (progress(&alice), progress(&bob));
    // Each side used at most a few ids for A_QCONT.
    assert!(
        a as i64 >= COUNT - 10 && b as i64 >= COUNT - 10,
        "{a} and {b} messages"
    );
    drop(alice);
    drop(bob);
    relay.stop();
}
