//! Cost of one node scrape (collect only, no encoding): on the committed
//! fixture (stable across machines) and on this machine's /proc and /sys.
//! Compare with node_exporter's ~6 ms CPU per scrape measured here
//! (`shared/reference/exporter-anchors.md` §4).

use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use sonde_exporter::node::{self, NodeConfig};
use sonde_instrument::Collector;

fn scrape(c: &mut Criterion) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/node");
    let mut fixture = NodeConfig {
        procfs: root.join("proc"),
        sysfs: root.join("sys"),
        rootfs: root.join("root"),
        udev_data: root.join("udev"),
        textfile_directory: Some(root.join("textfile")),
        ..NodeConfig::default()
    };
    fixture.enable_all();
    let live = NodeConfig::default();

    let mut group = c.benchmark_group("node_scrape");
    group.measurement_time(Duration::from_secs(3));
    for (name, config) in [("fixture", &fixture), ("live", &live)] {
        let Ok(exporter) = node::executor(config) else {
            continue;
        };
        let mut out = Vec::with_capacity(512);
        group.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                exporter.collect(&mut out);
                out.len()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, scrape);
criterion_main!(benches);
