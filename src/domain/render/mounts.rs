//! The Dataset's mounts as Fluid's Alluxio engine renders them (its default `configmap`
//! mount storage): the root UFS, the ConfigMap `<name>-mount-config` whose `mount.info`
//! lists every other mount, the scripts the master runs to apply it, the Secrets behind
//! encrypted options, and `local://` / `pvc://` mounts as volumes under `/underFSStorage`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, HostPathVolumeSource, KeyToPath, PersistentVolumeClaimVolumeSource,
    SecretVolumeSource, Volume, VolumeMount,
};

use super::context::Ctx;
use super::parts::mount;
use crate::domain::dataset::Mount;

pub(super) const MOUNT_CONF_VOLUME: &str = "alluxio-mount-conf";
pub(super) const SCRIPTS_DIR: &str = "/etc/fluid/scripts";
pub(super) const SECRET_VOLUME_PREFIX: &str = "alluxio-mount-secret-";
pub(super) const UFS_VOLUME_PREFIX: &str = "fluid-ufs-";
const SECRETS_DIR: &str = "/etc/fluid/secrets";
const LOCAL_STORAGE_ROOT: &str = "/underFSStorage";
const LOCAL_SCHEME: &str = "local://";
const PVC_SCHEME: &str = "pvc://";

/// The master's command when it applies mounts from the ConfigMap.
pub(super) const MASTER_ENTRYPOINT: &str = "/etc/fluid/scripts/entrypoint.sh";

