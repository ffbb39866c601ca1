//! The point codec: Gorilla-style chunks (Pelkonen et al., VLDB 2015, as
//! Prometheus' XOR chunks), appended one point at a time.
//!
//! A chunk is a 4-byte header (point count and bitstream length, both
//! `u16` little-endian) and a bitstream written most significant bit first:
//!
//! * the first point raw: the timestamp (64 bits, two's complement) and the
//!   value's bits (64), so a chunk's first timestamp is bytes 4..12, big-endian;
//! * every further point as
//!   * its timestamp's delta-of-delta (the delta to the previous point minus
//!     the previous delta; the second point's is its delta): `0` when zero,
//!     else `10` + 7 bits, `110` + 12 bits, `1110` + 20 bits (two's
//!     complement), or `1111` + 64 bits. Timestamps are milliseconds with
//!     scheduling jitter, so the small buckets are finer than Prometheus'
//!     (which has 14, 17 and 20 bits);
//!   * its value XOR'd with the previous value's bits: `0` when equal, `10` +
//!     the meaningful bits when they fit the previous window (leading and
//!     trailing zeros at least as many as last time), else `11` + 6 bits of
//!     leading zeros + 6 bits of (meaningful bits − 1) + the meaningful bits.
//!
//! Values are handled as bits only, so every `f64` round-trips exactly: NaN
//! payloads (the staleness marker), `-0.0`, the infinities.
//!
//! Written here rather than taken from a crate: `tsz` (Rust 2015) encodes
//! into a stream that must be closed before it is read, and `gortsz`
//! writes into fixed buffers with `u32` times; the window needs millisecond
//! timestamps appended one point at a time to a chunk that is read while
//! it is still open.

/// Bytes before a chunk's bitstream: point count and bitstream length.
pub(super) const HEADER: usize = 4;

/// The most points one chunk holds (Prometheus' number).
pub(super) const MAX_POINTS: u16 = 120;

/// The most bytes one point can add to a bitstream (4 + 64 + 2 + 12 + 64
/// bits, rounded up), or a new chunk's header and raw first point.
pub(super) const MAX_POINT_BYTES: usize = 20;

/// The state needed to append to the open (last) chunk of a buffer.
#[derive(Debug, Clone, Copy)]
pub(super) struct Encoder {
    /// The newest point's timestamp.
    pub(super) t: i64,
    /// The newest point's value bits.
    pub(super) v: u64,
    /// The newest point's timestamp minus the one before (0 after the first).
    delta: i32,
    /// The XOR window of the last `11` value: leading zeros, or `NO_WINDOW`.
    lead: u8,
    /// … and trailing zeros.
    trail: u8,
    /// Unused low bits of the buffer's last byte.
    free: u8,
}

const NO_WINDOW: u8 = u8::MAX;

impl Encoder {
    /// The state of no chunk.
    pub(super) const EMPTY: Encoder = Encoder { t: i64::MIN, v: 0, delta: 0, lead: NO_WINDOW, trail: 0, free: 0 };

    /// Starts a chunk at the end of `buf` with its first point.
    pub(super) fn start(buf: &mut Vec<u8>, t: i64, v: u64) -> Encoder {
        buf.extend_from_slice(&1u16.to_le_bytes());
        buf.extend_from_slice(&16u16.to_le_bytes());
        buf.extend_from_slice(&t.to_be_bytes());
        buf.extend_from_slice(&v.to_be_bytes());
        Encoder { t, v, delta: 0, lead: NO_WINDOW, trail: 0, free: 0 }
    }

