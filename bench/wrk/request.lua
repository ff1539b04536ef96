-- One request, described by environment variables set by bench/wrk_runner.py:
-- BENCH_METHOD, BENCH_PATH, BENCH_BODY (optional), BENCH_COOKIE (optional: a web page's
-- session), BENCH_TOKEN_FILE (optional: a file holding the current access token, which
-- the harness rewrites before the token expires; read again every second, so a run
-- longer than a token's life keeps its Authorization) and BENCH_IDS_FILE (optional: ids,
-- one a line; each request puts a random one in place of "{id}" in BENCH_PATH) and
-- BENCH_HEADERS (optional: more headers, "Name: value" one a line) and BENCH_CLIENTS
-- (optional: N; each request comes from one of N addresses, 10.64.0.1 on, named in
-- X-Forwarded-For as the gateway names a browser's, so the per-address rate limits see
-- N browsers rather than one).
local method = os.getenv("BENCH_METHOD") or "GET"
local path = os.getenv("BENCH_PATH") or "/"
local body = os.getenv("BENCH_BODY") or ""
if #body == 0 then body = nil end
local token_file = os.getenv("BENCH_TOKEN_FILE") or ""
local ids_file = os.getenv("BENCH_IDS_FILE") or ""
local clients = tonumber(os.getenv("BENCH_CLIENTS") or "") or 0

local headers = {["Content-Type"] = "application/json"}
local cookie = os.getenv("BENCH_COOKIE")
if cookie and #cookie > 0 then
  headers["Cookie"] = cookie
end
for line in string.gmatch(os.getenv("BENCH_HEADERS") or "", "[^\n]+") do
  local name, value = string.match(line, "^([^:]+):%s*(.*)$")
  if name then headers[name] = value end
end

local function read_token()
  local file = io.open(token_file, "r")
  if not file then return end
  local token = file:read("*l")
  file:close()
  if token and #token > 0 then
    headers["Authorization"] = "Bearer " .. token
  end
end

local ids = {}
local token_read_at = -1
-- Each thread's answers by status (2xx included), summed by done() over the threads.
statuses = {}

local threads = {}
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_number", thread_count)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(os.time() * 100 + (thread_number or 0))
  if #ids_file > 0 then
    for line in io.lines(ids_file) do
      if #line > 0 then ids[#ids + 1] = line end
    end
  end
  if #token_file > 0 then
    read_token()
    token_read_at = os.time()
  end
end

function request()
  if #token_file > 0 and os.time() ~= token_read_at then
    read_token()
    token_read_at = os.time()
  end
  local target = path
  if #ids > 0 then
    target = string.gsub(path, "{id}", ids[math.random(#ids)], 1)
  end
  if clients > 0 then
    headers["X-Forwarded-For"] = string.format("10.64.0.%d", math.random(clients))
  end
  return wrk.format(method, target, headers, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

-- A fast 401 is not a result: report every non-2xx answer, by status, and every socket error.
function done(summary, latency, requests)
  local e = summary.errors
  local counts = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses") or {}) do
      counts[status] = (counts[status] or 0) + count
    end
  end
  local line = {}
  for status, count in pairs(counts) do
    line[#line + 1] = string.format("%d:%d", status, count)
  end
  io.write("BENCH_STATUS " .. table.concat(line, " ") .. "\n")
  io.write(string.format("BENCH_SOCKET_ERRORS connect:%d read:%d write:%d timeout:%d\n",
    e.connect, e.read, e.write, e.timeout))
  io.write(string.format("BENCH_FAILURES %d\n", e.status + e.connect + e.read + e.write + e.timeout))
  io.write(string.format("BENCH_LATENCY_US %d %d %d %d\n",
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
  io.write(string.format("BENCH_REQUESTS %d %d\n", summary.requests, summary.duration))
end
