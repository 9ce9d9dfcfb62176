-- wrk script: POST /v1/redemptions, each request with its own pre-minted QR token.
--
--   wrk -t2 -c32 -d10s -s redeem.lua URL -- TOKENS_FILE THREADS TERMINAL_SECRET [DELAY_MS]
--
-- Thread i of THREADS takes every THREADS-th line of TOKENS_FILE (one token per line), so no
-- two requests carry the same token until a thread runs out and starts over (a replay: then
-- refused, and counted among the non-2xx answers). With DELAY_MS each connection waits that
-- long before each request: the offered rate is about connections * 1000 / DELAY_MS.
-- done() prints one JSON line with the latency percentiles (microseconds).

local threads = {}
local counter = 1

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  local nthreads = tonumber(args[2])
  secret = args[3]
  pause = tonumber(args[4] or "0")
  mine = {}
  local i = 0
  for line in io.lines(args[1]) do
    if i % nthreads == tid then
      table.insert(mine, line)
    end
    i = i + 1
  end
  prefix = "bench-" .. tid .. "-" .. tostring(os.time()) .. "-"
end

function delay()
  return pause
end

function request()
  local token = mine[(counter - 1) % #mine + 1]
  local body = '{"token":"' .. token .. '","service_code":"MEAL_LUNCH","gross_fen":1500,' ..
               '"idempotency_key":"' .. prefix .. counter .. '"}'
  counter = counter + 1
  return wrk.format("POST", "/v1/redemptions",
                    {["Content-Type"] = "application/json",
                     ["Authorization"] = "Bearer " .. secret}, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"non2xx":%d,"connect_errors":%d,' ..
    '"read_errors":%d,"write_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,' ..
    '"p95_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(95),
    latency:percentile(99), latency.max))
end
