//! Properties of the parsers: no input makes them panic, and escaped label
//! values and help texts come back byte for byte.
//!
//! Case counts are kept small enough for the whole file to run in a few
//! seconds in a debug build; the fuzz target (`instrument/fuzz`) digs deeper.
// Helpers of a test harness fail by panicking, like the tests they serve.
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used, clippy::indexing_slicing)]

use std::fs;
use std::path::Path;
use std::sync::OnceLock;

use proptest::prelude::*;
use sonde_instrument::parse::{parse_bytes, parse_detailed, parse_openmetrics, parse_text};
use sonde_instrument::{Format, Labels, MetricFamily, encode};

/// The OpenMetrics parser cases (`tests/openmetrics/`, Apache-2.0; its
/// README says where they come from).
const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/openmetrics/parsers");

/// Every `metrics` file of the OpenMetrics corpus plus a few text 0.0.4
/// expositions: the seeds that mutations start from.
fn seeds() -> &'static [Vec<u8>] {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let mut seeds: Vec<Vec<u8>> = vec![
            b"# HELP a_total Total.\n# TYPE a_total counter\na_total{x=\"1\",y=\"\\\"\\\\\\n\"} 1 1700000000000\n"
                .to_vec(),
            b"# TYPE h histogram\nh_bucket{le=\"0.1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 0.5\nh_count 2\n".to_vec(),
            b"# TYPE s summary\ns{quantile=\"0.5\"} NaN\ns_sum 1\ns_count 1\nother{ a = \"b\" , } -Inf\n".to_vec(),
        ];
        let dir = fs::read_dir(Path::new(CORPUS)).expect("OpenMetrics corpus (tests/openmetrics/parsers)");
        let mut paths: Vec<_> = dir.map(|e| e.expect("corpus entry").path().join("metrics")).collect();
        paths.sort();
        for path in paths {
            seeds.push(fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())));
        }
        assert!(seeds.len() > 100, "the OpenMetrics corpus looks empty");
        seeds
    })
}

/// Runs every entry point on `bytes`; only a panic can fail.
fn parse_everything(bytes: &[u8]) {
    for format in [Format::Text, Format::OpenMetrics] {
        let _ = parse_bytes(bytes, format);
        let text = String::from_utf8_lossy(bytes);
        let _ = parse_detailed(&text, format);
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, byte: u8 },
    Insert { at: usize, text: &'static str },
    Remove { at: usize, len: usize },
    Truncate { at: usize },
    SwapLines { a: usize, b: usize },
    DuplicateLine { at: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let special = prop::sample::select(vec![
        "\\",
        "\"",
        "\n",
        "{",
        "}",
        ",",
        "=",
        " ",
        "#",
        "# EOF\n",
        "\u{0}",
        "☃",
        "\r",
        "_total",
        "_bucket",
        "le",
        "+Inf",
        "NaN",
        "# TYPE a counter\n",
        "# HELP a x\n",
        "1e309",
        "0x1p-3",
    ]);
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Flip { at, byte }),
        (any::<usize>(), special).prop_map(|(at, text)| Mutation::Insert { at, text }),
        (any::<usize>(), 1usize..8).prop_map(|(at, len)| Mutation::Remove { at, len }),
        any::<usize>().prop_map(|at| Mutation::Truncate { at }),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines { a, b }),
        any::<usize>().prop_map(|at| Mutation::DuplicateLine { at }),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let len = bytes.len();
    match *m {
        Mutation::Flip { at, byte } if len > 0 => bytes[at % len] = byte,
        Mutation::Insert { at, text } => {
            let at = at % (len + 1);
            bytes.splice(at..at, text.bytes());
        }
        Mutation::Remove { at, len: n } if len > 0 => {
            let at = at % len;
            bytes.drain(at..(at + n).min(len));
        }
        Mutation::Truncate { at } => bytes.truncate(at % (len + 1)),
        Mutation::SwapLines { a, b } => {
            let mut lines: Vec<Vec<u8>> = bytes.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
            let n = lines.len();
            lines.swap(a % n, b % n);
            *bytes = lines.join(&b'\n');
        }
        Mutation::DuplicateLine { at } => {
            let mut lines: Vec<Vec<u8>> = bytes.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
            let line = lines[at % lines.len()].clone();
            lines.insert(at % lines.len(), line);
            *bytes = lines.join(&b'\n');
        }
        _ => {}
    }
}

