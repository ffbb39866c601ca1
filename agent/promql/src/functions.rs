//! The numeric cores of PromQL functions, on plain slices: the same
//! arithmetic as Prometheus 3.0's `promql/functions.go` (extrapolation,
//! counter resets, Kahan–Neumaier summation, quantiles, classic histogram
//! buckets).

/// Kahan–Neumaier compensated addition: returns the new sum and compensation.
pub(crate) fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// Go's `math.Max`: NaN wins.
pub(crate) fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() { f64::NAN } else { a.max(b) }
}

/// Go's `math.Min`: NaN wins.
pub(crate) fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() { f64::NAN } else { a.min(b) }
}

/// `rate`, `increase`, `delta`: the change over the points (counter resets
/// added back when `is_counter`), extrapolated towards the range boundaries
/// `(range_start, range_end]` as Prometheus does; per second when `is_rate`.
/// `None` with fewer than two points.
pub(crate) fn extrapolated_rate(
    points: &[(i64, f64)],
    range_start: i64,
    range_end: i64,
    range_ms: i64,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let (first_t, first_v) = *points.first()?;
    let (last_t, last_v) = *points.last()?;
    let mut result = last_v - first_v;
    if is_counter {
        let mut prev = first_v;
        for &(_, v) in points.iter().skip(1) {
            if v < prev {
                result += prev;
            }
            prev = v;
        }
    }
    let mut duration_to_start = first_t.saturating_sub(range_start) as f64 / 1000.0;
    let mut duration_to_end = range_end.saturating_sub(last_t) as f64 / 1000.0;
    let sampled_interval = last_t.saturating_sub(first_t) as f64 / 1000.0;
    let average_between = sampled_interval / (points.len() - 1) as f64;
    let threshold = average_between * 1.1;
    if duration_to_start >= threshold {
        duration_to_start = average_between / 2.0;
    }
    if is_counter && result > 0.0 && first_v >= 0.0 {
        // A counter cannot go below zero: do not extrapolate past its zero point.
        let duration_to_zero = sampled_interval * (first_v / result);
        if duration_to_zero < duration_to_start {
            duration_to_start = duration_to_zero;
        }
    }
    if duration_to_end >= threshold {
        duration_to_end = average_between / 2.0;
    }
    let mut factor = (sampled_interval + duration_to_start + duration_to_end) / sampled_interval;
    if is_rate {
        factor /= range_ms as f64 / 1000.0;
    }
    Some(result * factor)
}

/// `irate` / `idelta`: from the last two points. `None` with fewer than two
/// points or when they share a timestamp.
pub(crate) fn instant_value(points: &[(i64, f64)], is_rate: bool) -> Option<f64> {
    let n = points.len();
    if n < 2 {
        return None;
    }
    let (t0, v0) = *points.get(n - 2)?;
    let (t1, v1) = *points.get(n - 1)?;
    // A counter reset (irate) leaves the last value as the increase.
    let counter_reset = is_rate && v1 < v0;
    let mut result = if counter_reset { v1 } else { v1 - v0 };
    let interval = t1.saturating_sub(t0);
    if interval == 0 {
        return None;
    }
    if is_rate {
        result /= interval as f64 / 1000.0;
    }
    Some(result)
}

pub(crate) fn sum_over_time(points: &[(i64, f64)]) -> f64 {
    let (mut sum, mut c) = (0.0, 0.0);
    for &(_, v) in points {
        (sum, c) = kahan_inc(v, sum, c);
    }
    if sum.is_infinite() { sum } else { sum + c }
}

pub(crate) fn avg_over_time(points: &[(i64, f64)]) -> f64 {
    let (mut sum, mut mean, mut count, mut c) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    let mut incremental = false;
    for &(_, v) in points {
        count += 1.0;
        if !incremental {
            let (new_sum, new_c) = kahan_inc(v, sum, c);
            if count == 1.0 || !new_sum.is_infinite() {
                sum = new_sum;
                c = new_c;
                continue;
            }
            incremental = true;
            mean = sum / (count - 1.0);
            c /= count - 1.0;
        }
        if mean.is_infinite() {
            if v.is_infinite() && (mean > 0.0) == (v > 0.0) {
                continue;
            }
            if !v.is_infinite() && !v.is_nan() {
                continue;
            }
        }
        let corrected = mean + c;
        (mean, c) = kahan_inc(v / count - corrected / count, mean, c);
    }
    if incremental { mean + c } else { (sum + c) / count }
}

