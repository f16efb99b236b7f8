//! The relay's command processing without sockets, with real keys and signatures: a queue's
//! whole life, delivery and ACK, the quota marker, END and DELD, and the reference's refusals.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use simplex_codec::encoding::unpad;
use simplex_crypto::{cryptobox, generate, sign, KeyAlgorithm, PrivateKey, PublicKey, SbNonce};
use smp_proto::command::{NewQueue, QueueRequest};
use smp_proto::transmission::Transmission;
use smp_proto::{BrokerMsg, Command, CommandError, ErrorType};
use smp_server::{Conn, Outgoing, Relay, RelayConfig};
use tokio::sync::mpsc::Receiver;

const V: u16 = 18;

struct Client {
    conn: Conn,
    pushes: Receiver<Outgoing>,
    corr: u32,
}

/// A 24-byte correlation id from a counter.
fn corr_id(n: u32) -> Vec<u8> {
    let mut c = vec![0u8; 24];
    c[..4].copy_from_slice(&n.to_be_bytes());
    c
}

fn client(relay: &Relay) -> Client {
    let (id, pushes) = relay.connect(V);
    Client {
        conn: Conn {
            id,
            version: V,
            session_id: vec![id as u8; 32],
            session_key: None,
            session_secret: None,
        },
        pushes,
        corr: 0,
    }
}

impl Client {
    /// Sends `cmd` for `entity`, signed with `key` (or unsigned).
    fn run(
        &mut self,
        relay: &Relay,
        key: Option<&PrivateKey>,
        entity: &[u8],
        cmd: &Command,
    ) -> Vec<Outgoing> {
        self.corr += 1;
        let mut t = Transmission {
            corr_id: corr_id(self.corr),
            entity_id: entity.to_vec(),
            command: cmd.encode(V).unwrap(),
            ..Transmission::default()
        };
        if let Some(k) = key {
            t.authorization = sign(k, &t.authorized(&self.conn.session_id).unwrap()).unwrap();
        }
        relay.handle(&self.conn, &t).0
    }

    fn one(
        &mut self,
        relay: &Relay,
        key: Option<&PrivateKey>,
        entity: &[u8],
        cmd: &Command,
    ) -> BrokerMsg {
        let mut out = self.run(relay, key, entity, cmd);
        assert_eq!(out.len(), 1, "{out:?}");
        out.remove(0).msg
    }
}

struct Queue {
    rcv_id: Vec<u8>,
    snd_id: Vec<u8>,
    rcv_key: PrivateKey,
    /// The recipient's key for the relay's message encryption and the relay's public key.
    dh: (PrivateKey, PublicKey),
}

fn new_queue(relay: &Relay, c: &mut Client, subscribe: bool, alg: KeyAlgorithm) -> Queue {
    let (rk_pub, rk) = generate(alg).unwrap();
    let (dh_pub, dh) = generate(KeyAlgorithm::X25519).unwrap();
    let new = Command::New(NewQueue {
        rcv_auth_key: rk_pub,
        rcv_dh_key: dh_pub,
        basic_auth: None,
        subscribe,
        request: Some(QueueRequest::Messaging(None)),
        ntf_creds: None,
    });
    match c.one(relay, Some(&rk), b"", &new) {
        BrokerMsg::Ids(ids) => Queue {
            rcv_id: ids.rcv_id,
            snd_id: ids.snd_id,
            rcv_key: rk,
            dh: (dh, ids.srv_dh_key),
        },
        other => panic!("{other:?}"),
    }
}

/// Opens a MSG as the recipient: (msg id, timestamp, flag, body) or the quota marker.
fn open_msg(q: &Queue, m: &BrokerMsg) -> (Vec<u8>, Vec<u8>) {
    let BrokerMsg::Msg(id, enc) = m else {
        panic!("not a MSG: {m:?}")
    };
    let key = cryptobox::shared_key(&q.dh.0, &q.dh.1).unwrap();
    let padded = cryptobox::open(&key, &SbNonce(id.clone().try_into().unwrap()), enc).unwrap();
    (id.clone(), unpad(&padded).unwrap().to_vec())
}

fn send(body: &[u8]) -> Command {
    Command::Send {
        notification: false,
        body: body.to_vec(),
    }
}

