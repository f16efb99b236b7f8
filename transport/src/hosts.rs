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

/// Which relays are reached on the web port (443) with ALPN `http/1.1`, as the reference's
/// `--smp-web-port-servers` (`SMPWebPortServers`): a network that lets only web traffic
/// through lets these connections through too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WebPort {
    /// Every relay (`all`, `--smp-web-port`).
    All,
    /// Relays whose first host is a domain of the preset operators (`preset`, the default).
    #[default]
    Preset,
    /// None (`off`).
    Off,
}

impl std::str::FromStr for WebPort {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "all" => Ok(Self::All),
            "preset" => Ok(Self::Preset),
            "off" => Ok(Self::Off),
            _ => Err(format!("{s:?}: web port servers are all, preset or off")),
        }
    }
}

/// The preset operators' domains (the reference's `presetDomains`): a host ending in one of
/// them is a preset relay's.
pub const PRESET_DOMAINS: [&str; 2] = [".simplex.im", ".simplexonflux.com"];

impl WebPort {
    /// Whether a relay whose first host is `first_host` is reached on the web port. As the
    /// reference, the first host decides for all of them (an onion host of a preset relay
    /// too); an IP address or an onion host first is never a preset domain.
    pub fn applies(self, first_host: &str) -> bool {
        match self {
            Self::All => true,
            Self::Off => false,
            Self::Preset => {
                let h = first_host.trim_end_matches('.').to_ascii_lowercase();
                !is_onion(&h)
                    && h.parse::<std::net::IpAddr>().is_err()
                    && !h.starts_with('[')
                    && PRESET_DOMAINS.iter().any(|d| h.ends_with(d))
            }
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
    /// Which relays are reached on the web port.
    pub web_port: WebPort,
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
            ..NetworkMode::default()
        }
    }

    #[test]
    fn the_web_port_for_preset_domains_by_default() {
        let preset = WebPort::default();
        assert_eq!(preset, WebPort::Preset);
        assert!(preset.applies("smp8.simplex.im"));
        assert!(preset.applies("SMP8.SimpleX.IM."));
        assert!(preset.applies("smp1.simplexonflux.com"));
        // Not a subdomain of a preset domain, or not a domain.
        assert!(!preset.applies("simplex.im"));
        assert!(!preset.applies("smp.notsimplex.im.example.com"));
        assert!(!preset.applies("relay.example.com"));
        assert!(!preset.applies("beccx4yfxxbvyhqy.onion"));
        assert!(!preset.applies("127.0.0.1"));
        assert!(!preset.applies("[::1]"));
        assert!(WebPort::All.applies("127.0.0.1"));
        assert!(!WebPort::Off.applies("smp8.simplex.im"));
        assert_eq!("all".parse(), Ok(WebPort::All));
        assert_eq!("preset".parse(), Ok(WebPort::Preset));
        assert_eq!("off".parse(), Ok(WebPort::Off));
        assert!("on".parse::<WebPort>().is_err());
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