pub(crate) fn min_over_time(points: &[(i64, f64)]) -> f64 {
    let mut min = points.first().map_or(f64::NAN, |p| p.1);
    for &(_, v) in points {
        if v < min || min.is_nan() {
            min = v;
        }
    }
    min
}

pub(crate) fn max_over_time(points: &[(i64, f64)]) -> f64 {
    let mut max = points.first().map_or(f64::NAN, |p| p.1);
    for &(_, v) in points {
        if v > max || max.is_nan() {
            max = v;
        }
    }
    max
}

/// Population variance with compensated sums (Welford).
pub(crate) fn stdvar_over_time(points: &[(i64, f64)]) -> f64 {
    let (mut count, mut mean, mut c_mean, mut aux, mut c_aux) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for &(_, v) in points {
        count += 1.0;
        let delta = v - (mean + c_mean);
        (mean, c_mean) = kahan_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_inc(delta * (v - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}

pub(crate) fn changes(points: &[(i64, f64)]) -> f64 {
    let mut n = 0.0;
    let mut prev = match points.first() {
        Some(p) => p.1,
        None => return 0.0,
    };
    for &(_, v) in points.iter().skip(1) {
        if v != prev && !(v.is_nan() && prev.is_nan()) {
            n += 1.0;
        }
        prev = v;
    }
    n
}

pub(crate) fn resets(points: &[(i64, f64)]) -> f64 {
    let mut n = 0.0;
    let mut prev = match points.first() {
        Some(p) => p.1,
        None => return 0.0,
    };
    for &(_, v) in points.iter().skip(1) {
        if v < prev {
            n += 1.0;
        }
        prev = v;
    }
    n
}

/// Least-squares slope and intercept, x in seconds relative to `intercept_t`.
pub(crate) fn linear_regression(points: &[(i64, f64)], intercept_t: i64) -> (f64, f64) {
    let (mut n, mut sum_x, mut c_x, mut sum_y, mut c_y) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let (mut sum_xy, mut c_xy, mut sum_x2, mut c_x2) = (0.0, 0.0, 0.0, 0.0);
    let init_y = points.first().map_or(f64::NAN, |p| p.1);
    let mut const_y = true;
    for (i, &(t, v)) in points.iter().enumerate() {
        if const_y && i > 0 && v != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = t.saturating_sub(intercept_t) as f64 / 1e3;
        (sum_x, c_x) = kahan_inc(x, sum_x, c_x);
        (sum_y, c_y) = kahan_inc(v, sum_y, c_y);
        (sum_xy, c_xy) = kahan_inc(x * v, sum_xy, c_xy);
        (sum_x2, c_x2) = kahan_inc(x * x, sum_x2, c_x2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    sum_x += c_x;
    sum_y += c_y;
    sum_xy += c_xy;
    sum_x2 += c_x2;
    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    let intercept = sum_y / n - slope * sum_x / n;
    (slope, intercept)
}

/// Sorts ascending with NaN first (Prometheus' `vectorByValueHeap` order).
pub(crate) fn sort_nan_first(values: &mut [f64]) {
    values.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal),
    });
}

/// The φ-quantile of `values` (sorted in place), interpolating between
/// neighbours; ±Inf for φ outside `[0, 1]`, NaN for no values or NaN φ.
pub(crate) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    sort_nan_first(values);
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    let lo = values.get(lower as usize).copied().unwrap_or(f64::NAN);
    let hi = values.get(upper as usize).copied().unwrap_or(f64::NAN);
    lo * (1.0 - weight) + hi * weight
}

/// Relative comparison as Prometheus' `almostEqual`.
pub(crate) fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    let min_normal = f64::from_bits(0x0010_0000_0000_0000);
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < min_normal {
        return diff < epsilon * min_normal;
    }
    diff / abs_sum.min(f64::MAX) < epsilon
}

/// The outcome of [`bucket_quantile`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct BucketQuantile {
    pub(crate) value: f64,
    pub(crate) forced_monotonic: bool,
}