#[test]
fn a_queue_lives_and_dies_on_ed25519_and_ed448() {
    for alg in [KeyAlgorithm::Ed25519, KeyAlgorithm::Ed448] {
        let relay = Relay::new(RelayConfig::default()).unwrap();
        let (mut r, mut s) = (client(&relay), client(&relay));
        let q = new_queue(&relay, &mut r, true, alg);
        // Unsigned SEND to the unsecured queue: accepted; a signed one: AUTH.
        assert_eq!(
            s.one(&relay, None, &q.snd_id, &send(b"hello")),
            BrokerMsg::Ok
        );
        let (sk_pub, sk) = generate(alg).unwrap();
        assert_eq!(
            s.one(&relay, Some(&sk), &q.snd_id, &send(b"x")),
            err(ErrorType::Auth)
        );
        // The message was pushed to the subscriber (empty corrId), encrypted for it.
        let push = r.pushes.try_recv().unwrap();
        assert!(push.corr_id.is_empty());
        let (id1, body) = open_msg(&q, &push.msg);
        assert_eq!(&body[8..], b"F hello");
        // The sender secures the queue; from now on SEND must be signed with that key.
        assert_eq!(
            s.one(&relay, Some(&sk), &q.snd_id, &Command::Skey(sk_pub.clone())),
            BrokerMsg::Ok
        );
        assert_eq!(
            s.one(&relay, None, &q.snd_id, &send(b"unsigned")),
            err(ErrorType::Auth)
        );
        assert_eq!(
            s.one(&relay, Some(&sk), &q.snd_id, &send(b"second")),
            BrokerMsg::Ok
        );
        // Nothing new is pushed before the first is acknowledged; ACK answers with the next.
        assert!(r.pushes.try_recv().is_err());
        let next = r.one(
            &relay,
            Some(&q.rcv_key),
            &q.rcv_id,
            &Command::Ack(id1.clone()),
        );
        let (id2, body) = open_msg(&q, &next);
        assert_eq!(&body[8..], b"F second");
        assert_eq!(
            r.one(&relay, Some(&q.rcv_key), &q.rcv_id, &Command::Ack(id1)),
            err(ErrorType::NoMsg)
        );
        assert_eq!(
            r.one(&relay, Some(&q.rcv_key), &q.rcv_id, &Command::Ack(id2)),
            BrokerMsg::Ok
        );
        // OFF: sends get AUTH. DEL: gone, every command AUTH.
        assert_eq!(
            r.one(&relay, Some(&q.rcv_key), &q.rcv_id, &Command::Off),
            BrokerMsg::Ok
        );
        assert_eq!(
            s.one(&relay, Some(&sk), &q.snd_id, &send(b"late")),
            err(ErrorType::Auth)
        );
        assert_eq!(
            r.one(&relay, Some(&q.rcv_key), &q.rcv_id, &Command::Del),
            BrokerMsg::Ok
        );
        assert_eq!(
            r.one(&relay, Some(&q.rcv_key), &q.rcv_id, &Command::Sub),
            err(ErrorType::Auth)
        );
        assert_eq!(relay.queue_count(), 0);
        // A wrong key is AUTH, like an unknown queue.
        let other = generate(alg).unwrap().1;
        assert_eq!(
            r.one(&relay, Some(&other), &q.rcv_id, &Command::Sub),
            err(ErrorType::Auth)
        );
    }
}

fn err(e: ErrorType) -> BrokerMsg {
    BrokerMsg::Err(e)
}

#[test]
fn sub_delivers_the_first_message_and_a_second_subscriber_ends_the_first() {
    let relay = Relay::new(RelayConfig::default()).unwrap();
    let (mut a, mut b, mut s) = (client(&relay), client(&relay), client(&relay));
    let q = new_queue(&relay, &mut a, false, KeyAlgorithm::Ed25519);
    assert_eq!(s.one(&relay, None, &q.snd_id, &send(b"one")), BrokerMsg::Ok);
    assert!(a.pushes.try_recv().is_err(), "created without subscribing");
    let out = a.run(&relay, Some(&q.rcv_key), &q.rcv_id, &Command::Sub);
    assert_eq!(out[0].msg, BrokerMsg::Sok(None));
    assert_eq!(out[0].corr_id, corr_id(a.corr));
    assert!(
        out[1].corr_id.is_empty(),
        "the message follows with an empty corrId"
    );
    assert_eq!(&open_msg(&q, &out[1].msg).1[8..], b"F one");
    // B subscribes: A gets END; B gets the same (unacknowledged) message.
    let out = b.run(&relay, Some(&q.rcv_key), &q.rcv_id, &Command::Sub);
    assert_eq!(out.len(), 2);
    let end = a.pushes.try_recv().unwrap();
    assert_eq!((end.msg, end.entity_id), (BrokerMsg::End, q.rcv_id.clone()));
    // DEL from B while C... A is no longer subscribed: no DELD for A; B deleting its own
    // subscribed queue gets OK and no push.
    let c_queue = new_queue(&relay, &mut b, false, KeyAlgorithm::Ed25519);
    a.run(
        &relay,
        Some(&c_queue.rcv_key),
        &c_queue.rcv_id,
        &Command::Sub,
    );
    assert_eq!(
        b.one(
            &relay,
            Some(&c_queue.rcv_key),
            &c_queue.rcv_id,
            &Command::Del
        ),
        BrokerMsg::Ok
    );
    let deld = a.pushes.try_recv().unwrap();
    assert_eq!(deld.msg, BrokerMsg::Deld);
    assert_eq!(deld.msg.encode(9).unwrap(), b"END", "older clients get END");
}

