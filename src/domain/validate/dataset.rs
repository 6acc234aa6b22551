//! Validation of a parsed Dataset: Fluid's CRD rules, its controllers' rules, and
//! fluidform's own. Every violation is reported with its JSON path.
//!
//! Fluid has no validating webhook: its controllers only emit Warning events, so a bad
//! Dataset is stored and silently never bound. fluidform refuses it up front:
//! - CRD rules: `mountPoint` required, at least 5 characters; `mounts` has at least one
//!   item when present; encrypt options need `name` and `valueFrom.secretKeyRef.name`;
//!   `owner` needs `uid`, `gid`, `user` and `group`; `placement` is `Exclusive`, `Shared`
//!   or empty; `accessModes` are Kubernetes' four values.
//! - Controller rules: the name is a DNS-1035 label; a `dataset://<namespace>/<name>` mount
//!   must be the only mount.
//! - Duplicate mount names and duplicate effective paths are refused for every runtime
//!   kind. Fluid checks this only in its Thin engine; for Alluxio two mounts on one path
//!   shadow each other without a word.
//! - Credentials never travel as plain options: a key of `options` or `sharedOptions`
//!   whose lower-cased name contains `secret`, `password`, `passwd`, `token`,
//!   `credential`, `accesskey`, `access.key`, `access-key`, `access_key`, `account.key` or
//!   `private` is refused, and the message says to use `encryptOptions` with a Secret
//!   reference. No message ever repeats an option's value.
//! - Decided here: `secretKeyRef.key` is required too (without it Fluid points the option
//!   at the Secret's directory); a name given both as an option and as an encrypt option
//!   is refused (Fluid would pass it twice); a relative `path` is refused (Fluid ignores
//!   it and mounts at `/<name>`); a `dataset://` mount needs a namespace and a name and may
//!   not name the Dataset itself; `ReadWriteOncePod` cannot be combined with other modes
//!   and no mode may repeat (the PersistentVolumeClaim Fluid creates would be refused);
//!   `dataRestoreLocation.path` is `local://…` or `pvc://<claim>/…`.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::NodeSelector;

use super::checker::{Checker, NameRule};
use crate::domain::FieldError;
use crate::domain::dataset::{ACCESS_MODES, DATASET_SCHEME, Dataset, EncryptOption, KIND, Mount};
use crate::domain::names::{is_dns1035_label, is_dns1123_label, is_dns1123_subdomain};

const PLACEMENTS: [&str; 3] = ["Exclusive", "Shared", ""];
const CREDENTIAL_WORDS: [&str; 11] = [
    "secret",
    "password",
    "passwd",
    "token",
    "credential",
    "accesskey",
    "access.key",
    "access-key",
    "access_key",
    "account.key",
    "private",
];
const SELECTOR_OPERATORS: [&str; 6] = ["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"];

/// True when an option's name says it carries a credential.
pub(crate) fn is_credential_option(key: &str) -> bool {
    let key = key.to_lowercase();
    CREDENTIAL_WORDS.iter().any(|w| key.contains(w))
}

/// Refuse credential-looking keys of a plain option map, naming the key, never the value.
pub(super) fn credential_options(
    c: &mut Checker<'_>,
    field: &str,
    options: Option<&BTreeMap<String, String>>,
    fix: &str,
) {
    for key in options.into_iter().flatten().map(|(k, _)| k) {
        if is_credential_option(key) {
            c.err(field, format!("option {key:?} looks like a credential; {fix}"));
        }
    }
}

const USE_ENCRYPT_OPTIONS: &str = "give it through encryptOptions with a Secret reference instead";

