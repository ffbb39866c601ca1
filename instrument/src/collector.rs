//! The [`Collector`] trait: what every source of metrics implements, in
//! a module of its own so that the model ([`crate::model`]) and the
//! encoder ([`encode`](mod@crate::encode)) do not import each other.

use crate::encode::{EncodeReport, Encoder};
use crate::format::Format;
use crate::model::MetricFamily;

/// Something that emits metric families at scrape time.
///
/// Node and container collectors, the agent's self metrics and a service's
/// registry all implement it; the encoder and the window store only ever see
/// what `collect` appends.
///
/// [`Collector::encode`] and [`Collector::encode_with`] write the
/// exposition of what `collect` would append; by default they collect and
/// encode the model. A [`Registry`](crate::metrics::Registry) overrides
/// `encode_with` to write its lines straight from its metrics, byte for
/// byte what the model would give, without building the model.
///
/// ```
/// use sonde_instrument::{Collector, Format, Labels, MetricFamily};
///
/// /// Reports the length of a queue it reads at scrape time.
/// struct QueueLength(fn() -> usize);
///
/// impl Collector for QueueLength {
///     fn collect(&self, out: &mut Vec<MetricFamily>) {
///         out.push(MetricFamily::gauge("queue_length", "Items waiting.").with_sample(Labels::new(), (self.0)() as f64));
///     }
/// }
///
/// let mut text = Vec::new();
/// QueueLength(|| 7).encode(Format::Text, &mut text);
/// assert_eq!(text, b"# HELP queue_length Items waiting.\n# TYPE queue_length gauge\nqueue_length 7\n");
/// ```
pub trait Collector: Send + Sync {
    /// Appends this collector's families to `out`.
    fn collect(&self, out: &mut Vec<MetricFamily>);

    /// Appends this collector's exposition in `format` to `out`, as
    /// [`encode`](crate::encode()) writes what [`Collector::collect`]
    /// appends (OpenMetrics' `# EOF` included).
    fn encode(&self, format: Format, out: &mut Vec<u8>) -> EncodeReport {
        self.encode_with(&mut Encoder::new(), format, out)
    }

    /// [`Collector::encode`] with a caller's [`Encoder`], whose tables a
    /// scrape loop reuses. The default collects into a new `Vec` and
    /// encodes it with `encoder`; override it to write the same bytes
    /// without the model.
    fn encode_with(&self, encoder: &mut Encoder, format: Format, out: &mut Vec<u8>) -> EncodeReport {
        let mut families = Vec::new();
        self.collect(&mut families);
        encoder.encode(&families, format, out)
    }
}
