//! The steps of `finish`, once the whole dump has been read: number the entries, complete what
//! depends on the whole TOC (drop statements of attached indexes, dependencies), then lay the
//! archive out: header, TOC with the data offsets, and the spooled data blocks in TOC order (a
//! streamed archive writes the TOC without offsets first, and again with them at the end where
//! the output can be patched).

use std::collections::HashSet;
use std::io::{BufReader, Read};
use std::path::Path;

use super::ddl::{Ddl, Marker};
use super::format::*;
use super::from_plain::Pending;
use super::resolve::Resolver;
use super::spool::io_err;
use super::toc::{Kind, TocEntry};
use crate::dump::Preamble;
use crate::sink::{ArtifactOutput, SinkError};

/// Dump ids: pg_dump -v ones when every entry has a unique one (the special entries then come
/// after the largest), else 1..N in TOC order (and the -v dependencies are dropped with them).
pub fn assign_dump_ids(specials: &mut [TocEntry], entries: &mut [Pending]) {
    let mut seen = HashSet::new();
    let verbose = !entries.is_empty()
        && entries
            .iter()
            .all(|e| e.toc.dump_id > 0 && seen.insert(e.toc.dump_id));
    let mut next = if verbose {
        entries.iter().map(|e| e.toc.dump_id).max().unwrap_or(0)
    } else {
        0
    };
    for s in specials.iter_mut() {
        next += 1;
        s.dump_id = next;
    }
    if !verbose {
        for e in entries.iter_mut() {
            next += 1;
            e.toc.dump_id = next;
            e.verbose_deps.clear();
        }
    }
}

/// An index attached to a partitioned index cannot be dropped on its own: pg_dump gives it an
/// empty drop statement (pg_restore -c drops it with its parent).
pub fn empty_drops_of_attached_indexes(entries: &mut [Pending]) {
    let attached: HashSet<(Option<String>, String)> = entries
        .iter()
        .filter(|e| e.toc.desc == Kind::IndexAttach)
        .filter_map(|e| Ddl::new(&e.toc.defn_text()).table_after(Marker::AttachPartition))
        .collect();
    for e in entries.iter_mut() {
        if e.toc.desc == Kind::Index
            && attached.contains(&(e.toc.namespace.clone(), e.toc.tag.clone()))
        {
            e.toc.drop_stmt = Some(String::new());
        }
    }
}

/// Resolve every entry's references into its dependencies.
pub fn resolve_dependencies(specials: &[TocEntry], entries: &mut [Pending]) {
    let mut resolver = Resolver::default();
    for s in specials {
        resolver.add(s);
    }
    for e in entries.iter() {
        resolver.add(&e.toc);
    }
    // The data of an extension's configuration table (pg_extension_config_dump, as PostGIS's
    // spatial_ref_sys) comes without a TABLE entry: the extension creates the table. pg_dump's own
    // archive names the table's dump id, which has no entry; here the data depends on the entries
    // that can create the table, the extensions (a plain dump does not say which one).
    let extensions: Vec<i32> = entries
        .iter()
        .filter(|e| e.toc.desc == Kind::Extension)
        .map(|e| e.toc.dump_id)
        .collect();
    let mut previous = None;
    for e in entries.iter_mut() {
        let mut deps = resolver.resolve(&e.refs, previous);
        // (A data-only dump has no TABLE entries at all: its data depends on nothing here, as its
        // tables are not in the archive.)
        if e.toc.desc == Kind::TableData && deps.is_empty() {
            deps = extensions.clone();
        }
        for d in &e.verbose_deps {
            if !deps.contains(d) {
                deps.push(*d);
            }
        }
        deps.retain(|d| *d != e.toc.dump_id);
        e.toc.dependencies = deps;
        if !e.toc.desc.is_about_another() {
            previous = Some(e.toc.dump_id);
        }
    }
}