    /// Appends a point after the newest one (`t` greater than `self.t`) to
    /// the open chunk, which starts at `open` in `buf`. Returns false, and
    /// writes nothing, when the chunk is full or the gap does not fit the
    /// encoding: the caller starts a new chunk.
    pub(super) fn push(&mut self, buf: &mut Vec<u8>, open: usize, t: i64, v: u64) -> bool {
        let count = header_u16(buf, open);
        if count >= MAX_POINTS {
            return false;
        }
        let Some(delta) = t.checked_sub(self.t).and_then(|d| i32::try_from(d).ok()) else {
            return false;
        };
        let mut w = Writer { buf, free: self.free };
        let dod = i64::from(delta) - i64::from(self.delta);
        if dod == 0 {
            w.put(0, 1);
        } else if fits(dod, 7) {
            w.put(0b10, 2);
            w.put(dod as u64, 7);
        } else if fits(dod, 12) {
            w.put(0b110, 3);
            w.put(dod as u64, 12);
        } else if fits(dod, 20) {
            w.put(0b1110, 4);
            w.put(dod as u64, 20);
        } else {
            w.put(0b1111, 4);
            w.put(dod as u64, 64);
        }
        let xor = v ^ self.v;
        if xor == 0 {
            w.put(0, 1);
        } else {
            let lz = xor.leading_zeros() as u8;
            let tz = xor.trailing_zeros() as u8;
            if self.lead != NO_WINDOW && lz >= self.lead && tz >= self.trail {
                let sig = 64 - u32::from(self.lead) - u32::from(self.trail);
                w.put(0b10, 2);
                w.put(xor >> self.trail, sig);
            } else {
                let sig = 64 - u32::from(lz) - u32::from(tz);
                w.put(0b11, 2);
                w.put(u64::from(lz), 6);
                w.put(u64::from(sig - 1), 6);
                w.put(xor >> tz, sig);
                self.lead = lz;
                self.trail = tz;
            }
        }
        self.free = w.free;
        self.t = t;
        self.v = v;
        self.delta = delta;
        let len = buf.len() - open - HEADER;
        set_header(buf, open, count + 1, u16::try_from(len).unwrap_or(u16::MAX));
        true
    }
}

/// True when `x` fits `bits` bits of two's complement.
fn fits(x: i64, bits: u32) -> bool {
    let half = 1i64 << (bits - 1);
    (-half..half).contains(&x)
}

fn header_u16(buf: &[u8], at: usize) -> u16 {
    match buf.get(at..at + 2) {
        Some(&[a, b]) => u16::from_le_bytes([a, b]),
        _ => 0,
    }
}

fn set_header(buf: &mut [u8], at: usize, count: u16, len: u16) {
    if let Some(h) = buf.get_mut(at..at + HEADER) {
        h[..2].copy_from_slice(&count.to_le_bytes());
        h[2..].copy_from_slice(&len.to_le_bytes());
    }
}

/// Writes bits, most significant first, at the end of a buffer.
struct Writer<'a> {
    buf: &'a mut Vec<u8>,
    free: u8,
}

impl Writer<'_> {
    /// Appends the low `n` bits of `value` (`n` ≤ 64).
    fn put(&mut self, value: u64, mut n: u32) {
        while n > 0 {
            if self.free == 0 {
                self.buf.push(0);
                self.free = 8;
            }
            let take = n.min(u32::from(self.free));
            let bits = ((value >> (n - take)) & ((1u64 << take) - 1)) as u8;
            if let Some(last) = self.buf.last_mut() {
                *last |= bits << (u32::from(self.free) - take);
            }
            self.free -= take as u8;
            n -= take;
        }
    }
}

/// One chunk of a buffer, as [`chunks`] finds it.
#[derive(Debug, Clone, Copy)]
pub(super) struct ChunkRef<'a> {
    /// Where the chunk's header starts in the buffer.
    pub(super) offset: usize,
    /// The chunk's first timestamp.
    pub(super) first_t: i64,
    count: u16,
    bits: &'a [u8],
}

impl<'a> ChunkRef<'a> {
    /// Where the next chunk starts.
    pub(super) fn end(&self) -> usize {
        self.offset + HEADER + self.bits.len()
    }

    /// Number of points.
    pub(super) fn len(&self) -> usize {
        usize::from(self.count)
    }

    /// Its points, oldest first, values as bits.
    pub(super) fn iter(&self) -> ChunkIter<'a> {
        ChunkIter { r: Reader::new(self.bits), left: self.count, t: 0, v: 0, delta: 0, lead: 0, trail: 0, first: true }
    }
}

/// The chunks stored back to back in `buf`, oldest first.
pub(super) fn chunks(buf: &[u8]) -> impl Iterator<Item = ChunkRef<'_>> {
    let mut at = 0;
    std::iter::from_fn(move || {
        let count = header_u16(buf, at);
        let len = usize::from(header_u16(buf, at + 2));
        let bits = buf.get(at + HEADER..at + HEADER + len)?;
        let first_t = i64::from_be_bytes(bits.get(..8)?.try_into().ok()?);
        let chunk = ChunkRef { offset: at, first_t, count, bits };
        at = chunk.end();
        Some(chunk)
    })
}

