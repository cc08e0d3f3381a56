//! A deterministic generator of realistic HTML documents.
//!
//! The `epoch-arena-dom` program parses these documents when no input files are given, and
//! the `dom_build` bench and the tests use them as a fixed workload. Each one is shaped like a
//! real web page (a news story, a documentation page or a shop page), so an HTML5 tree
//! builder goes through most of its code paths:
//!
//! * a prologue with `<!DOCTYPE html>` on most documents, and on a few no doctype or a
//!   legacy HTML 4 / XHTML one (quirks and limited-quirks mode); a `<head>` with
//!   `<meta>`, `<title>`, `<link>`, `<style>` (CSS text) and `<script>` (JavaScript text
//!   containing `<` and `&&`); on some documents the `<html>`, `<head>` or `<body>` tags
//!   are left out, as the HTML syntax allows;
//! * a header with navigation menus made of `ul`/`ol` lists nested two to four deep, then
//!   `main`/`article`/`section` content: headings, paragraphs of words with inline
//!   markup (`a`, `em`, `strong`, `code`, `span`, `br`, `img`, ...), character
//!   references, non-ASCII text (accented Latin, CJK, emoji), tables, forms, figures,
//!   code listings, `<template>` contents, inline `<svg>` and occasionally `<math>`
//!   (foreign content), and comments;
//! * whitespace-only text between tags (indentation and newlines, as served pages have),
//!   so that by node count the documents are roughly 45% elements, 55% text (about 40%
//!   of it whitespace-only) and 2% comments; about one document in seven is minified
//!   instead;
//! * malformed markup at a rate of about one construct per kilobyte: misnested formatting
//!   (`<b><i>x</b>y</i>`, the adoption agency algorithm), stray end tags, duplicate
//!   and unterminated attributes, text and `<p>` directly inside `<table>` (foster
//!   parenting), a second `<body>` tag, `<a>` inside `<a>`, `<li>` outside a list,
//!   malformed comments, and on a few documents an end of file in the middle of a tag.
//!
//! Generation uses only `std` and its own SplitMix64 generator, and never formats floats
//! or reads the clock, the environment or a hash map's order: the same `(count,
//! approx_bytes, seed)` gives byte-identical documents on every platform and every run.
//! Document `i` depends only on `seed`, `i` and `approx_bytes`, not on `count`.

use std::fmt::Write as _;

/// One generated document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Doc {
    /// A file-like name, `generated-NNN.html`, numbered from 000.
    pub name: String,
    /// The document's source text.
    pub html: String,
}

/// `count` documents, deterministic in `seed`. Each document is roughly
/// `approx_bytes` long (±30%, varied per document so sizes are not all equal).
///
/// The ±30% holds from about 32 KiB up. Below that the fixed parts of every page (head,
/// navigation header, footer) make sizes vary more, and requests under a few kilobytes
/// come out larger than asked for.
pub fn generate(count: usize, approx_bytes: usize, seed: u64) -> Vec<Doc> {
    (0..count)
        .map(|i| {
            let mut rng = Rng(mix64(seed ^ mix64(i as u64 ^ 0xd0c5_d0c5_d0c5_d0c5)));
            // 75%..=125% of the requested size. Content stops a footer's length short of
            // the target and the footer fills the gap, so the result stays within ±30%
            // (truncated documents, which have no footer, end a little short).
            let target = (approx_bytes as u64 * (75 + rng.below(51) as u64) / 100) as usize;
            Doc {
                name: format!("generated-{i:03}.html"),
                html: Gen::new(rng, target).document(),
            }
        })
        .collect()
}

/// The embedded default corpus: 48 documents of ~64 KiB each (about 3 MB), seed 0x5eed.
pub fn default_corpus() -> Vec<Doc> {
    generate(48, 64 * 1024, 0x5eed)
}

// ---------------------------------------------------------------------------------------
// Random numbers

/// The SplitMix64 finaliser.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// SplitMix64: small, fast and identical everywhere.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix64(self.0)
    }

    /// Uniform in `0..n` (`n > 0`), by multiply-and-shift.
    fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    fn percent(&mut self, p: usize) -> bool {
        self.below(100) < p
    }

    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())]
    }
}

// ---------------------------------------------------------------------------------------
// Vocabulary

#[rustfmt::skip]
const WORDS: &[&str] = &[
    "the", "of", "and", "to", "in", "a", "is", "that", "for", "it", "as", "was", "with", "be",
    "by", "on", "not", "he", "this", "are", "or", "his", "from", "at", "which", "but", "have",
    "an", "had", "they", "you", "were", "their", "one", "all", "we", "can", "her", "has",
    "there", "been", "if", "more", "when", "will", "would", "who", "so", "no", "time", "people",
    "year", "way", "day", "thing", "world", "life", "hand", "part", "child", "eye", "place",
    "work", "week", "case", "point", "number", "group", "problem", "fact", "city", "market",
    "report", "data", "system", "value", "price", "order", "update", "release", "version",
    "server", "client", "memory", "thread", "arena", "collector", "node", "element", "parser",
    "token", "buffer", "request", "response", "cache", "index", "query", "council", "minister",
    "election", "weather", "storm", "river", "museum", "festival", "season", "match", "league",
    "player", "coach", "design", "garden", "recipe", "coffee", "travel", "train", "station",
    "bridge", "harbour", "policy", "budget", "energy", "solar", "battery", "phone", "laptop",
    "camera", "screen", "size", "colour", "cotton", "leather", "shipping", "delivery",
    "returns", "warranty", "review", "rating", "quickly", "slowly", "new", "old", "large",
    "small", "early", "late", "free", "open", "simple", "fast", "public", "local", "national",
    "final", "first", "last", "next", "other", "said", "says", "made", "found", "used",
    "called", "asked", "seemed", "became", "shows", "returns", "builds", "parses", "allocates",
    "frees", "reads", "writes",
];

#[rustfmt::skip]
const INTL: &[&str] = &[
    "café", "naïve", "über", "Müller", "Zürich", "façade", "résumé", "jalapeño", "São Paulo",
    "Kraków", "smørrebrød", "Ærø", "straße", "déjà vu", "El Niño", "日本語", "東京", "こんにちは", "中文",
    "한국어", "Ελληνικά", "русский", "العربية", "🚀", "✨", "👍", "🎉", "→", "…", "€", "½", "™", "—",
];

#[rustfmt::skip]
const CHARREFS: &[&str] = &[
    "&amp;", "&lt;", "&gt;", "&quot;", "&copy;", "&nbsp;", "&mdash;", "&ndash;", "&#8212;",
    "&#x27;", "&hellip;", "&eacute;", "&euro;", "&rarr;", "&#169;", "&#x1F600;", "&reg;",
    "&trade;", "&laquo;", "&raquo;", "&uuml;", "&#160;",
];

#[rustfmt::skip]
const SECTIONS: &[&str] = &[
    "docs", "blog", "news", "guide", "api", "products", "shop", "about", "help", "world",
    "tech", "sport", "culture", "support", "category",
];

#[rustfmt::skip]
const LANGS: &[&str] = &[
    "en", "en", "en", "en-US", "en-GB", "de", "fr", "ja", "es", "pt-BR",
];

#[rustfmt::skip]
const CLASSES: &[&str] = &[
    "active", "btn", "btn-primary", "btn-link", "card", "card-body", "text-muted", "col-md-6",
    "col-sm-12", "row", "container", "lead", "small", "price", "badge", "sr-only", "highlight",
    "note", "warning", "meta", "byline", "summary", "hidden-xs", "clearfix", "is-open",
    "js-toggle", "u-mt-2", "visually-hidden", "external", "item",
];

#[rustfmt::skip]
const ICONS: &[&str] = &[
    "fa fa-home", "fa fa-search", "fa fa-user", "fa fa-shopping-cart", "icon icon-arrow",
    "icon icon-close", "bi bi-star", "material-icons",
];

#[rustfmt::skip]
const CSS_SELECTORS: &[&str] = &[
    "body", "html", "a", "a:hover", ".nav > li", ".main-nav ul li a", "#content",
    ".card .card-body", "table.data td", "th", "pre code", ".btn-primary:focus", "h1, h2, h3",
    "input[type=\"text\"]", "a[href^=\"http\"]::after", ".product-grid > li", "footer p",
    ".sidebar ol ol", "img", "blockquote", ".badge + .badge",
];

#[rustfmt::skip]
const CSS_DECLS: &[&str] = &[
    "margin: 0", "padding: 0 1rem", "color: #333", "color: #0366d6", "font-size: 14px",
    "font-family: system-ui, -apple-system, \"Segoe UI\", sans-serif", "display: flex",
    "display: none", "line-height: 1.5", "border: 1px solid #ddd", "border-radius: 4px",
    "background: #f6f8fa", "max-width: 100%", "content: \"\\2197\"", "gap: 8px",
    "text-decoration: none", "grid-template-columns: repeat(3, 1fr)", "z-index: 10",
    "box-shadow: 0 1px 2px rgba(0, 0, 0, .1)", "transition: opacity .2s ease-in",
];

const JS_LINES: &[&str] = &[
    "var nav = document.querySelector('.main-nav');",
    "if (nav && window.innerWidth < 768) { nav.classList.add('collapsed'); }",
    "for (var i = 0; i < items.length && i < 10; i++) { items[i].dataset.index = i; }",
    "window.dataLayer = window.dataLayer || [];",
    "function gtag(){dataLayer.push(arguments);}",
    "gtag('js', new Date()); gtag('config', 'UA-000000-1');",
    "document.addEventListener('DOMContentLoaded', function () { init(); });",
    "var html = '<div class=\"toast\">' + msg + '</div>';",
    "if (a <b && b> c) { swap(a, b); }",
    "const total = cart.reduce((sum, x) => sum + x.price * x.qty, 0);",
    "el.innerHTML = '<span>' + escape(name) + '</span>';",
    "while (n-- > 0 && queue.length) { queue.shift()(); }",
    "let ok = x !== null && x.length <= 255;",
    "fetch('/api/items?page=' + page + '&limit=20').then(r => r.json());",
];

#[rustfmt::skip]
const CODE_KW: &[&str] = &[
    "fn", "let", "mut", "if", "else", "for", "while", "return", "match", "impl", "pub",
    "struct", "const", "use",
];

