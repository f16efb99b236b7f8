//! The client against a real relay on 127.0.0.1: a message between two connections, batched
//! calls, pushes as events, and what callers see when the relay goes away.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use simplex_crypto::{generate, KeyAlgorithm};
use smp_client::{ClientError, ConnectOptions, Event, SmpClient};
use smp_proto::command::{NewQueue, QueueRequest};
use smp_proto::{BrokerMsg, Command};

async fn relay() -> (smp_server::Running, [u8; 32]) {
    let (identity, _) =
        transport::Identity::generate(transport::SignAlgorithm::Ed448, "localhost").unwrap();
    let kh = identity.key_hash().unwrap();
    let r = smp_server::start(
        "127.0.0.1:0".parse().unwrap(),
        &identity,
        Default::default(),
    )
    .await
    .unwrap();
    (r, kh)
}

fn new(subscribe: bool) -> (Command, simplex_crypto::PrivateKey) {
    let (rk_pub, rk) = generate(KeyAlgorithm::Ed25519).unwrap();
    let dh_pub = generate(KeyAlgorithm::X25519).unwrap().0;
    (
        Command::New(NewQueue {
            rcv_auth_key: rk_pub,
            rcv_dh_key: dh_pub,
            basic_auth: None,
            subscribe,
            request: Some(QueueRequest::Messaging(None)),
            ntf_creds: None,
        }),
        rk,
    )
}

#[tokio::test]
async fn messages_arrive_as_events_and_calls_batch() {
    let (running, kh) = relay().await;
    let (r, mut events) = SmpClient::connect(running.addr, &kh, ConnectOptions::default())
        .await
        .unwrap();
    let (s, _) = SmpClient::connect(running.addr, &kh, ConnectOptions::default())
        .await
        .unwrap();
    assert_eq!(r.version(), 18);
    let (cmd, rk) = new(true);
    let BrokerMsg::Ids(ids) = r.call(Some(&rk), b"", &cmd).await.unwrap() else {
        panic!()
    };
    let send = Command::Send {
        notification: false,
        body: b"hello".to_vec(),
    };
    assert_eq!(
        s.call(None, &ids.snd_id, &send).await.unwrap(),
        BrokerMsg::Ok
    );
    let Event::Msg(rid, msg_id, _) = events.recv().await.unwrap() else {
        panic!()
    };
    assert_eq!(rid, ids.rcv_id);
    assert_eq!(
        r.call(Some(&rk), &ids.rcv_id, &Command::Ack(msg_id))
            .await
            .unwrap(),
        BrokerMsg::Ok
    );

    // 300 queues created and subscribed with one call each of call_many.
    let news: Vec<(Command, simplex_crypto::PrivateKey)> = (0..300).map(|_| new(false)).collect();
    let reqs: Vec<smp_client::Request<'_>> =
        news.iter().map(|(c, k)| (Some(k), &b""[..], c)).collect();
    let answers = r.call_many(&reqs).await;
    let rids: Vec<Vec<u8>> = answers
        .into_iter()
        .map(|a| match a.unwrap() {
            BrokerMsg::Ids(q) => q.rcv_id,
            other => panic!("{other:?}"),
        })
        .collect();
    let sub = Command::Sub;
    let reqs: Vec<smp_client::Request<'_>> = rids
        .iter()
        .zip(&news)
        .map(|(id, (_, k))| (Some(k), &id[..], &sub))
        .collect();
    for a in r.call_many(&reqs).await {
        assert_eq!(a.unwrap(), BrokerMsg::Sok(None));
    }
    // A second connection subscribing ends the first one's subscription: an END event.
    let (other, _) = SmpClient::connect(running.addr, &kh, ConnectOptions::default())
        .await
        .unwrap();
    assert_eq!(
        other
            .call(Some(&news[0].1), &rids[0], &Command::Sub)
            .await
            .unwrap(),
        BrokerMsg::Sok(None)
    );
    assert_eq!(events.recv().await.unwrap(), Event::End(rids[0].clone()));
    running.stop();
}

