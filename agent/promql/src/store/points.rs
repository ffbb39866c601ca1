//! One series' points: compressed chunks in one buffer, the newest point at hand.
//!
//! The chunks ([`super::chunk`]) sit back to back in one `Vec<u8>` per
//! series, so a series costs one heap allocation for its points. The open
//! (last) chunk's encoder state is kept beside it, and that state holds the
//! newest point uncompressed: an instant selector reads it without decoding.
//!
//! Retention: the points at or before `floor` (the newest timestamp minus
//! the retention, as of the last append) are gone. Whole chunks are dropped
//! from the front of the buffer once all their points are; a chunk that is
//! only partly expired stays, and reads skip its expired points. A chunk is
//! closed after [`chunk::MAX_POINTS`] points or a quarter of the retention,
//! so at most about a quarter of the retention is held beyond it.
//!
//! A point at the newest timestamp replaces the newest value; a point older
//! than the newest is inserted in order (replacing a point at the same
//! timestamp). Both rewrite the buffer, which costs a decode and an encode of
//! the series; a repeated point with the same value costs nothing.

use super::chunk::{self, ChunkRef, Encoder};

/// A series' points. See the module documentation.
#[derive(Debug)]
pub(super) struct Points {
    /// Empty until the first point.
    buf: Vec<u8>,
    /// The open chunk's state, with the newest point; meaningless while
    /// `buf` is empty.
    enc: Encoder,
    /// Points at or before this timestamp are trimmed.
    floor: i64,
    /// Where the open chunk starts in `buf`.
    open: u32,
}

impl Points {
    pub(super) fn new() -> Self {
        Points { buf: Vec::new(), enc: Encoder::EMPTY, floor: i64::MIN, open: 0 }
    }

    /// The newest point ever appended (it may be at or before the floor
    /// when the retention is zero).
    pub(super) fn newest(&self) -> Option<(i64, f64)> {
        (!self.buf.is_empty()).then(|| (self.enc.t, f64::from_bits(self.enc.v)))
    }

    /// The newest timestamp, `i64::MIN` before the first point.
    pub(super) fn newest_t(&self) -> i64 {
        if self.buf.is_empty() { i64::MIN } else { self.enc.t }
    }

    /// Heap bytes held.
    pub(super) fn heap_bytes(&self) -> usize {
        self.buf.capacity()
    }

    /// Appends a point and trims what is older than `retention_ms` behind
    /// the newest point.
    pub(super) fn push(&mut self, t: i64, v: f64, retention_ms: i64) {
        let bits = v.to_bits();
        let e = self.enc;
        if self.buf.is_empty() {
            self.start_chunk(t, bits);
        } else if t > e.t {
            self.append(t, bits, retention_ms);
        } else if t < e.t || bits != e.v {
            self.insert(t, bits, retention_ms);
        }
        let newest = self.newest_t();
        self.floor = self.floor.max(newest.saturating_sub(retention_ms));
        self.drop_expired_chunks();
    }

    fn reserve(&mut self) {
        // Grow by an eighth, not by doubling: the buffers are small and many.
        if self.buf.capacity() - self.buf.len() < chunk::MAX_POINT_BYTES {
            self.buf.reserve_exact(chunk::MAX_POINT_BYTES.max(self.buf.len() / 8));
        }
    }

    fn start_chunk(&mut self, t: i64, bits: u64) {
        self.reserve();
        self.open = u32::try_from(self.buf.len()).unwrap_or(u32::MAX);
        self.enc = Encoder::start(&mut self.buf, t, bits);
    }

    fn append(&mut self, t: i64, bits: u64, retention_ms: i64) {
        self.reserve();
        let open = self.open as usize;
        let first_t = chunk::chunks(self.buf.get(open..).unwrap_or_default()).next().map_or(t, |c| c.first_t);
        let span = (retention_ms / 4).max(1);
        let pushed = t.saturating_sub(first_t) < span && self.enc.push(&mut self.buf, open, t, bits);
        if !pushed {
            self.start_chunk(t, bits);
        }
    }

    /// A point at or before the newest: rewrites the series.
    fn insert(&mut self, t: i64, bits: u64, retention_ms: i64) {
        let mut points: Vec<(i64, u64)> = Vec::new();
        for c in chunk::chunks(&self.buf) {
            points.extend(c.iter().filter(|p| p.0 > self.floor));
        }
        match points.binary_search_by(|p| p.0.cmp(&t)) {
            Ok(i) => {
                if let Some(p) = points.get_mut(i) {
                    p.1 = bits;
                }
            }
            Err(i) => points.insert(i, (t, bits)),
        }
        self.buf = Vec::new();
        self.open = 0;
        for (t, bits) in points {
            if self.buf.is_empty() {
                self.start_chunk(t, bits);
            } else {
                self.append(t, bits, retention_ms);
            }
        }
    }