// ---------------------------------------------------------------------------------------
// The generator

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    News,
    Docs,
    Shop,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Quotes {
    /// Every attribute value in double quotes.
    Double,
    /// Mostly double quotes, some single-quoted and some unquoted values.
    Mixed,
}

/// Block-level constructs, picked with per-page-kind weights.
#[derive(Clone, Copy)]
enum Block {
    Para,
    Heading,
    List,
    Table,
    Form,
    Figure,
    Code,
    Quote,
    Dl,
    Details,
    Template,
    Svg,
    Math,
    Comment,
    Share,
    Card,
    Section,
    Products,
    Hr,
}

const NEWS_BLOCKS: &[(Block, usize)] = &[
    (Block::Para, 34),
    (Block::Heading, 6),
    (Block::List, 8),
    (Block::Table, 5),
    (Block::Form, 2),
    (Block::Figure, 6),
    (Block::Code, 1),
    (Block::Quote, 5),
    (Block::Dl, 1),
    (Block::Details, 2),
    (Block::Template, 1),
    (Block::Svg, 2),
    (Block::Math, 1),
    (Block::Comment, 7),
    (Block::Share, 3),
    (Block::Card, 6),
    (Block::Section, 8),
    (Block::Hr, 1),
];

const DOCS_BLOCKS: &[(Block, usize)] = &[
    (Block::Para, 28),
    (Block::Heading, 6),
    (Block::List, 10),
    (Block::Table, 7),
    (Block::Form, 1),
    (Block::Figure, 2),
    (Block::Code, 9),
    (Block::Quote, 2),
    (Block::Dl, 4),
    (Block::Details, 3),
    (Block::Template, 2),
    (Block::Svg, 2),
    (Block::Math, 2),
    (Block::Comment, 7),
    (Block::Card, 4),
    (Block::Section, 8),
    (Block::Hr, 1),
];

const SHOP_BLOCKS: &[(Block, usize)] = &[
    (Block::Para, 18),
    (Block::Heading, 4),
    (Block::List, 8),
    (Block::Table, 8),
    (Block::Form, 6),
    (Block::Figure, 4),
    (Block::Quote, 2),
    (Block::Dl, 3),
    (Block::Details, 4),
    (Block::Template, 2),
    (Block::Svg, 3),
    (Block::Comment, 7),
    (Block::Share, 2),
    (Block::Card, 8),
    (Block::Section, 6),
    (Block::Products, 14),
    (Block::Hr, 1),
];

/// Bytes kept back for the footer and closing tags.
const FOOTER_RESERVE: usize = 1400;
/// Containers nest no deeper than this.
const MAX_BLOCK_DEPTH: usize = 7;

struct Gen {
    rng: Rng,
    out: String,
    target: usize,
    kind: Kind,
    /// One level of indentation; empty means a minified document (no newlines at all).
    indent: &'static str,
    quotes: Quotes,
    /// HTML 4 era page: uppercase tags here and there, `<font>`, `<center>`.
    legacy: bool,
    /// XHTML doctype: void elements written `<br />`.
    xhtml: bool,
    /// Ends in the middle of a tag instead of with a footer.
    truncated: bool,
    /// Output length at which the next piece of malformed markup is due.
    next_glitch: usize,
    /// Number of `<div>` elements currently open (a stray `</div>` needs none open).
    divs_open: usize,
    second_body_done: bool,
    next_id: u32,
    /// Blocks wrapped in `<!-- wp:paragraph -->` ... `<!-- /wp:paragraph -->` comments.
    wp_comments: bool,
}

impl Gen {
    fn new(mut rng: Rng, target: usize) -> Gen {
        let kind = match rng.below(3) {
            0 => Kind::News,
            1 => Kind::Docs,
            _ => Kind::Shop,
        };
        let indent = match rng.below(100) {
            0..=65 => "  ",
            66..=75 => "    ",
            76..=85 => "\t",
            _ => "",
        };
        let quotes = if rng.percent(25) {
            Quotes::Mixed
        } else {
            Quotes::Double
        };
        let truncated = rng.one_in(10);
        let wp_comments = rng.percent(40);
        let first_glitch = rng.range(300, 1500);
        Gen {
            rng,
            out: String::with_capacity(target + 4096),
            target,
            kind,
            indent,
            quotes,
            legacy: false,
            xhtml: false,
            truncated,
            next_glitch: first_glitch,
            divs_open: 0,
            second_body_done: false,
            next_id: 1,
            wp_comments,
        }
    }

    // --- low-level output -------------------------------------------------------------

    fn push(&mut self, s: &str) {
        self.out.push_str(s);
    }

    /// A newline and `depth` levels of indentation (nothing in minified documents).
    fn nl(&mut self, depth: usize) {
        if self.indent.is_empty() {
            return;
        }
        let unit = self.indent;
        self.out.push('\n');
        for _ in 0..depth.min(16) {
            self.out.push_str(unit);
        }
    }

    fn room(&self) -> bool {
        self.out.len() + FOOTER_RESERVE < self.target
    }

    fn glitch_due(&self) -> bool {
        self.out.len() >= self.next_glitch
    }

    fn glitch_done(&mut self) {
        self.next_glitch = self.out.len() + self.rng.range(500, 1700);
    }

    fn fresh_id(&mut self) -> u32 {
        self.next_id += 1;
        self.next_id
    }

    /// ` name="value"`, or single-quoted or unquoted in "mixed quotes" documents.
    fn attr(&mut self, name: &str, value: &str) {
        self.out.push(' ');
        self.out.push_str(name);
        self.out.push('=');
        let style = match self.quotes {
            Quotes::Double => 2,
            Quotes::Mixed => self.rng.below(6),
        };
        let unquotable = !value.is_empty()
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_./:#%".contains(&b));
        if style == 0 && unquotable {
            self.out.push_str(value);
        } else if style == 1 && !value.contains('\'') {
            self.out.push('\'');
            self.out.push_str(value);
            self.out.push('\'');
        } else {
            self.out.push('"');
            self.out.push_str(value);
            self.out.push('"');
        }
    }

    /// ` class="..."` with one or two class names.
    fn class(&mut self, base: &str) {
        let mut v = String::with_capacity(32);
        v.push_str(base);
        if base.is_empty() || self.rng.percent(40) {
            if !v.is_empty() {
                v.push(' ');
            }
            v.push_str(self.rng.pick(CLASSES));
        }
        self.attr("class", &v);
    }

    /// `>` for void elements, or ` />` in XHTML-styled documents.
    fn void_end(&mut self) {
        self.push(if self.xhtml { " />" } else { ">" });
    }

    /// A tag name, uppercased now and then on legacy pages.
    fn tag(&mut self, name: &str) {
        if self.legacy && self.rng.percent(30) {
            for c in name.chars() {
                self.out.push(c.to_ascii_uppercase());
            }
        } else {
            self.out.push_str(name);
        }
    }

    // --- words ------------------------------------------------------------------------