fn is_secret_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 253
        && key != "."
        && key != ".."
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl Checker<'_> {
    fn encrypt_options(&mut self, field: &str, list: Option<&Vec<EncryptOption>>) {
        let mut seen = BTreeSet::new();
        for (i, o) in list.into_iter().flatten().enumerate() {
            let f = format!("{field}[{i}]");
            if o.name.is_empty() {
                self.err(format!("{f}.name"), "is required");
            } else if !seen.insert(o.name.as_str()) {
                self.err(format!("{f}.name"), format!("{:?} is given more than once", o.name));
            }
            let Some(sel) = o.value_from.as_ref().and_then(|v| v.secret_key_ref.as_ref()) else {
                self.err(
                    format!("{f}.valueFrom.secretKeyRef"),
                    "is required: name the Secret and key holding the value",
                );
                continue;
            };
            let f = format!("{f}.valueFrom.secretKeyRef");
            if sel.name.is_empty() {
                self.err(format!("{f}.name"), "is required");
            } else if !is_dns1123_subdomain(&sel.name) {
                self.err(
                    format!("{f}.name"),
                    format!("{:?} is not a valid Secret name (DNS-1123 subdomain)", sel.name),
                );
            }
            match sel.key.as_deref() {
                None | Some("") => self.err(format!("{f}.key"), "is required: the key of the Secret holding the value"),
                Some(k) if !is_secret_key(k) => {
                    self.err(format!("{f}.key"), format!("{k:?} is not a valid Secret key"))
                }
                Some(_) => {}
            }
        }
    }

    fn mount(&mut self, i: usize, m: &Mount, ds: &Dataset, namespace: &str, name: &str) {
        let base = format!("spec.mounts[{i}]");
        let len = m.mount_point.chars().count();
        if len == 0 {
            self.err(format!("{base}.mountPoint"), "is required");
        } else if len < 5 {
            self.err(format!("{base}.mountPoint"), format!("{:?} is shorter than 5 characters", m.mount_point));
        }
        if m.mount_point.starts_with(DATASET_SCHEME) {
            let f = format!("{base}.mountPoint");
            match m.referenced_dataset() {
                Some((ns, n)) if is_dns1123_label(ns) && is_dns1035_label(n) => {
                    if ns == namespace && n == name {
                        self.err(f.clone(), "a Dataset cannot mount itself");
                    }
                }
                _ => self.err(f.clone(), "must be dataset://<namespace>/<name>[/<subpath>]"),
            }
            if ds.mounts().len() > 1 {
                self.err(f, "a dataset:// mount must be the only mount of the Dataset");
            }
        }
        if let Some(p) = m.path.as_deref()
            && !p.is_empty()
            && !p.starts_with('/')
        {
            self.err(format!("{base}.path"), format!("{p:?} must be absolute (Fluid ignores a relative path)"));
        }
        credential_options(self, &format!("{base}.options"), m.options.as_ref(), USE_ENCRYPT_OPTIONS);
        self.encrypt_options(&format!("{base}.encryptOptions"), m.encrypt_options.as_ref());
        // Shared against shared is reported once, for the whole Dataset.
        let s = &ds.spec;
        self.option_clashes(
            &format!("{base}.options"),
            m.options.as_ref(),
            [m.encrypt_options.as_ref(), s.shared_encrypt_options.as_ref()],
        );
        self.option_clashes(&format!("{base}.options"), s.shared_options.as_ref(), [m.encrypt_options.as_ref(), None]);
    }

    /// A name given both as a plain option and as an encrypt option: Fluid would pass it twice.
    fn option_clashes(
        &mut self,
        field: &str,
        plain: Option<&BTreeMap<String, String>>,
        encrypted: [Option<&Vec<EncryptOption>>; 2],
    ) {
        let Some(plain) = plain else { return };
        let mut reported = BTreeSet::new();
        for o in encrypted.into_iter().flatten().flatten() {
            if plain.contains_key(&o.name) && reported.insert(o.name.as_str()) {
                self.err(field, format!("{:?} is given both as an option and as an encrypt option", o.name));
            }
        }
    }
}

