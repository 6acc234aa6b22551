"""Seeds a running daemon with one cluster, one credential and N runtimes (namespace
`bench`, names rt-0 … rt-N-1), PUT over 8 concurrent keep-alive connections: each PUT is
the API's own durable write. Usage: seed.py HOST:PORT TOKEN N"""
import sys

import ff

addr, token, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
api = ff.Api(addr, token)
api.call("PUT", "/v1/clusters/c1", {"server": "https://127.0.0.1:6443", "insecureSkipTlsVerify": True,
                                    "token": "bench-token", "mode": "standalone"})
api.call("PUT", "/v1/credentials/global-secret", ff.CRED, ok=(200, 201))
items = []
for i in range(n):
    rt = ff.runtime(f"rt-{i}", {"team": f"t{i % 10}"})
    rt["spec"]["replicas"] = 2
    rt["spec"]["master"].update({"replicas": 3, "imagePullSecrets": [{"name": "master-secret"}]})
    rt["spec"]["worker"]["imagePullSecrets"] = [{"name": "worker-secret"}]
    items.append((f"/v1/runtimes/bench/rt-{i}?cluster=c1", rt))
s = ff.seed(addr, token, items)
print(f"seeded {n} runtimes in {s:.1f} s ({n / s:.0f} PUT/s, 8 concurrent connections)")
