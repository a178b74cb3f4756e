//! Network identifiers inside text: IPv4 and IPv6 addresses, MAC addresses. Each detector works
//! over a range or at a candidate position the dispatcher ([`super::find`]) picked, and looks at
//! the whole field for its boundaries.

/// Dotted quads `a.b.c.d` starting in `from..to` (each 0..=255, no leading zeros beyond one
/// digit), not part of a longer dotted number (`1.2.3.4.5`, `120.0.1.2.3`) or word, nor a version
/// after a product token (`Firefox/121.0.1.2`).
pub(super) fn scan_ipv4(raw: &[u8], from: usize, to: usize, f: &mut impl FnMut(usize, usize)) {
    let mut i = from;
    while i < to {
        // After a letter or digit, or a product token's `/` (`Chrome/120.0.1.2`, `curl/7.68.0.1`):
        // a version, not an address (a URL's `//10.1.2.3` still is one).
        let version_slash = i > 1 && raw[i - 1] == b'/' && raw[i - 2].is_ascii_alphanumeric();
        if !raw[i].is_ascii_digit()
            || (i > 0 && (raw[i - 1].is_ascii_alphanumeric() || raw[i - 1] == b'.'))
            || version_slash
        {
            i += 1;
            continue;
        }
        let start = i;
        let mut j = i;
        let mut ok = true;
        for part in 0..4 {
            let s = j;
            while j < raw.len() && raw[j].is_ascii_digit() && j - s < 4 {
                j += 1;
            }
            let len = j - s;
            if len == 0 || len > 3 || (len > 1 && raw[s] == b'0') {
                ok = false;
                break;
            }
            let v: u32 = raw[s..j]
                .iter()
                .fold(0, |a, &b| a * 10 + u32::from(b - b'0'));
            if v > 255 {
                ok = false;
                break;
            }
            if part < 3 {
                if j < raw.len() && raw[j] == b'.' {
                    j += 1;
                } else {
                    ok = false;
                    break;
                }
            }
        }
        let bounded = j >= raw.len()
            || !(raw[j].is_ascii_alphanumeric()
                || (raw[j] == b'.' && raw.get(j + 1).is_some_and(u8::is_ascii_digit)));
        if ok && bounded && !is_documentation_ip(&raw[start..j]) {
            f(start, j);
            i = j;
        } else {
            i = start + 1;
            while i < raw.len() && raw[i].is_ascii_digit() {
                i += 1;
            }
        }
    }
}

/// A byte of an IPv6 address as written: hex digits, colons, dots (an embedded IPv4 tail).
fn v6_part(b: u8) -> bool {
    b.is_ascii_hexdigit() || b == b':' || b == b'.'
}

/// IPv6 addresses: runs of hex digits, colons and dots with two colons or more, not touching
/// letters, digits or colons, that `Ipv6Addr` accepts. Only the runs around a colon are looked at.
/// Times (`10:30:00`) and MAC addresses (six groups, no `::`) are not addresses; neither are `::`,
/// `::1` and the RFC 3849 documentation prefix `2001:db8::/32`, which masking may write.
pub(super) fn scan_ipv6(raw: &[u8], f: &mut impl FnMut(usize, usize)) {
    let mut done = 0;
    for colon in memchr::memchr_iter(b':', raw) {
        if colon < done {
            continue;
        }
        let mut start = colon;
        while start > 0 && v6_part(raw[start - 1]) {
            start -= 1;
        }
        let mut i = colon;
        while i < raw.len() && v6_part(raw[i]) {
            i += 1;
        }
        done = i;
        // A sentence may end right after the address.
        let mut end = i;
        while end > start && raw[end - 1] == b'.' {
            end -= 1;
        }
        let touches_word = (start > 0 && raw[start - 1].is_ascii_alphanumeric())
            || (i < raw.len() && raw[i].is_ascii_alphanumeric());
        let colons = raw[start..end].iter().filter(|&&b| b == b':').count();
        if touches_word || colons < 2 {
            continue;
        }
        let Some(addr) = std::str::from_utf8(&raw[start..end])
            .ok()
            .and_then(|t| t.parse::<std::net::Ipv6Addr>().ok())
        else {
            continue;
        };
        let seg = addr.segments();
        let documentation = seg[0] == 0x2001 && seg[1] == 0x0db8;
        if !(addr.is_unspecified() || addr.is_loopback() || documentation) {
            f(start, end);
        }
    }
}