/// The φ-quantile of classic histogram buckets `(upper bound, cumulative count)`.
pub(crate) fn bucket_quantile(q: f64, buckets: &mut Vec<(f64, f64)>) -> BucketQuantile {
    let nan = |forced_monotonic| BucketQuantile { value: f64::NAN, forced_monotonic };
    if q.is_nan() {
        return nan(false);
    }
    if q < 0.0 {
        return BucketQuantile { value: f64::NEG_INFINITY, forced_monotonic: false };
    }
    if q > 1.0 {
        return BucketQuantile { value: f64::INFINITY, forced_monotonic: false };
    }
    buckets.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
    match buckets.last() {
        Some(b) if b.0 == f64::INFINITY => {}
        _ => return nan(false),
    }
    // Coalesce buckets with the same upper bound.
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
    for &(ub, c) in buckets.iter() {
        match merged.last_mut() {
            Some(last) if last.0 == ub => last.1 += c,
            _ => merged.push((ub, c)),
        }
    }
    *buckets = merged;
    // Force monotonicity; ignore tiny floating point differences.
    let mut forced = false;
    let mut prev = buckets.first().map_or(0.0, |b| b.1);
    for b in buckets.iter_mut().skip(1) {
        let curr = b.1;
        if curr == prev {
            continue;
        }
        if almost_equal(prev, curr, 1e-12) {
            b.1 = prev;
            continue;
        }
        if curr < prev {
            b.1 = prev;
            forced = true;
            continue;
        }
        prev = curr;
    }
    if buckets.len() < 2 {
        return nan(forced);
    }
    let n = buckets.len();
    let observations = buckets.get(n - 1).map_or(0.0, |b| b.1);
    if observations == 0.0 {
        return nan(forced);
    }
    let mut rank = q * observations;
    let b = buckets.get(..n - 1).map_or(0, |s| s.partition_point(|bk| bk.1 < rank));
    let value = if b == n - 1 {
        buckets.get(n - 2).map_or(f64::NAN, |bk| bk.0)
    } else if b == 0 && buckets.first().is_some_and(|bk| bk.0 <= 0.0) {
        buckets.first().map_or(f64::NAN, |bk| bk.0)
    } else {
        let (bucket_end, mut count) = buckets.get(b).copied().unwrap_or((f64::NAN, f64::NAN));
        let mut bucket_start = 0.0;
        if b > 0
            && let Some(&(prev_ub, prev_count)) = buckets.get(b - 1)
        {
            bucket_start = prev_ub;
            count -= prev_count;
            rank -= prev_count;
        }
        bucket_start + (bucket_end - bucket_start) * (rank / count)
    };
    BucketQuantile { value, forced_monotonic: forced }
}

/// Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// A date function of a Unix time in seconds (UTC).
pub(crate) fn date_part(f: super::plan::DateFn, secs: f64) -> f64 {
    use super::plan::DateFn;
    let s = secs as i64;
    let days = s.div_euclid(86_400);
    let sod = s.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    match f {
        DateFn::DayOfMonth => f64::from(d),
        DateFn::DayOfWeek => (days + 4).rem_euclid(7) as f64,
        DateFn::DayOfYear => {
            let (y0, _, _) = (y, 1, 1);
            let jan1 = days_from_civil(y0, 1, 1);
            (days - jan1 + 1) as f64
        }
        DateFn::DaysInMonth => f64::from(match m {
            2 if is_leap(y) => 29,
            2 => 28,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        }),
        DateFn::Hour => (sod / 3600) as f64,
        DateFn::Minute => ((sod % 3600) / 60) as f64,
        DateFn::Month => f64::from(m),
        DateFn::Year => y as f64,
    }
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_extrapolates_like_prometheus() {
        // 0..=10 every 10 s, counter +1 per sample: rate over [1m] at 100 s.
        let pts: Vec<(i64, f64)> = (5..=10).map(|i| (i * 10_000, i as f64)).collect();
        let r = extrapolated_rate(&pts, 40_000, 100_000, 60_000, true, true).unwrap();
        assert!((r - 0.1).abs() < 1e-12, "{r}");
    }

    #[test]
    fn counter_reset_is_added_back() {
        let pts = [(0, 5.0), (10_000, 10.0), (20_000, 2.0), (30_000, 6.0)];
        let inc = extrapolated_rate(&pts, 0, 30_000, 30_000, true, false).unwrap();
        assert!((inc - 11.0).abs() < 1e-9, "{inc}");
    }

    #[test]
    fn dates() {
        use crate::plan::DateFn;
        // 2024-02-29T13:45:00Z
        let t = 1_709_214_300.0;
        assert_eq!(date_part(DateFn::Year, t), 2024.0);
        assert_eq!(date_part(DateFn::Month, t), 2.0);
        assert_eq!(date_part(DateFn::DayOfMonth, t), 29.0);
        assert_eq!(date_part(DateFn::DaysInMonth, t), 29.0);
        assert_eq!(date_part(DateFn::Hour, t), 13.0);
        assert_eq!(date_part(DateFn::Minute, t), 45.0);
        assert_eq!(date_part(DateFn::DayOfWeek, t), 4.0);
        assert_eq!(date_part(DateFn::DayOfYear, t), 60.0);
    }
}