#[tokio::test]
async fn a_relay_that_goes_away_fails_calls_promptly() {
    let (running, kh) = relay().await;
    let (c, _events) = SmpClient::connect(running.addr, &kh, ConnectOptions::default())
        .await
        .unwrap();
    assert_eq!(
        c.call(None, b"", &Command::Ping).await.unwrap(),
        BrokerMsg::Pong
    );
    let addr = running.addr;
    running.stop();
    // The listener is gone: a new connection is refused (retriable).
    let e = SmpClient::connect(addr, &kh, ConnectOptions::default())
        .await
        .unwrap_err();
    assert!(e.is_retriable(), "{e}");
    // A wrong identity is not retriable.
    let (running, _) = relay().await;
    let e = SmpClient::connect(running.addr, &[9; 32], ConnectOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::Tls(_)), "{e}");
    assert!(!e.is_retriable());
    running.stop();
}

#[tokio::test]
async fn a_session_reconnects_and_subscribes_again_after_the_relay_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("smp-server-store.log");
    let (identity, _) =
        transport::Identity::generate(transport::SignAlgorithm::Ed25519, "localhost").unwrap();
    let kh = identity.key_hash().unwrap();
    let start = |addr: std::net::SocketAddr| {
        smp_server::start_with_log(addr, &identity, Default::default(), Some(&log))
    };
    let running = start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = running.addr;
    let opts = ConnectOptions {
        response_timeout: std::time::Duration::from_secs(20),
        ..ConnectOptions::default()
    };
    let (session, mut events) = smp_client::Session::connect(addr, &kh, opts).await.unwrap();
    let (cmd, rk) = new(false);
    let BrokerMsg::Ids(ids) = session.call(Some(&rk), b"", &cmd).await.unwrap() else {
        panic!()
    };
    assert_eq!(
        session.subscribe(&rk, &ids.rcv_id).await.unwrap(),
        BrokerMsg::Sok(None)
    );
    assert_eq!(session.subscriptions(), 1);

    // The relay stops (closing every connection) and comes back on the same address.
    running.stop();
    assert_eq!(events.recv().await.unwrap(), Event::Disconnected);
    let running = start(addr).await.unwrap();
    assert_eq!(events.recv().await.unwrap(), Event::Reconnected(1));

    // Without any SUB from the test, a message sent now arrives.
    let (s, _) = SmpClient::connect(addr, &kh, ConnectOptions::default())
        .await
        .unwrap();
    let send = Command::Send {
        notification: false,
        body: b"after restart".to_vec(),
    };
    assert_eq!(
        s.call(None, &ids.snd_id, &send).await.unwrap(),
        BrokerMsg::Ok
    );
    match events.recv().await.unwrap() {
        Event::Msg(rid, _, _) => assert_eq!(rid, ids.rcv_id),
        other => panic!("{other:?}"),
    }
    // Calls go through the new connection.
    assert_eq!(
        session.call(None, b"", &Command::Ping).await.unwrap(),
        BrokerMsg::Pong
    );
    running.stop();
}

/// `Session::reconnect` (a network change, the chat's `/reconnect`): the connection is made
/// again at once with its queues subscribed, and a message sent then arrives.
#[tokio::test]
async fn a_session_reconnects_on_request_and_subscribes_again() {
    let (running, kh) = relay().await;
    let (session, mut events) =
        smp_client::Session::connect(running.addr, &kh, ConnectOptions::default())
            .await
            .unwrap();
    let (cmd, rk) = new(false);
    let BrokerMsg::Ids(ids) = session.call(Some(&rk), b"", &cmd).await.unwrap() else {
        panic!()
    };
    session.subscribe(&rk, &ids.rcv_id).await.unwrap();
    let first = session.client().await.unwrap().session_id().to_vec();
    session.reconnect();
    assert_eq!(connection_event(&mut events).await, Event::Disconnected);
    assert_eq!(connection_event(&mut events).await, Event::Reconnected(1));
    let second = session.client().await.unwrap().session_id().to_vec();
    assert_ne!(first, second, "a new connection");
    let (s, _) = SmpClient::connect(running.addr, &kh, ConnectOptions::default())
        .await
        .unwrap();
    let send = Command::Send {
        notification: false,
        body: b"after reconnect".to_vec(),
    };
    assert_eq!(
        s.call(None, &ids.snd_id, &send).await.unwrap(),
        BrokerMsg::Ok
    );
    let got = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            match events.recv().await {
                Some(Event::Msg(rid, _, _)) => return rid,
                Some(_) => continue,
                None => panic!("events ended"),
            }
        }
    })
    .await
    .expect("the message");
    assert_eq!(got, ids.rcv_id);
    running.stop();
}

