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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn private_routing_parsers_are_total(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        use smp_proto::proxy::{FwdResponse, FwdTransmission, ProxiedSession, ProxyRequest};
        if let Ok(r) = ProxyRequest::decode(&bytes) {
            prop_assert_eq!(r.encode().unwrap(), bytes.clone());
        }
        if let Ok(s) = ProxiedSession::decode(&bytes) {
            prop_assert_eq!(s.encode().unwrap(), bytes.clone());
        }
        if let Ok(f) = FwdTransmission::decode(&bytes) {
            let _ = f.encode();
        }
        if let Ok(f) = FwdResponse::decode(&bytes) {
            prop_assert_eq!(f.encode().unwrap(), bytes.clone());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn command_and_message_parsers_are_total(
        tag in prop_oneof![
            Just(&b"NEW "[..]), Just(&b"KEY "[..]), Just(&b"RKEY "[..]), Just(&b"LSET "[..]),
            Just(&b"NKEY "[..]), Just(&b"ACK "[..]), Just(&b"SEND "[..]), Just(&b"PFWD "[..]),
            Just(&b"IDS "[..]), Just(&b"MSG "[..]), Just(&b"LNK "[..]), Just(&b"NMSG "[..]),
            Just(&b"ERR "[..]), Just(&b"SOK "[..]), Just(&b""[..]),
        ],
        rest in proptest::collection::vec(any::<u8>(), 0..300),
        v in 6u16..=18,
    ) {
        let bytes = [tag, &rest[..]].concat();
        if let Ok(c) = smp_proto::Command::parse(v, &bytes) {
            let _ = c.encode(v);
            let _ = c.check_credentials(true, b"x");
        }
        if let Some(m) = smp_proto::BrokerMsg::parse(v, &bytes) {
            let again = m.encode(v).unwrap();
            // Below the service-certificate version SOK goes out as OK, as the reference's
            // encoder writes it (its parser takes SOK at any version).
            let expected = match m {
                smp_proto::BrokerMsg::Sok(_) if v < smp_proto::version::SERVICE_CERTS => {
                    smp_proto::BrokerMsg::Ok
                }
                m => m,
            };
            prop_assert_eq!(smp_proto::BrokerMsg::parse(v, &again), Some(expected));
        }
    }
}