    fn ascii_word(&mut self) -> &'static str {
        self.rng.pick(WORDS)
    }

    fn slug(&mut self) -> String {
        let a = self.ascii_word();
        let b = self.ascii_word();
        let n = self.rng.below(1000);
        format!("{a}-{b}-{n}")
    }

    fn push_capitalised(&mut self, w: &str) {
        let mut chars = w.chars();
        if let Some(c) = chars.next() {
            self.out.push(c.to_ascii_uppercase());
            self.out.push_str(chars.as_str());
        }
    }

    /// `n` words of running text with some punctuation, character references and
    /// non-ASCII words.
    fn words(&mut self, n: usize, capitalise: bool) {
        for i in 0..n {
            if i > 0 {
                self.out.push(' ');
            }
            let r = self.rng.below(1000);
            if r < 22 {
                let c = self.rng.pick(CHARREFS);
                self.push(c);
            } else if r < 26 {
                // A bare ampersand, as in "Q&A" or "Terms & Conditions".
                self.push("&");
            } else if r < 60 {
                let w = self.rng.pick(INTL);
                self.push(w);
            } else if r < 75 {
                let n = self.rng.below(10_000);
                let _ = write!(self.out, "{n}");
            } else {
                let w = self.ascii_word();
                if capitalise && i == 0 {
                    self.push_capitalised(w);
                } else {
                    self.push(w);
                }
            }
            if i + 1 < n {
                match self.rng.below(40) {
                    0 | 1 => self.out.push(','),
                    2 => self.out.push('.'),
                    _ => {}
                }
            }
        }
    }

    /// Between `lo` and `hi` words of running text.
    fn words_in(&mut self, lo: usize, hi: usize, capitalise: bool) {
        let n = self.rng.range(lo, hi);
        self.words(n, capitalise);
    }

    fn url(&mut self) -> String {
        let section = self.rng.pick(SECTIONS);
        match self.rng.below(12) {
            0..=5 => {
                let s = self.slug();
                format!("/{section}/{s}")
            }
            6 => {
                let w = self.ascii_word();
                let p = self.rng.range(2, 40);
                format!("/{section}/?q={w}&amp;page={p}")
            }
            7 => {
                // A raw `&` in a query string, as very many real pages have.
                let w = self.ascii_word();
                format!("/search?q={w}&sort=date&lang=en")
            }
            8 => {
                let s = self.slug();
                let tld = self.rng.pick(&["com", "org", "net", "co.uk", "de"]);
                format!("https://www.example.{tld}/{section}/{s}")
            }
            9 => {
                let w = self.ascii_word();
                let n = self.rng.below(100);
                format!("#{w}-{n}")
            }
            10 => format!("/{section}/"),
            _ => {
                let s = self.slug();
                format!("/{section}/{s}.html")
            }
        }
    }

    // --- document skeleton ------------------------------------------------------------

    fn document(mut self) -> String {
        match self.rng.below(100) {
            0..=79 => self.push("<!DOCTYPE html>"),
            80..=85 => self.push("<!doctype html>"),
            86..=89 => {} // no doctype: quirks mode
            90..=95 => {
                self.legacy = true;
                self.push("<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01 Transitional//EN\">");
            }
            _ => {
                self.xhtml = true;
                self.push(
                    "<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Transitional//EN\" \
                     \"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd\">",
                );
            }
        }
        let omit_html = self.rng.one_in(20);
        let omit_head = self.rng.one_in(10);
        let omit_body = self.rng.one_in(10);
        if !omit_html {
            if !self.out.is_empty() {
                self.nl(0);
            }
            self.push("<html");
            let lang = self.rng.pick(LANGS);
            self.attr("lang", lang);
            if self.xhtml {
                self.attr("xmlns", "http://www.w3.org/1999/xhtml");
            }
            self.push(">");
        }
        self.head(omit_head);
        self.body(omit_body);
        self.out
    }

    fn head(&mut self, omit: bool) {
        if !omit {
            self.nl(0);
            self.push("<head>");
        }
        self.nl(1);
        if self.legacy {
            self.push("<META http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\">");
        } else {
            self.push("<meta charset=\"utf-8\"");
            self.void_end();
        }
        self.nl(1);
        self.push("<meta");
        self.attr("name", "viewport");
        self.attr("content", "width=device-width, initial-scale=1");
        self.void_end();
        self.nl(1);
        self.push("<title>");
        self.words_in(2, 6, true);
        if self.rng.one_in(3) {
            self.push(" &amp; More");
        }
        self.push(" &#8212; Example</title>");
        self.nl(1);
        self.push("<meta name=\"description\" content=\"");
        self.words_in(8, 20, true);
        self.push("\"");
        self.void_end();
        if self.rng.percent(50) {
            self.nl(1);
            self.push("<meta property=\"og:type\" content=\"article\"");
            self.void_end();
        }
        for i in 0..self.rng.range(1, 3) {
            self.nl(1);
            self.push("<link");
            self.attr("rel", "stylesheet");
            let _ = write!(
                self.out,
                " href=\"/static/css/main.{i}{:x}.css\"",
                self.rng.next_u64() >> 40
            );
            self.void_end();
        }
        self.nl(1);
        self.push("<link rel=\"icon\" href=\"/favicon.ico\"");
        self.void_end();
        if self.rng.percent(30) {
            self.nl(1);
            self.push("<!--[if lt IE 9]><script src=\"/js/html5shiv.js\"></script><![endif]-->");
        }
        if self.rng.one_in(8) {
            self.nl(1);
            let c = self
                .rng
                .pick(&["<!-->", "<!--->", "<!--- old head --!>", "<!-- a -- b -->"]);
            self.push(c);
        }
        if self.rng.percent(85) {
            self.nl(1);
            self.push("<style>");
            let n = self.rng.range(4, 14);
            self.css(2, n);
            self.nl(1);
            self.push("</style>");
        }
        if self.rng.percent(75) {
            self.nl(1);
            self.push("<script>");
            let legacy_wrap = self.rng.one_in(12);
            if legacy_wrap {
                self.nl(2);
                self.push("<!--");
            }
            let n = self.rng.range(2, 8);
            self.js(2, n);
            if legacy_wrap {
                self.nl(2);
                self.push("//-->");
            }
            self.nl(1);
            self.push("</script>");
        }
        self.nl(1);
        self.push("<script src=\"/static/js/app.js\" defer></script>");
        if self.rng.one_in(10) {
            self.nl(1);
            self.push(
                "<noscript><link rel=\"stylesheet\" href=\"/static/css/noscript.css\"></noscript>",
            );
        }
        if !omit {
            self.nl(0);
            self.push("</head>");
        }
    }

    fn css(&mut self, depth: usize, rules: usize) {
        for _ in 0..rules {
            self.nl(depth);
            let sel = self.rng.pick(CSS_SELECTORS);
            if self.rng.one_in(8) {
                self.push("@media (max-width: 600px) { ");
                self.push(sel);
                self.push(" { display: none; } }");
                continue;
            }
            self.push(sel);
            self.push(" {");
            for _ in 0..self.rng.range(1, 4) {
                self.nl(depth + 1);
                let d = self.rng.pick(CSS_DECLS);
                self.push(d);
                self.push(";");
            }
            self.nl(depth);
            self.push("}");
        }
    }

    fn js(&mut self, depth: usize, lines: usize) {
        for _ in 0..lines {
            self.nl(depth);
            let l = self.rng.pick(JS_LINES);
            self.push(l);
        }
    }

    fn body(&mut self, omit: bool) {
        if !omit {
            self.nl(0);
            self.push("<body");
            let page = match self.kind {
                Kind::News => "page-article",
                Kind::Docs => "page-docs",
                Kind::Shop => "page-shop",
            };
            self.class(page);
            self.push(">");
        }
        if self.rng.percent(30) {
            self.nl(1);
            self.push("<!-- Google Tag Manager (noscript) -->");
            self.nl(1);
            self.push(
                "<noscript><iframe src=\"https://www.googletagmanager.com/ns.html?id=GTM-XXXX\" \
                 height=\"0\" width=\"0\" style=\"display:none;visibility:hidden\"></iframe></noscript>",
            );
        }
        if self.rng.percent(10) {
            self.nl(1);
            self.push("<a class=\"skip-link\" href=\"#content\">Skip to content</a>");
        }
        self.region_comment(1, "Header");
        self.header(1);
        self.region_comment(1, "Main content");
        match self.kind {
            Kind::News => self.news_main(1),
            Kind::Docs => self.docs_main(1),
            Kind::Shop => self.shop_main(1),
        }
        if self.truncated {
            self.truncated_ending(1);
            return;
        }
        self.region_comment(1, "Footer");
        self.footer(1);
        if self.rng.percent(60) {
            self.nl(1);
            self.push("<script>");
            let n = self.rng.range(1, 4);
            self.js(2, n);
            self.nl(1);
            self.push("</script>");
        }
        if self.rng.percent(88) {
            self.nl(0);
            self.push("</body>");
        }
        if self.rng.percent(90) {
            self.nl(0);
            self.push("</html>");
        }
        if self.rng.one_in(10) {
            self.nl(0);
            self.push("<!-- page generated in 12ms -->");
        }
        if !self.indent.is_empty() {
            self.out.push('\n');
        }
    }

    /// Ends the document in the middle of a tag (or comment): EOF states in the tokenizer.
    fn truncated_ending(&mut self, depth: usize) {
        self.nl(depth + 1);
        self.push("<p>");
        self.words_in(3, 10, true);
        self.push(" ");
        match self.rng.below(6) {
            0 => {
                self.push("<a href=\"/");
                let w = self.ascii_word();
                self.push(w);
            }
            1 => {
                self.push("<div class=");
                let w = self.ascii_word();
                self.push(w);
            }
            2 => self.push("<img src=\"/static/img/last.png\" "),
            3 => {
                self.push("<!-- unterminated comment ");
                self.words(4, false);
            }
            4 => self.push("</sect"),
            _ => self.push("<spa"),
        }
    }

    fn header(&mut self, depth: usize) {
        self.nl(depth);
        if self.legacy && self.rng.percent(50) {
            self.push("<CENTER><FONT face=\"Verdana\" size=\"2\">");
            self.words(3, true);
            self.push("</FONT></CENTER>");
            self.nl(depth);
        }
        self.push("<header");
        self.class("site-header");
        self.attr("role", "banner");
        self.push(">");
        self.divs_open += 1;
        self.nl(depth + 1);
        self.push("<div class=\"logo\"><a href=\"/\" aria-label=\"Home\">");
        if self.rng.percent(50) {
            self.svg_icon(depth + 2);
        } else {
            self.push(
                "<img src=\"/static/img/logo.svg\" alt=\"Example\" width=\"120\" height=\"32\"",
            );
            self.void_end();
        }
        self.push("</a></div>");
        self.divs_open -= 1;
        self.nl(depth + 1);
        self.push("<nav");
        self.class("main-nav");
        self.attr("aria-label", "Main");
        self.push(">");
        let levels = if self.target < 16 * 1024 {
            2
        } else {
            self.rng.range(2, 4)
        };
        self.menu(depth + 2, 1, levels);
        self.nl(depth + 1);
        self.push("</nav>");
        if self.rng.percent(50) {
            self.nl(depth + 1);
            self.push("<form class=\"search\" role=\"search\" action=\"/search\">");
            self.nl(depth + 2);
            self.push("<label for=\"q\" class=\"sr-only\">Search</label>");
            self.nl(depth + 2);
            self.push("<input type=\"search\" id=\"q\" name=\"q\" placeholder=\"Search…\"");
            self.void_end();
            self.push("<button type=\"submit\"><i class=\"fa fa-search\"></i></button>");
            self.nl(depth + 1);
            self.push("</form>");
        }
        self.nl(depth);
        self.push("</header>");
    }

    /// A navigation menu: `ul`/`ol` lists nested down to `max_level`, links in every item,
    /// some `</li>` left out.
    fn menu(&mut self, depth: usize, level: usize, max_level: usize) {
        let ordered = level > 1 && self.rng.one_in(4);
        let tag = if ordered { "ol" } else { "ul" };
        self.nl(depth);
        self.push("<");
        self.push(tag);
        let c = if level == 1 { "menu" } else { "sub-menu" };
        self.class(c);
        self.push(">");
        let items = self.rng.range(3, if level == 1 { 7 } else { 5 });
        let omit_close = self.rng.one_in(5);
        for i in 0..items {
            self.nl(depth + 1);
            self.push("<li");
            if self.rng.percent(40) {
                self.class("menu-item");
            }
            self.push("><a");
            let u = self.url();
            self.attr("href", &u);
            if self.rng.percent(50) {
                self.class("nav-link");
            }
            if i == 0 && level == 1 && self.rng.percent(50) {
                self.attr("aria-current", "page");
            }
            self.push(">");
            if self.rng.one_in(6) {
                let icon = self.rng.pick(ICONS);
                let _ = write!(self.out, "<i class=\"{icon}\" aria-hidden=\"true\"></i> ");
            }
            self.words_in(1, 3, true);
            self.push("</a>");
            // Item 1 always nests while there are levels left, so every menu reaches
            // `max_level`; other items sometimes do.
            if level < max_level && (i == 1 || self.rng.percent(20)) {
                self.menu(depth + 2, level + 1, max_level);
                self.nl(depth + 1);
            }
            if !omit_close {
                self.push("</li>");
            }
        }
        self.nl(depth);
        self.push("</");
        self.push(tag);
        self.push(">");
    }

    fn news_main(&mut self, depth: usize) {
        self.nl(depth);
        self.push("<main id=\"content\" class=\"container\">");
        self.nl(depth + 1);
        self.push("<article class=\"story\">");
        self.nl(depth + 2);
        self.push("<h1 class=\"headline\">");
        self.words_in(5, 12, true);
        self.push("</h1>");
        self.nl(depth + 2);
        self.push("<p class=\"byline\">By <a href=\"/authors/");
        let w = self.ascii_word();
        self.push(w);
        self.push("\" rel=\"author\">");
        self.words(2, true);
        let (m, d) = (self.rng.range(1, 12), self.rng.range(1, 28));
        let _ = write!(
            self.out,
            "</a> &middot; <time datetime=\"2024-{m:02}-{d:02}T08:{:02}:00Z\">{d}/{m}/2024</time></p>",
            self.rng.below(60)
        );
        self.figure(depth + 2);
        self.fill(depth + 2);
        self.nl(depth + 1);
        self.push("</article>");
        self.nl(depth);
        self.push("</main>");
    }

    fn docs_main(&mut self, depth: usize) {
        self.nl(depth);
        self.push("<div class=\"layout\">");
        self.divs_open += 1;
        self.nl(depth + 1);
        self.push("<nav class=\"sidebar\" aria-label=\"Table of contents\">");
        self.toc(depth + 2, 1);
        self.nl(depth + 1);
        self.push("</nav>");
        self.nl(depth + 1);
        self.push("<main id=\"content\">");
        self.nl(depth + 2);
        self.push("<h1>");
        self.words_in(2, 6, true);
        self.push("</h1>");
        self.para(depth + 2);
        self.fill(depth + 2);
        self.nl(depth + 1);
        self.push("</main>");
        self.nl(depth);
        self.push("</div>");
        self.divs_open -= 1;
    }

    /// A table of contents: nested `ol` lists.
    fn toc(&mut self, depth: usize, level: usize) {
        self.nl(depth);
        self.push(if level == 1 {
            "<ol class=\"toc\">"
        } else {
            "<ol>"
        });
        for _ in 0..self.rng.range(2, 6) {
            self.nl(depth + 1);
            self.push("<li><a href=\"#");
            let w = self.ascii_word();
            self.push(w);
            self.push("\">");
            self.words_in(1, 4, true);
            self.push("</a>");
            if level < 3 && self.rng.percent(35) {
                self.toc(depth + 2, level + 1);
                self.nl(depth + 1);
            }
            self.push("</li>");
        }
        self.nl(depth);
        self.push("</ol>");
    }

    fn shop_main(&mut self, depth: usize) {
        self.nl(depth);
        self.push("<main id=\"content\">");
        self.nl(depth + 1);
        self.push("<ol class=\"breadcrumb\">");
        for _ in 0..self.rng.range(2, 4) {
            self.nl(depth + 2);
            self.push("<li><a");
            let u = self.url();
            self.attr("href", &u);
            self.push(">");
            self.words(1, true);
            self.push("</a>");
        }
        self.nl(depth + 1);
        self.push("</ol>");
        self.nl(depth + 1);
        self.push("<h1>");
        self.words_in(2, 5, true);
        self.push("</h1>");
        self.products(depth + 1);
        self.fill(depth + 1);
        self.nl(depth);
        self.push("</main>");
    }

    /// Top-level content blocks until the document is nearly full.
    fn fill(&mut self, depth: usize) {
        while self.room() {
            if self.rng.percent(45) {
                self.section(depth);
            } else {
                self.block(depth);
            }
        }
    }

    fn footer(&mut self, depth: usize) {
        self.nl(depth);
        self.push("<footer class=\"site-footer\">");
        self.nl(depth + 1);
        self.push("<ul class=\"footer-links\">");
        for _ in 0..self.rng.range(3, 7) {
            self.nl(depth + 2);
            self.push("<li><a");
            let u = self.url();
            self.attr("href", &u);
            self.push(">");
            self.words_in(1, 3, true);
            self.push("</a></li>");
        }
        self.nl(depth + 1);
        self.push("</ul>");
        self.nl(depth + 1);
        self.push(
            "<p class=\"copyright\">&copy; 2024 Example Media &amp; Co. All rights reserved.</p>",
        );
        self.nl(depth);
        self.push("</footer>");
    }

    // --- blocks -------------------------------------------------------------------------

    fn block(&mut self, depth: usize) {
        if self.glitch_due() {
            // `table` puts its malformation inside the table (foster parenting).
            if self.rng.percent(15) {
                self.table(depth);
            } else {
                self.block_glitch(depth);
            }
            return;
        }
        let table = match self.kind {
            Kind::News => NEWS_BLOCKS,
            Kind::Docs => DOCS_BLOCKS,
            Kind::Shop => SHOP_BLOCKS,
        };
        let total: usize = table.iter().map(|&(_, w)| w).sum();
        let mut r = self.rng.below(total);
        let mut pick = Block::Para;
        for &(b, w) in table {
            if r < w {
                pick = b;
                break;
            }
            r -= w;
        }
        // WordPress-style block delimiters, on some documents.
        let wp = if self.wp_comments {
            match pick {
                Block::Para => Some("paragraph"),
                Block::Heading => Some("heading"),
                Block::List => Some("list"),
                Block::Table => Some("table"),
                Block::Figure => Some("image"),
                Block::Quote => Some("quote"),
                Block::Code => Some("code"),
                _ => None,
            }
        } else {
            None
        };
        if let Some(name) = wp {
            self.nl(depth);
            let _ = write!(self.out, "<!-- wp:{name} -->");
        }
        self.block_of(pick, depth);
        if let Some(name) = wp {
            self.nl(depth);
            let _ = write!(self.out, "<!-- /wp:{name} -->");
        }
    }

    fn block_of(&mut self, pick: Block, depth: usize) {
        match pick {
            Block::Para => self.para(depth),
            Block::Heading => {
                let level = self.rng.range(2, 3);
                self.heading(depth, level);
                self.para(depth);
            }
            Block::List => self.list(depth, 1),
            Block::Table => self.table(depth),
            Block::Form => self.form(depth),
            Block::Figure => self.figure(depth),
            Block::Code => self.code(depth),
            Block::Quote => self.quote(depth),
            Block::Dl => self.dl(depth),
            Block::Details => self.details(depth),
            Block::Template => self.template(depth),
            Block::Svg => self.svg_chart(depth),
            Block::Math => self.math_para(depth),
            Block::Comment => self.comment(depth),
            Block::Share => self.share(depth),
            Block::Card if depth < MAX_BLOCK_DEPTH => {
                if self.rng.percent(40) {
                    self.grid(depth)
                } else {
                    self.card(depth)
                }
            }
            Block::Section if depth < MAX_BLOCK_DEPTH => self.section(depth),
            Block::Card | Block::Section => self.para(depth),
            Block::Products => self.products(depth),
            Block::Hr => {
                self.nl(depth);
                self.push("<hr");
                self.void_end();
            }
        }
    }

    fn section(&mut self, depth: usize) {
        self.nl(depth);
        let tag = if self.rng.percent(80) {
            "section"
        } else {
            "aside"
        };
        self.push("<");
        self.push(tag);
        let id = self.fresh_id();
        let _ = write!(self.out, " id=\"section-{id}\"");
        if self.rng.percent(30) {
            self.class("");
        }
        self.push(">");
        self.heading(depth + 1, if depth < 4 { 2 } else { 3 });
        for _ in 0..self.rng.range(2, 7) {
            if !self.room() {
                break;
            }
            self.block(depth + 1);
        }
        self.nl(depth);
        self.push("</");
        self.push(tag);
        self.push(">");
        if self.rng.percent(50) {
            let _ = write!(self.out, "<!-- /#section-{id} -->");
        }
    }

    fn card(&mut self, depth: usize) {
        self.nl(depth);
        self.push("<div");
        self.class("card");
        self.push(">");
        self.nl(depth + 1);
        self.push("<div class=\"card-body\">");
        self.divs_open += 2;
        self.nl(depth + 2);
        self.push("<h3 class=\"card-title\">");
        self.words_in(2, 6, true);
        self.push("</h3>");
        for _ in 0..self.rng.range(1, 3) {
            if !self.room() {
                break;
            }
            self.block(depth + 2);
        }
        if self.rng.percent(40) {
            self.nl(depth + 2);
            self.push("<a");
            let u = self.url();
            self.attr("href", &u);
            self.push(" class=\"btn btn-primary\" role=\"button\">Read more <span aria-hidden=\"true\">&rarr;</span></a>");
        }
        self.nl(depth + 1);
        self.push("</div>");
        self.nl(depth);
        self.push("</div>");
        self.divs_open -= 2;
        if self.rng.percent(40) {
            self.push("<!-- /.card -->");
        }
    }

    /// Grid markup: `<div class="row">` holding two or three columns of cards.
    fn grid(&mut self, depth: usize) {
        self.nl(depth);
        self.push("<div class=\"row\">");
        self.divs_open += 1;
        for _ in 0..self.rng.range(2, 3) {
            if !self.room() {
                break;
            }
            self.nl(depth + 1);
            self.push("<div");
            self.class("col-md-6");
            self.push(">");
            self.divs_open += 1;
            self.card(depth + 2);
            self.nl(depth + 1);
            self.push("</div>");
            self.divs_open -= 1;
        }
        self.nl(depth);
        self.push("</div>");
        self.divs_open -= 1;
        if self.rng.percent(30) {
            self.push("<!-- /.row -->");
        }
    }

    fn heading(&mut self, depth: usize, level: usize) {
        self.nl(depth);
        let id = self.fresh_id();
        let _ = write!(self.out, "<h{level} id=\"h-{id}\">");
        self.words_in(2, 8, true);
        if self.kind == Kind::Docs && self.rng.percent(50) {
            let _ = write!(
                self.out,
                " <a class=\"anchor\" href=\"#h-{id}\" aria-label=\"Link to this section\">#</a>"
            );
        }
        let _ = write!(self.out, "</h{level}>");
    }

    fn para(&mut self, depth: usize) {
        self.nl(depth);
        self.push("<");
        self.tag("p");
        if self.rng.one_in(6) {
            self.class("");
        }
        self.push(">");
        self.inline(6, 40, true);
        // `</p>` is optional before the next block.
        if !self.rng.one_in(10) {
            self.push("</");
            self.tag("p");
            self.push(">");
        }
    }

    /// Running text with inline markup: `min..=max` words in all.
    fn inline(&mut self, min: usize, max: usize, allow_glitch: bool) {
        let total = self.rng.range(min, max);
        let mut done = 0;
        let mut capitalise = true;
        while done < total {
            let run = self.rng.range(1, 6).min(total - done);
            self.words(run, capitalise);
            capitalise = false;
            done += run;
            if done >= total {
                break;
            }
            self.out.push(' ');
            if allow_glitch && self.glitch_due() {
                self.inline_glitch();
                self.out.push(' ');
                continue;
            }
            done += self.inline_element();
            if done >= total {
                break;
            }
            match self.rng.below(8) {
                0 => {
                    self.push(". ");
                    capitalise = true;
                }
                1 => self.push(", "),
                _ => self.out.push(' '),
            }
        }
        self.out.push('.');
    }

    /// One inline element; returns roughly how many words it held.
    fn inline_element(&mut self) -> usize {
        let r = self.rng.below(100);
        match r {
            0..=27 => {
                self.push("<a");
                let u = self.url();
                self.attr("href", &u);
                if self.rng.percent(30) {
                    self.class("");
                }
                if self.rng.percent(10) {
                    self.attr("title", "Opens in a new window");
                    self.attr("rel", "noopener");
                }
                self.push(">");
                let n = self.rng.range(1, 4);
                if self.rng.percent(12) {
                    self.push("<code>");
                    self.words(n, false);
                    self.push("</code>");
                } else {
                    self.words(n, false);
                }
                self.push("</a>");
                n
            }
            28..=37 => self.simple_inline("em", 1, 3),
            38..=45 => self.simple_inline("strong", 1, 3),
            46..=53 => {
                self.push("<code>");
                let w = self.ascii_word();
                self.push(w);
                if self.rng.percent(30) {
                    self.push("::");
                    let w = self.ascii_word();
                    self.push(w);
                    self.push("()");
                }
                if self.rng.percent(15) {
                    self.push(" &lt;T&gt;");
                }
                self.push("</code>");
                1
            }
            54..=61 => {
                self.push("<span");
                self.class("");
                self.push(">");
                let n = self.rng.range(1, 4);
                self.words(n, false);
                self.push("</span>");
                n
            }
            62..=65 => {
                self.push("<");
                self.tag("br");
                self.void_end();
                0
            }
            66..=67 => {
                self.img();
                0
            }
            68..=70 => {
                self.push("<abbr title=\"");
                self.words(3, true);
                self.push("\">");
                let w = self.ascii_word();
                for c in w.chars() {
                    self.out.push(c.to_ascii_uppercase());
                }
                self.push("</abbr>");
                1
            }
            71..=72 => {
                let (lang, w) = self.rng.pick(&[
                    ("ja", "日本語のテキスト"),
                    ("de", "Grüße aus Köln"),
                    ("fr", "très élégant"),
                    ("zh", "中文文本"),
                    ("el", "Καλημέρα"),
                ]);
                self.push("<span");
                self.attr("lang", lang);
                self.push(">");
                self.push(w);
                self.push("</span>");
                1
            }
            73..=75 => {
                let icon = self.rng.pick(ICONS);
                let _ = write!(self.out, "<i class=\"{icon}\" aria-hidden=\"true\"></i>");
                0
            }
            76..=77 => {
                let (y, m) = (self.rng.range(2015, 2024), self.rng.range(1, 12));
                let _ = write!(self.out, "<time datetime=\"{y}-{m:02}\">{m}/{y}</time>");
                1
            }
            78..=79 => {
                self.push("<a");
                let u = self.url();
                self.attr("href", &u);
                self.push("><strong>");
                let n = self.rng.range(1, 3);
                self.words(n, false);
                self.push("</strong></a>");
                n
            }
            80..=81 => {
                if self.legacy {
                    self.push("<FONT color=\"#cc0000\">");
                    self.words(2, false);
                    self.push("</FONT>");
                    2
                } else {
                    self.simple_inline("mark", 1, 2)
                }
            }
            82 => self.simple_inline("sup", 1, 1),
            83 => self.simple_inline("sub", 1, 1),
            84 => self.simple_inline("kbd", 1, 1),
            85 => self.simple_inline("small", 2, 4),
            86 => self.simple_inline("q", 2, 5),
            87 => self.simple_inline("cite", 1, 3),
            88 => self.simple_inline("s", 1, 2),
            89 => self.simple_inline("b", 1, 2),
            90 => self.simple_inline("i", 1, 2),
            91 => self.simple_inline("u", 1, 2),
            92 => {
                self.svg_icon(0);
                0
            }
            93 => {
                self.push("<button type=\"button\" class=\"btn-link\">");
                self.words(2, true);
                self.push("</button>");
                2
            }
            _ => {
                self.push("<span class=\"badge\"><span class=\"sr-only\">");
                self.words(1, false);
                self.push("</span>");
                let n = self.rng.below(100);
                let _ = write!(self.out, "{n}</span>");
                1
            }
        }
    }

    fn simple_inline(&mut self, tag: &str, min: usize, max: usize) -> usize {
        self.push("<");
        self.tag(tag);
        self.push(">");
        let n = self.rng.range(min, max);
        self.words(n, false);
        self.push("</");
        self.tag(tag);
        self.push(">");
        n
    }

    fn img(&mut self) {
        self.push("<");
        self.tag("img");
        let s = self.slug();
        let ext = self.rng.pick(&["jpg", "png", "webp", "gif"]);
        self.attr("src", &format!("/static/img/{s}.{ext}"));
        self.push(" alt=\"");
        self.words_in(0, 5, true);
        self.push("\"");
        let (w, h) = self
            .rng
            .pick(&[(640, 360), (1200, 800), (32, 32), (300, 200), (800, 600)]);
        let _ = write!(self.out, " width=\"{w}\" height=\"{h}\"");
        if self.rng.percent(50) {
            self.attr("loading", "lazy");
        }
        self.void_end();
    }

    /// A content list (not navigation): `ul` or `ol`, sometimes nested, some `</li>` left out.
    fn list(&mut self, depth: usize, level: usize) {
        let tag = if self.rng.percent(35) { "ol" } else { "ul" };
        self.nl(depth);
        self.push("<");
        self.tag(tag);
        if self.rng.percent(30) {
            self.class("");
        }
        self.push(">");
        let omit_close = self.rng.one_in(4);
        // 0: running text in each item; 1: a link per item; 2: links with icons.
        let style = self.rng.pick(&[0, 0, 1, 1, 2]);
        for _ in 0..self.rng.range(2, 8) {
            self.nl(depth + 1);
            self.push("<");
            self.tag("li");
            self.push(">");
            match style {
                0 => self.inline(2, 14, false),
                1 => {
                    self.push("<a");
                    let u = self.url();
                    self.attr("href", &u);
                    self.push(">");
                    self.words_in(1, 5, true);
                    self.push("</a>");
                }
                _ => {
                    self.push("<a");
                    let u = self.url();
                    self.attr("href", &u);
                    let icon = self.rng.pick(ICONS);
                    let _ = write!(self.out, "><i class=\"{icon}\"></i><span class=\"label\">");
                    self.words_in(1, 4, true);
                    self.push("</span></a>");
                }
            }
            if level < 3 && self.rng.percent(12) {
                self.list(depth + 2, level + 1);
                self.nl(depth + 1);
            }
            if !omit_close {
                self.push("</");
                self.tag("li");
                self.push(">");
            }
        }
        self.nl(depth);
        self.push("</");
        self.tag(tag);
        self.push(">");
    }

    fn table(&mut self, depth: usize) {
        let cols = self.rng.range(2, 6);
        let rows = self.rng.range(2, 10);
        // Leave out `</td>`, `</th>` and `</tr>` (allowed by the syntax).
        let omit = self.rng.percent(25);
        // Cells of a row on one line, as generated markup often has.
        let compact = self.rng.percent(50);
        let due = self.glitch_due();
        // Which malformation, if any: 0 text directly in <table>, 1 <p> in <table>,
        // 2 <div> in a row, 3 <td> without <tr>, 4 stray </td> and </tr>.
        let glitch = if due { Some(self.rng.below(5)) } else { None };
        self.nl(depth);
        self.push("<");
        self.tag("table");
        if self.legacy {
            self.push(" border=\"1\" cellpadding=\"4\" cellspacing=\"0\" width=\"100%\"");
        } else {
            self.class("data");
        }
        self.push(">");
        if glitch == Some(0) {
            self.nl(depth + 1);
            self.words_in(2, 5, true);
        }
        if glitch == Some(1) {
            self.nl(depth + 1);
            self.push("<p>");
            self.words_in(2, 6, true);
            self.push("</p>");
        }
        if self.rng.percent(30) {
            self.nl(depth + 1);
            self.push("<caption>");
            self.words_in(2, 6, true);
            self.push("</caption>");
        }
        let has_head = self.rng.percent(70);
        if has_head {
            self.nl(depth + 1);
            self.push("<thead>");
            self.nl(depth + 2);
            self.push("<tr>");
            for _ in 0..cols {
                if !compact {
                    self.nl(depth + 3);
                }
                self.push("<th scope=\"col\">");
                self.words_in(1, 2, true);
                self.push(if omit { "" } else { "</th>" });
            }
            if !compact {
                self.nl(depth + 2);
            }
            self.push(if omit { "" } else { "</tr>" });
            self.nl(depth + 1);
            self.push("</thead>");
        }
        let explicit_body = glitch != Some(3) && (has_head || self.rng.percent(50));
        if explicit_body {
            self.nl(depth + 1);
            self.push("<tbody>");
        }
        for r in 0..rows {
            let rd = depth + 1 + usize::from(explicit_body);
            if !(glitch == Some(3) && r == 0) {
                self.nl(rd);
                self.push("<");
                self.tag("tr");
                if r % 2 == 1 && self.rng.percent(30) {
                    self.push(" class=\"odd\"");
                }
                self.push(">");
            }
            let mut c = 0;
            while c < cols {
                if !compact {
                    self.nl(rd + 1);
                }
                let span = if c + 1 < cols && self.rng.one_in(12) {
                    2
                } else {
                    1
                };
                self.push("<");
                self.tag("td");
                if span == 2 {
                    self.push(" colspan=\"2\"");
                }
                if self.rng.one_in(6) {
                    let cl = self.rng.pick(&["num", "price", "status", "center"]);
                    self.attr("class", cl);
                }
                self.push(">");
                self.cell();
                if !omit {
                    self.push("</");
                    self.tag("td");
                    self.push(">");
                }
                c += span;
            }
            if glitch == Some(2) && r == 0 {
                self.nl(rd + 1);
                self.push("<div class=\"note\">");
                self.words(3, true);
                self.push("</div>");
            }
            if glitch == Some(4) && r == rows - 1 {
                self.push("</td></td></tr></tr>");
            }
            if !compact {
                self.nl(rd);
            }
            if !omit {
                self.push("</");
                self.tag("tr");
                self.push(">");
            }
        }
        if explicit_body {
            self.nl(depth + 1);
            self.push("</tbody>");
        }
        self.nl(depth);
        self.push("</");
        self.tag("table");
        self.push(">");
        if due {
            self.glitch_done();
        }
    }

    fn cell(&mut self) {
        match self.rng.below(12) {
            0..=3 => self.words_in(1, 4, true),
            10 => {} // empty cell
            11 => {
                self.push("<input type=\"checkbox\"");
                self.void_end();
            }
            4 | 5 => {
                let (a, b) = (self.rng.below(1000), self.rng.below(100));
                let _ = write!(self.out, "&euro;{a}.{b:02}");
            }
            6 => {
                self.push("<a");
                let u = self.url();
                self.attr("href", &u);
                self.push(">");
                self.words_in(1, 3, false);
                self.push("</a>");
            }
            7 => {
                self.push("<code>");
                let w = self.ascii_word();
                self.push(w);
                self.push("</code>");
            }
            8 => {
                let s = self.rng.pick(&[
                    "<span class=\"badge ok\">&check; OK</span>",
                    "<span class=\"badge\">beta</span>",
                    "&mdash;",
                    "<em>n/a</em>",
                ]);
                self.push(s);
            }
            _ => {
                let n = self.rng.below(100_000);
                let _ = write!(self.out, "{n}");
            }
        }
    }

    fn form(&mut self, depth: usize) {
        let fid = self.fresh_id();
        self.nl(depth);
        self.push("<form");
        let u = self.url();
        self.attr("action", &u);
        let method = if self.rng.percent(50) { "post" } else { "get" };
        self.attr("method", method);
        self.class("form");
        self.push(">");
        let fieldset = self.rng.percent(40);
        let d = depth + 1 + usize::from(fieldset);
        if fieldset {
            self.nl(depth + 1);
            self.push("<fieldset>");
            self.nl(depth + 2);
            self.push("<legend>");
            self.words_in(1, 4, true);
            self.push("</legend>");
        }
        for _ in 0..self.rng.range(2, 5) {
            let n = self.ascii_word();
            self.nl(d);
            self.push("<div class=\"field\">");
            self.nl(d + 1);
            let _ = write!(self.out, "<label for=\"f{fid}-{n}\">");
            self.words_in(1, 3, true);
            self.push("</label>");
            self.nl(d + 1);
            match self.rng.below(6) {
                0 | 1 => {
                    let ty = self
                        .rng
                        .pick(&["text", "email", "number", "password", "tel", "date"]);
                    let _ = write!(
                        self.out,
                        "<input type=\"{ty}\" id=\"f{fid}-{n}\" name=\"{n}\""
                    );
                    if self.rng.percent(50) {
                        let v = self.ascii_word();
                        self.attr("value", v);
                    } else {
                        self.attr("placeholder", "e.g. Müller");
                    }
                    if self.rng.percent(30) {
                        self.push(" required");
                    }
                    self.void_end();
                }
                2 => {
                    let _ = write!(self.out, "<select id=\"f{fid}-{n}\" name=\"{n}\">");
                    let sel = self.rng.below(4);
                    let group = self.rng.one_in(4);
                    if group {
                        self.nl(d + 2);
                        self.push("<optgroup label=\"Europe\">");
                    }
                    let close = !self.rng.one_in(3);
                    for i in 0..self.rng.range(2, 6) {
                        self.nl(d + 2 + usize::from(group));
                        let v = self.ascii_word();
                        let _ = write!(self.out, "<option value=\"{v}\"");
                        if i == sel {
                            self.push(" selected");
                        }
                        self.push(">");
                        self.words_in(1, 2, true);
                        if close {
                            self.push("</option>");
                        }
                    }
                    if group {
                        self.nl(d + 2);
                        self.push("</optgroup>");
                    }
                    self.nl(d + 1);
                    self.push("</select>");
                }
                3 => {
                    let _ = write!(
                        self.out,
                        "<textarea id=\"f{fid}-{n}\" name=\"{n}\" rows=\"4\" cols=\"40\">"
                    );
                    self.words_in(0, 12, true);
                    if self.rng.percent(40) {
                        self.push(" <b>not a tag</b> &lt;still text&gt;");
                    }
                    self.push("</textarea>");
                }
                4 => {
                    let _ = write!(
                        self.out,
                        "<input type=\"checkbox\" id=\"f{fid}-{n}\" name=\"{n}\" value=\"1\"{}",
                        if self.rng.percent(50) { " checked" } else { "" }
                    );
                    self.void_end();
                }
                _ => {
                    for v in ["a", "b", "c"] {
                        let _ =
                            write!(self.out, "<input type=\"radio\" name=\"{n}\" value=\"{v}\"");
                        self.void_end();
                        self.push(" ");
                        self.words(1, true);
                        self.push(" ");
                    }
                }
            }
            self.nl(d);
            self.push("</div>");
        }
        if self.rng.percent(50) {
            self.nl(d);
            let _ = write!(
                self.out,
                "<input type=\"hidden\" name=\"csrf\" value=\"{:016x}\"",
                self.rng.next_u64()
            );
            self.void_end();
        }
        self.nl(d);
        self.push("<button type=\"submit\" class=\"btn btn-primary\">");
        self.words(1, true);
        self.push("</button>");
        if fieldset {
            self.nl(depth + 1);
            self.push("</fieldset>");
        }
        self.nl(depth);
        self.push("</form>");
    }

    fn figure(&mut self, depth: usize) {
        self.nl(depth);
        self.push("<figure class=\"image\">");
        self.nl(depth + 1);
        self.img();
        self.nl(depth + 1);
        self.push("<figcaption>");
        self.inline(3, 14, false);
        self.push("</figcaption>");
        self.nl(depth);
        self.push("</figure>");
    }

    /// A highlighted code listing in `<pre><code>`.
    fn code(&mut self, depth: usize) {
        self.nl(depth);
        self.push("<pre><code class=\"language-rust\">");
        for line in 0..self.rng.range(3, 14) {
            if line > 0 {
                self.out.push('\n');
            }
            for _ in 0..self.rng.below(3) {
                self.push("    ");
            }
            for t in 0..self.rng.range(2, 6) {
                if t > 0 {
                    self.out.push(' ');
                }
                match self.rng.below(8) {
                    0 | 1 => {
                        let k = self.rng.pick(CODE_KW);
                        let _ = write!(self.out, "<span class=\"kw\">{k}</span>");
                    }
                    2 => {
                        let w = self.ascii_word();
                        let _ = write!(self.out, "<span class=\"str\">&quot;{w}&quot;</span>");
                    }
                    3 => {
                        let n = self.rng.below(1000);
                        let _ = write!(self.out, "<span class=\"num\">{n}</span>");
                    }
                    4 => {
                        let op = self.rng.pick(&[
                            "&lt;",
                            "&amp;&amp;",
                            "-&gt;",
                            "=",
                            "==",
                            "&lt;=",
                            "+",
                            "=&gt;",
                        ]);
                        self.push(op);
                    }
                    5 if self.rng.one_in(3) => {
                        self.push("<span class=\"cm\">// ");
                        self.words(3, false);
                        self.push("</span>");
                    }
                    _ => {
                        let w = self.ascii_word();
                        self.push(w);
                        let tail = self.rng.pick(&["", "()", ";", "(x);", ".len()", ","]);
                        self.push(tail);
                    }
                }
            }
        }
        self.push("</code></pre>");
    }

    fn quote(&mut self, depth: usize) {
        self.nl(depth);
        self.push("<blockquote");
        let u = self.url();
        self.attr("cite", &u);
        self.push(">");
        self.para(depth + 1);
        self.nl(depth + 1);
        self.push("<footer>&mdash; <cite>");
        self.words(2, true);
        self.push("</cite></footer>");
        self.nl(depth);
        self.push("</blockquote>");
    }

    fn dl(&mut self, depth: usize) {
        self.nl(depth);
        self.push("<dl>");
        let close = !self.rng.one_in(4);
        for _ in 0..self.rng.range(2, 6) {
            self.nl(depth + 1);
            self.push("<dt>");
            self.push("<code>");
            let w = self.ascii_word();
            self.push(w);
            self.push("</code>");
            if close {
                self.push("</dt>");
            }
            self.nl(depth + 1);
            self.push("<dd>");
            self.inline(3, 16, false);
            if close {
                self.push("</dd>");
            }
        }
        self.nl(depth);
        self.push("</dl>");
    }

    fn details(&mut self, depth: usize) {
        self.nl(depth);
        let open = if self.rng.percent(30) {
            "<details open>"
        } else {
            "<details>"
        };
        self.push(open);
        self.nl(depth + 1);
        self.push("<summary>");
        self.words_in(2, 6, true);
        self.push("</summary>");
        self.para(depth + 1);
        if self.rng.percent(40) {
            self.list(depth + 1, 2);
        }
        self.nl(depth);
        self.push("</details>");
    }

    fn template(&mut self, depth: usize) {
        let id = self.fresh_id();
        self.nl(depth);
        let _ = write!(self.out, "<template id=\"tpl-{id}\">");
        if self.rng.percent(50) {
            self.nl(depth + 1);
            self.push("<tr class=\"row\">");
            for c in ["name", "qty", "price"] {
                self.nl(depth + 2);
                let _ = write!(self.out, "<td class=\"{c}\"></td>");
            }
            self.nl(depth + 1);
            self.push("</tr>");
        } else {
            self.nl(depth + 1);
            self.push("<div class=\"card\">");
            self.nl(depth + 2);
            self.push("<h3 class=\"card-title\"></h3>");
            self.nl(depth + 2);
            self.push("<p class=\"card-text\">");
            self.words(3, true);
            self.push("</p>");
            self.nl(depth + 2);
            self.push("<a class=\"btn\" href=\"#\">");
            self.words(1, true);
            self.push("</a>");
            self.nl(depth + 1);
            self.push("</div>");
        }
        self.nl(depth);
        self.push("</template>");
    }

    /// A small inline SVG icon (foreign content with self-closing children).
    fn svg_icon(&mut self, depth: usize) {
        self.push("<svg class=\"icon\" width=\"24\" height=\"24\" viewBox=\"0 0 24 24\" aria-hidden=\"true\">");
        self.nl(depth + 1);
        self.push("<path d=\"M12 2L2 7l10 5 10-5-10-5z\" fill=\"none\" stroke=\"currentColor\" stroke-width=\"2\"/>");
        if self.rng.percent(50) {
            self.nl(depth + 1);
            self.push("<circle cx=\"12\" cy=\"12\" r=\"3\"/>");
        }
        self.nl(depth);
        self.push("</svg>");
    }

    /// A bar chart in SVG, sometimes with a `foreignObject` holding HTML.
    fn svg_chart(&mut self, depth: usize) {
        self.nl(depth);
        self.push("<figure class=\"chart\">");
        self.nl(depth + 1);
        self.push("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"400\" height=\"200\" viewBox=\"0 0 400 200\" role=\"img\">");
        self.nl(depth + 2);
        self.push("<title>");
        self.words(3, true);
        self.push("</title>");
        for i in 0..self.rng.range(3, 8) {
            let h = self.rng.range(10, 180);
            self.nl(depth + 2);
            let _ = write!(
                self.out,
                "<g><rect x=\"{}\" y=\"{}\" width=\"30\" height=\"{h}\" fill=\"#4a90d9\"/><text x=\"{}\" y=\"198\">{}</text></g>",
                i * 40 + 10,
                200 - h,
                i * 40 + 12,
                i + 1
            );
        }
        if self.rng.percent(25) {
            self.nl(depth + 2);
            self.push(
                "<foreignObject x=\"0\" y=\"0\" width=\"200\" height=\"40\"><div class=\"legend\">",
            );
            self.words(3, true);
            self.push("</div></foreignObject>");
        }
        self.nl(depth + 1);
        self.push("</svg>");
        self.nl(depth + 1);
        self.push("<figcaption>");
        self.words_in(3, 8, true);
        self.push("</figcaption>");
        self.nl(depth);
        self.push("</figure>");
    }

    fn math_para(&mut self, depth: usize) {
        self.nl(depth);
        self.push("<p>");
        self.words_in(3, 8, true);
        let (a, b) = (self.rng.range(1, 9), self.rng.range(2, 9));
        let _ = write!(
            self.out,
            " <math><mrow><mi>x</mi><mo>=</mo><mfrac><mn>{a}</mn><msup><mi>n</mi><mn>{b}</mn></msup></mfrac></mrow></math> "
        );
        self.words_in(3, 8, false);
        self.push(".</p>");
    }

    /// Social sharing links: a list of icon-only links.
    fn share(&mut self, depth: usize) {
        self.nl(depth);
        self.push("<ul class=\"share\" aria-label=\"Share\">");
        for site in ["Facebook", "X", "LinkedIn", "Email"] {
            self.nl(depth + 1);
            let _ = write!(self.out, "<li><a href=\"/share?to={site}\" aria-label=\"Share on {site}\" rel=\"noopener\"><svg class=\"icon\" width=\"16\" height=\"16\" viewBox=\"0 0 16 16\"><path d=\"M2 2h12v12H2z\"/></svg></a></li>");
        }
        self.nl(depth);
        self.push("</ul>");
    }

    /// `<!-- Header -->` and the like, on most documents.
    fn region_comment(&mut self, depth: usize, what: &str) {
        if self.rng.percent(70) {
            self.nl(depth);
            self.push("<!-- ");
            self.push(what);
            self.push(" -->");
        }
    }

    fn comment(&mut self, depth: usize) {
        self.nl(depth);
        match self.rng.below(5) {
            0 => self.push("<!-- TODO: "),
            1 => self.push("<!-- begin "),
            2 => self.push("<!-- googleoff: index -->"),
            3 => self.push("<!--"),
            _ => self.push("<!-- ad slot: "),
        }
        if !self.out.ends_with("-->") {
            self.words_in(1, 6, false);
            self.push(" -->");
        }
    }

    /// Shop product tiles; now and then with `data-id`/`data-kind` attributes.
    fn products(&mut self, depth: usize) {
        self.nl(depth);
        self.push("<ul class=\"product-grid\">");
        for _ in 0..self.rng.range(3, 8) {
            self.nl(depth + 1);
            self.push("<li class=\"product\"");
            if self.rng.percent(15) {
                let _ = write!(self.out, " data-id=\"{}\"", self.rng.below(100_000));
            }
            self.push(">");
            self.nl(depth + 2);
            self.push("<a");
            let u = self.url();
            self.attr("href", &u);
            self.push(">");
            self.img();
            self.push("</a>");
            self.nl(depth + 2);
            self.push("<h3 class=\"title\"><a");
            self.attr("href", &u);
            self.push(">");
            self.words_in(2, 5, true);
            self.push("</a></h3>");
            self.nl(depth + 2);
            let (a, b) = (self.rng.range(1, 499), self.rng.below(100));
            let _ = write!(
                self.out,
                "<p class=\"price\"><span class=\"currency\">&euro;</span>{a}.{b:02}</p>"
            );
            if self.rng.percent(60) {
                // Star rating: icons only, no text.
                let stars = self.rng.range(1, 5);
                self.nl(depth + 2);
                let _ = write!(
                    self.out,
                    "<div class=\"rating\" role=\"img\" aria-label=\"Rated {stars} out of 5\">"
                );
                for i in 0..5 {
                    self.push(if i < stars {
                        "<i class=\"star full\"></i>"
                    } else {
                        "<i class=\"star\"></i>"
                    });
                }
                self.push("</div>");
            }
            if self.rng.percent(30) {
                self.nl(depth + 2);
                let badge = self.rng.pick(&["New", "Sale", "−20%", "Bestseller"]);
                let _ = write!(self.out, "<span class=\"badge\">{badge}</span>");
            }
            self.nl(depth + 2);
            self.push("<button type=\"button\" class=\"btn add-to-cart\"");
            if self.rng.percent(5) {
                self.push(" data-kind=\"cart\"");
            }
            self.push(">Add to cart</button>");
            self.nl(depth + 1);
            self.push("</li>");
        }
        self.nl(depth);
        self.push("</ul>");
    }

    // --- malformed markup ---------------------------------------------------------------

    /// A piece of malformed markup in phrasing context (inside a paragraph).
    fn inline_glitch(&mut self) {
        match self.rng.below(12) {
            0 | 1 => {
                // Misnested formatting: the adoption agency algorithm.
                let (outer, inner) =
                    self.rng
                        .pick(&[("b", "i"), ("em", "strong"), ("strong", "em"), ("i", "b")]);
                let _ = write!(self.out, "<{outer}><{inner}>");
                self.words_in(1, 3, false);
                let _ = write!(self.out, "</{outer}> ");
                self.words_in(1, 3, false);
                let _ = write!(self.out, "</{inner}>");
            }
            2 => {
                // <a> inside <a>.
                self.push("<a");
                let u = self.url();
                self.attr("href", &u);
                self.push(">");
                self.words(2, false);
                self.push(" <a");
                let u = self.url();
                self.attr("href", &u);
                self.push(">");
                self.words(2, false);
                self.push("</a> ");
                self.words(1, false);
                self.push("</a>");
            }
            3 => {
                // Duplicate attributes.
                let s = self.rng.pick(&[
                    "<span class=\"highlight\" class=\"note\">",
                    "<span id=\"x1\" title=\"a\" id=\"x2\">",
                    "<span style=\"color:red\" STYLE=\"color:blue\">",
                ]);
                self.push(s);
                self.words(2, false);
                self.push("</span>");
            }
            4 => {
                // No whitespace between attributes; a quote in an unquoted value.
                let s = self.rng.pick(&[
                    "<a href=\"/about\"class=\"nav\">",
                    "<a href=/help/faq title=it\"s>",
                    "<a href=\"/x\" title=a<b>",
                    "<a href='/docs/' class=\"x\"\"y\">",
                ]);
                self.push(s);
                self.words(2, false);
                self.push("</a>");
            }
            5 => {
                // An unterminated attribute value that swallows the following markup.
                self.push("<a href=\"/news/");
                let w = self.ascii_word();
                self.push(w);
                self.push(">read more</a> about ");
                self.words(2, false);
                self.push("\" class=\"more\">");
                self.words(1, false);
                self.push("</a>");
            }
            6 => {
                let s = self
                    .rng
                    .pick(&["</span>", "</em>", "</font>", "</div>", "</li>"]);
                // `</div>` is only stray when no div is open.
                if s == "</div>" && self.divs_open > 0 {
                    self.push("</span>");
                } else {
                    self.push(s);
                }
            }
            7 => self.push("</br>"),
            8 => {
                let s = self.rng.pick(&[
                    "&foo;",
                    "&copy2024",
                    "&#128512",
                    "&#x110000;",
                    "&#;",
                    "&notit;",
                    "AT&T;",
                ]);
                self.push(s);
            }
            9 => {
                self.push("<image src=\"/static/img/old.gif\" alt=\"\">");
            }
            10 => {
                // Self-closing syntax on a non-void element is ignored.
                self.push("<span class=\"dot\"/>");
                self.words(1, false);
                self.push("</span>");
            }
            _ => {
                // An end tag with attributes.
                self.push("<span class=\"x\">");
                self.words(2, false);
                self.push("</span class=\"x\">");
            }
        }
        self.glitch_done();
    }

    /// A piece of malformed markup in flow context (between blocks).
    fn block_glitch(&mut self, depth: usize) {
        self.nl(depth);
        match self.rng.below(13) {
            0 => {
                // Misnesting across a block: the adoption agency with a furthest block.
                self.push("<b>");
                self.words(2, true);
                self.push("<p>");
                self.words(3, false);
                self.push("</b>");
                self.words(3, false);
                self.push("</p>");
            }
            1 => {
                // Unclosed <p> before a block, then a stray </p>.
                self.push("<p>");
                self.words_in(4, 12, true);
                self.nl(depth);
                self.push("<div class=\"note\">");
                self.words_in(3, 8, true);
                self.push("</div></p>");
            }
            2 => {
                let s = if self.divs_open == 0 {
                    "</div>"
                } else {
                    "</span>"
                };
                self.push(s);
                self.nl(depth);
                self.push("</span>");
            }
            3 => {
                self.push("<li>");
                self.words_in(2, 6, true);
                self.push("</li>");
            }
            4 if !self.second_body_done => {
                self.second_body_done = true;
                self.push("<body class=\"second\" data-kind=\"late\" id=\"body2\">");
            }
            4 | 5 => {
                let c = self.rng.pick(&[
                    "<!-->",
                    "<!--->",
                    "<!--- x --!>",
                    "<!-- nested <!-- comment -->",
                    "<! bogus comment >",
                    "<?php echo $x; ?>",
                    "<!-- ends badly --!>",
                ]);
                self.push(c);
            }
            6 => {
                // Misnested headings.
                self.push("<h2>");
                self.words(2, true);
                self.push("<h3>");
                self.words(2, true);
                self.push("</h2>");
            }
            7 => {
                // Formatting left open across paragraphs: reconstructed in the next one.
                self.push("<p><em>");
                self.words(3, true);
                self.push("</p>");
                self.nl(depth);
                self.push("<p>");
                self.words(3, false);
                self.push("</em> ");
                self.words(2, false);
                self.push("</p>");
            }
            8 => {
                // HTML breaking out of SVG.
                self.push("<svg width=\"10\" height=\"10\"><circle r=\"4\"/><p>");
                self.words(3, true);
                self.push("</p></svg>");
            }
            9 => {
                // A form inside a form.
                self.push("<form action=\"/a\"><input name=\"a\"><form action=\"/b\"><input name=\"b\"></form>");
            }
            10 => {
                // A button inside a button.
                self.push("<button>");
                self.words(1, true);
                self.push("<button>");
                self.words(1, true);
                self.push("</button>");
            }
            11 => {
                self.push("<font color=\"red\"><div>");
                self.words(3, true);
                self.push("</font>");
                self.words(2, false);
                self.push("</div>");
            }
            _ => {
                self.push("<p>");
                self.words(3, true);
                self.push(" <b><i>");
                self.words(2, false);
                self.push("</b> ");
                self.words(2, false);
                self.push("</i></p>");
            }
        }
        self.glitch_done();
    }
}

