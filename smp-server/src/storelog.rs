//! Queue records in `smp-server-store.log`, in the reference's text format, so that a restart
//! (or the reference relay) replays them.
//!
//! ```text
//! CREATE rid=<rid> rk=<key>[,<key>] rdh=<secret> sid=<sid> sk=[<key>] [queue_mode=M|C]
//!        [link_id=<lnk> queue_data=<fixed> <user>] [notifier=<nid> <nkey> <secret>]
//!        [updated_at=<seconds>] [status=off|blocked,<info>]
//! LINK <rid> <lnk> <fixed> <user> | LDELETE <rid> | SECURE <rid> <key> | KEYS <rid> <k>,<k>
//! NOTIFIER <rid> <nid> <nkey> <secret> | SUSPEND <rid> | BLOCK <rid> <info> | UNBLOCK <rid>
//! DELETE <rid> | NDELETE <rid> | TIME <rid> <seconds>
//! ```
//! Ids, keys (SPKI DER) and secrets in padded base64url. Service records (NEW_SERVICE,
//! QUEUE_SERVICE) are not supported: their lines are skipped and reported at start (the
//! previous log is kept as a backup).

use std::collections::HashMap;

use simplex_codec::base64url;
use simplex_crypto::{PublicKey, SbKey};
use smp_proto::command::LinkData;

use crate::queue::{Message, MsgQueue, Notifier, QueueMode, QueueRec, Status, ID_LEN};

/// A queue: its record and its messages.
#[derive(Debug)]
pub struct Queue {
    /// What the store log keeps.
    pub rec: QueueRec,
    /// Messages (in memory).
    pub msgs: MsgQueue,
    /// Their journal files, with the journal store, once the queue had a message.
    pub journal: Option<Box<crate::journal::QueueJournal>>,
}

/// Queue records by recipient id, with the other ids' indexes.
#[derive(Debug, Default)]
pub struct QueueStore {
    /// By recipient id.
    pub queues: HashMap<Vec<u8>, Queue>,
    /// Sender id → recipient id.
    pub by_sender: HashMap<Vec<u8>, Vec<u8>>,
    /// Link id → recipient id.
    pub by_link: HashMap<Vec<u8>, Vec<u8>>,
    /// Notifier id → recipient id.
    pub by_notifier: HashMap<Vec<u8>, Vec<u8>>,
}

fn b64(b: &[u8]) -> String {
    base64url::encode(b)
}

fn keys(ks: &[PublicKey]) -> String {
    ks.iter()
        .map(|k| b64(&k.to_der()))
        .collect::<Vec<_>>()
        .join(",")
}

fn notifier(n: &Notifier) -> String {
    format!(
        "{} {} {}",
        b64(&n.id),
        b64(&n.key.to_der()),
        b64(n.dh_secret.as_bytes())
    )
}

/// The CREATE record of a queue.
pub fn create_line(q: &QueueRec) -> String {
    let mut s = format!(
        "CREATE rid={} rk={} rdh={} sid={} sk={}",
        b64(&q.rcv_id),
        keys(&q.recipient_keys),
        b64(q.rcv_dh_secret.as_bytes()),
        b64(&q.sender_id),
        q.sender_key
            .as_ref()
            .map(|k| b64(&k.to_der()))
            .unwrap_or_default()
    );
    match q.mode {
        Some(QueueMode::Messaging) => s.push_str(" queue_mode=M"),
        Some(QueueMode::Contact) => s.push_str(" queue_mode=C"),
        None => {}
    }
    if let Some((l, d)) = &q.link {
        s.push_str(&format!(
            " link_id={} queue_data={} {}",
            b64(l),
            b64(&d.fixed),
            b64(&d.user)
        ));
    }
    if let Some(n) = &q.notifier {
        s.push_str(" notifier=");
        s.push_str(&notifier(n));
    }
    if let Some(t) = q.updated_at {
        s.push_str(&format!(" updated_at={t}"));
    }
    if q.status != Status::Active {
        s.push_str(" status=");
        s.push_str(&status_text(&q.status));
    }
    s
}

/// `LINK rid lnk fixed user`.
pub fn link_line(rid: &[u8], lid: &[u8], d: &LinkData) -> String {
    format!(
        "LINK {} {} {} {}",
        b64(rid),
        b64(lid),
        b64(&d.fixed),
        b64(&d.user)
    )
}

/// A record naming only the queue: `LDELETE`, `SUSPEND`, `UNBLOCK`, `DELETE`, `NDELETE`.
pub fn rid_line(tag: &str, rid: &[u8]) -> String {
    format!("{tag} {}", b64(rid))
}

