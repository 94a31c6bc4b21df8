-- replay.lua — wrk replays the mover's S3 request sequence on N staged objects: the
-- server's ceiling for the pipeline (scripts/bench.sh, bench/bench_e2e.py).
--
--   SLUICE_REPLAY_DIR=DIR SLUICE_REPLAY_START=EPOCH_SECONDS \
--     wrk -t T -c T -d 600s -s bench/replay.lua http://127.0.0.1:7480/
--
-- DIR holds one request file per wrk thread (requests-<thread>.tsv, written by
-- `sluice-bench-e2e replay` and split by object: object i goes to thread i mod T). Each
-- line: object index, expected HTTP status, method, path?query (presigned), headers
-- ("Name: value"), and optionally "body=<request body>".
--
-- One connection per thread (-t T -c T): wrk asks a thread for its next request only
-- when the connection's previous answer is complete, so every request of an object comes
-- after the one before it has been answered — the order the mover keeps for one
-- artifact — and T objects are in flight, as the mover's worker.concurrency artifacts
-- are. There is no response() function: with one, wrk would build a Lua table of every
-- answer's headers and body, which costs more CPU than the requests; statuses are
-- checked by the caller from wrk's count of answers >= 400 (the expected 404s of the
-- trusted-key checks) and from the state of the buckets afterwards.
--
-- Every thread waits until SLUICE_REPLAY_START (wall clock, so all threads begin
-- together after their files are loaded), then sends its lines in order. When wrk asks
-- for one more after the last (its answer is then complete) the thread prints
--   replay-done <thread> <start> <end> <requests>
-- (times: seconds since the epoch, CLOCK_REALTIME through LuaJIT's FFI), stops, and
-- hands wrk an anonymous GET / (radosgw answers 200) that may still go out. The caller
-- waits for T such lines and then sends wrk SIGINT, which ends its run.

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } sluice_timespec;
int clock_gettime(int clk_id, sluice_timespec *tp);
int usleep(unsigned int usec);
]]

local function now()
  local ts = ffi.new("sluice_timespec")
  ffi.C.clock_gettime(0, ts) -- CLOCK_REALTIME
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
end

-- main state: number the threads
local next_id = 0
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end

-- thread state
local requests = {}
local pos = 1
local t_start, finished, verify_pending, idle_request

function init(args)
  local dir = assert(os.getenv("SLUICE_REPLAY_DIR"), "SLUICE_REPLAY_DIR is not set")
  local path = string.format("%s/requests-%d.tsv", dir, id)
  local host
  for line in io.lines(path) do
    local f = {}
    for field in string.gmatch(line, "[^\t]+") do f[#f + 1] = field end
    local headers, body = {}, nil
    for j = 5, #f do
      if string.sub(f[j], 1, 5) == "body=" then
        body = string.sub(f[j], 6)
      else
        local name, value = string.match(f[j], "^([^:]+): (.*)$")
        headers[name] = value
      end
    end
    host = headers["Host"]
    -- a PUT (CopyObject) carries an empty body: Content-Length: 0
    if body == nil and (f[3] == "PUT" or f[3] == "POST") then body = "" end
    requests[#requests + 1] = wrk.format(f[3], f[4], headers, body)
  end
  assert(#requests > 0, path .. " is empty")
  idle_request = wrk.format("GET", "/", { Host = host }, nil)
  -- wrk calls request() once on thread 0 before the run to check the request's syntax
  verify_pending = (id == 0)
end

function request()
  if verify_pending then
    verify_pending = false
    return requests[1]
  end
  if t_start == nil then
    local start = tonumber(os.getenv("SLUICE_REPLAY_START") or "0")
    while now() < start do ffi.C.usleep(1000) end
    t_start = now()
  end
  if pos > #requests then
    if not finished then
      finished = true
      io.stdout:write(string.format("replay-done %d %.6f %.6f %d\n", id, t_start, now(), #requests))
      io.stdout:flush()
      wrk.thread:stop()
    end
    return idle_request
  end
  pos = pos + 1
  return requests[pos - 1]
end
