//! National identity numbers that carry a check (or, for US SSNs, a strict format with excluded
//! ranges), so that a number of the right length is not enough:
//! - **French NIR** (numéro de sécurité sociale): 13 characters and a 2-digit key
//!   `97 − (number mod 97)`, Corsica's departments `2A`/`2B` counting as 19/18; sex digit 1 or 2,
//!   month 01–12 or 20–42/50–99 (the codes INSEE uses for unknown months); single spaces between
//!   characters allowed (`1 85 05 78 006 084 36`);
//! - **Spanish DNI** (8 digits and the letter `TRWAGMYFPDXBNJZSQVHLCKE`[n mod 23]) and **NIE**
//!   (`X`/`Y`/`Z` = 0/1/2, 7 digits and the same letter), with an optional `-` before the letter;
//! - **US SSN** written `AAA-GG-SSSS`, area not 000, 666 or 900–999, group not 00, serial not
//!   0000 (the ranges the SSA never issues).
//!
//! pgveil's masked forms (`pii_scan`) fail these checks by construction: a NIR starting with 0, a
//! DNI/NIE whose letter is wrong, an SSN in area 000.

/// The DNI/NIE check letters, by number mod 23.
pub const DNI_LETTERS: &[u8; 23] = b"TRWAGMYFPDXBNJZSQVHLCKE";

fn alnum_at(raw: &[u8], k: usize) -> bool {
    raw.get(k).is_some_and(u8::is_ascii_alphanumeric)
}

/// The end of the French NIR starting at `i`, if one does.
pub(super) fn nir_at(raw: &[u8], i: usize) -> Option<usize> {
    if (i > 0 && alnum_at(raw, i - 1)) || !matches!(raw.get(i), Some(b'1' | b'2')) {
        return None;
    }
    let mut chars = [0u8; 15];
    let mut n = 0;
    let mut j = i;
    while n < 15 {
        let b = *raw.get(j)?;
        if b == b' ' && n > 0 && alnum_at(raw, j + 1) {
            j += 1;
            continue;
        }
        let ok = b.is_ascii_digit() || (n == 6 && chars[5] == b'2' && matches!(b, b'A' | b'B'));
        if !ok {
            return None;
        }
        chars[n] = b;
        n += 1;
        j += 1;
    }
    if alnum_at(raw, j) {
        return None;
    }
    let num = |r: std::ops::Range<usize>| {
        chars[r]
            .iter()
            .fold(0u64, |a, &b| a * 10 + u64::from(b - b'0'))
    };
    let month = num(3..5);
    if !((1..=12).contains(&month) || (20..=42).contains(&month) || month >= 50) {
        return None;
    }
    // Corsica: 2A → 19, 2B → 18 in the number the key is computed from.
    let mut digits = chars;
    match chars[6] {
        b'A' => (digits[5], digits[6]) = (b'1', b'9'),
        b'B' => (digits[5], digits[6]) = (b'1', b'8'),
        _ => {}
    }
    let number = digits[..13]
        .iter()
        .fold(0u64, |a, &b| a * 10 + u64::from(b - b'0'));
    let key = num(13..15);
    (key == 97 - number % 97).then_some(j)
}

/// The end of the Spanish DNI or NIE starting at `i`, if one does.
pub(super) fn dni_at(raw: &[u8], i: usize) -> Option<usize> {
    if i > 0 && alnum_at(raw, i - 1) {
        return None;
    }
    let mut j = i;
    let (mut number, digits) = match raw.get(i)? {
        b'X' => (0u32, 7),
        b'Y' => (1, 7),
        b'Z' => (2, 7),
        _ => (0, 8),
    };
    if digits == 7 {
        j += 1;
        if raw.get(j) == Some(&b'-') {
            j += 1;
        }
    }
    for _ in 0..digits {
        let b = *raw.get(j).filter(|b| b.is_ascii_digit())?;
        number = number * 10 + u32::from(b - b'0');
        j += 1;
    }
    if raw.get(j) == Some(&b'-') {
        j += 1;
    }
    let letter = *raw.get(j)?;
    j += 1;
    (letter == DNI_LETTERS[(number % 23) as usize] && !alnum_at(raw, j)).then_some(j)
}

/// The end of the US SSN `AAA-GG-SSSS` starting at `i`, if one does (not inside a longer run of
/// dash-separated digit groups).
pub(super) fn ssn_at(raw: &[u8], i: usize) -> Option<usize> {
    let d = |k: usize| {
        raw.get(i + k)
            .filter(|b| b.is_ascii_digit())
            .map(|b| b - b'0')
    };
    let shape = raw.get(i + 3) == Some(&b'-') && raw.get(i + 6) == Some(&b'-');
    if !shape {
        return None;
    }
    let num = |ks: &[usize]| -> Option<u32> {
        ks.iter()
            .try_fold(0u32, |a, &k| Some(a * 10 + u32::from(d(k)?)))
    };
    let (area, group, serial) = (num(&[0, 1, 2])?, num(&[4, 5])?, num(&[7, 8, 9, 10])?);
    let dash_digit =
        |k: usize| raw.get(k) == Some(&b'-') && raw.get(k + 1).is_some_and(u8::is_ascii_digit);
    let before_ok = i == 0
        || !(alnum_at(raw, i - 1) || (raw[i - 1] == b'-' && i >= 2 && raw[i - 2].is_ascii_digit()));
    let after_ok = !alnum_at(raw, i + 11) && !dash_digit(i + 11);
    let valid = area != 0 && area != 666 && area < 900 && group != 0 && serial != 0;
    (before_ok && after_ok && valid).then_some(i + 11)
}
