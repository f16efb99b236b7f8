//! Which of a relay's hosts to connect to, and whether through the SOCKS proxy: the reference
//! clients' `--host-mode`, `--required-host-mode` and `--socks-mode`.
//!
//! A relay may have a public host and an onion host (`smp://...@smp8.simplex.im,beccx...onion`).
//! With a SOCKS proxy (Tor) the onion host is preferred by default, as the reference's
//! `HMOnionViaSocks`; without one the public host. The preferred kind is tried first and the
//! other after it, unless the kind is required. `--socks-mode onion` sends only onion hosts
//! through the proxy and connects to the others directly.

/// Which kind of host to prefer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostMode {
    /// The onion host when connecting through a SOCKS proxy, the public host otherwise
    /// (`--host-mode onion`, the default).
    #[default]
    OnionViaSocks,
    /// The public host (`--host-mode public`).
    Public,
}

impl std::str::FromStr for HostMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "onion" => Ok(Self::OnionViaSocks),
            "public" => Ok(Self::Public),
            _ => Err(format!("{s:?}: a host mode is onion or public")),
        }
    }
}

/// Which connections go through the SOCKS proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SocksMode {
    /// Every connection (`--socks-mode always`, the default).
    #[default]
    Always,
    /// Only those to onion hosts; the others connect directly (`--socks-mode onion`).
    Onion,
}

impl std::str::FromStr for SocksMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "always" => Ok(Self::Always),
            "onion" => Ok(Self::Onion),
            _ => Err(format!("{s:?}: a SOCKS mode is always or onion")),
        }
    }
}

/// How hosts are chosen and reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NetworkMode {
    /// The kind of host preferred.
    pub host_mode: HostMode,
    /// Refuse a relay without a host of the preferred kind (`--required-host-mode`).
    pub required: bool,
    /// Which connections use the proxy.
    pub socks_mode: SocksMode,
}

/// Whether `host` is a Tor onion service.
pub fn is_onion(host: &str) -> bool {
    host.trim_end_matches('.').ends_with(".onion")
}

/// The hosts to try, in order, each with whether it goes through the proxy (`proxy`: one is
/// configured). Onion hosts are left out without a proxy; an error says why no host is left.
pub fn plan(
    hosts: &[String],
    proxy: bool,
    mode: NetworkMode,
) -> Result<Vec<(String, bool)>, String> {
    let prefer_onion = match mode.host_mode {
        HostMode::OnionViaSocks => proxy,
        HostMode::Public => false,
    };
    let (preferred, others): (Vec<&String>, Vec<&String>) =
        hosts.iter().partition(|h| is_onion(h) == prefer_onion);
    if mode.required && preferred.is_empty() {
        return Err(format!(
            "the relay has no {} host (--required-host-mode)",
            if prefer_onion { "onion" } else { "public" }
        ));
    }
    let candidates = preferred
        .into_iter()
        .chain(others.into_iter().filter(|_| !mode.required));
    let mut out = Vec::new();
    for h in candidates {
        let onion = is_onion(h);
        if onion && !proxy {
            continue;
        }
        let via_proxy = proxy && (onion || mode.socks_mode == SocksMode::Always);
        out.push((h.clone(), via_proxy));
    }
    if out.is_empty() {
        return Err("the relay's only hosts are onion hosts: they need a SOCKS proxy (Tor)".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts() -> Vec<String> {
        vec!["smp8.simplex.im".into(), "beccx4yfxxbvyhqy.onion".into()]
    }

    fn mode(host_mode: HostMode, required: bool, socks_mode: SocksMode) -> NetworkMode {
        NetworkMode {
            host_mode,
            required,
            socks_mode,
        }
    }

    #[test]
    fn without_a_proxy_the_public_host_only() {
        let d = NetworkMode::default();
        assert_eq!(
            plan(&hosts(), false, d).unwrap(),
            [("smp8.simplex.im".to_string(), false)]
        );
        let only_onion = vec!["x.onion".to_string()];
        assert!(plan(&only_onion, false, d).unwrap_err().contains("SOCKS"));
        // Onion preferred and required, but no proxy: onion hosts cannot be reached.
        let r = mode(HostMode::Public, true, SocksMode::Always);
        assert!(plan(&only_onion, false, r).is_err());
    }

    #[test]
    fn with_a_proxy_the_onion_host_first_then_the_public_one() {
        let d = NetworkMode::default();
        assert_eq!(
            plan(&hosts(), true, d).unwrap(),
            [
                ("beccx4yfxxbvyhqy.onion".to_string(), true),
                ("smp8.simplex.im".to_string(), true)
            ]
        );
        let public = mode(HostMode::Public, false, SocksMode::Always);
        assert_eq!(
            plan(&hosts(), true, public).unwrap()[0],
            ("smp8.simplex.im".to_string(), true)
        );
    }

    #[test]
    fn a_required_kind_leaves_the_others_out() {
        let r = mode(HostMode::OnionViaSocks, true, SocksMode::Always);
        assert_eq!(
            plan(&hosts(), true, r).unwrap(),
            [("beccx4yfxxbvyhqy.onion".to_string(), true)]
        );
        let public_only = vec!["relay.example.com".to_string()];
        assert!(plan(&public_only, true, r)
            .unwrap_err()
            .contains("no onion host"));
        let rp = mode(HostMode::Public, true, SocksMode::Always);
        assert!(plan(&["x.onion".to_string()], true, rp)
            .unwrap_err()
            .contains("no public host"));
    }

    #[test]
    fn socks_mode_onion_connects_public_hosts_directly() {
        let o = mode(HostMode::OnionViaSocks, false, SocksMode::Onion);
        assert_eq!(
            plan(&hosts(), true, o).unwrap(),
            [
                ("beccx4yfxxbvyhqy.onion".to_string(), true),
                ("smp8.simplex.im".to_string(), false)
            ]
        );
        let public = vec!["127.0.0.1".to_string()];
        assert_eq!(
            plan(&public, true, o).unwrap(),
            [("127.0.0.1".to_string(), false)]
        );
    }

    #[test]
    fn modes_parse_as_the_reference_writes_them() {
        assert_eq!("onion".parse(), Ok(HostMode::OnionViaSocks));
        assert_eq!("public".parse(), Ok(HostMode::Public));
        assert!("tor".parse::<HostMode>().is_err());
        assert_eq!("always".parse(), Ok(SocksMode::Always));
        assert_eq!("onion".parse(), Ok(SocksMode::Onion));
        assert!("never".parse::<SocksMode>().is_err());
    }
}
