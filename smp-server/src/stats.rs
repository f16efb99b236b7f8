//! The relay's counters, the daily statistics line of `smp-server-stats.daily.log`
//! (`[STORE_LOG] log_stats = on`) in the reference's column order, and the active-queue counts
//! per day, week (printed on Mondays) and month (printed on the 1st).

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// The statistics file in the log directory.
pub const STATS_FILE: &str = "smp-server-stats.daily.log";

/// Counters since the last daily line (those the reference resets) and in all.
#[derive(Debug, Default)]
pub struct Stats {
    /// Queues created.
    pub q_created: AtomicU64,
    /// Queues secured (KEY, SKEY).
    pub q_secured: AtomicU64,
    /// Queues deleted.
    pub q_deleted_all: AtomicU64,
    /// ... of them never secured.
    pub q_deleted_new: AtomicU64,
    /// ... of them secured.
    pub q_deleted_secured: AtomicU64,
    /// Queues blocked by the operator.
    pub q_blocked: AtomicU64,
    /// SUBs answered SOK.
    pub q_sub: AtomicU64,
    /// SUBs refused AUTH.
    pub q_sub_auth: AtomicU64,
    /// SUBs repeated on the same connection.
    pub q_sub_duplicate: AtomicU64,
    /// SUBs refused because the connection reads the queue by GET.
    pub q_sub_prohibited: AtomicU64,
    /// ENDs sent to a previous subscriber.
    pub q_sub_end: AtomicU64,
    /// Messages stored by SEND.
    pub msg_sent: AtomicU64,
    /// SENDs refused AUTH.
    pub msg_sent_auth: AtomicU64,
    /// SENDs refused QUOTA.
    pub msg_sent_quota: AtomicU64,
    /// SENDs refused LARGE_MSG.
    pub msg_sent_large: AtomicU64,
    /// Messages acknowledged by subscribers.
    pub msg_recv: AtomicU64,
    /// Messages acknowledged after GET.
    pub msg_recv_get: AtomicU64,
    /// GETs that returned a message.
    pub msg_get: AtomicU64,
    /// GETs of an empty queue.
    pub msg_get_no_msg: AtomicU64,
    /// GETs refused AUTH.
    pub msg_get_auth: AtomicU64,
    /// GETs refused because the connection subscribed to the queue.
    pub msg_get_prohibited: AtomicU64,
    /// Messages expired.
    pub msg_expired: AtomicU64,
    /// PRXY: requests, successes, connection errors, version errors, other errors.
    pub p_relays: [AtomicU64; 5],
    /// PFWD: the same.
    pub p_msg_fwds: [AtomicU64; 5],
    /// RFWD received (as the destination).
    pub p_msg_fwds_recv: AtomicU64,
    active: Mutex<Active>,
}

/// Queues that received or delivered a message, by period (hashes of their ids).
#[derive(Debug, Default)]
struct Active {
    day: HashSet<u64>,
    week: HashSet<u64>,
    month: HashSet<u64>,
}

/// Indexes into the proxy counters.
pub mod proxy {
    /// Requests.
    pub const REQUESTS: usize = 0;
    /// Successes.
    pub const SUCCESSES: usize = 1;
    /// The destination could not be reached.
    pub const ERRORS_CONNECT: usize = 2;
    /// No common version.
    pub const ERRORS_COMPAT: usize = 3;
    /// Anything else.
    pub const ERRORS_OTHER: usize = 4;
}

fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl Stats {
    /// Adds one to a counter.
    pub fn inc(&self, c: impl Fn(&Self) -> &AtomicU64) {
        inc(c(self));
    }

    /// A queue had traffic (for the active-queue counts).
    pub fn active_queue(&self, rid: &[u8]) {
        let id = fixed_hash(rid);
        let mut a = self.active.lock().unwrap_or_else(|p| p.into_inner());
        a.day.insert(id);
        a.week.insert(id);
        a.month.insert(id);
    }

    /// The daily line, resetting what the reference resets. `date` is the day the period
    /// started (YYYY-MM-DD), `weekday` 1 = Monday, `monthday` 1..31 of the logging day;
    /// `queues` and `messages` are the current counts.
    pub fn daily_line(
        &self,
        date: &str,
        weekday: u32,
        monthday: u32,
        queues: usize,
        messages: usize,
    ) -> String {
        let t = |c: &AtomicU64| c.swap(0, Ordering::Relaxed).to_string();
        let (day, week, month) = {
            let mut a = self.active.lock().unwrap_or_else(|p| p.into_inner());
            let day = std::mem::take(&mut a.day).len().to_string();
            let week = if weekday == 1 {
                std::mem::take(&mut a.week).len().to_string()
            } else {
                String::new()
            };
            let month = if monthday == 1 {
                std::mem::take(&mut a.month).len().to_string()
            } else {
                String::new()
            };
            (day, week, month)
        };
        let _ = t(&self.q_blocked); // reset only, as the reference does
        let proxy = |p: &[AtomicU64; 5]| p.iter().map(t).collect::<Vec<_>>();
        let zero = || "0".to_string();
        let mut cols = vec![
            date.to_string(),
            t(&self.q_created),
            t(&self.q_secured),
            t(&self.q_deleted_all),
            t(&self.msg_sent),
            t(&self.msg_recv),
            day,
            week,
            month,
            zero(), // msgSentNtf: no notification server
            zero(), // msgRecvNtf
            zero(), // active queues with notifications: day, week (Mondays), month (the 1st)
            if weekday == 1 { zero() } else { String::new() },
            if monthday == 1 { zero() } else { String::new() },
            queues.to_string(),
            messages.to_string(),
            t(&self.msg_expired),
            t(&self.q_deleted_new),
            t(&self.q_deleted_secured),
        ];
        cols.extend(proxy(&self.p_relays));
        cols.extend(std::iter::repeat_n(zero(), 5)); // pRelaysOwn
        cols.extend(proxy(&self.p_msg_fwds));
        cols.extend(std::iter::repeat_n(zero(), 5)); // pMsgFwdsOwn
        cols.extend([
            t(&self.p_msg_fwds_recv),
            t(&self.q_sub),
            t(&self.q_sub_auth),
            t(&self.q_sub_duplicate),
            t(&self.q_sub_prohibited),
            t(&self.msg_sent_auth),
            t(&self.msg_sent_quota),
            t(&self.msg_sent_large),
            zero(), // msgNtfs
            zero(), // msgNtfNoSub
            zero(), // msgNtfLost
            zero(), // qSubNoMsg (removed in the reference too)
            t(&self.msg_recv_get),
            t(&self.msg_get),
            t(&self.msg_get_no_msg),
            t(&self.msg_get_auth),
            zero(), // msgGetDuplicate
            t(&self.msg_get_prohibited),
            zero(), // psSub day, week, month (removed in the reference)
            zero(),
            zero(),
            queues.to_string(),
        ]);
        // Notifier and service counters: none on this relay.
        cols.extend(std::iter::repeat_n(zero(), 6)); // ntfCreated .. notifierCount
        cols.extend([zero(), zero(), t(&self.q_sub_end), zero()]); // qDeletedAllB, qSubAllB, qSubEnd, qSubEndB
        cols.extend(std::iter::repeat_n(zero(), 5)); // ntfDeletedB, ntfSubB, msgNtfsB, msgNtfExpired, ntfCount
        cols.extend(std::iter::repeat_n(zero(), 4)); // service counts
        cols.extend(std::iter::repeat_n(zero(), 16)); // rcv and ntf service stats
        cols.join(",")
    }
}

