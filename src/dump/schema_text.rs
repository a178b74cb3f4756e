//! Personal data in the schema text: what the value detectors ([`crate::mask::find`]) find in the
//! statements of schema entries, and the scrubbing of COMMENT text in the masked artifacts.
//!
//! A `COMMENT ON … IS '…'` often names a person (`data owner: dpo@corp.example`). The masked
//! artifacts get its literal scrubbed as `pii_scan` scrubs a text column (every kind, unkeyed):
//! only the text inside the literal changes, so the statement means the same. Nothing else is
//! touched: function bodies, defaults and constraints would change meaning. The literal is found
//! with the SQL lexer (`'…'` with `''`, `E'…'` with backslash escapes, dollar quotes); the masked
//! forms hold no quote or backslash, so the literal stays well-formed.
//!
//! `scan` reports what the detectors find in the schema text ([`findings`]): inside a COMMENT's
//! literal (a leak in a masked artifact, which pgveil scrubs) or elsewhere in a statement (text
//! pgveil never changes).

use std::ops::Range;

use super::Entry;
use crate::mask::find::{find, Kind};
use crate::mask::key::Key;
use crate::mask::maskers::pii_scan::PiiScan;
use crate::mask::{Category, MaskOutcome, Masker};
use crate::sql::lexer::{statements, tokens, TokenKind};

/// The contents of COMMENT literals, and the other statements (byte ranges of a body).
type Split = (Vec<Range<usize>>, Vec<Range<usize>>);

/// The byte ranges (in `body`) of the contents of the literals of its `COMMENT ON … IS '…'`
/// statements, and the ranges of its other statements. `None` when the text cannot be split into
/// statements (an unterminated literal: not pg_dump's output).
fn split(body: &[u8]) -> Option<Split> {
    // The lexer takes text; bytes of other encodings are letters to it, so each non-ASCII byte
    // stands in as `x`, keeping every offset.
    let shadow: String = body
        .iter()
        .map(|&b| if b.is_ascii() { b as char } else { 'x' })
        .collect();
    let (mut comments, mut others) = (Vec::new(), Vec::new());
    for r in statements(body)? {
        let stmt = &shadow[r.clone()];
        let mut toks = tokens(stmt);
        let is_comment = toks.next().is_some_and(|t| t.is_word("COMMENT"))
            && toks.next().is_some_and(|t| t.is_word("ON"));
        // The literal after the last top-level `IS` (`COMMENT ON … IS '…';`).
        let literal = is_comment
            .then(|| {
                let toks: Vec<_> = tokens(stmt).collect();
                let is = toks.iter().rposition(|t| t.is_word("IS") && t.depth == 0)?;
                let lit = toks.get(is + 1).filter(|t| t.kind == TokenKind::String)?;
                literal_content(lit.text)
                    .map(|c| r.start + lit.start + c.start..r.start + lit.start + c.end)
            })
            .flatten();
        match literal {
            Some(c) => comments.push(c),
            None => others.push(r),
        }
    }
    Some((comments, others))
}

/// The content of a string literal token (`'…'`, `E'…'`, `$tag$…$tag$`), relative to the token.
fn literal_content(tok: &str) -> Option<Range<usize>> {
    if let Some(rest) = tok.strip_prefix('$') {
        let tag = rest.find('$')? + 2;
        return (tok.len() >= 2 * tag).then(|| tag..tok.len() - tag);
    }
    let open = tok.find('\'')? + 1;
    (tok.len() > open && tok.ends_with('\'')).then(|| open..tok.len() - 1)
}

/// Call `f(category, in_comment)` for every value the detectors find in the statements of an
/// entry's body (an entry without data; an archive entry's definition): inside a COMMENT's
/// literal, or anywhere else in a statement.
pub fn findings(body: &[u8], mut f: impl FnMut(Category, bool)) {
    let Some((comments, others)) = split(body) else {
        // Cannot be split: all of it is looked at, as text outside comments.
        find(body, Kind::all(), |k, _, _| f(k.category(), false));
        return;
    };
    for c in comments {
        find(&body[c], Kind::all(), |k, _, _| f(k.category(), true));
    }
    for r in others {
        find(&body[r], Kind::all(), |k, _, _| f(k.category(), false));
    }
}

