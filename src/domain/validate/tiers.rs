//! Checks of `spec.tieredstore`: media, volume types, paths, quotas and watermarks, with
//! the differences between runtime kinds given as `LevelRules`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Volume;
use serde_json::Value;

use super::checker::Checker;
use crate::domain::manifest::{Level, StringOrNumber};
use crate::domain::quantity::parse_quantity;

const MEDIUM_TYPES: [&str; 3] = ["MEM", "SSD", "HDD"];
const VOLUME_TYPES: [&str; 2] = ["hostPath", "emptyDir"];

/// What a tiered-store level must give, which differs by runtime kind.
#[derive(Clone, Copy)]
pub(super) struct LevelRules {
    /// Alluxio and Jindo size their cache from `quota`/`quotaList`; Thin reads only `path`.
    pub quota_required: bool,
    /// Thin uses `levels[0].path` verbatim as one cache directory.
    pub single_path: bool,
}

impl<'a> Checker<'a> {
    fn watermark(&mut self, field: &str, w: Option<&StringOrNumber>) -> Option<f64> {
        let w = w?;
        let s = w.as_str();
        let decimal = s.bytes().filter(|&c| c == b'.').count() <= 1
            && s.bytes().any(|c| c.is_ascii_digit())
            && s.bytes().all(|c| c.is_ascii_digit() || c == b'.');
        match s.parse::<f64>() {
            Ok(v) if decimal && v > 0.0 && v <= 1.0 => Some(v),
            Ok(_) if decimal => {
                self.err(field, format!("{s:?} must be greater than 0 and at most 1"));
                None
            }
            _ => {
                self.err(field, format!("{s:?} is not a decimal ratio such as 0.9"));
                None
            }
        }
    }

    pub(super) fn level(
        &mut self,
        i: usize,
        l: &'a Level,
        seen_paths: &mut BTreeMap<&'a str, usize>,
        rules: LevelRules,
    ) {
        let base = format!("spec.tieredstore.levels[{i}]");
        if l.mediumtype.is_empty() {
            self.err(format!("{base}.mediumtype"), "is required (MEM, SSD or HDD)");
        } else {
            self.one_of(&format!("{base}.mediumtype"), Some(&l.mediumtype), &MEDIUM_TYPES);
        }
        self.one_of(&format!("{base}.volumeType"), l.volume_type.as_ref(), &VOLUME_TYPES);
        if let Some(src) = &l.volume_source {
            let f = format!("{base}.volumeSource");
            if l.volume_type.as_deref() != Some("emptyDir") {
                self.err(f, "is only supported with volumeType emptyDir");
            } else {
                let mut v = src.clone();
                if let Some(obj) = v.as_object_mut() {
                    obj.insert("name".into(), Value::String("tier".into()));
                }
                match self.k8s_typed::<Volume>(&f, "volume source", &v) {
                    Some(vol) if vol.empty_dir.is_none() => self.err(f, "must contain emptyDir"),
                    _ => {}
                }
            }
        }
        let paths = if l.path.trim().is_empty() {
            self.err(format!("{base}.path"), "is required");
            Vec::new()
        } else {
            let paths = l.paths();
            if rules.single_path && paths.len() > 1 {
                self.err(format!("{base}.path"), "must be a single path: it is the one cache directory");
            }
            for p in &paths {
                if p.is_empty() || !p.starts_with('/') {
                    self.err(format!("{base}.path"), format!("every comma-separated path must be absolute, got {p:?}"));
                } else if let Some(other) = seen_paths.insert(p, i) {
                    self.err(format!("{base}.path"), format!("path {p:?} is already used by levels[{other}]"));
                }
            }
            paths
        };
        match (&l.quota, &l.quota_list) {
            (None, None) if rules.quota_required => {
                self.err(format!("{base}.quota"), "either quota or quotaList must be set")
            }
            (None, None) => {}
            (_, Some(list)) => {
                let f = format!("{base}.quotaList");
                let quotas: Vec<&str> = list.split(',').map(str::trim).collect();
                for q in &quotas {
                    self.positive_quantity(&f, q);
                }
                if !paths.is_empty() && quotas.len() != paths.len() {
                    self.err(
                        f,
                        format!("has {} quotas for {} paths; give one quota per path", quotas.len(), paths.len()),
                    );
                }
            }
            (Some(q), None) => self.positive_quantity(&format!("{base}.quota"), q.as_str()),
        }
        if let Some(q) = &l.quota
            && l.quota_list.is_some()
        {
            self.positive_quantity(&format!("{base}.quota"), q.as_str());
        }
        let high = self.watermark(&format!("{base}.high"), l.high.as_ref());
        let low = self.watermark(&format!("{base}.low"), l.low.as_ref());
        if let (Some(h), Some(lo)) = (high, low)
            && lo >= h
        {
            self.err(format!("{base}.low"), format!("low watermark {lo} must be less than high watermark {h}"));
        }
    }

    /// Every level of `spec.tieredstore`, with paths unique across levels and each medium
    /// used once. `max_levels` refuses tiers an engine would silently ignore.
    pub(super) fn tieredstore(&mut self, levels: Option<&'a Vec<Level>>, rules: LevelRules, max_levels: Option<usize>) {
        let mut seen_paths = BTreeMap::new();
        let mut seen_media: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, l) in levels.into_iter().flatten().enumerate() {
            if let Some(max) = max_levels
                && i >= max
            {
                self.err(
                    format!("spec.tieredstore.levels[{i}]"),
                    format!("this runtime uses only the first {max} level"),
                );
            }
            self.level(i, l, &mut seen_paths, rules);
            if !l.mediumtype.is_empty()
                && let Some(other) = seen_media.insert(&l.mediumtype, i)
            {
                self.err(
                    format!("spec.tieredstore.levels[{i}].mediumtype"),
                    format!("{} is already used by levels[{other}]", l.mediumtype),
                );
            }
        }
    }

    fn positive_quantity(&mut self, field: &str, s: &str) {
        match parse_quantity(s) {
            Ok(q) if q.is_negative() || q.is_zero() => self.err(field, format!("{s:?} must be greater than zero")),
            Ok(_) => {}
            Err(e) => self.err(field, e),
        }
    }
}