/// Label values and help texts full of what must be escaped.
fn nasty_string() -> impl Strategy<Value = String> {
    let c = prop_oneof![
        4 => any::<char>(),
        1 => Just('\\'),
        1 => Just('"'),
        1 => Just('\n'),
        1 => Just('\0'),
        1 => Just('n'),
        1 => Just(' '),
    ];
    prop::collection::vec(c, 0..24).prop_map(|chars| chars.into_iter().collect())
}

/// What a writer following the formats' escaping rules produces.
fn escape(s: &str, quote: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings_never_panic(input in ".{0,200}") {
        parse_everything(input.as_bytes());
    }

    #[test]
    fn arbitrary_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..200)) {
        parse_everything(&input);
    }

    #[test]
    fn exposition_like_strings_never_panic(input in "([a-z_]{1,4}(\\{([a-z]{1,3}=\"[^\"\n]{0,4}\",?){0,3}\\})? ?[-+0-9.eInfNa]{0,5}( [0-9.]{0,4})?( # \\{[a-z]=\"[a-z]\"\\} [0-9])?\n|# (TYPE|HELP|UNIT) [a-z_]{1,4} [a-z]{0,8}\n|# EOF\n){0,8}") {
        parse_everything(input.as_bytes());
    }

    #[test]
    fn corpus_mutations_never_panic(
        seed in any::<prop::sample::Index>(),
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let seeds = seeds();
        let mut bytes = seeds[seed.index(seeds.len())].clone();
        for m in &mutations {
            apply(&mut bytes, m);
        }
        parse_everything(&bytes);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// The parser undoes exactly the escaping the formats define.
    #[test]
    fn escaped_text_parses_back(value in nasty_string(), help in nasty_string()) {
        let text = format!("# HELP g {}\ng{{v=\"{}\"}} 1\n", escape(&help, false), escape(&value, true));
        let families = parse_text(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        prop_assert_eq!(families[0].samples[0].labels.get("v"), Some(value.as_str()));
        // Text 0.0.4 cannot carry leading blanks in HELP: every parser skips them.
        prop_assert_eq!(families[0].help.as_str(), help.trim_start_matches([' ', '\t']));

        let om = format!("# HELP g {}\ng{{v=\"{}\"}} 1\n# EOF\n", escape(&help, true), escape(&value, true));
        let families = parse_openmetrics(&om).unwrap_or_else(|e| panic!("{e}\n{om}"));
        prop_assert_eq!(families[0].samples[0].labels.get("v"), Some(value.as_str()));
        prop_assert_eq!(families[0].help.as_str(), help.as_str());
    }

    /// Whatever the encoder writes, the parser reads back byte for byte.
    #[test]
    fn encoded_strings_parse_back(value in nasty_string(), help in nasty_string(), exemplar in nasty_string()) {
        let mut family = MetricFamily::counter("c", help.clone());
        family.push(Labels::new().with("v", value.clone()), 1.0);
        family.samples[0].exemplar = Some(sonde_instrument::Exemplar {
            labels: Labels::new().with("e", exemplar.chars().take(100).collect::<String>()),
            value: 0.5,
            timestamp: None,
        });
        for format in [Format::Text, Format::OpenMetrics] {
            let mut out = Vec::new();
            encode(std::slice::from_ref(&family), format, &mut out);
            let families = parse_bytes(&out, format)
                .unwrap_or_else(|e| panic!("{format:?}: {e}\n{}", String::from_utf8_lossy(&out)));
            prop_assert_eq!(families.len(), 1, "{:?}\n{}", format, String::from_utf8_lossy(&out));
            let sample = &families[0].samples[0];
            prop_assert_eq!(sample.labels.get("v"), Some(value.as_str()));
            let expected_help = match format {
                Format::Text => help.trim_start_matches([' ', '\t']),
                Format::OpenMetrics => help.as_str(),
            };
            prop_assert_eq!(families[0].help.as_str(), expected_help);
            if format == Format::OpenMetrics {
                prop_assert_eq!(sample.exemplar.as_ref(), family.samples[0].exemplar.as_ref());
            }
        }
    }
}
