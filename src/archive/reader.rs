//! Reading custom-format archives (ours or pg_dump's): header, TOC and data blocks. `inspect`
//! renders them like `pg_restore -l`, plus each entry's data offset and compressed block size.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use super::format::*;
use super::toc::{Kind, Section, TocEntry};

#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    #[error("reading {path}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {what}")]
    Format { path: String, what: String },
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchiveHeader {
    pub version: (u8, u8, u8),
    pub int_size: u8,
    pub off_size: u8,
    pub format: u8,
    /// The compression Int (≤ 1.14) or the algorithm byte (1.15+).
    pub compression: i64,
    /// sec, min, hour, mday, mon, year, isdst.
    pub tm: [i64; 7],
    pub dbname: Option<String>,
    pub server_version: Option<String>,
    pub pg_dump_version: Option<String>,
}

/// A data block found in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockInfo {
    pub position: u64,
    pub block_type: u8,
    /// Sum of chunk lengths (compressed bytes).
    pub payload: u64,
    pub chunks: u64,
}

pub struct Archive {
    pub header: ArchiveHeader,
    pub entries: Vec<TocEntry>,
    /// Blocks by dumpId (the last one when a damaged archive has several with one id).
    pub blocks: HashMap<i32, BlockInfo>,
    /// Every block in file order with the dumpId it carries, so that a reader can tell a block
    /// missing, duplicated or carrying an id no entry has (a damaged archive) from a sound one.
    pub blocks_in_order: Vec<(i32, BlockInfo)>,
    /// Position just after the TOC.
    pub toc_end: u64,
}

fn open(path: &Path) -> Result<ArchiveReader<BufReader<File>>, InspectError> {
    let f = File::open(path).map_err(|source| InspectError::Io {
        path: path.display().to_string(),
        source,
    })?;
    Ok(ArchiveReader::new(BufReader::new(f)))
}

/// Read an archive's header, TOC and the layout of its data blocks.
pub fn read_archive(path: &Path) -> Result<Archive, InspectError> {
    let p = path.display().to_string();
    let mut r = open(path)?;
    let (header, entries) = read_header_and_toc(&mut r, &p)?;
    let toc_end = r.pos;

    let (blocks, blocks_in_order) = walk_blocks(&mut r, &p)?;
    Ok(Archive {
        header,
        entries,
        blocks,
        blocks_in_order,
        toc_end,
    })
}

/// Read only the header and the TOC from `src` (e.g. pg_dump's output pipe, before its data):
/// the header, the entries, and the bytes read. `what` names the source in errors.
pub fn read_toc_from<R: Read>(
    src: R,
    what: &str,
) -> Result<(ArchiveHeader, Vec<TocEntry>, Vec<u8>), InspectError> {
    let mut r = ArchiveReader::new(Recorder {
        inner: src,
        bytes: Vec::new(),
    });
    let (header, entries) = read_header_and_toc(&mut r, what)?;
    Ok((header, entries, r.into_inner().bytes))
}

/// A reader that keeps a copy of what was read through it.
struct Recorder<R> {
    inner: R,
    bytes: Vec<u8>,
}

impl<R: Read> Read for Recorder<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

fn read_header_and_toc<R: Read>(
    r: &mut ArchiveReader<R>,
    p: &str,
) -> Result<(ArchiveHeader, Vec<TocEntry>), InspectError> {
    let io = |source: std::io::Error| InspectError::Io {
        path: p.to_string(),
        source,
    };
    let bad = |what: String| InspectError::Format {
        path: p.to_string(),
        what,
    };
    if r.bytes(5).map_err(io)? != MAGIC {
        return Err(bad("not a custom-format archive (no PGDMP magic)".into()));
    }
    let mut h = ArchiveHeader {
        version: (r.byte().map_err(io)?, r.byte().map_err(io)?, 0),
        ..ArchiveHeader::default()
    };
    if h.version.0 != 1 || !(12..=16).contains(&h.version.1) {
        return Err(bad(format!(
            "unsupported archive version {}.{}",
            h.version.0, h.version.1
        )));
    }
    h.version.2 = r.byte().map_err(io)?;
    h.int_size = r.byte().map_err(io)?;
    h.off_size = r.byte().map_err(io)?;
    h.format = r.byte().map_err(io)?;
    if h.format != FORMAT_CUSTOM {
        return Err(bad(format!("format {} is not custom (1)", h.format)));
    }
    r.int_size = h.int_size as usize;
    r.off_size = h.off_size as usize;
    let vmin = h.version.1;
    h.compression = if vmin >= 15 {
        i64::from(r.byte().map_err(io)?)
    } else {
        r.int().map_err(io)?
    };
    for v in &mut h.tm {
        *v = r.int().map_err(io)?;
    }
    h.dbname = r.str().map_err(io)?;
    h.server_version = r.str().map_err(io)?;
    h.pg_dump_version = r.str().map_err(io)?;

    let count = r.int().map_err(io)?;
    if count < 0 {
        return Err(bad(format!("negative TOC count {count}")));
    }
    // The count comes from the file: it may not be backed by entries (a hostile archive).
    let mut entries = Vec::with_capacity((count as usize).min(1 << 12));
    for _ in 0..count {
        entries.push(read_entry(r, vmin).map_err(io)?);
    }
    Ok((h, entries))
}

