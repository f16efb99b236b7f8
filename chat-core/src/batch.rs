//! Several chat messages in one agent message, as the reference's batcher packs them: one
//! message goes as it is, two or more as a JSON array `[m1,m2,...]` (no spaces); a batch never
//! exceeds the limit, a message over the limit on its own is not sent (and breaks the batch it
//! would have been in). Packing runs from the last message backwards, so the first batch is
//! the one that may be short; order is kept.

/// The packed bodies and the indexes (in `messages`) of the messages too large to send.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Batches {
    /// Agent message bodies, in order.
    pub bodies: Vec<Vec<u8>>,
    /// Messages longer than the limit on their own, in order.
    pub too_large: Vec<usize>,
}

/// Packs encoded chat messages into bodies of at most `max_len` bytes.
pub fn pack(max_len: usize, messages: &[Vec<u8>]) -> Batches {
    let mut out = Batches::default();
    // The batch being built, as indexes in reverse order, and its size as a JSON array.
    let mut current: Vec<usize> = Vec::new();
    let mut content = 0usize;
    let flush = |current: &mut Vec<usize>, content: &mut usize, out: &mut Batches| {
        if current.is_empty() {
            return;
        }
        current.reverse();
        let body = if let [one] = current[..] {
            messages[one].clone()
        } else {
            let mut b = Vec::with_capacity(*content + current.len() + 1);
            b.push(b'[');
            for (n, &i) in current.iter().enumerate() {
                if n > 0 {
                    b.push(b',');
                }
                b.extend_from_slice(&messages[i]);
            }
            b.push(b']');
            b
        };
        out.bodies.push(body);
        current.clear();
        *content = 0;
    };
    for (i, m) in messages.iter().enumerate().rev() {
        if m.len() > max_len {
            out.too_large.push(i);
            flush(&mut current, &mut content, &mut out);
            continue;
        }
        // As an array with this message: contents, commas, brackets.
        let as_array = content + m.len() + current.len() + 2;
        if !current.is_empty() && as_array > max_len {
            flush(&mut current, &mut content, &mut out);
        }
        current.push(i);
        content += m.len();
    }
    flush(&mut current, &mut content, &mut out);
    out.bodies.reverse();
    out.too_large.reverse();
    out
}
