//! Geographic coordinates inside text: a latitude/longitude pair (`48.8584, 2.2945`, or a
//! PostgreSQL `point` as it prints, `(2.2945,48.8584)`), two decimal numbers separated by a comma
//! (spaces allowed around it), each with at least [`GEO_MIN_DECIMALS`] decimals (about 10 m; fewer
//! is a price or a measure more often than a place), one of them within ±90 and the other within
//! ±180. Pairs where both integer parts are 0 (the ocean off Africa, and `pii_scan`'s masked form
//! `0.0000, 0.0000`) are not reported.

/// Coordinates with fewer decimals than this are not reported as a location.
pub const GEO_MIN_DECIMALS: usize = 4;

/// One coordinate at `i`: `-?\d{1,3}\.\d{GEO_MIN_DECIMALS,}`; its end and value.
fn coordinate(raw: &[u8], i: usize) -> Option<(usize, f64)> {
    let mut j = i;
    if raw.get(j) == Some(&b'-') {
        j += 1;
    }
    let int = raw[j.min(raw.len())..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    if !(1..=3).contains(&int) || raw.get(j + int) != Some(&b'.') {
        return None;
    }
    let k = j + int + 1;
    let frac = raw[k.min(raw.len())..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    if frac < GEO_MIN_DECIMALS {
        return None;
    }
    let end = k + frac;
    let v: f64 = std::str::from_utf8(&raw[i..end]).ok()?.parse().ok()?;
    Some((end, v))
}

/// The end of the coordinate pair starting at `i`, if one does.
pub(super) fn geo_at(raw: &[u8], i: usize) -> Option<usize> {
    let before = i.checked_sub(1).map(|k| raw[k]);
    if before.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-') {
        return None;
    }
    let (e1, a) = coordinate(raw, i)?;
    let mut j = e1;
    while raw.get(j) == Some(&b' ') {
        j += 1;
    }
    if raw.get(j) != Some(&b',') {
        return None;
    }
    j += 1;
    while raw.get(j) == Some(&b' ') {
        j += 1;
    }
    let (end, b) = coordinate(raw, j)?;
    let after = raw.get(end);
    if after.is_some_and(|&c| {
        c.is_ascii_alphanumeric()
            || (c == b'.' || c == b',') && raw.get(end + 1).is_some_and(u8::is_ascii_digit)
    }) {
        return None;
    }
    let plausible = (a.abs() <= 90.0 && b.abs() <= 180.0) || (a.abs() <= 180.0 && b.abs() <= 90.0);
    let null_island = a.abs() < 1.0 && b.abs() < 1.0;
    (plausible && !null_island).then_some(end)
}