/// `SECURE rid key`.
pub fn secure_line(rid: &[u8], key: &PublicKey) -> String {
    format!("SECURE {} {}", b64(rid), b64(&key.to_der()))
}

/// `KEYS rid k,k`.
pub fn keys_line(rid: &[u8], ks: &[PublicKey]) -> String {
    format!("KEYS {} {}", b64(rid), keys(ks))
}

/// `NOTIFIER rid nid nkey secret`.
pub fn notifier_line(rid: &[u8], n: &Notifier) -> String {
    format!("NOTIFIER {} {}", b64(rid), notifier(n))
}

fn id(s: &str) -> Result<Vec<u8>, &'static str> {
    base64url::decode(s).ok_or("bad base64url")
}

fn key(s: &str) -> Result<PublicKey, &'static str> {
    PublicKey::from_der(&id(s)?).map_err(|_| "bad key")
}

fn secret(s: &str) -> Result<SbKey, &'static str> {
    let b: [u8; 32] = id(s)?.try_into().map_err(|_| "bad secret length")?;
    Ok(SbKey::from_bytes(b))
}

fn key_list(s: &str) -> Result<Vec<PublicKey>, &'static str> {
    let ks = s.split(',').map(key).collect::<Result<Vec<_>, _>>()?;
    if ks.is_empty() {
        return Err("no keys");
    }
    Ok(ks)
}

fn parse_notifier(nid: &str, nkey: &str, sec: &str) -> Result<Notifier, &'static str> {
    Ok(Notifier {
        id: id(nid)?,
        key: key(nkey)?,
        dh_secret: secret(sec)?,
    })
}

/// Parses the fields after `CREATE `.
fn parse_create(rest: &str) -> Result<QueueRec, &'static str> {
    let mut words = rest.split(' ').peekable();
    let mut field = |name: &'static str| -> Result<&str, &'static str> {
        words
            .next()
            .and_then(|w| w.strip_prefix(name))
            .ok_or("missing field")
    };
    let rcv_id = id(field("rid=")?)?;
    let recipient_keys = key_list(field("rk=")?)?;
    let rcv_dh_secret = secret(field("rdh=")?)?;
    let sender_id = id(field("sid=")?)?;
    let sk = field("sk=")?;
    let sender_key = if sk.is_empty() { None } else { Some(key(sk)?) };
    let mut rec = QueueRec {
        rcv_id,
        recipient_keys,
        rcv_dh_secret,
        sender_id,
        sender_key,
        mode: None,
        link: None,
        notifier: None,
        status: Status::Active,
        updated_at: None,
    };
    while let Some(w) = words.next() {
        if let Some(m) = w.strip_prefix("queue_mode=") {
            rec.mode = Some(match m {
                "M" => QueueMode::Messaging,
                "C" => QueueMode::Contact,
                _ => return Err("bad queue_mode"),
            });
        } else if let Some(v) = w.strip_prefix("sndSecure=") {
            // The older form: T means a messaging queue.
            rec.mode = Some(match v {
                "T" => QueueMode::Messaging,
                "F" => QueueMode::Contact,
                _ => return Err("bad sndSecure"),
            });
        } else if let Some(l) = w.strip_prefix("link_id=") {
            let fixed = words
                .next()
                .and_then(|w| w.strip_prefix("queue_data="))
                .ok_or("link_id without queue_data")?;
            let user = words.next().ok_or("queue_data without user data")?;
            rec.link = Some((
                id(l)?,
                LinkData {
                    fixed: id(fixed)?,
                    user: id(user)?,
                },
            ));
        } else if let Some(nid) = w.strip_prefix("notifier=") {
            let nkey = words.next().ok_or("notifier without key")?;
            let sec = words.next().ok_or("notifier without secret")?;
            rec.notifier = Some(parse_notifier(nid, nkey, sec)?);
            if words.peek().is_some_and(|w| w.starts_with("nsrv=")) {
                return Err("notification services are not supported");
            }
        } else if let Some(t) = w.strip_prefix("updated_at=") {
            rec.updated_at = Some(t.parse().map_err(|_| "bad updated_at")?);
        } else if let Some(st) = w.strip_prefix("status=") {
            rec.status = parse_status(st)?;
        } else if w.starts_with("rsrv=") {
            return Err("recipient services are not supported");
        } else {
            return Err("unknown CREATE field");
        }
    }
    Ok(rec)
}

fn parse_status(s: &str) -> Result<Status, &'static str> {
    match s {
        "active" => Ok(Status::Active),
        "off" => Ok(Status::Off),
        _ => match s.strip_prefix("blocked,") {
            Some(info) if info.starts_with("reason=") => {
                Ok(Status::Blocked(info.as_bytes().to_vec()))
            }
            _ => Err("bad status"),
        },
    }
}

