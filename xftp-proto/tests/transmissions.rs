//! Commands, signed transmission blocks, responses and handshake messages against
//! `testdata/xftp/protocol.json`, byte for byte.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use simplex_crypto::{KeyAlgorithm, PrivateKey, PublicKey};
use xftp_proto::command::{CmdError, Command, FileInfo, Response, XftpError};
use xftp_proto::handshake::{ClientHandshake, ClientHello, VersionRange};
use xftp_proto::{Transmission, XFTP_BLOCK_SIZE};

fn json() -> serde_json::Value {
    let p = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../testdata/xftp/protocol.json"
    );
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn hex(v: &serde_json::Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

struct Keys {
    sender: PrivateKey,
    sender_pub: PublicKey,
    recipient_pub: PublicKey,
    x25519_pub: PublicKey,
}

fn keys(p: &serde_json::Value) -> Keys {
    let ed = &p["ed25519"];
    Keys {
        sender: PrivateKey::from_raw(KeyAlgorithm::Ed25519, &hex(&ed["senderSeedHex"])).unwrap(),
        sender_pub: PublicKey::from_der(&hex(&ed["senderPubDerHex"])).unwrap(),
        recipient_pub: PublicKey::from_der(&hex(&ed["recipientPubDerHex"])).unwrap(),
        x25519_pub: PublicKey::from_der(&hex(&p["x25519"]["aPubDerHex"])).unwrap(),
    }
}

#[test]
fn ed25519_is_deterministic_and_matches() {
    let p = json();
    let k = keys(&p);
    assert_eq!(simplex_crypto::public_key(&k.sender).unwrap(), k.sender_pub);
    let sig = simplex_crypto::sign(&k.sender, b"abc").unwrap();
    assert_eq!(sig, hex(&p["ed25519"]["signatureOfAbcHex"]));
    assert!(simplex_crypto::verify(&k.sender_pub, b"abc", &sig));
}

#[test]
fn x25519_shared_secret() {
    let p = json();
    let x = &p["x25519"];
    let a = PrivateKey::from_raw(KeyAlgorithm::X25519, &hex(&x["aPrivHex"])).unwrap();
    let b = PrivateKey::from_raw(KeyAlgorithm::X25519, &hex(&x["bPrivHex"])).unwrap();
    assert_eq!(
        simplex_crypto::public_key(&b).unwrap().raw(),
        hex(&x["bPubHex"])
    );
    let b_pub = PublicKey::from_raw(KeyAlgorithm::X25519, &hex(&x["bPubHex"])).unwrap();
    assert_eq!(
        simplex_crypto::dh(&a, &b_pub).unwrap(),
        hex(&x["dhSecretHex"])
    );
    let a_pub = simplex_crypto::public_key(&a).unwrap();
    assert_eq!(
        simplex_crypto::dh(&b, &a_pub).unwrap(),
        hex(&x["dhSecretHex"])
    );
}

#[test]
fn every_command_and_signed_block() {
    let p = json();
    let k = keys(&p);
    let t = &p["transmission"];
    assert_eq!(t["blockSize"], XFTP_BLOCK_SIZE);
    let session_id = hex(&t["sessionIdHex"]);
    let corr_id = hex(&t["corrIdHex"]);
    let entity_id = hex(&t["entityIdHex"]);
    let digest: Vec<u8> = (0..32).map(|i| 255 - i as u8).collect();
    let info = FileInfo {
        sender_key: k.sender_pub.clone(),
        size: 4 * 1024 * 1024,
        digest,
    };
    let mut seen = 0;
    for case in t["cases"].as_array().unwrap() {
        let name = case["command"].as_str().unwrap();
        let cmd = match name {
            "FNEW_noauth" => Command::New {
                info: info.clone(),
                recipient_keys: vec![k.recipient_pub.clone()],
                basic_auth: None,
            },
            "FNEW_auth" => Command::New {
                info: info.clone(),
                recipient_keys: vec![k.recipient_pub.clone(), k.sender_pub.clone()],
                basic_auth: Some(b"server_password".to_vec()),
            },
            "FADD" => Command::Add {
                recipient_keys: vec![k.recipient_pub.clone()],
            },
            "FPUT" => Command::Put,
            "FDEL" => Command::Del,
            "FGET" => Command::Get {
                dh_key: k.x25519_pub.clone(),
            },
            "PING" => Command::Ping,
            other => panic!("unexpected vector {other}"),
        };
        let bytes = hex(&case["commandHex"]);
        assert_eq!(cmd.encode().unwrap(), bytes, "{name}: command bytes");
        assert_eq!(Command::decode(&bytes).unwrap(), cmd, "{name}: decode");

        let entity = match cmd {
            Command::New { .. } | Command::Ping => Vec::new(),
            _ => entity_id.clone(),
        };
        let mut tr = Transmission {
            authenticator: Vec::new(),
            session_id: session_id.clone(),
            corr_id: corr_id.clone(),
            entity_id: entity,
            command: bytes,
        };
        if cmd != Command::Ping {
            tr.authenticator =
                simplex_crypto::sign(&k.sender, &tr.signed_bytes().unwrap()).unwrap();
        }
        let batch = tr.encode_batch().unwrap();
        assert_eq!(batch, hex(&case["blockUnpaddedHex"]), "{name}: block");
        let block = tr.encode_block().unwrap();
        assert_eq!(block.len(), case["blockLen"].as_u64().unwrap() as usize);
        assert_eq!(&block[..2], &(batch.len() as u16).to_be_bytes());
        assert!(block[2 + batch.len()..].iter().all(|&b| b == b'#'));
        let back = Transmission::decode_block(&block).unwrap();
        assert_eq!(back, tr);
        if cmd != Command::Ping {
            assert!(simplex_crypto::verify(
                &k.sender_pub,
                &back.signed_bytes().unwrap(),
                &back.authenticator
            ));
        }
        seen += 1;
    }
    assert_eq!(seen, 7);
}

#[test]
fn responses() {
    let p = json();
    let ex = p["responses"]["examples"].as_array().unwrap();
    let expect = [
        Response::Ok,
        Response::Err(XftpError::Auth),
        Response::Err(XftpError::Cmd(CmdError::Syntax)),
        Response::Sids {
            sender_id: hex(&p["transmission"]["entityIdHex"]),
            recipient_ids: vec![(0..24).collect(), (0..24).map(|i| i * 2).collect()],
        },
    ];
    assert_eq!(ex.len(), expect.len());
    for (case, want) in ex.iter().zip(expect) {
        let bytes = hex(&case["hex"]);
        assert_eq!(Response::decode(&bytes).unwrap(), want);
        assert_eq!(want.encode().unwrap(), bytes);
    }
}

#[test]
fn handshake_encodings() {
    let p = json();
    let h = &p["handshake"];
    let key_hash: Vec<u8> = (0..32).collect();
    let ch = ClientHandshake {
        version: 3,
        key_hash,
    };
    assert_eq!(ch.encode().unwrap(), hex(&h["clientHandshakeV3Unpadded"]));
    assert_eq!(
        ClientHandshake::decode_block(&ch.encode_block().unwrap()).unwrap(),
        ch
    );
    // A padded hello without a challenge is the Maybe tag '0'.
    let plain =
        simplex_codec::encoding::pad(&hex(&h["clientHelloNoWebHex"]), XFTP_BLOCK_SIZE).unwrap();
    assert_eq!(ClientHello::decode(&plain).unwrap(), ClientHello::Plain);
    assert_eq!(ClientHello::decode(&[]).unwrap(), ClientHello::Plain);
    let web = ClientHello::Web([5; 32]).encode().unwrap();
    assert_eq!(
        web.len(),
        h["clientHelloWebPaddedLen"].as_u64().unwrap() as usize
    );
    assert_eq!(
        ClientHello::decode(&web).unwrap(),
        ClientHello::Web([5; 32])
    );
    let mut vr = Vec::new();
    for v in [1u16, 3] {
        vr.extend(v.to_be_bytes());
    }
    assert_eq!(vr, hex(&h["versionRange1to3Hex"]));
    assert_eq!(
        VersionRange { min: 1, max: 3 }.highest_common(VersionRange { min: 1, max: 3 }),
        Some(3)
    );
}
