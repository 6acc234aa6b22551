"""The README's walk-through (steps 1 to 6: cluster, credential, runtime, resolution,
manifests, plan and apply) through a client generated from openapi/openapi.json.

Run by scripts/client-walkthrough.sh, which generates the client as the package
`fluidform_client`, starts a test cluster and the daemon, and passes:

    python3 walkthrough.py BASE_URL TOKEN_FILE KUBECONFIG

Every reply is read by the generated code (a status the document does not declare raises,
a body that does not fit its schema fails to parse) and checked on its typed fields, and
every model must have read the whole body: a field the server sends that the document
does not name is a failure too.
"""

import sys
import time

from fluidform_client import AuthenticatedClient
from fluidform_client.api.clusters import probe_cluster, put_cluster
from fluidform_client.api.credentials import put_credential
from fluidform_client.api.plans import apply_plan, create_plan, get_run
from fluidform_client.api.datasets import put_dataset
from fluidform_client.api.runtimes import get_runtime_manifests, get_runtime_resolution, put_runtime
from fluidform_client.models import (
    AlluxioRuntime,
    ClusterAuthKind,
    ClusterResponse,
    ClusterWithKubeconfig,
    Dataset,
    DatasetResponse,
    CredentialResponse,
    CredentialWithPassword,
    Mode,
    Plan,
    PlanRequest,
    ProbeResponse,
    ResolvedResponse,
    RunResponse,
    RuntimeResponse,
)
from fluidform_client.types import Unset

checks = 0


def check(cond, what):
    global checks
    if not cond:
        sys.exit(f"client walk-through: CHECK FAILED: {what}")
    checks += 1


def whole(model, path="reply"):
    """The model and every model in it read every field of the body."""
    declared = [a.name for a in getattr(type(model), "__attrs_attrs__", ()) if a.name != "additional_properties"]
    extra = getattr(model, "additional_properties", None)
    # A model with no declared fields is a map (its entries are the additional properties).
    if extra and declared:
        sys.exit(f"client walk-through: {path} has fields the document does not name: {sorted(extra)}")
    for name in declared:
        value = getattr(model, name)
        items = value if isinstance(value, list) else [value]
        for i, v in enumerate(items):
            if hasattr(type(v), "__attrs_attrs__"):
                whole(v, f"{path}.{name}" + (f"[{i}]" if isinstance(value, list) else ""))
    for key, v in (extra or {}).items():
        if not declared and hasattr(type(v), "__attrs_attrs__"):
            whole(v, f"{path}[{key!r}]")
    return model


def ok(reply, status, kind, what):
    """The reply has this status and parsed into this model."""
    if reply.status_code != status or not isinstance(reply.parsed, kind):
        sys.exit(
            f"client walk-through: {what}: got {int(reply.status_code)} {type(reply.parsed).__name__}, "
            f"not {status} {kind.__name__}: {reply.content[:600]!r}"
        )
    return whole(reply.parsed, what)


