//! Reading the documents named on the command line.
//!
//! Files are read whole. Directories are walked recursively in name order (with `walkdir`,
//! following symbolic links, each directory once) and contribute their `.html`, `.htm` and
//! `.xhtml` files. Anything that cannot be read is reported on stderr with its path and
//! skipped; the run goes on with the rest.
//!
//! Each file's character encoding is found as a browser finds it ([`sniff`]): a byte-order
//! mark, else a `<meta charset>` in the first 1024 bytes, else UTF-8 if the bytes are valid
//! UTF-8, else windows-1252 (the WHATWG default for unlabeled legacy pages). The text is
//! decoded with `encoding_rs` ([`decode`]); input that is not UTF-8 is reported on stderr
//! with the encoding used.

use crate::corpus::Doc;
use encoding_rs::{Encoding, UTF_16BE, UTF_16LE, UTF_8, WINDOWS_1252, X_USER_DEFINED};
use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use walkdir::WalkDir;

/// What loading found: the documents, and how many paths were skipped.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Readable documents, in command-line order (directory contents in name order).
    pub docs: Vec<Doc>,
    /// Paths reported unreadable and skipped.
    pub skipped: usize,
    /// Documents that were not valid UTF-8: decoded from another encoding (see [`sniff`]),
    /// or with malformed sequences replaced by U+FFFD. Each was reported on stderr.
    pub transcoded: usize,
}

/// Loads every document under `paths`, reporting problems on stderr.
pub fn load(paths: &[PathBuf]) -> Loaded {
    let mut loaded = Loaded::default();
    let mut seen_dirs = HashSet::new();
    for path in paths {
        visit(path, &mut seen_dirs, &mut loaded);
    }
    loaded
}

