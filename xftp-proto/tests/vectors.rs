//! xftp-proto against the reference vectors in `testdata/xftp/`, byte for byte.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::path::PathBuf;

use simplex_codec::encoding::{put_large, Large, NonEmpty, ShortString};
use simplex_codec::{base64url, Decode, Encode};
use simplex_crypto::{KeyAlgorithm, PrivateKey, PublicKey};
use xftp_proto::description::{decode_web_link, encode_web_link};
use xftp_proto::size::{encode_file_size, parse_file_size};
use xftp_proto::{FileDescription, FileParty, ServerAddress, ValidFileDescription, XftpServer};

fn testdata(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/xftp")
        .join(name)
}

fn json(name: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(testdata(name)).unwrap()).unwrap()
}

fn hex(v: &serde_json::Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("valid hex")
}

#[test]
fn key_der_encodings() {
    let p = json("protocol.json");
    let ed = &p["ed25519"];
    let sender_pub = PublicKey::from_raw(KeyAlgorithm::Ed25519, &hex(&ed["senderPubHex"])).unwrap();
    assert_eq!(sender_pub.to_der(), hex(&ed["senderPubDerHex"]));
    assert_eq!(
        PublicKey::from_der(&hex(&ed["senderPubDerHex"])).unwrap(),
        sender_pub
    );
    let sender_priv =
        PrivateKey::from_raw(KeyAlgorithm::Ed25519, &hex(&ed["senderSeedHex"])).unwrap();
    assert_eq!(sender_priv.to_der(), hex(&ed["senderPrivDerHex"]));
    let rcv_priv = PrivateKey::from_der(&hex(&ed["recipientPrivDerHex"])).unwrap();
    assert_eq!(rcv_priv.raw(), hex(&ed["recipientSeedHex"]));
    let rcv_pub = PublicKey::from_der(&hex(&ed["recipientPubDerHex"])).unwrap();
    assert_eq!(rcv_pub.algorithm(), KeyAlgorithm::Ed25519);

    let x = &p["x25519"];
    let a_pub = PublicKey::from_raw(KeyAlgorithm::X25519, &hex(&x["aPubHex"])).unwrap();
    assert_eq!(a_pub.to_der(), hex(&x["aPubDerHex"]));
    let a_priv = PrivateKey::from_raw(KeyAlgorithm::X25519, &hex(&x["aPrivHex"])).unwrap();
    assert_eq!(a_priv.to_der(), hex(&x["aPrivDerHex"]));
    assert_eq!(
        PrivateKey::from_der(&hex(&x["aPrivDerHex"]))
            .unwrap()
            .algorithm(),
        KeyAlgorithm::X25519
    );

    // The keys inside the command vectors are these DER encodings as shortStrings.
    let fget = p["transmission"]["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["command"] == "FGET")
        .unwrap();
    let mut expected = b"FGET ".to_vec();
    a_pub.encode(&mut expected).unwrap();
    assert_eq!(hex(&fget["commandHex"]), expected);
    let fadd = p["transmission"]["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["command"] == "FADD")
        .unwrap();
    let mut expected = b"FADD ".to_vec();
    NonEmpty(vec![rcv_pub]).encode(&mut expected).unwrap();
    assert_eq!(hex(&fadd["commandHex"]), expected);
}

#[test]
fn primitive_encodings() {
    let p = json("protocol.json");
    let e = &p["encoding"];
    assert_eq!("hello".to_bytes().unwrap(), hex(&e["stringHello"]));
    let mut large = Vec::new();
    put_large(&mut large, &[7u8; 300]).unwrap();
    assert_eq!(large[..2], hex(&e["bytes300Prefix"])[..]);
    assert_eq!(Large::from_bytes(&large).unwrap().0.len(), 300);
    assert_eq!(
        1_000_000_000_000i64.to_bytes().unwrap(),
        hex(&e["int64_1e12"])
    );
    assert_eq!(513u16.to_bytes().unwrap(), hex(&e["word16_513"]));
    assert_eq!(65536u32.to_bytes().unwrap(), hex(&e["word32_65536"]));
    assert_eq!(
        None::<ShortString>.to_bytes().unwrap(),
        hex(&e["maybeNothing"])
    );
    let just = Some(ShortString(b"AB".to_vec()));
    assert_eq!(just.to_bytes().unwrap(), hex(&e["maybeJustAB"]));
    assert_eq!(
        Option::<ShortString>::from_bytes(&hex(&e["maybeJustAB"])).unwrap(),
        just
    );
    assert_eq!(true.to_bytes().unwrap(), hex(&e["boolTrue"]));
    assert_eq!(
        i64::from_bytes(&hex(&e["int64_1e12"])).unwrap(),
        1_000_000_000_000
    );
    let vr = hex(&p["handshake"]["versionRange1to3Hex"]);
    let mut ours = 1u16.to_bytes().unwrap();
    ours.extend(3u16.to_bytes().unwrap());
    assert_eq!(ours, vr);
}

#[test]
fn size_strings() {
    let d = json("description.json");
    for case in d["fileSizes"].as_array().unwrap() {
        let bytes = case["bytes"].as_u64().unwrap();
        let text = case["text"].as_str().unwrap();
        assert_eq!(encode_file_size(bytes), text);
        assert_eq!(parse_file_size(text), Some(bytes));
    }
}

#[test]
fn server_addresses() {
    let d = json("description.json");
    for case in d["addresses"].as_array().unwrap() {
        let input = case["input"].as_str().unwrap();
        let a: ServerAddress = input.parse().unwrap();
        assert_eq!(a.server.key_hash, hex(&case["keyHashHex"]));
        assert_eq!(a.server.host().to_string(), case["host"].as_str().unwrap());
        assert_eq!(
            a.server.port_number().to_string(),
            case["port"].as_str().unwrap()
        );
        assert_eq!(
            a.server.primary_address(),
            case["formatted"].as_str().unwrap()
        );
        assert_eq!(a.to_string(), input, "the full form re-formats exactly");
        let s: XftpServer = input.parse().unwrap();
        assert_eq!(s, a.server);
    }
}

#[test]
fn description_yaml_round_trips_byte_for_byte() {
    for name in ["description.yaml", "reference_file_description.yaml"] {
        let text = std::fs::read_to_string(testdata(name)).unwrap();
        let desc = ValidFileDescription::from_yaml(&text).unwrap();
        assert_eq!(desc.to_yaml(), text, "{name}");
    }
}

#[test]
fn reference_fixture_decodes_to_the_expected_structure() {
    let text = std::fs::read_to_string(testdata("reference_file_description.yaml")).unwrap();
    let d = ValidFileDescription::from_yaml(&text).unwrap();
    assert_eq!(d.party, FileParty::Recipient);
    assert_eq!(d.size, 26 * 1024 * 1024);
    assert_eq!(d.chunk_size, 8 * 1024 * 1024);
    assert_eq!(d.digest, b"abc");
    assert_eq!(
        base64url::encode(&d.key.0),
        "00n8p1tJq5E-SGnHcYTOrS4A9I07gTA_WFD6MTFFFOY="
    );
    assert_eq!(
        base64url::encode(&d.nonce),
        "dPSF-wrQpDiK_K6sYv0BDBZ9S4dg-jmu"
    );
    let sizes: Vec<u64> = d.chunks.iter().map(|c| c.chunk_size).collect();
    let m = 1024 * 1024;
    assert_eq!(sizes, [8 * m, 8 * m, 8 * m, 2 * m]);
    let servers: Vec<Vec<String>> = d
        .chunks
        .iter()
        .map(|c| c.replicas.iter().map(|r| r.server.to_string()).collect())
        .collect();
    assert_eq!(
        servers,
        [
            ["xftp://abc=@example1.com", "xftp://abc=@example3.com"],
            ["xftp://abc=@example2.com", "xftp://abc=@example4.com"],
            ["xftp://abc=@example1.com", "xftp://abc=@example4.com"],
            ["xftp://abc=@example2.com", "xftp://abc=@example3.com"],
        ]
    );
    let key = &d.chunks[0].replicas[0].replica_key;
    assert_eq!(
        base64url::encode(&key.to_der()),
        "MC4CAQAwBQYDK2VwBCIEIDfEfevydXXfKajz3sRkcQ7RPvfWUPoq6pu1TYHV1DEe"
    );
    assert!(d.chunks.iter().all(|c| c.digest == b"ghi"));
}

#[test]
fn web_link_decodes_to_the_same_description() {
    let d = json("description.json");
    let yaml = std::fs::read_to_string(testdata("description.yaml")).unwrap();
    let expected = FileDescription::from_yaml(&yaml).unwrap();
    let uri = d["uri"].as_str().unwrap();
    // The vector is the bare base64url payload; links carry it after `https://host/#`.
    let link = format!("https://localhost/#{uri}");
    assert_eq!(decode_web_link(&link).unwrap(), expected);
    let unpadded = link.trim_end_matches('=').to_string();
    assert_eq!(decode_web_link(&unpadded).unwrap(), expected);
    // Our own links decode back too.
    let ours = encode_web_link(&expected).unwrap();
    assert!(ours.starts_with("https://localhost/#"), "{ours}");
    assert_eq!(decode_web_link(&ours).unwrap(), expected);
}