#[tokio::test]
async fn dropping_the_client_or_the_session_closes_the_connection() {
    let (running, kh) = relay().await;
    let wait_for = |n: usize| {
        let relay = running.relay.clone();
        async move {
            // The relay notices the close asynchronously: bounded wait for its count.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while relay.connection_count() != n {
                assert!(
                    std::time::Instant::now() < deadline,
                    "still {} connections",
                    relay.connection_count()
                );
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    };
    let (c, _events) = SmpClient::connect(running.addr, &kh, ConnectOptions::default())
        .await
        .unwrap();
    let (session, _ev) = smp_client::Session::connect(running.addr, &kh, ConnectOptions::default())
        .await
        .unwrap();
    assert_eq!(
        c.call(None, b"", &Command::Ping).await.unwrap(),
        BrokerMsg::Pong
    );
    wait_for(2).await;
    let other = c.clone();
    drop(c);
    // A clone keeps the connection open and usable.
    assert_eq!(
        other.call(None, b"", &Command::Ping).await.unwrap(),
        BrokerMsg::Pong
    );
    assert!(!other.is_closed());
    drop(other);
    wait_for(1).await;
    drop(session);
    wait_for(0).await;
    running.stop();
}

#[tokio::test]
async fn keep_alive_pings_and_oversized_commands_fail_at_once() {
    let (running, kh) = relay().await;
    let opts = ConnectOptions {
        keep_alive: std::time::Duration::from_millis(50),
        ..ConnectOptions::default()
    };
    let (session, mut events) = smp_client::Session::connect(running.addr, &kh, opts)
        .await
        .unwrap();
    // Several keep-alive rounds pass; the connection stays (no Disconnected event).
    let quiet = tokio::time::timeout(std::time::Duration::from_millis(400), events.recv()).await;
    assert!(quiet.is_err(), "no event while idle: {quiet:?}");
    assert_eq!(
        session.call(None, b"", &Command::Ping).await.unwrap(),
        BrokerMsg::Pong
    );
    // A SEND larger than a block is refused before it is sent, not left to time out.
    let big = Command::Send {
        notification: false,
        body: vec![0; 17_000],
    };
    let started = std::time::Instant::now();
    assert_eq!(
        session.call(None, b"q", &big).await,
        Err(ClientError::TooLarge)
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    running.stop();
}

/// Debian's microsocks on a free port of 127.0.0.1 (`.ci/run` installs it).
fn microsocks() -> (std::process::Child, std::net::SocketAddr) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new("microsocks")
        .args(["-i", "127.0.0.1", "-p", &port.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("microsocks is needed for this test: apt-get install microsocks (.ci/run does)");
    (child, std::net::SocketAddr::from(([127, 0, 0, 1], port)))
}

#[tokio::test]
async fn a_relay_reached_through_a_socks5_proxy_by_name() {
    let (relay, kh) = relay().await;
    let (mut proxy, proxy_addr) = microsocks();
    let opts = ConnectOptions {
        socks: Some(transport::SocksProxy {
            addr: proxy_addr,
            auth: transport::SocksAuth::Isolate,
        }),
        ..ConnectOptions::default()
    };
    // The proxy may take a moment to listen.
    let mut connected = None;
    for _ in 0..200 {
        match SmpClient::connect_host("localhost", relay.addr.port(), &kh, opts.clone()).await {
            Ok(c) => {
                connected = Some(c);
                break;
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
        }
    }
    let (c, _events) = connected.expect("no connection through the proxy");
    assert_eq!(
        c.call(None, b"", &Command::Ping).await.unwrap(),
        BrokerMsg::Pong
    );
    let (cmd, key) = new(false);
    assert!(matches!(
        c.call(Some(&key), b"", &cmd).await.unwrap(),
        BrokerMsg::Ids(_)
    ));
    assert_eq!(relay.relay.connection_count(), 1);
    // The connection runs through the proxy: stopping the proxy ends it.
    proxy.kill().unwrap();
    proxy.wait().unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), c.closed())
        .await
        .expect("the connection outlived its proxy");
    let again = SmpClient::connect_host("localhost", relay.addr.port(), &kh, opts).await;
    assert!(matches!(again, Err(ClientError::Network(_))), "{again:?}");
}

#[tokio::test]
async fn a_relay_reached_by_its_address_tries_each_host() {
    let (relay, kh) = relay().await;
    let fp = simplex_codec::base64url::encode(&kh);
    let port = relay.addr.port();
    // Nothing listens on 127.0.0.2 (the relay is on 127.0.0.1): the next host is used.
    let server: smp_proto::address::SmpServer = format!("smp://{fp}@127.0.0.2,127.0.0.1:{port}")
        .parse()
        .unwrap();
    let (c, _) = SmpClient::connect_server(&server, ConnectOptions::default())
        .await
        .unwrap();
    assert_eq!(
        c.call(None, b"", &Command::Ping).await.unwrap(),
        BrokerMsg::Pong
    );
    let (s, _) = smp_client::Session::connect_server(&server, ConnectOptions::default())
        .await
        .unwrap();
    assert_eq!(
        s.call(None, b"", &Command::Ping).await.unwrap(),
        BrokerMsg::Pong
    );
    // An onion host needs Tor.
    let onion: smp_proto::address::SmpServer = format!("smp://{fp}@abcdefghij234567.onion")
        .parse()
        .unwrap();
    let e = SmpClient::connect_server(&onion, ConnectOptions::default())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("SOCKS"), "{e}");
}

/// The web port (`--smp-web-port[-servers]`): port 443 and ALPN `http/1.1` for a preset
/// operator's relay whose address names no port, as the reference's `useWebPort`; our relay
/// speaks SMP at the current versions over `http/1.1` (a client without SNI).
#[tokio::test]
async fn a_relay_on_the_web_port_is_reached_with_http_alpn() {
    use transport::hosts::WebPort;
    let parse = |s: &str| s.parse::<smp_proto::address::SmpServer>().unwrap();
    let kh = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let preset = parse(&format!(
        "smp://{kh}@smp8.simplex.im,beccx4yfxxbvyhqy.onion"
    ));
    let own = parse(&format!("smp://{kh}@relay.example.com"));
    let own_port = parse(&format!("smp://{kh}@relay.example.com:7000"));
    let preset_port = parse(&format!("smp://{kh}@smp8.simplex.im:5223"));
    let http: &[u8] = b"http/1.1";
    let smp: &[u8] = b"smp/1";
    assert_eq!(
        smp_client::port_and_alpn(&preset, WebPort::Preset),
        (443, http)
    );
    assert_eq!(
        smp_client::port_and_alpn(&preset, WebPort::Off),
        (5223, smp)
    );
    assert_eq!(
        smp_client::port_and_alpn(&preset_port, WebPort::Preset),
        (5223, http)
    );
    assert_eq!(
        smp_client::port_and_alpn(&own, WebPort::Preset),
        (5223, smp)
    );
    assert_eq!(smp_client::port_and_alpn(&own, WebPort::All), (443, http));
    assert_eq!(
        smp_client::port_and_alpn(&own_port, WebPort::All),
        (7000, http)
    );

    let (relay, kh) = relay().await;
    let fp = simplex_codec::base64url::encode(&kh);
    let server = parse(&format!("smp://{fp}@127.0.0.1:{}", relay.addr.port()));
    let mut opts = ConnectOptions::default();
    opts.network.web_port = WebPort::All;
    let (c, _) = SmpClient::connect_server(&server, opts).await.unwrap();
    // A relay that took no ALPN would have offered the legacy version only.
    assert_eq!(c.server_range(), smp_proto::version::SUPPORTED);
    assert_eq!(
        c.call(None, b"", &Command::Ping).await.unwrap(),
        BrokerMsg::Pong
    );
}

/// A TCP forwarder to `upstream` whose current connections can be frozen: bytes stop flowing
/// both ways but the sockets stay open (a relay that hangs, a dead NAT mapping). Connections
/// made after the freeze flow normally.
async fn freezable_forwarder(
    upstream: std::net::SocketAddr,
) -> (std::net::SocketAddr, tokio::sync::watch::Sender<u32>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    // Each freeze bumps the generation; a connection from an older generation stops.
    let (gen_tx, gen_rx) = tokio::sync::watch::channel(0u32);
    tokio::spawn(async move {
        while let Ok((mut down, _)) = l.accept().await {
            let mut gen = gen_rx.clone();
            let born = *gen.borrow();
            tokio::spawn(async move {
                let Ok(mut up) = tokio::net::TcpStream::connect(upstream).await else {
                    return;
                };
                let frozen = async move {
                    let _ = gen.wait_for(|g| *g != born).await.map(|_| ());
                };
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut down, &mut up) => {}
                    () = frozen => {
                        // Frozen: hold both sockets open, move nothing.
                        std::future::pending::<()>().await;
                    }
                }
            });
        }
    });
    (addr, gen_tx)
}

