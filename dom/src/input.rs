//! Reading the documents named on the command line.
//!
//! Files are read whole. Directories are walked recursively in name order and contribute
//! their `.html`, `.htm` and `.xhtml` files. Anything that cannot be read is reported on
//! stderr with its path and skipped; the run goes on with the rest. Bytes that are not
//! UTF-8 are decoded lossily (U+FFFD for each bad sequence), with a warning.

use crate::corpus::Doc;
use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

/// What loading found: the documents, and how many paths were skipped.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Readable documents, in command-line order (directory contents in name order).
    pub docs: Vec<Doc>,
    /// Paths reported unreadable and skipped.
    pub skipped: usize,
    /// Documents that were not valid UTF-8 and were decoded lossily.
    pub lossy: usize,
}

/// Loads every document under `paths`, reporting problems on stderr.
pub fn load(paths: &[PathBuf]) -> Loaded {
    let mut loaded = Loaded::default();
    let mut seen_dirs = HashSet::new();
    for path in paths {
        visit(path, true, &mut seen_dirs, &mut loaded);
    }
    loaded
}

fn visit(path: &Path, named: bool, seen_dirs: &mut HashSet<PathBuf>, out: &mut Loaded) {
    let meta = match fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) => return skip(path, &e.to_string(), out),
    };
    if meta.is_dir() {
        // A symlink cycle would otherwise recurse forever.
        let canonical = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        if !seen_dirs.insert(canonical) {
            return;
        }
        let entries = match fs::read_dir(path) {
            Ok(entries) => entries,
            Err(e) => return skip(path, &e.to_string(), out),
        };
        let mut children = Vec::new();
        for entry in entries {
            match entry {
                Ok(entry) => children.push(entry.path()),
                Err(e) => skip(path, &format!("reading an entry: {e}"), out),
            }
        }
        children.sort();
        for child in children {
            visit(&child, false, seen_dirs, out);
        }
    } else if named || is_html(path) {
        match fs::read(path) {
            Ok(bytes) => out.docs.push(decode(path, bytes, &mut out.lossy)),
            Err(e) => skip(path, &e.to_string(), out),
        }
    }
}

fn is_html(path: &Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
        ["html", "htm", "xhtml"]
            .iter()
            .any(|x| e.eq_ignore_ascii_case(x))
    })
}

fn skip(path: &Path, why: &str, out: &mut Loaded) {
    eprintln!("warning: {}: {why}; skipped", path.display());
    out.skipped += 1;
}

/// UTF-8 decoding: a leading byte-order mark is dropped; invalid bytes become U+FFFD.
pub fn decode(path: &Path, bytes: Vec<u8>, lossy: &mut usize) -> Doc {
    let name = path.display().to_string();
    let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
    let html = match std::str::from_utf8(body) {
        Ok(text) => text.to_owned(),
        Err(_) => {
            let text = String::from_utf8_lossy(body).into_owned();
            let bad = text.chars().filter(|&c| c == '\u{FFFD}').count();
            eprintln!(
                "warning: {name}: not valid UTF-8; decoded lossily \
                 ({bad} U+FFFD replacement characters in the text)"
            );
            *lossy += 1;
            text
        }
    };
    Doc { name, html }
}
