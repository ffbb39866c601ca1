//! Looks up and increments one series of a 4-label family N times (the
//! `lookup_inc` case of `benches/metrics.rs`), for counting instructions
//! per lookup with callgrind, which does not move with the machine's load
//! as times do:
//!
//! ```text
//! cargo build --release -p sonde-instrument --example lookup-calls
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/lookup-calls sonde 1000001
//! ```
//!
//! Instructions per lookup are (I(1,000,001) − I(1)) / 1,000,000. Modes:
//! `sonde` (`Family::get_or_create`), `sonde-result`
//! (`Family::with_label_values`), `prometheus` (`with_label_values`),
//! `prometheus-client` (`get_or_create` with a derived label struct).

// An example whose setup fails has nothing to show: stopping is right.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter as PcCounter;
use prometheus_client::metrics::family::Family as PcFamily;

use sonde_instrument::metrics::{Counter, Family};

const LABELS: [&str; 4] = ["service", "code", "method", "path"];
const VALUES: [&str; 4] = ["go-demo", "200", "GET", "/demo/hello"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GoDemoLabels {
    service: String,
    code: String,
    method: String,
    path: String,
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().expect("mode: sonde, sonde-result, prometheus or prometheus-client");
    let n: u64 = args.next().and_then(|n| n.parse().ok()).expect("a number of lookups");
    match mode.as_str() {
        "sonde" | "sonde-result" => {
            let family = Family::<Counter>::new(&LABELS);
            // The bench's siblings, so the lookup is not the only entry.
            for code in ["404", "500", "503"] {
                family.get_or_create(&["go-demo", code, "GET", "/demo/hello"]).inc();
            }
            for _ in 0..n {
                if mode == "sonde" {
                    family.get_or_create(black_box(&VALUES)).inc();
                } else {
                    family.with_label_values(black_box(&VALUES)).unwrap().inc();
                }
            }
            assert_eq!(family.get_or_create(&VALUES).get(), n);
        }
        "prometheus" => {
            let family = prometheus::IntCounterVec::new(prometheus::Opts::new("c", "c"), &LABELS).unwrap();
            for _ in 0..n {
                family.with_label_values(black_box(&VALUES)).inc();
            }
            assert_eq!(family.with_label_values(&VALUES).get(), n);
        }
        "prometheus-client" => {
            let family = PcFamily::<GoDemoLabels, PcCounter>::default();
            let labels = GoDemoLabels {
                service: VALUES[0].to_owned(),
                code: VALUES[1].to_owned(),
                method: VALUES[2].to_owned(),
                path: VALUES[3].to_owned(),
            };
            for _ in 0..n {
                family.get_or_create(black_box(&labels)).inc();
            }
            assert_eq!(family.get_or_create(&labels).get(), n);
        }
        other => panic!("unknown mode {other}"),
    }
}