/// The next Disconnected or Reconnected event (within 10 s).
async fn connection_event(events: &mut tokio::sync::mpsc::Receiver<Event>) -> Event {
    let fut = async {
        loop {
            match events.recv().await {
                Some(e @ (Event::Disconnected | Event::Reconnected(_))) => return e,
                Some(_) => continue,
                None => panic!("events ended"),
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), fut)
        .await
        .expect("no connection event")
}

#[tokio::test]
async fn a_session_notices_a_silent_relay_and_reconnects_and_resubscribes() {
    let (running, kh) = relay().await;
    let (via, freeze) = freezable_forwarder(running.addr).await;
    let opts = ConnectOptions {
        keep_alive: std::time::Duration::from_millis(100),
        response_timeout: std::time::Duration::from_millis(300),
        ..ConnectOptions::default()
    };
    let (session, mut events) = smp_client::Session::connect(via, &kh, opts).await.unwrap();
    let (cmd, key) = new(false);
    let BrokerMsg::Ids(ids) = session.call(Some(&key), b"", &cmd).await.unwrap() else {
        panic!()
    };
    assert_eq!(
        session.subscribe(&key, &ids.rcv_id).await.unwrap(),
        BrokerMsg::Sok(None)
    );
    // The path goes silent without closing: the keep-alive PING gets no answer.
    freeze.send_modify(|g| *g += 1);
    assert_eq!(connection_event(&mut events).await, Event::Disconnected);
    assert_eq!(connection_event(&mut events).await, Event::Reconnected(1));
    // The queue is subscribed again on the new connection: a message arrives as an event.
    let (sender, _) = SmpClient::connect(running.addr, &kh, ConnectOptions::default())
        .await
        .unwrap();
    let send = Command::Send {
        notification: false,
        body: b"after the freeze".to_vec(),
    };
    assert_eq!(
        sender.call(None, &ids.snd_id, &send).await.unwrap(),
        BrokerMsg::Ok
    );
    let got = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        loop {
            if let Some(Event::Msg(rid, ..)) = events.recv().await {
                return rid;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(got, ids.rcv_id);
    running.stop();
}