    /// Drops the chunks before the open one whose points are all at or
    /// before the floor (a chunk's points are all before the next chunk's
    /// first timestamp).
    fn drop_expired_chunks(&mut self) {
        let mut cut = 0;
        {
            let mut chunks = chunk::chunks(&self.buf).peekable();
            while let (Some(_), Some(next)) = (chunks.next(), chunks.peek()) {
                if next.first_t.saturating_sub(1) > self.floor {
                    break;
                }
                cut = next.offset;
            }
        }
        if cut > 0 {
            self.buf.drain(..cut);
            self.open = self.open.saturating_sub(u32::try_from(cut).unwrap_or(u32::MAX));
        }
    }

    /// The chunks with their upper timestamp bound (the last point's
    /// timestamp is at most the bound).
    fn chunks_with_bound(&self) -> impl Iterator<Item = (ChunkRef<'_>, i64)> + '_ {
        let newest = self.newest_t();
        let mut chunks = chunk::chunks(&self.buf).peekable();
        std::iter::from_fn(move || {
            let c = chunks.next()?;
            let bound = chunks.peek().map_or(newest, |next| next.first_t.saturating_sub(1));
            Some((c, bound))
        })
    }

    /// Appends the points in `(start, end]` (and after the floor) to `out`,
    /// oldest first.
    pub(super) fn range(&self, start: i64, end: i64, out: &mut Vec<(i64, f64)>) {
        let lo = start.max(self.floor);
        if self.newest_t() <= lo {
            return;
        }
        for (c, bound) in self.chunks_with_bound() {
            if bound <= lo {
                continue;
            }
            if c.first_t > end {
                break;
            }
            out.reserve(c.len());
            for (t, v) in c.iter() {
                if t > end {
                    break;
                }
                if t > lo {
                    out.push((t, f64::from_bits(v)));
                }
            }
        }
    }

    /// The newest point in `(start, end]` (and after the floor).
    pub(super) fn last_in(&self, start: i64, end: i64) -> Option<(i64, f64)> {
        let lo = start.max(self.floor);
        let (t, v) = self.newest()?;
        if t <= lo {
            return None;
        }
        if t <= end {
            return Some((t, v));
        }
        let c = chunk::chunks(&self.buf).take_while(|c| c.first_t <= end).last()?;
        let (t, v) = c.iter().take_while(|p| p.0 <= end).last()?;
        (t > lo).then(|| (t, f64::from_bits(v)))
    }

    /// Number of points after the floor.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        let mut out = Vec::new();
        self.range(i64::MIN, i64::MAX, &mut out);
        out.len()
    }