/// Fluid's rules for a Dataset plus fluidform's. Returns every violation, each with its field.
pub fn validate_dataset(ds: &Dataset, path_namespace: &str, path_name: &str) -> Vec<FieldError> {
    let mut c = Checker::new();
    c.object_meta(
        (&ds.api_version, &ds.kind, KIND),
        &ds.metadata,
        Some(path_namespace),
        path_name,
        NameRule::Dns1035("Dataset"),
    );
    let s = &ds.spec;
    if s.mounts.as_ref().is_some_and(Vec::is_empty) {
        c.err("spec.mounts", "must have at least one mount; omit the field for a Dataset that mounts nothing");
    }
    let mut names: BTreeMap<&str, usize> = BTreeMap::new();
    let mut paths: BTreeMap<String, usize> = BTreeMap::new();
    for (i, m) in ds.mounts().iter().enumerate() {
        c.mount(i, m, ds, path_namespace, path_name);
        if let Some(n) = m.name.as_deref().filter(|n| !n.is_empty())
            && let Some(other) = names.insert(n, i)
        {
            c.err(format!("spec.mounts[{i}].name"), format!("{n:?} is already the name of mounts[{other}]"));
            continue; // the same name implies the same path: one report is enough
        }
        let path = m.effective_path();
        if let Some(other) = paths.get(&path) {
            c.err(format!("spec.mounts[{i}].path"), format!("{path:?} is already the path of mounts[{other}]"));
        } else {
            paths.insert(path, i);
        }
    }
    c.user("spec.owner", s.owner.as_ref());
    if let Some(required) = s.node_affinity.as_ref().and_then(|a| a.required.as_ref()) {
        let f = "spec.nodeAffinity.required";
        match c.k8s_typed::<NodeSelector>(f, "node selector", required) {
            None => {}
            Some(sel) if sel.node_selector_terms.is_empty() => {
                c.err(format!("{f}.nodeSelectorTerms"), "must have at least one term")
            }
            Some(sel) => {
                for (t, term) in sel.node_selector_terms.iter().enumerate() {
                    for (part, reqs) in
                        [("matchExpressions", &term.match_expressions), ("matchFields", &term.match_fields)]
                    {
                        for (r, req) in reqs.iter().flatten().enumerate() {
                            c.one_of(
                                &format!("{f}.nodeSelectorTerms[{t}].{part}[{r}].operator"),
                                Some(&req.operator),
                                &SELECTOR_OPERATORS,
                            );
                        }
                    }
                }
            }
        }
    }
    c.tolerations("spec.tolerations", s.tolerations.as_ref());
    let mut modes = BTreeSet::new();
    for (i, mode) in s.access_modes.iter().flatten().enumerate() {
        let f = format!("spec.accessModes[{i}]");
        c.one_of(&f, Some(mode), &ACCESS_MODES);
        if !modes.insert(mode.as_str()) {
            c.err(f, format!("{mode:?} is given more than once"));
        }
    }
    if modes.contains("ReadWriteOncePod") && modes.len() > 1 {
        c.err("spec.accessModes", "ReadWriteOncePod cannot be combined with other access modes");
    }
    for (i, r) in s.runtimes.iter().flatten().enumerate() {
        if let Some(n) = r.name.as_deref()
            && !is_dns1035_label(n)
        {
            c.err(format!("spec.runtimes[{i}].name"), format!("{n:?} is not a valid runtime name (DNS-1035 label)"));
        }
        if let Some(ns) = r.namespace.as_deref()
            && !is_dns1123_label(ns)
        {
            c.err(format!("spec.runtimes[{i}].namespace"), format!("{ns:?} is not a valid namespace (DNS-1123 label)"));
        }
        c.not_negative(&format!("spec.runtimes[{i}].masterReplicas"), r.master_replicas);
    }
    c.one_of("spec.placement", s.placement.as_ref(), &PLACEMENTS);
    if let Some(loc) = &s.data_restore_location {
        if let Some(p) = loc.path.as_deref() {
            let pvc_ok = p.strip_prefix("pvc://").is_some_and(|rest| {
                let claim = rest.split('/').next().unwrap_or("");
                is_dns1123_subdomain(claim)
            });
            if !p.starts_with("local://") && !pvc_ok {
                c.err(
                    "spec.dataRestoreLocation.path",
                    format!("{p:?} must be local://<subpath> or pvc://<claim>/<subpath>"),
                );
            }
        }
        c.object_name("spec.dataRestoreLocation.nodeName", "node", loc.node_name.as_ref());
    }
    credential_options(&mut c, "spec.sharedOptions", s.shared_options.as_ref(), USE_ENCRYPT_OPTIONS);
    c.encrypt_options("spec.sharedEncryptOptions", s.shared_encrypt_options.as_ref());
    c.option_clashes("spec.sharedOptions", s.shared_options.as_ref(), [s.shared_encrypt_options.as_ref(), None]);
    c.errors
}

#[cfg(test)]
#[path = "dataset_tests.rs"]
mod tests;
