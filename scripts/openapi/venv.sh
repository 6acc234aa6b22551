#!/usr/bin/env bash
# Prints the path of a Python venv holding scripts/openapi/requirements.txt, making it on
# first use under ${FLUIDFORM_CACHE:-~/.cache/fluidform}/venv-<hash of the requirements>:
# a change of pins makes a new one, and a lock keeps concurrent callers from installing
# into the same one (the walk-through through the generated client and schemathesis run
# side by side in scripts/test.sh).
set -euo pipefail
here="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
req="$here/requirements.txt"
cache="${FLUIDFORM_CACHE:-$HOME/.cache/fluidform}"
venv="$cache/venv-$(sha256sum "$req" | cut -c1-12)"
if [[ ! -f "$venv/.complete" ]]; then
	mkdir -p "$cache"
	exec 9> "$venv.lock"
	flock 9
	if [[ ! -f "$venv/.complete" ]]; then
		echo "venv.sh: installing $(grep -v '^#' "$req" | paste -sd' ') into $venv" >&2
		rm -rf "$venv"
		python3 -m venv "$venv" >&2 ||
			{ echo "venv.sh: python3 -m venv failed (on Debian: apt-get install python3-venv)" >&2; exit 1; }
		"$venv/bin/pip" install -q -r "$req" >&2
		touch "$venv/.complete"
	fi
fi
echo "$venv"
