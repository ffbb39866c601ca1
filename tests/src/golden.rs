//! Fixture trees and golden files, side by side under one convention.
//!
//! A fixture tree is a fake root under `tests/fixtures/<tree>` (`node`,
//! `cgroup/v2`, …); the output a test expects from it is the golden file
//! `tests/golden/<tree>.txt`, a `/` in the tree's name written as `-`
//! (`node.txt`, `cgroup-v2.txt`). The golden files are the contract for
//! output: a change to it shows as their diff in the same commit.
//!
//! One rule for every golden test: with `UPDATE_GOLDEN=1` in the
//! environment, [`check`] rewrites the golden file with what the test saw
//! (then compares, and passes); any other value, or none, only compares.
//! Review the rewritten file's diff like code:
//!
//! ```sh
//! UPDATE_GOLDEN=1 cargo test -p sonde-tests --test node_fixture --test container_fixture
//! git diff tests/golden
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;

/// The environment variable that rewrites golden files when it is `1`.
pub const UPDATE_GOLDEN: &str = "UPDATE_GOLDEN";

/// The fixture tree `tree`: `tests/fixtures/<tree>`.
pub fn fixture(tree: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(tree)
}

/// The golden file of the fixture tree `tree`: `tests/golden/<tree>.txt`,
/// with `-` for `/`.
pub fn golden_file(tree: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("golden").join(format!("{}.txt", tree.replace('/', "-")))
}

/// Whether this run rewrites golden files: `UPDATE_GOLDEN=1`.
pub fn updating() -> bool {
    std::env::var_os(UPDATE_GOLDEN).is_some_and(|v| v == "1")
}

/// Compares `actual` with the golden file of `tree`, failing the test with
/// a unified diff when they differ; rewrites the file first when
/// [`updating`].
pub fn check(tree: &str, actual: &str) {
    let golden = golden_file(tree);
    if updating() {
        if let Some(dir) = golden.parent() {
            std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        }
        std::fs::write(&golden, actual).unwrap_or_else(|e| panic!("writing {}: {e}", golden.display()));
    }
    let expected = std::fs::read_to_string(&golden)
        .unwrap_or_else(|e| panic!("reading {}: {e} ({UPDATE_GOLDEN}=1 writes it)", golden.display()));
    assert!(
        expected == actual,
        "the output differs from {} ({UPDATE_GOLDEN}=1 rewrites it):\n{}",
        golden.display(),
        unified_diff(&golden, actual)
    );
}

/// `diff -u golden actual`, as node_exporter's end-to-end test prints it.
fn unified_diff(golden: &Path, actual: &str) -> String {
    let written = tempfile::NamedTempFile::new().and_then(|file| std::fs::write(file.path(), actual).map(|()| file));
    let file = match written {
        Ok(file) => file,
        Err(err) => return format!("(cannot write the output for diff: {err}; it was:)\n{actual}"),
    };
    match Command::new("diff").arg("-u").arg(golden).arg(file.path()).output() {
        Ok(output) => String::from_utf8_lossy(&output.stdout).into_owned(),
        Err(err) => format!("(cannot run diff: {err}; the output was:)\n{actual}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_names_its_golden_file() {
        assert!(golden_file("node").ends_with("tests/golden/node.txt"));
        assert!(golden_file("cgroup/v2").ends_with("tests/golden/cgroup-v2.txt"));
        assert!(fixture("cgroup/v2").ends_with("tests/fixtures/cgroup/v2"));
    }
}
