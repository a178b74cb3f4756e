//! PostgreSQL's lexical structure, as far as finding keywords and names in DDL needs it: string
//! literals (`'…'` with `''`, `E'…'` with backslash escapes, `U&'…'`, `B'…'`, `X'…'`), dollar quotes
//! (`$tag$…$tag$`), quoted identifiers (`"…"` with `""`), comments (`--` to the end of the line,
//! `/* … */` nested), words, numbers, parameters (`$1`) and punctuation.
//!
//! [`tokens`] yields borrowed slices of the text and allocates nothing. The quote-scanning functions
//! (`scan_*`, `dollar_tag_end`, `escapes_backslash`) are shared with psql's line-by-line model in
//! `dump::psql_lex`, so the quoting rules live in one place.
//!
//! An unterminated literal, quoted identifier or comment runs to the end of the text (as it would
//! in PostgreSQL's lexer before it reports the error): its content is never taken for keywords.

pub(crate) fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b >= 0x80
}

pub(crate) fn is_ident_cont(b: u8) -> bool {
    is_ident_start(b) || b.is_ascii_digit() || b == b'$'
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c')
}

/// Inside `'…'` from `i`: the index after the closing quote, or `None` if the text ends first.
/// `backslash`: a backslash escapes the next byte (`E'…'`, or any string when
/// `standard_conforming_strings` is off).
pub(crate) fn scan_single(text: &[u8], mut i: usize, backslash: bool) -> Option<usize> {
    while i < text.len() {
        match text[i] {
            b'\\' if backslash => i += 2,
            b'\'' if text.get(i + 1) == Some(&b'\'') => i += 2,
            b'\'' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// Inside `"…"` from `i`: the index after the closing quote, or `None`.
pub(crate) fn scan_double(text: &[u8], mut i: usize) -> Option<usize> {
    while i < text.len() {
        match text[i] {
            b'"' if text.get(i + 1) == Some(&b'"') => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// Inside a dollar quote opened by `tag` (`$…$`, both dollars included) from `i`: the index after
/// the closing tag, or `None`.
pub(crate) fn scan_dollar(text: &[u8], i: usize, tag: &[u8]) -> Option<usize> {
    let rest = text.get(i..)?;
    memchr::memmem::find(rest, tag).map(|p| i + p + tag.len())
}

/// Inside a block comment nested `depth` deep from `i`: the index after the comment's end, or
/// `None` with `depth` updated to the nesting at the end of the text.
pub(crate) fn scan_block(text: &[u8], mut i: usize, depth: &mut u32) -> Option<usize> {
    while i < text.len() {
        if text[i..].starts_with(b"*/") {
            *depth -= 1;
            i += 2;
            if *depth == 0 {
                return Some(i);
            }
        } else if text[i..].starts_with(b"/*") {
            *depth += 1;
            i += 2;
        } else {
            i += 1;
        }
    }
    None
}

/// If `text[i]` is a `$` opening a dollar quote (`$$` or `$tag$`), the index after its tag.
/// (`$1` is a parameter; the caller checks that no identifier runs into the `$`.)
pub(crate) fn dollar_tag_end(text: &[u8], i: usize) -> Option<usize> {
    let n = text.len();
    let mut j = i + 1;
    if j < n && is_ident_start(text[j]) {
        j += 1;
        while j < n && is_ident_cont(text[j]) && text[j] != b'$' {
            j += 1;
        }
    }
    (j < n && text[j] == b'$').then_some(j + 1)
}

/// Whether the string literal whose quote is at `text[quote]` escapes with backslashes, given the
/// word that runs into it (`E'…'` does; `U&'…'`, `B'…'`, `X'…'` never do; a plain one does only
/// when `standard_conforming_strings` is off).
pub(crate) fn escapes_backslash(
    text: &[u8],
    quote: usize,
    word: Option<(usize, usize)>,
    std_strings: bool,
) -> bool {
    let prefix = word.map(|(s, l)| (l, text[s].to_ascii_lowercase()));
    let unicode = quote >= 2
        && text[quote - 1] == b'&'
        && text[quote - 2].eq_ignore_ascii_case(&b'u')
        && (quote == 2 || !is_ident_cont(text[quote - 3]));
    match prefix {
        Some((1, b'e')) => true,
        Some((1, b'b')) | Some((1, b'x')) => false,
        _ if unicode => false,
        _ => !std_strings,
    }
}

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A keyword or unquoted identifier (`CREATE`, `public`, `t_1$`), as written.
    Word,
    /// `"…"`, quotes included; [`Token::ident`] gives the name.
    QuotedIdent,
    /// A string literal with its prefix and quotes (`'a''b'`, `E'\n'`, `U&'…'`, `$f$…$f$`).
    String,
    /// Digits (and what runs into them: `1e5`, `0x1F`).
    Number,
    /// `$1`.
    Param,
    /// `-- …` or `/* … */`.
    Comment,
    /// Any other single byte: `(`, `)`, `,`, `.`, `;`, operators byte by byte.
    Punct,
}

/// A token: its kind, its text (a slice of the input) and where it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    pub kind: TokenKind,
    pub text: &'a str,
    /// Byte offset of the token in the input.
    pub start: usize,
    /// Parenthesis depth at the token (an opening `(` is at the outer depth).
    pub depth: u32,
}

impl<'a> Token<'a> {
    /// The token is the keyword `kw` (compared as pg_dump writes keywords: upper case, exactly).
    pub fn is_word(&self, kw: &str) -> bool {
        self.kind == TokenKind::Word && self.text == kw
    }

    pub fn is_punct(&self, c: char) -> bool {
        self.kind == TokenKind::Punct && self.text.len() == c.len_utf8() && self.text.starts_with(c)
    }

    /// The name a word or quoted identifier stands for (`"a""b"` → `a"b`), or `None` for other
    /// tokens. Words are taken as written: pg_dump prints names that need no quotes in lower case.
    pub fn ident(&self) -> Option<std::borrow::Cow<'a, str>> {
        match self.kind {
            TokenKind::Word => Some(self.text.into()),
            TokenKind::QuotedIdent => {
                let inner = self.text.strip_prefix('"')?;
                let inner = inner.strip_suffix('"').unwrap_or(inner);
                Some(if inner.contains("\"\"") {
                    inner.replace("\"\"", "\"").into()
                } else {
                    inner.into()
                })
            }
            _ => None,
        }
    }

    /// The end of the token in the input.
    pub fn end(&self) -> usize {
        self.start + self.text.len()
    }
}

/// The tokens of `text` other than whitespace and comments, lexed with
/// `standard_conforming_strings` on (as pg_dump writes definitions).
pub fn tokens(text: &str) -> Tokens<'_> {
    Tokens {
        text,
        pos: 0,
        depth: 0,
        std_strings: true,
        comments: false,
    }
}

/// Iterator over the tokens of a text (see [`tokens`]).
#[derive(Debug, Clone)]
pub struct Tokens<'a> {
    text: &'a str,
    pos: usize,
    depth: u32,
    std_strings: bool,
    comments: bool,
}

impl<'a> Tokens<'a> {
    /// Also yield comments.
    pub fn with_comments(mut self) -> Self {
        self.comments = true;
        self
    }

    /// Lex plain `'…'` strings with backslash escapes (`standard_conforming_strings` off).
    pub fn std_strings(mut self, on: bool) -> Self {
        self.std_strings = on;
        self
    }

    /// The end of the construct starting at `i` and its kind.
    fn construct_at(&self, i: usize) -> (usize, TokenKind) {
        construct_at(self.text.as_bytes(), i, self.std_strings)
    }
}

/// The end of the construct (token or comment) that starts at the non-blank byte `b[i]`, and its
/// kind. An unterminated literal, quoted name or block comment runs to the end of the text.
fn construct_at(b: &[u8], i: usize, std_strings: bool) -> (usize, TokenKind) {
    let (end, kind) = construct(b, i, std_strings);
    (end.unwrap_or(b.len()), kind)
}

/// [`construct_at`], with `None` for the end of a literal, quoted name or block comment that the
/// text ends inside.
fn construct(b: &[u8], i: usize, std_strings: bool) -> (Option<usize>, TokenKind) {
    let n = b.len();
    let c = b[i];
    if b[i..].starts_with(b"--") {
        let end = memchr::memchr(b'\n', &b[i..]).map_or(n, |p| i + p);
        return (Some(end), TokenKind::Comment);
    }
    if b[i..].starts_with(b"/*") {
        let mut depth = 1;
        return (scan_block(b, i + 2, &mut depth), TokenKind::Comment);
    }
    match c {
        b'\'' => {
            let backslash = escapes_backslash(b, i, None, std_strings);
            (scan_single(b, i + 1, backslash), TokenKind::String)
        }
        b'"' => (scan_double(b, i + 1), TokenKind::QuotedIdent),
        b'$' => match dollar_tag_end(b, i) {
            Some(tag_end) => (scan_dollar(b, tag_end, &b[i..tag_end]), TokenKind::String),
            None => {
                let digits = b[i + 1..].iter().take_while(|d| d.is_ascii_digit()).count();
                (Some(i + 1 + digits), TokenKind::Param)
            }
        },
        _ if is_ident_start(c) => {
            let mut j = i + 1;
            while j < n && is_ident_cont(b[j]) {
                j += 1;
            }
            // A prefixed string: E'…', B'…', X'…', N'…', U&'…'.
            let word = Some((i, j - i));
            if j < n && b[j] == b'\'' && j - i == 1 && b"eEbBxXnN".contains(&c) {
                let backslash = escapes_backslash(b, j, word, std_strings);
                return (scan_single(b, j + 1, backslash), TokenKind::String);
            }
            if j - i == 1 && (c == b'u' || c == b'U') && b[j..].starts_with(b"&'") {
                return (scan_single(b, j + 2, false), TokenKind::String);
            }
            (Some(j), TokenKind::Word)
        }
        _ if c.is_ascii_digit() => {
            let mut j = i + 1;
            while j < n && (is_ident_cont(b[j]) || b[j] == b'.') && b[j] != b'$' {
                j += 1;
            }
            (Some(j), TokenKind::Number)
        }
        _ => (Some(i + 1), TokenKind::Punct),
    }
}

impl<'a> Iterator for Tokens<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        let b = self.text.as_bytes();
        loop {
            while self.pos < b.len() && is_space(b[self.pos]) {
                self.pos += 1;
            }
            if self.pos >= b.len() {
                return None;
            }
            let start = self.pos;
            let (end, kind) = self.construct_at(start);
            // Every construct ends on a character boundary: at an ASCII byte or the text's end
            // (an escaped multi-byte character is skipped whole before the scan goes on).
            let end = (start + 1..=b.len())
                .find(|&e| e >= end && self.text.is_char_boundary(e))
                .unwrap_or(b.len());
            self.pos = end;
            if kind == TokenKind::Comment && !self.comments {
                continue;
            }
            let depth = self.depth;
            if kind == TokenKind::Punct {
                match b[start] {
                    b'(' => self.depth += 1,
                    b')' => self.depth = self.depth.saturating_sub(1),
                    _ => {}
                }
            }
            return Some(Token {
                kind,
                text: &self.text[start..end],
                start,
                depth,
            });
        }
    }
}

