//! The relay of a stored connection is down when the agent starts: the agent starts all the
//! same (its connection reported down), subscribes by itself when the relay is back (reported
//! up), and the messages sent meanwhile arrive.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::net::SocketAddr;
use std::time::Duration;

use agent::agent::{Agent, AgentEvent};
use smp_client::ConnectOptions;
use tokio::sync::mpsc::Receiver;

mod common;

/// The next event that is not a delivery report or a retry's error.
async fn next(events: &mut Receiver<AgentEvent>) -> AgentEvent {
    loop {
        let e = tokio::time::timeout(Duration::from_secs(30), events.recv())
            .await
            .expect("an agent event in time")
            .expect("events open");
        match e {
            AgentEvent::Sent { .. } | AgentEvent::Error { .. } | AgentEvent::Duplicate { .. } => {}
            e => return e,
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_starts_while_a_relay_is_down_and_subscribes_when_it_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let (identity, _) =
        transport::Identity::generate(transport::SignAlgorithm::Ed25519, "localhost").unwrap();
    let opts = smp_server::StartOptions {
        store_log: Some(dir.path().join("smp-server-store.log")),
        journal: Some(dir.path().join("messages")),
        ..Default::default()
    };
    let start = |addr: SocketAddr| {
        let (identity, opts) = (&identity, &opts);
        async move {
            let config = smp_server::RelayConfig::default();
            smp_server::start_on(&[addr], identity, config, opts).await
        }
    };
    let relay = start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let addr = relay.addr;
    let server: smp_proto::address::SmpServer = format!(
        "smp://{}@127.0.0.1:{}",
        simplex_codec::base64url::encode(&identity.key_hash().unwrap()),
        addr.port()
    )
    .parse()
    .unwrap();
    let db = dir.path().join("bob.db");
    let open = || agent::store::Store::open(&db, Some("bob's key")).unwrap();
    let (alice, mut ae) = Agent::start(server.clone(), ConnectOptions::default());
    let (bob, mut be) = Agent::open(server.clone(), ConnectOptions::default(), open())
        .await
        .unwrap();
    let (ca, cb) = common::connect(&alice, &mut ae, &bob, &mut be).await;
    alice.send(ca, b"before").await.unwrap();
    match next(&mut be).await {
        AgentEvent::Message { msg_id, body, .. } => {
            assert_eq!(body, b"before");
            bob.ack(cb, msg_id).await.unwrap();
        }
        other => panic!("unexpected {other:?}"),
    }

    // Bob stops; the relay goes away; Bob starts again while it is away.
    bob.close().await;
    drop((bob, be));
    relay.stop();
    let (bob, mut be) = Agent::open(server.clone(), ConnectOptions::default(), open())
        .await
        .expect("the agent starts with its relay down");
    match next(&mut be).await {
        AgentEvent::Down { conns, .. } => assert_eq!(conns, [cb]),
        other => panic!("unexpected {other:?}"),
    }
    // Alice writes meanwhile (her send waits for the relay).
    assert!(alice.send(ca, b"while away").await.is_ok());

    // The relay is back on the same address, from its store log and journal.
    let relay = {
        let mut tries = 0;
        loop {
            match start(addr).await {
                Ok(r) => break r,
                Err(e) => {
                    tries += 1;
                    assert!(tries < 100, "the relay did not start again: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    };
    let mut up = false;
    loop {
        match next(&mut be).await {
            AgentEvent::Up { conns, .. } => {
                assert_eq!(conns, [cb]);
                up = true;
            }
            AgentEvent::Message { msg_id, body, .. } => {
                assert_eq!(body, b"while away");
                bob.ack(cb, msg_id).await.unwrap();
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    while !up {
        match next(&mut be).await {
            AgentEvent::Up { conns, .. } => {
                assert_eq!(conns, [cb]);
                up = true;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    relay.stop();
}
