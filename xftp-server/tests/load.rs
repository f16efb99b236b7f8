//! Load test and throughput benchmark of the relay (run on demand, release build):
//!
//! ```text
//! cargo test --release -p xftp-server --test load -- --ignored --nocapture
//! ```
//!
//! Runs twice, with the `[LIMITS]` protections off and on, and prints both (their cost).
//! 64 concurrent clients, each on its own connection, upload 16 chunks of 4 MiB, then all
//! download theirs; every digest is checked, nothing may be lost. Prints upload and download
//! throughput, the relay's CPU seconds per GiB and its peak memory (VmHWM), and fails if the
//! peak exceeds 200 MiB. Loops are bounded in count and the whole run in time.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{InitOpts, TestRelay};
use simplex_crypto::KeyAlgorithm;

const CLIENTS: usize = 64;
const CHUNKS: usize = 16;
const CHUNK: usize = 4 << 20;
const PEAK_LIMIT_KB: u64 = 200 * 1024;

/// ((user, system) CPU seconds, VmHWM in kB) of a process.
fn proc_usage(pid: u32) -> ((f64, f64), u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split(' ').collect();
    let user = fields[11].parse::<f64>().unwrap() / 100.0;
    let system = fields[12].parse::<f64>().unwrap() / 100.0;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0);
    ((user, system), hwm)
}

fn chunk_data(client: usize, chunk: usize) -> Vec<u8> {
    let mut x = ((client as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15))
        ^ ((chunk as u64 + 1).wrapping_mul(0xbf58_476d_1ce4_e5b9));
    let mut data = vec![0u8; CHUNK];
    for w in data.chunks_exact_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        w.copy_from_slice(&x.to_le_bytes());
    }
    data
}

/// `[LIMITS]` so large that no protection can act (the run without protections).
const NO_LIMITS: [(&str, &str); 8] = [
    ("max_connections_per_ip", "100000"),
    ("max_downloads_per_ip", "100000"),
    ("max_downloads", "100000"),
    ("new_files_per_second", "1000000"),
    ("new_files_burst", "1000000"),
    ("max_downloads_per_connection", "1000"),
    ("idle_timeout", "100000"),
    ("handshake_timeout", "100000"),
];

#[tokio::test(flavor = "multi_thread")]
#[ignore = "load test: run on demand with --release"]
async fn sixty_four_clients_sixteen_chunks_each() {
    // Protections on (the defaults) and off, alternating, in the same run: their cost is the
    // difference of the averages.
    let mut on = (0.0, 0.0);
    let mut off = (0.0, 0.0);
    for round in 0..2 {
        let add = |sum: &mut (f64, f64), r: (f64, f64)| {
            sum.0 += r.0 / 2.0;
            sum.1 += r.1 / 2.0;
        };
        if round == 0 {
            add(&mut on, load("protections on (defaults)", &[]).await);
            add(&mut off, load("protections off", &NO_LIMITS).await);
        } else {
            add(&mut off, load("protections off", &NO_LIMITS).await);
            add(&mut on, load("protections on (defaults)", &[]).await);
        }
    }
    println!(
        "average: on {:.0}/{:.0} MB/s, off {:.0}/{:.0} MB/s (upload/download)",
        on.0, on.1, off.0, off.1
    );
    println!(
        "protections on/off: upload {:.1}%, download {:.1}%",
        100.0 * on.0 / off.0,
        100.0 * on.1 / off.1
    );
}

