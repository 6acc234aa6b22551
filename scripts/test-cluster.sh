#!/usr/bin/env bash
# Start a throwaway Kubernetes control plane by hand, for local play, using the
# binaries that tests/cluster/build.sh builds (the same ones the tests use).
#
#   scripts/test-cluster.sh up [--nodes N] [--audit]
#                                            # etcd + kube-apiserver (+ controller-manager,
#                                            # scheduler, kwok and N fake nodes); prints the
#                                            # kubeconfig path and runs until Ctrl-C or `down`;
#                                            # --audit logs every mutating request's
#                                            # RequestReceived and ResponseComplete stages,
#                                            # and every read's RequestReceived,
#                                            # to $FLUIDFORM_CLUSTER_DIR/audit.log
#       [--fuse-for NS/NAME[,NS/NAME...]]    # label every fake node fluid.io/f-NS-NAME=true,
#                                            # as Fluid's CSI plugin does for a runtime's fuse
#       [--node-label KEY=VALUE]             # any other label on every fake node (repeatable)
#   scripts/test-cluster.sh down             # stop the cluster that `up` started
#   scripts/test-cluster.sh status           # is it ready? where is its kubeconfig?
#   scripts/test-cluster.sh kubectl ARGS...  # the built kubectl, on the admin kubeconfig
#
#   KUBECONFIG=$(scripts/test-cluster.sh status | tail -1) kubectl get ns
#
# Env: FLUIDFORM_K8S_BIN (bin dir, default ~/.cache/fluidform/k8s/<VERSION>/bin),
#      FLUIDFORM_CLUSTER_DIR (state dir, default ${TMPDIR:-/tmp}/fluidform-test-cluster).
# Tokens for bearer auth are in $FLUIDFORM_CLUSTER_DIR/tokens.csv (admin in
# system:masters; `limited` in no group), with kubeconfig-limited for the latter.
set -euo pipefail

repo="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
version="$(tr -d '[:space:]' < "$repo/tests/cluster/VERSION")"
bin="${FLUIDFORM_K8S_BIN:-$HOME/.cache/fluidform/k8s/$version/bin}"
state="${FLUIDFORM_CLUSTER_DIR:-${TMPDIR:-/tmp}/fluidform-test-cluster}"
service_cidr=10.0.0.0/24

die() { echo "test-cluster.sh: $*" >&2; exit 1; }
say() { echo "test-cluster.sh: $*" >&2; }

alive() { [[ -f "$state/up.pid" ]] && kill -0 "$(cat "$state/up.pid")" 2>/dev/null; }
ready() { alive && [[ -f "$state/ready" ]]; }

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

b64() { base64 -w0 < "$1"; }

pids=()
cleanup() {
	trap - INT TERM EXIT
	local p
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -f "$state/up.pid" "$state/pids" "$state/ready"
	say "stopped (logs kept in $state)"
}

start() { # start NAME CMD... : background, logged to $state/NAME.log
	local name="$1"; shift
	"$@" > "$state/$name.log" 2>&1 < /dev/null &
	pids+=($!)
	echo "$! $name" >> "$state/pids"
}