#[test]
fn quota_marker_is_delivered_in_order_and_writes_resume_when_empty() {
    let relay = Relay::new(RelayConfig::default()).unwrap();
    let (mut r, mut s) = (client(&relay), client(&relay));
    let q = new_queue(&relay, &mut r, false, KeyAlgorithm::Ed25519);
    for i in 0..128u32 {
        assert_eq!(
            s.one(&relay, None, &q.snd_id, &send(&i.to_be_bytes())),
            BrokerMsg::Ok
        );
    }
    assert_eq!(
        s.one(&relay, None, &q.snd_id, &send(b"129")),
        err(ErrorType::Quota)
    );
    assert_eq!(
        s.one(&relay, None, &q.snd_id, &send(b"130")),
        err(ErrorType::Quota)
    );
    let mut m = r
        .run(&relay, Some(&q.rcv_key), &q.rcv_id, &Command::Sub)
        .remove(1)
        .msg;
    for i in 0..128u32 {
        let (id, body) = open_msg(&q, &m);
        assert_eq!(&body[10..], i.to_be_bytes());
        m = r.one(&relay, Some(&q.rcv_key), &q.rcv_id, &Command::Ack(id));
        assert_eq!(
            s.one(&relay, None, &q.snd_id, &send(b"no")),
            err(ErrorType::Quota)
        );
    }
    // The marker: "QUOTA " and the timestamp.
    let (id, body) = open_msg(&q, &m);
    assert_eq!(&body[..6], b"QUOTA ");
    assert_eq!(body.len(), 14);
    assert_eq!(
        r.one(&relay, Some(&q.rcv_key), &q.rcv_id, &Command::Ack(id)),
        BrokerMsg::Ok
    );
    assert_eq!(
        s.one(&relay, None, &q.snd_id, &send(b"again")),
        BrokerMsg::Ok
    );
}

#[test]
fn get_and_sub_never_mix_and_large_messages_are_refused() {
    let relay = Relay::new(RelayConfig::default()).unwrap();
    let (mut r, mut s) = (client(&relay), client(&relay));
    let q = new_queue(&relay, &mut r, false, KeyAlgorithm::Ed25519);
    assert_eq!(
        r.one(&relay, Some(&q.rcv_key), &q.rcv_id, &Command::Get),
        BrokerMsg::Ok
    );
    assert_eq!(
        r.one(&relay, Some(&q.rcv_key), &q.rcv_id, &Command::Sub),
        err(ErrorType::Cmd(CommandError::Prohibited))
    );
    assert_eq!(
        s.one(&relay, None, &q.snd_id, &send(&vec![0; 16048])),
        BrokerMsg::Ok
    );
    assert_eq!(
        s.one(&relay, None, &q.snd_id, &send(&vec![0; 16049])),
        err(ErrorType::LargeMsg)
    );
    let m = r.one(&relay, Some(&q.rcv_key), &q.rcv_id, &Command::Get);
    let (id, _) = open_msg(&q, &m);
    assert_eq!(
        r.one(&relay, Some(&q.rcv_key), &q.rcv_id, &Command::Ack(id)),
        BrokerMsg::Ok
    );
    // A subscribed connection may not GET.
    let q2 = new_queue(&relay, &mut r, true, KeyAlgorithm::Ed25519);
    assert_eq!(
        r.one(&relay, Some(&q2.rcv_key), &q2.rcv_id, &Command::Get),
        err(ErrorType::Cmd(CommandError::Prohibited))
    );
}