/// One line of `smp-server-messages.log` (the reference's `MLRv3`):
/// `v3 <rid> <msgId> <seconds> flags=<T|F> <body>` or `v3 <rid> <msgId> <seconds> quota`.
pub fn message_line(rid: &[u8], m: &Message) -> String {
    format!("v3 {} {}", b64(rid), journal_line(m))
}

/// A message as the journal store writes it (and the snapshot after `v3 <rid> `):
/// `<id> <ts> flags=<T|F> <body>`, or `<id> <ts> quota` for the quota marker.
pub fn journal_line(m: &Message) -> String {
    match &m.body {
        Some((notification, body)) => format!(
            "{} {} flags={} {}",
            b64(&m.id),
            m.ts,
            if *notification { 'T' } else { 'F' },
            b64(body)
        ),
        None => format!("{} {} quota", b64(&m.id), m.ts),
    }
}

/// Parses a message line: the queue and the message.
pub fn parse_message_line(line: &str) -> Result<(Vec<u8>, Message), &'static str> {
    let rest = line.strip_prefix("v3 ").ok_or("not a v3 message record")?;
    let (rid, rest) = rest.split_once(' ').ok_or("not a v3 message record")?;
    Ok((id(rid)?, parse_journal_line(rest)?))
}

/// Parses a message written by [`journal_line`] (or by the reference before message flags).
pub fn parse_journal_line(line: &str) -> Result<Message, &'static str> {
    let w: Vec<&str> = line.split(' ').collect();
    if w.len() < 3 {
        return Err("bad message record");
    }
    let msg_id: [u8; ID_LEN] = id(w[0])?.try_into().map_err(|_| "bad message id length")?;
    let ts: i64 = w[1].parse().map_err(|_| "bad timestamp")?;
    let body = match &w[2..] {
        ["quota"] => None,
        [flags, body] => {
            let notification = match flags.strip_prefix("flags=").and_then(|f| f.chars().next()) {
                Some('T') => true,
                Some('F') => false,
                _ => return Err("bad flags"),
            };
            Some((notification, id(body)?))
        }
        // Records written before message flags existed.
        [body] => Some((false, id(body)?)),
        _ => return Err("bad message record"),
    };
    Ok(Message {
        id: msg_id,
        ts,
        body,
    })
}

impl QueueStore {
    /// Adds a queue and its indexes.
    pub fn insert(&mut self, rec: QueueRec) {
        self.by_sender
            .insert(rec.sender_id.clone(), rec.rcv_id.clone());
        if let Some((l, _)) = &rec.link {
            self.by_link.insert(l.clone(), rec.rcv_id.clone());
        }
        if let Some(n) = &rec.notifier {
            self.by_notifier.insert(n.id.clone(), rec.rcv_id.clone());
        }
        self.queues.insert(
            rec.rcv_id.clone(),
            Queue {
                rec,
                msgs: MsgQueue::default(),
                journal: None,
            },
        );
    }

    /// Removes a queue and its indexes.
    pub fn remove(&mut self, rid: &[u8]) -> Option<Queue> {
        let q = self.queues.remove(rid)?;
        self.by_sender.remove(&q.rec.sender_id);
        if let Some((l, _)) = &q.rec.link {
            self.by_link.remove(l);
        }
        if let Some(n) = &q.rec.notifier {
            self.by_notifier.remove(&n.id);
        }
        Some(q)
    }

    fn rec_mut(&mut self, rid: &[u8]) -> Result<&mut QueueRec, &'static str> {
        Ok(&mut self.queues.get_mut(rid).ok_or("unknown queue")?.rec)
    }
}

/// One store-log record, parsed.
#[derive(Debug)]
pub enum Record {
    /// `CREATE`: a new queue.
    Create(Box<QueueRec>),
    /// `LINK rid lnk fixed user`.
    Link(Vec<u8>, Vec<u8>, LinkData),
    /// `LDELETE rid`.
    LinkDelete(Vec<u8>),
    /// `SECURE rid key`.
    Secure(Vec<u8>, PublicKey),
    /// `KEYS rid k,k`.
    Keys(Vec<u8>, Vec<PublicKey>),
    /// `NOTIFIER rid nid nkey secret`.
    Notifier(Vec<u8>, Notifier),
    /// `SUSPEND rid` (off), `BLOCK rid info`, `UNBLOCK rid` (active).
    Status(Vec<u8>, Status),
    /// `DELETE rid`.
    Delete(Vec<u8>),
    /// `NDELETE rid`.
    NotifierDelete(Vec<u8>),
    /// `TIME rid seconds`.
    Time(Vec<u8>, i64),
}