pki() {
	local d="$state/pki" o=(-algorithm EC -pkeyopt ec_paramgen_curve:P-256)
	mkdir -p "$d"
	openssl genpkey "${o[@]}" -out "$d/ca.key" 2>/dev/null
	openssl genpkey "${o[@]}" -out "$d/serving.key" 2>/dev/null
	openssl genpkey "${o[@]}" -out "$d/admin.key" 2>/dev/null
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$d/sa.key" 2>/dev/null
	openssl pkey -in "$d/sa.key" -pubout -out "$d/sa.pub"
	openssl req -x509 -new -key "$d/ca.key" -out "$d/ca.crt" -days 3650 -subj /CN=fluidform-test-ca \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign,digitalSignature
	printf '%s\n' basicConstraints=critical,CA:FALSE keyUsage=critical,digitalSignature,keyEncipherment \
		extendedKeyUsage=serverAuth subjectAltName=IP:127.0.0.1,DNS:localhost > "$d/serving.ext"
	printf '%s\n' basicConstraints=critical,CA:FALSE keyUsage=critical,digitalSignature,keyEncipherment \
		extendedKeyUsage=clientAuth > "$d/admin.ext"
	local n subj
	for n in serving admin; do
		[[ $n == serving ]] && subj=/CN=kube-apiserver || subj=/O=system:masters/CN=admin
		openssl req -new -key "$d/$n.key" -subj "$subj" -out "$d/$n.csr"
		openssl x509 -req -in "$d/$n.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -set_serial "0x$(openssl rand -hex 16)" \
			-days 3650 -extfile "$d/$n.ext" -out "$d/$n.crt" 2>/dev/null
	done
}

kubeconfig() { # kubeconfig SERVER USER-YAML
	cat <<-EOF
	apiVersion: v1
	kind: Config
	clusters:
	- name: fluidform-test
	  cluster:
	    server: $1
	    certificate-authority-data: $(b64 "$state/pki/ca.crt")
	contexts:
	- name: fluidform-test
	  context:
	    cluster: fluidform-test
	    user: fluidform-test
	current-context: fluidform-test
	users:
	- name: fluidform-test
	  user:
	$2
	EOF
}

fuse_labels() { # NS/NAME[,NS/NAME...]: adds fluid.io/f-NS-NAME=true to up's labels
	local r rts
	IFS=, read -ra rts <<< "$1"
	for r in "${rts[@]}"; do
		[[ "$r" =~ ^([a-z0-9]([-a-z0-9]*[a-z0-9])?)/([a-z]([-a-z0-9]*[a-z0-9])?)$ ]] ||
			die "--fuse-for wants NAMESPACE/NAME, not '$r'"
		labels+=("fluid.io/f-${BASH_REMATCH[1]}-${BASH_REMATCH[3]}=true")
	done
}

