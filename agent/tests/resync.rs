//! A lost ratchet state: Alice's database is restored from an old copy while Bob's ratchet went
//! on. Bob's next message does not decrypt for her (RATCHET_HEADER: re-synchronisation
//! required, sending stopped); she starts a re-synchronisation, both agree on new ratchets
//! (AgentRatchetKey both ways, EREADY) and messages flow again both ways.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::time::Duration;

use agent::agent::{Agent, AgentEvent, SyncState};
use smp_client::ConnectOptions;
use tokio::sync::mpsc::Receiver;

mod common;
use common::next;

/// Waits for a message, acknowledges it and returns its body (errors and sync states on the
/// way are returned too, in `seen`).
async fn message(
    agent: &Agent,
    events: &mut Receiver<AgentEvent>,
    seen: &mut Vec<AgentEvent>,
) -> Vec<u8> {
    loop {
        match next(events).await {
            AgentEvent::Message {
                conn, msg_id, body, ..
            } => {
                agent.ack(conn, msg_id).await.unwrap();
                return body;
            }
            e => seen.push(e),
        }
    }
}

/// Events until the connection is in step again (RatchetSync Ok), that one included.
async fn until_in_step(events: &mut Receiver<AgentEvent>) -> Vec<AgentEvent> {
    let mut got = Vec::new();
    loop {
        let e = next(events).await;
        let ok = matches!(
            e,
            AgentEvent::RatchetSync {
                state: SyncState::Ok,
                ..
            }
        );
        got.push(e);
        if ok {
            return got;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_database_restored_from_an_old_copy_recovers_by_resynchronisation() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("alice.db");
    let old_copy = dir.path().join("alice-old.db");
    let (relay, server) = common::relay().await;
    let open =
        |path: &std::path::Path| agent::store::Store::open(path, Some("alice's key")).unwrap();
    let (alice, mut ae) = Agent::open(server.clone(), ConnectOptions::default(), open(&db))
        .await
        .unwrap();
    let (bob, mut be) = Agent::start(server.clone(), ConnectOptions::default());
    let (ca, cb) = common::connect(&alice, &mut ae, &bob, &mut be).await;
    let mut seen = Vec::new();
    alice.send(ca, b"a1").await.unwrap();
    assert_eq!(message(&bob, &mut be, &mut seen).await, b"a1");
    // Nothing of Alice's is pending in the copy (else she would send it again after the
    // restore, and Bob's ratchet would fail on it first).
    loop {
        let e = tokio::time::timeout(Duration::from_secs(20), ae.recv()).await;
        if let Ok(Some(AgentEvent::Sent { msg_id: 2, .. })) = e {
            break;
        }
        assert!(matches!(e, Ok(Some(_))), "{e:?}");
    }

    // The old copy, taken while Alice is stopped: the database with its write-ahead log
    // (committed transactions may still be only there).
    alice.close().await;
    drop(alice);
    drop(ae);
    let with_ext = |p: &std::path::Path, ext: &str| format!("{}{ext}", p.display());
    for ext in ["", "-wal"] {
        if std::path::Path::new(&with_ext(&db, ext)).exists() {
            std::fs::copy(with_ext(&db, ext), with_ext(&old_copy, ext)).unwrap();
        }
    }
    let (alice, mut ae) = Agent::open(server.clone(), ConnectOptions::default(), open(&db))
        .await
        .unwrap();
    // The conversation goes on: both ratchets turn several times.
    for i in 0..3 {
        bob.send(cb, format!("b{i}").as_bytes()).await.unwrap();
        assert_eq!(
            message(&alice, &mut ae, &mut seen).await,
            format!("b{i}").into_bytes()
        );
        alice.send(ca, format!("a{i}").as_bytes()).await.unwrap();
        assert_eq!(
            message(&bob, &mut be, &mut seen).await,
            format!("a{i}").into_bytes()
        );
    }
    assert!(seen.is_empty(), "{seen:?}");

    // Alice's disk is replaced by the old copy.
    alice.close().await;
    drop(alice);
    drop(ae);
    for ext in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(with_ext(&db, ext));
        if std::path::Path::new(&with_ext(&old_copy, ext)).exists() {
            std::fs::copy(with_ext(&old_copy, ext), with_ext(&db, ext)).unwrap();
        }
    }
    let (alice, mut ae) = Agent::open(server.clone(), ConnectOptions::default(), open(&db))
        .await
        .unwrap();

    // Bob writes: Alice cannot decrypt it and is told a re-synchronisation is required.
    bob.send(cb, b"lost").await.unwrap();
    // First what did not decrypt (the chat keeps it as an item), then the new state.
    let mut failed = None;
    let state = loop {
        match next(&mut ae).await {
            AgentEvent::DecryptFailed { conn, error, count } => {
                assert_eq!(conn, ca);
                failed = Some((error, count));
            }
            AgentEvent::RatchetSync { conn, state, error } => {
                assert_eq!(conn, ca);
                assert!(error.is_some());
                break state;
            }
            AgentEvent::Error { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(state, SyncState::Required);
    let (error, count) = failed.expect("the failure reported before the state");
    assert!(
        matches!(
            error,
            agent::agent::DecryptError::Header | agent::agent::DecryptError::TooManySkipped
        ),
        "{error:?}"
    );
    assert!(count >= 1);
    assert!(alice.send(ca, b"too early").await.is_err(), "sending waits");

    // Re-synchronisation: both sides reach Agreed, then Ok.
    alice.synchronize_ratchet(ca, false).await.unwrap();
    let states = |events: Vec<AgentEvent>| -> Vec<SyncState> {
        events
            .into_iter()
            .filter_map(|e| match e {
                AgentEvent::RatchetSync { state, .. } => Some(state),
                _ => None,
            })
            .collect()
    };
    let (alice_events, bob_events) = tokio::join!(until_in_step(&mut ae), until_in_step(&mut be));
    let (a, b) = (states(alice_events), states(bob_events));
    assert_eq!(a.last(), Some(&SyncState::Ok), "{a:?}");
    assert!(a.contains(&SyncState::Agreed), "{a:?}");
    assert_eq!(b.last(), Some(&SyncState::Ok), "{b:?}");
    assert!(b.contains(&SyncState::Agreed), "{b:?}");

    // Messages flow again, both ways.
    alice.send(ca, b"back").await.unwrap();
    assert_eq!(message(&bob, &mut be, &mut seen).await, b"back");
    bob.send(cb, b"welcome back").await.unwrap();
    assert_eq!(message(&alice, &mut ae, &mut seen).await, b"welcome back");
    relay.stop();
}