def main(base, token_file, kubeconfig):
    token = open(token_file).read().strip()
    client = AuthenticatedClient(base_url=base, token=token, raise_on_unexpected_status=True, timeout=60)

    # 1. The cluster, with its whole kubeconfig, then what fluidform may do there.
    body = ClusterWithKubeconfig(kubeconfig=open(kubeconfig).read())
    c = ok(put_cluster.sync_detailed("dev", client=client, body=body), 201, ClusterResponse, "PUT cluster")
    check(c.name == "dev" and c.generation == 1, f"cluster dev at generation 1: {c.name} {c.generation}")
    check(c.credential_kind == ClusterAuthKind.CLIENTCERTIFICATE, f"kind {c.credential_kind}")
    p = ok(probe_cluster.sync_detailed("dev", client=client), 200, ProbeResponse, "probe")
    check(p.version == "v1.36.3" and p.can_manage, f"probe {p.version} {p.can_manage}")
    check(p.effective_mode == Mode.STANDALONE, f"mode {p.effective_mode}")
    check(all(x.allowed for x in p.permissions) and p.permissions, "every permission granted")

    # 2. A registry credential: version 1, current, its Secret name; no password back.
    body = CredentialWithPassword(registry="registry.example.com", username="puller", password="s3cret")
    r = put_credential.sync_detailed("global-secret", client=client, body=body)
    cred = ok(r, 201, CredentialResponse, "PUT credential")
    check(b"s3cret" not in r.content, "the password never comes back")
    v = [(x.version, [s.value for s in x.stages], x.secret_name) for x in cred.versions]
    check(v == [(1, ["current"], "global-secret-v1")], f"versions {v}")

    # 3. The hbase runtime of the README (as JSON: the document's YAML body is the same
    # schema, and the generated client sends JSON).
    hbase = AlluxioRuntime.from_dict(
        {
            "apiVersion": "data.fluid.io/v1alpha1",
            "kind": "AlluxioRuntime",
            "metadata": {"name": "hbase"},
            "spec": {
                "replicas": 2,
                "imagePullSecrets": [{"name": "global-secret"}],
                "tieredstore": {
                    "levels": [{"mediumtype": "MEM", "path": "/dev/shm", "quota": "2Gi", "high": "0.95", "low": "0.7"}]
                },
                "master": {"replicas": 3, "imagePullSecrets": [{"name": "master-secret"}], "networkMode": "ContainerNetwork"},
                "worker": {"imagePullSecrets": [{"name": "worker-secret"}], "networkMode": "ContainerNetwork"},
                "fuse": {"networkMode": "ContainerNetwork"},
            },
        }
    )
    rt = ok(put_runtime.sync_detailed("default", "hbase", client=client, body=hbase, cluster="dev"), 201, RuntimeResponse, "PUT runtime")
    check(rt.name == "hbase" and rt.namespace == "default" and rt.generation == 1, f"runtime {rt.name} {rt.generation}")
    # Its Dataset (the README's second YAML document), with the placement the fake nodes need.
    ds = Dataset.from_dict(
        {"apiVersion": "data.fluid.io/v1alpha1", "kind": "Dataset", "metadata": {"name": "hbase"}, "spec": {"placement": "Shared"}}
    )
    d = ok(put_dataset.sync_detailed("default", "hbase", client=client, body=ds), 201, DatasetResponse, "PUT dataset")
    check(d.manifest.spec.placement == "Shared", f"dataset placement {d.manifest.spec.placement}")

    # 4. Why each component pulls with what.
    res = ok(get_runtime_resolution.sync_detailed("default", "hbase", client=client), 200, ResolvedResponse, "resolved")
    check(res.bindings.to_dict() == {"global-secret": 1}, f"bindings {res.bindings.to_dict()}")
    comps = res.components.to_dict()
    pulls = {k: (c["source"], [s["secretName"] for s in c["imagePullSecrets"]]) for k, c in comps.items()}
    check(
        pulls
        == {
            "master": ("master", ["master-secret"]),
            "worker": ("worker", ["worker-secret"]),
            "fuse": ("global", ["global-secret-v1"]),
        },
        f"pulls {pulls}",
    )

    # 5. The rendered workloads.
    m = get_runtime_manifests.sync_detailed("default", "hbase", client=client)
    check(m.status_code == 200 and not isinstance(m.parsed, Unset) and m.parsed is not None, f"manifests {m.status_code}")
    kinds = [(o["kind"], o["metadata"]["name"]) for o in m.parsed.to_dict()["items"]]
    check(("StatefulSet", "hbase-master") in kinds and ("Secret", "global-secret-v1") in kinds, f"manifests {kinds}")

    # 6. Plan (refreshing: it reads the live cluster) and apply.
    plan = ok(create_plan.sync_detailed(client=client, body=PlanRequest(all_=True, refresh=True)), 201, Plan, "plan")
    s = plan.summary
    check((s.create, s.update, s.delete, s.no_op) == (9, 0, 0, 0), f"plan summary {s.to_dict()}")
    run = ok(apply_plan.sync_detailed(plan.id, client=client), 202, RunResponse, "apply")
    deadline = time.monotonic() + 120
    while run.status.value in ("queued", "running"):
        check(time.monotonic() < deadline, "the run finished within 120 s")
        time.sleep(0.5)
        run = ok(get_run.sync_detailed(run.id, client=client), 200, RunResponse, "run")
    check(run.status.value == "succeeded", f"run {run.status} {run.to_dict().get('error')}")
    check(run.object_counts.to_dict() == {"applied": 9}, f"run counts {run.object_counts.to_dict()}")
    print(f"client walk-through: {checks} checks passed")


if __name__ == "__main__":
    main(*sys.argv[1:4])
