//! The SMP relay under load, on this machine: `cargo bench --bench smp [-- --quick]`.
//!
//! Phases 1-2 run in this process on 127.0.0.1 (relay, senders, receivers share the cores):
//! - throughput: SEND -> MSG -> ACK of 1 KB messages over 100 connections (50 senders,
//!   50 receivers) and 1,000 queues;
//! - latency at half that load (p50 / p99 from SEND to the receiver's MSG);
//! - time to subscribe 100,000 queues on one connection;
//! - relay memory per idle queue and per idle connection (10,000 of them), measured as the RSS
//!   of a relay in its own process (this bench binary re-run with `SMP_BENCH_RELAY=1`).
//!
//! `--quick` uses a tenth of the sizes (for a smoke run).
//!
//! Where the relay keeps its queue records, `SMP_BENCH_STORE`:
//! - `memory` (default): nowhere (nothing survives a restart);
//! - `log`: the store log, in a temporary folder;
//! - `database`: PostgreSQL (`store_queues = database`) at `SMP_BENCH_DB` (a connection string,
//!   e.g. `postgresql://postgres@127.0.0.1:5432/postgres`), in a new schema `smp_bench_<pid>`
//!   (dropped by hand afterwards).
//!
//! Phase 3 also times creating its queues (NEW, 500 per batch), which is where the store
//! shows: every NEW is answered after its record is durable.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use simplex_crypto::{generate, KeyAlgorithm, PrivateKey};
use smp_client::{ConnectOptions, Event, SmpClient};
use smp_proto::command::{NewQueue, QueueRequest};
use smp_proto::{BrokerMsg, Command};

struct Queue {
    rcv_id: Vec<u8>,
    snd_id: Vec<u8>,
    key: PrivateKey,
}

/// Resident memory of a process, in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

async fn create_queues(c: &SmpClient, n: usize, subscribe: bool) -> Vec<Queue> {
    let dh = generate(KeyAlgorithm::X25519).expect("key").0;
    let mut out = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let keys: Vec<(Command, PrivateKey)> = chunk
            .iter()
            .map(|_| {
                let (p, k) = generate(KeyAlgorithm::Ed25519).expect("key");
                (
                    Command::New(NewQueue {
                        rcv_auth_key: p,
                        rcv_dh_key: dh.clone(),
                        basic_auth: None,
                        subscribe,
                        request: Some(QueueRequest::Messaging(None)),
                        ntf_creds: None,
                    }),
                    k,
                )
            })
            .collect();
        let reqs: Vec<smp_client::Request<'_>> =
            keys.iter().map(|(c, k)| (Some(k), &b""[..], c)).collect();
        let answers = c.call_many(&reqs).await;
        for (a, (_, k)) in answers.into_iter().zip(keys) {
            match a {
                Ok(BrokerMsg::Ids(ids)) => out.push(Queue {
                    rcv_id: ids.rcv_id,
                    snd_id: ids.snd_id,
                    key: k,
                }),
                other => panic!("NEW failed: {other:?}"),
            }
        }
    }
    out
}

/// Receivers ACK every message and count what was delivered. Each queue's messages are
/// handled by their own task (as an agent's per-queue workers do), so the ACKs of many queues
/// are in flight together and share blocks.
fn spawn_receiver(
    client: Arc<SmpClient>,
    mut events: tokio::sync::mpsc::Receiver<Event>,
    keys: Arc<HashMap<Vec<u8>, PrivateKey>>,
    delivered: Arc<AtomicU64>,
) {
    tokio::spawn(async move {
        while let Some(ev) = events.recv().await {
            let Event::Msg(rid, mut msg_id, _) = ev else {
                continue;
            };
            let (client, keys, delivered) = (client.clone(), keys.clone(), delivered.clone());
            tokio::spawn(async move {
                let Some(key) = keys.get(&rid) else { return };
                // ACK; the answer may be the next message of the queue.
                loop {
                    delivered.fetch_add(1, Ordering::Relaxed);
                    match client.call(Some(key), &rid, &Command::Ack(msg_id)).await {
                        Ok(BrokerMsg::Msg(next, _)) => msg_id = next,
                        _ => break,
                    }
                }
            });
        }
    });
}