/// fluidform's own master entrypoint. Secret-backed option values are files
/// `/etc/fluid/secrets/<secret>/<key>`: in `ALLUXIO_JAVA_OPTS` each such path becomes
/// `` `cat <path>` ``, which runs when Alluxio's scripts source the environment, so no
/// secret value is ever written into an object. A background loop then runs `mount.sh`
/// whenever `mount.info` changes (a changed ConfigMap reaches the volume by itself); at
/// start too when `FLUIDFORM_MOUNT_AT_START` is `true` (several masters: a single master
/// mounts from its startup probe instead).
const ENTRYPOINT_SCRIPT: &str = r#"#!/usr/bin/env bash
# Written by fluidform: see "Standalone rendering" in its README.
dir=/etc/fluid/scripts
opts="$ALLUXIO_JAVA_OPTS"
for f in $(grep -oE '/etc/fluid/secrets/[-._a-zA-Z0-9]+/[-._a-zA-Z0-9]+' <<<"$opts" | sort -u); do
  opts=${opts//"$f"/"\`cat $f\`"}
done
export ALLUXIO_JAVA_OPTS="$opts"
(
  applied=none
  [ "$FLUIDFORM_MOUNT_AT_START" = true ] || applied=$(cksum < "$dir/mount.info")
  while sleep 20; do
    current=$(cksum < "$dir/mount.info")
    if [ "$current" != "$applied" ] && "$dir/mount.sh"; then
      applied=$current
    fi
  done
) &
exec /entrypoint.sh "$@"
"#;

/// fluidform's own mount script: makes Alluxio's mount table match `mount.info`, one
/// `<alluxio path> <ufs> [--readonly] [--shared] [--option k=v]...` per line. Listed paths
/// not mounted are mounted, mounted paths no longer listed are unmounted, the root is left
/// to `alluxio.master.mount.table.root.ufs`.
const MOUNT_SCRIPT: &str = r#"#!/usr/bin/env bash
# Written by fluidform: see "Standalone rendering" in its README.
set -e
info="$(dirname "$0")/mount.info"
alluxio fsadmin report > /dev/null
# `alluxio fs mount` prints "<ufs> on <path> (<type>, ...)" for every mount.
mounted=$(alluxio fs mount | awk '$2 == "on" && $3 != "/" { print $3 }')
wanted=$(awk 'NF && $1 != "/" { print $1 }' "$info")
for path in $mounted; do
  if ! grep -qxF -- "$path" <<<"$wanted"; then
    echo "fluidform: unmounting $path"
    alluxio fs unmount "$path"
  fi
done
while read -r path rest; do
  if [ -z "$path" ] || [ "$path" = / ] || grep -qxF -- "$path" <<<"$mounted"; then
    continue
  fi
  echo "fluidform: mounting $path"
  args=$(sed -E 's#(/etc/fluid/secrets/[-._a-zA-Z0-9]+/[-._a-zA-Z0-9]+)#`cat \1`#g' <<<"$path $rest")
  bash -c "alluxio fs mount $args"
done < "$info"
"#;

pub(super) fn mount_config_name(runtime: &str) -> String {
    format!("{runtime}-mount-config")
}

fn is_native(m: &Mount) -> bool {
    m.mount_point.starts_with(LOCAL_SCHEME) || m.mount_point.starts_with(PVC_SCHEME)
}

/// `base/rel` with `.`, `..` and repeated `/` resolved (Go's `filepath.Join`).
fn join_clean(base: &str, rel: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in base.split('/').chain(rel.split('/')) {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Where a native mount appears in the containers (Fluid's `GenLocalStoragePath`).
fn local_storage_path(m: &Mount) -> String {
    match m.path.as_deref() {
        Some(p) if p.starts_with('/') => join_clean(LOCAL_STORAGE_ROOT, p),
        _ => join_clean(LOCAL_STORAGE_ROOT, m.name.as_deref().unwrap_or("")),
    }
}

fn secret_dir(secret: &str) -> String {
    format!("{SECRETS_DIR}/{secret}")
}

impl Ctx<'_> {
    /// Options of one mount: shared options, its own, then each encrypted option as the
    /// path of its Secret key's file.
    fn mount_options(&self, m: &Mount) -> BTreeMap<String, String> {
        let spec = &self.dataset.spec;
        let mut o = spec.shared_options.clone().unwrap_or_default();
        o.extend(m.options.clone().unwrap_or_default());
        for e in spec.shared_encrypt_options.iter().flatten().chain(m.encrypt_options.iter().flatten()) {
            let r = e.value_from.as_ref().and_then(|v| v.secret_key_ref.as_ref());
            let name = r.map(|r| r.name.as_str()).unwrap_or("");
            let key = r.and_then(|r| r.key.as_deref()).unwrap_or("");
            o.insert(e.name.clone(), join_clean(&secret_dir(name), key));
        }
        o
    }

    /// `alluxio.master.mount.table.root.ufs` and the options that go with it: the only
    /// mount when it is not native and sits at `/`, else `/underFSStorage`.
    pub(super) fn root_ufs(&self) -> (String, BTreeMap<String, String>) {
        match self.dataset.mounts() {
            [m] if !is_native(m) && m.effective_path() == "/" => (m.mount_point.clone(), self.mount_options(m)),
            _ => (LOCAL_STORAGE_ROOT.to_string(), BTreeMap::new()),
        }
    }

    /// `mount.info`: one line per non-native mount (the root one included; the script
    /// skips `/`). Options sorted by key.
    pub(super) fn mount_info(&self) -> String {
        let mut out = String::new();
        for m in self.dataset.mounts().iter().filter(|m| !is_native(m)) {
            let mut line = vec![m.effective_path(), m.mount_point.clone()];
            if m.read_only == Some(true) {
                line.push("--readonly".into());
            }
            if m.shared == Some(true) {
                line.push("--shared".into());
            }
            for (k, v) in self.mount_options(m) {
                line.push("--option".into());
                line.push(format!("{k}={v}"));
            }
            out.push_str(&line.join(" "));
            out.push('\n');
        }
        out
    }

    pub(super) fn mount_config_map(&self) -> ConfigMap {
        let data = BTreeMap::from([
            ("mount.info".to_string(), self.mount_info()),
            ("entrypoint.script".to_string(), ENTRYPOINT_SCRIPT.to_string()),
            ("mount.script".to_string(), MOUNT_SCRIPT.to_string()),
        ]);
        ConfigMap {
            metadata: self.meta(mount_config_name(self.name), "config", None),
            data: Some(data),
            ..Default::default()
        }
    }

    /// The scripts and `mount.info`, for the master container at `/etc/fluid/scripts`.
    pub(super) fn mount_conf_volume(&self) -> (Volume, VolumeMount) {
        let item = |key: &str, path: &str, mode: i32| KeyToPath {
            key: key.to_string(),
            path: path.to_string(),
            mode: Some(mode),
        };
        let volume = Volume {
            name: MOUNT_CONF_VOLUME.to_string(),
            config_map: Some(ConfigMapVolumeSource {
                name: mount_config_name(self.name),
                items: Some(vec![
                    item("entrypoint.script", "entrypoint.sh", 0o550),
                    item("mount.script", "mount.sh", 0o550),
                    item("mount.info", "mount.info", 0o444),
                ]),
                ..Default::default()
            }),
            ..Default::default()
        };
        (volume, mount(MOUNT_CONF_VOLUME, SCRIPTS_DIR))
    }

    /// One Secret volume per Secret behind an encrypted option, read-only at
    /// `/etc/fluid/secrets/<secret>` in the master pod.
    pub(super) fn mount_secret_volumes(&self) -> (Vec<Volume>, Vec<VolumeMount>) {
        let spec = &self.dataset.spec;
        let mut secrets: Vec<&str> = Vec::new();
        for m in self.dataset.mounts().iter().filter(|m| !is_native(m)) {
            for e in spec.shared_encrypt_options.iter().flatten().chain(m.encrypt_options.iter().flatten()) {
                let name = e.value_from.as_ref().and_then(|v| v.secret_key_ref.as_ref()).map(|r| r.name.as_str());
                if let Some(n) = name.filter(|n| !secrets.contains(n)) {
                    secrets.push(n);
                }
            }
        }
        let volumes = secrets
            .iter()
            .map(|s| Volume {
                name: format!("{SECRET_VOLUME_PREFIX}{s}"),
                secret: Some(SecretVolumeSource { secret_name: Some(s.to_string()), ..Default::default() }),
                ..Default::default()
            })
            .collect();
        let mounts = secrets
            .iter()
            .map(|s| VolumeMount {
                read_only: Some(true),
                ..mount(&format!("{SECRET_VOLUME_PREFIX}{s}"), &secret_dir(s))
            })
            .collect();
        (volumes, mounts)
    }

    /// `local://<host path>` as a host-path volume and `pvc://<claim>[/<sub path>]` as the
    /// claim, each at `/underFSStorage/<path or name>` in the master and worker pods.
    pub(super) fn native_mount_volumes(&self) -> (Vec<Volume>, Vec<VolumeMount>) {
        let mut volumes = Vec::new();
        let mut mounts = Vec::new();
        for (i, m) in self.dataset.mounts().iter().enumerate() {
            let name = format!("{UFS_VOLUME_PREFIX}{i}");
            let at = local_storage_path(m);
            if let Some(host) = m.mount_point.strip_prefix(LOCAL_SCHEME) {
                volumes.push(Volume {
                    name: name.clone(),
                    host_path: Some(HostPathVolumeSource { path: host.to_string(), type_: Some(String::new()) }),
                    ..Default::default()
                });
                mounts.push(mount(&name, &at));
            } else if let Some(rest) = m.mount_point.strip_prefix(PVC_SCHEME) {
                let (claim, sub_path) = match rest.split_once('/') {
                    Some((c, s)) => (c, Some(s.to_string()).filter(|s| !s.is_empty())),
                    None => (rest, None),
                };
                volumes.push(Volume {
                    name: name.clone(),
                    persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                        claim_name: claim.to_string(),
                        ..Default::default()
                    }),
                    ..Default::default()
                });
                mounts.push(VolumeMount { sub_path, ..mount(&name, &at) });
            }
        }
        (volumes, mounts)
    }

    /// True when some mount is `local://`: the master then follows the Dataset's node
    /// affinity (the host path exists only on those nodes).
    pub(super) fn has_local_mount(&self) -> bool {
        self.dataset.mounts().iter().any(|m| m.mount_point.starts_with(LOCAL_SCHEME))
    }
}