/// The entry with the literals of its COMMENT statements scrubbed, or `None` when nothing in them
/// is found (or the body cannot be split into statements).
pub fn scrub_comments(entry: &Entry) -> Option<Entry> {
    let body = entry.body_range.start;
    let (comments, _) = split(entry.body())?;
    // Unkeyed: a comment is no column, and no two comments need to stay distinct.
    let scrubber = PiiScan::new(&Key::from_bytes(b"comment"), Kind::all(), false);
    let mut edits: Vec<(Range<usize>, Vec<u8>)> = Vec::new();
    for c in comments {
        let c = body + c.start..body + c.end;
        let mut out = Vec::new();
        if let MaskOutcome::Value = scrubber.mask(&entry.text[c.clone()], &mut out) {
            edits.push((c, out));
        }
    }
    if edits.is_empty() {
        return None;
    }
    let mut text = Vec::with_capacity(entry.text.len());
    let mut at = 0;
    for (r, new) in &edits {
        text.extend_from_slice(&entry.text[at..r.start]);
        text.extend_from_slice(new);
        at = r.end;
    }
    text.extend_from_slice(&entry.text[at..]);
    // Where a position of the old text (never inside an edit) lies in the new one.
    let shift = |p: usize| {
        let delta: isize = edits
            .iter()
            .filter(|(r, _)| r.end <= p)
            .map(|(r, new)| new.len() as isize - r.len() as isize)
            .sum();
        (p as isize + delta) as usize
    };
    let mut out = entry.clone();
    out.body_range = shift(entry.body_range.start)..shift(entry.body_range.end);
    out.owner_stmt_range = entry
        .owner_stmt_range
        .clone()
        .map(|r| shift(r.start)..shift(r.end));
    out.text = text;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(desc: &str, body: &str) -> Entry {
        let text = format!("--\n-- Name: x; Type: {desc}; Schema: public; Owner: -\n--\n\n{body}");
        let dump = format!(
            "--\n-- PostgreSQL database dump\n--\n\nSET standard_conforming_strings = on;\n\n{text}\n\
             --\n-- PostgreSQL database dump complete\n--\n\n"
        );
        let mut r = crate::dump::DumpReader::new(dump.as_bytes());
        while let Some(ev) = r.next_event().unwrap() {
            if let crate::dump::Event::Entry(e) = ev {
                return e;
            }
        }
        panic!("no entry in {dump}");
    }

    fn scrubbed(body: &str) -> String {
        let e = entry("COMMENT", body);
        match scrub_comments(&e) {
            Some(s) => String::from_utf8(s.body().to_vec()).unwrap(),
            None => String::from_utf8(e.body().to_vec()).unwrap(),
        }
        .trim_end()
        .to_string()
    }

    #[test]
    fn comment_literals_are_scrubbed_and_nothing_else() {
        assert_eq!(
            scrubbed(
                "COMMENT ON TABLE public.t IS 'data owner: dpo@corp.example, +33 5 62 02 97 93';\n"
            ),
            "COMMENT ON TABLE public.t IS 'data owner: nobody@example.com, +00 0 00 00 00 00';"
        );
        // E'' with escapes, '' doubled quotes, a name holding `IS 'x@y.org'`.
        assert_eq!(
            scrubbed(
                "COMMENT ON COLUMN public.\"t IS 'a@b.org'\".c IS E'it''s\\nann@x.org\\'s';\n"
            ),
            "COMMENT ON COLUMN public.\"t IS 'a@b.org'\".c IS E'it''s\\nnobody@example.com\\'s';"
        );
        // Nothing found: the entry is left as it is.
        let plain = "COMMENT ON TABLE public.t IS 'orders of 2024';\n";
        assert!(scrub_comments(&entry("COMMENT", plain)).is_none());
    }

    #[test]
    fn functions_and_defaults_are_never_scrubbed_but_reported() {
        let body = "CREATE FUNCTION public.f() RETURNS text\n    LANGUAGE sql\n    AS $$SELECT 'ops@corp.example'$$;\n";
        let e = entry("FUNCTION", body);
        assert!(scrub_comments(&e).is_none());
        let mut got = Vec::new();
        findings(e.body(), |c, in_comment| got.push((c, in_comment)));
        assert_eq!(got, vec![(Category::Email, false)]);
        let e = entry("COMMENT", "COMMENT ON TABLE public.t IS 'ask ann@x.org';\n");
        let mut got = Vec::new();
        findings(e.body(), |c, in_comment| got.push((c, in_comment)));
        assert_eq!(got, vec![(Category::Email, true)]);
    }
}
