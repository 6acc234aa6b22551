//! `WWW-Authenticate` challenges (RFC 9110 §11.6.1) as registries send them: `Basic
//! realm="…"`, or `Bearer realm="https://auth…/token",service="…",scope="…"`, several
//! challenges possibly in one header value.

use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The scheme, lowercased (`basic`, `bearer`).
    pub scheme: String,
    /// Parameters by lowercased name.
    pub params: BTreeMap<String, String>,
}

impl Challenge {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

/// Every challenge of the given header values, in order. Malformed pieces are skipped.
pub fn parse_challenges<'a>(values: impl IntoIterator<Item = &'a str>) -> Vec<Challenge> {
    let mut out = Vec::new();
    for v in values {
        parse_one(v, &mut out);
    }
    out
}

fn is_token(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~/".contains(c)
}

fn parse_one(s: &str, out: &mut Vec<Challenge>) {
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < chars.len() && (chars[*i] == ' ' || chars[*i] == '\t') {
            *i += 1;
        }
    };
    let token = |i: &mut usize| {
        let start = *i;
        while *i < chars.len() && is_token(chars[*i]) {
            *i += 1;
        }
        chars[start..*i].iter().collect::<String>()
    };
    loop {
        // Skip separators between challenges.
        while i < chars.len() && (chars[i] == ',' || chars[i] == ' ' || chars[i] == '\t') {
            i += 1;
        }
        if i >= chars.len() {
            return;
        }
        let scheme = token(&mut i);
        if scheme.is_empty() {
            i += 1;
            continue;
        }
        let mut ch = Challenge { scheme: scheme.to_ascii_lowercase(), params: BTreeMap::new() };
        // Parameters: name = value, separated by commas, until a token not followed by '='
        // (the next challenge's scheme).
        loop {
            skip_ws(&mut i);
            while i < chars.len() && chars[i] == ',' {
                i += 1;
                skip_ws(&mut i);
            }
            let save = i;
            let name = token(&mut i);
            skip_ws(&mut i);
            if name.is_empty() || i >= chars.len() || chars[i] != '=' {
                i = save;
                break;
            }
            i += 1; // '='
            skip_ws(&mut i);
            let value = if i < chars.len() && chars[i] == '"' {
                i += 1;
                let mut v = String::new();
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        i += 1;
                    }
                    v.push(chars[i]);
                    i += 1;
                }
                i += 1; // closing quote
                v
            } else {
                // A bare value: a token, leniently up to the next comma or space (some
                // servers send URLs unquoted).
                let start = i;
                while i < chars.len() && chars[i] != ',' && chars[i] != ' ' && chars[i] != '\t' {
                    i += 1;
                }
                chars[start..i].iter().collect::<String>()
            };
            ch.params.insert(name.to_ascii_lowercase(), value);
        }
        out.push(ch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ch(scheme: &str, params: &[(&str, &str)]) -> Challenge {
        Challenge {
            scheme: scheme.into(),
            params: params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    #[test]
    fn challenges_as_registries_send_them() {
        let rows: Vec<(&str, Vec<&str>, Vec<Challenge>)> = vec![
            (
                "distribution's htpasswd",
                vec![r#"Basic realm="Registry Realm""#],
                vec![ch("basic", &[("realm", "Registry Realm")])],
            ),
            (
                "a token realm with service and scope",
                vec![
                    r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull""#,
                ],
                vec![ch(
                    "bearer",
                    &[
                        ("realm", "https://auth.example.com/token"),
                        ("service", "registry.example.com"),
                        ("scope", "repository:a/b:pull"),
                    ],
                )],
            ),
            (
                "a refused token carries an error",
                vec![r#"Bearer realm="https://a/t", service="r", error="invalid_token""#],
                vec![ch("bearer", &[("realm", "https://a/t"), ("service", "r"), ("error", "invalid_token")])],
            ),
            (
                "two challenges in one value, schemes in any case",
                vec![r#"bearer realm="https://a/t",service=r, BASIC realm="x""#],
                vec![ch("bearer", &[("realm", "https://a/t"), ("service", "r")]), ch("basic", &[("realm", "x")])],
            ),
            (
                "two header values, an escaped quote",
                vec![r#"Basic realm="say \"hi\"""#, "Bearer realm=https://a/t"],
                vec![ch("basic", &[("realm", "say \"hi\"")]), ch("bearer", &[("realm", "https://a/t")])],
            ),
            ("a scheme without parameters", vec!["Negotiate"], vec![ch("negotiate", &[])]),
            ("nothing", vec![""], vec![]),
        ];
        for (what, values, want) in rows {
            assert_eq!(parse_challenges(values), want, "{what}");
        }
    }
}
