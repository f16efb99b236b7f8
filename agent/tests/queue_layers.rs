//! The per-queue e2e layer and the agent envelopes against `testdata/agent/queue_layers.json`,
//! tied to the ratchet vectors: Bob's confirmation carries his X3DH keys and the B1 ratchet
//! message, his message B2, Alice's confirmation A1; B1's plaintext carries his reply queue.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use agent::envelope::{self, AgentMessage, Envelope, PrivHeader};
use agent::links::{ConnectionRequest, QueueMode, RequestKind};
use serde_json::Value;
use simplex_crypto::SbKey;

mod common;
use common::{hx, key};

fn load(name: &str) -> Value {
    common::load(&format!("agent/{name}"))
}

fn ratchet_message(ratchet: &Value, id: &str) -> Value {
    ratchet["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == id)
        .unwrap()
        .clone()
}

#[test]
fn send_bodies_envelopes_and_the_reply_queue() {
    let q = load("queue_layers.json");
    let r = load("ratchet_v3.json");
    // Queue A: Alice receives with her per-queue key, Bob sends with his.
    let (alice_a_pub, alice_a) = key(&q, "e2e/alice/queue-a-e2e-dh");
    let (bob_a_pub, bob_a) = key(&q, "e2e/bob/queue-a-e2e-dh");
    let secret_a = simplex_crypto::cryptobox::shared_key(&bob_a, &alice_a_pub).unwrap();
    assert_eq!(
        simplex_crypto::cryptobox::shared_key(&alice_a, &bob_a_pub).unwrap(),
        secret_a
    );
    // Queue B: Bob's reply queue, Alice sends.
    let (bob_b_pub, _) = key(&q, "v3/bob/reply-queue-e2e-dh");
    let (alice_b_pub, alice_b) = key(&q, "e2e/alice/queue-b-e2e-dh");
    let secret_b = simplex_crypto::cryptobox::shared_key(&alice_b, &bob_b_pub).unwrap();

    let (bob_x1, _) = key(&r, "v3/bob/x3dh-1");

    for c in q["e2e"]["cases"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let (secret, sender_pub, ratchet_id) = match name {
            "bob-confirmation-to-queue-A" => (&secret_a, Some(&bob_a_pub), "B1"),
            "bob-message-B2-to-queue-A" => (&secret_a, None, "B2"),
            "alice-confirmation-to-queue-B" => (&secret_b, Some(&alice_b_pub), "A1"),
            n => panic!("{n}"),
        };
        assert_eq!(
            secret.as_bytes()[..],
            hx(&c["dhSecretHex"])[..],
            "{name}: secret"
        );
        let env_bytes = hx(&c["agentEnvelopeHex"]);
        let nonce: [u8; 24] = hx(&c["nonceHex"]).try_into().unwrap();
        let padded = c["clientMessagePaddedLen"].as_u64().unwrap() as usize;
        let version = c["clientVersion"].as_u64().unwrap() as u16;
        let body = envelope::seal(
            version,
            sender_pub,
            secret,
            &nonce,
            &PrivHeader::None,
            &env_bytes,
            padded,
        )
        .unwrap();
        assert_eq!(
            hex::encode(&body),
            c["sendBodyHex"].as_str().unwrap(),
            "{name}"
        );
        assert!(body.len() <= 16048, "fits SEND");

        // The recipient: the clear header gives the sender's key, the secret opens the rest.
        let (v, k) = envelope::public_header(&body).unwrap();
        assert_eq!((v, k.as_ref()), (version, sender_pub), "{name}: header");
        let opened = envelope::open(&body, secret).unwrap();
        assert_eq!(opened.envelope, env_bytes, "{name}: envelope");
        assert_eq!(opened.priv_header, PrivHeader::None);
        let wrong = SbKey::from_bytes([7; 32]);
        assert_eq!(
            envelope::open(&body, &wrong),
            Err(envelope::EnvelopeError::Decrypt)
        );

        // The envelope carries the ratchet message of the ratchet vectors.
        let env = Envelope::decode(&env_bytes).unwrap();
        assert_eq!(env.encode().unwrap(), env_bytes, "{name}: re-encoded");
        let ct = hx(&ratchet_message(&r, ratchet_id)["ciphertextHex"]);
        match (&env, name) {
            (Envelope::Confirmation { version, e2e, enc }, "bob-confirmation-to-queue-A") => {
                assert_eq!(*version, 7);
                let e2e = e2e.as_ref().unwrap();
                assert_eq!((e2e.version, &e2e.key1), (3, &bob_x1));
                assert_eq!(enc, &ct);
            }
            (Envelope::Confirmation { e2e: None, enc, .. }, "alice-confirmation-to-queue-B") => {
                assert_eq!(enc, &ct);
            }
            (Envelope::Message { enc, .. }, "bob-message-B2-to-queue-A") => {
                assert_eq!(enc, &ct);
            }
            (e, n) => panic!("{n}: {e:?}"),
        }
    }

    // B1's plaintext: Bob's reply queue and his connection info.
    let b1 = hx(&ratchet_message(&r, "B1")["plaintextHex"]);
    let msg = AgentMessage::decode(&b1).unwrap();
    assert_eq!(msg.encode().unwrap(), b1);
    let AgentMessage::ConnInfoReply(queues, _info) = &msg else {
        panic!("{msg:?}")
    };
    let mut reply = Vec::new();
    // Its binary queue info is the one the links vectors list.
    let want = hx(&q["links"]["bobReplyQueueInfoHex"]);
    reply.extend_from_slice(&b1[2..2 + want.len()]);
    assert_eq!(reply, want);
    assert_eq!(queues[0].mode, Some(QueueMode::Messaging));
    assert_eq!(queues[0].dh_key, bob_b_pub);

    // The invitation Alice published: queue A and her X3DH keys.
    let link = ConnectionRequest::parse(q["links"]["invitation"].as_str().unwrap()).unwrap();
    assert_eq!(link.to_uri(), q["links"]["invitation"].as_str().unwrap());
    let RequestKind::Invitation(e2e) = &link.kind else {
        panic!()
    };
    assert_eq!(e2e.to_text(), q["links"]["e2eParamsUri"].as_str().unwrap());
    assert_eq!(link.queues[0].sender_id, hx(&q["links"]["senderIdHex"]));
}

#[test]
fn bad_envelopes_are_typed_errors() {
    for bad in [
        &b""[..],
        b"\x00",
        b"\x00\x07",
        b"\x00\x07X",
        b"\x00\x07C2",
        b"\x00\x07I\x00\x05ab",
    ] {
        assert!(Envelope::decode(bad).is_err(), "{bad:?}");
    }
    for bad in [&b""[..], b"D\x00", b"D\x01\x00", b"M\x00\x00", b"Z"] {
        assert!(AgentMessage::decode(bad).is_err(), "{bad:?}");
    }
    let secret = SbKey::from_bytes([1; 32]);
    for bad in [&b""[..], b"\x00\x04", b"\x00\x040short", b"\x00\x042"] {
        assert!(envelope::open(bad, &secret).is_err(), "{bad:?}");
    }
}
