//! Kubernetes label selectors as `kubectl -l` writes them: equality-based (`a=b`, `a==b`,
//! `a!=b`) and set-based (`a in (x,y)`, `a notin (x)`, `a`, `!a`), comma-separated, all of
//! which must hold. An empty selector matches everything. As in Kubernetes, `!=` and
//! `notin` also match objects that lack the key.

use std::collections::{BTreeMap, BTreeSet};

use super::names::{validate_label_key, validate_label_value};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, BTreeSet<String>),
    NotIn(String, BTreeSet<String>),
    Exists(String),
    DoesNotExist(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selector {
    pub requirements: Vec<Requirement>,
}

impl Requirement {
    fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match self {
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
            Requirement::In(k, vs) => labels.get(k).is_some_and(|v| vs.contains(v)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|v| !vs.contains(v)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::DoesNotExist(k) => !labels.contains_key(k),
        }
    }
}

impl Selector {
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| r.matches(labels))
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }
}

/// Split at commas that are not inside parentheses.
fn split_top_level(s: &str) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return Err("unbalanced ')'".into());
                }
            }
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err("unbalanced '('".into());
    }
    parts.push(&s[start..]);
    Ok(parts)
}

fn key(k: &str) -> Result<String, String> {
    let k = k.trim();
    validate_label_key(k)?;
    Ok(k.to_string())
}

fn value(v: &str) -> Result<String, String> {
    let v = v.trim();
    validate_label_value(v)?;
    Ok(v.to_string())
}

fn value_set(rest: &str) -> Result<BTreeSet<String>, String> {
    let rest = rest.trim();
    let inner = rest
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| format!("expected a parenthesised value list, got {rest:?}"))?;
    inner.split(',').map(value).collect()
}

/// Split `key in (…)` / `key notin (…)`: the operator must stand as its own word.
fn split_set_op<'a>(part: &'a str, op: &str) -> Option<(&'a str, &'a str)> {
    let mut words = part.splitn(2, char::is_whitespace);
    let k = words.next()?;
    let rest = words.next()?.trim_start();
    let after = rest.strip_prefix(op)?;
    (after.starts_with(char::is_whitespace) || after.starts_with('(')).then_some((k, after))
}

fn parse_requirement(part: &str) -> Result<Requirement, String> {
    let part = part.trim();
    if part.is_empty() {
        return Err("empty requirement".into());
    }
    if let Some((k, v)) = part.split_once("!=") {
        return Ok(Requirement::NotEquals(key(k)?, value(v)?));
    }
    if let Some((k, v)) = part.split_once("==") {
        return Ok(Requirement::Equals(key(k)?, value(v)?));
    }
    if let Some((k, v)) = part.split_once('=') {
        return Ok(Requirement::Equals(key(k)?, value(v)?));
    }
    if let Some((k, rest)) = split_set_op(part, "notin") {
        return Ok(Requirement::NotIn(key(k)?, value_set(rest)?));
    }
    if let Some((k, rest)) = split_set_op(part, "in") {
        return Ok(Requirement::In(key(k)?, value_set(rest)?));
    }
    if let Some(k) = part.strip_prefix('!') {
        return Ok(Requirement::DoesNotExist(key(k)?));
    }
    Ok(Requirement::Exists(key(part)?))
}

/// Parse a selector string; the error names the requirement that failed.
pub fn parse_selector(input: &str) -> Result<Selector, String> {
    if input.trim().is_empty() {
        return Ok(Selector::default());
    }
    let requirements = split_top_level(input)?
        .into_iter()
        .map(|p| parse_requirement(p).map_err(|e| format!("in {:?}: {e}", p.trim())))
        .collect::<Result<_, _>>()?;
    Ok(Selector { requirements })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn matching_table() {
        let l = labels(&[("env", "prod"), ("team", "data"), ("tier", "cache")]);
        let cases: &[(&str, bool)] = &[
            ("", true),
            ("env=prod", true),
            ("env==prod", true),
            ("env=dev", false),
            ("env!=dev", true),
            ("env!=prod", false),
            ("missing!=x", true),
            ("env in (dev,prod)", true),
            ("env in (dev, staging)", false),
            ("env notin (dev)", true),
            ("env notin (prod,dev)", false),
            ("missing notin (x)", true),
            ("missing in (x)", false),
            ("team", true),
            ("missing", false),
            ("!missing", true),
            ("!team", false),
            ("env=prod,team=data", true),
            ("env=prod,team=web", false),
            ("env in (prod),tier notin (mem),!x,team", true),
            (" env = prod , team ", true),
        ];
        for (sel, want) in cases {
            let s = parse_selector(sel).unwrap_or_else(|e| panic!("{sel}: {e}"));
            assert_eq!(s.matches(&l), *want, "{sel}");
        }
        // A key named like an operator still parses as a key.
        assert!(parse_selector("index").unwrap().matches(&labels(&[("index", "")])));
        assert!(parse_selector("app.kubernetes.io/name=alluxio").is_ok());
    }

    #[test]
    fn rejects() {
        for bad in [
            "env=prod,",
            ",",
            "env in prod",
            "env in (prod",
            "env)=x",
            "bad key=x",
            "env=-x",
            "!",
            "=x",
            "env in (a b)",
        ] {
            assert!(parse_selector(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
