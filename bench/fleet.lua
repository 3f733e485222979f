--- The "fleet" scenario of `make bench`: coursegen processes sharing one quota through
-- Redis, against the mock enforcing the limit as a sliding window. Prints a Markdown
-- section (appended to bench/RESULTS.md by bench/run.sh). Run from the source tree root:
--   lua5.4 bench/fleet.lua [--quick]
-- Redis calls are counted by Redis (INFO commandstats: EVALSHA and EVAL).
package.path = "lua/?.lua;lua/?/init.lua;spec/?.lua;" .. package.path
package.cpath = (os.getenv("COURSEGEN_BUILD") or "build") .. "/?.so;" .. package.cpath

local helpers = require "helpers"
local redis = require "support.redis_server"
local runs = require "support.cli_runs"
local json = require "coursegen.json"
local mock = require "coursegen.mock"
local herd_run = require "support.herd"

local quick = arg and arg[1] == "--quick"
local WINDOW = 5

local calls = herd_run.calls

-- Server-side microseconds per script call.
local function usec_per_call(srv)
  return tonumber(redis.cli(srv, "info commandstats"):match("cmdstat_evalsha:[^\n]*usec_per_call=([%d.]+)")) or 0
end

-- N processes of `chapters` chapters with `flags`; returns a row of figures.
local function processes(name, n, chapters, mock_opts, flags, tpm)
  local srv = redis.start()
  local server = mock.start(mock_opts)
  local dir = helpers.tmpdir()
  local url = srv.url(redis.fresh_key("bench"))
  if tpm then redis.scaled_key(url, mock_opts.rpm, tpm, 10000) end
  local cmds = {}
  for i = 1, n do
    local args = { "generate", runs.course_file(dir, "c" .. i, "Course " .. i, chapters), "--out",
      dir .. "/o" .. i, "--base-url", server.url, "--limiter", url, "--no-progress", "--quiet",
      "--stats-json", dir .. "/s" .. i .. ".json" }
    for _, f in ipairs(flags) do args[#args + 1] = f end
    cmds[i] = { name = "p" .. i, args = args }
  end
  runs.run_all(dir, cmds)
  local st = server:stats()
  local c, us = calls(srv), usec_per_call(srv)
  server:close()
  redis.stop(srv)
  local longest, ok = 0, 0
  for i = 1, n do
    local s = json.decode(helpers.readfile(dir .. "/s" .. i .. ".json") or "null")
    if s then
      longest = math.max(longest, s.elapsed_s)
      if s.chapters.written == chapters then ok = ok + 1 end
    end
  end
  helpers.rmtree(dir)
  -- the share of the binding limit used over the whole run (from the first start)
  local share = st.requests / longest / (mock_opts.rpm / 60)
  if tpm then share = math.max(share, st.tokens_admitted / longest / (tpm / 60)) end
  return { name = name, requests = st.requests, rate = st.requests / longest, n429 = st.status["429"] or 0,
           calls = c, per_request = c / st.requests, usec = us, finished = ok .. "/" .. n, share = share }
end

-- `n` simulated clients on one key (spec/support/herd.lua); Redis's calls counted after
-- `warm` seconds, for `secs`.
local function clients(n, secs, rpm, warm)
  local srv = redis.start()
  local h = herd_run.run(srv, n, secs, rpm, warm)
  h.usec = usec_per_call(srv)
  redis.stop(srv)
  return h
end

local rows = {}
local chapters = quick and 40 or 100
rows[#rows + 1] = processes("3 processes, --rpm 1200 (sliding " .. WINDOW .. "-s window at 1200/min)", 3,
  chapters,
  { rpm = 1200, window = WINDOW, latency_ms = 20 }, { "--rpm", "1200", "--tpm", "100000000" })
rows[#rows + 1] = processes("3 processes, Gemini tier 1 (--rpm 1000 --tpm 1000000 --rpd 10000)", 3,
  chapters,
  { rpm = 1000, window = WINDOW, latency_ms = 20 }, { "--rpm", "1000", "--tpm", "1000000", "--rpd", "10000" },
  1000000)

local herd = {}
for _, n in ipairs { 3, 50 } do herd[#herd + 1] = clients(n, quick and 10 or 30, 600, quick and 10 or 15) end

local out = {
  "", "## fleet: one quota through Redis", "",
  string.format("Processes run `coursegen generate` with %d chapters each and one `--limiter` key; the mock "
    .. "enforces the request limit over a sliding %d-s window (every request over it is a 429) and counts "
    .. "the tokens it admits; at tier 1 tokens bind, and the key's request burst is scaled to the short "
    .. "window. The share is over the whole run, from the first start. Redis calls are "
    .. "Redis's own count (INFO commandstats, EVALSHA + EVAL); µs per call is Redis's usec_per_call.",
    chapters, WINDOW),
  "",
  "| scenario | requests | achieved /s | share of the binding limit | 429s | Redis calls | calls per request "
    .. "| µs per call (server) | finished |",
  "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
}
for _, r in ipairs(rows) do
  out[#out + 1] = string.format("| %s | %d | %.1f | %.3f | %d | %d | %.3f | %.1f | %s |", r.name, r.requests,
    r.rate, r.share, r.n429, r.calls, r.per_request, r.usec, r.finished)
end
out[#out + 1] = ""
out[#out + 1] = "Simulated clients on one key at 600 requests/min, each asking as fast as the key allows "
  .. "(calls counted after the line has formed; answers \"wait in line\" and wake-up messages over the whole run):"
out[#out + 1] = ""
out[#out + 1] = "| clients | granted /s | Redis calls /s | calls per grant | waits in line | wake-ups | µs per call |"
out[#out + 1] = "|---:|---:|---:|---:|---:|---:|---:|"
for _, h in ipairs(herd) do
  out[#out + 1] = string.format("| %d | %.1f | %.2f | %.3f | %d | %d | %.1f |", h.clients, h.rate, h.calls_per_s,
    h.per_request, h.queued, h.wakeups, h.usec)
end
print(table.concat(out, "\n"))
