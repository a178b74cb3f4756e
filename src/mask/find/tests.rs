//! The detectors' tests: what each kind finds, and what it must not (pgveil's own masked forms,
//! versions, times, ids).
use super::*;

fn found(raw: &str) -> Vec<(Category, String)> {
    let mut v = Vec::new();
    scan_value(raw.as_bytes(), |c, s, e| v.push((c, raw[s..e].to_string())));
    v
}

#[test]
fn values() {
    use Category::*;
    assert_eq!(
        found("mail ann@x.org now"),
        vec![(Email, "ann@x.org".into())]
    );
    assert!(found("nobody@example.com").is_empty());
    assert!(found("{nobody+0a1b2c@example.com}").is_empty());
    assert!(found("nobody+0123456789abcdef@example.com").is_empty());
    // A keyed tag of 16 decimal digits passing the Luhn check (1 in ~20,000 pseudonyms).
    assert!(luhn(&[4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]));
    for masked in [
        "nobody+4111111111111111@example.com",
        "{nobody+4111111111111111@example.com,x}",
        "mail nobody+4111111111111111@example.com.",
        "\\nnobody+4111111111111111@example.com",
    ] {
        assert!(found(masked).is_empty(), "{masked}: {:?}", found(masked));
    }
    // The same digits in anything but the masked form are still a card.
    for card in [
        "xnobody+4111111111111111@example.com",
        "nobody+4111111111111111@example.com.evil.org",
        "nobody+4111111111111111@example.co",
        "nobody-4111111111111111@example.com",
        "nobody+4111-1111-1111-1111@example.com",
    ] {
        assert!(
            found(card).iter().any(|(c, _)| *c == Card),
            "{card}: {:?}",
            found(card)
        );
    }
    assert_eq!(
        found("paid with 4111 1111 1111 1111."),
        vec![(Card, "4111 1111 1111 1111".into())]
    );
    // A wrong check digit is not a card (and has too many digits for a phone).
    assert!(found("4111 1111 1111 1112").is_empty());
    assert_eq!(
        found("from 192.168.1.20,"),
        vec![(Ip, "192.168.1.20".into())]
    );
    assert!(found("version 1.2.3.4.5").is_empty());
    for ua in [
        "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0.1.2",
        "Chrome/120.0.6099.109 Safari/537.36",
        "MyApp/5.0.1.2 (iOS 17.1.2)",
        "curl/7.68.0.1",
        "v5.0.1.2",
    ] {
        assert!(found(ua).is_empty(), "{ua}: {:?}", found(ua));
    }
    assert_eq!(
        found("http://192.168.1.20/admin"),
        vec![(Ip, "192.168.1.20".into())]
    );
    assert!(found("300.1.1.1").is_empty());
    assert!(found("192.0.2.1").is_empty());
    assert_eq!(
        found("login from 2a02:1810:4d02:e500::1d4c."),
        vec![(Ip, "2a02:1810:4d02:e500::1d4c".into())]
    );
    assert_eq!(
        found("fe80::1ff:fe23:4567:890a,"),
        vec![(Ip, "fe80::1ff:fe23:4567:890a".into())]
    );
    // The IPv4 tail is reported once, as part of the IPv6 address and as an IPv4 address.
    assert!(found("::ffff:10.1.2.3").contains(&(Ip, "::ffff:10.1.2.3".into())));
    for not_an_address in [
        "10:30:00",
        "at 2024-01-15 10:30:00+00:00",
        "00:1a:2b:3c:4d:5e",
        "::",
        "::1",
        "2001:db8::17",
        "ab::cd::ef",
        "key:value:pair",
    ] {
        assert!(
            found(not_an_address).iter().all(|(c, _)| *c != Ip),
            "{not_an_address}: {:?}",
            found(not_an_address)
        );
    }
    assert_eq!(
        found("call +44 20 7946 0958 today"),
        vec![(Phone, "+44 20 7946 0958".into())]
    );
    assert_eq!(found("555-123-4567"), vec![(Phone, "555-123-4567".into())]);
    assert!(found("2024-01-15 10:30:00+00").is_empty());
    assert!(found("12345678").is_empty());
    assert!(found("550e8400-e29b-41d4-a716-446655440000").is_empty());
    let mut buf = Vec::new();
    let mut n = 0;
    scan_field(b"\\N", &mut buf, |_| n += 1);
    // The escaped text `\\heidi@x.org` is `\heidi@x.org`, as email_scan sees it.
    scan_field(b"bcc:\\\\heidi@x.org", &mut buf, |_| n += 1);
    assert_eq!(n, 1);
    scan_field(b"bcc:\\\\nobody@example.com", &mut buf, |_| n += 1);
    assert_eq!(
        n, 1,
        "what email_scan writes after a backslash is not a finding"
    );
}