/// The archive header: magic, version 1.14, sizes, compression, the dump's start time, database
/// name and versions.
pub fn header_bytes(preamble: &Preamble, dbname: &str, compression: i32) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[VMAJ, VMIN, VREV, INT_SIZE, OFF_SIZE, FORMAT_CUSTOM]);
    put_int(&mut out, compression);
    let tm = preamble
        .started_on
        .as_deref()
        .and_then(parse_started_on)
        .unwrap_or_else(now_tm);
    for v in tm {
        put_int(&mut out, v);
    }
    put_str(&mut out, Some(dbname));
    put_str(
        &mut out,
        Some(preamble.server_version.as_deref().unwrap_or("")),
    );
    put_str(
        &mut out,
        Some(preamble.pg_dump_version.as_deref().unwrap_or("")),
    );
    out
}

/// `2026-11-22 03:16:48 UTC` → [sec, min, hour, mday, mon (0-based), year - 1900, isdst].
fn parse_started_on(s: &str) -> Option<[i32; 7]> {
    let mut parts = s.split_whitespace();
    let date = parts.next()?;
    let time = parts.next()?;
    let d: Vec<i32> = date
        .split('-')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let t: Vec<i32> = time
        .split(':')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    if d.len() != 3 || t.len() != 3 {
        return None;
    }
    Some([t[2], t[1], t[0], d[2], d[1] - 1, d[0] - 1900, 0])
}

fn now_tm() -> [i32; 7] {
    let now = time::OffsetDateTime::now_utc();
    [
        i32::from(now.second()),
        i32::from(now.minute()),
        i32::from(now.hour()),
        i32::from(now.day()),
        i32::from(u8::from(now.month())) - 1,
        now.year() - 1900,
        0,
    ]
}

pub fn encode_toc(specials: &[TocEntry], entries: &[Pending]) -> Vec<u8> {
    let mut out = Vec::new();
    put_int(&mut out, (specials.len() + entries.len()) as i32);
    for s in specials {
        s.encode(&mut out);
    }
    for e in entries {
        e.toc.encode(&mut out);
    }
    out
}

/// The TOC with each data entry's offset set: the blocks follow the header and the TOC in TOC
/// order. (The TOC's length does not depend on the offsets' values, so one encoding finds it.)
pub fn toc_with_offsets(
    header_len: u64,
    specials: &[TocEntry],
    entries: &mut [Pending],
) -> Vec<u8> {
    let toc_len = encode_toc(specials, entries).len() as u64;
    let mut pos = header_len + toc_len;
    for e in entries.iter_mut() {
        if let Some((_, len)) = e.data {
            e.toc.offset = (POS_SET, pos);
            pos += 1 + INT_LEN as u64 + len;
        }
    }
    let toc = encode_toc(specials, entries);
    debug_assert_eq!(toc.len() as u64, toc_len);
    toc
}

/// Copy the spooled data blocks to `out` in TOC order, each after its block header.
pub fn copy_blocks(
    out: &mut ArtifactOutput,
    spool: std::fs::File,
    spool_path: &Path,
    entries: &[Pending],
) -> Result<(), SinkError> {
    let mut spool = BufReader::with_capacity(1 << 20, spool);
    let mut at = 0u64;
    for e in entries {
        if let Some((start, len)) = e.data {
            debug_assert_eq!(start, at);
            let mut head = vec![e.block_type];
            put_int(&mut head, e.toc.dump_id);
            out.write_all(&head)?;
            let copied = std::io::copy(&mut (&mut spool).take(len), out)
                .map_err(|e| io_err(spool_path, e))?;
            if copied != len {
                return Err(io_err(spool_path, std::io::ErrorKind::UnexpectedEof.into()));
            }
            at += len;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn started_on_is_converted_to_tm() {
        assert_eq!(
            parse_started_on("2026-11-22 03:16:48 UTC"),
            Some([48, 16, 3, 22, 10, 126, 0])
        );
        assert_eq!(parse_started_on("garbage"), None);
    }
}