/// Where the relay keeps its queue records (`SMP_BENCH_STORE`), for a relay started by
/// process `owner`; `tag` tells two relays of one run apart.
async fn store_options(owner: u32, tag: &str) -> smp_server::StartOptions {
    let mode = std::env::var("SMP_BENCH_STORE").unwrap_or_else(|_| "memory".into());
    match mode.as_str() {
        "memory" => smp_server::StartOptions::default(),
        "log" => {
            let dir = std::env::temp_dir().join(format!("smp-bench-{owner}-{tag}"));
            std::fs::create_dir_all(&dir).expect("bench folder");
            smp_server::StartOptions {
                store_log: Some(dir.join("smp-server-store.log")),
                ..Default::default()
            }
        }
        "database" => {
            let db = smp_server::pg::DbOptions {
                connection: std::env::var("SMP_BENCH_DB")
                    .expect("SMP_BENCH_STORE=database needs SMP_BENCH_DB (a connection string)"),
                schema: format!("smp_bench_{owner}_{tag}"),
                pool_size: 2,
            };
            smp_server::pg::create(&db).await.expect("schema");
            smp_server::StartOptions {
                database: Some(smp_server::Database {
                    db,
                    store_log: None,
                    deleted_ttl: smp_server::pg::DEFAULT_DELETED_TTL,
                    migrate: smp_server::pg::Migrate::Up,
                }),
                ..Default::default()
            }
        }
        other => panic!("SMP_BENCH_STORE={other}: expected memory, log or database"),
    }
}

/// The relay alone, in a child process (for memory figures): prints its address and key
/// hash, serves until killed.
async fn relay_process() {
    let (identity, _) =
        transport::Identity::generate(transport::SignAlgorithm::Ed25519, "localhost").expect("id");
    let kh = identity.key_hash().expect("hash");
    let owner = std::env::var("SMP_BENCH_OWNER")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(std::process::id);
    let relay = smp_server::start_on(
        &["127.0.0.1:0".parse().expect("addr")],
        &identity,
        Default::default(),
        &store_options(owner, "process").await,
    )
    .await
    .expect("relay");
    println!("{} {}", relay.addr, hex::encode(kh));
    std::future::pending::<()>().await;
}

/// Starts [`relay_process`]; returns the child, its address and key hash.
fn spawn_relay_process() -> (std::process::Child, std::net::SocketAddr, [u8; 32]) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(std::env::current_exe().expect("exe"))
        .env("SMP_BENCH_RELAY", "1")
        .env("SMP_BENCH_OWNER", std::process::id().to_string())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("relay process");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("relay address");
    let (addr, kh) = line.trim().split_once(' ').expect("address line");
    let kh: [u8; 32] = hex::decode(kh).expect("hex").try_into().expect("32");
    (child, addr.parse().expect("addr"), kh)
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    if std::env::var_os("SMP_BENCH_RELAY").is_some() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(relay_process());
        return;
    }
    let scale = if quick { 10 } else { 1 };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run(scale));
}