/// Loads `path`: a file named on the command line (whatever its extension), or a
/// directory's HTML files in name order. A directory already walked (named twice, inside
/// another named one, or reached again through a symbolic link) is not walked again.
fn visit(path: &Path, seen_dirs: &mut HashSet<PathBuf>, out: &mut Loaded) {
    let mut walk = WalkDir::new(path)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter();
    while let Some(entry) = walk.next() {
        let entry = match entry {
            Ok(entry) => entry,
            // A symbolic link back to a directory being walked: already walked, as the
            // check below would find.
            Err(e) if e.loop_ancestor().is_some() => continue,
            Err(e) => {
                let at = e.path().unwrap_or(path);
                let why = e
                    .io_error()
                    .map_or_else(|| e.to_string(), |io| io.to_string());
                skip(at, &why, out);
                continue;
            }
        };
        let named = entry.depth() == 0;
        if entry.file_type().is_dir() {
            let canonical =
                fs::canonicalize(entry.path()).unwrap_or_else(|_| entry.path().to_path_buf());
            if !seen_dirs.insert(canonical) {
                walk.skip_current_dir();
            }
        } else if named || is_html(entry.path()) {
            match fs::read(entry.path()) {
                Ok(bytes) => out
                    .docs
                    .push(decode(entry.path(), bytes, &mut out.transcoded)),
                Err(e) => skip(entry.path(), &e.to_string(), out),
            }
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

/// How [`sniff`] chose an encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniffed {
    /// A byte-order mark of this many bytes starts the input.
    Bom(usize),
    /// A `<meta charset=...>` or `<meta http-equiv=... content="...; charset=...">` in the
    /// first 1024 bytes names it.
    Meta,
    /// The input is valid UTF-8.
    Utf8,
    /// Nothing names an encoding and the input is not UTF-8: windows-1252, the WHATWG
    /// default for unlabeled legacy pages.
    Fallback,
}

/// The encoding of an HTML file's bytes, found as browsers do (a simplified form of the
/// WHATWG encoding sniffing algorithm): a byte-order mark (UTF-8, UTF-16LE or UTF-16BE),
/// else the first `<meta>` in the first 1024 bytes whose charset is a known label (a meta
/// naming UTF-16 means UTF-8, and `x-user-defined` means windows-1252, as the HTML standard
/// says), else UTF-8 if all the bytes are valid UTF-8, else windows-1252.
///
/// ```
/// use epoch_arena_dom::input::{sniff, Sniffed};
///
/// assert_eq!(sniff(b"<p>caf\xc3\xa9"), (encoding_rs::UTF_8, Sniffed::Utf8));
/// assert_eq!(sniff(b"<p>caf\xe9"), (encoding_rs::WINDOWS_1252, Sniffed::Fallback));
/// assert_eq!(
///     sniff(b"<meta charset='Shift_JIS'><p>\x83n"),
///     (encoding_rs::SHIFT_JIS, Sniffed::Meta)
/// );
/// ```
pub fn sniff(bytes: &[u8]) -> (&'static Encoding, Sniffed) {
    if let Some((encoding, len)) = Encoding::for_bom(bytes) {
        return (encoding, Sniffed::Bom(len));
    }
    if let Some(encoding) = meta_charset(&bytes[..bytes.len().min(1024)]) {
        let encoding = if encoding == UTF_16LE || encoding == UTF_16BE {
            UTF_8
        } else if encoding == X_USER_DEFINED {
            WINDOWS_1252
        } else {
            encoding
        };
        return (encoding, Sniffed::Meta);
    }
    if std::str::from_utf8(bytes).is_ok() {
        (UTF_8, Sniffed::Utf8)
    } else {
        (WINDOWS_1252, Sniffed::Fallback)
    }
}

/// The encoding named by the first `<meta>` tag in `head` that names a known one, through
/// a `charset=` in its attributes (`charset="x"`, or `content="text/html; charset=x"`).
/// Comments are skipped. A simple scan, not the standard's full prescan.
fn meta_charset(head: &[u8]) -> Option<&'static Encoding> {
    let lower = head.to_ascii_lowercase();
    let mut at = 0;
    while at < lower.len() {
        let rest = &lower[at..];
        if rest.starts_with(b"<!--") {
            at += find(&rest[4..], b"-->").map_or(rest.len(), |end| 4 + end + 3);
            continue;
        }
        let tag_follows = rest.starts_with(b"<meta")
            && rest
                .get(5)
                .is_some_and(|&b| b.is_ascii_whitespace() || b == b'/');
        if !tag_follows {
            at += 1;
            continue;
        }
        let tag = &rest[5..];
        let tag = &tag[..find(tag, b">").unwrap_or(tag.len())];
        at += 5 + tag.len();
        let mut from = 0;
        while let Some(i) = find(&tag[from..], b"charset") {
            from += i + b"charset".len();
            let value = tag[from..].trim_ascii_start();
            let Some(value) = value.strip_prefix(b"=") else {
                continue;
            };
            let value = value.trim_ascii_start();
            let (quote, value) = match value.first() {
                Some(&q @ (b'"' | b'\'')) => (Some(q), &value[1..]),
                _ => (None, value),
            };
            let end = value
                .iter()
                .position(|&b| match quote {
                    Some(q) => b == q || b == b';',
                    None => b.is_ascii_whitespace() || matches!(b, b';' | b'"' | b'\'' | b'/'),
                })
                .unwrap_or(value.len());
            if let Some(encoding) = Encoding::for_label(&value[..end]) {
                return Some(encoding);
            }
        }
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Decodes an HTML file's bytes into a document named by `path`, in the encoding
/// [`sniff`] finds (a byte-order mark is dropped; a byte sequence invalid in the encoding
/// becomes U+FFFD). Input that is not valid UTF-8 is reported on stderr, with the encoding
/// used, and counted in `transcoded`.
pub fn decode(path: &Path, bytes: Vec<u8>, transcoded: &mut usize) -> Doc {
    let name = path.display().to_string();
    let (encoding, how) = sniff(&bytes);
    let body = match how {
        Sniffed::Bom(len) => &bytes[len..],
        _ => &bytes[..],
    };
    let (text, malformed) = encoding.decode_without_bom_handling(body);
    let replaced = if malformed {
        let bad = text.chars().filter(|&c| c == '\u{FFFD}').count();
        format!(" ({bad} malformed sequences became U+FFFD)")
    } else {
        String::new()
    };
    let because = match how {
        Sniffed::Bom(_) => "its byte-order mark",
        Sniffed::Meta => "its <meta charset>",
        Sniffed::Utf8 | Sniffed::Fallback => "",
    };
    if how == Sniffed::Fallback {
        eprintln!(
            "warning: {name}: not valid UTF-8; decoded as {} (no byte-order mark or \
             <meta charset>){replaced}",
            encoding.name()
        );
    } else if encoding != UTF_8 {
        eprintln!(
            "note: {name}: decoded as {}, as {because} says{replaced}",
            encoding.name()
        );
    } else if malformed {
        eprintln!("warning: {name}: not valid UTF-8, which {because} names{replaced}");
    }
    if encoding != UTF_8 || malformed {
        *transcoded += 1;
    }
    let html = text.into_owned();
    Doc { name, html }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(bytes: &[u8]) -> (String, usize) {
        let mut transcoded = 0;
        let doc = decode(Path::new("t.html"), bytes.to_vec(), &mut transcoded);
        (doc.html, transcoded)
    }

    #[test]
    fn latin1_bytes_fall_back_to_windows_1252() {
        assert_eq!(
            decoded(b"<p>caf\xe9 <b>x</i>"),
            ("<p>café <b>x</i>".to_owned(), 1)
        );
        // 0x80 is the euro sign in windows-1252 (not a C1 control as in ISO-8859-1).
        assert_eq!(decoded(b"\x80 \xff").0, "€ ÿ");
    }

    #[test]
    fn a_utf16le_byte_order_mark_wins() {
        let mut bytes = vec![0xFF, 0xFE];
        for unit in "<p>café 日本".encode_utf16() {
            bytes.extend_from_slice(&unit.to_le_bytes());
        }
        assert_eq!(sniff(&bytes), (UTF_16LE, Sniffed::Bom(2)));
        assert_eq!(decoded(&bytes), ("<p>café 日本".to_owned(), 1));
    }

    #[test]
    fn meta_charset_names_the_encoding() {
        // "日本" in Shift_JIS.
        let sjis = b"<!doctype html><meta charset=shift_jis><p>\x93\xfa\x96\x7b";
        assert_eq!(sniff(sjis), (encoding_rs::SHIFT_JIS, Sniffed::Meta));
        assert_eq!(
            decoded(sjis),
            (
                "<!doctype html><meta charset=shift_jis><p>日本".to_owned(),
                1
            )
        );
        let equiv =
            b"<META HTTP-EQUIV=\"Content-Type\" CONTENT=\"text/html; charset=ISO-8859-2\">\xb1";
        assert_eq!(sniff(equiv).0, encoding_rs::ISO_8859_2);
        assert!(decoded(equiv).0.ends_with('ą'));
        // A meta in a comment, or after the first 1024 bytes, does not count; an unknown
        // label is passed over.
        assert_eq!(
            sniff(b"<!-- <meta charset=koi8-r> --><p>\xe9").1,
            Sniffed::Fallback
        );
        let mut late = vec![b' '; 1024];
        late.extend_from_slice(b"<meta charset=koi8-r>");
        assert_eq!(sniff(&late), (UTF_8, Sniffed::Utf8));
        assert_eq!(
            sniff(b"<meta charset=nonsense><meta charset='koi8-r'>"),
            (encoding_rs::KOI8_R, Sniffed::Meta)
        );
        // A meta naming UTF-16 means UTF-8.
        assert_eq!(sniff(b"<meta charset=utf-16le>"), (UTF_8, Sniffed::Meta));
    }

    #[test]
    fn valid_utf8_is_left_as_it_is() {
        let text = "<p>café 日本 \u{1F600}</p>";
        assert_eq!(sniff(text.as_bytes()), (UTF_8, Sniffed::Utf8));
        assert_eq!(decoded(text.as_bytes()), (text.to_owned(), 0));
        // A UTF-8 byte-order mark is dropped.
        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend_from_slice(text.as_bytes());
        assert_eq!(decoded(&bom), (text.to_owned(), 0));
    }
}
