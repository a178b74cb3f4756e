//! The categories of personal data, as maskers declare them: which kinds a masker removes
//! ([`MaskerSpec`](super::maskers::MaskerSpec) `covers`) and which its output can look like
//! (`produces`). The value detectors ([`super::find`]) report findings in these categories, and the
//! audit tools (`rules check`, `scan`) compare the two.

use serde::Serialize;

/// A kind of personal data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Email,
    Phone,
    Name,
    Address,
    Ip,
    Card,
    NationalId,
    /// Passwords, tokens, API keys (recognized by name only).
    Secret,
    /// Hardware (MAC) addresses.
    Mac,
    /// Geographic locations: latitude/longitude pairs, points.
    Geo,
}

impl Category {
    pub const ALL: [Category; 10] = [
        Category::Email,
        Category::Phone,
        Category::Name,
        Category::Address,
        Category::Ip,
        Category::Card,
        Category::NationalId,
        Category::Secret,
        Category::Mac,
        Category::Geo,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Email => "email",
            Category::Phone => "phone",
            Category::Name => "name",
            Category::Address => "address",
            Category::Ip => "ip",
            Category::Card => "card",
            Category::NationalId => "national_id",
            Category::Secret => "secret",
            Category::Mac => "mac",
            Category::Geo => "geo",
        }
    }

    /// Every category, as a set.
    pub fn all() -> Categories {
        Category::ALL.iter().fold(0, |a, c| a | c.bit())
    }

    /// Bit for sets of categories.
    pub fn bit(self) -> Categories {
        1 << (self as u8)
    }
}

impl std::fmt::Display for Category {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of [`Category`]s, as [`Category::bit`]s.
pub type Categories = u16;
