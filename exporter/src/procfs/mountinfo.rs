//! `/proc/<pid>/mountinfo` (proc(5)).

use std::borrow::Cow;

use super::ParseError;

/// One mount, borrowed from the file's text where no unescaping was needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount<'a> {
    /// Where it is mounted, as the reading process sees it.
    pub mount_point: Cow<'a, str>,
    /// Per-mount options (`rw,relatime`).
    pub options: &'a str,
    /// Filesystem type (`ext4`).
    pub fs_type: &'a str,
    /// Mount source (`/dev/vda`, `tmpfs`).
    pub source: Cow<'a, str>,
}

impl Mount<'_> {
    /// True when the per-mount options say `ro`.
    pub fn read_only(&self) -> bool {
        self.options.split(',').any(|o| o == "ro")
    }
}

/// Parses a mountinfo file.
pub fn parse(text: &str) -> Result<Vec<Mount<'_>>, ParseError> {
    let mut mounts = Vec::with_capacity(32);
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = || ParseError::new(format!("invalid line {line:?}"));
        let mut fields = line.split(' ');
        // id, parent id, major:minor, root.
        let mount_point = fields.nth(4).ok_or_else(bad)?;
        let options = fields.next().ok_or_else(bad)?;
        // Optional fields (`shared:1`, `master:2`) end with a lone `-`.
        fields.by_ref().find(|f| *f == "-").ok_or_else(bad)?;
        let fs_type = fields.next().ok_or_else(bad)?;
        let source = fields.next().ok_or_else(bad)?;
        mounts.push(Mount { mount_point: unescape(mount_point), options, fs_type, source: unescape(source) });
    }
    Ok(mounts)
}

/// Undoes the kernel's octal escapes (`\040` for space, `\011`, `\012`, `\134`).
pub fn unescape(field: &str) -> Cow<'_, str> {
    if !field.contains('\\') {
        return Cow::Borrowed(field);
    }
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal =
            bytes.get(i + 1..i + 4).filter(|d| bytes[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                let value = (d[0] - b'0') as u32 * 64 + (d[1] - b'0') as u32 * 8 + (d[2] - b'0') as u32;
                out.push(value as u8);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534
28 27 0:25 / /mnt/sandboxing/python ro,nosuid,nodev,relatime - tmpfs model_tools_unavailable ro,size=4k,mode=755
42 27 254:0 /var/lib/docker /var/lib/docker rw,relatime shared:1 master:2 - ext4 /dev/vda rw,discard
50 27 0:40 / /mnt/with\\040space rw - fuse.sshfs user@host:/a\\134b rw
";

    #[test]
    fn parses_a_real_file() {
        let mounts = parse(MOUNTINFO).unwrap();
        assert_eq!(mounts.len(), 5);
        assert_eq!(mounts[1].mount_point, "/");
        assert_eq!(mounts[1].fs_type, "ext4");
        assert_eq!(mounts[1].source, "/dev/vda");
        assert!(!mounts[1].read_only());
        assert!(mounts[2].read_only());
        assert_eq!(mounts[3].mount_point, "/var/lib/docker");
        assert_eq!(mounts[3].fs_type, "ext4");
        assert_eq!(mounts[4].mount_point, "/mnt/with space");
        assert_eq!(mounts[4].source, "user@host:/a\\b");
    }

    #[test]
    fn rejects_truncated_lines() {
        assert!(parse("22 27 0:21 / /proc rw,relatime\n").is_err());
        assert!(parse("22 27 0:21 / /proc rw,relatime -\n").is_err());
    }

    #[test]
    fn leaves_unknown_escapes_alone() {
        assert_eq!(unescape("a\\9b\\"), "a\\9b\\");
        assert_eq!(unescape("\\011tab"), "\ttab");
    }
}
