//! The TOC model: what kind of object an entry is ([`Kind`]), which section it restores in
//! ([`Section`]), and one entry as the archive stores it ([`TocEntry`], version 1.14 layout).
//!
//! Kinds and sections are enums everywhere in the archive code; their string and integer forms
//! appear only where an entry is encoded or read (`TocEntry::encode`, `reader`).

use super::format::*;

/// Defines [`Kind`] with the `desc` string of each known kind.
macro_rules! kinds {
    ($($variant:ident => $desc:literal,)*) => {
        /// An entry's kind (its `desc` in the archive). Kinds pgveil does not treat specially, or
        /// that a read archive holds and this list lacks, are kept as [`Kind::Other`].
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
        pub enum Kind {
            $($variant,)*
            Other(String),
            /// No kind yet (an entry being read or built).
            #[default]
            Unknown,
        }

        impl Kind {
            /// The kind named by an archive's or a plain dump's `desc`.
            pub fn parse(desc: &str) -> Kind {
                match desc {
                    $($desc => Kind::$variant,)*
                    "" => Kind::Unknown,
                    other => Kind::Other(other.to_string()),
                }
            }

            /// The `desc` string as pg_dump writes it.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Kind::$variant => $desc,)*
                    Kind::Other(desc) => desc,
                    Kind::Unknown => "",
                }
            }
        }
    };
}

kinds! {
    AccessMethod => "ACCESS METHOD",
    Acl => "ACL",
    Aggregate => "AGGREGATE",
    Blob => "BLOB",
    Blobs => "BLOBS",
    Cast => "CAST",
    CheckConstraint => "CHECK CONSTRAINT",
    Collation => "COLLATION",
    Comment => "COMMENT",
    Constraint => "CONSTRAINT",
    Conversion => "CONVERSION",
    Database => "DATABASE",
    DatabaseProperties => "DATABASE PROPERTIES",
    Default => "DEFAULT",
    DefaultAcl => "DEFAULT ACL",
    Domain => "DOMAIN",
    Encoding => "ENCODING",
    EventTrigger => "EVENT TRIGGER",
    Extension => "EXTENSION",
    FkConstraint => "FK CONSTRAINT",
    ForeignDataWrapper => "FOREIGN DATA WRAPPER",
    ForeignTable => "FOREIGN TABLE",
    Function => "FUNCTION",
    Index => "INDEX",
    IndexAttach => "INDEX ATTACH",
    MaterializedView => "MATERIALIZED VIEW",
    MaterializedViewData => "MATERIALIZED VIEW DATA",
    Operator => "OPERATOR",
    OperatorClass => "OPERATOR CLASS",
    OperatorFamily => "OPERATOR FAMILY",
    Policy => "POLICY",
    Procedure => "PROCEDURE",
    ProceduralLanguage => "PROCEDURAL LANGUAGE",
    Publication => "PUBLICATION",
    PublicationTable => "PUBLICATION TABLE",
    PublicationTablesInSchema => "PUBLICATION TABLES IN SCHEMA",
    RowSecurity => "ROW SECURITY",
    Rule => "RULE",
    Schema => "SCHEMA",
    SearchPath => "SEARCHPATH",
    SecurityLabel => "SECURITY LABEL",
    Sequence => "SEQUENCE",
    SequenceOwnedBy => "SEQUENCE OWNED BY",
    SequenceSet => "SEQUENCE SET",
    Server => "SERVER",
    ShellType => "SHELL TYPE",
    Statistics => "STATISTICS",
    StdStrings => "STDSTRINGS",
    Subscription => "SUBSCRIPTION",
    Table => "TABLE",
    TableAttach => "TABLE ATTACH",
    TableData => "TABLE DATA",
    TextSearchConfiguration => "TEXT SEARCH CONFIGURATION",
    TextSearchDictionary => "TEXT SEARCH DICTIONARY",
    TextSearchParser => "TEXT SEARCH PARSER",
    TextSearchTemplate => "TEXT SEARCH TEMPLATE",
    Trigger => "TRIGGER",
    Type => "TYPE",
    UserMapping => "USER MAPPING",
    View => "VIEW",
}

/// Relations whose name a COMMENT/ACL tag `TABLE x` or a column's `x.c` may name.
pub const TABLE_LIKE: &[Kind] = &[
    Kind::Table,
    Kind::View,
    Kind::MaterializedView,
    Kind::ForeignTable,
    Kind::Sequence,
];
/// Relations a statement's `ON x` / `TO x` / `FROM x` can name.
pub const TABLES: &[Kind] = &[
    Kind::Table,
    Kind::MaterializedView,
    Kind::ForeignTable,
    Kind::View,
];

impl Kind {
    /// COMMENT, ACL and SECURITY LABEL: entries about another entry, in no section.
    pub fn is_about_another(&self) -> bool {
        matches!(self, Kind::Comment | Kind::Acl | Kind::SecurityLabel)
    }

    /// The section pg_dump gives an entry of this kind. pg_dump postpones some definitions (views
    /// with circular dependencies, functions that depend on them) into post-data; in the plain
    /// stream they show up after post-data items, so `post_data_seen` decides for the others.
    pub fn section(&self, post_data_seen: bool) -> Section {
        use Kind::*;
        match self {
            Comment | Acl | SecurityLabel => Section::None,
            TableData | SequenceSet | Blobs => Section::Data,
            Index
            | IndexAttach
            | Constraint
            | CheckConstraint
            | FkConstraint
            | Trigger
            | EventTrigger
            | Rule
            | Policy
            | RowSecurity
            | MaterializedViewData
            | DefaultAcl
            | Publication
            | PublicationTable
            | PublicationTablesInSchema
            | Subscription
            | Statistics => Section::PostData,
            _ if post_data_seen => Section::PostData,
            _ => Section::PreData,
        }
    }