/// Reads bits, most significant first; past the end it reads zeros.
///
/// The next bits wait left-aligned in `acc`, refilled a word at a time:
/// bits of `acc` past the `n` valid ones are either zero or the stream's
/// own next bits, so a refill can OR a whole word over them.
#[derive(Debug, Clone)]
struct Reader<'a> {
    data: &'a [u8],
    /// The next byte of `data` not yet in `acc`.
    next: usize,
    acc: u64,
    n: u32,
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8]) -> Self {
        Reader { data, next: 0, acc: 0, n: 0 }
    }

    /// Tops `acc` up to at least 57 valid bits (zeros past the end).
    #[inline]
    fn refill(&mut self) {
        if let Some(s) = self.data.get(self.next..self.next + 8) {
            let w = u64::from_be_bytes(s.try_into().unwrap_or([0; 8]));
            self.acc |= w >> self.n;
            let bytes = (63 - self.n) / 8;
            self.next += bytes as usize;
            self.n += bytes * 8;
        } else {
            while self.n <= 56 {
                let b = self.data.get(self.next).copied().unwrap_or(0);
                self.acc |= u64::from(b) << (56 - self.n);
                self.next += 1;
                self.n += 8;
            }
        }
    }

    /// The next `k` bits (1 ≤ `k` ≤ 56) without consuming them.
    #[inline]
    fn peek(&mut self, k: u32) -> u64 {
        if self.n < k {
            self.refill();
        }
        self.acc >> (64 - k)
    }

    /// Consumes `k` bits already peeked.
    #[inline]
    fn skip(&mut self, k: u32) {
        self.acc <<= k;
        self.n -= k;
    }

    /// Consumes `k` bits (0 ≤ `k` ≤ 64).
    #[inline(always)]
    fn read(&mut self, k: u32) -> u64 {
        if k == 0 {
            return 0;
        }
        if k > 56 {
            let hi = self.peek(32);
            self.skip(32);
            let lo = self.peek(k - 32);
            self.skip(k - 32);
            return (hi << (k - 32)) | lo;
        }
        let v = self.peek(k);
        self.skip(k);
        v
    }
}

/// The points of one chunk, as `(timestamp, value bits)`.
#[derive(Debug, Clone)]
pub(super) struct ChunkIter<'a> {
    r: Reader<'a>,
    left: u16,
    t: i64,
    v: u64,
    delta: i64,
    lead: u32,
    trail: u32,
    first: bool,
}

/// `x`'s low `bits` bits as a two's complement number.
fn sign_extend(x: u64, bits: u32) -> i64 {
    ((x << (64 - bits)) as i64) >> (64 - bits)
}

