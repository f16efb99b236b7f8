//! The crypto crate against the byte-exact vectors in `testdata/` (copies of the shared
//! vectors): the XFTP transit encryption and X25519 agreement (`testdata/xftp/protocol.json`),
//! and the agent's primitives with fixed keys (`testdata/agent/`): X448 agreement, the X3DH
//! and chain HKDFs, AES-256-GCM with 16-byte IVs for ratchet headers and bodies, and the
//! crypto_box of the server-to-recipient layer.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use serde_json::Value;
use simplex_codec::encoding::pad;
use simplex_crypto::digest::sha256;
use simplex_crypto::transit::{self, TransitEncryptor};
use simplex_crypto::{aead, cryptobox, dh, hkdf::hkdf_sha512, SbNonce};
use simplex_crypto::{KeyAlgorithm, PrivateKey, PublicKey};

fn json(path: &str) -> Value {
    let p = format!("{}/../testdata/{path}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn hx(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

/// The content rule of the XFTP vectors: byte i = (i*31 + seed*7 + (i>>8)) mod 256.
fn pattern_seeded(len: usize, seed: usize) -> Vec<u8> {
    (0..len)
        .map(|i| ((i * 31 + seed * 7 + (i >> 8)) % 256) as u8)
        .collect()
}

/// A fixed key of a vector file, checked against its raw and DER forms.
fn fixed_key(file: &Value, label: &str) -> (PublicKey, PrivateKey) {
    let k = file["fixedKeys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["label"] == label)
        .unwrap_or_else(|| panic!("no key {label}"));
    let alg = match k["alg"].as_str().unwrap() {
        "X448" => KeyAlgorithm::X448,
        "X25519" => KeyAlgorithm::X25519,
        other => panic!("unexpected {other}"),
    };
    let private = PrivateKey::from_raw(alg, &hx(&k["privRawHex"])).unwrap();
    let public = PublicKey::from_raw(alg, &hx(&k["pubRawHex"])).unwrap();
    assert_eq!(
        simplex_crypto::public_key(&private).unwrap(),
        public,
        "{label}"
    );
    assert_eq!(private.to_der(), hx(&k["privPkcs8Hex"]), "{label} PKCS#8");
    assert_eq!(public.to_der(), hx(&k["pubSpkiHex"]), "{label} SPKI");
    (public, private)
}

#[test]
fn xftp_x25519_agreement_and_transit_encryption_of_a_chunk() {
    let v = json("xftp/protocol.json");
    let x = &v["x25519"];
    let a = PrivateKey::from_raw(KeyAlgorithm::X25519, &hx(&x["aPrivHex"])).unwrap();
    let b = PublicKey::from_raw(KeyAlgorithm::X25519, &hx(&x["bPubHex"])).unwrap();
    assert_eq!(dh(&a, &b).unwrap(), hx(&x["dhSecretHex"]));

    let t = &v["transportChunk"];
    assert_eq!(t["dhSecretHex"], x["dhSecretHex"]);
    let key = transit::key(&a, &b).unwrap();
    let nonce = SbNonce(hx(&t["nonceHex"]).try_into().unwrap());
    assert_eq!(
        t["plainRule"],
        "pattern(65536, seed 3) as in file_encryption"
    );
    let plain = pattern_seeded(65536, 3);
    assert_eq!(
        hex::encode(sha256(&plain)),
        t["plainSha256"].as_str().unwrap()
    );
    // The relay encrypts as it reads: pieces of any size give the vector's bytes.
    let mut enc = TransitEncryptor::new(&key, &nonce);
    let mut sealed = Vec::new();
    for piece in plain.chunks(10_000) {
        let mut p = piece.to_vec();
        enc.encrypt_in_place(&mut p);
        sealed.extend_from_slice(&p);
    }
    sealed.extend_from_slice(&enc.tag());
    assert_eq!(sealed.len() as u64, t["encryptedLen"].as_u64().unwrap());
    assert_eq!(
        hex::encode(sha256(&sealed)),
        t["encryptedSha256"].as_str().unwrap()
    );
    assert_eq!(
        hex::encode(&sealed[sealed.len() - 16..]),
        t["encryptedLast16Hex"].as_str().unwrap()
    );
    transit::open_in_place(&key, &nonce, &mut sealed).unwrap();
    assert_eq!(sealed, plain);
}

#[test]
fn x3dh_x448_agreement_and_hkdf() {
    let v = json("agent/ratchet_v3.json");
    let (a1_pub, a1) = fixed_key(&v, "v3/alice/x3dh-1");
    let (a2_pub, a2) = fixed_key(&v, "v3/alice/x3dh-2");
    let (b1_pub, b1) = fixed_key(&v, "v3/bob/x3dh-1");
    let (b2_pub, b2) = fixed_key(&v, "v3/bob/x3dh-2");
    let x = &v["x3dh"];
    // Bob joins: dh1 = DH(initiator k1, joiner k2), dh2 = DH(initiator k2, joiner k1),
    // dh3 = DH(initiator k2, joiner k2); Alice computes the mirror images.
    let dh1 = dh(&b2, &a1_pub).unwrap();
    let dh2 = dh(&b1, &a2_pub).unwrap();
    let dh3 = dh(&b2, &a2_pub).unwrap();
    assert_eq!(dh1, hx(&x["dh1Hex"]));
    assert_eq!(dh2, hx(&x["dh2Hex"]));
    assert_eq!(dh3, hx(&x["dh3Hex"]));
    assert_eq!(dh(&a1, &b2_pub).unwrap(), dh1);
    assert_eq!(dh(&a2, &b1_pub).unwrap(), dh2);
    let ikm = [dh1, dh2, dh3].concat();
    let out = hkdf_sha512(&[0u8; 64], &ikm, b"SimpleXX3DH", 96).unwrap();
    assert_eq!(out[..32], hx(&x["headerKeyHex"])[..]);
    assert_eq!(out[32..64], hx(&x["nextHeaderKeyHex"])[..]);
    assert_eq!(out[64..], hx(&x["rootKeyHex"])[..]);
    assert_eq!(
        hx(&x["assocDataHex"]),
        [b1_pub.raw(), a1_pub.raw()].concat(),
        "associated data = joiner k1 ++ initiator k1"
    );
}

#[test]
fn ratchet_chain_steps_and_aes_gcm_with_16_byte_ivs() {
    for file in ["agent/ratchet_v3.json", "agent/ratchet_v2_peer.json"] {
        let v = json(file);
        let ad = hx(&v["x3dh"]["assocDataHex"]);
        let header_len = v["paddedLengths"]["header"].as_u64().unwrap() as usize;
        let messages = v["messages"].as_array().unwrap();
        assert!(messages.len() >= 6, "{file}");
        for m in messages {
            let id = m["id"].as_str().unwrap();
            let s = &m["sender"];
            // Chain step: HKDF(empty salt, chain key) = chain key | message key | body IV |
            // header IV.
            let step = hkdf_sha512(
                &[],
                &hx(&s["chainKeyBeforeHex"]),
                b"SimpleXChainRatchet",
                96,
            )
            .unwrap();
            assert_eq!(step[..32], hx(&s["chainKeyAfterHex"])[..], "{file} {id}");
            assert_eq!(step[32..64], hx(&s["messageKeyHex"])[..], "{file} {id}");
            assert_eq!(step[64..80], hx(&s["bodyIvHex"])[..], "{file} {id}");
            assert_eq!(step[80..], hx(&s["headerIvHex"])[..], "{file} {id}");

            // Header: version(2) ‖ IV(16) ‖ tag(16) ‖ length (2 bytes in v3, 1 in v2) ‖ body.
            let enc_header = hx(&m["encHeaderHex"]);
            let (hk, hiv) = (hx(&s["headerKeyHex"]), hx(&s["headerIvHex"]));
            assert_eq!(enc_header[2..18], hiv[..]);
            let tag = &enc_header[18..34];
            let body_at = if enc_header[34] < 32 { 36 } else { 35 };
            let body = &enc_header[body_at..];
            let padded = pad(&hx(&m["headerPlainHex"]), header_len).unwrap();
            let (ct, t) = aead::encrypt(&hk, &hiv, &ad, &padded).unwrap();
            assert_eq!(ct, body, "{file} {id} header");
            assert_eq!(t[..], tag[..], "{file} {id} header tag");
            assert_eq!(aead::decrypt(&hk, &hiv, &ad, body, tag).unwrap(), padded);

            // Message: encrypted header (with its length) ‖ tag ‖ body; the body's associated
            // data is the ratchet's AD followed by the encoded encrypted header.
            let msg = hx(&m["ciphertextHex"]);
            let (len_len, enc_header_len) = if msg[0] < 32 {
                (2, u16::from_be_bytes([msg[0], msg[1]]) as usize)
            } else {
                (1, msg[0] as usize)
            };
            assert_eq!(msg[len_len..len_len + enc_header_len], enc_header[..]);
            let rest = &msg[len_len + enc_header_len..];
            let (tag, body) = rest.split_at(16);
            let plain = pad(
                &hx(&m["plaintextHex"]),
                m["paddedLen"].as_u64().unwrap() as usize,
            )
            .unwrap();
            let body_ad = [&ad[..], &enc_header[..]].concat();
            let (mk, biv) = (hx(&s["messageKeyHex"]), hx(&s["bodyIvHex"]));
            let (ct, t) = aead::encrypt(&mk, &biv, &body_ad, &plain).unwrap();
            assert_eq!(ct, body, "{file} {id} body");
            assert_eq!(t[..], tag[..], "{file} {id} body tag");
        }
    }
}

#[test]
fn server_to_recipient_crypto_box() {
    let v = json("agent/queue_layers.json");
    let s = &v["serverToRecipient"];
    let (server_pub, server) = fixed_key(&v, "e2e/server/queue-a-dh");
    let (recipient_pub, recipient) = fixed_key(&v, "e2e/alice/queue-a-rcv-dh");
    let key = cryptobox::shared_key(&server, &recipient_pub).unwrap();
    assert_eq!(key.as_bytes()[..], hx(&s["rcvDhSecretHex"])[..]);
    let theirs = cryptobox::shared_key(&recipient, &server_pub).unwrap();
    let cases = s["cases"].as_array().unwrap();
    assert!(cases.len() >= 3);
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let nonce = SbNonce(hx(&c["msgIdHex"]).try_into().unwrap());
        let sealed = hx(&c["encryptedHex"]);
        assert_eq!(sealed.len() as u64, c["encryptedLen"].as_u64().unwrap());
        // The recipient opens it with its own key and the server's public key.
        let padded = cryptobox::open(&theirs, &nonce, &sealed).unwrap();
        assert_eq!(padded.len(), 16106, "{name}");
        if let Some(p) = c.get("plaintextHex").and_then(Value::as_str) {
            assert_eq!(
                padded,
                pad(&hex::decode(p).unwrap(), 16106).unwrap(),
                "{name}"
            );
        }
        // And the server's seal of the same bytes is the vector, byte for byte.
        assert_eq!(cryptobox::seal(&key, &nonce, &padded), sealed, "{name}");
    }
}