    /// Kinds for which pg_restore emits `ALTER … OWNER TO` (when owner and dropStmt are non-empty).
    pub fn is_ownable(&self) -> bool {
        use Kind::*;
        matches!(
            self,
            Aggregate
                | Blob
                | Collation
                | Conversion
                | Database
                | Domain
                | Function
                | Operator
                | OperatorClass
                | OperatorFamily
                | Procedure
                | ProceduralLanguage
                | Schema
                | EventTrigger
                | ForeignDataWrapper
                | Server
                | Publication
                | Subscription
                | Statistics
                | Table
                | Type
                | View
                | Sequence
                | MaterializedView
                | ForeignTable
                | TextSearchDictionary
                | TextSearchConfiguration
        )
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for Kind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<str> for Kind {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

/// The section of a TOC entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Section {
    None,
    #[default]
    PreData,
    Data,
    PostData,
    /// A value no archive version defines (a damaged or hostile archive being read).
    Invalid(i32),
}

impl Section {
    /// The archive's integer for the section.
    pub fn code(self) -> i32 {
        match self {
            Section::None => SECTION_NONE,
            Section::PreData => SECTION_PRE_DATA,
            Section::Data => SECTION_DATA,
            Section::PostData => SECTION_POST_DATA,
            Section::Invalid(v) => v,
        }
    }

    pub fn from_code(v: i32) -> Section {
        match v {
            SECTION_NONE => Section::None,
            SECTION_PRE_DATA => Section::PreData,
            SECTION_DATA => Section::Data,
            SECTION_POST_DATA => Section::PostData,
            v => Section::Invalid(v),
        }
    }
}

/// One TOC entry as the archive stores it (version 1.14 layout).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TocEntry {
    pub dump_id: i32,
    pub had_dumper: bool,
    pub tableoid: String,
    pub oid: String,
    pub tag: String,
    pub desc: Kind,
    pub section: Section,
    pub defn: Option<Vec<u8>>,
    pub drop_stmt: Option<String>,
    pub copy_stmt: Option<String>,
    pub namespace: Option<String>,
    pub tablespace: Option<String>,
    pub tableam: Option<String>,
    pub owner: Option<String>,
    pub with_oids: Option<String>,
    pub dependencies: Vec<i32>,
    /// Offset flag (`POS_SET`, `POS_NOT_SET`, `NO_DATA`) and position of the data block.
    pub offset: (u8, u64),
}

impl TocEntry {
    pub fn encode(&self, out: &mut Vec<u8>) {
        put_int(out, self.dump_id);
        put_int(out, i32::from(self.had_dumper));
        put_str(out, Some(&self.tableoid));
        put_str(out, Some(&self.oid));
        put_str(out, Some(&self.tag));
        put_str(out, Some(self.desc.as_str()));
        put_int(out, self.section.code());
        match &self.defn {
            None => put_int(out, -1),
            Some(d) => {
                put_int(out, d.len() as i32);
                out.extend_from_slice(d);
            }
        }
        put_str(out, self.drop_stmt.as_deref());
        put_str(out, self.copy_stmt.as_deref());
        put_str(out, self.namespace.as_deref());
        put_str(out, self.tablespace.as_deref());
        put_str(out, self.tableam.as_deref());
        put_str(out, self.owner.as_deref());
        put_str(out, Some(self.with_oids.as_deref().unwrap_or("false")));
        for d in &self.dependencies {
            put_str(out, Some(&d.to_string()));
        }
        put_str(out, None);
        put_offset(out, self.offset.0, self.offset.1);
    }

    /// A special entry (ENCODING, STDSTRINGS, SEARCHPATH) as pg_dump writes it.
    pub fn special(kind: Kind, defn: String) -> TocEntry {
        TocEntry {
            tableoid: "0".into(),
            oid: "0".into(),
            tag: kind.as_str().into(),
            desc: kind,
            section: Section::PreData,
            defn: Some(defn.into_bytes()),
            offset: (NO_DATA, 0),
            ..TocEntry::default()
        }
    }

    /// The definition as text (lossy: definitions are SQL in the dump's encoding, UTF-8 here).
    pub fn defn_text(&self) -> std::borrow::Cow<'_, str> {
        self.defn
            .as_deref()
            .map(String::from_utf8_lossy)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_their_desc() {
        for desc in [
            "TABLE DATA",
            "FK CONSTRAINT",
            "PUBLICATION TABLES IN SCHEMA",
            "TRANSFORM",
        ] {
            assert_eq!(Kind::parse(desc).as_str(), desc);
        }
        assert_eq!(Kind::parse("TRANSFORM"), Kind::Other("TRANSFORM".into()));
        assert_eq!(Kind::parse("TABLE"), Kind::Table);
    }

    #[test]
    fn sections() {
        assert_eq!(Kind::Table.section(false), Section::PreData);
        assert_eq!(Kind::View.section(true), Section::PostData);
        assert_eq!(Kind::Acl.section(true), Section::None);
        assert_eq!(Kind::TableData.section(false), Section::Data);
        assert_eq!(Kind::FkConstraint.section(false), Section::PostData);
        for s in 1..=4 {
            assert_eq!(Section::from_code(s).code(), s);
        }
        assert_eq!(Section::from_code(9), Section::Invalid(9));
    }
}
