//! Every agent decoder over arbitrary input: an error or a value, never a panic; what parses
//! writes back to something that parses to the same value.

use agent::envelope::{AgentMessage, Envelope};
use agent::links::{ConnectionRequest, QueueUri, ShortLink};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn text_links_never_panic(s in "(smp://|simplex:/|https://)?[-A-Za-z0-9_=%&;#/?:@,.+ ]{0,200}") {
        if let Ok(q) = QueueUri::parse(&s) {
            prop_assert_eq!(QueueUri::parse(&q.to_uri()).ok(), Some(q));
        }
        if let Ok(r) = ConnectionRequest::parse(&s) {
            let again = ConnectionRequest::parse(&r.to_uri());
            prop_assert!(again.is_ok());
        }
        let _ = ShortLink::parse(&s);
    }

    #[test]
    fn binary_links_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(r) = ConnectionRequest::decode(&bytes) {
            let _ = r.encode();
        }
        if let Ok(l) = ShortLink::decode(&bytes) {
            prop_assert_eq!(l.encode().ok(), Some(bytes.clone()));
        }
        if let Ok(e) = Envelope::decode(&bytes) {
            let _ = e.encode();
        }
        if let Ok(m) = AgentMessage::decode(&bytes) {
            let _ = m.encode();
        }
        let secret = simplex_crypto::SbKey::from_bytes([3; 32]);
        let _ = agent::envelope::open(&bytes, &secret);
        let _ = agent::envelope::public_header(&bytes);
        let _ = agent::envelope::QueueInfo::decode_from(&mut simplex_codec::Reader::new(&bytes));
        let _ = agent::shortlink::FixedLinkData::decode(&bytes);
        let _ = agent::shortlink::ConnLinkData::decode(&bytes);
    }
}