/// Parses one store-log line; an error says why it cannot be applied.
pub fn parse_record(line: &str) -> Result<Record, &'static str> {
    let (tag, rest) = line.split_once(' ').ok_or("no record tag")?;
    let args: Vec<&str> = rest.split(' ').collect();
    let arg = |i: usize| args.get(i).copied().ok_or("missing field");
    let rid = || id(arg(0)?);
    Ok(match tag {
        "CREATE" => Record::Create(Box::new(parse_create(rest)?)),
        "LINK" => Record::Link(
            rid()?,
            id(arg(1)?)?,
            LinkData {
                fixed: id(arg(2)?)?,
                user: id(arg(3)?)?,
            },
        ),
        "LDELETE" => Record::LinkDelete(rid()?),
        "SECURE" => Record::Secure(rid()?, key(arg(1)?)?),
        "KEYS" => Record::Keys(rid()?, key_list(arg(1)?)?),
        "NOTIFIER" => {
            if args.len() > 4 {
                return Err("notification services are not supported");
            }
            Record::Notifier(rid()?, parse_notifier(arg(1)?, arg(2)?, arg(3)?)?)
        }
        "SUSPEND" => Record::Status(rid()?, Status::Off),
        "BLOCK" => {
            let info = arg(1)?;
            if !info.starts_with("reason=") {
                return Err("bad blocking info");
            }
            Record::Status(rid()?, Status::Blocked(info.as_bytes().to_vec()))
        }
        "UNBLOCK" => Record::Status(rid()?, Status::Active),
        "DELETE" => Record::Delete(rid()?),
        "NDELETE" => Record::NotifierDelete(rid()?),
        "TIME" => Record::Time(rid()?, arg(1)?.parse().map_err(|_| "bad time")?),
        "NEW_SERVICE" | "QUEUE_SERVICE" => return Err("services are not supported"),
        _ => return Err("unknown record"),
    })
}

/// The text of a status in the database's `status` column (the reference's `strEncode`):
/// `active`, `off` or `blocked,<info>`.
pub fn status_text(s: &Status) -> String {
    match s {
        Status::Active => "active".into(),
        Status::Off => "off".into(),
        Status::Blocked(info) => format!("blocked,{}", String::from_utf8_lossy(info)),
    }
}

/// Parses a status as [`status_text`] writes it.
pub fn parse_status_text(s: &str) -> Result<Status, &'static str> {
    parse_status(s)
}

