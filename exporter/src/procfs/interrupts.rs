//! `/proc/interrupts`: a header naming the online CPUs, then one line per
//! interrupt source with a count per CPU.

use super::ParseError;

/// One interrupt source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interrupt<'a> {
    /// The IRQ number or the architecture's name for it (`LOC`, `NMI`).
    pub name: &'a str,
    /// The controller and trigger (`IR-IO-APIC-edge`) of a numbered IRQ,
    /// or the description of a named one (`Local timer interrupts`).
    pub info: String,
    /// The devices sharing a numbered IRQ (`ehci_hcd:usb1, mmc0`); empty
    /// for named ones.
    pub devices: String,
    /// The count of each CPU of the header, in its order.
    pub counts: Vec<&'a str>,
}

/// Parses `/proc/interrupts` as node_exporter 1.5.0 does: a line with
/// fewer fields than one per CPU plus a description (`ERR`, `MIS`) is left
/// out. Counts stay text: the collector writes each as it parses it.
pub fn parse(text: &str) -> Result<Vec<Interrupt<'_>>, ParseError> {
    let mut lines = text.lines();
    let header = lines.next().ok_or_else(|| ParseError::new("empty file"))?;
    let cpus = header.split_ascii_whitespace().count();
    let mut interrupts = Vec::new();
    for line in lines {
        // Split at the colon first: on arm64 the name and the first count
        // can touch.
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
        if fields.len() < cpus + 1 {
            continue;
        }
        let name = name.trim_start();
        let (info, devices) = if name.parse::<u64>().is_ok() {
            (fields[cpus].to_owned(), fields[cpus + 1..].join(" "))
        } else {
            (fields[cpus..].join(" "), String::new())
        };
        interrupts.push(Interrupt { name, info, devices, counts: fields[..cpus].to_vec() });
    }
    Ok(interrupts)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "           CPU0       CPU1       \n\
\x20 0:         18          0  IR-IO-APIC-edge      timer\n\
\x2016:     328511     126017  IR-IO-APIC-fasteoi   ehci_hcd:usb1, mmc0\n\
NMI:         47          5   Non-maskable interrupts\n\
ERR:          0\n\
IPI0:0 1 Rescheduling interrupts\n";

    #[test]
    fn numbered_and_named_sources() {
        let parsed = parse(TEXT).unwrap();
        assert_eq!(parsed.len(), 4, "ERR has no per-CPU counts and is left out");
        assert_eq!(
            parsed[0],
            Interrupt { name: "0", info: "IR-IO-APIC-edge".into(), devices: "timer".into(), counts: vec!["18", "0"] }
        );
        assert_eq!(parsed[1].devices, "ehci_hcd:usb1, mmc0");
        assert_eq!(parsed[2].info, "Non-maskable interrupts");
        assert_eq!(parsed[2].devices, "");
        assert_eq!((parsed[3].name, parsed[3].counts.as_slice()), ("IPI0", &["0", "1"][..]));
    }

    #[test]
    fn an_empty_file_is_an_error() {
        assert!(parse("").is_err());
    }
}
