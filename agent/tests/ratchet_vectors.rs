//! The double ratchet against `testdata/agent/ratchet_v3.json` and `ratchet_v2_peer.json`:
//! X3DH on both sides, both initial states, then every encryption (ciphertext byte for byte)
//! and decryption (plaintext, the complete state and the skipped keys after each step), with
//! the DH ratchet keys the vectors fix.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use std::collections::VecDeque;

use agent::ratchet::{
    x3dh_initiator, x3dh_joiner, KeyGen, Ratchet, RatchetError, SkippedKeys, Versions,
};
use serde_json::Value;
use simplex_crypto::{PrivateKey, PublicKey};

mod common;
use common::{hx, key};

fn load(name: &str) -> Value {
    common::load(&format!("agent/{name}"))
}

/// The vectors' ratchet keys, in the order the side needs them.
struct Fixed(VecDeque<(PublicKey, PrivateKey)>);

impl KeyGen for Fixed {
    fn x448(&mut self) -> Result<(PublicKey, PrivateKey), RatchetError> {
        self.0.pop_front().ok_or(RatchetError::State)
    }
}

fn check_state(rc: &Ratchet, want: &Value, what: &str) {
    let h = |k: &[u8]| hex::encode(k);
    assert_eq!(
        u64::from(rc.version.current),
        want["versionCurrent"].as_u64().unwrap(),
        "{what}: current version"
    );
    assert_eq!(
        u64::from(rc.version.max_supported),
        want["versionMaxSupported"].as_u64().unwrap(),
        "{what}: max version"
    );
    assert_eq!(h(&rc.ad), want["adHex"].as_str().unwrap(), "{what}: ad");
    let dhrs = simplex_crypto::public_key(&rc.dhrs).unwrap();
    assert_eq!(
        h(dhrs.raw()),
        want["dhrsPubRawHex"].as_str().unwrap(),
        "{what}: DHRs"
    );
    assert_eq!(
        h(&rc.rk[..]),
        want["rootKeyHex"].as_str().unwrap(),
        "{what}: RK"
    );
    match (&rc.snd, want["snd"].is_null() || want["snd"] == "None") {
        (None, true) => {}
        (Some(s), false) => {
            let w = &want["snd"];
            assert_eq!(
                h(s.dhrr.raw()),
                w["dhrrPubRawHex"].as_str().unwrap(),
                "{what}: DHRr"
            );
            assert_eq!(
                h(&s.ck[..]),
                w["chainKeyHex"].as_str().unwrap(),
                "{what}: CKs"
            );
            assert_eq!(
                h(&s.hk[..]),
                w["headerKeyHex"].as_str().unwrap(),
                "{what}: HKs"
            );
        }
        (s, _) => panic!("{what}: sending chain {:?} vs {}", s.is_some(), want["snd"]),
    }
    match (&rc.rcv, want["rcv"].is_null() || want["rcv"] == "None") {
        (None, true) => {}
        (Some(r), false) => {
            let w = &want["rcv"];
            assert_eq!(
                h(&r.ck[..]),
                w["chainKeyHex"].as_str().unwrap(),
                "{what}: CKr"
            );
            assert_eq!(
                h(&r.hk[..]),
                w["headerKeyHex"].as_str().unwrap(),
                "{what}: HKr"
            );
        }
        (r, _) => panic!(
            "{what}: receiving chain {:?} vs {}",
            r.is_some(),
            want["rcv"]
        ),
    }
    for (got, name) in [(rc.ns, "ns"), (rc.nr, "nr"), (rc.pn, "pn")] {
        assert_eq!(
            u64::from(got),
            want[name].as_u64().unwrap(),
            "{what}: {name}"
        );
    }
    assert_eq!(
        h(&rc.nhks[..]),
        want["nextHeaderKeySndHex"].as_str().unwrap(),
        "{what}: NHKs"
    );
    assert_eq!(
        h(&rc.nhkr[..]),
        want["nextHeaderKeyRcvHex"].as_str().unwrap(),
        "{what}: NHKr"
    );
}

fn check_skipped(got: &SkippedKeys, want: &Value, what: &str) {
    let want = want.as_array().unwrap();
    assert_eq!(got.len(), want.len(), "{what}: skipped header keys");
    for w in want {
        let hk: [u8; 32] = hx(&w["headerKeyHex"]).try_into().unwrap();
        let keys = got
            .get(&hk)
            .unwrap_or_else(|| panic!("{what}: header key missing"));
        let wk = w["keys"].as_array().unwrap();
        assert_eq!(keys.len(), wk.len(), "{what}: skipped keys");
        for k in wk {
            let n = u32::try_from(k["msgN"].as_u64().unwrap()).unwrap();
            let mk = keys.get(&n).unwrap();
            assert_eq!(
                mk.key[..],
                hx(&k["messageKeyHex"])[..],
                "{what}: skipped key {n}"
            );
            assert_eq!(mk.iv[..], hx(&k["ivHex"])[..], "{what}: skipped iv {n}");
        }
    }
}

