//! Error messages that never quote a secret. Fields that carry one (`SECRET_FIELDS`, at
//! any depth of a request) get messages without the value they were given; parser
//! messages about secret-bearing documents (a kubeconfig) keep their first line, with
//! line and column, and lose every quoted value and source excerpt.

/// Request fields whose values are secrets.
pub const SECRET_FIELDS: [&str; 7] =
    ["password", "token", "kubeconfig", "clientKeyData", "dockerconfigjson", "secret", "auth"];

/// True when a JSON path (`a.b[0].password`) names a secret-bearing field or lies inside one.
pub fn secret_field(path: &str) -> bool {
    path.split(['.', '[', ']']).any(|seg| SECRET_FIELDS.contains(&seg))
}

/// `msg` without the values it quotes: its first line only (parsers add source excerpts
/// below), `"…"` and `` `…` `` spans emptied, and serde's `invalid type/value: <value>,`
/// reduced to its kind.
pub fn scrub(msg: &str) -> String {
    let first = msg.lines().next().unwrap_or_default();
    let mut out = String::with_capacity(first.len());
    let mut quote: Option<char> = None;
    for ch in first.chars() {
        match quote {
            Some(q) if ch == q => {
                out.push('…');
                out.push(ch);
                quote = None;
            }
            Some(_) => {}
            None if ch == '"' || ch == '`' => {
                out.push(ch);
                quote = Some(ch);
            }
            None => out.push(ch),
        }
    }
    if quote.is_some() {
        out.push('…');
    }
    for kind in ["invalid type: ", "invalid value: "] {
        if let Some(i) = out.find(kind)
            && let Some(j) = out[i..].find(", expected")
        {
            out.replace_range(i + kind.len() - 2..i + j, "");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_paths() {
        for p in ["password", "kubeconfig", "users[0].token", "auths.x.auth", "dockerconfigjson.auths"] {
            assert!(secret_field(p), "{p}");
        }
        for p in ["registry", "username", "spec.tokenizer", "", "name"] {
            assert!(!secret_field(p), "{p}");
        }
    }

    #[test]
    fn scrubbed_messages_keep_positions_and_lose_values() {
        let yaml = "failed to parse kubeconfig YAML: error: line 6 column 10: unclosed bracket '['\n --> <input>:6:10\n5 |     token: supersecrettoken123";
        assert_eq!(scrub(yaml), "failed to parse kubeconfig YAML: error: line 6 column 10: unclosed bracket '['");
        assert_eq!(scrub("invalid type: string \"hunter2\", expected u32"), "invalid type, expected u32");
        assert_eq!(scrub("invalid type: integer `42`, expected a string"), "invalid type, expected a string");
        assert_eq!(scrub("unknown variant `hunter2`, expected one of"), "unknown variant `…`, expected one of");
        assert_eq!(scrub("a \"dangling quote"), "a \"…");
        assert!(!scrub("x \"hunter2\" y").contains("hunter2"));
    }
}
