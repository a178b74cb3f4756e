//! Resolving an entry's [`Ref`]s into dump ids once the whole TOC is known: objects by kind,
//! namespace and tag, indexes and unique keys by their table, and the partition tree of indexes
//! (from the INDEX ATTACH entries).

use std::collections::HashMap;

use super::ddl::{Ddl, Marker, QualifiedName};
use super::deps::Ref;
use super::toc::{Kind, TocEntry, TABLE_LIKE};

/// Index of the entries for resolving references.
#[derive(Default)]
pub struct Resolver {
    by_key: HashMap<(Kind, Option<String>, String), i32>,
    /// Index or constraint name (namespace, name) → dumpId.
    index_names: HashMap<(Option<String>, String), i32>,
    /// (namespace, table) → unique keys (dumpId, columns, index name).
    unique_keys: HashMap<QualifiedName, Vec<(i32, Vec<String>, QualifiedName)>>,
    /// Partition index → (its parent index, the INDEX ATTACH entry joining them).
    attached_to: HashMap<QualifiedName, (QualifiedName, i32)>,
    /// Parent index → its partitions' indexes, with the INDEX ATTACH entries.
    attached: HashMap<QualifiedName, Vec<(QualifiedName, i32)>>,
    /// Table → the indexes on it (from INDEX entries and index-making constraints).
    table_indexes: HashMap<QualifiedName, Vec<QualifiedName>>,
    /// Index → its table.
    index_table: HashMap<QualifiedName, QualifiedName>,
}

impl Resolver {
    pub fn add(&mut self, e: &TocEntry) {
        self.by_key
            .entry((e.desc.clone(), e.namespace.clone(), e.tag.clone()))
            .or_insert(e.dump_id);
        let defn = e.defn_text();
        let ddl = Ddl::new(&defn);
        let own = (e.namespace.clone(), e.tag.clone());
        match e.desc {
            Kind::Index => {
                let table = ddl
                    .find_tables()
                    .into_iter()
                    .find(|(_, m)| m.is_on())
                    .map(|(t, _)| t);
                self.add_index(own.clone(), table.clone(), e.dump_id);
                if defn.starts_with("CREATE UNIQUE INDEX ") {
                    if let (Some(table), Some(cols)) = (table, ddl.key_columns()) {
                        self.unique_keys
                            .entry(table)
                            .or_default()
                            .push((e.dump_id, cols, own));
                    }
                }
            }
            Kind::Constraint => {
                let name = ddl.name_after(&["ADD", "CONSTRAINT"]);
                let table = ddl.find_tables().into_iter().next().map(|(t, _)| t);
                if let Some(name) = &name {
                    self.add_index(
                        (e.namespace.clone(), name.clone()),
                        table.clone(),
                        e.dump_id,
                    );
                }
                if let (Some(table), Some(cols), Some(name)) = (table, ddl.key_columns(), name) {
                    self.unique_keys.entry(table).or_default().push((
                        e.dump_id,
                        cols,
                        (e.namespace.clone(), name),
                    ));
                }
            }
            Kind::IndexAttach => {
                let found = ddl.find_tables();
                let parent = found.iter().find(|(_, m)| *m == Marker::AlterIndex);
                let child = found.iter().find(|(_, m)| *m == Marker::AttachPartition);
                if let (Some((parent, _)), Some((child, _))) = (parent, child) {
                    self.attached_to
                        .insert(child.clone(), (parent.clone(), e.dump_id));
                    self.attached
                        .entry(parent.clone())
                        .or_default()
                        .push((child.clone(), e.dump_id));
                }
            }
            _ => {}
        }
    }

    /// An index (or index-making constraint) `index` on `table`, with its entry's dumpId.
    fn add_index(&mut self, index: QualifiedName, table: Option<QualifiedName>, dump_id: i32) {
        self.index_names.insert(index.clone(), dump_id);
        if let Some(table) = table {
            self.index_table.insert(index.clone(), table.clone());
            self.table_indexes.entry(table).or_default().push(index);
        }
    }

    fn obj(&self, kinds: &[Kind], ns: &Option<String>, tag: &str) -> Option<i32> {
        for k in kinds {
            if let Some(id) = self.by_key.get(&(k.clone(), ns.clone(), tag.to_string())) {
                return Some(*id);
            }
        }
        for k in kinds {
            if let Some(id) = self.by_key.get(&(k.clone(), None, tag.to_string())) {
                return Some(*id);
            }
        }
        None
    }

    /// Resolve references into dumpIds; `previous` is the closest preceding non-NONE entry.
    pub fn resolve(&self, refs: &[Ref], previous: Option<i32>) -> Vec<i32> {
        let mut out = Vec::new();
        for r in refs {
            let id = match r {
                Ref::Obj { kinds, ns, tag } => self.obj(kinds, ns, tag),
                Ref::Column { ns, spec } => spec
                    .match_indices('.')
                    .find_map(|(i, _)| self.obj(TABLE_LIKE, ns, &spec[..i])),
                Ref::IndexNamed { ns, name } => {
                    self.index_names.get(&(ns.clone(), name.clone())).copied()
                }
                Ref::UniqueKey { ns, table, cols } => self
                    .unique_keys
                    .get(&(ns.clone(), table.clone()))
                    .and_then(|keys| keys.iter().find(|(_, c, _)| c == cols))
                    .map(|(id, _, _)| *id),
                Ref::TableOfIndex { ns, name } => self
                    .index_table
                    .get(&(ns.clone(), name.clone()))
                    .and_then(|(tns, table)| self.obj(&[Kind::Table], tns, table)),
                Ref::AttachmentsUnder { ns, table } => {
                    let mut below: Vec<QualifiedName> = self
                        .table_indexes
                        .get(&(ns.clone(), table.clone()))
                        .cloned()
                        .unwrap_or_default();
                    let mut steps = 0;
                    while let Some(parent) = below.pop() {
                        for (child, attach) in self.attached.get(&parent).into_iter().flatten() {
                            if !out.contains(attach) {
                                out.push(*attach);
                            }
                            below.push(child.clone());
                        }
                        steps += 1;
                        if steps > 100_000 {
                            break; // a cycle would be a broken dump; do not loop on it
                        }
                    }
                    None
                }
                Ref::ParentIndexes { ns, name } => {
                    let mut current = (ns.clone(), name.clone());
                    let mut depth = 0;
                    while let Some((parent, _)) = self.attached_to.get(&current) {
                        if let Some(&id) = self.index_names.get(parent) {
                            if !out.contains(&id) {
                                out.push(id);
                            }
                        }
                        current = parent.clone();
                        depth += 1;
                        if depth > 64 {
                            break; // a cycle would be a broken dump; do not loop on it
                        }
                    }
                    None
                }
                Ref::Previous => {
                    if out.is_empty() {
                        previous
                    } else {
                        None
                    }
                }
            };
            if let Some(id) = id {
                if !out.contains(&id) {
                    out.push(id);
                }
            }
        }
        out
    }
}
