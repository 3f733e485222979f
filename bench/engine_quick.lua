--- Quick engine benchmark: makespan against its lower bound, and client CPU per request
-- against `curl --parallel`. Run from the source tree root:
--   lua5.4 bench/engine_quick.lua [N] [cpu]
-- ("cpu" runs only the CPU comparison, for large N such as 100000.)
-- The mock runs as a separate process (`bin/coursegen mock`) when it can, so the CPU we
-- measure is the client's alone; otherwise in-process (and the CPU column then includes
-- the server's).
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = (os.getenv("COURSEGEN_BUILD") or "build") .. "/?.so;" .. package.cpath

local core = require "coursegen.core"

local N = tonumber(arg and arg[1]) or 2000
local cpu_only = arg and arg[2] == "cpu"
local PATH = "/v1beta/models/m:generateContent"

local function body(i)
  return '{"contents":[{"role":"user","parts":[{"text":"bench question ' .. i .. '"}]}]}'
end

-- Starts a mock with `latency_ms`; returns its base URL and a stop function.
local function start_mock(latency_ms)
  local p = io.popen("exec bin/coursegen mock --latency-ms " .. latency_ms .. " 2>/dev/null & echo $!", "r")
  local pid = p and p:read("l")
  local line = p and p:read("l")
  local url = line and line:match("listening on (http://%S+)")
  if url then
    return url, "process", function()
      os.execute("kill " .. pid)
      p:close()
    end
  end
  if p then p:close() end
  local srv = require("coursegen.mock").start { latency_ms = latency_ms }
  return srv.url, "in-process", function() srv:close() end
end

local function cpu()
  local u, s = core.cpu_time("self")
  return u + s
end

-- Runs N requests through the engine; returns makespan and CPU seconds.
local function run_engine(url, opts)
  local eng = core.engine(opts)
  local t0, c0 = core.now(), cpu()
  local window, submitted, got = math.max(256, 4 * opts.concurrency), 0, 0
  while got < N do
    while submitted < N and eng:pending() < window do
      submitted = submitted + 1
      eng:submit { url = url .. PATH, body = body(submitted), headers = { "Content-Type: application/json" } }
    end
    local r = assert(eng:next(60))
    assert(r.status == 200, r.error)
    got = got + 1
  end
  local dt, dc = core.now() - t0, cpu() - c0
  eng:close()
  return dt, dc
end

-- Same requests with curl --parallel; returns makespan and the child's CPU seconds.
local function run_curl(url, conc)
  local cfg = os.tmpname()
  local f = assert(io.open(cfg, "w"))
  for i = 1, N do
    f:write('url = "', url, PATH, '"\n', "data = '", body(i), "'\n",
      'header = "Content-Type: application/json"\noutput = "/dev/null"\n')
    if i < N then f:write("next\n") end
  end
  f:close()
  local u0, s0 = core.cpu_time("children")
  local t0 = core.now()
  local ok = os.execute("curl -s --no-progress-meter --parallel --parallel-immediate --parallel-max " .. conc
    .. " -K " .. cfg .. " 2>/dev/null")
  local dt = core.now() - t0
  local u1, s1 = core.cpu_time("children")
  os.remove(cfg)
  if not ok then return nil end
  return dt, (u1 - u0) + (s1 - s0)
end

local rows = {}
local function row(name, makespan, bound, note)
  rows[#rows + 1] = { name, makespan, bound, note }
end

-- 1. rate-bound: R = 100/s, C = 64, L = 20 ms
if not cpu_only then
  local url, how, stop = start_mock(20)
  local R, C, L = 100, 64, 0.020
  local dt = run_engine(url, { concurrency = C, rpm = R * 60 })
  row("rate-bound (R=100/s, C=64, L=20ms)", dt, math.max(N / R, math.ceil(N / C) * L), "mock " .. how)
  stop()
end

-- 2. latency-bound: C = 64, L = 50 ms, no limit
if not cpu_only then
  local url, how, stop = start_mock(50)
  local C, L = 64, 0.050
  local dt = run_engine(url, { concurrency = C })
  row("latency-bound (C=64, L=50ms)", dt, math.ceil(N / C) * L, "mock " .. how)
  stop()
end

-- 3. CPU per request against curl --parallel, C = 64, L = 20 ms
local cpu_rows = {}
do
  local url, how, stop = start_mock(20)
  for _, C in ipairs { 64, 256 } do
    local dt, dc = run_engine(url, { concurrency = C })
    local cdt, cdc = run_curl(url, C)
    cpu_rows[#cpu_rows + 1] = { C, dt, dc, cdt, cdc, how }
  end
  stop()
end

print(("engine quick benchmark, N = %d"):format(N))
if #rows > 0 then
  print(("%-36s %10s %10s %7s  %s"):format("setting", "makespan", "bound", "ratio", ""))
  for _, r in ipairs(rows) do
    print(("%-36s %9.2fs %9.2fs %7.2f  %s"):format(r[1], r[2], r[3], r[2] / r[3], r[4]))
  end
  print()
end
print(("%-12s %12s %14s %12s %14s %7s"):format("concurrency", "engine time", "engine CPU/req", "curl time",
  "curl CPU/req", "ratio"))
for _, r in ipairs(cpu_rows) do
  local C, dt, dc, cdt, cdc, how = table.unpack(r)
  if cdt then
    print(("%-12d %11.2fs %12.1fus %11.2fs %12.1fus %7.2f  mock %s"):format(C, dt, dc / N * 1e6, cdt,
      cdc / N * 1e6, dc / cdc, how))
  else
    print(("%-12d %11.2fs %12.1fus %12s %14s %7s  mock %s"):format(C, dt, dc / N * 1e6, "n/a", "n/a", "", how))
  end
end
