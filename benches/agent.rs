//! The agent end to end on this machine: `cargo bench --bench agent [-- --quick]`.
//!
//! One relay in this process on 127.0.0.1, two agents: connection set-up time (invitation to
//! both sides connected), messages per second through one connection (encrypt, send, receive,
//! decrypt, store, ACK) with each agent's encrypted store and without, the store's size per
//! connection, and what each store operation of the message path costs on its own.

use std::time::{Duration, Instant};

use agent::agent::{Agent, AgentEvent};
use smp_client::ConnectOptions;
use tokio::sync::mpsc::Receiver;

async fn next(events: &mut Receiver<AgentEvent>) -> AgentEvent {
    loop {
        let e = tokio::time::timeout(Duration::from_secs(60), events.recv())
            .await
            .expect("event in time")
            .expect("events open");
        if !matches!(e, AgentEvent::Sent { .. }) {
            return e;
        }
    }
}

async fn connect(
    alice: &Agent,
    ae: &mut Receiver<AgentEvent>,
    bob: &Agent,
    be: &mut Receiver<AgentEvent>,
) -> (u64, u64) {
    let (ca, link) = alice.create_invitation().await.expect("invitation");
    let cb = bob.join(&link, b"bob").await.expect("join");
    assert!(matches!(next(ae).await, AgentEvent::Confirmation { .. }));
    alice.allow(ca, b"alice").await.expect("allow");
    assert!(matches!(next(ae).await, AgentEvent::Connected { .. }));
    assert!(matches!(next(be).await, AgentEvent::Info { .. }));
    assert!(matches!(next(be).await, AgentEvent::Connected { .. }));
    (ca, cb)
}

async fn run(scale: usize) {
    let (identity, _) =
        transport::Identity::generate(transport::SignAlgorithm::Ed25519, "localhost").expect("id");
    let kh = identity.key_hash().expect("hash");
    let relay = smp_server::start(
        "127.0.0.1:0".parse().expect("addr"),
        &identity,
        Default::default(),
    )
    .await
    .expect("relay");
    let server: smp_proto::address::SmpServer = format!(
        "smp://{}@127.0.0.1:{}",
        simplex_codec::base64url::encode(&kh),
        relay.addr.port()
    )
    .parse()
    .expect("address");
    let dir = tempfile::tempdir().expect("tmp");
    let opts = ConnectOptions::default;
    for durable in [true, false] {
        let (alice, mut ae, bob, mut be) = if durable {
            let a = agent::store::Store::open(&dir.path().join("a.db"), Some("key a")).expect("db");
            let b = agent::store::Store::open(&dir.path().join("b.db"), Some("key b")).expect("db");
            let (alice, ae) = Agent::open(server.clone(), opts(), a).await.expect("open");
            let (bob, be) = Agent::open(server.clone(), opts(), b).await.expect("open");
            (alice, ae, bob, be)
        } else {
            let (alice, ae) = Agent::start(server.clone(), opts());
            let (bob, be) = Agent::start(server.clone(), opts());
            (alice, ae, bob, be)
        };
        let label = if durable {
            "encrypted store"
        } else {
            "in memory"
        };
        let n_conn = 20 / scale.min(20) + 2;
        let mut times = Vec::new();
        let mut conn = None;
        for _ in 0..n_conn {
            let t0 = Instant::now();
            conn = Some(connect(&alice, &mut ae, &bob, &mut be).await);
            times.push(t0.elapsed());
        }
        times.sort();
        println!(
            "{label}: connection set-up (invitation to both connected) median {:.1} ms, max {:.1} ms over {n_conn}",
            times[times.len() / 2].as_secs_f64() * 1e3,
            times[times.len() - 1].as_secs_f64() * 1e3
        );
        let (ca, _) = conn.expect("a connection");
        // The store right after the set-ups: what a connection costs on its own.
        let live_setup = alice.store_bytes().expect("store size");
        // The sender's events (Sent reports) must be read, or its delivery waits for room.
        let drain = tokio::spawn(async move { while ae.recv().await.is_some() {} });
        let n = 2000 / scale;
        let body = vec![0x61u8; 1024];
        let t0 = Instant::now();
        let sender = {
            let alice = alice.clone();
            let body = body.clone();
            tokio::spawn(async move {
                for _ in 0..n {
                    alice.send(ca, &body).await.expect("send");
                }
            })
        };
        let mut got = 0;
        let cb = conn.expect("a connection").1;
        while got < n {
            if let AgentEvent::Message {
                integrity, msg_id, ..
            } = next(&mut be).await
            {
                assert!(integrity.is_none());
                bob.ack(cb, msg_id).await.expect("ack");
                got += 1;
            }
        }
        sender.await.expect("sender");
        drain.abort();
        let secs = t0.elapsed().as_secs_f64();
        println!(
            "{label}: {n} messages of 1 KB through one connection in {secs:.2} s: {:.0} msgs/s",
            n as f64 / secs
        );
        if durable {
            let live = alice.store_bytes().expect("store size");
            println!(
                "{label}: store of one side: {} KiB of live pages for {n_conn} connections ({:.1} KiB each); \
                 {} KiB after sending {n} messages (the hashes kept for delivery receipts, {:.0} bytes per message)",
                live_setup / 1024,
                live_setup as f64 / 1024.0 / n_conn as f64,
                live / 1024,
                live.saturating_sub(live_setup) as f64 / n as f64
            );
        }
    }
    relay.stop();
}

/// The store operations of one message, each timed alone on an encrypted store (16 KB sealed
/// body and ~3 KB of connection state, as the agent writes them).
fn store_ops(dir: &std::path::Path, n: i64) {
    let mut s = agent::store::Store::open(&dir.join("ops.db"), Some("key")).expect("db");
    let state = vec![7u8; 3000];
    let body = vec![9u8; 16_000];
    for c in 0..22u64 {
        s.save(c, &state).expect("save");
    }
    let mut t = [Duration::ZERO; 4];
    for i in 0..n {
        let t0 = Instant::now();
        let pending = agent::store::NewPending {
            msg_id: i,
            body: &body,
            receipt_hash: Some(&[1u8; 32]),
            snd_id: b"snd",
            notify: true,
        };
        s.save_with_pending(3, &state, &pending).expect("pending");
        t[0] += t0.elapsed();
        let t0 = Instant::now();
        s.sent(3, i).expect("sent");
        t[1] += t0.elapsed();
        let r = agent::store::Received {
            relay_msg_id: i.to_be_bytes().to_vec(),
            msg_id: i,
            body: vec![1u8; 1024],
            integrity: None,
            msg_hash: vec![2u8; 32],
            notified: true,
        };
        let t0 = Instant::now();
        s.save_with_received(5, &state, &r).expect("received");
        t[2] += t0.elapsed();
        let t0 = Instant::now();
        s.acknowledged(5, &r.relay_msg_id).expect("acknowledged");
        t[3] += t0.elapsed();
    }
    let us = |d: Duration| d.as_secs_f64() * 1e6 / n as f64;
    println!(
        "store operations, each alone (encrypted, {n} times): message with state {:.0} us (synced), \
         its deletion after the relay's OK {:.0} us, received message with state {:.0} us (synced), \
         its deletion after the user's ack {:.0} us",
        us(t[0]),
        us(t[1]),
        us(t[2]),
        us(t[3])
    );
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let scale = if quick { 10 } else { 1 };
    rt.block_on(run(scale));
    let dir = tempfile::tempdir().expect("tmp");
    store_ops(dir.path(), 2000 / scale as i64);
}
