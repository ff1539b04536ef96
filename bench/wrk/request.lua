-- One request, described by environment variables set by bench/wrk_runner.py:
-- BENCH_METHOD, BENCH_PATH, BENCH_TOKEN (optional), BENCH_COOKIE (optional: a web page's
-- session) and BENCH_BODY (optional).
wrk.method = os.getenv("BENCH_METHOD") or "GET"
wrk.path = os.getenv("BENCH_PATH") or "/"
wrk.headers["Content-Type"] = "application/json"
local token = os.getenv("BENCH_TOKEN")
if token and #token > 0 then
  wrk.headers["Authorization"] = "Bearer " .. token
end
local cookie = os.getenv("BENCH_COOKIE")
if cookie and #cookie > 0 then
  wrk.headers["Cookie"] = cookie
end
local body = os.getenv("BENCH_BODY")
if body and #body > 0 then
  wrk.body = body
end

-- A fast 401 is not a result: report every non-2xx answer and every socket error.
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BENCH_FAILURES %d\n", e.status + e.connect + e.read + e.write + e.timeout))
  io.write(string.format("BENCH_LATENCY_US %d %d %d %d\n",
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
  io.write(string.format("BENCH_REQUESTS %d %d\n", summary.requests, summary.duration))
end