#[test]
fn new_queue_rules() {
    let relay = Relay::new(RelayConfig {
        allow_new_queues: true,
        create_password: Some(b"pass".to_vec()),
        ..RelayConfig::default()
    })
    .unwrap();
    let mut c = client(&relay);
    let (rk_pub, rk) = generate(KeyAlgorithm::Ed25519).unwrap();
    let dh_pub = generate(KeyAlgorithm::X25519).unwrap().0;
    let new = |auth: Option<&[u8]>, request| {
        Command::New(NewQueue {
            rcv_auth_key: rk_pub.clone(),
            rcv_dh_key: dh_pub.clone(),
            basic_auth: auth.map(<[u8]>::to_vec),
            subscribe: false,
            request,
            ntf_creds: None,
        })
    };
    assert_eq!(
        c.one(&relay, Some(&rk), b"", &new(None, None)),
        err(ErrorType::Auth)
    );
    assert_eq!(
        c.one(&relay, Some(&rk), b"", &new(Some(b"nope"), None)),
        err(ErrorType::Auth)
    );
    assert!(matches!(
        c.one(&relay, Some(&rk), b"", &new(Some(b"pass"), None)),
        BrokerMsg::Ids(_)
    ));
    // Signed by another key than the one it registers: AUTH.
    let other = generate(KeyAlgorithm::Ed25519).unwrap().1;
    assert_eq!(
        c.one(&relay, Some(&other), b"", &new(Some(b"pass"), None)),
        err(ErrorType::Auth)
    );
    // A client-chosen sender id must be SHA3-384(corrId)[..24].
    let link = smp_proto::command::LinkData {
        fixed: vec![1; 10],
        user: vec![],
    };
    let bad = new(
        Some(b"pass"),
        Some(QueueRequest::Messaging(Some((vec![9; 24], link.clone())))),
    );
    assert_eq!(
        c.one(&relay, Some(&rk), b"", &bad),
        err(ErrorType::Cmd(CommandError::Prohibited))
    );
    let next_corr = corr_id(c.corr + 1);
    let sid = simplex_crypto::digest::sha3_384(&next_corr).unwrap()[..24].to_vec();
    let good = new(
        Some(b"pass"),
        Some(QueueRequest::Messaging(Some((sid.clone(), link)))),
    );
    match c.one(&relay, Some(&rk), b"", &good) {
        BrokerMsg::Ids(ids) => {
            assert_eq!(ids.snd_id, sid);
            assert!(
                ids.link_id.is_some(),
                "the relay picks the link id of a messaging queue"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn every_server_syntax_case_of_the_reference_is_answered_byte_for_byte() {
    let path = format!(
        "{}/../testdata/smp/server_syntax.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let relay = Relay::new(RelayConfig::default()).unwrap();
    let c = client(&relay);
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 31);
    for case in cases {
        let name = format!("{} / {}", case["group"], case["name"]);
        let req = hex::decode(case["request"]["transmissionHex"].as_str().unwrap()).unwrap();
        let t = Transmission::decode(&req, V).unwrap();
        let out = relay.handle(&c.conn, &t).0;
        assert_eq!(out.len(), 1, "{name}");
        let resp = Transmission {
            corr_id: out[0].corr_id.clone(),
            entity_id: out[0].entity_id.clone(),
            command: out[0].msg.encode(V).unwrap(),
            ..Transmission::default()
        };
        assert_eq!(
            hex::encode(resp.encode(V).unwrap()),
            case["response"]["transmissionHex"].as_str().unwrap(),
            "{name}"
        );
    }
}

#[test]
fn after_the_shutdown_snapshot_nothing_changing_messages_is_acknowledged() {
    let relay = Relay::new(RelayConfig::default()).unwrap();
    let (mut r, mut s) = (client(&relay), client(&relay));
    let q = new_queue(&relay, &mut r, false, KeyAlgorithm::Ed25519);
    assert_eq!(
        s.one(&relay, None, &q.snd_id, &send(b"kept")),
        BrokerMsg::Ok
    );
    let lines = relay.close_and_snapshot_messages();
    assert_eq!(lines.len(), 1);
    assert!(lines[0].starts_with("v3 "), "{}", lines[0]);
    // A SEND or an ACK now would not be in the snapshot: refused, not acknowledged.
    assert_eq!(
        s.one(&relay, None, &q.snd_id, &send(b"late")),
        err(ErrorType::Internal)
    );
    assert_eq!(
        r.one(&relay, Some(&q.rcv_key), &q.rcv_id, &Command::Sub),
        err(ErrorType::Internal)
    );
    // The snapshot restores into a relay with the same queues.
    let again = Relay::new(RelayConfig::default()).unwrap();
    let (restored, skipped) = again.restore_messages(lines.iter().map(String::as_str));
    assert_eq!(
        (restored, skipped.len()),
        (0, 1),
        "no such queue in an empty relay"
    );
}

static NOW: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(1_700_000_000);

fn test_clock() -> i64 {
    NOW.load(std::sync::atomic::Ordering::SeqCst)
}

#[test]
fn messages_expire_after_the_ttl_on_send_and_in_the_sweep() {
    let config = RelayConfig {
        message_ttl: Some(21 * 86_400),
        ..RelayConfig::default()
    };
    let store = smp_server::storelog::QueueStore::default();
    let relay = Relay::with_store(config, store, None, test_clock).unwrap();
    let mut c = client(&relay);
    let q = new_queue(&relay, &mut c, false, KeyAlgorithm::Ed25519);
    for b in [&b"old 1"[..], b"old 2"] {
        assert_eq!(c.one(&relay, None, &q.snd_id, &send(b)), BrokerMsg::Ok);
    }
    NOW.fetch_add(10 * 86_400, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        c.one(&relay, None, &q.snd_id, &send(b"newer")),
        BrokerMsg::Ok
    );
    // 22 days after the first two: the next SEND drops them first.
    NOW.fetch_add(12 * 86_400, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(c.one(&relay, None, &q.snd_id, &send(b"new")), BrokerMsg::Ok);
    let first = c.one(&relay, Some(&q.rcv_key), &q.rcv_id, &Command::Get);
    assert!(open_msg(&q, &first).1.ends_with(b"newer"));
    // The sweep drops "newer" 21 days after it was sent, and keeps "new".
    NOW.fetch_add(10 * 86_400, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(relay.expire_messages(test_clock() - 21 * 86_400), (1, 1));
    // The GET's message is gone: its ACK is still OK (as in the reference), the next GET
    // gets "new".
    let id = open_msg(&q, &first).0;
    assert_eq!(
        c.one(&relay, Some(&q.rcv_key), &q.rcv_id, &Command::Ack(id)),
        BrokerMsg::Ok
    );
    let next = c.one(&relay, Some(&q.rcv_key), &q.rcv_id, &Command::Get);
    assert!(open_msg(&q, &next).1.ends_with(b"new"));
}

/// QUE (the reference's `QueueInfo` JSON): secured or not, the asking connection's
/// subscription with the message delivered to it, the messages stored and the first of them;
/// another connection sees no subscription of its own.
#[test]
fn que_tells_the_queue_its_subscription_and_its_first_message() {
    let relay = Relay::new(RelayConfig::default()).unwrap();
    let (mut r, mut other, mut s) = (client(&relay), client(&relay), client(&relay));
    let q = new_queue(&relay, &mut r, false, KeyAlgorithm::Ed25519);
    let info = |c: &mut Client| -> serde_json::Value {
        match c.one(&relay, Some(&q.rcv_key), &q.rcv_id, &Command::Que) {
            BrokerMsg::Info(json) => serde_json::from_slice(&json).unwrap(),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(
        info(&mut r),
        serde_json::json!({"qiSnd": false, "qiNtf": false, "qiSize": 0})
    );
    assert_eq!(s.one(&relay, None, &q.snd_id, &send(b"one")), BrokerMsg::Ok);
    assert_eq!(s.one(&relay, None, &q.snd_id, &send(b"two")), BrokerMsg::Ok);
    let out = r.run(&relay, Some(&q.rcv_key), &q.rcv_id, &Command::Sub);
    let (id, _) = open_msg(&q, &out[1].msg);
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&id);
    let v = info(&mut r);
    assert_eq!(
        v["qiSub"],
        serde_json::json!({"qSubThread": "subThread", "qDelivered": b64})
    );
    assert_eq!(v["qiSize"], 2);
    assert_eq!(v["qiMsg"]["msgId"], b64.as_str());
    assert_eq!(v["qiMsg"]["msgType"], "message");
    let ts = v["qiMsg"]["msgTs"].as_str().unwrap();
    assert!(ts.ends_with('Z') && ts.len() >= 20, "{ts}");
    assert!(v.get("qiSub").is_some());
    // Another connection with the key: the queue, without a subscription of its own.
    let v = info(&mut other);
    assert!(v.get("qiSub").is_none(), "{v}");
    assert_eq!(v["qiSize"], 2);
    // Acknowledged: the next message is the first.
    let next = r.one(
        &relay,
        Some(&q.rcv_key),
        &q.rcv_id,
        &Command::Ack(id.clone()),
    );
    let (id2, _) = open_msg(&q, &next);
    let v = info(&mut r);
    assert_eq!(v["qiSize"], 1);
    assert_eq!(
        v["qiMsg"]["msgId"],
        base64::engine::general_purpose::STANDARD
            .encode(&id2)
            .as_str()
    );
}