// Generating megabytes of HTML is far too slow under Miri, and this is safe code.
#[cfg(all(test, not(miri)))]
mod tests {
    use super::*;

    const KIB64: usize = 64 * 1024;

    #[test]
    fn deterministic() {
        let a = default_corpus();
        let b = default_corpus();
        assert_eq!(a, b);
        assert_eq!(generate(5, 20_000, 7), generate(5, 20_000, 7));
        assert_ne!(generate(1, 20_000, 7), generate(1, 20_000, 8));
        // Document i does not depend on how many documents were asked for.
        assert_eq!(generate(3, 20_000, 7)[..], generate(6, 20_000, 7)[..3]);
    }

    #[test]
    fn names() {
        let docs = default_corpus();
        assert_eq!(docs.len(), 48);
        assert_eq!(docs[0].name, "generated-000.html");
        assert_eq!(docs[7].name, "generated-007.html");
        assert_eq!(docs[47].name, "generated-047.html");
    }

    #[test]
    fn sizes() {
        let docs = default_corpus();
        let total: usize = docs.iter().map(|d| d.html.len()).sum();
        assert!((2_000_000..=5_000_000).contains(&total), "total {total}");
        for d in &docs {
            let n = d.html.len();
            assert!(
                (KIB64 * 60 / 100..=KIB64 * 140 / 100).contains(&n),
                "{}: {n} bytes",
                d.name
            );
        }
        let min = docs.iter().map(|d| d.html.len()).min().unwrap();
        let max = docs.iter().map(|d| d.html.len()).max().unwrap();
        assert!(max - min > KIB64 / 4, "sizes should vary: {min}..{max}");
        // Other sizes scale too.
        for d in generate(10, 200_000, 1) {
            assert!(
                (120_000..=280_000).contains(&d.html.len()),
                "{}",
                d.html.len()
            );
        }
    }

