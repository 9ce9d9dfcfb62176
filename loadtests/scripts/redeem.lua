-- wrk script: POST /v1/redemptions, each request with its own pre-minted QR token.
--
--   wrk -t2 -c32 -d10s -s redeem.lua URL -- TOKENS_FILE THREADS TERMINAL_SECRET [RATE_PER_S]
--
-- Thread i of THREADS takes every THREADS-th line of TOKENS_FILE (one token per line), so no
-- two requests carry the same token until a thread runs out and starts over (a replay: then
-- refused, and counted among the non-2xx answers).
--
-- RATE_PER_S (0 or absent: as fast as the connections go) paces the run by a schedule, not by
-- a fixed pause: each thread owns RATE_PER_S / THREADS of the rate and sends its n-th request
-- at start + n * interval. wrk asks delay() once before each request of a connection; every
-- call claims the thread's next slot and waits max(0, due - now), so the request's own
-- latency does not slow the schedule down (a fixed pause of connections / rate would: the
-- carried rate would fall short of the offered one by the latency). A slot already past (the
-- connections were all busy) is sent at once, so the schedule catches up.
-- done() prints one JSON line with the latency percentiles (microseconds).

local ffi = require("ffi")
pcall(ffi.cdef, [[
  typedef struct { long tv_sec; long tv_nsec; } yy_timespec;
  int clock_gettime(int clock_id, yy_timespec *tp);
]])
local CLOCK_MONOTONIC = 1
local ts = ffi.new("yy_timespec")

local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local threads = {}
local counter = 1

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  local nthreads = tonumber(args[2])
  secret = args[3]
  local rate = tonumber(args[4] or "0") or 0
  -- this thread's share of the schedule: one slot every `interval` ms from `start`
  interval = rate > 0 and (1000 * nthreads / rate) or 0
  start = now_ms()
  slot = 0
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

-- Without RATE_PER_S (interval 0) every slot is already due: no wait, full speed.
function delay()
  local due = start + slot * interval
  slot = slot + 1
  local wait = due - now_ms()
  if wait <= 0 then
    return 0
  end
  return math.floor(wait + 0.5)
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
