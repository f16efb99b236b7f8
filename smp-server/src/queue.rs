//! Queues and their messages, as the relay keeps them.

use std::collections::VecDeque;

use simplex_crypto::{PublicKey, SbKey};
use smp_proto::command::LinkData;

/// Bytes of queue ids and message ids (the reference's default).
pub const ID_LEN: usize = 24;
/// Messages a queue holds before it is over quota (the reference's default).
pub const QUEUE_QUOTA: usize = 128;
/// The largest SEND body from v11 (the reference's `maxMessageLength`).
pub const MAX_MESSAGE_LEN: usize = 16048;
/// The largest SEND body from v8 to v10.
pub const MAX_MESSAGE_LEN_V8: usize = 16064;
/// The largest SEND body below v8.
pub const MAX_MESSAGE_LEN_V6: usize = 16088;

/// The largest SEND body a client at version `v` may send (the reference's `maxMessageLength`).
pub fn max_message_len(v: u16) -> usize {
    if v >= 11 {
        MAX_MESSAGE_LEN
    } else if v >= 8 {
        MAX_MESSAGE_LEN_V8
    } else {
        MAX_MESSAGE_LEN_V6
    }
}
/// The padded size of what MSG encrypts for the recipient.
pub const RCV_MSG_PADDED: usize = 16106;

/// Messaging or contact-address queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueMode {
    /// The sender may secure it (SKEY, LKEY).
    Messaging,
    /// A contact address: never secured by a sender.
    Contact,
}

/// Whether the queue accepts messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Normal.
    Active,
    /// Suspended by its recipient (OFF): sends get AUTH.
    Off,
    /// Blocked by the operator: `reason=...` info.
    Blocked(Vec<u8>),
}

/// Notification credentials of a queue.
#[derive(Clone)]
pub struct Notifier {
    /// The notifier id.
    pub id: Vec<u8>,
    /// The key that signs NSUB.
    pub key: PublicKey,
    /// The DH secret for notification metadata.
    pub dh_secret: SbKey,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// A queue's record (what the store log keeps).
#[derive(Clone)]
pub struct QueueRec {
    /// Recipient id.
    pub rcv_id: Vec<u8>,
    /// Keys that may authorize recipient commands (one, or several for contact queues).
    pub recipient_keys: Vec<PublicKey>,
    /// X25519 secret shared with the recipient: the key of every MSG body.
    pub rcv_dh_secret: SbKey,
    /// Sender id.
    pub sender_id: Vec<u8>,
    /// The sender's key once the queue is secured.
    pub sender_key: Option<PublicKey>,
    /// Messaging or contact queue (`None`: created before queue modes).
    pub mode: Option<QueueMode>,
    /// Link id and data, for short links.
    pub link: Option<(Vec<u8>, LinkData)>,
    /// Notification credentials.
    pub notifier: Option<Notifier>,
    /// Active, off or blocked.
    pub status: Status,
    /// The day (seconds at midnight) the queue was last used.
    pub updated_at: Option<i64>,
}

impl std::fmt::Debug for QueueRec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueRec")
            .field("mode", &self.mode)
            .field("secured", &self.sender_key.is_some())
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl QueueRec {
    /// A contact queue, or an old queue without a mode that was never secured.
    pub fn is_contact(&self) -> bool {
        match self.mode {
            Some(QueueMode::Messaging) => false,
            Some(QueueMode::Contact) => true,
            None => self.sender_key.is_none(),
        }
    }

    /// A messaging queue the sender has secured.
    pub fn is_secured_messaging(&self) -> bool {
        self.mode != Some(QueueMode::Contact) && self.sender_key.is_some()
    }
}

/// A stored message, or the quota marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Random id; also the nonce of its encryption for the recipient.
    pub id: [u8; ID_LEN],
    /// Seconds since the epoch when it was stored.
    pub ts: i64,
    /// `None` for the quota marker.
    pub body: Option<(bool, Vec<u8>)>,
}

/// The messages of one queue, with the reference's quota rule: while fewer than 128 are
/// stored a SEND stores its message; the SEND that finds 128 stores a quota marker instead and
/// gets QUOTA, as does every later SEND until the queue is empty again.
#[derive(Debug, Default)]
pub struct MsgQueue {
    messages: VecDeque<Message>,
    over_quota: bool,
}

/// What [`MsgQueue::write`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum Written {
    /// Stored; `true` if the queue was empty before.
    Stored(bool),
    /// Refused: the queue is over quota.
    Quota,
}

