//! Network settings changed while running (the reference's `/network` and `/_network`): a
//! SOCKS5 proxy, which connections use it, the relay hosts to prefer, private routing and the
//! timeouts. Every relay connection of every user is made again with them (queues subscribed
//! again), and file transfers' next connections use them - until the client stops (each start
//! begins with the start options, as the reference's terminal).
//!
//! `/network socks=on|off|<ip:port> [socks-mode=always|onion] [host-mode=onion|public]
//! [required-host-mode] [smp-proxy=always|unknown|unprotected|never]
//! [smp-proxy-fallback=no|protected|yes] [smp-web-port-servers=all|preset|off | smp-web-port]
//! [timeout=<seconds>] [log=on|off]` (the reference's `SimpleNetCfg`: what it leaves out takes
//! the reference's default, but for private routing and the timeout, which stay as they are);
//! `/_network <json>` (the reference's `NetworkConfig`: the keys this client has, each
//! optional; the others are ignored).

use std::time::Duration;

use smp_client::{ConnectOptions, PrivateRouting, RoutingFallback};
use transport::hosts::{HostMode, SocksMode, WebPort};
use transport::SocksProxy;

/// A change of the network settings.
#[derive(Debug, Clone, PartialEq)]
pub enum NetworkChange {
    /// `/network ...`: its words.
    Simple(String),
    /// `/_network <json>`.
    Json(serde_json::Value),
}

/// The longest timeout taken (an hour).
const MAX_TIMEOUT: Duration = Duration::from_secs(3600);

/// A proxy's address: `ip:port`, `:port` (on 127.0.0.1) or `ip` (port 9050).
fn proxy(s: &str) -> Result<SocksProxy, String> {
    match s.strip_prefix(':') {
        Some(port) => SocksProxy::parse(&format!("127.0.0.1:{port}")),
        None => SocksProxy::parse(s),
    }
}

/// The TCP timeout as the terminal's `--tcp-timeout` sets it (the reference's): connecting
/// 1.5 times, an answer 3 times as long, at most an hour.
pub fn set_timeout(o: &mut ConnectOptions, secs: u64) -> Result<(), String> {
    if secs == 0 {
        return Err("timeout: at least 1 second".into());
    }
    let t = Duration::from_secs(secs).min(MAX_TIMEOUT);
    o.connect_timeout = t * 3 / 2;
    o.response_timeout = t * 3;
    Ok(())
}

/// The settings after `change`, from `current`.
pub fn changed(current: &ConnectOptions, change: &NetworkChange) -> Result<ConnectOptions, String> {
    match change {
        NetworkChange::Simple(words) => simple(current, words),
        NetworkChange::Json(v) => json(current, v),
    }
}

fn simple(current: &ConnectOptions, words: &str) -> Result<ConnectOptions, String> {
    let mut o = current.clone();
    let mut socks = None;
    let mut socks_mode = SocksMode::Always;
    let mut host_mode = None;
    let mut required = false;
    let mut web_port = WebPort::Preset;
    for w in words.split_whitespace() {
        let (key, value) = match w.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (w, None),
        };
        match (key, value) {
            ("socks", Some("off")) => socks = Some(None),
            ("socks", Some("on")) => socks = Some(Some(SocksProxy::tor_default())),
            ("socks", Some(addr)) => socks = Some(Some(proxy(addr)?)),
            ("socks-mode", Some(m)) => socks_mode = m.parse()?,
            ("host-mode", Some(m)) => host_mode = Some(m.parse::<HostMode>()?),
            ("required-host-mode", None) => required = true,
            ("smp-proxy", Some(m)) => o.private_routing = m.parse::<PrivateRouting>()?,
            ("smp-proxy-fallback", Some(m)) => o.routing_fallback = m.parse::<RoutingFallback>()?,
            ("smp-web-port-servers", Some(m)) => web_port = m.parse()?,
            ("smp-web-port", None) => web_port = WebPort::All,
            ("timeout", Some(t)) => {
                let secs = t
                    .parse::<u64>()
                    .map_err(|_| format!("timeout={t}: a number of seconds"))?;
                set_timeout(&mut o, secs)?;
            }
            // TLS errors logged: the relays' side is logged with -l here.
            ("log", Some("on" | "off")) => {}
            _ => return Err(format!("{w}: not a network setting")),
        }
    }
    let socks = socks.ok_or("socks=on|off|<ip:port> is required")?;
    o.network.host_mode = host_mode.unwrap_or(if socks.is_some() {
        HostMode::OnionViaSocks
    } else {
        HostMode::Public
    });
    o.socks = socks;
    o.network.socks_mode = socks_mode;
    o.network.required = required;
    o.network.web_port = web_port;
    Ok(o)
}

/// A timeout of the JSON form (microseconds, or the newer `{"backgroundTimeout",
/// "interactiveTimeout"}`), as a duration.
fn micros(v: &serde_json::Value, key: &str) -> Result<Option<Duration>, String> {
    let n = match v {
        serde_json::Value::Null => return Ok(None),
        serde_json::Value::Object(o) => o
            .get("interactiveTimeout")
            .or_else(|| o.get("backgroundTimeout"))
            .and_then(serde_json::Value::as_u64),
        other => other.as_u64(),
    }
    .ok_or(format!("{key}: microseconds"))?;
    if n == 0 {
        return Err(format!("{key}: more than 0"));
    }
    Ok(Some(Duration::from_micros(n).min(MAX_TIMEOUT)))
}