impl Stats {
    /// The control port's `stats` lines (current values, nothing reset), with the reference's
    /// labels for the counters this relay keeps.
    pub fn report(&self, from: &str, queues: usize, messages: usize) -> Vec<String> {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let proxy = |label: &str, p: &[AtomicU64; 5]| {
            format!(
                "{label}: requests={}, successes={}, errorsConnect={}, errorsCompat={}, errorsOther={}",
                g(&p[0]),
                g(&p[1]),
                g(&p[2]),
                g(&p[3]),
                g(&p[4])
            )
        };
        let active = self
            .active
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .day
            .len();
        vec![
            format!("fromTime: {from}"),
            format!("qCreated: {}", g(&self.q_created)),
            format!("qSecured: {}", g(&self.q_secured)),
            format!("qDeletedAll: {}", g(&self.q_deleted_all)),
            format!("qDeletedNew: {}", g(&self.q_deleted_new)),
            format!("qDeletedSecured: {}", g(&self.q_deleted_secured)),
            format!("daily active queues: {active}"),
            format!("qSub: {}", g(&self.q_sub)),
            format!("qSubEnd: {}", g(&self.q_sub_end)),
            format!(
                "other SUB events (auth, duplicate, prohibited): ({},{},{})",
                g(&self.q_sub_auth),
                g(&self.q_sub_duplicate),
                g(&self.q_sub_prohibited)
            ),
            format!("msgSent: {}", g(&self.msg_sent)),
            format!("msgRecv: {}", g(&self.msg_recv)),
            format!("msgRecvGet: {}", g(&self.msg_recv_get)),
            format!("msgGet: {}", g(&self.msg_get)),
            format!("msgGetNoMsg: {}", g(&self.msg_get_no_msg)),
            format!(
                "other GET events (auth, duplicate, prohibited): ({},0,{})",
                g(&self.msg_get_auth),
                g(&self.msg_get_prohibited)
            ),
            format!("msgExpired: {}", g(&self.msg_expired)),
            format!("qCount: {queues}"),
            format!("msgCount: {messages}"),
            proxy("pRelays", &self.p_relays),
            proxy("pMsgFwds", &self.p_msg_fwds),
            format!("pMsgFwdsRecv: {}", g(&self.p_msg_fwds_recv)),
        ]
    }
}

pub use relay_config::civil_date;

/// `YYYY-MM-DD` of a time in seconds since the epoch (UTC).
pub fn iso_date(secs: i64) -> String {
    let (y, m, d) = civil_date(secs.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

/// ISO weekday (1 = Monday) of a time in seconds since the epoch (UTC).
pub fn iso_weekday(secs: i64) -> u32 {
    // 1970-01-01 was a Thursday.
    ((secs.div_euclid(86_400) + 3).rem_euclid(7) + 1) as u32
}

/// A stable 64-bit hash of a queue id (FNV-1a; only for counting distinct queues).
fn fixed_hash(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &x| {
        (h ^ u64::from(x)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(iso_date(0), "1970-01-01");
        assert_eq!(iso_date(1_764_633_600), "2025-12-02");
        assert_eq!(iso_date(951_782_400), "2000-02-29");
        assert_eq!(iso_weekday(0), 4);
        // 2026-11-30 is a Monday.
        assert_eq!(iso_weekday(1_795_996_800), 1);
        assert_eq!(iso_date(1_795_996_800), "2026-11-30");
    }

    #[test]
    fn the_daily_line_has_the_reference_columns_and_resets() {
        let s = Stats::default();
        s.inc(|s| &s.q_created);
        s.inc(|s| &s.msg_sent);
        s.inc(|s| &s.msg_sent);
        s.active_queue(b"a");
        s.active_queue(b"b");
        s.active_queue(b"a");
        let line = s.daily_line("2026-12-01", 2, 2, 10, 5);
        let cols: Vec<&str> = line.split(',').collect();
        // date, qCreated, qSecured, qDeletedAll, msgSent, msgRecv, day, week, month, ...
        assert_eq!(
            &cols[..9],
            ["2026-12-01", "1", "0", "0", "2", "0", "2", "", ""]
        );
        assert_eq!((cols[14], cols[15]), ("10", "5"));
        assert_eq!(cols.len(), 96);
        // Counters and the day set start again; the week is reported on Monday.
        let line = s.daily_line("2026-12-02", 1, 3, 10, 5);
        let cols: Vec<&str> = line.split(',').collect();
        assert_eq!(&cols[1..9], ["0", "0", "0", "0", "0", "0", "2", ""]);
    }
}
