//! Kubernetes name and label syntax: DNS-1035 / DNS-1123 labels, DNS-1123 subdomains,
//! label keys and label values, with the same limits the API server enforces.

pub const LABEL_MAX: usize = 63;
pub const SUBDOMAIN_MAX: usize = 253;

/// The same rules as regular expressions, for the OpenAPI document (with the limits above
/// as `maxLength`); the tests below hold them to the functions.
pub const DNS1123_LABEL_PATTERN: &str = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
pub const DNS1035_LABEL_PATTERN: &str = "^[a-z]([-a-z0-9]*[a-z0-9])?$";
pub const DNS1123_SUBDOMAIN_PATTERN: &str = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";

fn is_lower_alnum(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63 characters (namespaces, most object names).
pub fn is_dns1123_label(s: &str) -> bool {
    s.len() <= LABEL_MAX && is_label_shaped(s)
}

/// The DNS-1123 label pattern without its length limit (subdomain parts have none).
fn is_label_shaped(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && is_lower_alnum(b[0])
        && is_lower_alnum(b[b.len() - 1])
        && b.iter().all(|&c| is_lower_alnum(c) || c == b'-')
}

/// `[a-z]([-a-z0-9]*[a-z0-9])?`, at most 63 characters (Fluid's rule for runtime names,
/// since they become Service names).
pub fn is_dns1035_label(s: &str) -> bool {
    is_dns1123_label(s) && s.as_bytes()[0].is_ascii_lowercase()
}

/// Dot-separated DNS-1123 label patterns, at most 253 characters in all (Secret and
/// ConfigMap names). As in Kubernetes, the parts have no 63-character limit of their own.
pub fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty() && s.len() <= SUBDOMAIN_MAX && s.split('.').all(is_label_shaped)
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`, at most 63 characters.
fn qualified_name_problem(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if b.is_empty() {
        return Some("must not be empty".into());
    }
    if b.len() > LABEL_MAX {
        return Some(format!("must be no more than {LABEL_MAX} characters"));
    }
    let edge_ok = |c: u8| c.is_ascii_alphanumeric();
    let inner_ok = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.');
    if !edge_ok(b[0]) || !edge_ok(b[b.len() - 1]) || !b.iter().all(|&c| inner_ok(c)) {
        return Some(
            "must consist of alphanumeric characters, '-', '_' or '.', and must start and end \
             with an alphanumeric character"
                .into(),
        );
    }
    None
}

/// A label key: an optional DNS-1123 subdomain prefix and `/`, then a qualified name.
pub fn validate_label_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(prefix) = prefix
        && !is_dns1123_subdomain(prefix)
    {
        return Err(format!("invalid label key {key:?}: prefix must be a DNS-1123 subdomain"));
    }
    match qualified_name_problem(name) {
        Some(p) => Err(format!("invalid label key {key:?}: name part {p}")),
        None => Ok(()),
    }
}

/// A label value: empty, or a qualified name of at most 63 characters.
pub fn validate_label_value(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Ok(());
    }
    match qualified_name_problem(value) {
        Some(p) => Err(format!("invalid label value {value:?}: {p}")),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_names() {
        let cases: &[(&str, bool, bool, bool)] = &[
            // (input, dns1035 label, dns1123 label, dns1123 subdomain)
            ("hbase", true, true, true),
            ("a", true, true, true),
            ("1abc", false, true, true),
            ("abc-", false, false, false),
            ("-abc", false, false, false),
            ("Hbase", false, false, false),
            ("a_b", false, false, false),
            ("global-secret.v1", false, false, true),
            ("a..b", false, false, false),
            ("", false, false, false),
            (&"a".repeat(63), true, true, true),
            (&"a".repeat(64), false, false, true),
        ];
        for (s, l1035, l1123, sub) in cases {
            assert_eq!(is_dns1035_label(s), *l1035, "dns1035 {s}");
            assert_eq!(is_dns1123_label(s), *l1123, "dns1123 label {s}");
            assert_eq!(is_dns1123_subdomain(s), *sub, "subdomain {s}");
        }
        assert!(is_dns1123_subdomain(&"a".repeat(253)));
        assert!(!is_dns1123_subdomain(&"a".repeat(254)));
        assert!(!is_dns1123_subdomain("a."));
    }

    #[test]
    fn patterns_say_what_the_functions_decide() {
        let full = |p: &str, max: usize, s: &str| regex::Regex::new(p).unwrap().is_match(s) && s.len() <= max;
        let inputs = [
            "hbase",
            "a",
            "1abc",
            "abc-",
            "-abc",
            "Hbase",
            "a_b",
            "global-secret.v1",
            "a..b",
            "",
            "a.",
            ".a",
            "a-b.c-d",
            "a\n",
            "x.1",
            "9",
            &"a".repeat(63),
            &"a".repeat(64),
            &"a".repeat(253),
            &"a".repeat(254),
        ];
        for s in inputs {
            assert_eq!(full(DNS1123_LABEL_PATTERN, LABEL_MAX, s), is_dns1123_label(s), "dns1123 label {s:?}");
            assert_eq!(full(DNS1035_LABEL_PATTERN, LABEL_MAX, s), is_dns1035_label(s), "dns1035 label {s:?}");
            assert_eq!(full(DNS1123_SUBDOMAIN_PATTERN, SUBDOMAIN_MAX, s), is_dns1123_subdomain(s), "subdomain {s:?}");
        }
    }

    #[test]
    fn label_keys_and_values() {
        for ok in ["app", "app.kubernetes.io/name", "fluid.io/f-default-hbase", "A_b.c-D"] {
            assert_eq!(validate_label_key(ok), Ok(()), "{ok}");
        }
        for bad in ["", "/x", "Bad_Prefix/x", "a/", "-a", "a b", &"k".repeat(64)] {
            assert!(validate_label_key(bad).is_err(), "{bad}");
        }
        for ok in ["", "true", "v1.2_3-x"] {
            assert_eq!(validate_label_value(ok), Ok(()), "{ok}");
        }
        for bad in ["-x", "x-", "a/b", "a b", &"v".repeat(64)] {
            assert!(validate_label_value(bad).is_err(), "{bad}");
        }
    }
}