/// One TOC entry, laid out as archive version 1.`vmin` has it.
fn read_entry<R: Read>(r: &mut ArchiveReader<R>, vmin: u8) -> std::io::Result<TocEntry> {
    let mut e = TocEntry {
        dump_id: r.int()? as i32,
        had_dumper: r.int()? != 0,
        ..TocEntry::default()
    };
    e.tableoid = r.str()?.unwrap_or_default();
    e.oid = r.str()?.unwrap_or_default();
    e.tag = r.str()?.unwrap_or_default();
    e.desc = Kind::parse(&r.str()?.unwrap_or_default());
    e.section = Section::from_code(r.int()? as i32);
    e.defn = r.str()?.map(String::into_bytes);
    e.drop_stmt = r.str()?;
    e.copy_stmt = r.str()?;
    e.namespace = r.str()?;
    e.tablespace = r.str()?;
    if vmin >= 14 {
        e.tableam = r.str()?;
    }
    if vmin >= 16 {
        r.int()?; // relkind
    }
    e.owner = r.str()?;
    e.with_oids = r.str()?;
    while let Some(d) = r.str()? {
        e.dependencies.push(d.parse().unwrap_or(0));
    }
    e.offset = r.offset()?;
    Ok(e)
}

/// The data blocks after the TOC, walked in file order (works with and without offsets).
#[allow(clippy::type_complexity)]
fn walk_blocks<R: Read>(
    r: &mut ArchiveReader<R>,
    p: &str,
) -> Result<(HashMap<i32, BlockInfo>, Vec<(i32, BlockInfo)>), InspectError> {
    let io = |source: std::io::Error| InspectError::Io {
        path: p.to_string(),
        source,
    };
    let bad = |what: String| InspectError::Format {
        path: p.to_string(),
        what,
    };
    let mut blocks = HashMap::new();
    let mut blocks_in_order = Vec::new();
    while let Some(block_type) = r.try_byte().map_err(io)? {
        let position = r.pos - 1;
        let id = r.int().map_err(io)? as i32;
        let mut info = BlockInfo {
            position,
            block_type,
            payload: 0,
            chunks: 0,
        };
        let read_chunks = |r: &mut ArchiveReader<_>, info: &mut BlockInfo| loop {
            let len = r.int().map_err(io)?;
            if len == 0 {
                return Ok::<_, InspectError>(());
            }
            if len < 0 {
                return Err(bad(format!("negative chunk length in block {id}")));
            }
            r.skip(len as u64).map_err(io)?;
            info.payload += len as u64;
            info.chunks += 1;
        };
        match block_type {
            BLK_DATA => read_chunks(r, &mut info)?,
            BLK_BLOBS => loop {
                let oid = r.int().map_err(io)?;
                if oid == 0 {
                    break;
                }
                read_chunks(r, &mut info)?;
            },
            other => {
                return Err(bad(format!(
                    "unknown block type {other} at position {position}"
                )))
            }
        }
        blocks.insert(id, info);
        blocks_in_order.push((id, info));
    }
    Ok((blocks, blocks_in_order))
}

