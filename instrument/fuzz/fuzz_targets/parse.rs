//! Feeds arbitrary bytes to both parsers: they must return, never panic,
//! the plain and detailed parses must agree, and whatever OpenMetrics input
//! parses must survive encode → parse unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sonde_instrument::parse::{parse, parse_bytes, parse_detailed};
use sonde_instrument::{Format, encode};

fuzz_target!(|data: &[u8]| {
    for format in [Format::Text, Format::OpenMetrics] {
        let _ = parse_bytes(data, format);
        // Invalid UTF-8 stops `parse_bytes` early; the lossy text still
        // reaches every rule of the parser.
        let text = String::from_utf8_lossy(data);
        let plain = parse(&text, format);
        let detailed = parse_detailed(&text, format).map(|parsed| parsed.families);
        // Debug output compares NaN equal to NaN, unlike `PartialEq`.
        let plain = format!("{plain:?}");
        assert_eq!(plain, format!("{detailed:?}"), "parse and parse_detailed disagree");
        if let (Format::OpenMetrics, Ok(families)) = (format, detailed) {
            let mut out = Vec::new();
            encode(&families, format, &mut out);
            let again = parse_bytes(&out, format);
            assert_eq!(
                format!("{:?}", Ok::<_, ()>(families)),
                format!("{:?}", again.map_err(|_| ())),
                "OpenMetrics round trip changed the model; encoded:\n{}",
                String::from_utf8_lossy(&out)
            );
        }
    }
});