/// RFC 5737 documentation ranges (TEST-NET-1/2/3), the IP analogue of `example.com`: what masking
/// writes, never a real host.
pub(super) fn is_documentation_ip(ip: &[u8]) -> bool {
    ip.starts_with(b"192.0.2.") || ip.starts_with(b"198.51.100.") || ip.starts_with(b"203.0.113.")
}

/// The RFC 7042 documentation block `00-00-5E-00-53-xx` that masking writes.
pub const DOCUMENTATION_MAC: [u8; 5] = [0x00, 0x00, 0x5e, 0x00, 0x53];

/// MAC addresses at the separators in `raw`: six hex pairs separated by `:` or by `-`
/// (`00:1a:2b:3c:4d:5e`, `00-1A-2B-3C-4D-5E`), or three groups of four hex digits separated by
/// dots (`001a.2b3c.4d5e`), not touching letters, digits or a further group. The all-zero and
/// broadcast addresses and the documentation block are not reported.
pub(super) fn scan_macs(raw: &[u8], colons: bool, f: &mut impl FnMut(usize, usize)) {
    let mut done = 0;
    let mut check = |sep: usize, f: &mut dyn FnMut(usize, usize)| {
        let back = if raw[sep] == b'.' { 4 } else { 2 };
        if sep < done + back || sep < back {
            return;
        }
        if let Some(end) = mac_at(raw, sep - back) {
            f(sep - back, end);
            done = end;
        }
    };
    // Without two colons in the field, only the `-` and `.` forms can be there.
    if colons {
        for sep in memchr::memchr3_iter(b':', b'-', b'.', raw) {
            check(sep, f);
        }
    } else {
        for sep in memchr::memchr2_iter(b'-', b'.', raw) {
            check(sep, f);
        }
    }
}

/// The end of the MAC address starting at `i`, if one does.
pub(super) fn mac_at(raw: &[u8], i: usize) -> Option<usize> {
    let hex = |k: usize| raw.get(k).is_some_and(u8::is_ascii_hexdigit);
    let dotted = raw.get(i + 4) == Some(&b'.');
    let (group, groups, sep) = if dotted {
        (4, 3, b'.')
    } else {
        (2, 6, *raw.get(i + 2)?)
    };
    if !matches!(sep, b':' | b'-' | b'.') {
        return None;
    }
    let mut octets = [0u8; 6];
    let mut j = i;
    let mut nibbles = 0;
    for g in 0..groups {
        for _ in 0..group {
            if !hex(j) {
                return None;
            }
            let v = (raw[j] as char).to_digit(16)? as u8;
            octets[nibbles / 2] = (octets[nibbles / 2] << 4) | v;
            nibbles += 1;
            j += 1;
        }
        if g + 1 < groups {
            if raw.get(j) != Some(&sep) {
                return None;
            }
            j += 1;
        }
    }
    let before_ok = i == 0 || !(raw[i - 1].is_ascii_alphanumeric() || raw[i - 1] == sep);
    // No letter or digit after it, nor a seventh group.
    let after_ok = !(raw.get(j).is_some_and(u8::is_ascii_alphanumeric)
        || (raw.get(j) == Some(&sep) && hex(j + 1)));
    let special = octets == [0; 6] || octets == [0xff; 6] || octets[..5] == DOCUMENTATION_MAC;
    (before_ok && after_ok && !special).then_some(j)
}