/// One load run; returns (upload MB/s, download MB/s).
async fn load(label: &str, limits: &[(&str, &str)]) -> (f64, f64) {
    let mut relay = TestRelay::init_and_start(InitOpts {
        quota: "8gb",
        ..InitOpts::default()
    });
    relay.stop();
    for (k, v) in limits {
        relay.set_ini("LIMITS", k, v);
    }
    relay.start();
    // Start with no dirty pages of an earlier run being written back.
    let _ = std::process::Command::new("sync").status();
    println!("== {label}");
    let pid = relay.child.as_ref().unwrap().id();
    let run = async {
        // Connect everyone first.
        let mut conns = Vec::new();
        for _ in 0..CLIENTS {
            conns.push(relay.connect().await);
        }
        let (cpu0, _) = proc_usage(pid);
        let t = Instant::now();
        let mut tasks = Vec::new();
        for (i, c) in conns.iter().cloned().enumerate() {
            tasks.push(tokio::spawn(async move {
                let mut sent = Vec::new();
                for j in 0..CHUNKS {
                    let data = chunk_data(i, j);
                    let digest = openssl::sha::sha256(&data);
                    let (_, skey) = simplex_crypto::generate(KeyAlgorithm::Ed25519).unwrap();
                    let (rpub, rkey) = simplex_crypto::generate(KeyAlgorithm::Ed25519).unwrap();
                    let ids = c
                        .create(&skey, CHUNK as u32, digest, vec![rpub], None)
                        .await
                        .unwrap();
                    c.upload(&ids.sender_id, &skey, Bytes::from(data))
                        .await
                        .unwrap();
                    sent.push((
                        ids.sender_id,
                        skey,
                        ids.recipient_ids[0].clone(),
                        rkey,
                        digest,
                    ));
                }
                sent
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            all.push(t.await.unwrap());
        }
        let up_secs = t.elapsed().as_secs_f64();
        let (cpu1, _) = proc_usage(pid);

        let t = Instant::now();
        let mut tasks = Vec::new();
        for (c, sent) in conns.iter().cloned().zip(all) {
            tasks.push(tokio::spawn(async move {
                let mut ok = 0;
                for (sid, skey, rid, rkey, digest) in sent {
                    let data = c.download(&rid, &rkey, CHUNK as u32).await.unwrap();
                    assert_eq!(
                        openssl::sha::sha256(&data),
                        digest,
                        "a chunk came back different"
                    );
                    c.ack(&rid, &rkey).await.unwrap();
                    c.delete(&sid, &skey).await.unwrap();
                    ok += 1;
                }
                ok
            }));
        }
        let mut received = 0;
        for t in tasks {
            received += t.await.unwrap();
        }
        let down_secs = t.elapsed().as_secs_f64();
        let (cpu2, peak_kb) = proc_usage(pid);
        assert_eq!(received, CLIENTS * CHUNKS, "every chunk must come back");

        let gib = (CLIENTS * CHUNKS * CHUNK) as f64 / (1u64 << 30) as f64;
        let mb = (CLIENTS * CHUNKS * CHUNK) as f64 / 1e6;
        println!("load: {CLIENTS} clients x {CHUNKS} chunks x 4 MiB = {gib:.1} GiB each way");
        let per_gib = |a: (f64, f64), b: (f64, f64)| {
            let (u, s) = ((b.0 - a.0) / gib, (b.1 - a.1) / gib);
            format!("relay CPU {:.2} s/GiB ({u:.2} user + {s:.2} system)", u + s)
        };
        println!(
            "upload:   {up_secs:.1} s, {:.0} MB/s, {}",
            mb / up_secs,
            per_gib(cpu0, cpu1)
        );
        println!(
            "download: {down_secs:.1} s, {:.0} MB/s, {} (incl. FACK + FDEL)",
            mb / down_secs,
            per_gib(cpu1, cpu2)
        );
        println!(
            "relay peak memory (VmHWM): {:.1} MiB",
            peak_kb as f64 / 1024.0
        );
        assert!(
            peak_kb < PEAK_LIMIT_KB,
            "relay peak memory {peak_kb} kB over 200 MiB"
        );
        assert!(relay.chunk_files().is_empty(), "all chunks were deleted");
        (mb / up_secs, mb / down_secs)
    };
    tokio::time::timeout(Duration::from_secs(900), run)
        .await
        .expect("load test finished within 15 minutes")
}
