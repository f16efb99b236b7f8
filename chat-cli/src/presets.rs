//! The SMP relays the reference clients use by default (operated by SimpleX Chat Ltd; the
//! list of simplex-chat's `Operators/Presets.hs`, `enabledSimplexChatSMPServers`, kept in
//! `chat_core::presets`): a new user without `-s` creates its queues on one of them, chosen
//! at random, as the reference does.

/// Preset relay addresses (clear-net host, then the onion host).
pub const SMP_RELAYS: &[&str] = chat_core::presets::ENABLED;

/// A random index below `n` (n > 0).
pub fn random_index(n: usize) -> usize {
    let mut b = [0u8; 8];
    simplex_crypto::random_bytes(&mut b);
    (u64::from_le_bytes(b) % n.max(1) as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_relay_parses_with_both_hosts() {
        for r in SMP_RELAYS {
            let s: smp_proto::address::SmpServer = r.parse().expect(r);
            assert_eq!(s.hosts.len(), 2, "{r}");
            assert!(s.hosts[0].to_string().ends_with(".simplex.im"), "{r}");
        }
        for n in 1..20 {
            assert!(random_index(n) < n);
        }
    }
}