/// The end of the first statement of `text`: the index just after its `;` outside literals, quoted
/// names, comments and parentheses (`standard_conforming_strings` on), or `None` if it has none.
/// Works on bytes, whatever the text's encoding.
pub fn statement_end(text: &[u8]) -> Option<usize> {
    let mut i = 0;
    let mut depth = 0u32;
    while i < text.len() {
        if is_space(text[i]) {
            i += 1;
            continue;
        }
        let (end, kind) = construct_at(text, i, true);
        if kind == TokenKind::Punct {
            match text[i] {
                b'(' => depth += 1,
                b')' => depth = depth.saturating_sub(1),
                b';' if depth == 0 => return Some(i + 1),
                _ => {}
            }
        }
        i = end;
    }
    None
}

/// The statements of `text` (`standard_conforming_strings` on): each range runs from the
/// statement's first non-blank byte through its top-level `;` and the newline right after it. Text
/// after the last `;` is not a statement. `None` when the text ends inside a literal, a quoted name
/// or a block comment: such text cannot be split safely. Works on bytes, whatever the encoding.
pub fn statements(text: &[u8]) -> Option<Vec<std::ops::Range<usize>>> {
    let mut out = Vec::new();
    let mut start = None;
    let mut depth = 0u32;
    let mut i = 0;
    while i < text.len() {
        if is_space(text[i]) {
            i += 1;
            continue;
        }
        let begin = *start.get_or_insert(i);
        let (end, kind) = construct(text, i, true);
        let end = end?;
        if kind == TokenKind::Punct {
            match text[i] {
                b'(' => depth += 1,
                b')' => depth = depth.saturating_sub(1),
                b';' if depth == 0 => {
                    let stop = if text.get(end) == Some(&b'\n') {
                        end + 1
                    } else {
                        end
                    };
                    out.push(begin..stop);
                    start = None;
                    i = stop;
                    continue;
                }
                _ => {}
            }
        }
        i = end;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(TokenKind, &str)> {
        tokens(text).map(|t| (t.kind, t.text)).collect()
    }

    #[test]
    fn literals_quoted_names_and_comments_are_single_tokens() {
        use TokenKind::*;
        assert_eq!(
            kinds(r#"CHECK ((note <> 'REFERENCES other(id)'::text))"#),
            [
                (Word, "CHECK"),
                (Punct, "("),
                (Punct, "("),
                (Word, "note"),
                (Punct, "<"),
                (Punct, ">"),
                (String, "'REFERENCES other(id)'"),
                (Punct, ":"),
                (Punct, ":"),
                (Word, "text"),
                (Punct, ")"),
                (Punct, ")"),
            ]
        );
        assert_eq!(
            kinds(r#"ON public."TO" -- ON users"#),
            [
                (Word, "ON"),
                (Word, "public"),
                (Punct, "."),
                (QuotedIdent, "\"TO\"")
            ]
        );
        assert_eq!(
            kinds("a /* ON /* nested */ TO */ b"),
            [(Word, "a"), (Word, "b")]
        );
        assert_eq!(
            tokens("a /* x */ -- y\nb")
                .with_comments()
                .map(|t| t.kind)
                .collect::<Vec<_>>(),
            [Word, Comment, Comment, Word]
        );
    }

    #[test]
    fn strings_of_every_form() {
        use TokenKind::*;
        assert_eq!(kinds("'it''s ON x'"), [(String, "'it''s ON x'")]);
        assert_eq!(
            kinds(r"E'\' ON users' x"),
            [(String, r"E'\' ON users'"), (Word, "x")]
        );
        // A plain string does not escape with backslashes (standard_conforming_strings on).
        assert_eq!(
            kinds(r"'a\' ON x"),
            [(String, r"'a\'"), (Word, "ON"), (Word, "x")]
        );
        assert_eq!(
            tokens(r"'a\' ON x'")
                .std_strings(false)
                .map(|t| t.text)
                .collect::<Vec<_>>(),
            [r"'a\' ON x'"]
        );
        assert_eq!(
            kinds("U&'d\\0061t ON x' y"),
            [(String, "U&'d\\0061t ON x'"), (Word, "y")]
        );
        assert_eq!(kinds("X'1F' B'01'"), [(String, "X'1F'"), (String, "B'01'")]);
        assert_eq!(
            kinds("$body$ ON users $$ $b$ $body$ x"),
            [(String, "$body$ ON users $$ $b$ $body$"), (Word, "x")]
        );
        assert_eq!(kinds("$$ a $$"), [(String, "$$ a $$")]);
        assert_eq!(
            kinds("$1 + 2"),
            [(Param, "$1"), (Punct, "+"), (Number, "2")]
        );
        // A dollar inside a word does not open a quote.
        assert_eq!(kinds("a$b$ c"), [(Word, "a$b$"), (Word, "c")]);
    }

    #[test]
    fn unterminated_constructs_run_to_the_end() {
        use TokenKind::*;
        assert_eq!(kinds("x 'ON y"), [(Word, "x"), (String, "'ON y")]);
        assert_eq!(kinds("x \"ON y"), [(Word, "x"), (QuotedIdent, "\"ON y")]);
        assert_eq!(kinds("x $q$ ON y"), [(Word, "x"), (String, "$q$ ON y")]);
        assert_eq!(kinds("x /* /* */ ON"), [(Word, "x")]);
        assert_eq!(kinds("x E'\\"), [(Word, "x"), (String, "E'\\")]);
        assert_eq!(kinds("é 'é\\é'"), [(Word, "é"), (String, "'é\\é'")]);
        assert_eq!(kinds("E'\\é'"), [(String, "E'\\é'")]);
    }

    #[test]
    fn statement_ends_outside_quotes() {
        let sql = b"ALTER TABLE public.\"a;\nb\" ENABLE TRIGGER ALL; -- ;\nSELECT ';';";
        assert_eq!(statement_end(sql), Some(45));
        assert_eq!(statement_end(b"SELECT (1;2); x"), Some(13));
        assert_eq!(statement_end(b"SELECT $$;$$ /* ; */"), None);
        assert_eq!(statement_end(b"SELECT '\xff;' ;\n"), Some(13));
    }

    #[test]
    fn names_and_depth() {
        let t: Vec<Token<'_>> = tokens(r#"f("a""b", (x)) y"#).collect();
        assert_eq!(t[2].ident().as_deref(), Some("a\"b"));
        assert_eq!(t[0].ident().as_deref(), Some("f"));
        assert_eq!(t[3].ident(), None);
        let depths: Vec<u32> = t.iter().map(|t| t.depth).collect();
        assert_eq!(depths, [0, 0, 1, 1, 1, 2, 2, 1, 0]);
        assert!(t[1].is_punct('('));
        assert!(tokens("ON").next().unwrap().is_word("ON"));
        assert!(!tokens("on").next().unwrap().is_word("ON"));
    }

    #[test]
    fn statements_split_around_literals_identifiers_and_comments() {
        let body = b"A 'x;''y';\nB \"q;\"\"\";C E'\\';';  -- c;\nD $f$ ; $f$;\nrest";
        let stmts: Vec<&[u8]> = statements(body)
            .unwrap()
            .into_iter()
            .map(|r| &body[r])
            .collect();
        assert_eq!(
            stmts,
            vec![
                &b"A 'x;''y';\n"[..],
                b"B \"q;\"\"\";",
                b"C E'\\';';",
                b"-- c;\nD $f$ ; $f$;\n",
            ]
        );
        assert_eq!(statements(b"A 'open;"), None);
        assert_eq!(statements(b"A /* /* */ ; */ B;").unwrap(), vec![0..18]);
        assert_eq!(statements(b"A (x; y);").unwrap(), vec![0..9]);
    }
}
