-- wrk: replace random existing runtimes with a changed spec (a real write each time), on the
-- pod network as bench/seed.py stores them (no host ports to allocate).
local n = tonumber(os.getenv("RUNTIMES") or "10000")
local token = os.getenv("TOKEN")
local counter = 0
request = function()
  counter = counter + 1
  local i = math.random(0, n - 1)
  local body = string.format(
    '{"apiVersion":"data.fluid.io/v1alpha1","kind":"AlluxioRuntime","metadata":{"name":"rt-%d","labels":{"team":"t%d"}},' ..
    '"spec":{"replicas":%d,"imagePullSecrets":[{"name":"global-secret"}],' ..
    '"tieredstore":{"levels":[{"mediumtype":"MEM","path":"/dev/shm","quota":"2Gi","high":"0.95","low":"0.7"}]},' ..
    '"master":{"replicas":3,"imagePullSecrets":[{"name":"master-secret"}],"networkMode":"ContainerNetwork"},' ..
    '"worker":{"imagePullSecrets":[{"name":"worker-secret"}],"networkMode":"ContainerNetwork"},"fuse":{"networkMode":"ContainerNetwork"},' ..
    '"properties":{"bench.counter":"%d"}}}', i, i % 10, (counter % 4) + 1, counter)
  return wrk.format("PUT", "/v1/runtimes/bench/rt-" .. i .. "?cluster=c1",
    {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"}, body)
end
