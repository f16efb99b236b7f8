//! smp-proto against the reference vectors in `testdata/smp/` (copies of the shared vectors,
//! from simplexmq 6.5.5's test suite): the batch counts of BatchingTests with transmissions
//! built by our encoder, and the framing of every serverSyntaxTests request and response.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use serde_json::Value;
use smp_proto::block::{decode_content, encode_content};
use smp_proto::{pack, AuthKind, BrokerMsg, Command, ErrorType, Packed, Transmission};

fn json(name: &str) -> Value {
    let p = format!("{}/../testdata/smp/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn hx(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

/// A transmission of the kind a batching case names, as our encoder writes it.
fn transmission(kind: &str, v: u16) -> Transmission {
    let id = vec![0x11; 24];
    let corr = vec![0x22; 24];
    let session_id = vec![0x33; 32];
    let with_body = |tag: &[u8], n: usize| [tag, &vec![b'x'; n][..]].concat();
    match kind {
        "SUB" => Transmission {
            authorization: vec![1; 64],
            session_id,
            corr_id: corr,
            entity_id: id,
            command: b"SUB".to_vec(),
            ..Transmission::default()
        },
        // v18 senders use the X25519 authenticator, v6 ones an Ed25519 signature.
        "SEND(8000)" | "SEND(8000-byte body)" | "SEND(17000)" => Transmission {
            authorization: vec![1; if v >= 7 { 80 } else { 64 }],
            session_id,
            corr_id: corr,
            entity_id: id,
            command: with_body(b"SEND F ", if kind == "SEND(17000)" { 17000 } else { 8000 }),
            ..Transmission::default()
        },
        "END" => Transmission {
            entity_id: id,
            command: b"END".to_vec(),
            ..Transmission::default()
        },
        "NMSG" => Transmission {
            entity_id: id,
            command: [&b"NMSG "[..], &[7; 24], &[144], &[9; 144]].concat(),
            ..Transmission::default()
        },
        "SOK" => Transmission {
            corr_id: corr,
            entity_id: id,
            command: b"SOK 0".to_vec(),
            ..Transmission::default()
        },
        "MSG(16048)" => Transmission {
            corr_id: corr,
            entity_id: id,
            command: [&b"MSG "[..], &[24], &[5; 24], &vec![6; 16048]].concat(),
            ..Transmission::default()
        },
        other => panic!("unknown kind {other}"),
    }
}

#[test]
fn transmission_sizes_match_the_reference_formulas() {
    let v = json("batching.json");
    let sizes = &v["transmissionSizes"]["bytes"];
    let large =
        |kind: &str, version: u16| transmission(kind, version).encode(version).unwrap().len() + 2;
    let expect = |key: &str| sizes[key].as_u64().unwrap() as usize;
    assert_eq!(large("SUB", 18), expect("SUB v18 (Ed25519 signature)"));
    assert_eq!(
        large("SUB", 6),
        expect("SUB v6 (Ed25519 signature, session id sent)")
    );
    assert_eq!(
        large("SEND(8000)", 18),
        expect("SEND 8000 v18 (X25519 authenticator)")
    );
    assert_eq!(large("SEND(8000)", 6), expect("SEND 8000 v6 (Ed25519)"));
    assert_eq!(large("SEND(17000)", 18), expect("SEND 17000 v18"));
    assert_eq!(large("SEND(17000)", 6), expect("SEND 17000 v6"));
    assert_eq!(large("END", 18), expect("END v18 (server push)"));
    assert_eq!(large("NMSG", 18), expect("NMSG v18 (server push)"));
    assert_eq!(
        large("SOK", 18),
        expect("SOK v18 (response, no service id)")
    );
    assert_eq!(
        large("MSG(16048)", 18),
        expect("MSG v18 with 16048-byte body (response)")
    );
}

#[test]
fn batches_have_the_reference_counts() {
    let v = json("batching.json");
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 12);
    for c in cases {
        let version = c["version"].as_u64().unwrap() as u16;
        let input = c["input"].as_str().unwrap();
        let mut encoded = Vec::new();
        for part in input.split(", ") {
            let (n, kind) = match part.split_once(" x ") {
                Some((n, kind)) => (n.parse::<usize>().unwrap(), kind),
                None => (1, part),
            };
            let t = transmission(kind, version).encode(version).unwrap();
            encoded.extend(std::iter::repeat_n(t, n));
        }
        let lengths: Vec<usize> = encoded.iter().map(Vec::len).collect();
        let got: Vec<Value> = pack(&lengths)
            .into_iter()
            .map(|p| match p {
                Packed::Block { count, .. } => Value::from(count),
                Packed::TooLarge(_) => Value::from("TELargeMsg"),
            })
            .collect();
        assert_eq!(
            Value::from(got),
            c["expectedBatches"],
            "{input} at v{version}"
        );
        // Every block built from the plan holds its transmissions and fits once encrypted.
        for p in pack(&lengths) {
            if let Packed::Block { first, count } = p {
                let content = encode_content(&encoded[first..first + count]).unwrap();
                assert!(content.len() + 2 + 16 <= 16384, "{input}");
                assert_eq!(decode_content(&content).unwrap().len(), count);
            }
        }
    }
}

#[test]
fn server_syntax_requests_and_responses_frame_byte_for_byte() {
    let v = json("server_syntax.json");
    assert_eq!(v["protocolVersion"]["negotiated"], 18);
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 31);
    for c in cases {
        let name = format!("{} / {}", c["group"], c["name"]);
        let req = &c["request"];
        // The block holds exactly this one transmission.
        let content = hx(&req["blockUnpaddedHex"]);
        let items = decode_content(&content).unwrap();
        assert_eq!(items, [hx(&req["transmissionHex"])], "{name}");
        let t = Transmission::decode(items[0], 18).unwrap();
        assert_eq!(
            t.corr_id,
            req["corrId"].as_str().unwrap().as_bytes(),
            "{name}"
        );
        assert_eq!(
            t.entity_id,
            req["entityId"].as_str().unwrap().as_bytes(),
            "{name}"
        );
        assert_eq!(t.command, hx(&req["commandHex"]), "{name}");
        let kind = t.auth_kind().unwrap();
        match req["authorization"].as_str().unwrap() {
            "none" => assert_eq!(kind, AuthKind::None, "{name}"),
            "sampleSig" => assert_eq!(kind, AuthKind::Signature, "{name}"),
            other => panic!("{name}: authorization {other}"),
        }
        assert_eq!(t.encode(18).unwrap(), hx(&req["transmissionHex"]), "{name}");
        assert_eq!(encode_content(&[t.encode(18).unwrap()]).unwrap(), content);

        // The response: empty authorization, corrId and entity echoed.
        let resp = &c["response"];
        let r = Transmission {
            corr_id: resp["corrId"].as_str().unwrap().as_bytes().to_vec(),
            entity_id: resp["entityId"].as_str().unwrap().as_bytes().to_vec(),
            command: resp["command"].as_str().unwrap().as_bytes().to_vec(),
            ..Transmission::default()
        };
        let bytes = r.encode(18).unwrap();
        assert_eq!(bytes, hx(&resp["transmissionHex"]), "{name}");
        assert_eq!(
            encode_content(&[&bytes]).unwrap(),
            hx(&resp["blockUnpaddedHex"]),
            "{name}"
        );
        assert_eq!(Transmission::decode(&bytes, 18).unwrap(), r);
    }
}

