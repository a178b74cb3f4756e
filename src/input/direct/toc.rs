//! The table of contents of `pg_dump -Fc`, read from the start of its output as it streams: the
//! header and every TOC entry, and nothing after them. pg_dump writes the whole TOC (data entries
//! included, their offsets not yet known) before it reads any table, so the direct read learns
//! from pg_dump itself which data entries a dump has, in which order, with which COPY statement,
//! for exactly the options given (`-t`, `-n`, `--exclude-table-data`, extension configuration
//! tables …), and then stops it.

use std::io::{self, Read};

/// What the direct read needs of one TOC entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TocItem {
    pub dump_id: i32,
    pub had_dumper: bool,
    /// The catalog OID (for TABLE DATA: the table's).
    pub oid: u32,
    pub tag: String,
    pub desc: String,
    /// 1 none, 2 pre-data, 3 data, 4 post-data.
    pub section: i32,
    pub defn: String,
    pub copy_stmt: String,
    pub namespace: Option<String>,
    pub owner: Option<String>,
}

pub const SECTION_NONE: i32 = 1;
pub const SECTION_DATA: i32 = 3;

struct R<S> {
    src: S,
    int_size: usize,
    off_size: usize,
}

impl<S: Read> R<S> {
    fn byte(&mut self) -> io::Result<u8> {
        let mut b = [0u8; 1];
        self.src.read_exact(&mut b)?;
        Ok(b[0])
    }

    fn int(&mut self) -> io::Result<i64> {
        let negative = self.byte()? != 0;
        let mut v: i64 = 0;
        for i in 0..self.int_size {
            v |= i64::from(self.byte()?) << (8 * i);
        }
        Ok(if negative { -v } else { v })
    }

    fn str(&mut self) -> io::Result<Option<String>> {
        let len = self.int()?;
        if len < 0 {
            return Ok(None);
        }
        if len > (1 << 30) {
            return Err(io::Error::other("a TOC string longer than 1 GiB"));
        }
        let mut buf = vec![0u8; len as usize];
        self.src.read_exact(&mut buf)?;
        Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
    }
}

/// Read the header and the TOC from `src`, leaving the data blocks unread.
pub fn read_toc(src: impl Read) -> io::Result<Vec<TocItem>> {
    let bad = |what: String| io::Error::new(io::ErrorKind::InvalidData, what);
    let mut r = R {
        src,
        int_size: 4,
        off_size: 8,
    };
    let mut magic = [0u8; 5];
    r.src.read_exact(&mut magic)?;
    if &magic != b"PGDMP" {
        return Err(bad("pg_dump -Fc wrote no PGDMP header".into()));
    }
    let (vmaj, vmin, _rev) = (r.byte()?, r.byte()?, r.byte()?);
    if vmaj != 1 || !(12..=16).contains(&vmin) {
        return Err(bad(format!("archive version {vmaj}.{vmin} is not known")));
    }
    r.int_size = r.byte()? as usize;
    r.off_size = r.byte()? as usize;
    if !(1..=8).contains(&r.int_size) || !(1..=8).contains(&r.off_size) {
        return Err(bad("bad integer sizes in the archive header".into()));
    }
    let _format = r.byte()?;
    if vmin >= 15 {
        r.byte()?;
    } else {
        r.int()?;
    }
    for _ in 0..7 {
        r.int()?;
    }
    for _ in 0..3 {
        r.str()?;
    }
    let count = r.int()?;
    let mut items = Vec::new();
    for _ in 0..count.max(0) {
        let dump_id = r.int()? as i32;
        let had_dumper = r.int()? != 0;
        let _tableoid = r.str()?;
        let oid = r.str()?.and_then(|s| s.parse().ok()).unwrap_or(0);
        let tag = r.str()?.unwrap_or_default();
        let desc = r.str()?.unwrap_or_default();
        let section = r.int()? as i32;
        let defn = r.str()?.unwrap_or_default();
        let _drop = r.str()?;
        let copy_stmt = r.str()?.unwrap_or_default();
        let namespace = r.str()?;
        let _tablespace = r.str()?;
        if vmin >= 14 {
            r.str()?; // table access method
        }
        if vmin >= 16 {
            r.int()?; // relkind
        }
        let owner = r.str()?;
        let _with_oids = r.str()?;
        while r.str()?.is_some() {}
        // The data offset: a flag byte and off_size bytes.
        r.byte()?;
        for _ in 0..r.off_size {
            r.byte()?;
        }
        items.push(TocItem {
            dump_id,
            had_dumper,
            oid,
            tag,
            desc,
            section,
            defn,
            copy_stmt,
            namespace,
            owner,
        });
    }
    Ok(items)
}
