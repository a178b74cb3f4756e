//! Where the data goes in the plain dump, and how pg_dump prints a data entry.
//!
//! A plain dump prints its TOC entries in TOC order in three passes (main, ACLs, then event
//! triggers and materialized view refreshes); every data-section entry is in the main pass between
//! the last pre-data and the first post-data entry. So `pg_dump --section=pre-data
//! --section=post-data` of the same snapshot, with the same options, is the whole dump less the data
//! section, and the data section goes back in at one place: before the first printed entry that
//! follows the data section in the TOC (or, with none, before the ACL pass or the trailer).
//! pg_dump prints a TABLE DATA entry as a header comment, the COPY statement, the rows and `\.`,
//! and a SEQUENCE SET as a header comment and its `setval` call ([`data_header`], [`sequence_block`],
//! pg_restore's `_printTocEntry`). Any other entry in the data section (large objects …) is
//! [`DirectError::Unsupported`]: the caller reads through pg_dump.

use std::collections::HashSet;

use super::toc::{TocItem, SECTION_DATA, SECTION_NONE};
use super::DirectError;
use crate::dump::{DumpReader, Event};

/// The dump's data section, as the TOC lists it.
pub struct DataSection<'a> {
    /// The data entries in dump order (TABLE DATA and SEQUENCE SET).
    pub items: Vec<&'a TocItem>,
    /// Keys (desc, tag, schema as printed) of main-pass entries after the data section.
    after: HashSet<(String, String, String)>,
    /// The same for entries before it.
    before: HashSet<(String, String, String)>,
}

/// pg_restore's `sanitize_line`: line breaks become spaces; an absent value is `-` where asked.
fn sanitize(s: Option<&str>, want_hyphen: bool) -> String {
    match s {
        None => (if want_hyphen { "-" } else { "" }).to_string(),
        Some(s) => s.replace(['\n', '\r'], " "),
    }
}

fn key(desc: &str, tag: &str, ns: Option<&str>) -> (String, String, String) {
    (
        desc.to_string(),
        sanitize(Some(tag), false),
        sanitize(ns, true),
    )
}

/// pg_restore's restore passes: ACLs after everything, then event triggers and matview refreshes.
fn is_main_pass(item: &TocItem) -> bool {
    let late_comment = (item.desc == "COMMENT" || item.desc == "SECURITY LABEL")
        && item.tag.starts_with("EVENT TRIGGER ");
    !matches!(
        item.desc.as_str(),
        "ACL" | "ACL LANGUAGE" | "DEFAULT ACL" | "EVENT TRIGGER" | "MATERIALIZED VIEW DATA"
    ) && !late_comment
}

/// The data section of `toc`; an entry there other than TABLE DATA or SEQUENCE SET is refused.
pub fn data_section(toc: &[TocItem]) -> Result<DataSection<'_>, DirectError> {
    let mut section = SECTION_NONE;
    let mut items = Vec::new();
    let mut after = HashSet::new();
    let mut before = HashSet::new();
    for item in toc {
        if item.section != SECTION_NONE {
            section = item.section;
        }
        if section == SECTION_DATA {
            let table_data =
                item.desc == "TABLE DATA" && item.had_dumper && item.copy_stmt.starts_with("COPY ");
            if !(table_data || item.desc == "SEQUENCE SET" && !item.had_dumper) {
                return Err(DirectError::Unsupported(format!(
                    "the data entry {:?} of type {}",
                    item.tag, item.desc
                )));
            }
            items.push(item);
            continue;
        }
        let k = key(&item.desc, &item.tag, item.namespace.as_deref());
        if items.is_empty() {
            before.insert(k);
        } else if is_main_pass(item) {
            after.insert(k);
        }
    }
    Ok(DataSection {
        items,
        after,
        before,
    })
}

impl DataSection<'_> {
    /// Where the data section goes in the plain dump without it (`schema`): see the module header.
    pub fn boundary(&self, schema: &[u8]) -> Result<usize, DirectError> {
        let mut reader = DumpReader::new(schema);
        let mut at = 0usize;
        let mut late: Option<usize> = None;
        let mut found = None;
        let bad = |what: String| DirectError::Invalid(format!("the schema dump: {what}"));
        while let Some(event) = reader.next_event().map_err(|e| bad(e.to_string()))? {
            let len = match event {
                Event::Preamble(p) => p.text.len(),
                Event::Entry(e) => {
                    let h = &e.header;
                    let k = key(&h.desc, &h.tag, h.namespace.as_deref());
                    if found.is_none() && self.after.contains(&k) && !self.before.contains(&k) {
                        found = Some(at);
                    }
                    let acl_like = matches!(
                        h.desc.as_str(),
                        "ACL" | "DEFAULT ACL" | "EVENT TRIGGER" | "MATERIALIZED VIEW DATA"
                    );
                    if late.is_none() && acl_like {
                        late = Some(at);
                    }
                    e.text.len()
                }
                Event::Trailer(t) => {
                    if late.is_none() {
                        late = Some(at);
                    }
                    t.len()
                }
                _ => return Err(bad("it has data".into())),
            };
            at += len;
        }
        if at != schema.len() {
            return Err(bad("its events do not add up to it".into()));
        }
        found
            .or(late)
            .ok_or_else(|| bad("no place for the data".into()))
    }
}

/// The header comment and COPY statement of a TABLE DATA entry, as pg_dump prints them.
pub fn data_header(item: &TocItem, no_owner: bool) -> Vec<u8> {
    let mut out = header(item, no_owner, "Data for ");
    out.extend_from_slice(item.copy_stmt.as_bytes());
    out
}

/// What follows a TABLE DATA entry's rows.
pub const DATA_END: &[u8] = b"\\.\n\n\n";

/// A SEQUENCE SET entry as pg_dump prints it.
pub fn sequence_block(item: &TocItem, no_owner: bool) -> Vec<u8> {
    let mut out = header(item, no_owner, "");
    if !item.defn.is_empty() {
        out.extend_from_slice(item.defn.as_bytes());
        out.extend_from_slice(b"\n\n");
    }
    out
}

fn header(item: &TocItem, no_owner: bool, prefix: &str) -> Vec<u8> {
    let owner = if no_owner {
        None
    } else {
        item.owner.as_deref()
    };
    format!(
        "--\n-- {prefix}Name: {}; Type: {}; Schema: {}; Owner: {}\n--\n\n",
        sanitize(Some(&item.tag), false),
        item.desc,
        sanitize(item.namespace.as_deref(), true),
        sanitize(owner, true),
    )
    .into_bytes()
}

/// The client encoding the dump declares (`SET client_encoding = 'UTF8';` in its preamble).
pub fn client_encoding(schema: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(&schema[..schema.len().min(1 << 16)]);
    text.lines()
        .find_map(|l| l.strip_prefix("SET client_encoding = '"))
        .and_then(|rest| rest.strip_suffix("';"))
        .map(str::to_string)
}