    #[test]
    fn tiny_and_empty_requests() {
        assert!(generate(0, 64 * 1024, 1).is_empty());
        for d in generate(4, 0, 1).iter().chain(&generate(4, 1000, 2)) {
            // Head, header and footer only: small, but still a page.
            assert!(d.html.len() < 12_000, "{}", d.html.len());
            assert!(d.html.contains("<title>"));
        }
    }

    fn count(docs: &[Doc], needle: &str) -> usize {
        docs.iter().map(|d| d.html.matches(needle).count()).sum()
    }

    #[test]
    fn features_present() {
        let docs = default_corpus();
        let needles = [
            "<!DOCTYPE html>",
            "<!DOCTYPE HTML PUBLIC",
            "<html lang=",
            "<head>",
            "<meta charset=",
            "<title>",
            "<link rel=\"stylesheet\"",
            "<style>",
            "<script>",
            "&&",
            "<header",
            "<nav",
            "<ul",
            "<ol",
            "<li>",
            "<li class=\"menu-item\">",
            "<main",
            "<article",
            "<section",
            "<h1",
            "<h2",
            "<h3",
            "<p>",
            "<a href=",
            "<em>",
            "<strong>",
            "<code>",
            "<span class=",
            "<br>",
            "<img src=",
            "&amp;",
            "&lt;",
            "&copy;",
            "&#8212;",
            "&#x27;",
            " & ",
            "&foo;",
            "é",
            "ü",
            "日本語",
            "🚀",
            "<table",
            "<thead>",
            "<tbody>",
            "<tr>",
            "<th",
            "<td",
            "colspan=",
            "<form",
            "<input type=",
            "<select",
            "<option value=",
            " selected>",
            "<textarea",
            "<label for=",
            "<button",
            "<template",
            "<svg",
            "<math>",
            "<!--",
            "<!-->",
            "<!--- x --!>",
            "<p>",
            "<body class=\"second\"",
            "title=",
            "style=",
            "aria-label=",
            "role=",
            "data-id=",
            "data-kind=",
            "</b>",
            "<pre>",
            "<dl>",
            "<details",
            "<figure",
        ];
        for n in needles {
            assert!(count(&docs, n) > 0, "no {n:?} in the default corpus");
        }
        // Comments, entities and tables are common, not one-offs.
        assert!(count(&docs, "<!--") > 100);
        assert!(count(&docs, "<table") > 48);
    }

