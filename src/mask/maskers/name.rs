//! `name`: replace a person's name by a fake one picked from a small built-in list by the keyed hash
//! of the input. Options: `kind` = `"full"` (default, "First Last"), `"first"` or `"last"`;
//! `locale` = `"en"` (default), `"de"` or `"fr"`.
//!
//! Why: realistic-looking names keep screens and reports usable, and the choice is deterministic (the
//! same input and key give the same name everywhere, so a name repeated across tables stays
//! consistent). The lists are short, so different inputs often get the same fake name: do not use it
//! on `unique` columns (use `hash`). The empty string stays empty.
//!
//! ```toml
//! [[rule]]
//! table = "customers"
//! column = "first_name"
//! masker = "name"
//! kind = "first"
//! locale = "de"
//! ```

use super::{Configured, MaskerSpec};
use crate::mask::category::{Categories, Category};
use crate::mask::key::{keyed_digest, HmacSha256, Key};
use crate::mask::source::Options;
use crate::mask::{MaskOutcome, Masker, RulesError};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    Full,
    First,
    Last,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locale {
    En,
    De,
    Fr,
}

#[derive(Debug, Clone)]
pub(crate) struct NameSpec {
    pub(crate) kind: NameKind,
    pub(crate) locale: Locale,
}

impl NameSpec {
    pub(crate) fn parse(opts: &mut Options<'_, '_>) -> Result<NameSpec, RulesError> {
        let kind = match opts.take_str("kind")? {
            None => NameKind::Full,
            Some((_, k)) if k == "full" => NameKind::Full,
            Some((_, k)) if k == "first" => NameKind::First,
            Some((_, k)) if k == "last" => NameKind::Last,
            Some((span, k)) => {
                return Err(opts.error(
                    span,
                    format!("option `kind` of masker `name` must be \"full\", \"first\" or \"last\", not {k:?}"),
                ))
            }
        };
        let locale = match opts.take_str("locale")? {
            None => Locale::En,
            Some((_, l)) if l == "en" => Locale::En,
            Some((_, l)) if l == "de" => Locale::De,
            Some((_, l)) if l == "fr" => Locale::Fr,
            Some((span, l)) => {
                return Err(opts.error(
                    span,
                    format!(
                    "option `locale` of masker `name` must be \"en\", \"de\" or \"fr\", not {l:?}"
                ),
                ))
            }
        };
        Ok(NameSpec { kind, locale })
    }
}

const EN_FIRST: &[&str] = &[
    "James",
    "Mary",
    "John",
    "Patricia",
    "Robert",
    "Jennifer",
    "Michael",
    "Linda",
    "William",
    "Elizabeth",
    "David",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Daniel",
    "Nancy",
    "Matthew",
    "Lisa",
    "Anthony",
    "Betty",
    "Mark",
    "Sandra",
    "Paul",
    "Ashley",
    "Steven",
    "Emily",
];
const EN_LAST: &[&str] = &[
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Anderson",
    "Taylor", "Thomas", "Moore", "Jackson", "Martin", "Thompson", "White", "Harris", "Clark",
    "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Hill", "Green",
    "Adams", "Baker", "Nelson", "Carter",
];
const DE_FIRST: &[&str] = &[
    "Maria",
    "Ursula",
    "Monika",
    "Petra",
    "Elisabeth",
    "Sabine",
    "Renate",
    "Helga",
    "Karin",
    "Brigitte",
    "Ingrid",
    "Erika",
    "Andrea",
    "Gisela",
    "Claudia",
    "Susanne",
    "Peter",
    "Michael",
    "Thomas",
    "Andreas",
    "Wolfgang",
    "Klaus",
    "Jürgen",
    "Günter",
    "Stefan",
    "Christian",
    "Uwe",
    "Werner",
    "Horst",
    "Frank",
    "Dieter",
    "Lukas",
];
const DE_LAST: &[&str] = &[
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Schulz",
    "Hoffmann",
    "Schäfer",
    "Koch",
    "Bauer",
    "Richter",
    "Klein",
    "Wolf",
    "Schröder",
    "Neumann",
    "Schwarz",
    "Zimmermann",
    "Braun",
    "Krüger",
    "Hofmann",
    "Hartmann",
    "Lange",
    "Schmitt",
    "Werner",
    "Schmitz",
    "Krause",
    "Meier",
    "Lehmann",
    "Köhler",
];
const FR_FIRST: &[&str] = &[
    "Marie",
    "Jean",
    "Pierre",
    "Michel",
    "André",
    "Philippe",
    "Nathalie",
    "Isabelle",
    "Sylvie",
    "Catherine",
    "Françoise",
    "Jacques",
    "Bernard",
    "Christine",
    "Alain",
    "Monique",
    "Éric",
    "Nicolas",
    "Sophie",
    "Julien",
    "Camille",
    "Céline",
    "Laurent",
    "Hélène",
    "Olivier",
    "Anne",
    "Thierry",
    "Valérie",
    "Christophe",
    "Sandrine",
    "Mathieu",
    "Léa",
];
const FR_LAST: &[&str] = &[
    "Martin",
    "Bernard",
    "Dubois",
    "Thomas",
    "Robert",
    "Richard",
    "Petit",
    "Durand",
    "Leroy",
    "Moreau",
    "Simon",
    "Laurent",
    "Lefèvre",
    "Michel",
    "Garcia",
    "David",
    "Bertrand",
    "Roux",
    "Vincent",
    "Fournier",
    "Morel",
    "Girard",
    "André",
    "Lefebvre",
    "Mercier",
    "Dupont",
    "Lambert",
    "Bonnet",
    "François",
    "Martinez",
    "Legrand",
    "Garnier",
];

