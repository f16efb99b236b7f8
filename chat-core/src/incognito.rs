//! Incognito connections: a random profile made for one contact, shown to it instead of the
//! user's (seed v3.x: "incognito mode"). The name is two random words; nothing else of the
//! user's profile goes with it.

use crate::protocol::Profile;

const FIRST: [&str; 32] = [
    "Amber", "Brave", "Calm", "Clever", "Cosmic", "Crisp", "Daring", "Eager", "Fancy", "Gentle",
    "Golden", "Happy", "Humble", "Jolly", "Keen", "Lively", "Lucky", "Mellow", "Misty", "Noble",
    "Quiet", "Rapid", "Rustic", "Silent", "Silver", "Snowy", "Solar", "Swift", "Tidy", "Vivid",
    "Witty", "Zesty",
];

const SECOND: [&str; 32] = [
    "Badger", "Beacon", "Breeze", "Canyon", "Comet", "Cedar", "Delta", "Falcon", "Fern", "Fjord",
    "Glacier", "Harbor", "Heron", "Island", "Lantern", "Lynx", "Maple", "Meadow", "Otter",
    "Pebble", "Pine", "Quartz", "Raven", "Ridge", "River", "Robin", "Sparrow", "Summit", "Thistle",
    "Tundra", "Willow", "Wren",
];

/// A fresh random profile: a two-word display name, no full name, no image.
pub fn random_profile() -> Profile {
    let mut b = [0u8; 2];
    simplex_crypto::random_bytes(&mut b);
    Profile {
        display_name: format!(
            "{}{}",
            FIRST[usize::from(b[0]) % FIRST.len()],
            SECOND[usize::from(b[1]) % SECOND.len()]
        ),
        ..Profile::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_profiles_are_two_words_and_nothing_else() {
        for _ in 0..50 {
            let p = random_profile();
            assert!(p.full_name.is_empty() && p.image.is_none());
            let first = FIRST.iter().find(|w| p.display_name.starts_with(*w));
            let rest = first.map(|w| &p.display_name[w.len()..]);
            assert!(
                rest.is_some_and(|r| SECOND.contains(&r)),
                "{}",
                p.display_name
            );
        }
    }
}
