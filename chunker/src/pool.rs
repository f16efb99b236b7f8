//! A small pool of chunk buffers that bounds the memory of a pipeline: a stage that needs a
//! buffer waits until a consumer drops one.

use crossbeam_channel::{Receiver, Sender};

/// Hands out at most `limit` buffers of `size` bytes at a time, reusing returned ones (fresh
/// pages are expensive to fault in on these machines).
#[derive(Debug)]
pub(crate) struct BufferPool {
    /// Returned buffers; `None` means a buffer was detached and may be replaced.
    returned: Receiver<Option<Vec<u8>>>,
    home: Sender<Option<Vec<u8>>>,
    outstanding: usize,
    limit: usize,
    size: usize,
}

impl BufferPool {
    pub(crate) fn new(limit: usize, size: usize) -> Self {
        let (home, returned) = crossbeam_channel::unbounded();
        Self {
            returned,
            home,
            outstanding: 0,
            limit: limit.max(1),
            size,
        }
    }

    /// A buffer of `self.size` bytes (contents unspecified), waiting for one to come back if
    /// `limit` are out. Never fails: the pool keeps a sender, so the channel stays open.
    pub(crate) fn get(&mut self) -> PooledBuf {
        let buf = loop {
            let slot = match self.returned.try_recv() {
                Ok(slot) => slot,
                Err(_) if self.outstanding < self.limit => {
                    self.outstanding += 1;
                    break vec![0u8; self.size];
                }
                // The pool holds a sender itself, so this only waits, it cannot disconnect.
                Err(_) => self.returned.recv().unwrap_or(None),
            };
            match slot {
                Some(buf) => break buf,
                // A detached buffer: it no longer counts against the limit.
                None => self.outstanding = self.outstanding.saturating_sub(1),
            }
        };
        PooledBuf {
            buf: Some(buf),
            len: 0,
            home: self.home.clone(),
        }
    }
}

/// A buffer borrowed from a [`BufferPool`]; dropping it gives it back.
#[derive(Debug)]
pub struct PooledBuf {
    buf: Option<Vec<u8>>,
    len: usize,
    home: Sender<Option<Vec<u8>>>,
}

impl PooledBuf {
    /// Sets the used length (at most the capacity of the pool's buffers) and returns it as a
    /// mutable slice.
    pub(crate) fn set_len(&mut self, len: usize) -> &mut [u8] {
        let buf = self.buf.get_or_insert_with(Vec::new);
        if buf.len() < len {
            buf.resize(len, 0);
        }
        self.len = len;
        &mut buf[..len]
    }

    /// The bytes in use.
    pub fn as_slice(&self) -> &[u8] {
        self.buf.as_deref().map_or(&[], |b| &b[..self.len])
    }

    /// Takes the bytes out of the pool (the pool may then allocate a replacement).
    pub fn into_vec(mut self) -> Vec<u8> {
        let mut v = self.buf.take().unwrap_or_default();
        v.truncate(self.len);
        let _ = self.home.send(None);
        v
    }
}

impl Drop for PooledBuf {
    fn drop(&mut self) {
        if let Some(buf) = self.buf.take() {
            let _ = self.home.send(Some(buf));
        }
    }
}
