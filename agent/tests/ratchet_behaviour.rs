//! The ratchet with random keys: a long conversation in both directions, messages out of
//! order within the skipped-key window, duplicates, too many skipped, tampered and arbitrary
//! bytes - each a typed error, never a panic, and the conversation goes on afterwards.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use agent::ratchet::{
    x3dh_initiator, x3dh_joiner, RandomKeys, Ratchet, RatchetError, SkippedKeys, Versions, MAX_SKIP,
};
use proptest::prelude::*;
use simplex_crypto::{generate, KeyAlgorithm};

const PAD: usize = 1000;

struct Side {
    rc: Ratchet,
    skipped: SkippedKeys,
}

impl Side {
    fn send(&mut self, text: &str) -> Vec<u8> {
        self.rc.encrypt(text.as_bytes(), PAD, 3).unwrap()
    }

    fn recv(&mut self, msg: &[u8]) -> Result<Vec<u8>, RatchetError> {
        let d = self.rc.decrypt(&self.skipped, msg, &mut RandomKeys)?;
        d.diff.apply(&mut self.skipped);
        self.rc = d.ratchet;
        d.message
    }
}

fn pair() -> (Side, Side) {
    let x448 = || generate(KeyAlgorithm::X448).unwrap();
    let (a1, a1k) = x448();
    let (a2, a2k) = x448();
    let (b1, b1k) = x448();
    let (b2, b2k) = x448();
    let v = Versions {
        current: 3,
        max_supported: 3,
    };
    let joiner = x3dh_joiner(&b1k, &b2k, &a1, &a2).unwrap();
    let initiator = x3dh_initiator(&a1k, &a2k, &b1, &b2).unwrap();
    let bob = Ratchet::init_snd(v, a2, x448().1, &joiner).unwrap();
    let alice = Ratchet::init_rcv(v, a2k, &initiator);
    (
        Side {
            rc: alice,
            skipped: SkippedKeys::new(),
        },
        Side {
            rc: bob,
            skipped: SkippedKeys::new(),
        },
    )
}

#[test]
fn a_conversation_with_reordering_duplicates_and_damage() {
    let (mut alice, mut bob) = pair();
    // The initiator cannot send before it has received.
    assert_eq!(
        alice.rc.encrypt(b"too early", PAD, 3),
        Err(RatchetError::State)
    );
    let hello = bob.send("hello");
    assert_eq!(alice.recv(&hello).unwrap(), b"hello");
    // A replay of a decrypted message.
    assert_eq!(alice.recv(&hello), Err(RatchetError::Duplicate));
    for round in 0..20 {
        // Several messages each way, delivered out of order.
        let a: Vec<Vec<u8>> = (0..5)
            .map(|i| alice.send(&format!("a{round}.{i}")))
            .collect();
        for i in [3, 0, 4, 1, 2] {
            assert_eq!(bob.recv(&a[i]).unwrap(), format!("a{round}.{i}").as_bytes());
        }
        let b: Vec<Vec<u8>> = (0..3).map(|i| bob.send(&format!("b{round}.{i}"))).collect();
        for i in [2, 1, 0] {
            assert_eq!(
                alice.recv(&b[i]).unwrap(),
                format!("b{round}.{i}").as_bytes()
            );
        }
    }
    assert!(
        alice.skipped.is_empty() && bob.skipped.is_empty(),
        "every skipped key used"
    );

    // A damaged body: an error for that message, the next one still decrypts.
    let mut bad = alice.send("damaged");
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert_eq!(bob.recv(&bad), Err(RatchetError::Decrypt));
    assert_eq!(bob.recv(&alice.send("fine")).unwrap(), b"fine");
    // A damaged header: nobody's header key opens it.
    let mut bad = alice.send("header");
    bad[10] ^= 1;
    assert!(matches!(bob.recv(&bad), Err(RatchetError::Header)));
    // Truncated messages.
    let ok = alice.send("truncated");
    for n in [0, 1, 3, 40, 130] {
        assert!(bob.recv(&ok[..n]).is_err(), "{n} bytes");
    }
    assert_eq!(bob.recv(&ok).unwrap(), b"truncated");

    // More skipped than allowed: refused; the window itself works.
    let many: Vec<Vec<u8>> = (0..=MAX_SKIP + 1)
        .map(|i| alice.send(&i.to_string()))
        .collect();
    assert!(matches!(
        bob.recv(many.last().unwrap()),
        Err(RatchetError::TooManySkipped(_))
    ));
    assert_eq!(
        bob.recv(&many[MAX_SKIP as usize]).unwrap(),
        MAX_SKIP.to_string().as_bytes()
    );
    assert_eq!(bob.recv(&many[0]).unwrap(), b"0");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let (_alice, mut bob) = pair();
        let _ = bob.recv(&bytes);
        // A real message still goes through afterwards.
        let m = bob.send("after");
        prop_assert!(!m.is_empty());
    }

    #[test]
    fn a_damaged_message_fails_alone(at in 0usize..1200, bit in 0u8..8) {
        let (mut alice, mut bob) = pair();
        prop_assert_eq!(alice.recv(&bob.send("first")).unwrap(), b"first".to_vec());
        let mut m = alice.send("damaged");
        let i = at % m.len();
        m[i] ^= 1 << bit;
        prop_assert!(bob.recv(&m).is_err());
        // Whatever the damage did to bob's state, the next message decrypts.
        prop_assert_eq!(bob.recv(&alice.send("next")).unwrap(), b"next".to_vec());
    }
}