impl store_log::LogState for QueueStore {
    const TAGS: &'static [&'static str] = &[
        "CREATE ",
        "LINK ",
        "LDELETE ",
        "SECURE ",
        "KEYS ",
        "NOTIFIER ",
        "SUSPEND ",
        "BLOCK ",
        "UNBLOCK ",
        "DELETE ",
        "NDELETE ",
        "TIME ",
    ];

    fn apply_line(&mut self, line: &str) -> Result<(), &'static str> {
        match parse_record(line)? {
            Record::Create(rec) => {
                if self.queues.contains_key(&rec.rcv_id)
                    || self.by_sender.contains_key(&rec.sender_id)
                {
                    return Err("duplicate queue id");
                }
                self.insert(*rec);
            }
            Record::Link(rid, lid, data) => {
                let rec = self.rec_mut(&rid)?;
                rec.link = Some((lid.clone(), data));
                self.by_link.insert(lid, rid);
            }
            Record::LinkDelete(rid) => {
                if let Some((l, _)) = self.rec_mut(&rid)?.link.take() {
                    self.by_link.remove(&l);
                }
            }
            Record::Secure(rid, k) => self.rec_mut(&rid)?.sender_key = Some(k),
            Record::Keys(rid, ks) => self.rec_mut(&rid)?.recipient_keys = ks,
            Record::Notifier(rid, n) => {
                let nid = n.id.clone();
                if let Some(old) = self.rec_mut(&rid)?.notifier.replace(n) {
                    self.by_notifier.remove(&old.id);
                }
                self.by_notifier.insert(nid, rid);
            }
            Record::Status(rid, st) => self.rec_mut(&rid)?.status = st,
            Record::Delete(rid) => {
                self.remove(&rid).ok_or("unknown queue")?;
            }
            Record::NotifierDelete(rid) => {
                if let Some(n) = self.rec_mut(&rid)?.notifier.take() {
                    self.by_notifier.remove(&n.id);
                }
            }
            Record::Time(rid, t) => self.rec_mut(&rid)?.updated_at = Some(t),
        }
        Ok(())
    }

    fn snapshot_lines(&self) -> Vec<String> {
        let mut recs: Vec<&QueueRec> = self.queues.values().map(|q| &q.rec).collect();
        recs.sort_by(|a, b| a.rcv_id.cmp(&b.rcv_id));
        recs.into_iter().map(create_line).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use simplex_crypto::{generate, KeyAlgorithm};
    use store_log::LogState;

    fn rec(i: u8) -> QueueRec {
        QueueRec {
            rcv_id: vec![i; 24],
            recipient_keys: vec![generate(KeyAlgorithm::Ed25519).unwrap().0],
            rcv_dh_secret: SbKey::from_bytes([i; 32]),
            sender_id: vec![i + 100; 24],
            sender_key: None,
            mode: Some(QueueMode::Messaging),
            link: None,
            notifier: None,
            status: Status::Active,
            updated_at: Some(1_750_032_000),
        }
    }

    #[test]
    fn records_replay_and_compact_like_the_reference_cases() {
        let mut s = QueueStore::default();
        let q = rec(1);
        let line = create_line(&q);
        assert!(line.starts_with("CREATE rid="), "{line}");
        assert!(
            line.contains(" sk= queue_mode=M updated_at=1750032000"),
            "{line}"
        );
        s.apply_line(&line).unwrap();
        // Each compaction case of StoreLogTests: saved lines compact to one CREATE.
        let sender = generate(KeyAlgorithm::Ed25519).unwrap().0;
        let k2 = generate(KeyAlgorithm::Ed448).unwrap().0;
        let data = LinkData {
            fixed: b"fixed data".to_vec(),
            user: b"user data".to_vec(),
        };
        let n = Notifier {
            id: b"ijkl".to_vec(),
            key: generate(KeyAlgorithm::Ed25519).unwrap().0,
            dh_secret: SbKey::from_bytes([5; 32]),
        };
        for l in [
            link_line(&q.rcv_id, &[9; 24], &data),
            secure_line(&q.rcv_id, &sender),
            keys_line(&q.rcv_id, &[q.recipient_keys[0].clone(), k2.clone()]),
            notifier_line(&q.rcv_id, &n),
            format!("TIME {} 1750118400", b64(&q.rcv_id)),
        ] {
            s.apply_line(&l).unwrap();
        }
        let snap = s.snapshot_lines();
        assert_eq!(snap.len(), 1);
        assert!(
            snap[0].contains(" queue_data=Zml4ZWQgZGF0YQ== dXNlciBkYXRh"),
            "{}",
            snap[0]
        );
        assert!(snap[0].contains(" notifier=aWprbA== "), "{}", snap[0]);
        assert!(snap[0].contains(" updated_at=1750118400"));
        // The snapshot replays to the same state.
        let mut again = QueueStore::default();
        again.apply_line(&snap[0]).unwrap();
        assert_eq!(again.snapshot_lines(), snap);
        let r = &again.queues[&q.rcv_id].rec;
        assert_eq!(r.sender_key.as_ref(), Some(&sender));
        assert_eq!(r.recipient_keys.len(), 2);
        assert_eq!(again.by_link[&vec![9; 24]], q.rcv_id);
        assert_eq!(again.by_notifier[&b"ijkl".to_vec()], q.rcv_id);
        // LDELETE, NDELETE, SUSPEND, DELETE.
        for l in [
            rid_line("LDELETE", &q.rcv_id),
            rid_line("NDELETE", &q.rcv_id),
            rid_line("SUSPEND", &q.rcv_id),
        ] {
            again.apply_line(&l).unwrap();
        }
        let snap = again.snapshot_lines();
        assert!(!snap[0].contains("link_id") && !snap[0].contains("notifier"));
        assert!(snap[0].ends_with(" status=off"), "{}", snap[0]);
        again.apply_line(&rid_line("DELETE", &q.rcv_id)).unwrap();
        assert!(again.snapshot_lines().is_empty());
        assert!(again.by_sender.is_empty() && again.by_link.is_empty());
        // The older sndSecure form, unknown records and services are refused with a reason.
        let legacy = line.replace(" queue_mode=M", " sndSecure=T");
        let mut l = QueueStore::default();
        l.apply_line(&legacy).unwrap();
        assert_eq!(l.queues[&q.rcv_id].rec.mode, Some(QueueMode::Messaging));
        assert!(l.apply_line("NEW_SERVICE service_id=AA==").is_err());
        assert!(l.apply_line("FNEW x").is_err());
    }
}