    /// Number of chunks held.
    #[cfg(test)]
    pub(super) fn chunk_count(&self) -> usize {
        chunk::chunks(&self.buf).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What the store did before compression: a sorted `Vec`, trimmed on
    /// every append.
    #[derive(Default)]
    struct Model(Vec<(i64, f64)>);

    impl Model {
        fn push(&mut self, t_ms: i64, value: f64, retention_ms: i64) {
            match self.0.last() {
                Some(&(last, _)) if t_ms < last => {
                    let at = self.0.partition_point(|(t, _)| *t < t_ms);
                    match self.0.get_mut(at) {
                        Some(p) if p.0 == t_ms => p.1 = value,
                        _ => self.0.insert(at, (t_ms, value)),
                    }
                }
                Some(&(last, _)) if t_ms == last => {
                    if let Some(p) = self.0.last_mut() {
                        p.1 = value;
                    }
                }
                _ => self.0.push((t_ms, value)),
            }
            let newest = self.0.last().map_or(t_ms, |p| p.0);
            let cutoff = newest.saturating_sub(retention_ms);
            let expired = self.0.partition_point(|(t, _)| *t <= cutoff);
            self.0.drain(..expired);
        }

        fn range(&self, start: i64, end: i64) -> Vec<(i64, u64)> {
            self.0.iter().filter(|p| p.0 > start && p.0 <= end).map(|p| (p.0, p.1.to_bits())).collect()
        }
    }

    fn bits(points: &[(i64, f64)]) -> Vec<(i64, u64)> {
        points.iter().map(|p| (p.0, p.1.to_bits())).collect()
    }

    fn range(p: &Points, start: i64, end: i64) -> Vec<(i64, u64)> {
        let mut out = Vec::new();
        p.range(start, end, &mut out);
        bits(&out)
    }

    #[test]
    fn trims_at_the_retention_boundary() {
        let mut p = Points::new();
        for i in 0..100 {
            p.push(i * 1000, i as f64, 10_000);
        }
        // Newest 99 s, retention 10 s: (89 s, 99 s] is kept, 89 s is not.
        let got = range(&p, i64::MIN, i64::MAX);
        assert_eq!(got.len(), 10);
        assert_eq!(got.first().map(|p| p.0), Some(90_000));
        assert_eq!(p.last_in(i64::MIN, 89_000), None);
        assert_eq!(p.last_in(i64::MIN, 90_000), Some((90_000, 90.0)));
        // A quarter of the retention per chunk: whole expired chunks are gone.
        assert!(p.chunk_count() <= 6, "{} chunks", p.chunk_count());
    }

    #[test]
    fn whole_chunks_go_when_every_point_is_expired() {
        let mut p = Points::new();
        // Retention 400 s, so chunks close every 100 s (100 points at 1 s).
        for i in 0..=500 {
            p.push(i * 1000, 1.0, 400_000);
        }
        // Newest 500 s, floor 100 s: the chunk [0, 100 s) is gone, the one
        // starting at 100 s holds the expired 100 s and is kept.
        assert_eq!(p.chunk_count(), 5);
        assert_eq!(p.len(), 400);
        p.push(501_000, 1.0, 400_000);
        assert_eq!(p.chunk_count(), 5);
        // Floor 199 s: the chunk starting at 100 s still holds 199 s.
        p.push(599_000, 1.0, 400_000);
        assert_eq!(p.chunk_count(), 5);
        // Floor 199.999 s: every point of it is expired, it goes.
        p.push(599_999, 1.0, 400_000);
        assert_eq!(p.chunk_count(), 4);
        assert_eq!(range(&p, i64::MIN, i64::MAX).first().map(|p| p.0), Some(200_000));
        assert_eq!(p.len(), 304);
    }

    #[test]
    fn same_timestamp_replaces_and_older_inserts() {
        let mut p = Points::new();
        for t in [1000, 2000, 3000] {
            p.push(t, t as f64, 60_000);
        }
        p.push(3000, 30.0, 60_000);
        p.push(1500, 15.0, 60_000);
        p.push(2000, 20.0, 60_000);
        p.push(4000, 40.0, 60_000);
        assert_eq!(
            range(&p, 0, 10_000),
            bits(&[(1000, 1000.0), (1500, 15.0), (2000, 20.0), (3000, 30.0), (4000, 40.0)])
        );
        assert_eq!(p.newest(), Some((4000, 40.0)));
    }

    #[test]
    fn shorter_retention_trims_at_the_next_append() {
        let mut p = Points::new();
        for i in 0..10 {
            p.push(i * 1000, 0.0, 60_000);
        }
        assert_eq!(p.len(), 10);
        p.push(10_000, 0.0, 3000);
        assert_eq!(p.len(), 3);
        // A longer retention keeps points from now on: nothing comes back.
        p.push(11_000, 0.0, 60_000);
        assert_eq!(p.len(), 4);
    }

    #[test]
    fn stale_marker_and_special_values_survive() {
        let mut p = Points::new();
        let values = [f64::from_bits(crate::store::STALE_NAN_BITS), -0.0, f64::INFINITY, f64::NEG_INFINITY, f64::NAN];
        for (i, v) in values.iter().enumerate() {
            p.push(i as i64 * 15_000, *v, 3_600_000);
        }
        let got = range(&p, i64::MIN, i64::MAX);
        let want: Vec<(i64, u64)> = values.iter().enumerate().map(|(i, v)| (i as i64 * 15_000, v.to_bits())).collect();
        assert_eq!(got, want);
    }

    #[derive(Debug, Clone)]
    enum Op {
        /// Forward by this many ms.
        Next(i64),
        /// Again at the newest timestamp.
        Same,
        /// This many ms before the newest.
        Back(i64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            8 => (1i64..20_000).prop_map(Op::Next),
            1 => Just(Op::Same),
            1 => (1i64..120_000).prop_map(Op::Back),
        ]
    }

    proptest! {
        /// The store behaves exactly as the uncompressed one did: same
        /// points, same trimming, same handling of late and repeated points.
        #[test]
        fn behaves_like_the_uncompressed_store(
            ops in proptest::collection::vec((op(), any::<u32>()), 1..400),
            retention_ms in prop_oneof![Just(0i64), 1i64..200_000, Just(600_000i64)],
            windows in proptest::collection::vec((any::<i32>(), 0i64..400_000), 4),
        ) {
            let mut p = Points::new();
            let mut m = Model::default();
            let mut newest = 1_700_000_000_000i64;
            for (i, (op, v)) in ops.iter().enumerate() {
                let t = match op {
                    Op::Next(d) if i > 0 => newest + d,
                    Op::Next(_) | Op::Same => newest,
                    Op::Back(d) => newest - d,
                };
                newest = newest.max(t);
                let value = if v % 7 == 0 { f64::from(*v) } else { f64::from(*v) / 100.0 };
                p.push(t, value, retention_ms);
                m.push(t, value, retention_ms);
                if retention_ms > 0 {
                    prop_assert_eq!(range(&p, i64::MIN, i64::MAX), m.range(i64::MIN, i64::MAX));
                }
            }
            if retention_ms > 0 {
                for (offset, width) in windows {
                    let end = newest - i64::from(offset) / 10_000;
                    let start = end - width;
                    prop_assert_eq!(range(&p, start, end), m.range(start, end));
                    let last = p.last_in(start, end).map(|q| (q.0, q.1.to_bits()));
                    prop_assert_eq!(last, m.range(start, end).last().copied());
                }
            } else {
                prop_assert!(range(&p, i64::MIN, i64::MAX).is_empty());
            }
        }
    }
}