    #[test]
    fn quirks_and_omissions() {
        let docs = default_corpus();
        let no_doctype = docs.iter().filter(|d| !d.html.starts_with("<!")).count();
        let legacy = docs
            .iter()
            .filter(|d| {
                d.html.starts_with("<!DOCTYPE HTML PUBLIC")
                    || d.html.starts_with("<!DOCTYPE html PUBLIC")
            })
            .count();
        assert!(
            no_doctype + legacy >= 1,
            "some documents should be in quirks mode"
        );
        assert!(no_doctype + legacy < 12);
        assert!(
            docs.iter().any(|d| !d.html.contains("<head>")),
            "some documents omit <head>"
        );
        assert!(
            docs.iter().any(|d| !d.html.contains("<body")),
            "some documents omit <body>"
        );
    }

    #[test]
    fn malformed_markup_present() {
        let docs = default_corpus();
        // Misnested formatting: `<b><i>x</b>y</i>`, the `</b>` before the `</i>`.
        let misnested = docs.iter().any(|d| {
            d.html.match_indices("<b><i>").any(|(at, _)| {
                let rest = &d.html[at..];
                matches!((rest.find("</b>"), rest.find("</i>")), (Some(b), Some(i)) if b < i)
            })
        });
        assert!(misnested);
        // Nested <a>, stray end tags, duplicate attributes, <li> outside a list.
        assert!(count(&docs, "</a> ") > 0);
        assert!(
            count(&docs, "class=\"highlight\" class=") + count(&docs, "id=\"x1\" title=\"a\" id=")
                > 0
        );
        assert!(count(&docs, "</br>") > 0);
        assert!(count(&docs, "<font color=\"red\"><div>") > 0);
        // Text or <p> directly inside <table>: foster parenting.
        let foster = docs.iter().any(|d| {
            d.html.match_indices("<table").any(|(at, _)| {
                let rest = &d.html[at..];
                let open_end = rest.find('>').unwrap() + 1;
                let next = rest[open_end..].trim_start();
                next.starts_with("<p>") || !next.starts_with('<')
            })
        });
        assert!(foster, "no foster-parented content in tables");
        // About one malformation per kilobyte: far more than one per document.
        let markers = count(&docs, "</br>")
            + count(&docs, "<!-->")
            + count(&docs, "<b><i>")
            + count(&docs, "<image ");
        assert!(markers > 100, "{markers}");
    }

    #[test]
    fn some_documents_end_mid_tag() {
        let docs = default_corpus();
        let cut = docs
            .iter()
            .filter(|d| {
                let tail = d.html.trim_end();
                !(tail.ends_with('>'))
            })
            .count();
        assert!((1..=10).contains(&cut), "{cut} truncated documents");
    }

    #[test]
    fn no_nul_and_valid_nesting_of_script() {
        for d in default_corpus() {
            assert!(!d.html.contains('\0'));
            // Every <script> element's text is closed by its own end tag.
            assert_eq!(
                d.html.matches("<script").count(),
                d.html.matches("</script>").count(),
                "{}",
                d.name
            );
        }
    }
}