impl MsgQueue {
    /// What [`MsgQueue::write`] would store: `Some(true)` the message, `Some(false)` the quota
    /// marker, `None` nothing.
    pub fn would_store(&self) -> Option<bool> {
        if self.over_quota {
            None
        } else {
            Some(self.messages.len() < QUEUE_QUOTA)
        }
    }

    /// Stores a message (or the quota marker in its place).
    pub fn write(&mut self, msg: Message) -> Written {
        if self.over_quota {
            return Written::Quota;
        }
        let was_empty = self.messages.is_empty();
        if self.messages.len() >= QUEUE_QUOTA {
            self.over_quota = true;
            self.messages.push_back(Message { body: None, ..msg });
            return Written::Quota;
        }
        self.messages.push_back(msg);
        Written::Stored(was_empty)
    }

    /// The oldest message.
    pub fn peek(&self) -> Option<&Message> {
        self.messages.front()
    }

    /// Removes the oldest message if it has this id; the queue accepts messages again once
    /// it is empty.
    pub fn delete(&mut self, id: &[u8]) -> Option<Message> {
        if self.messages.front().is_some_and(|m| m.id[..] == *id) {
            let m = self.messages.pop_front();
            if self.messages.is_empty() {
                self.over_quota = false;
            }
            m
        } else {
            None
        }
    }

    /// Puts back a message from the snapshot, in order, whatever the quota (a restored quota
    /// marker blocks writing again until the queue is empty).
    pub fn restore(&mut self, msg: Message) {
        if msg.body.is_none() {
            self.over_quota = true;
        }
        self.messages.push_back(msg);
    }

    /// The stored messages, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Message> {
        self.messages.iter()
    }

    /// Messages stored (the marker included).
    pub fn len(&self) -> usize {
        self.messages.len()
    }

    /// No messages.
    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// (Feature `hostile`, tests only) swaps the two oldest messages; `false` with fewer.
    #[cfg(feature = "hostile")]
    pub fn hostile_swap_oldest(&mut self) -> bool {
        if self.messages.len() < 2 {
            return false;
        }
        self.messages.swap(0, 1);
        true
    }

    /// (Feature `hostile`, tests only) appends a copy of the oldest message's body under
    /// `new_id`, as a relay replaying it would.
    #[cfg(feature = "hostile")]
    pub fn hostile_replay_oldest(&mut self, new_id: [u8; ID_LEN]) -> bool {
        let Some(first) = self.messages.front().cloned() else {
            return false;
        };
        self.messages.push_back(Message {
            id: new_id,
            ..first
        });
        true
    }

    /// Drops messages older than `before` (seconds); returns how many.
    pub fn expire(&mut self, before: i64) -> usize {
        let n = self.messages.iter().take_while(|m| m.ts < before).count();
        self.messages.drain(..n);
        if self.messages.is_empty() {
            self.over_quota = false;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(i: u8) -> Message {
        Message {
            id: [i; ID_LEN],
            ts: i64::from(i),
            body: Some((false, vec![i])),
        }
    }

    #[test]
    fn quota_marker_and_resume_only_when_empty() {
        let mut q = MsgQueue::default();
        assert_eq!(q.write(msg(0)), Written::Stored(true));
        for i in 1..128u8 {
            assert_eq!(q.write(msg(i)), Written::Stored(false));
        }
        // The 129th SEND stores the marker (with its own id) and gets QUOTA; so do later ones.
        assert_eq!(q.write(msg(200)), Written::Quota);
        assert_eq!(q.write(msg(201)), Written::Quota);
        assert_eq!(q.len(), 129);
        for i in 0..128u8 {
            assert_eq!(q.delete(&[i; ID_LEN]).unwrap().body, Some((false, vec![i])));
            assert_eq!(q.write(msg(202)), Written::Quota, "not empty yet");
        }
        let marker = q.peek().unwrap().clone();
        assert_eq!((marker.id, marker.body), ([200; ID_LEN], None));
        assert!(
            q.delete(&[1; ID_LEN]).is_none(),
            "only the oldest can be deleted"
        );
        q.delete(&[200; ID_LEN]).unwrap();
        assert_eq!(q.write(msg(3)), Written::Stored(true));
    }

    #[test]
    fn expiry_drops_the_oldest() {
        let mut q = MsgQueue::default();
        for i in 0..5u8 {
            q.write(msg(i));
        }
        assert_eq!(q.expire(3), 3);
        assert_eq!(q.peek().unwrap().id, [3; ID_LEN]);
    }
}
