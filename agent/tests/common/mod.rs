//! Helpers shared by the agent's vector tests.
#![allow(dead_code, clippy::unwrap_used)]

use serde_json::Value;
use simplex_crypto::{KeyAlgorithm, PrivateKey, PublicKey};

/// A vector file of `testdata/<dir>/`.
pub fn load(path: &str) -> Value {
    let path = format!("{}/../testdata/{path}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A hex string's bytes.
pub fn hx(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

/// A fixed key of a vector file by label (its public half checked when given).
pub fn key(file: &Value, label: &str) -> (PublicKey, PrivateKey) {
    let k = file["fixedKeys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["label"] == label)
        .unwrap_or_else(|| panic!("no key {label}"));
    let alg = match k["alg"].as_str().unwrap() {
        "X25519" => KeyAlgorithm::X25519,
        _ => KeyAlgorithm::X448,
    };
    let private = PrivateKey::from_raw(alg, &hx(&k["privRawHex"])).unwrap();
    let public = simplex_crypto::public_key(&private).unwrap();
    assert_eq!(public.raw(), hx(&k["pubRawHex"]), "{label}");
    (public, private)
}