/// The uncompressed content of the data block of entry `dump_id` (COPY text for TABLE DATA).
pub fn read_table_data(path: &Path, dump_id: i32) -> Result<Vec<u8>, InspectError> {
    let archive = read_archive(path)?;
    let p = path.display().to_string();
    let io = |source: std::io::Error| InspectError::Io {
        path: p.clone(),
        source,
    };
    let block = archive
        .blocks
        .get(&dump_id)
        .copied()
        .ok_or_else(|| InspectError::Format {
            path: p.clone(),
            what: format!("no data block for dumpId {dump_id}"),
        })?;
    let mut f = File::open(path).map_err(io)?;
    f.seek(SeekFrom::Start(block.position)).map_err(io)?;
    let mut r = ArchiveReader::new(BufReader::new(f));
    r.int_size = archive.header.int_size as usize;
    r.byte().map_err(io)?;
    r.int().map_err(io)?;
    let mut raw = Vec::new();
    loop {
        let len = r.int().map_err(io)?;
        if len <= 0 {
            break;
        }
        raw.extend(r.bytes(len as usize).map_err(io)?);
    }
    if archive.header.compression == 0 {
        return Ok(raw);
    }
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(&raw[..])
        .read_to_end(&mut out)
        .map_err(io)?;
    Ok(out)
}

/// Render an archive like `pg_restore -l`, with offsets and data block sizes.
pub fn inspect(path: &Path) -> Result<String, InspectError> {
    let a = read_archive(path)?;
    let h = &a.header;
    let mut s = String::new();
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let _ = writeln!(s, ";");
    let _ = writeln!(
        s,
        "; Archive created at {:04}-{:02}-{:02} {:02}:{:02}:{:02} ({} {})",
        h.tm[5] + 1900,
        h.tm[4] + 1,
        h.tm[3],
        h.tm[2],
        h.tm[1],
        h.tm[0],
        months.get(h.tm[4] as usize).unwrap_or(&"?"),
        h.tm[3]
    );
    let _ = writeln!(s, ";     dbname: {}", h.dbname.as_deref().unwrap_or(""));
    let _ = writeln!(s, ";     TOC Entries: {}", a.entries.len());
    let _ = writeln!(s, ";     Compression: {}", h.compression);
    let _ = writeln!(
        s,
        ";     Dump Version: {}.{}-{}",
        h.version.0, h.version.1, h.version.2
    );
    let _ = writeln!(s, ";     Format: CUSTOM");
    let _ = writeln!(s, ";     Integer: {} bytes", h.int_size);
    let _ = writeln!(s, ";     Offset: {} bytes", h.off_size);
    let _ = writeln!(
        s,
        ";     Dumped from database version: {}",
        h.server_version.as_deref().unwrap_or("")
    );
    let _ = writeln!(
        s,
        ";     Dumped by pg_dump version: {}",
        h.pg_dump_version.as_deref().unwrap_or("")
    );
    let _ = writeln!(s, ";     TOC ends at: {}", a.toc_end);
    let _ = writeln!(s, ";\n;\n; Selected TOC Entries:\n;");
    for e in &a.entries {
        let _ = write!(
            s,
            "{}; {} {} {} {} {} {}",
            e.dump_id,
            e.tableoid,
            e.oid,
            e.desc,
            e.namespace.as_deref().unwrap_or("-"),
            e.tag,
            e.owner.as_deref().unwrap_or("")
        );
        let flag = match e.offset.0 {
            POS_SET => format!("offset {}", e.offset.1),
            POS_NOT_SET => "offset not set".to_string(),
            NO_DATA => String::new(),
            f => format!("offset flag {f}"),
        };
        if e.had_dumper || !flag.is_empty() {
            let _ = write!(s, " ; {flag}");
            match a.blocks.get(&e.dump_id) {
                Some(b) => {
                    let _ = write!(
                        s,
                        "; block at {}, {} bytes in {} chunks",
                        b.position, b.payload, b.chunks
                    );
                }
                None if e.had_dumper => {
                    let _ = write!(s, "; NO DATA BLOCK");
                }
                None => {}
            }
        }
        if !e.dependencies.is_empty() {
            let deps: Vec<String> = e.dependencies.iter().map(|d| d.to_string()).collect();
            let _ = write!(s, " ; deps {}", deps.join(" "));
        }
        s.push('\n');
    }
    Ok(s)
}