/// What a relay with no queues answers, as the reference's serverSyntaxTests expect: parse
/// errors and credential errors first, PONG for PING, AUTH for everything else.
fn answer_without_queues(t: &Transmission) -> BrokerMsg {
    let has_auth = t.auth_kind().unwrap() != AuthKind::None;
    match Command::parse(18, &t.command).and_then(|c| {
        c.check_credentials(has_auth, &t.entity_id)?;
        Ok(c)
    }) {
        Err(e) => BrokerMsg::Err(e),
        Ok(Command::Ping) => BrokerMsg::Pong,
        Ok(_) => BrokerMsg::Err(ErrorType::Auth),
    }
}

#[test]
fn server_syntax_answers_come_from_parsing_and_credentials() {
    let v = json("server_syntax.json");
    for c in v["cases"].as_array().unwrap() {
        let name = format!("{} / {}", c["group"], c["name"]);
        let t = Transmission::decode(&hx(&c["request"]["transmissionHex"]), 18).unwrap();
        let answer = answer_without_queues(&t);
        assert_eq!(
            answer.encode(18).unwrap(),
            c["response"]["command"].as_str().unwrap().as_bytes(),
            "{name}"
        );
        // What parses re-encodes to the same bytes.
        if let Ok(cmd) = Command::parse(18, &t.command) {
            assert_eq!(cmd.encode(18).unwrap(), t.command, "{name}");
        }
        // And the client side reads the answer back.
        let resp = c["response"]["command"].as_str().unwrap().as_bytes();
        assert_eq!(BrokerMsg::parse(18, resp), Some(answer), "{name}");
    }
}

#[test]
fn hellos_of_the_reference_test_client_and_server() {
    use smp_proto::handshake::{ClientHello, ServerHello};
    let v = json("encoding.json");
    let h = &v["handshake"];
    // The key hash is the SHA-256 of the whole CA certificate's DER.
    let ca = std::fs::read(format!(
        "{}/../testdata/xftp/certs/ca.crt",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let ca = pem_to_der(&ca);
    assert_eq!(
        simplex_crypto::digest::sha256(&ca).to_vec(),
        hx(&h["keyHash"]["hex"])
    );
    let hello = &h["testClientHello"];
    let content = hx(&hello["contentHex"]);
    let parsed = ClientHello::decode(&content).unwrap();
    assert_eq!(parsed.version, 18);
    assert_eq!(parsed.key_hash, hx(&h["keyHash"]["hex"]));
    assert_eq!(parsed.session_key, None, "the test client sends no key");
    assert!(!parsed.proxy_server && parsed.service.is_none());
    assert!(!parsed.encrypts_blocks());
    assert_eq!(parsed.encode().unwrap(), content);

    // The server hello: range, session id, then the chain [server.crt, ca.crt] and the key.
    let s = &h["testServerHelloPrefix"];
    let chain = hx(&s["certChainHex"]);
    let session_id = vec![0xab; 32];
    let signed_key = vec![0xcd; 120];
    let mut content = vec![0, 6, 0, 18, 32];
    content.extend_from_slice(&session_id);
    content.extend_from_slice(&chain);
    content.extend_from_slice(&[0, 120]);
    content.extend_from_slice(&signed_key);
    let hello = ServerHello::decode(&content).unwrap();
    let (certs, key) = hello.auth.clone().unwrap();
    assert_eq!(certs.len(), 2);
    assert_eq!(
        certs[0].len() as u64,
        s["serverCrtDerLength"].as_u64().unwrap()
    );
    assert_eq!(certs[1].len() as u64, s["caCrtDerLength"].as_u64().unwrap());
    assert_eq!(certs[1], ca, "the chain ends with the CA of the key hash");
    assert_eq!(key, signed_key);
    assert_eq!(hello.encode().unwrap(), content);
}

/// The DER inside a PEM file (base64 between the armour lines).
fn pem_to_der(pem: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let text = std::str::from_utf8(pem).unwrap();
    let b64: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap()
}