fn run(file: &str) {
    let v = load(file);
    let p = v["scenario"].as_str().unwrap();
    let k = |name: &str| key(&v, &format!("{p}/{name}"));
    let (a1, a1k) = k("alice/x3dh-1");
    let (a2, a2k) = k("alice/x3dh-2");
    let (b1, b1k) = k("bob/x3dh-1");
    let (b2, b2k) = k("bob/x3dh-2");
    let (_, bob_init) = k("bob/ratchet-init");
    let x = &v["x3dh"];
    let joiner = x3dh_joiner(&b1k, &b2k, &a1, &a2).unwrap();
    let initiator = x3dh_initiator(&a1k, &a2k, &b1, &b2).unwrap();
    for (got, side) in [(&joiner, "joiner"), (&initiator, "initiator")] {
        assert_eq!(got.ad, hx(&x["assocDataHex"]), "{side} AD");
        assert_eq!(got.header_key[..], hx(&x["headerKeyHex"])[..], "{side} HK");
        assert_eq!(
            got.next_header_key[..],
            hx(&x["nextHeaderKeyHex"])[..],
            "{side} NHK"
        );
        assert_eq!(got.root_key[..], hx(&x["rootKeyHex"])[..], "{side} RK");
    }
    let versions = |s: &Value| Versions {
        current: s["versionCurrent"].as_u64().unwrap() as u16,
        max_supported: s["versionMaxSupported"].as_u64().unwrap() as u16,
    };
    let bob0 = &x["bobInitialState"];
    let alice0 = &x["aliceInitialState"];
    let mut bob = Ratchet::init_snd(versions(bob0), a2.clone(), bob_init, &joiner).unwrap();
    let mut alice = Ratchet::init_rcv(versions(alice0), a2k, &initiator);
    check_state(&bob, bob0, "bob initial");
    check_state(&alice, alice0, "alice initial");

    let max = |side: &str| v[format!("{side}MaxE2EVersion")].as_u64().unwrap() as u16;
    let step_keys = |side: &str| {
        Fixed(
            v["ratchetStepKeyOrder"][side]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| {
                    let label = l.as_str().unwrap().split(" (").next().unwrap();
                    key(&v, label)
                })
                .collect(),
        )
    };
    let (mut alice_keys, mut bob_keys) = (step_keys("alice"), step_keys("bob"));
    let (mut alice_skipped, mut bob_skipped) = (SkippedKeys::new(), SkippedKeys::new());
    let messages = v["messages"].as_array().unwrap();
    for (i, e) in v["events"].as_array().unwrap().iter().enumerate() {
        let by = e["by"].as_str().unwrap();
        let id = e["msg"].as_str().unwrap();
        let what = format!("event {i}: {} by {by} of {id}", e["op"]);
        let m = messages.iter().find(|m| m["id"] == id).unwrap();
        let (rc, keys, skipped) = if by == "alice" {
            (&mut alice, &mut alice_keys, &mut alice_skipped)
        } else {
            (&mut bob, &mut bob_keys, &mut bob_skipped)
        };
        match e["op"].as_str().unwrap() {
            "encrypt" => {
                let padded = m["paddedLen"].as_u64().unwrap() as usize;
                let ct = rc
                    .encrypt(&hx(&m["plaintextHex"]), padded, max(by))
                    .unwrap();
                assert_eq!(
                    hex::encode(&ct),
                    m["ciphertextHex"].as_str().unwrap(),
                    "{what}"
                );
            }
            "decrypt" => {
                let d = rc.decrypt(skipped, &hx(&m["ciphertextHex"]), keys).unwrap();
                assert_eq!(d.message.unwrap(), hx(&m["plaintextHex"]), "{what}");
                d.diff.apply(skipped);
                *rc = d.ratchet;
                check_skipped(skipped, &e["skippedKeysAfter"], &what);
            }
            op => panic!("unknown op {op}"),
        }
        check_state(rc, &e["stateAfter"], &what);
    }
    assert!(
        alice_keys.0.is_empty() && bob_keys.0.is_empty(),
        "every step key used"
    );
}

#[test]
fn ratchet_v3_vectors() {
    run("ratchet_v3.json");
}

#[test]
fn ratchet_v2_peer_vectors() {
    run("ratchet_v2_peer.json");
}
