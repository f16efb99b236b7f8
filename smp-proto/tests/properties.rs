//! The parsers never panic and never read past their input, whatever the bytes; what they
//! accept re-encodes to the same bytes.

#![allow(clippy::unwrap_used)] // tests fail loudly on purpose

use proptest::prelude::*;
use smp_proto::block::{decode_block, decode_content, encode_content};
use smp_proto::Transmission;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn block_content_parser_is_total(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(items) = decode_content(&bytes) {
            prop_assert!(!items.is_empty() && items.len() <= 255);
            let again = encode_content(&items).unwrap();
            prop_assert_eq!(&again, &bytes);
        }
        let _ = decode_block(&bytes);
    }

    #[test]
    fn transmission_parser_is_total(
        bytes in proptest::collection::vec(any::<u8>(), 0..400),
        v in 6u16..=18,
    ) {
        if let Ok(t) = Transmission::decode(&bytes, v) {
            let _ = t.auth_kind();
            let again = t.encode(v).unwrap();
            prop_assert_eq!(&again, &bytes);
        }
    }

    #[test]
    fn transmissions_round_trip(
        auth in prop_oneof![Just(0usize), Just(64), Just(80), Just(114)],
        corr in proptest::collection::vec(any::<u8>(), 0..=24),
        entity in proptest::collection::vec(any::<u8>(), 0..=24),
        command in proptest::collection::vec(any::<u8>(), 0..200),
        v in 6u16..=18,
    ) {
        let t = Transmission {
            authorization: vec![5; auth],
            service_sig: None,
            session_id: if v < 7 { vec![1; 32] } else { Vec::new() },
            corr_id: corr,
            entity_id: entity,
            command,
        };
        let bytes = t.encode(v).unwrap();
        prop_assert_eq!(Transmission::decode(&bytes, v).unwrap(), t);
    }
}