up() {
	local nodes=0 labels=() l audit=()
	while (($#)); do
		case "$1" in
		--nodes) nodes="${2:?--nodes N}"; shift 2 ;;
		--nodes=*) nodes="${1#*=}"; shift ;;
		--fuse-for) fuse_labels "${2:?--fuse-for NS/NAME[,NS/NAME...]}"; shift 2 ;;
		--fuse-for=*) fuse_labels "${1#*=}"; shift ;;
		--node-label) labels+=("${2:?--node-label KEY=VALUE}"); shift 2 ;;
		--node-label=*) labels+=("${1#*=}"); shift ;;
		--audit) audit=(--audit-policy-file="$state/audit-policy.yaml" --audit-log-path="$state/audit.log"
			--audit-log-format=json --audit-log-maxsize=0); shift ;;
		*) die "unknown option $1" ;;
		esac
	done
	[[ "$nodes" =~ ^[0-9]+$ ]] || die "--nodes wants a number, not '$nodes'"
	((${#labels[@]} == 0 || nodes > 0)) || die "--fuse-for and --node-label label fake nodes: add --nodes N"
	local node_labels='"kubernetes.io/os":"linux","kubernetes.io/arch":"amd64","type":"kwok"'
	for l in "${labels[@]}"; do
		[[ "$l" =~ ^([A-Za-z0-9][-A-Za-z0-9_./]*)=([-A-Za-z0-9_.]*)$ ]] || die "--node-label wants KEY=VALUE, not '$l'"
		node_labels+=",\"${BASH_REMATCH[1]}\":\"${BASH_REMATCH[2]}\""
	done
	local need=(etcd kube-apiserver)
	((nodes == 0)) || need+=(kubectl kube-controller-manager kube-scheduler kwok)
	local b
	for b in "${need[@]}"; do
		[[ -x "$bin/$b" ]] || die "$bin/$b missing: run tests/cluster/build.sh first"
	done
	! alive || die "already up (pid $(cat "$state/up.pid")); run '$0 down' first"
	command -v openssl > /dev/null || die "openssl not found"

	# Reuse the state dir only if it is ours (or empty): it is wiped.
	if [[ -d "$state" && -n "$(ls -A "$state")" && ! -e "$state/.fluidform-test-cluster" ]]; then
		die "$state exists and is not a test-cluster dir; set FLUIDFORM_CLUSTER_DIR"
	fi
	rm -rf "$state"
	mkdir -p "$state"
	touch "$state/.fluidform-test-cluster"
	echo $$ > "$state/up.pid"
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM

	pki
	if ((${#audit[@]})); then
		# Metadata of mutating requests, both stages: enough to count what is in flight; and
		# of reads, when received only: enough to count them.
		cat > "$state/audit-policy.yaml" <<-EOF
		apiVersion: audit.k8s.io/v1
		kind: Policy
		rules:
		- level: Metadata
		  verbs: [create, update, patch, delete, deletecollection]
		- level: Metadata
		  verbs: [get, list, watch]
		  omitStages: [ResponseStarted, ResponseComplete, Panic]
		- level: None
		EOF
	fi
	local admin_token limited_token
	admin_token="$(openssl rand -hex 24)"
	limited_token="$(openssl rand -hex 24)"
	printf '%s,admin,uid-admin,"system:masters"\n%s,limited,uid-limited\n' \
		"$admin_token" "$limited_token" > "$state/tokens.csv"

	local etcd_port peer_port api_port
	etcd_port="$(free_port)"; peer_port="$(free_port)"; api_port="$(free_port)"
	local server="https://127.0.0.1:$api_port" p="$state/pki"
	kubeconfig "$server" "    client-certificate-data: $(b64 "$p/admin.crt")
    client-key-data: $(b64 "$p/admin.key")" > "$state/kubeconfig"
	kubeconfig "$server" "    token: $limited_token" > "$state/kubeconfig-limited"

	start etcd "$bin/etcd" --name=default --data-dir="$state/etcd" \
		--listen-client-urls="http://127.0.0.1:$etcd_port" --advertise-client-urls="http://127.0.0.1:$etcd_port" \
		--listen-peer-urls="http://127.0.0.1:$peer_port" --initial-advertise-peer-urls="http://127.0.0.1:$peer_port" \
		--initial-cluster="default=http://127.0.0.1:$peer_port" --unsafe-no-fsync --log-level=warn
	start kube-apiserver "$bin/kube-apiserver" \
		--etcd-servers="http://127.0.0.1:$etcd_port" --bind-address=127.0.0.1 --advertise-address=127.0.0.1 \
		--secure-port="$api_port" --cert-dir="$state/apiserver-certs" \
		--tls-cert-file="$p/serving.crt" --tls-private-key-file="$p/serving.key" --client-ca-file="$p/ca.crt" \
		--token-auth-file="$state/tokens.csv" \
		--service-account-issuer="$server" --service-account-key-file="$p/sa.pub" \
		--service-account-signing-key-file="$p/sa.key" --service-cluster-ip-range="$service_cidr" \
		--authorization-mode=RBAC --disable-admission-plugins=ServiceAccount --allow-privileged=true \
		--endpoint-reconciler-type=none --profiling=false "${audit[@]}"

	local t0=$SECONDS
	until curl -sf --max-time 5 --cacert "$p/ca.crt" --cert "$p/admin.crt" --key "$p/admin.key" \
		"$server/readyz" > /dev/null 2>&1; do
		((SECONDS - t0 < 90)) || { tail -20 "$state/etcd.log" "$state/kube-apiserver.log" >&2; die "not ready after 90 s"; }
		for b in "${pids[@]}"; do
			kill -0 "$b" 2>/dev/null || { tail -20 "$state/etcd.log" "$state/kube-apiserver.log" >&2; die "a process exited"; }
		done
		sleep 0.25
	done
	say "kube-apiserver $version ready at $server after $((SECONDS - t0)) s"

	if ((nodes > 0)); then
		local kc="$state/kubeconfig"
		start kube-controller-manager "$bin/kube-controller-manager" --kubeconfig="$kc" --leader-elect=false \
			--bind-address=127.0.0.1 --secure-port=0 --service-account-private-key-file="$p/sa.key" \
			--root-ca-file="$p/ca.crt" --service-cluster-ip-range="$service_cidr" --controllers='*'
		start kube-scheduler "$bin/kube-scheduler" --kubeconfig="$kc" --authentication-kubeconfig="$kc" \
			--authorization-kubeconfig="$kc" --leader-elect=false --bind-address=127.0.0.1 --secure-port=0
		local configs=() f
		for f in "$bin"/kwok-stages/*.yaml; do configs+=(--config="$f"); done
		start kwok env KWOK_WORKDIR="$state/kwok-home" "$bin/kwok" --kubeconfig="$kc" --manage-all-nodes=false \
			--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake --node-ip=127.0.0.1 \
			--cidr=10.244.0.0/16 --node-lease-duration-seconds=40 \
			--server-address="127.0.0.1:$(free_port)" "${configs[@]}"
		local i
		for ((i = 0; i < nodes; i++)); do
			"$bin/kubectl" --kubeconfig="$kc" create -f - > /dev/null <<-EOF
			{"apiVersion":"v1","kind":"Node","metadata":{"name":"kwok-node-$i",
			 "annotations":{"kwok.x-k8s.io/node":"fake","node.alpha.kubernetes.io/ttl":"0"},
			 "labels":{"kubernetes.io/hostname":"kwok-node-$i",$node_labels}},
			 "status":{"allocatable":{"cpu":"32","memory":"256Gi","pods":"110"},
			           "capacity":{"cpu":"32","memory":"256Gi","pods":"110"}}}
			EOF
		done
		"$bin/kubectl" --kubeconfig="$kc" wait --for=condition=Ready node --all --timeout=90s >&2
		for l in "${labels[@]}"; do say "every node labelled $l"; done
	fi
	touch "$state/ready"

	say "admin kubeconfig (client cert):  $state/kubeconfig"
	say "user 'limited' (token, no RBAC): $state/kubeconfig-limited"
	say "try: $bin/kubectl --kubeconfig=$state/kubeconfig get ns"
	say "Ctrl-C or '$0 down' stops it"
	echo "$state/kubeconfig"
	# Run until a process dies or we are told to stop.
	wait -n "${pids[@]}" || true
	say "a control-plane process exited; see $state/*.log"
	exit 1
}

down() {
	if alive; then
		local pid; pid="$(cat "$state/up.pid")"
		kill -TERM "$pid"
		local i
		for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		say "stopped"
	elif [[ -f "$state/pids" ]]; then
		# `up` was killed without cleaning up: stop the processes it recorded.
		local pid name
		while read -r pid name; do
			kill -KILL "$pid" 2>/dev/null && say "killed $name ($pid)" || true
		done < "$state/pids"
		rm -f "$state/pids" "$state/up.pid" "$state/ready"
	else
		say "not running"
	fi
}

status() {
	if ready; then
		say "up (pid $(cat "$state/up.pid"))"
		echo "$state/kubeconfig"
	elif alive; then
		say "starting (pid $(cat "$state/up.pid")), not ready yet"
		return 1
	else
		say "not running"
		return 1
	fi
}

kubectl_() {
	ready || die "not running (or not ready yet): start it with '$0 up'"
	exec "$bin/kubectl" --kubeconfig="$state/kubeconfig" "$@"
}

case "${1:-}" in
up) shift; up "$@" ;;
down) down ;;
status) status ;;
kubectl) shift; kubectl_ "$@" ;;
*) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0" >&2; exit 2 ;;
esac
