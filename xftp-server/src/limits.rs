//! Protections against clients that try to exhaust the relay: connections per address and in
//! all (with idle connections of the heaviest address evicted when the relay is full, so one
//! address cannot lock everyone else out), FNEW rate limits per connection and per address,
//! and concurrent chunk downloads per connection, per address and in all. Settings: `[LIMITS]`
//! (docs/LIMITS.md).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use crate::config::Limits;

/// An address's FNEW allowance is this multiple of a connection's.
const ADDRESS_RATE_FACTOR: f64 = 4.0;
/// Idle entries of addresses are pruned once this many are kept.
const PRUNE_AT: usize = 4096;

/// A token bucket: `rate` per second, up to `burst`. Taking a token when none is left books
/// one from the future and returns how long to wait for it.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
    rate: f64,
    burst: f64,
}

impl Bucket {
    fn new(rate: f64, burst: f64) -> Self {
        Self {
            tokens: burst,
            last: Instant::now(),
            rate,
            burst,
        }
    }

    fn refill(&mut self, now: Instant) {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + dt * self.rate).min(self.burst);
        self.last = now;
    }

    fn take(&mut self, now: Instant) -> Duration {
        self.refill(now);
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }

    fn full(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= self.burst
    }
}

/// Addresses are counted per IPv4 address and per IPv6 /64 (what one subscriber gets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddressKey(u128);

impl From<IpAddr> for AddressKey {
    fn from(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Self(u128::from(u32::from(v4))),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(u128::from(u32::from(v4))),
                None => Self((u128::from(v6) >> 64 << 64) | 1),
            },
        }
    }
}

/// Control of one connection: whether it is idle, and a way to close it. A connection is
/// idle (and may be evicted) from its TCP accept until it has a request in progress.
#[derive(Debug)]
pub struct ConnControl {
    idle: AtomicBool,
    close: Notify,
    closing: AtomicBool,
}

impl ConnControl {
    fn new() -> Self {
        Self {
            idle: AtomicBool::new(true),
            close: Notify::new(),
            closing: AtomicBool::new(false),
        }
    }

    /// Marks the connection idle (no request in progress) or busy.
    pub fn set_idle(&self, idle: bool) {
        self.idle.store(idle, Ordering::Relaxed);
    }

    /// Resolves when the relay wants this connection closed (to make room for others).
    pub async fn closed(&self) {
        if self.closing.load(Ordering::SeqCst) {
            return;
        }
        self.close.notified().await;
    }

    fn evict(&self) {
        self.closing.store(true, Ordering::SeqCst);
        self.close.notify_waiters();
        self.close.notify_one();
    }
}

/// One address's connections, FNEW allowance and downloads.
#[derive(Debug)]
struct Peer {
    conns: HashMap<u64, Arc<ConnControl>>,
    bucket: Arc<Mutex<Bucket>>,
    downloads: Arc<Semaphore>,
}

#[derive(Debug)]
struct State {
    total: usize,
    peers: HashMap<AddressKey, Peer>,
}

/// Admission of connections and the shared limits.
#[derive(Debug)]
pub struct Admission {
    limits: Limits,
    max_connections: usize,
    state: Mutex<State>,
    next_id: AtomicU64,
    downloads: Arc<Semaphore>,
    /// Idle connections closed to make room for another address.
    pub evicted: AtomicU64,
}

/// Why a connection was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Its address has `max_connections_per_ip` open.
    AddressFull,
    /// The relay has `max_connections` open and none could be evicted.
    RelayFull,
}

impl Admission {
    /// Admission under `limits`, with at most `max_connections` open (the configured cap, less
    /// what the open-files limit cannot carry).
    pub fn new(limits: Limits, max_connections: usize) -> Self {
        let downloads = Arc::new(Semaphore::new(limits.max_downloads));
        Self {
            limits,
            max_connections,
            state: Mutex::new(State {
                total: 0,
                peers: HashMap::new(),
            }),
            next_id: AtomicU64::new(1),
            downloads,
            evicted: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.lock().total
    }

    /// Admits a connection from `ip`, or says why not. When the relay is full, an idle
    /// connection of the address holding the most is closed to make room for an address that
    /// holds fewer.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Ticket, Refusal> {
        let key = AddressKey::from(ip);
        let mut st = self.lock();
        let mine = st.peers.get(&key).map_or(0, |p| p.conns.len());
        if mine >= self.limits.max_connections_per_ip {
            return Err(Refusal::AddressFull);
        }
        if st.total >= self.max_connections {
            let victim = st
                .peers
                .iter()
                .filter(|(k, p)| **k != key && p.conns.len() > mine + 1)
                .max_by_key(|(_, p)| p.conns.len())
                .and_then(|(_, p)| {
                    p.conns.values().find(|c| {
                        c.idle.load(Ordering::Relaxed) && !c.closing.load(Ordering::SeqCst)
                    })
                })
                .cloned();
            match victim {
                Some(c) => {
                    c.evict();
                    self.evicted.fetch_add(1, Ordering::Relaxed);
                }
                None => {
                    return Err(Refusal::RelayFull);
                }
            }
        }
        if st.peers.len() >= PRUNE_AT && !st.peers.contains_key(&key) {
            let now = Instant::now();
            st.peers.retain(|_, p| {
                !p.conns.is_empty() || !p.bucket.lock().unwrap_or_else(|e| e.into_inner()).full(now)
            });
        }
        let rate = f64::from(self.limits.new_files_per_second);
        let burst = f64::from(self.limits.new_files_burst);
        let peer = st.peers.entry(key).or_insert_with(|| Peer {
            conns: HashMap::new(),
            bucket: Arc::new(Mutex::new(Bucket::new(
                rate * ADDRESS_RATE_FACTOR,
                burst * ADDRESS_RATE_FACTOR,
            ))),
            downloads: Arc::new(Semaphore::new(self.limits.max_downloads_per_ip)),
        });
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let control = Arc::new(ConnControl::new());
        peer.conns.insert(id, control.clone());
        let limits = Arc::new(ConnLimits {
            bucket: Mutex::new(Bucket::new(rate, burst)),
            address_bucket: peer.bucket.clone(),
            downloads: Arc::new(Semaphore::new(self.limits.max_downloads_per_connection)),
            address_downloads: peer.downloads.clone(),
            all_downloads: self.downloads.clone(),
        });
        st.total += 1;
        Ok(Ticket {
            admission: self.clone(),
            key,
            id,
            control,
            limits,
        })
    }

