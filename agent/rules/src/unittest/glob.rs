//! `rule_files` patterns resolved as promtool resolves them: relative to the
//! test file's directory, lexically cleaned, then expanded like Go's
//! `filepath.Glob` (`*`, `?`, `[a-z]`, `[^…]`, `\` escapes; matches sorted
//! per directory; a pattern without metacharacters is the file if it exists).

use std::path::Path;

/// `syntax error in pattern`, Go's `filepath.ErrBadPattern`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("syntax error in pattern")]
pub(super) struct BadPattern;

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Star,
    Any,
    Literal(char),
    Class { negated: bool, ranges: Vec<(char, char)> },
}

/// One character of a class, escapes resolved; `-` and `]` are refused here.
fn class_char(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Result<char, BadPattern> {
    match chars.next() {
        None | Some('-' | ']') => Err(BadPattern),
        Some('\\') => chars.next().ok_or(BadPattern),
        Some(c) => Ok(c),
    }
}

fn compile(pattern: &str) -> Result<Vec<Token>, BadPattern> {
    let mut tokens = Vec::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => {
                if tokens.last() != Some(&Token::Star) {
                    tokens.push(Token::Star);
                }
            }
            '?' => tokens.push(Token::Any),
            '\\' => tokens.push(Token::Literal(chars.next().ok_or(BadPattern)?)),
            '[' => {
                let negated = chars.next_if_eq(&'^').is_some();
                let mut ranges = Vec::new();
                loop {
                    if !ranges.is_empty() && chars.next_if_eq(&']').is_some() {
                        break;
                    }
                    let lo = class_char(&mut chars)?;
                    let hi = if chars.next_if_eq(&'-').is_some() { class_char(&mut chars)? } else { lo };
                    ranges.push((lo, hi));
                }
                tokens.push(Token::Class { negated, ranges });
            }
            c => tokens.push(Token::Literal(c)),
        }
    }
    Ok(tokens)
}

fn matches(tokens: &[Token], name: &[char]) -> bool {
    match tokens.split_first() {
        None => name.is_empty(),
        Some((Token::Star, rest)) => (0..=name.len())
            .take_while(|&i| i == 0 || name.get(i - 1) != Some(&'/'))
            .any(|i| matches(rest, name.get(i..).unwrap_or(&[]))),
        Some((token, rest)) => {
            let Some((&c, tail)) = name.split_first() else { return false };
            let one = match token {
                Token::Any => c != '/',
                Token::Literal(l) => c == *l,
                Token::Class { negated, ranges } => ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated,
                Token::Star => false,
            };
            one && matches(rest, tail)
        }
    }
}

fn has_meta(path: &str) -> bool {
    path.contains(['*', '?', '[', '\\'])
}

/// Go's `path.Clean`: one slash between elements, no `.`, `..` resolved
/// lexically; the empty path is `.`.
pub(super) fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                _ if rooted => {}
                _ => parts.push(".."),
            },
            part => parts.push(part),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_owned(),
        (false, false) => joined,
    }
}

/// Go's `filepath.Dir`: the path without its last element, cleaned.
pub(super) fn dir(path: &str) -> String {
    match path.rfind('/') {
        Some(at) => clean(path.get(..=at).unwrap_or("/")),
        None => ".".to_owned(),
    }
}

/// Go's `filepath.Join` of two elements.
pub(super) fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        return clean(name);
    }
    clean(&format!("{dir}/{name}"))
}

/// The files `pattern` names, as Go's `filepath.Glob` finds them.
pub(super) fn glob(pattern: &str) -> Result<Vec<String>, BadPattern> {
    compile(pattern)?;
    if !has_meta(pattern) {
        return Ok(if Path::new(pattern).symlink_metadata().is_ok() { vec![pattern.to_owned()] } else { Vec::new() });
    }
    let (dir_part, file) = match pattern.rfind('/') {
        Some(at) => (pattern.get(..=at).unwrap_or(""), pattern.get(at + 1..).unwrap_or("")),
        None => ("", pattern),
    };
    let dir_part = match dir_part {
        "" => ".".to_owned(),
        "/" => "/".to_owned(),
        d => d.strip_suffix('/').unwrap_or(d).to_owned(),
    };
    let file = compile(file)?;
    if !has_meta(&dir_part) {
        return Ok(glob_in(&dir_part, &file));
    }
    if dir_part == pattern {
        return Err(BadPattern);
    }
    Ok(glob(&dir_part)?.iter().flat_map(|d| glob_in(d, &file)).collect())
}

/// The entries of `dir` matching `file`, sorted; nothing when `dir` cannot be read.
fn glob_in(dir: &str, file: &[Token]) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut names: Vec<String> =
        entries.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
        .into_iter()
        .filter(|name| matches(file, &name.chars().collect::<Vec<_>>()))
        .map(|name| join(dir, &name))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches_str(pattern: &str, name: &str) -> Result<bool, BadPattern> {
        Ok(matches(&compile(pattern)?, &name.chars().collect::<Vec<_>>()))
    }

    #[test]
    fn patterns_match_like_go() {
        for (pattern, name, want) in [
            ("abc", "abc", true),
            ("*", "abc", true),
            ("*c", "abc", true),
            ("a*", "a", true),
            ("a*/b", "abc/b", true),
            ("a*/b", "a/c/b", false),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", true),
            ("ab[c]", "abc", true),
            ("ab[b-d]", "abc", true),
            ("ab[^c]", "abc", false),
            ("ab[^b-d]", "abe", true),
            ("a\\*b", "a*b", true),
            ("a\\*b", "ab", false),
            ("a?b", "a/b", false),
            ("*.yml", "x.yml", true),
            ("*.yml", "x.yaml", false),
        ] {
            assert_eq!(matches_str(pattern, name), Ok(want), "{pattern} {name}");
        }
        for bad in ["[", "a[", "[]a]", "[-]", "[x-]", "a\\", "[a-b"] {
            assert_eq!(compile(bad), Err(BadPattern), "{bad}");
        }
    }

    #[test]
    fn paths_are_cleaned_like_go() {
        for (path, want) in
            [("", "."), ("a//b/./c/", "a/b/c"), ("a/../../b", "../b"), ("/../a", "/a"), ("./x.yml", "x.yml")]
        {
            assert_eq!(clean(path), want, "{path}");
        }
        assert_eq!(dir("x.yml"), ".");
        assert_eq!(dir("tests/rules/x.yml"), "tests/rules");
        assert_eq!(dir("/x.yml"), "/");
        assert_eq!(join(".", "r.yml"), "r.yml");
        assert_eq!(join("tests/rules", "../r.yml"), "tests/r.yml");
    }

    #[test]
    fn globs_find_files_sorted() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_str().unwrap();
        for name in ["b.yml", "a.yml", "c.txt", "sub/d.yml"] {
            let path = tmp.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "").unwrap();
        }
        assert_eq!(glob(&format!("{root}/*.yml")).unwrap(), [format!("{root}/a.yml"), format!("{root}/b.yml")]);
        assert_eq!(glob(&format!("{root}/s*/*.yml")).unwrap(), [format!("{root}/sub/d.yml")]);
        assert_eq!(glob(&format!("{root}/c.txt")).unwrap(), [format!("{root}/c.txt")]);
        assert!(glob(&format!("{root}/none.yml")).unwrap().is_empty());
        assert_eq!(glob(&format!("{root}/[")), Err(BadPattern));
    }
}