impl Iterator for ChunkIter<'_> {
    type Item = (i64, u64);

    #[inline]
    fn next(&mut self) -> Option<(i64, u64)> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        if self.first {
            self.first = false;
            self.t = self.r.read(64) as i64;
            self.v = self.r.read(64);
            return Some((self.t, self.v));
        }
        let head = self.r.peek(4);
        let dod = if head & 0b1000 == 0 {
            self.r.skip(1);
            0
        } else if head & 0b0100 == 0 {
            self.r.skip(2);
            sign_extend(self.r.read(7), 7)
        } else if head & 0b0010 == 0 {
            self.r.skip(3);
            sign_extend(self.r.read(12), 12)
        } else if head & 0b0001 == 0 {
            self.r.skip(4);
            sign_extend(self.r.read(20), 20)
        } else {
            self.r.skip(4);
            self.r.read(64) as i64
        };
        self.delta = self.delta.wrapping_add(dod);
        self.t = self.t.wrapping_add(self.delta);
        match self.r.peek(2) {
            0b00 | 0b01 => self.r.skip(1),
            0b10 => {
                self.r.skip(2);
                let sig = 64u32.saturating_sub(self.lead + self.trail);
                self.v ^= self.r.read(sig) << self.trail;
            }
            _ => {
                self.r.skip(2);
                let fields = self.r.read(12);
                self.lead = (fields >> 6) as u32;
                let sig = (fields & 0x3f) as u32 + 1;
                self.trail = 64u32.saturating_sub(self.lead + sig);
                self.v ^= self.r.read(sig) << self.trail;
            }
        }
        Some((self.t, self.v))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (usize::from(self.left), Some(usize::from(self.left)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Encodes `points` (timestamps strictly increasing) into chunks the way
    /// the store does, and decodes them all.
    fn round_trip(points: &[(i64, u64)]) -> Vec<(i64, u64)> {
        let mut buf = Vec::new();
        let mut open = 0;
        let mut enc: Option<Encoder> = None;
        for &(t, v) in points {
            let pushed = enc.as_mut().is_some_and(|e| e.push(&mut buf, open, t, v));
            if !pushed {
                open = buf.len();
                enc = Some(Encoder::start(&mut buf, t, v));
            }
        }
        chunks(&buf).flat_map(|c| c.iter()).collect()
    }

    fn special_values() -> Vec<f64> {
        vec![
            0.0,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            -f64::NAN,
            f64::from_bits(crate::store::STALE_NAN_BITS),
            f64::from_bits(0x7ff8_dead_beef_0001),
            f64::MIN_POSITIVE,
            f64::from_bits(1),
            f64::MAX,
            f64::MIN,
            1.0,
            1.0,
            123.456,
        ]
    }

    #[test]
    fn special_values_round_trip_bit_exactly() {
        let values = special_values();
        let points: Vec<(i64, u64)> =
            values.iter().enumerate().map(|(i, v)| (i as i64 * 15_000, v.to_bits())).collect();
        assert_eq!(round_trip(&points), points);
        // Every special value next to every other.
        let mut pairs = Vec::new();
        let mut t = 0;
        for a in &values {
            for b in &values {
                pairs.push((t, a.to_bits()));
                pairs.push((t + 1, b.to_bits()));
                t += 2;
            }
        }
        assert_eq!(round_trip(&pairs), pairs);
    }

    #[test]
    fn timestamp_extremes_round_trip() {
        let points = vec![
            (i64::MIN, 1),
            (i64::MIN + 1, 2),
            (-5, 3),
            (0, 4),
            (i32::MAX as i64, 5),
            (i64::MAX - 1, 6),
            (i64::MAX, 7),
        ];
        assert_eq!(round_trip(&points), points);
    }

    #[test]
    fn every_bucket_boundary_round_trips() {
        let mut points = vec![(0, 0), (1000, 0)];
        let mut t = 1000;
        let mut delta = 1000i64;
        for dod in [0, 63, -64, 64, -65, 2047, -2048, 2048, -2049, 524_287, -524_288, 524_288, -524_289, 1] {
            delta += dod;
            t += delta;
            points.push((t, (t as f64).to_bits()));
        }
        assert_eq!(round_trip(&points), points);
    }

    #[test]
    fn chunks_hold_at_most_max_points() {
        let points: Vec<(i64, u64)> = (0..1000).map(|i| (i * 1000, (i as f64).to_bits())).collect();
        let mut buf = Vec::new();
        let mut open = 0;
        let mut enc: Option<Encoder> = None;
        for &(t, v) in &points {
            if !enc.as_mut().is_some_and(|e| e.push(&mut buf, open, t, v)) {
                open = buf.len();
                enc = Some(Encoder::start(&mut buf, t, v));
            }
        }
        let counts: Vec<usize> = chunks(&buf).map(|c| c.iter().count()).collect();
        assert_eq!(counts.len(), 9);
        assert!(counts.iter().all(|c| *c <= usize::from(MAX_POINTS)));
        assert_eq!(chunks(&buf).map(|c| c.first_t).collect::<Vec<_>>()[1], 120_000);
    }

    #[test]
    fn regular_counters_compress_well() {
        // A counter scraped every 15 s with a few ms of jitter.
        let points: Vec<(i64, u64)> =
            (0..120i64).map(|i| (i * 15_000 + (i * 7) % 5, ((i * 37) as f64).to_bits())).collect();
        let mut buf = Vec::new();
        let mut enc = Encoder::start(&mut buf, points[0].0, points[0].1);
        for &(t, v) in &points[1..] {
            assert!(enc.push(&mut buf, 0, t, v));
        }
        assert!(buf.len() < 120 * 4, "{} bytes for 120 points", buf.len());
        assert_eq!(round_trip(&points), points);
    }

    fn value() -> impl Strategy<Value = u64> {
        prop_oneof![
            any::<u64>(),
            any::<f64>().prop_map(f64::to_bits),
            (0u32..100_000).prop_map(|x| f64::from(x).to_bits()),
            (0u32..1000).prop_map(|x| (f64::from(x) / 100.0).to_bits()),
            proptest::sample::select(special_values()).prop_map(f64::to_bits),
        ]
    }

    proptest! {
        #[test]
        fn any_points_round_trip(
            start in any::<i64>(),
            steps in proptest::collection::vec(
                prop_oneof![1i64..3, 990i64..1010, 14_990i64..15_010, 1i64..i64::MAX / 64],
                0..300,
            ),
            values in proptest::collection::vec(value(), 300),
        ) {
            let mut points = Vec::new();
            let mut t = start;
            points.push((t, values[0]));
            for (i, step) in steps.iter().enumerate() {
                let Some(next) = t.checked_add(*step) else { break };
                t = next;
                points.push((t, values[(i + 1) % values.len()]));
            }
            prop_assert_eq!(round_trip(&points), points);
        }
    }
}
