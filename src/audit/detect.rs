//! Recognizing personal data by a column's name (and type): `rules check` (columns that look
//! sensitive but are kept), `rules init` (which masker to suggest). Values are recognized by
//! [`crate::mask::find`], which the `pii_scan` masker shares.
//!
//! Deliberately simple heuristics: they are meant to catch the common leaks (an email column nobody
//! wrote a rule for), not to prove a column is harmless.
//!
//! (`name_category` is over 100 lines: one ordered table of name patterns per kind; the order is the
//! priority between kinds, which reads best in one place.)

use crate::mask::category::Category;
use crate::mask::types::{class_of, TypeClass};

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

/// What a column's name (and type) suggests it holds, if anything personal.
pub fn category_from_name(column: &str, type_name: Option<&str>) -> Option<Category> {
    let class = class_of(type_name);
    let c = name_category(column, class)?;
    // A number cannot hold an address, a name or an email (but can hold a phone, card or id number).
    let numeric = matches!(class, Some(TypeClass::Integer | TypeClass::Numeric));
    if numeric && !matches!(c, Category::Phone | Category::Card | Category::NationalId) {
        return None;
    }
    Some(c)
}

fn name_category(column: &str, class: Option<TypeClass>) -> Option<Category> {
    if class == Some(TypeClass::Network) {
        return Some(Category::Ip);
    }
    if type_rules_out(class) {
        return None;
    }
    let w = words(column);
    // `address_id`, `email_count`, `phone_type`, `email_verified`: about the data, not the data.
    const META: [&str; 12] = [
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
        return Some(Category::Secret);
    }
    if contains("email") || has("mail") {
        return Some(Category::Email);
    }
    if has("ip") || contains("ipaddr") || contains("remoteaddr") || contains("clientaddr") {
        return Some(Category::Ip);
    }
    if contains("cardnumber")
        || contains("creditcard")
        || contains("ccnumber")
        || contains("cardno")
        || has("pan")
        || has("iban")
    {
        return Some(Category::Card);
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
        || contains("idcard")
        || contains("driverslicense")
        || contains("driverlicense")
    {
        return Some(Category::NationalId);
    }
    if contains("phone")
        || contains("mobile")
        || has("fax")
        || has("tel")
        || has("cell")
        || has("msisdn")
    {
        return Some(Category::Phone);
    }
    const NAME_WORDS: [&str; 15] = [
        "username",
        "nickname",
        "screenname",
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
        return Some(Category::Name);
    }
    if contains("address")
        || contains("street")
        || contains("postcode")
        || contains("postalcode")
        || contains("zipcode")
        || has("zip")
        || has("addr")
    {
        return Some(Category::Address);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_types() {
        use Category::*;
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
            ("zip", None, Some(Address)),
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
            ("username", None, Some(Name)),
        ];
        for (name, t, want) in cases {
            assert_eq!(category_from_name(name, t), want, "{name} {t:?}");
        }
    }
}
