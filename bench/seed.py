"""Seeds a running daemon with one cluster, one credential and N runtimes over one
keep-alive connection. Usage: seed.py HOST:PORT TOKEN N"""
import http.client
import json
import sys

addr, token, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
conn = http.client.HTTPConnection(addr)
headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def put(path, body):
    conn.request("PUT", path, json.dumps(body), headers)
    r = conn.getresponse()
    data = r.read()
    if r.status >= 300:
        sys.exit(f"PUT {path}: {r.status} {data[:300]!r}")


put("/v1/clusters/c1", {"server": "https://127.0.0.1:6443", "insecureSkipTlsVerify": True, "token": "bench-token"})
put("/v1/credentials/global-secret", {"registry": "r.example.com", "username": "u", "password": "bench-password"})
for i in range(n):
    put(f"/v1/runtimes/bench/rt-{i}?cluster=c1", {
        "apiVersion": "data.fluid.io/v1alpha1", "kind": "AlluxioRuntime",
        "metadata": {"name": f"rt-{i}", "labels": {"team": f"t{i % 10}"}},
        "spec": {"replicas": 2, "imagePullSecrets": [{"name": "global-secret"}],
                 "tieredstore": {"levels": [{"mediumtype": "MEM", "path": "/dev/shm", "quota": "2Gi", "high": "0.95", "low": "0.7"}]},
                 "master": {"replicas": 3, "imagePullSecrets": [{"name": "master-secret"}]},
                 "worker": {"imagePullSecrets": [{"name": "worker-secret"}]}},
    })
