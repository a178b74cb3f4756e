//! What the direct read reads: for each TABLE DATA entry, the `COPY … TO STDOUT` statements that
//! give its rows in pg_dump's order. pg_dump reads a table with `COPY table (columns) TO stdout`
//! (a sequential scan: rows in block order, since pg_dump and this client turn synchronized scans
//! off), or `COPY (SELECT columns FROM table filter) TO stdout` for an extension's configuration
//! table with a filter and for a foreign table. With more than one connection, a plain table of at
//! least twice `split_blocks` blocks on PostgreSQL 14 or later is read instead as consecutive block
//! ranges (TID range scans, `ctid >= '(a,0)' AND ctid < '(b,0)'`, the last range open-ended so that
//! blocks added since the size was taken are read too): the ranges joined in order are the
//! sequential scan's rows.

use super::toc::TocItem;

/// Blocks per range when a table is split (`PGVEIL_DIRECT_SPLIT_BLOCKS` overrides it; the tests
/// use a small value to split small tables). 1024 blocks = 8 MiB of heap: small enough that the
/// reorder channel of a range ([`super::reader::CHANNEL_BATCHES`]) usually holds all its rows, so
/// a connection reading ahead of the one whose rows are written now does not wait for it.
pub const DEFAULT_SPLIT_BLOCKS: u64 = 1024;

/// What the catalog says of a table whose data is read.
#[derive(Debug, Clone)]
pub struct TableInfo {
    pub relkind: String,
    /// Heap blocks now (`pg_relation_size / block_size`).
    pub blocks: u64,
    /// The extension configuration filter (`WHERE …`), when the table is one with a filter.
    pub filter: Option<String>,
}

/// One COPY statement; its rows are those of entry `item` (an index into the data items).
#[derive(Debug, Clone)]
pub struct Unit {
    pub item: usize,
    pub sql: String,
}

/// `COPY target (columns) FROM stdin;\n` → (`target`, `(columns)` or empty), split at the first
/// space outside double quotes.
fn split_copy(copy_stmt: &str) -> Option<(&str, &str)> {
    let inner = copy_stmt
        .strip_prefix("COPY ")?
        .strip_suffix(" FROM stdin;\n")?;
    let mut quoted = false;
    for (i, c) in inner.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ' ' if !quoted => return Some((&inner[..i], inner[i + 1..].trim())),
            _ => {}
        }
    }
    Some((inner, ""))
}

/// The statements for entry `index`.
pub fn units_for(
    index: usize,
    item: &TocItem,
    info: &TableInfo,
    split_blocks: u64,
    tid_range_scans: bool,
) -> Result<Vec<Unit>, String> {
    let (target, columns) = split_copy(&item.copy_stmt)
        .ok_or_else(|| format!("cannot read the COPY statement of {:?}", item.tag))?;
    let select_list = match columns.strip_prefix('(').and_then(|c| c.strip_suffix(')')) {
        Some(c) if !c.is_empty() => format!("{c} "),
        _ => "* ".to_string(),
    };
    let unit = |sql: String| Unit { item: index, sql };
    if info.filter.is_some() || info.relkind == "f" {
        // pg_dump's own form for these (no ONLY: it reads inheritance children too).
        return Ok(vec![unit(format!(
            "COPY (SELECT {select_list}FROM {target} {}) TO stdout;",
            info.filter.as_deref().unwrap_or("")
        ))]);
    }
    let whole = unit(format!("COPY {target} {columns} TO stdout;"));
    if !tid_range_scans
        || info.relkind != "r"
        || columns.is_empty()
        || info.blocks < split_blocks * 2
    {
        return Ok(vec![whole]);
    }
    let ranges = info.blocks.div_ceil(split_blocks);
    let mut units = Vec::new();
    for r in 0..ranges {
        let from = r * split_blocks;
        let cond = if r + 1 == ranges {
            format!("ctid >= '({from},0)'")
        } else {
            format!(
                "ctid >= '({from},0)' AND ctid < '({},0)'",
                from + split_blocks
            )
        };
        units.push(unit(format!(
            "COPY (SELECT {select_list}FROM ONLY {target} WHERE {cond}) TO stdout;"
        )));
    }
    Ok(units)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(copy: &str) -> TocItem {
        TocItem {
            copy_stmt: copy.into(),
            ..TocItem::default()
        }
    }

    #[test]
    fn copy_statements_split_outside_quotes() {
        assert_eq!(
            split_copy("COPY \"Sales Data\".\"Order Lines\" (\"Line No\", a) FROM stdin;\n"),
            Some(("\"Sales Data\".\"Order Lines\"", "(\"Line No\", a)"))
        );
        assert_eq!(
            split_copy("COPY app.no_columns  FROM stdin;\n"),
            Some(("app.no_columns", ""))
        );
    }

    #[test]
    fn large_tables_are_read_as_block_ranges() {
        let info = TableInfo {
            relkind: "r".into(),
            blocks: 25,
            filter: None,
        };
        let it = item("COPY s.t (a, b) FROM stdin;\n");
        let units = units_for(3, &it, &info, 10, true).unwrap();
        let sql: Vec<_> = units.iter().map(|u| u.sql.as_str()).collect();
        assert_eq!(
            sql,
            [
                "COPY (SELECT a, b FROM ONLY s.t WHERE ctid >= '(0,0)' AND ctid < '(10,0)') TO stdout;",
                "COPY (SELECT a, b FROM ONLY s.t WHERE ctid >= '(10,0)' AND ctid < '(20,0)') TO stdout;",
                "COPY (SELECT a, b FROM ONLY s.t WHERE ctid >= '(20,0)') TO stdout;",
            ]
        );
        assert_eq!(units_for(3, &it, &info, 10, false).unwrap().len(), 1);
        assert_eq!(
            units_for(3, &it, &info, 20, true).unwrap()[0].sql,
            "COPY s.t (a, b) TO stdout;"
        );
        let ext = TableInfo {
            filter: Some("WHERE x > 1".into()),
            ..info
        };
        assert_eq!(
            units_for(0, &it, &ext, 10, true).unwrap()[0].sql,
            "COPY (SELECT a, b FROM s.t WHERE x > 1) TO stdout;"
        );
    }
}
