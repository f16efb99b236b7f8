//! The relay keeps serving good clients while bad ones try to hurt it: zero-window clients,
//! idle and half-open connections, one address taking every slot, uploads that never send,
//! FNEW floods, running out of descriptors. Real relay processes on 127.0.0.1 (other
//! loopback addresses stand for other clients); every loop is bounded in count and time.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod common;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{cpu_and_rss, ed25519, noise, relay_err, InitOpts, TestRelay};
use tokio::io::AsyncReadExt;
use xftp_client::XftpConnection;
use xftp_proto::command::XftpError;

/// A relay with `[LIMITS]` settings.
fn relay_with(limits: &[(&str, &str)], quota: &'static str) -> TestRelay {
    let mut relay = TestRelay::init_and_start(InitOpts {
        quota,
        ..InitOpts::default()
    });
    relay.stop();
    for (k, v) in limits {
        relay.set_ini("LIMITS", k, v);
    }
    relay.start();
    relay
}

fn pid(relay: &TestRelay) -> u32 {
    relay.child.as_ref().unwrap().id()
}

/// Whether the relay closes `tcp` within `limit` (reads until EOF or error).
async fn closed_within(tcp: &mut tokio::net::TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 4096];
    let read_all = async {
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(limit, read_all).await.is_ok()
}

async fn tcp_from(local: IpAddr, to: SocketAddr) -> tokio::net::TcpStream {
    let s = tokio::net::TcpSocket::new_v4().unwrap();
    s.bind(SocketAddr::new(local, 0)).unwrap();
    s.connect(to).await.unwrap()
}

