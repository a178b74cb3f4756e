//! What a column holds, judged by its name and type: the [`Kind`]s of personal data the audit tools
//! speak of, and [`kind_from_name`], which `rules check` (columns that look sensitive but are kept)
//! and `rules init` (which masker to suggest) combine with what the sampled values hold
//! ([`super::values`]).
//!
//! Deliberately simple heuristics: they are meant to catch the common leaks (an email column nobody
//! wrote a rule for), not to prove a column is harmless.
//!
//! (`name_kind` is over 100 lines: one ordered table of name patterns per kind; the order is the
//! priority between kinds, which reads best in one place.)

use serde::Serialize;

use crate::mask::category::Category;
use crate::mask::types::{class_of, TypeClass};

/// A kind of personal data as the audit tools report it: the masking [`Category`]s, finer (an IBAN
/// is not a card number, a username is not a person's name) and wider (MAC addresses, geographic
/// points, and the quasi-identifiers: dates of birth, ages, postal codes, cities, user agents).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Email,
    Phone,
    /// A person's name (given name, surname or both).
    Name,
    Username,
    Address,
    Ip,
    Card,
    Iban,
    NationalId,
    Secret,
    Mac,
    /// A geographic point (a `point`, a latitude/longitude pair or one of them).
    Geo,
    /// A vehicle licence plate.
    Plate,
    BirthDate,
    Age,
    PostalCode,
    City,
    UserAgent,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Email => "email",
            Kind::Phone => "phone",
            Kind::Name => "name",
            Kind::Username => "username",
            Kind::Address => "address",
            Kind::Ip => "ip",
            Kind::Card => "card",
            Kind::Iban => "iban",
            Kind::NationalId => "national_id",
            Kind::Secret => "secret",
            Kind::Mac => "mac",
            Kind::Geo => "geo",
            Kind::Plate => "plate",
            Kind::BirthDate => "birth_date",
            Kind::Age => "age",
            Kind::PostalCode => "postal_code",
            Kind::City => "city",
            Kind::UserAgent => "user_agent",
        }
    }

    /// What values of this kind are, in a sentence (`93% of 200 sampled values are …`).
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Email => "email addresses",
            Kind::Phone => "phone numbers",
            Kind::Name => "person names",
            Kind::Username => "usernames",
            Kind::Address => "postal addresses",
            Kind::Ip => "IP addresses",
            Kind::Card => "card numbers",
            Kind::Iban => "IBANs",
            Kind::NationalId => "national id numbers",
            Kind::Secret => "secrets",
            Kind::Mac => "MAC addresses",
            Kind::Geo => "geographic points",
            Kind::Plate => "licence plates",
            Kind::BirthDate => "dates of birth",
            Kind::Age => "ages",
            Kind::PostalCode => "postal codes",
            Kind::City => "cities",
            Kind::UserAgent => "user agents",
        }
    }

    /// The masking category whose removal a rule must declare (`covers`) for this kind; `None`:
    /// only a masker that replaces the whole value removes it.
    pub fn category(self) -> Option<Category> {
        match self {
            Kind::Email => Some(Category::Email),
            Kind::Phone => Some(Category::Phone),
            Kind::Name | Kind::Username => Some(Category::Name),
            Kind::Address | Kind::PostalCode | Kind::City => Some(Category::Address),
            Kind::Ip => Some(Category::Ip),
            Kind::Card | Kind::Iban => Some(Category::Card),
            Kind::NationalId | Kind::Plate => Some(Category::NationalId),
            Kind::Secret => Some(Category::Secret),
            Kind::Mac | Kind::Geo | Kind::BirthDate | Kind::Age | Kind::UserAgent => None,
        }
    }

    /// A quasi-identifier: harmless alone, singling people out in combination (generalise it
    /// rather than remove it).
    pub fn is_quasi(self) -> bool {
        matches!(
            self,
            Kind::BirthDate | Kind::Age | Kind::PostalCode | Kind::City | Kind::UserAgent
        )
    }

    /// Whether `rules check` warns when a column of this kind is kept. Cities and user agents are
    /// reported as hints only: keeping them is a normal, reviewed choice (`rules init` keeps them).
    pub fn warns_when_kept(self) -> bool {
        !matches!(self, Kind::City | Kind::UserAgent)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The words of an identifier, lower-cased: `"E-Mail Address"` → `e mail address`,
/// `customerEmail` → `customer email`, `ip_addr` → `ip addr`.
fn words(name: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        if !c.is_alphanumeric() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower && !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        cur.extend(c.to_lowercase());
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Types whose values cannot hold any of the categories (dates, times, booleans, UUIDs, money…).
fn type_rules_out(class: Option<TypeClass>) -> bool {
    matches!(
        class,
        Some(
            TypeClass::DateTime
                | TypeClass::Boolean
                | TypeClass::Uuid
                | TypeClass::Binary
                | TypeClass::Float
                | TypeClass::Money
                | TypeClass::TextSearch
        )
    )
}

/// The base type of a type name as written, lower-case, without array brackets or schema.
fn base_type(type_name: Option<&str>) -> String {
    let t = type_name.unwrap_or("").trim().to_ascii_lowercase();
    let t = t.trim_end_matches("[]");
    t.rsplit('.').next().unwrap_or("").to_string()
}

/// What a column's name (and type) suggests it holds, if anything personal.
pub fn kind_from_name(column: &str, type_name: Option<&str>) -> Option<Kind> {
    let class = class_of(type_name);
    let base = base_type(type_name);
    if base.starts_with("macaddr") {
        return Some(Kind::Mac);
    }
    if base == "point" {
        return Some(Kind::Geo);
    }
    let k = name_kind(column, class)?;
    let numeric = matches!(
        class,
        Some(TypeClass::Integer | TypeClass::Numeric | TypeClass::Float)
    );
    let date = class == Some(TypeClass::DateTime);
    match k {
        // Dates of birth are dates (or text); nothing else personal is a date.
        Kind::BirthDate => (date || !type_rules_out(class)).then_some(k),
        _ if date => None,
        // Coordinates and ages are numbers; a number also holds phone, card and id numbers.
        Kind::Geo | Kind::Age => (numeric || !type_rules_out(class)).then_some(k),
        _ if type_rules_out(class) => None,
        Kind::Phone | Kind::Card | Kind::NationalId | Kind::PostalCode => Some(k),
        _ if numeric => None,
        _ => Some(k),
    }
}

fn name_kind(column: &str, class: Option<TypeClass>) -> Option<Kind> {
    if class == Some(TypeClass::Network) {
        return Some(Kind::Ip);
    }
    let w = words(column);
    // `address_id`, `email_count`, `phone_type`, `email_verified`: about the data, not the data.
    const META: [&str; 14] = [
        "id",
        "ids",
        "uuid",
        "count",
        "type",
        "kind",
        "status",
        "flag",
        "verified",
        "confirmed",
        "enabled",
        "format",
        "at",
        "attempts",
    ];
    if w.last().is_some_and(|l| META.contains(&l.as_str())) {
        return None;
    }
    let has = |s: &str| w.iter().any(|x| x == s);
    let compact: String = w.concat();
    let contains = |s: &str| compact.contains(s);
    if contains("password")
        || contains("passwd")
        || has("pwd")
        || contains("secret")
        || contains("token")
        || contains("apikey")
        || contains("privatekey")
        || has("salt")
    {
        return Some(Kind::Secret);
    }
    if contains("useragent") || has("ua") {
        return Some(Kind::UserAgent);
    }
    if contains("email") || has("mail") {
        return Some(Kind::Email);
    }
    if has("mac") || contains("macaddr") || contains("hwaddr") || contains("bssid") {
        return Some(Kind::Mac);
    }
    if has("ip") || contains("ipaddr") || contains("remoteaddr") || contains("clientaddr") {
        return Some(Kind::Ip);
    }
    if has("iban") || contains("bankaccount") {
        return Some(Kind::Iban);
    }
    if contains("cardnumber")
        || contains("creditcard")
        || contains("ccnumber")
        || contains("cardno")
        || has("pan")
    {
        return Some(Kind::Card);
    }
    if has("ssn")
        || contains("socialsecurity")
        || contains("nationalid")
        || contains("nationalinsurance")
        || contains("passport")
        || contains("taxid")
        || contains("taxnumber")
        || has("nin")
        || has("nir")
        || has("tin")
        || has("dni")
        || contains("idcard")
        || contains("driverslicense")
        || contains("driverlicense")
    {
        return Some(Kind::NationalId);
    }
    if contains("licenseplate")
        || contains("licenceplate")
        || contains("numberplate")
        || has("plate")
        || has("vrn")
    {
        return Some(Kind::Plate);
    }
    if contains("phone")
        || contains("mobile")
        || has("fax")
        || has("tel")
        || has("cell")
        || has("msisdn")
    {
        return Some(Kind::Phone);
    }
    if has("dob") || contains("birth") || has("born") || has("bday") {
        return Some(Kind::BirthDate);
    }
    if has("age") {
        return Some(Kind::Age);
    }
    if has("lat")
        || has("lng")
        || has("lon")
        || contains("latitude")
        || contains("longitude")
        || contains("geoloc")
        || contains("coordinates")
        || has("geom")
        || has("geog")
    {
        return Some(Kind::Geo);
    }
    const USER_WORDS: [&str; 7] = [
        "username",
        "screenname",
        "nickname",
        "login",
        "handle",
        "userhandle",
        "accountname",
    ];
    if USER_WORDS.iter().any(|n| contains(n)) || has("nick") {
        return Some(Kind::Username);
    }
    const NAME_WORDS: [&str; 12] = [
        "firstname",
        "lastname",
        "fullname",
        "surname",
        "givenname",
        "familyname",
        "middlename",
        "maidenname",
        "forename",
        "contactname",
        "customername",
        "displayname",
    ];
    if NAME_WORDS.iter().any(|n| contains(n)) {
        return Some(Kind::Name);
    }
    if contains("postcode")
        || contains("postalcode")
        || contains("zipcode")
        || has("zip")
        || has("plz")
    {
        return Some(Kind::PostalCode);
    }
    if contains("address") || contains("street") || has("addr") {
        return Some(Kind::Address);
    }
    if has("city") || has("town") || contains("municipality") || has("locality") {
        return Some(Kind::City);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_types() {
        use Kind::*;
        let cases = [
            ("email", None, Some(Email)),
            ("E-Mail Address", None, Some(Email)),
            ("customerEmail", None, Some(Email)),
            ("ip_address", None, Some(Ip)),
            ("last_login", Some("inet"), Some(Ip)),
            ("card_number", None, Some(Card)),
            ("ssn", None, Some(NationalId)),
            ("mobile_phone", None, Some(Phone)),
            ("first_name", None, Some(Name)),
            ("LastName", None, Some(Name)),
            ("street_address", None, Some(Address)),
            ("zip", None, Some(PostalCode)),
            ("name", None, None),
            ("description", Some("text"), None),
            ("email_verified_at", Some("timestamp with time zone"), None),
            ("shipping", None, None),
            ("address_id", None, None),
            ("email_verified", Some("boolean"), None),
            ("email_verified", Some("boolean[]"), None),
            ("ip", Some("inet[]"), Some(Ip)),
            ("phone", Some("numeric(15,0)"), Some(Phone)),
            ("email", Some("public.citext"), Some(Email)),
            ("email", Some("public.email_domain"), Some(Email)),
            ("email_sent_at", Some("timestamp(3) with time zone"), None),
            ("phone_type", None, None),
            ("street", Some("integer"), None),
            ("phone", Some("bigint"), Some(Phone)),
            ("password", None, Some(Secret)),
            ("api_token", None, Some(Secret)),
            (
                "password_changed_at",
                Some("timestamp with time zone"),
                None,
            ),
            ("username", None, Some(Username)),
            ("user_agent", Some("text"), Some(UserAgent)),
            ("dob", Some("date"), Some(BirthDate)),
            (
                "date_of_birth",
                Some("timestamp without time zone"),
                Some(BirthDate),
            ),
            ("created_at", Some("date"), None),
            ("mac", Some("macaddr"), Some(Mac)),
            ("device", Some("macaddr8"), Some(Mac)),
            ("home", Some("point"), Some(Geo)),
            ("latitude", Some("double precision"), Some(Geo)),
            ("lng", Some("numeric(9,6)"), Some(Geo)),
            ("age", Some("integer"), Some(Age)),
            ("licence_plate", Some("text"), Some(Plate)),
            ("postal_code", Some("text"), Some(PostalCode)),
            ("city", Some("text"), Some(City)),
            ("iban", Some("text"), Some(Iban)),
            ("login_count", Some("integer"), None),
            ("handle", Some("text"), Some(Username)),
            ("voltage", Some("integer"), None),
        ];
        for (name, t, want) in cases {
            assert_eq!(kind_from_name(name, t), want, "{name} {t:?}");
        }
    }
}