#[test]
fn ibans_and_masked_forms() {
    use Category::*;
    assert_eq!(
        found("pay to FR76 3000 6000 0112 3456 7890 189 now"),
        vec![(Card, "FR76 3000 6000 0112 3456 7890 189".into())]
    );
    assert_eq!(
        found("DE89370400440532013000."),
        vec![(Card, "DE89370400440532013000".into())]
    );
    assert_eq!(
        found("GB82 WEST 1234 5698 7654 32"),
        vec![(Card, "GB82 WEST 1234 5698 7654 32".into())]
    );
    // A wrong check, a word around it, pgveil's masked forms: not found.
    for not_found in [
        "FR76 3000 6000 0112 3456 7890 188",
        "XDE89370400440532013000",
        "FR00 0000 0000 0000 0000 0000 000",
        "0000 0000 0000 0000",
        "+00 0 00 00 00 00",
        "+000-000-0000",
        "+(000) 0000 0000",
    ] {
        assert!(
            found(not_found).is_empty(),
            "{not_found}: {:?}",
            found(not_found)
        );
    }
    // A phone running into an IP address ends before it.
    assert_eq!(
        found("+33 5 62 02 97 93 10.1.2.3"),
        vec![(Ip, "10.1.2.3".into()), (Phone, "+33 5 62 02 97 93".into())]
    );
    assert!(iban_checks(b"DE89370400440532013000"));
    assert!(!iban_checks(b"DE88370400440532013000"));
}

#[test]
fn luhn_digits() {
    assert!(luhn(&[4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]));
    assert!(!luhn(&[4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2]));
}

proptest::proptest! {
    #[test]
    fn any_bytes_give_spans_inside_the_field(raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
        scan_value(&raw, |c, s, e| {
            assert!(s < e && e <= raw.len(), "{c} {s}..{e} of {}", raw.len());
        });
    }

    #[test]
    fn planted_cards_are_found(
        digits in proptest::collection::vec(0u8..10, 12..18),
        sep in proptest::prop_oneof![proptest::strategy::Just(""), proptest::strategy::Just(" "), proptest::strategy::Just("-")],
    ) {
        // Complete the number with its Luhn check digit, then group it by 4.
        let check = (0..10u8).find(|c| {
            let mut d = digits.clone();
            d.push(*c);
            luhn(&d)
        }).unwrap();
        let mut all = digits.clone();
        all.push(check);
        let text: Vec<String> = all.chunks(4).map(|g| g.iter().map(|d| (b'0' + d) as char).collect()).collect();
        let card = text.join(sep);
        let field = format!("paid with {card}, thanks");
        let mut cards = Vec::new();
        scan_value(field.as_bytes(), |c, s, e| if c == Category::Card { cards.push(field[s..e].to_string()) });
        proptest::prop_assert_eq!(cards, vec![card]);
    }
}

fn kinds_found(raw: &str) -> Vec<(Kind, String)> {
    let mut v = Vec::new();
    find(raw.as_bytes(), Kind::all(), |k, s, e| {
        v.push((k, raw[s..e].to_string()))
    });
    v
}

#[test]
fn mac_addresses() {
    for (text, mac) in [
        ("device 00:1a:2b:3c:4d:5e seen", "00:1a:2b:3c:4d:5e"),
        ("(00-1A-2B-3C-4D-5E)", "00-1A-2B-3C-4D-5E"),
        ("cisco 001a.2b3c.4d5e.", "001a.2b3c.4d5e"),
        ("aa:bb:cc:dd:ee:ff", "aa:bb:cc:dd:ee:ff"),
    ] {
        assert_eq!(kinds_found(text), vec![(Kind::Mac, mac.into())], "{text}");
    }
    for not_a_mac in [
        "00:1a:2b:3c:4d:5e:6f",
        "x00:1a:2b:3c:4d:5e",
        "00:1a:2b:3c:4d",
        "00:1a-2b:3c:4d:5e",
        "10:30:00",
        "00:00:5e:00:53:2a",
        "00:00:00:00:00:00",
        "ff:ff:ff:ff:ff:ff",
        "001a.2b3c.4d5e.6f70",
        "well-be-at-it-no-go",
    ] {
        assert!(
            kinds_found(not_a_mac).iter().all(|(k, _)| *k != Kind::Mac),
            "{not_a_mac}: {:?}",
            kinds_found(not_a_mac)
        );
    }
}

