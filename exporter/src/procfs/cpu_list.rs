//! sysfs CPU lists (`/sys/devices/system/cpu/isolated`, `online`): `0-3,8,10-11`.

use super::{ParseError, parse_u64};

/// Expands a CPU list into CPU numbers, in the order written. An empty
/// file (no CPU) gives an empty list.
pub fn parse(text: &str) -> Result<Vec<u32>, ParseError> {
    let mut cpus = Vec::new();
    for range in text.trim().split(',').filter(|r| !r.is_empty()) {
        let (first, last) = match range.split_once('-') {
            Some((a, b)) => (parse_u64(a, "cpu number")?, parse_u64(b, "cpu number")?),
            None => {
                let cpu = parse_u64(range, "cpu number")?;
                (cpu, cpu)
            }
        };
        if last < first || last - first > 65_536 {
            return Err(ParseError::new(format!("invalid cpu range {range:?}")));
        }
        cpus.extend((first..=last).map(|c| c as u32));
    }
    Ok(cpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_ranges() {
        assert_eq!(parse("0-3,8,10-11\n").unwrap(), vec![0, 1, 2, 3, 8, 10, 11]);
        assert_eq!(parse("\n").unwrap(), Vec::<u32>::new());
        assert_eq!(parse("5").unwrap(), vec![5]);
    }

    #[test]
    fn rejects_bad_lists() {
        assert!(parse("3-1").is_err());
        assert!(parse("a").is_err());
        assert!(parse("1-").is_err());
    }
}