async fn run(scale: usize) {
    let (identity, _) =
        transport::Identity::generate(transport::SignAlgorithm::Ed25519, "localhost").expect("id");
    let kh = identity.key_hash().expect("hash");
    println!(
        "queue store: {}",
        std::env::var("SMP_BENCH_STORE").unwrap_or_else(|_| "memory".into())
    );
    let relay = smp_server::start_on(
        &["127.0.0.1:0".parse().expect("addr")],
        &identity,
        Default::default(),
        &store_options(std::process::id(), "inproc").await,
    )
    .await
    .expect("relay");
    let addr = relay.addr;
    let opts = ConnectOptions::default;

    // 1. Throughput: 50 receiver and 50 sender connections, 1,000 queues, 1 KB messages.
    let conns = 50;
    let queues_n = 1000 / scale;
    let messages = 100_000 / scale as u64;
    let mut receivers = Vec::new();
    let mut all: Vec<(usize, Queue)> = Vec::new();
    let delivered = Arc::new(AtomicU64::new(0));
    for i in 0..conns {
        let (c, ev) = SmpClient::connect(addr, &kh, opts())
            .await
            .expect("connect");
        let c = Arc::new(c);
        let qs = create_queues(&c, queues_n / conns, true).await;
        let keys: HashMap<Vec<u8>, PrivateKey> = qs
            .iter()
            .map(|q| (q.rcv_id.clone(), q.key.clone()))
            .collect();
        let keys = Arc::new(keys);
        spawn_receiver(c.clone(), ev, keys, delivered.clone());
        receivers.push(c);
        all.extend(qs.into_iter().map(|q| (i, q)));
    }
    let mut senders = Vec::new();
    for _ in 0..conns {
        senders.push(Arc::new(
            SmpClient::connect(addr, &kh, opts())
                .await
                .expect("connect")
                .0,
        ));
    }
    let body = vec![0x5a; 1024];
    let start = Instant::now();
    let per_queue = messages / all.len() as u64;
    let mut tasks = Vec::new();
    for (n, (_, q)) in all.iter().enumerate() {
        let s = senders[n % conns].clone();
        let (sid, body) = (q.snd_id.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let send = Command::Send {
                notification: false,
                body,
            };
            let mut sent = 0u64;
            while sent < per_queue {
                match s.call(None, &sid, &send).await {
                    Ok(BrokerMsg::Ok) => sent += 1,
                    // Over quota: the receiver is behind; wait for it.
                    Ok(BrokerMsg::Err(smp_proto::ErrorType::Quota)) => {
                        tokio::time::sleep(Duration::from_millis(5)).await
                    }
                    other => panic!("SEND: {other:?}"),
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("sender");
    }
    let total = per_queue * all.len() as u64;
    let deadline = Instant::now() + Duration::from_secs(120);
    while delivered.load(Ordering::Relaxed) < total && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let secs = start.elapsed().as_secs_f64();
    let got = delivered.load(Ordering::Relaxed);
    let rate = got as f64 / secs;
    println!(
        "throughput: {got} of {total} messages of 1 KB SEND -> MSG -> ACK in {secs:.2} s: {rate:.0} msgs/s ({} connections, {} queues)",
        conns * 2,
        all.len()
    );

    let tr = &relay.relay.traffic;
    let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    println!(
        "relay blocks: {} in carrying {} transmissions, {} out carrying {}",
        get(&tr.blocks_in),
        get(&tr.transmissions_in),
        get(&tr.blocks_out),
        get(&tr.transmissions_out)
    );

    // 2. Latency at half that load: one message at a time per queue, paced.
    let target = (rate / 2.0).max(1.0);
    let n_lat = (20_000 / scale).min(got as usize);
    let interval = Duration::from_secs_f64(1.0 / target);
    let mut lat = Vec::with_capacity(n_lat);
    let mut next = Instant::now();
    for i in 0..n_lat {
        let (_, q) = &all[i % all.len()];
        let s = &senders[i % conns];
        let before = delivered.load(Ordering::Relaxed);
        let t0 = Instant::now();
        let _ = s
            .call(
                None,
                &q.snd_id,
                &Command::Send {
                    notification: false,
                    body: body.clone(),
                },
            )
            .await;
        // Wait for the receiver's delivery count to move (one message in flight at a time).
        while delivered.load(Ordering::Relaxed) <= before && t0.elapsed() < Duration::from_secs(5) {
            tokio::task::yield_now().await;
        }
        lat.push(t0.elapsed());
        next += interval;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            tokio::time::sleep(wait).await;
        }
    }
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    println!(
        "latency SEND -> MSG at up to {target:.0} msgs/s, one in flight: p50 {:.2} ms, p99 {:.2} ms ({} messages)",
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        lat.len()
    );
    drop(senders);
    drop(receivers);

    relay.stop();

    // 3. Subscribing 100,000 queues on one connection, and memory per idle queue: the relay
    // in its own process, as deployed.
    let (mut child, addr, kh) = spawn_relay_process();
    let pid = child.id();
    let n_sub = 100_000 / scale;
    let (c, _ev) = SmpClient::connect(addr, &kh, opts())
        .await
        .expect("connect");
    let rss0 = rss_kib(pid);
    let t0 = Instant::now();
    let qs = create_queues(&c, n_sub, false).await;
    let new_secs = t0.elapsed().as_secs_f64();
    let rss1 = rss_kib(pid);
    println!(
        "create: {n_sub} queues in {new_secs:.2} s on one connection ({:.0} NEW/s)",
        n_sub as f64 / new_secs
    );
    let (c2, _ev2) = SmpClient::connect(addr, &kh, opts())
        .await
        .expect("connect");
    let sub = Command::Sub;
    let reqs: Vec<smp_client::Request<'_>> = qs
        .iter()
        .map(|q| (Some(&q.key), &q.rcv_id[..], &sub))
        .collect();
    let t0 = Instant::now();
    let answers = c2.call_many(&reqs).await;
    let sub_secs = t0.elapsed().as_secs_f64();
    let ok = answers
        .iter()
        .filter(|a| matches!(a, Ok(BrokerMsg::Sok(_))))
        .count();
    println!("subscribe: {ok} of {n_sub} queues in {sub_secs:.2} s on one connection");
    println!(
        "relay memory: {:.0} bytes per idle queue (relay RSS {rss0} -> {rss1} KiB for {n_sub} queues)",
        (rss1.saturating_sub(rss0) * 1024) as f64 / n_sub as f64,
    );
    drop((c, c2));

    // 4. Memory per idle connection: 10,000 connections that completed the handshake.
    let n_conn = 10_000 / scale;
    let rss2 = rss_kib(pid);
    let mut idle = Vec::with_capacity(n_conn);
    for _ in 0..n_conn {
        idle.push(
            SmpClient::connect(addr, &kh, opts())
                .await
                .expect("connect"),
        );
    }
    let rss3 = rss_kib(pid);
    println!(
        "relay memory: {:.1} KiB per idle connection (relay RSS {rss2} -> {rss3} KiB for {n_conn} connections)",
        rss3.saturating_sub(rss2) as f64 / n_conn as f64
    );
    drop(idle);
    let _ = child.kill();
    let _ = child.wait();
}