#[test]
fn national_ids_with_their_checks() {
    for (text, id) in [
        ("NIR 1 85 05 78 006 084 91.", "1 85 05 78 006 084 91"),
        ("nir:185057800608491", "185057800608491"),
        ("2 69 05 19 123 456 88", "2 69 05 19 123 456 88"),
        ("2 90 03 2A 004 012 34", "2 90 03 2A 004 012 34"),
        ("DNI 12345678Z", "12345678Z"),
        ("dni 12345678-Z,", "12345678-Z"),
        ("NIE X1234567L", "X1234567L"),
        ("NIE Y-7654321-G", "Y-7654321-G"),
        ("SSN 123-45-6789.", "123-45-6789"),
    ] {
        assert_eq!(
            kinds_found(text),
            vec![(Kind::NationalId, id.into())],
            "{text}"
        );
    }
    for wrong in [
        // A wrong key or letter, an impossible month or sex digit, SSN ranges never issued.
        "1 85 05 78 006 084 92",
        "1 85 13 78 006 084 91",
        "3 85 05 78 006 084 91",
        "12345678A",
        "A12345678Z",
        "X1234567A",
        "000-12-3456",
        "666-12-3456",
        "912-12-3456",
        "123-00-4567",
        "123-45-0000",
        "1-123-45-6789",
        "123-45-6789-1",
    ] {
        assert!(
            kinds_found(wrong)
                .iter()
                .all(|(k, _)| *k != Kind::NationalId),
            "{wrong}: {:?}",
            kinds_found(wrong)
        );
    }
}

#[test]
fn coordinate_pairs() {
    for (text, pair) in [
        ("at 48.8584, 2.2945 today", "48.8584, 2.2945"),
        ("(2.2945,48.8584)", "2.2945,48.8584"),
        ("-33.86882 , 151.20929", "-33.86882 , 151.20929"),
        ("(-122.4194,37.7749)", "-122.4194,37.7749"),
    ] {
        assert_eq!(kinds_found(text), vec![(Kind::Geo, pair.into())], "{text}");
    }
    for not_a_place in [
        "48.858, 2.294",
        "48.8584",
        "123.4567, 123.4567",
        "0.0000, 0.0000",
        "1.2.3.4567, 2.2945",
        "v48.8584, 2.2945",
    ] {
        let found: Vec<_> = kinds_found(not_a_place)
            .into_iter()
            .filter(|(k, _)| *k == Kind::Geo)
            .collect();
        assert!(found.is_empty(), "{not_a_place}: {found:?}");
    }
    // Prices with 4+ decimals in a plausible range are a known false positive of the shape:
    // `total 12.5000, 13.2500` is reported.
    assert_eq!(
        kinds_found("total 12.5000, 13.2500").len(),
        1,
        "{:?}",
        kinds_found("total 12.5000, 13.2500")
    );
}

#[test]
fn every_kind_in_one_text_is_found_once() {
    let text = "ann@x.org, +33 5 62 02 97 93, card 4111 1111 1111 1111, FR76 3000 6000 0112 3456 7890 189 \
                10.1.2.3 fe80::1ff:fe23:4567:890a 00:1a:2b:3c:4d:5e 123-45-6789 48.8584, 2.2945";
    let mut kinds: Vec<Kind> = kinds_found(text).into_iter().map(|(k, _)| k).collect();
    kinds.sort();
    kinds.dedup();
    assert_eq!(kinds, Kind::ALL.to_vec(), "{:?}", kinds_found(text));
}

proptest::proptest! {
    #[test]
    fn next_digit_is_the_first_digit(raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40), from in 0usize..40) {
        let from = from.min(raw.len());
        let want = raw[from..].iter().position(u8::is_ascii_digit).map(|k| from + k);
        proptest::prop_assert_eq!(next_digit(&raw, from), want);
    }
}
