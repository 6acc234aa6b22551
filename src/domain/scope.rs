//! Where a credential may be used: namespaces and clusters, by name or `*` glob. A
//! credential without a list for one of them may be used everywhere along it. Only
//! binding a runtime to the credential checks the scope: a runtime in a namespace or on a
//! cluster the scope leaves out never gets the credential's Secret.

use serde::{Deserialize, Serialize};

use super::FieldError;

/// The most names or globs one list holds.
pub const MAX_PATTERNS: usize = 100;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    /// `None`: every namespace.
    pub namespaces: Option<Vec<String>>,
    /// `None`: every cluster.
    pub clusters: Option<Vec<String>>,
}

/// Why a scope refuses a use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    Namespace(String),
    Cluster(String),
}

/// `*` matches any run of characters (none included); everything else matches itself.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && p[pi] != '*' && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

fn matches_any(list: &Option<Vec<String>>, name: &str) -> bool {
    list.as_ref().is_none_or(|l| l.iter().any(|p| glob_match(p, name)))
}

impl Scope {
    pub fn everywhere() -> Self {
        Self::default()
    }

    pub fn allows(&self, namespace: &str, cluster: &str) -> Result<(), Denied> {
        if !matches_any(&self.namespaces, namespace) {
            return Err(Denied::Namespace(namespace.to_string()));
        }
        if !matches_any(&self.clusters, cluster) {
            return Err(Denied::Cluster(cluster.to_string()));
        }
        Ok(())
    }

    /// Every problem of the lists, named by their request fields.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut out = Vec::new();
        for (field, list) in [("allowedNamespaces", &self.namespaces), ("allowedClusters", &self.clusters)] {
            let Some(list) = list else { continue };
            if list.is_empty() {
                out.push(FieldError::new(field, "must name at least one pattern; omit the field to allow everywhere"));
            }
            if list.len() > MAX_PATTERNS {
                out.push(FieldError::new(field, format!("at most {MAX_PATTERNS} patterns")));
            }
            for (i, p) in list.iter().enumerate() {
                let ok = !p.is_empty()
                    && p.len() <= 253
                    && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.*".contains(&b));
                if !ok {
                    out.push(FieldError::new(
                        format!("{field}[{i}]"),
                        "must be a name or a glob of lowercase letters, digits, '-', '.' and '*'",
                    ));
                }
            }
        }
        out
    }
}

impl std::fmt::Display for Denied {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Denied::Namespace(n) => write!(f, "namespace {n:?}"),
            Denied::Cluster(c) => write!(f, "cluster {c:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let rows = [
            ("team-*", "team-a", true),
            ("team-*", "team-", true),
            ("team-*", "teams", false),
            ("*", "anything", true),
            ("*-prod", "eu-prod", true),
            ("*-prod", "eu-prod-2", false),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            ("exact", "exact", true),
            ("exact", "exactly", false),
            ("", "", true),
        ];
        for (p, t, want) in rows {
            assert_eq!(glob_match(p, t), want, "{p} ~ {t}");
        }
    }

    #[test]
    fn scopes_allow_and_deny_by_namespace_then_cluster() {
        let s = Scope { namespaces: Some(vec!["team-*".into()]), clusters: Some(vec!["prod-eu".into()]) };
        assert_eq!(s.allows("team-a", "prod-eu"), Ok(()));
        assert_eq!(s.allows("other", "prod-eu"), Err(Denied::Namespace("other".into())));
        assert_eq!(s.allows("team-a", "dev"), Err(Denied::Cluster("dev".into())));
        assert_eq!(Scope::everywhere().allows("x", "y"), Ok(()));
    }

    #[test]
    fn bad_lists_are_named() {
        let s = Scope { namespaces: Some(vec![]), clusters: Some(vec!["ok".into(), "Bad_Name".into()]) };
        let fields: Vec<String> = s.validate().into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["allowedNamespaces", "allowedClusters[1]"]);
    }
}
