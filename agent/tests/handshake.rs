//! Two agents over two real relays on 127.0.0.1 (each party's queue on its own relay): an
//! invitation joined, both confirmations, then messages both ways, in order, with integrity.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::time::Duration;

use agent::agent::{Agent, AgentEvent};
use smp_client::ConnectOptions;

mod common;
use common::next;

#[tokio::test(flavor = "multi_thread")]
async fn invitation_handshake_and_messages_across_two_relays() {
    let (relay_a, server_a) = common::relay_with(transport::SignAlgorithm::Ed448).await;
    let (relay_b, server_b) = common::relay_with(transport::SignAlgorithm::Ed448).await;
    let (alice, mut alice_events) = Agent::start(server_a, ConnectOptions::default());
    let (bob, mut bob_events) = Agent::start(server_b, ConnectOptions::default());

    let (conn_a, link) = alice.create_invitation().await.unwrap();
    assert!(
        link.starts_with("simplex:/invitation#/?v=2-7&smp="),
        "{link}"
    );
    let conn_b = bob.join(&link, b"bob's profile").await.unwrap();

    assert_eq!(
        next(&mut alice_events).await,
        AgentEvent::Confirmation {
            conn: conn_a,
            info: b"bob's profile".to_vec()
        }
    );
    alice.allow(conn_a, b"alice's profile").await.unwrap();
    assert_eq!(
        next(&mut alice_events).await,
        AgentEvent::Connected { conn: conn_a }
    );
    assert_eq!(
        next(&mut bob_events).await,
        AgentEvent::Info {
            conn: conn_b,
            info: b"alice's profile".to_vec()
        }
    );
    assert_eq!(
        next(&mut bob_events).await,
        AgentEvent::Connected { conn: conn_b }
    );

    // Messages both ways, interleaved: each arrives once, in order, with ids continuing from
    // the confirmation (id 1) and good hashes.
    for round in 0..20 {
        let a = alice
            .send(conn_a, format!("a{round}").as_bytes())
            .await
            .unwrap();
        let b = bob
            .send(conn_b, format!("b{round}").as_bytes())
            .await
            .unwrap();
        assert_eq!((a, b), (round + 2, round + 2));
    }
    for round in 0..20i64 {
        assert_eq!(
            next(&mut bob_events).await,
            AgentEvent::Message {
                conn: conn_b,
                msg_id: round + 2,
                body: format!("a{round}").into_bytes(),
                integrity: None,
                notified: false,
            }
        );
        bob.ack(conn_b, round + 2).await.unwrap();
        assert_eq!(
            next(&mut alice_events).await,
            AgentEvent::Message {
                conn: conn_a,
                msg_id: round + 2,
                body: format!("b{round}").into_bytes(),
                integrity: None,
                notified: false,
            }
        );
        alice.ack(conn_a, round + 2).await.unwrap();
    }
    // Only the message handed out can be acknowledged.
    assert!(alice.ack(conn_a, 99).await.is_err());
    relay_a.stop();
    relay_b.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_restarted_from_its_encrypted_store_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("alice.db");
    let (relay, server) = common::relay_with(transport::SignAlgorithm::Ed448).await;
    let open = |key: &str| agent::store::Store::open(&db, Some(key)).unwrap();
    let (alice, mut alice_events) = Agent::open(
        server.clone(),
        ConnectOptions::default(),
        open("alice's key"),
    )
    .await
    .unwrap();
    let (bob, mut bob_events) = Agent::start(server.clone(), ConnectOptions::default());
    let (conn_a, link) = alice.create_invitation().await.unwrap();
    let conn_b = bob.join(&link, b"bob").await.unwrap();
    assert!(matches!(
        next(&mut alice_events).await,
        AgentEvent::Confirmation { .. }
    ));
    alice.allow(conn_a, b"alice").await.unwrap();
    assert_eq!(
        next(&mut alice_events).await,
        AgentEvent::Connected { conn: conn_a }
    );
    assert!(matches!(
        next(&mut bob_events).await,
        AgentEvent::Info { .. }
    ));
    assert_eq!(
        next(&mut bob_events).await,
        AgentEvent::Connected { conn: conn_b }
    );
    alice.send(conn_a, b"before").await.unwrap();
    assert!(matches!(
        next(&mut bob_events).await,
        AgentEvent::Message { msg_id: 2, .. }
    ));
    bob.ack(conn_b, 2).await.unwrap();

    // Bob writes; Alice gets the first message but stops before acknowledging it.
    for i in 0..5 {
        bob.send(conn_b, format!("while away {i}").as_bytes())
            .await
            .unwrap();
    }
    let away = |i: i64| AgentEvent::Message {
        conn: conn_a,
        msg_id: i + 2,
        body: format!("while away {i}").into_bytes(),
        integrity: None,
        notified: false,
    };
    assert_eq!(next(&mut alice_events).await, away(0));
    alice.close().await;
    drop(alice);
    drop(alice_events);
    // The database is encrypted: the sqlite3 tool cannot read it.
    let out = std::process::Command::new("sqlite3")
        .arg(&db)
        .arg("SELECT count(*) FROM connections;")
        .output()
        .expect("sqlite3 is needed for this test: apt-get install sqlite3 (.ci/run does)");
    assert!(!out.status.success(), "sqlite3 read the encrypted database");

    // Reopened, she gets the unacknowledged message again, then the rest, in order.
    let (alice, mut alice_events) = Agent::open(
        server.clone(),
        ConnectOptions::default(),
        open("alice's key"),
    )
    .await
    .unwrap();
    for i in 0..5i64 {
        assert_eq!(next(&mut alice_events).await, away(i));
        alice.ack(conn_a, i + 2).await.unwrap();
    }
    // And she continues where she stopped.
    assert_eq!(alice.send(conn_a, b"after").await.unwrap(), 3);
    assert_eq!(
        next(&mut bob_events).await,
        AgentEvent::Message {
            conn: conn_b,
            msg_id: 3,
            body: b"after".to_vec(),
            integrity: None,
            notified: false,
        }
    );
    relay.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_contact_address_with_one_request_accepted_and_one_rejected() {
    let (relay, server) = common::relay_with(transport::SignAlgorithm::Ed448).await;
    let (alice, mut alice_events) = Agent::start(server.clone(), ConnectOptions::default());
    let (bob, mut bob_events) = Agent::start(server.clone(), ConnectOptions::default());
    let (carol, mut carol_events) = Agent::start(server.clone(), ConnectOptions::default());
    let (address, link) = alice.create_address().await.unwrap();
    assert!(link.starts_with("simplex:/contact#/?v=2-7&smp="), "{link}");

    let conn_b = bob.join(&link, b"bob").await.unwrap();
    let AgentEvent::Request {
        address: a,
        request,
        info,
    } = next(&mut alice_events).await
    else {
        panic!()
    };
    assert_eq!((a, info.as_slice()), (address, &b"bob"[..]));
    let conn_a = alice.accept(request, b"alice").await.unwrap();
    // Bob made the invitation Alice joined: he confirms as its initiator.
    assert_eq!(
        next(&mut bob_events).await,
        AgentEvent::Confirmation {
            conn: conn_b,
            info: b"alice".to_vec()
        }
    );
    bob.allow(conn_b, b"bob").await.unwrap();
    assert_eq!(
        next(&mut bob_events).await,
        AgentEvent::Connected { conn: conn_b }
    );
    assert_eq!(
        next(&mut alice_events).await,
        AgentEvent::Info {
            conn: conn_a,
            info: b"bob".to_vec()
        }
    );
    assert_eq!(
        next(&mut alice_events).await,
        AgentEvent::Connected { conn: conn_a }
    );
    bob.send(conn_b, b"hi alice").await.unwrap();
    assert!(matches!(
        next(&mut alice_events).await,
        AgentEvent::Message { conn, ref body, integrity: None, .. } if conn == conn_a && body == b"hi alice"
    ));
    alice.ack(conn_a, 2).await.unwrap();

    // Carol's request is rejected: nothing reaches her, her connection stays pending.
    carol.join(&link, b"carol").await.unwrap();
    let AgentEvent::Request { request, info, .. } = next(&mut alice_events).await else {
        panic!()
    };
    assert_eq!(info, b"carol");
    alice.reject(request).unwrap();
    assert!(alice.accept(request, b"alice").await.is_err());
    let quiet = tokio::time::timeout(Duration::from_millis(300), carol_events.recv()).await;
    assert!(quiet.is_err(), "no event for a rejected request: {quiet:?}");
    relay.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_peer_offline_for_200_messages_gets_them_all_after_quota_and_qcont() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bob.db");
    let (relay, server) = common::relay_with(transport::SignAlgorithm::Ed448).await;
    let open = || agent::store::Store::open(&db, Some("bob's key")).unwrap();
    let (alice, mut alice_events) = Agent::start(server.clone(), ConnectOptions::default());
    let (bob, mut bob_events) = Agent::open(server.clone(), ConnectOptions::default(), open())
        .await
        .unwrap();
    let (conn_a, link) = alice.create_invitation().await.unwrap();
    let conn_b = bob.join(&link, b"bob").await.unwrap();
    assert!(matches!(
        next(&mut alice_events).await,
        AgentEvent::Confirmation { .. }
    ));
    alice.allow(conn_a, b"alice").await.unwrap();
    assert!(matches!(
        next(&mut alice_events).await,
        AgentEvent::Connected { .. }
    ));
    assert!(matches!(
        next(&mut bob_events).await,
        AgentEvent::Info { .. }
    ));
    assert!(matches!(
        next(&mut bob_events).await,
        AgentEvent::Connected { .. }
    ));
    bob.close().await;
    drop(bob);
    drop(bob_events);

    // 200 messages while Bob is away: the relay takes 128, then answers QUOTA.
    for i in 0..200 {
        alice.send(conn_a, format!("{i}").as_bytes()).await.unwrap();
    }
    loop {
        match next(&mut alice_events).await {
            AgentEvent::Error { error, .. } if error.contains("QUOTA") => break,
            AgentEvent::Error { error, .. } => panic!("{error}"),
            _ => {}
        }
    }

    // Back, Bob drains the queue; at the quota marker he sends A_QCONT and Alice goes on at once
    // (her own retry timer would wait longer): all 200 arrive, in order, intact.
    let (bob, mut bob_events) = Agent::open(server.clone(), ConnectOptions::default(), open())
        .await
        .unwrap();
    let mut resumed = false;
    for i in 0..200i64 {
        let msg = next(&mut bob_events).await;
        assert_eq!(
            msg,
            AgentEvent::Message {
                conn: conn_b,
                msg_id: i + 2,
                body: format!("{i}").into_bytes(),
                integrity: None,
                notified: false,
            }
        );
        bob.ack(conn_b, i + 2).await.unwrap();
        if i == 128 {
            // Message 129 was the one refused: it came only after A_QCONT reached Alice.
            while !resumed {
                match next(&mut alice_events).await {
                    AgentEvent::SendingResumed { conn } => resumed = conn == conn_a,
                    AgentEvent::Error { error, .. } if error.contains("QUOTA") => {}
                    other => panic!("{other:?}"),
                }
            }
        }
    }
    assert!(resumed);
    // A_QCONT took Bob's message id 2: his next message is 3, and Alice sees no gap.
    assert_eq!(bob.send(conn_b, b"thanks").await.unwrap(), 3);
    loop {
        match next(&mut alice_events).await {
            AgentEvent::Message {
                msg_id, integrity, ..
            } => {
                assert_eq!((msg_id, integrity), (3, None));
                break;
            }
            AgentEvent::Error { error, .. } if error.contains("QUOTA") => {}
            other => panic!("{other:?}"),
        }
    }
    relay.stop();
}

/// A peer away long enough: its relay takes 128 messages, the agent keeps 1,024 more waiting in
/// memory (the one refused with QUOTA among them); the next `send` waits for a place instead
/// of growing memory, and completes once the peer drains its queue - every message in order.
#[tokio::test(flavor = "multi_thread")]
async fn a_sender_waits_for_a_place_while_1024_messages_wait() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bob.db");
    let (relay, server) = common::relay().await;
    let open = || agent::store::Store::open(&db, Some("bob's key")).unwrap();
    let (alice, mut alice_events) = Agent::start(server.clone(), ConnectOptions::default());
    let (bob, mut bob_events) = Agent::open(server.clone(), ConnectOptions::default(), open())
        .await
        .unwrap();
    let (conn_a, conn_b) = common::connect(&alice, &mut alice_events, &bob, &mut bob_events).await;
    bob.close().await;
    drop(bob);
    drop(bob_events);
    // Alice's events read as an application would (a full event queue stops the agent).
    tokio::spawn(async move { while alice_events.recv().await.is_some() {} });

    // Sends until one waits: at most 128 on the relay (its quota, less what the handshake
    // left there), then 1,024 waiting here.
    let mut sent = 0i64;
    let last = loop {
        assert!(
            sent <= 128 + 1024,
            "more than 1,024 messages wait in memory"
        );
        let sender = alice.clone();
        let body = format!("{sent}");
        let mut task = tokio::spawn(async move { sender.send(conn_a, body.as_bytes()).await });
        match tokio::time::timeout(Duration::from_secs(2), &mut task).await {
            Ok(done) => {
                done.unwrap().unwrap();
                sent += 1;
            }
            Err(_) => break task,
        }
    };
    assert!(sent >= 1024, "only {sent} sends had a place");

    let (bob, mut bob_events) = Agent::open(server.clone(), ConnectOptions::default(), open())
        .await
        .unwrap();
    // Every message in order, the one that waited last.
    let first_id = 2;
    for i in 0..=sent {
        assert_eq!(
            next(&mut bob_events).await,
            AgentEvent::Message {
                conn: conn_b,
                msg_id: i + first_id,
                body: format!("{i}").into_bytes(),
                integrity: None,
                notified: false,
            }
        );
        bob.ack(conn_b, i + first_id).await.unwrap();
    }
    let id = tokio::time::timeout(Duration::from_secs(20), last)
        .await
        .expect("the waiting send completes")
        .unwrap()
        .unwrap();
    assert_eq!(id, sent + first_id);
    relay.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn delivery_receipts_reach_the_sender_also_across_its_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("alice.db");
    let (relay, server) = common::relay_with(transport::SignAlgorithm::Ed448).await;
    let open = || agent::store::Store::open(&db, Some("alice's key")).unwrap();
    let (alice, mut ae) = Agent::open(server.clone(), ConnectOptions::default(), open())
        .await
        .unwrap();
    let (bob, mut be) = Agent::start(server.clone(), ConnectOptions::default());
    let (ca, link) = alice.create_invitation().await.unwrap();
    let cb = bob.join(&link, b"bob").await.unwrap();
    assert!(matches!(
        next(&mut ae).await,
        AgentEvent::Confirmation { .. }
    ));
    alice.allow(ca, b"alice").await.unwrap();
    assert!(matches!(next(&mut ae).await, AgentEvent::Connected { .. }));
    assert!(matches!(next(&mut be).await, AgentEvent::Info { .. }));
    assert!(matches!(next(&mut be).await, AgentEvent::Connected { .. }));

    for body in ["one", "two", "three"] {
        alice.send(ca, body.as_bytes()).await.unwrap();
    }
    // Bob: a receipt for the first, none for the second; the third waits.
    for id in [2, 3] {
        assert!(matches!(next(&mut be).await, AgentEvent::Message { msg_id, .. } if msg_id == id));
        if id == 2 {
            bob.ack_with_receipt(cb, 2, b"receipt info").await.unwrap();
        } else {
            bob.ack(cb, 3).await.unwrap();
        }
    }
    assert_eq!(
        next(&mut ae).await,
        AgentEvent::Delivered {
            conn: ca,
            msg_id: 2,
            ok: true
        }
    );
    // A receipt only for a message being acknowledged.
    assert!(bob.ack_with_receipt(cb, 2, b"").await.is_err());

    // Alice restarts; the receipt for message 4 finds its hash in her store.
    alice.close().await;
    drop(alice);
    drop(ae);
    let (alice, mut ae) = Agent::open(server.clone(), ConnectOptions::default(), open())
        .await
        .unwrap();
    assert!(matches!(
        next(&mut be).await,
        AgentEvent::Message { msg_id: 4, .. }
    ));
    bob.ack_with_receipt(cb, 4, b"").await.unwrap();
    let delivered = loop {
        match next(&mut ae).await {
            AgentEvent::Up { .. } | AgentEvent::Down { .. } => {}
            e => break e,
        }
    };
    assert_eq!(
        delivered,
        AgentEvent::Delivered {
            conn: ca,
            msg_id: 4,
            ok: true
        }
    );
    // The receipts took Bob's ids 2 and 3: his next message is 4, and Alice sees no gap.
    assert_eq!(bob.send(cb, b"hi").await.unwrap(), 4);
    assert_eq!(
        next(&mut ae).await,
        AgentEvent::Message {
            conn: ca,
            msg_id: 4,
            body: b"hi".to_vec(),
            integrity: None,
            notified: false,
        }
    );
    alice.ack(ca, 4).await.unwrap();
    relay.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_to_an_address_survives_the_owners_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("alice.db");
    let (relay, server) = common::relay_with(transport::SignAlgorithm::Ed448).await;
    let open = || agent::store::Store::open(&db, Some("alice's key")).unwrap();
    let (alice, mut ae) = Agent::open(server.clone(), ConnectOptions::default(), open())
        .await
        .unwrap();
    let (bob, mut be) = Agent::start(server.clone(), ConnectOptions::default());
    let (address, link) = alice.create_address().await.unwrap();
    let cb = bob.join(&link, b"bob").await.unwrap();
    let AgentEvent::Request { request, .. } = next(&mut ae).await else {
        panic!()
    };
    // Alice stops before answering; the relay was ACKed, so only her store has the request.
    alice.close().await;
    drop(alice);
    drop(ae);
    let (alice, mut ae) = Agent::open(server.clone(), ConnectOptions::default(), open())
        .await
        .unwrap();
    assert_eq!(
        next(&mut ae).await,
        AgentEvent::Request {
            address,
            request,
            info: b"bob".to_vec()
        }
    );
    let ca = alice.accept(request, b"alice").await.unwrap();
    // Answered: it is gone, also from the store.
    assert!(alice.accept(request, b"alice").await.is_err());
    assert!(matches!(
        next(&mut be).await,
        AgentEvent::Confirmation { conn, .. } if conn == cb
    ));
    bob.allow(cb, b"bob").await.unwrap();
    assert_eq!(next(&mut be).await, AgentEvent::Connected { conn: cb });
    let e = next(&mut ae).await;
    assert!(
        matches!(e, AgentEvent::Info { conn, .. } if conn == ca),
        "{e:?}"
    );
    assert_eq!(next(&mut ae).await, AgentEvent::Connected { conn: ca });
    alice.close().await;
    drop(alice);
    drop(ae);
    let (_alice, mut ae) = Agent::open(server.clone(), ConnectOptions::default(), open())
        .await
        .unwrap();
    let quiet = tokio::time::timeout(Duration::from_millis(300), ae.recv()).await;
    assert!(
        !matches!(quiet, Ok(Some(AgentEvent::Request { .. }))),
        "an answered request came again: {quiet:?}"
    );
    relay.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_legacy_handshake_with_a_peer_offering_agent_versions_before_6() {
    let (relay, server) = common::relay_with(transport::SignAlgorithm::Ed448).await;
    let (alice, mut ae) = Agent::start(server.clone(), ConnectOptions::default());
    let (bob, mut be) = Agent::start(server.clone(), ConnectOptions::default());
    let (ca, link) = alice.create_invitation().await.unwrap();
    // The link as an agent of v2-v5 would write it: no sender-secured queues (SKEY), so the
    // joiner's key travels in its confirmation and each side secures its own queue (KEY),
    // then HELLO both ways.
    assert!(link.contains("#/?v=2-7&"), "{link}");
    let old = link.replace("#/?v=2-7&", "#/?v=2-5&");
    let cb = bob.join(&old, b"bob").await.unwrap();
    assert_eq!(
        next(&mut ae).await,
        AgentEvent::Confirmation {
            conn: ca,
            info: b"bob".to_vec()
        }
    );
    alice.allow(ca, b"alice").await.unwrap();
    assert_eq!(
        next(&mut be).await,
        AgentEvent::Info {
            conn: cb,
            info: b"alice".to_vec()
        }
    );
    // Connected once the HELLOs are through (after the confirmations, never before).
    assert_eq!(next(&mut ae).await, AgentEvent::Connected { conn: ca });
    assert_eq!(next(&mut be).await, AgentEvent::Connected { conn: cb });
    // HELLO took message id 2 on both sides: the first user message is 3, intact.
    assert_eq!(bob.send(cb, b"hi").await.unwrap(), 3);
    assert_eq!(
        next(&mut ae).await,
        AgentEvent::Message {
            conn: ca,
            msg_id: 3,
            body: b"hi".to_vec(),
            integrity: None,
            notified: false,
        }
    );
    alice.ack(ca, 3).await.unwrap();
    assert_eq!(alice.send(ca, b"hello bob").await.unwrap(), 3);
    assert_eq!(
        next(&mut be).await,
        AgentEvent::Message {
            conn: cb,
            msg_id: 3,
            body: b"hello bob".to_vec(),
            integrity: None,
            notified: false,
        }
    );
    relay.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn receipts_of_a_burst_go_together() {
    let (relay, server) = common::relay_with(transport::SignAlgorithm::Ed448).await;
    let (alice, mut ae) = Agent::start(server.clone(), ConnectOptions::default());
    let (bob, mut be) = Agent::start(server.clone(), ConnectOptions::default());
    let (ca, link) = alice.create_invitation().await.unwrap();
    let cb = bob.join(&link, b"bob").await.unwrap();
    assert!(matches!(
        next(&mut ae).await,
        AgentEvent::Confirmation { .. }
    ));
    alice.allow(ca, b"alice").await.unwrap();
    assert!(matches!(next(&mut ae).await, AgentEvent::Connected { .. }));
    assert!(matches!(next(&mut be).await, AgentEvent::Info { .. }));
    assert!(matches!(next(&mut be).await, AgentEvent::Connected { .. }));

    const N: i64 = 20;
    for i in 0..N {
        alice.send(ca, format!("m{i}").as_bytes()).await.unwrap();
    }
    for id in 2..2 + N {
        assert!(matches!(next(&mut be).await, AgentEvent::Message { msg_id, .. } if msg_id == id));
        bob.ack_with_receipt(cb, id, b"").await.unwrap();
    }
    // Every message gets its receipt.
    let mut delivered = std::collections::BTreeSet::new();
    while delivered.len() < N as usize {
        match next(&mut ae).await {
            AgentEvent::Delivered { conn, msg_id, ok } => {
                assert!(conn == ca && ok);
                delivered.insert(msg_id);
            }
            e => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(delivered, (2..2 + N).collect());
    // In fewer A_RCVD messages than receipts: each took one of Bob's message ids.
    let next_id = bob.send(cb, b"hi").await.unwrap();
    assert!(next_id < 2 + N - 5, "{next_id}: receipts went one by one");
    relay.stop();
}