fn lists(locale: Locale) -> (&'static [&'static str], &'static [&'static str]) {
    match locale {
        Locale::En => (EN_FIRST, EN_LAST),
        Locale::De => (DE_FIRST, DE_LAST),
        Locale::Fr => (FR_FIRST, FR_LAST),
    }
}

#[derive(Clone)]
pub struct Name {
    mac: HmacSha256,
    kind: NameKind,
    first: &'static [&'static str],
    last: &'static [&'static str],
}

impl Name {
    pub(crate) fn new(key: &Key, spec: &NameSpec) -> Name {
        let (first, last) = lists(spec.locale);
        Name {
            mac: key.mac(),
            kind: spec.kind,
            first,
            last,
        }
    }
}

fn pick(list: &'static [&'static str], bytes: &[u8]) -> &'static str {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap());
    list[(n % list.len() as u64) as usize]
}

impl Masker for Name {
    fn prefilter(&self, raw: &[u8]) -> bool {
        !raw.is_empty()
    }
    fn mask(&self, value: &[u8], out: &mut Vec<u8>) -> MaskOutcome {
        if value.is_empty() {
            return MaskOutcome::Unchanged;
        }
        let d = keyed_digest(&self.mac, value);
        match self.kind {
            NameKind::First => out.extend_from_slice(pick(self.first, &d[0..]).as_bytes()),
            NameKind::Last => out.extend_from_slice(pick(self.last, &d[8..]).as_bytes()),
            NameKind::Full => {
                out.extend_from_slice(pick(self.first, &d[0..]).as_bytes());
                out.push(b' ');
                out.extend_from_slice(pick(self.last, &d[8..]).as_bytes());
            }
        }
        MaskOutcome::Value
    }
}

/// Registered as `name`: options `kind`, `locale`; writes names.
pub(crate) const SPEC: MaskerSpec = MaskerSpec {
    name: "name",
    example: r#"kind = "first""#,
    options: &["kind", "locale"],
    parse: |opts| Ok(Box::new(NameSpec::parse(opts)?)),
};

impl Configured for NameSpec {
    fn build(&self, key: &Key, _unique: bool) -> Option<Arc<dyn Masker>> {
        Some(Arc::new(Name::new(key, self)))
    }
    fn produces(&self) -> Categories {
        Category::Name.bit()
    }
}

#[cfg(test)]
pub(crate) fn tests_lists() -> (&'static [&'static str], &'static [&'static str]) {
    (DE_FIRST, DE_LAST)
}
