#!/usr/bin/env bash
# Build the Kubernetes control plane used by the integration tests from Go
# modules (no container images, no release downloads), and cache it.
#
#   tests/cluster/build.sh            # build whatever is missing
#   FLUIDFORM_K8S_BIN=/some/dir tests/cluster/build.sh
#
# Binaries land in ${FLUIDFORM_K8S_BIN:-$HOME/.cache/fluidform/k8s/<VERSION>/bin}
# (VERSION is read from tests/cluster/VERSION). A binary already present is not
# rebuilt, so running this again is cheap. kube-apiserver and etcd are built
# first (the tests need only those two), then kubectl, kube-controller-manager,
# kube-scheduler, kwok and the Distribution registry, plus kwok's stage configs
# (kwok-stages/*.yaml).
#
# Progress goes to stderr; the last line of stdout is the bin dir.
# Cold build: ~0.5-1 GB of module downloads and 10-25 min on 2 cores.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
version="$(tr -d '[:space:]' < "$here/VERSION")"          # e.g. v1.36.3
bin="${FLUIDFORM_K8S_BIN:-$HOME/.cache/fluidform/k8s/$version/bin}"

export GOTOOLCHAIN=local CGO_ENABLED=0
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=readonly"

mkdir -p "$bin"

if [[ ! "$version" =~ ^v([0-9]+)\.([0-9]+)\.([0-9]+)$ ]]; then
	echo "build.sh: bad version '$version' in $here/VERSION" >&2
	exit 1
fi
pinned="$(cd "$here" && go list -m -f '{{.Version}}' k8s.io/kubernetes)"
if [[ "$pinned" != "$version" ]]; then
	echo "build.sh: VERSION says $version but go.mod requires k8s.io/kubernetes $pinned" >&2
	exit 1
fi
major="${BASH_REMATCH[1]}"
minor="${BASH_REMATCH[2]}"
build_date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"

# Same variables as kubernetes' hack/lib/version.sh, so /version and
# `kubectl version` report the release we built.
k8s_ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	k8s_ldflags+=" -X $pkg.gitVersion=$version"
	k8s_ldflags+=" -X $pkg.gitMajor=$major"
	k8s_ldflags+=" -X $pkg.gitMinor=$minor"
	k8s_ldflags+=" -X $pkg.gitTreeState=clean"
	k8s_ldflags+=" -X $pkg.gitCommit="   # unknown: built from the module zip, not git
	k8s_ldflags+=" -X $pkg.buildDate=$build_date"
done

log() { echo "build.sh: $*" >&2; }

# build NAME MODULE_DIR PACKAGE LDFLAGS
build() {
	local name="$1" dir="$2" pkg="$3" ldflags="$4"
	if [[ -x "$bin/$name" ]]; then
		log "$name: present, skipped"
		return 0
	fi
	log "$name: building $pkg ..."
	local start=$SECONDS
	# Build to a temp name and rename, so an interrupted build never leaves
	# a half-written binary that a later run would take as present.
	(cd "$dir" && go build -trimpath -ldflags "$ldflags" -o "$bin/.$name.tmp" "$pkg")
	mv -f "$bin/.$name.tmp" "$bin/$name"
	log "$name: built in $((SECONDS - start)) s"
}

# go build fetches just the modules it needs (from GOPROXY) and, with
# -mod=readonly, checks them against go.sum.
build kube-apiserver          "$here" k8s.io/kubernetes/cmd/kube-apiserver          "$k8s_ldflags"
build etcd                    "$here" go.etcd.io/etcd/server/v3                     "-s -w"
build kubectl                 "$here" k8s.io/kubernetes/cmd/kubectl                 "$k8s_ldflags"
build kube-controller-manager "$here" k8s.io/kubernetes/cmd/kube-controller-manager "$k8s_ldflags"
build kube-scheduler          "$here" k8s.io/kubernetes/cmd/kube-scheduler          "$k8s_ldflags"

# kwok (fake kubelets) is a module of its own (kwok/go.mod): joining it to
# ../go.mod would bump otel, grpc and x/* under kube-apiserver and etcd.
kwok_dir="$here/kwok"
build kwok "$kwok_dir" sigs.k8s.io/kwok/cmd/kwok "-s -w"

# The container registry (Distribution, with htpasswd and token auth) for the credential
# verification tests: a module of its own (registry/go.mod) too, for the same reason.
build registry "$here/registry" github.com/distribution/distribution/v3/cmd/registry "-s -w"

# kwok's "fast" stage configs (the set its kustomize/stage/fast bundles):
# nodes become Ready and keep a lease, pods become Ready, finish and go away.
# Pass them all to kwok with --config. Copied from the module that was built.
stages_src="$(cd "$kwok_dir" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)/kustomize/stage"
mkdir -p "$bin/kwok-stages"
for f in node/fast/node-initialize.yaml \
	node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
	pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
	cmp -s "$stages_src/$f" "$bin/kwok-stages/${f##*/}" ||
		install -m 0644 "$stages_src/$f" "$bin/kwok-stages/${f##*/}"
done

log "all binaries in $bin"
echo "$bin"
