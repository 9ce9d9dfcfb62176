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
--
-- wrk times a request from the moment it is sent, not from its slot. A request whose slot
-- came while every connection was busy leaves late, and that wait is not in the percentiles
-- (coordinated omission). So each request's lateness (sent minus due) is counted too: slots
-- are claimed by delay() and their requests sent in the same order (the timers fire by due
-- time), so request() takes the oldest slot claimed. done() adds `late10` and `late50`
-- (requests sent at least 10 / 50 ms after their slot), `late_max_us` and `paced` (requests
-- that had a slot). The pairing assumes each connection that claims a slot can send at once
-- when it comes: a connection stalled in its connect after claiming one would make the
-- requests after it look later than they are (the bench's server accepts every connection).

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
  dues, head, tail = {}, 1, 0
  paced, late10, late50, late_max = 0, 0, 0, 0
end

-- Without RATE_PER_S (interval 0) every slot is already due: no wait, full speed.
function delay()
  local due = start + slot * interval
  slot = slot + 1
  if interval > 0 then
    tail = tail + 1
    dues[tail] = due
  end
  local wait = due - now_ms()
  if wait <= 0 then
    return 0
  end
  return math.floor(wait + 0.5)
end

function request()
  if head <= tail then
    local late = now_ms() - dues[head]
    dues[head] = nil
    head = head + 1
    paced = paced + 1
    if late >= 10 then late10 = late10 + 1 end
    if late >= 50 then late50 = late50 + 1 end
    if late > late_max then late_max = late end
  end
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
  local n, l10, l50, lmax = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    n = n + (t:get("paced") or 0)
    l10 = l10 + (t:get("late10") or 0)
    l50 = l50 + (t:get("late50") or 0)
    lmax = math.max(lmax, t:get("late_max") or 0)
  end
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"non2xx":%d,"connect_errors":%d,' ..
    '"read_errors":%d,"write_errors":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,' ..
    '"p95_us":%d,"p99_us":%d,"max_us":%d,"paced":%d,"late10":%d,"late50":%d,' ..
    '"late_max_us":%d}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(95),
    latency:percentile(99), latency.max, n, l10, l50, math.floor(lmax * 1000)))
end