fn json(current: &ConnectOptions, v: &serde_json::Value) -> Result<ConnectOptions, String> {
    let o_in = v
        .as_object()
        .ok_or("the network configuration is a JSON object")?;
    let mut o = current.clone();
    let text = |key: &str| -> Result<Option<&str>, String> {
        match o_in.get(key) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(format!("{key}: a string")),
        }
    };
    if let Some(s) = o_in.get("socksProxy") {
        o.socks = match s {
            serde_json::Value::Null => None,
            serde_json::Value::String(a) => Some(proxy(a.rsplit('@').next().unwrap_or(a))?),
            _ => return Err("socksProxy: an address or null".into()),
        };
    }
    if let Some(m) = text("socksMode")? {
        o.network.socks_mode = m.parse()?;
    }
    if let Some(m) = text("hostMode")? {
        o.network.host_mode = match m {
            "onionViaSocks" | "onion" => HostMode::OnionViaSocks,
            "public" => HostMode::Public,
            _ => return Err(format!("hostMode {m:?}: onionViaSocks or public")),
        };
    }
    match o_in.get("requiredHostMode") {
        None | Some(serde_json::Value::Null) => {}
        Some(serde_json::Value::Bool(b)) => o.network.required = *b,
        Some(_) => return Err("requiredHostMode: true or false".into()),
    }
    if let Some(m) = text("smpProxyMode")? {
        o.private_routing = m.parse()?;
    }
    if let Some(m) = text("smpProxyFallback")? {
        o.routing_fallback = match m {
            "prohibit" => RoutingFallback::No,
            "allowProtected" => RoutingFallback::Protected,
            "allow" => RoutingFallback::Yes,
            _ => {
                return Err(format!(
                    "smpProxyFallback {m:?}: prohibit, allowProtected or allow"
                ))
            }
        };
    }
    if let Some(m) = text("smpWebPortServers")? {
        o.network.web_port = m.parse()?;
    }
    if let Some(t) = o_in.get("tcpConnectTimeout") {
        if let Some(d) = micros(t, "tcpConnectTimeout")? {
            o.connect_timeout = d;
        }
    }
    if let Some(t) = o_in.get("tcpTimeout") {
        if let Some(d) = micros(t, "tcpTimeout")? {
            o.response_timeout = d;
        }
    }
    Ok(o)
}

impl crate::chat::Chat {
    /// New network settings for this user's relay connections (made again with them) and file
    /// transfers (their next connections).
    pub(crate) async fn set_network(&self, opts: ConnectOptions) {
        self.inner
            .pool
            .set_network(opts.socks.clone(), opts.network);
        self.inner.agent.set_options(opts).await;
    }

    /// The settings in effect.
    pub fn network(&self) -> ConnectOptions {
        self.inner.agent.options()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simple_settings_as_the_reference_parses_them() {
        let cur = ConnectOptions {
            private_routing: PrivateRouting::Always,
            ..ConnectOptions::default()
        };
        let o = simple(&cur, "socks=on").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(o.socks, Some(SocksProxy::tor_default()));
        assert_eq!(o.network.host_mode, HostMode::OnionViaSocks);
        // Private routing stays as it was.
        assert_eq!(o.private_routing, PrivateRouting::Always);
        let o = simple(
            &o,
            "socks=:1080 socks-mode=onion host-mode=public required-host-mode smp-proxy=never \
             smp-proxy-fallback=yes smp-web-port timeout=10 log=on",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(o.socks.as_ref().map(|s| s.addr.port()), Some(1080));
        assert_eq!(o.network.socks_mode, SocksMode::Onion);
        assert_eq!(o.network.host_mode, HostMode::Public);
        assert!(o.network.required);
        assert_eq!(o.private_routing, PrivateRouting::Never);
        assert_eq!(o.routing_fallback, RoutingFallback::Yes);
        assert_eq!(o.network.web_port, WebPort::All);
        assert_eq!(o.response_timeout, Duration::from_secs(30));
        let o = simple(&o, "socks=off").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(o.socks, None);
        assert_eq!(o.network.host_mode, HostMode::Public);
        assert!(!o.network.required);
        for bad in [
            "",
            "timeout=5",
            "socks=nowhere",
            "socks=on speed=fast",
            "socks=on timeout=0",
        ] {
            assert!(simple(&cur, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn json_settings_change_what_they_name() {
        let cur = ConnectOptions::default();
        let v = serde_json::json!({"socksProxy": "127.0.0.1:9150", "hostMode": "public",
            "smpProxyMode": "unprotected", "smpProxyFallback": "prohibit",
            "tcpTimeout": 5_000_000, "tcpConnectTimeout": {"backgroundTimeout": 9_000_000,
            "interactiveTimeout": 7_000_000}, "sessionMode": "user", "logTLSErrors": false});
        let o = json(&cur, &v).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(o.socks.as_ref().map(|s| s.addr.port()), Some(9150));
        assert_eq!(o.network.host_mode, HostMode::Public);
        assert_eq!(o.private_routing, PrivateRouting::Unprotected);
        assert_eq!(o.routing_fallback, RoutingFallback::No);
        assert_eq!(o.response_timeout, Duration::from_secs(5));
        assert_eq!(o.connect_timeout, Duration::from_secs(7));
        let o =
            json(&o, &serde_json::json!({"socksProxy": null})).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(o.socks, None);
        assert_eq!(o.response_timeout, Duration::from_secs(5));
        for bad in [
            serde_json::json!([]),
            serde_json::json!({"socksProxy": 5}),
            serde_json::json!({"tcpTimeout": 0}),
            serde_json::json!({"hostMode": "tor"}),
        ] {
            assert!(json(&cur, &bad).is_err(), "{bad}");
        }
    }
}