    fn release(&self, key: AddressKey, id: u64) {
        let mut st = self.lock();
        st.total = st.total.saturating_sub(1);
        if let Some(p) = st.peers.get_mut(&key) {
            p.conns.remove(&id);
        }
    }
}

/// An admitted connection; gives its slot back on drop.
#[derive(Debug)]
pub struct Ticket {
    admission: Arc<Admission>,
    key: AddressKey,
    id: u64,
    /// Idle flag and eviction signal.
    pub control: Arc<ConnControl>,
    /// The limits its requests obey.
    pub limits: Arc<ConnLimits>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.admission.release(self.key, self.id);
    }
}

/// The limits one connection's requests obey.
#[derive(Debug)]
pub struct ConnLimits {
    bucket: Mutex<Bucket>,
    address_bucket: Arc<Mutex<Bucket>>,
    downloads: Arc<Semaphore>,
    address_downloads: Arc<Semaphore>,
    all_downloads: Arc<Semaphore>,
}

impl ConnLimits {
    /// Waits until this connection and its address may register another chunk.
    pub async fn new_file(&self) {
        let now = Instant::now();
        let mine = self
            .bucket
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take(now);
        let address = self
            .address_bucket
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take(now);
        let wait = mine.max(address);
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// Waits for a download slot of this connection, its address and the relay.
    pub async fn download(&self) -> Option<DownloadSlot> {
        let a = self.downloads.clone().acquire_owned().await.ok()?;
        let b = self.address_downloads.clone().acquire_owned().await.ok()?;
        let c = self.all_downloads.clone().acquire_owned().await.ok()?;
        Some(DownloadSlot(vec![a, b, c]))
    }
}

/// A download in progress; its slots are given back on drop.
#[derive(Debug)]
pub struct DownloadSlot(#[allow(dead_code)] Vec<OwnedSemaphorePermit>);

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_ip: usize) -> Limits {
        Limits {
            max_connections_per_ip: per_ip,
            ..Limits::default()
        }
    }

    #[test]
    fn per_address_cap_and_ipv6_prefixes() {
        let a = Arc::new(Admission::new(limits(2), 100));
        let ip: IpAddr = "2001:db8::1".parse().unwrap();
        let same64: IpAddr = "2001:db8::ffff:2".parse().unwrap();
        let other64: IpAddr = "2001:db8:0:1::1".parse().unwrap();
        let t1 = a.admit(ip).unwrap();
        let _t2 = a.admit(same64).unwrap();
        assert_eq!(a.admit(ip).unwrap_err(), Refusal::AddressFull);
        assert!(a.admit(other64).is_ok());
        drop(t1);
        assert!(
            a.admit(ip).is_ok(),
            "a closed connection gives its slot back"
        );
    }

    #[test]
    fn a_full_relay_evicts_an_idle_connection_of_the_heaviest_address() {
        let a = Arc::new(Admission::new(limits(100), 4));
        let heavy: IpAddr = "10.0.0.1".parse().unwrap();
        let light: IpAddr = "10.0.0.2".parse().unwrap();
        let tickets: Vec<Ticket> = (0..4).map(|_| a.admit(heavy).unwrap()).collect();
        for t in &tickets {
            t.control.set_idle(false);
        }
        // Busy connections are not evicted.
        assert_eq!(a.admit(light).unwrap_err(), Refusal::RelayFull);
        tickets[2].control.set_idle(true);
        let t = a.admit(light).unwrap();
        assert!(tickets[2].control.closing.load(Ordering::SeqCst));
        assert_eq!(a.evicted.load(Ordering::Relaxed), 1);
        drop(t);
        // The heavy address cannot evict its own connections to get more.
        tickets[1].control.set_idle(true);
        assert_eq!(a.admit(heavy).unwrap_err(), Refusal::RelayFull);
    }

    #[test]
    fn buckets_book_future_tokens() {
        let mut b = Bucket::new(10.0, 2.0);
        let now = Instant::now();
        assert!(b.take(now).is_zero());
        assert!(b.take(now).is_zero());
        let w = b.take(now);
        assert!((w.as_secs_f64() - 0.1).abs() < 1e-6, "{w:?}");
        let w = b.take(now);
        assert!((w.as_secs_f64() - 0.2).abs() < 1e-6, "{w:?}");
        assert!(b.take(now + Duration::from_secs(1)).is_zero());
    }
}
