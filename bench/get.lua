-- wrk: read random existing runtimes.
local n = tonumber(os.getenv("RUNTIMES") or "10000")
local token = os.getenv("TOKEN")
request = function()
  local i = math.random(0, n - 1)
  return wrk.format("GET", "/v1/runtimes/bench/rt-" .. i, {["Authorization"] = "Bearer " .. token})
end