/// A TLS + HTTP/2 connection that never lets the relay send (zero stream window).
async fn zero_window_connection(relay: &TestRelay) -> h2::client::SendRequest<Bytes> {
    let tls = common::tls_to(relay).await;
    let (send, conn) = h2::client::Builder::new()
        .initial_window_size(0)
        .handshake::<_, Bytes>(tls)
        .await
        .unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    send
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_window_clients_hold_no_relay_memory() {
    let relay = relay_with(&[("stall_timeout", "3")], "1gb");
    let c = relay.connect().await;
    c.ping().await.unwrap();
    let (_, base) = cpu_and_rss(pid(&relay));
    let mut hostile = Vec::new();
    for _ in 0..60 {
        let mut send = zero_window_connection(&relay).await;
        let mut streams = Vec::new();
        for _ in 0..8 {
            send = send.ready().await.unwrap();
            let req = http::Request::post("https://relay/").body(()).unwrap();
            let (resp, mut body) = send.send_request(req, false).unwrap();
            // 1 MiB the relay may buffer, and a response it cannot send.
            body.reserve_capacity(1 << 20);
            let _ = body.send_data(Bytes::from(vec![0u8; 1 << 20]), false);
            streams.push((resp, body));
        }
        hostile.push((send, streams));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, during) = cpu_and_rss(pid(&relay));
    let grown_mb = during.saturating_sub(base) / 1024;
    eprintln!(
        "relay RSS {} MB before, {} MB with 60 zero-window connections",
        base / 1024,
        during / 1024
    );
    assert!(
        grown_mb < 60,
        "60 zero-window connections cost the relay {grown_mb} MB"
    );
    // A good client is served meanwhile.
    let (_, _, rid, rkey, data) = common::one_chunk(&c, 1).await;
    assert_eq!(c.download(&rid, &rkey, 65536).await.unwrap(), data);
    drop(hostile);
    // The memory goes back (bounded wait).
    let deadline = Instant::now() + Duration::from_secs(20);
    let after = loop {
        let (_, rss) = cpu_and_rss(pid(&relay));
        if rss <= base + 30 * 1024 || Instant::now() > deadline {
            break rss;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(
        after <= base + 30 * 1024,
        "after the hostile connections closed the relay holds {} MB more than before",
        after.saturating_sub(base) / 1024
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_address_cannot_lock_others_out_and_running_out_of_descriptors_does_not_spin() {
    // 100 descriptors: the relay keeps a reserve and admits 16 connections at most.
    let mut relay = TestRelay::init_and_start(InitOpts::default());
    relay.stop();
    relay.wrapper = vec!["prlimit".into(), "--nofile=100:100".into(), "--".into()];
    relay.start();
    let pid = pid(&relay);
    // 300 connections from one address that never say anything.
    let mut idle = Vec::new();
    for _ in 0..300 {
        match tokio::time::timeout(
            Duration::from_secs(2),
            tokio::net::TcpStream::connect(relay.addr),
        )
        .await
        {
            Ok(Ok(s)) => idle.push(s),
            _ => break,
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (cpu0, _) = cpu_and_rss(pid);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (cpu1, _) = cpu_and_rss(pid);
    assert!(
        cpu1 - cpu0 < 0.5,
        "the relay burnt {:.2} CPU seconds in 2 s with idle connections",
        cpu1 - cpu0
    );
    // Another address still gets in (an idle connection of the heavy one makes room).
    let other: IpAddr = "127.0.0.2".parse().unwrap();
    let c = XftpConnection::connect_from(&relay.server_address(), Some(relay.addr), other)
        .await
        .unwrap();
    c.ping().await.unwrap();
    let (_, _, rid, rkey, data) = common::one_chunk(&c, 2).await;
    assert_eq!(c.download(&rid, &rkey, 65536).await.unwrap(), data);
    drop(idle);
}

#[tokio::test]
async fn connections_per_address_are_capped() {
    let relay = relay_with(&[("max_connections_per_ip", "3")], "1gb");
    let a: IpAddr = "127.0.0.1".parse().unwrap();
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(tcp_from(a, relay.addr).await);
    }
    let mut fourth = tcp_from(a, relay.addr).await;
    assert!(
        closed_within(&mut fourth, Duration::from_secs(5)).await,
        "a fourth connection from one address was kept"
    );
    let c = XftpConnection::connect_from(
        &relay.server_address(),
        Some(relay.addr),
        "127.0.0.3".parse().unwrap(),
    )
    .await
    .unwrap();
    c.ping().await.unwrap();
    drop(held);
}

#[tokio::test]
async fn silent_and_idle_connections_are_closed() {
    let relay = relay_with(&[("handshake_timeout", "2"), ("idle_timeout", "3")], "1gb");
    // Plain TCP that never starts TLS.
    let mut plain = tokio::net::TcpStream::connect(relay.addr).await.unwrap();
    // TLS and HTTP/2 done, but no XFTP handshake.
    let tls = common::tls_to(&relay).await;
    let (_send, h2conn) = h2::client::handshake(tls).await.unwrap();
    let t = Instant::now();
    assert!(closed_within(&mut plain, Duration::from_secs(6)).await);
    let ended = tokio::time::timeout(Duration::from_secs(6), h2conn).await;
    assert!(
        ended.is_ok(),
        "a TLS connection without a handshake stayed open"
    );
    assert!(
        t.elapsed() >= Duration::from_secs(1),
        "closed before the deadline"
    );
    // After the handshake: an idle connection is closed, a busy one is not.
    let idle = relay.connect().await;
    let busy = relay.connect().await;
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        busy.ping().await.unwrap();
    }
    assert!(idle.ping().await.is_err(), "an idle connection stayed open");
}

/// A registered 4 MiB chunk: its IDs, sender key, recipient key and bytes.
async fn register(
    c: &XftpConnection,
    seed: u64,
) -> (
    xftp_client::ChunkIds,
    simplex_crypto::PrivateKey,
    simplex_crypto::PrivateKey,
    Vec<u8>,
) {
    let (_, skey) = ed25519();
    let (rpub, rkey) = ed25519();
    let data = noise(4 << 20, seed);
    let digest = openssl::sha::sha256(&data);
    let ids = c
        .create(&skey, 4 << 20, digest, vec![rpub], None)
        .await
        .unwrap();
    (ids, skey, rkey, data)
}

#[tokio::test]
async fn uploads_that_never_send_hold_no_quota() {
    let relay = relay_with(&[], "8mb");
    let c = relay.connect().await;
    // Three 4 MiB registrations with uploads started that never send a byte: 12 MiB > quota.
    let mut stalled = Vec::new();
    for seed in 50..53 {
        let (ids, skey, _, _) = register(&c, seed).await;
        stalled.push(c.begin_upload(&ids.sender_id, &skey).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let good = relay.connect().await;
    let (ids, skey, rkey, data) = register(&good, 60).await;
    good.upload(&ids.sender_id, &skey, Bytes::from(data.clone()))
        .await
        .unwrap();
    assert_eq!(
        good.download(&ids.recipient_ids[0], &rkey, 4 << 20)
            .await
            .unwrap(),
        data
    );
    // The quota still holds against real bytes: a second real chunk fits, a third does not.
    let (ids, skey, _, data) = register(&good, 61).await;
    good.upload(&ids.sender_id, &skey, Bytes::from(data))
        .await
        .unwrap();
    let (ids, skey, _, data) = register(&good, 62).await;
    assert_eq!(
        relay_err(good.upload(&ids.sender_id, &skey, Bytes::from(data)).await),
        XftpError::Quota
    );
    drop(stalled);
}

#[tokio::test]
async fn registrations_are_paced_per_connection() {
    let relay = relay_with(
        &[("new_files_per_second", "20"), ("new_files_burst", "5")],
        "1gb",
    );
    let c = relay.connect().await;
    let t = Instant::now();
    for i in 0..25u64 {
        let (_, skey) = ed25519();
        let (rpub, _) = ed25519();
        let digest = openssl::sha::sha256(&noise(65536, i));
        c.create(&skey, 65536, digest, vec![rpub], None)
            .await
            .unwrap();
    }
    // 5 at once, then 20 at 20 per second.
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "25 registrations took only {:?}",
        t.elapsed()
    );
}

#[tokio::test]
async fn registrations_never_uploaded_expire_within_hours() {
    let mut relay = TestRelay::init_and_start(InitOpts::default());
    let (handle, clock, c) = common::in_process_with_clock(&mut relay, 1_754_467_200 + 1800).await;
    let (_, _, rid, rkey, data) = common::one_chunk(&c, 70).await;
    let (_, skey) = ed25519();
    let (rpub, _) = ed25519();
    let never = c
        .create(&skey, 65536, [7; 32], vec![rpub], None)
        .await
        .unwrap();
    // Three hours on: the registration without an upload is gone, the upload is not.
    clock.0.fetch_add(3 * 3600, Ordering::SeqCst);
    let (n, _) = handle.relay.expire().await;
    assert_eq!(n, 1);
    assert!(handle
        .relay
        .store
        .file(&never.sender_id)
        .await
        .unwrap()
        .is_none());
    assert_eq!(c.download(&rid, &rkey, 65536).await.unwrap(), data);
    handle.shutdown().await;
}
