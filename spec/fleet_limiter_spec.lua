-- luacheck: std +busted
-- A fleet on one quota: coursegen processes sharing one key in a real redis-server,
-- against the mock enforcing the limit as a sliding window (at most rpm * window / 60
-- requests admitted in any `window` seconds: every request over the limit is a 429).
-- Redis calls are counted by Redis itself (INFO commandstats).
local helpers = require "helpers"
local redis = require "support.redis_server"
local runs = require "support.cli_runs"
local wall = runs.wall
local json = require "coursegen.json"
local mock = require "coursegen.mock"

local WINDOW = 5 -- seconds: short enough that a run of about 18 s fills it three times

-- The commands for `n` processes, `chapters` each, on `url`, with `limits` (flags).
local function fleet(dir, n, chapters, server_url, limits, url)
  local cmds = {}
  for i = 1, n do
    local path = runs.course_file(dir, "c" .. i, "Course " .. i, chapters)
    local args = { "generate", path, "--out", dir .. "/o" .. i, "--base-url", server_url, "--limiter", url,
      "--no-progress", "--quiet", "--stats-json", dir .. "/s" .. i .. ".json" }
    for _, a in ipairs(limits) do args[#args + 1] = a end
    cmds[i] = { name = "p" .. i, args = args }
  end
  return cmds
end

-- Only the request limit: the token limit out of the way.
local function rpm_only(rpm) return { "--rpm", tostring(rpm), "--tpm", "100000000" } end

-- Checks every process finished all its chapters; returns the sum of their requests,
-- Redis round trips (as they counted them) and outages, the longest run (from the
-- engine's start: the time to start Lua is not the limiter's), the requests granted from
-- outage shares and the tokens used.
local function all_written(dir, n, chapters)
  local sent, trips, outages, longest, shared, used = 0, 0, 0, 0, 0, 0
  for i = 1, n do
    local r = runs.result_of(dir, "p" .. i)
    assert.equal(0, r.code, r.err)
    local s = json.decode(assert(helpers.readfile(dir .. "/s" .. i .. ".json")))
    assert.equal(chapters, s.chapters.written)
    sent = sent + s.requests
    trips = trips + s.limiter.round_trips
    outages = outages + (s.limiter.outages or 0)
    shared = shared + (s.limiter.outage_grants or 0)
    longest = math.max(longest, s.elapsed_s)
    used = used + s.tokens.prompt + s.tokens.output + (s.tokens.thoughts or 0)
  end
  return sent, trips, outages, longest, shared, used
end

describe("a fleet of coursegen processes on one Redis key", function()
  it("achieves the limit against a sliding-window enforcer: >= 95%, < 1% 429s, < 0.1 Redis calls a request #slow",
    function()
    local RPM, N, CHAPTERS = 1200, 3, 120
    local srv = redis.start()
    local server = mock.start { rpm = RPM, window = WINDOW, latency_ms = 20 }
    local dir = helpers.tmpdir()
    local url = srv.url(redis.fresh_key("fleet"))
    -- A fresh key: the engine opens it paced, with no burst for the window to turn away.
    runs.run_all(dir, fleet(dir, N, CHAPTERS, server.url, rpm_only(RPM), url))
    local st = server:stats()
    local calls = redis.calls(srv, "evalsha") + redis.calls(srv, "eval")
    server:close()
    redis.stop(srv)
    local sent, trips, _, makespan = all_written(dir, N, CHAPTERS)
    local n429 = st.status["429"] or 0
    local rate = st.requests / makespan
    print(string.format("\n  %d processes, %d requests in %.2f s: %.1f/s (limit %d/s, %d-s window), "
      .. "429s %d (%.2f%%), Redis calls %d (%.3f a request; the clients counted %d)", N, st.requests,
      makespan, rate, RPM // 60, WINDOW, n429, 100 * n429 / st.requests, calls, calls / sent, trips))
    assert.is_true(n429 / st.requests < 0.01, "429 share: " .. n429 .. "/" .. st.requests)
    assert.is_true(rate >= 0.95 * RPM / 60, "achieved rate: " .. rate)
    assert.is_true(calls / sent < 0.1, "Redis calls a request: " .. calls / sent)
    helpers.rmtree(dir)
  end)

  it("at Gemini tier-1 limits: most of what the tokens allow, < 1% 429s, < 0.1 Redis calls a request #slow",
    function()
    -- Tier 1 as it is: 1,000 requests/min, 1,000,000 tokens/min, 10,000 a day. A chapter
    -- reserves about 10,000 tokens and uses about 1,600, so tokens are the binding limit
    -- (about 10 requests a second). The enforcer counts requests over its window; the
    -- tokens each request really used (its prompt and answer) give what the limits allow.
    local RPM, TPM, N, CHAPTERS = 1000, 1000000, 3, 120
    local srv = redis.start()
    local server = mock.start { rpm = RPM, window = WINDOW, latency_ms = 20 }
    local dir = helpers.tmpdir()
    local url = srv.url(redis.fresh_key("fleet"))
    redis.scaled_key(url, RPM, TPM, 10000)
    local pid = runs.start_all(dir, fleet(dir, N, CHAPTERS, server.url,
      { "--rpm", tostring(RPM), "--tpm", tostring(TPM), "--rpd", "10000" }, url))
    -- The steady rate: from a fifth of the requests to four fifths. (A run also
    -- pays a fixed cost: the reservations in flight are paid for once and come back only
    -- at its end, and its last request queues behind the others' leases; that is a couple
    -- of seconds whatever the run's length, and longer runs here reach 0.98.)
    local a, b
    local total = N * (CHAPTERS + 1)
    for _ = 1, 12000 do
      local s = server:stats()
      local now = { t = wall(), n = s.requests, tok = s.tokens_admitted }
      if now.n >= 0.8 * total or not helpers.alive(pid) then break end
      if not a and now.n >= 0.2 * total then a = now end
      b = now
      helpers.sleep(0.01)
    end
    for _ = 1, 6000 do
      if not helpers.alive(pid) then break end
      helpers.sleep(0.01)
    end
    local st = server:stats()
    local calls = redis.calls(srv, "evalsha") + redis.calls(srv, "eval")
    server:close()
    redis.stop(srv)
    local sent, trips, _, makespan, _, used = all_written(dir, N, CHAPTERS)
    local n429 = st.status["429"] or 0
    -- The share of the limits used: the binding one's (the enforcer counts the tokens).
    local span = b.t - a.t
    local share = math.max((b.n - a.n) / span / (RPM / 60), (b.tok - a.tok) / span / (TPM / 60))
    local whole = math.max(sent / makespan / (RPM / 60), used / makespan / (TPM / 60))
    print(string.format("\n  %d processes at tier 1, %d requests (%d tokens each): steady %.2f requests/s, "
      .. "%.0f tokens/s (%.3f of the limits); over the whole run of %.1f s %.3f; 429s %d (%.2f%%), Redis calls %d "
      .. "(%.3f a request; the clients counted %d)", N, sent, used // sent, (b.n - a.n) / span,
      (b.tok - a.tok) / span, share, makespan, whole, n429, 100 * n429 / st.requests, calls, calls / sent, trips))
    assert.is_true(n429 / st.requests < 0.01, "429 share: " .. n429 .. "/" .. st.requests)
    -- The goal is 0.95 (the buckets refill at 0.98); steady runs here measure 1.00-1.01
    -- (the window is about 20 s: reservations carried into it are spent within it), and
    -- whole runs 0.955-0.97 (the opening is paced, and a process's first leases carry
    -- whole reservations until a request's use is known). A sanitizer build starts and
    -- answers slower, so the whole run's bar sits below those figures.
    assert.is_true(share >= 0.95, "achieved: " .. share .. " of the limits")
    assert.is_true(whole >= 0.9, "achieved over the whole run: " .. whole .. " of the limits")
    assert.is_true(calls / sent < 0.1, "Redis calls a request: " .. calls / sent)
    helpers.rmtree(dir)
  end)

  it("rides through a Redis restart and a 3-s stall, never over the limit #slow", function()
    local RPM, N, CHAPTERS = 600, 3, 60 -- 10 requests a second: about 18 s in all
    local srv = redis.start { args = { "--enable-debug-command", "local" } }
    local server = mock.start { rpm = RPM, window = WINDOW, latency_ms = 20 }
    local dir = helpers.tmpdir()
    local url = srv.url(redis.fresh_key("ride"))
    local pid = runs.start_all(dir, fleet(dir, N, CHAPTERS, server.url, rpm_only(RPM), url))
    local function after(requests)
      for _ = 1, 3000 do
        if server:stats().requests >= requests then return end
        helpers.sleep(0.01)
      end
    end
    after(40)
    srv = redis.restart(srv, 3) -- down for 3 s: connections refused meanwhile
    after(100)
    local t_sleep = wall()
    redis.cli(srv, "debug sleep 3")
    assert.is_true(wall() - t_sleep >= 2.9, "DEBUG SLEEP did not block")
    for _ = 1, 6000 do
      if not helpers.alive(pid) then break end
      helpers.sleep(0.01)
    end
    local st = server:stats()
    server:close()
    redis.stop(srv)
    local _, _, outages, _, shared = all_written(dir, N, CHAPTERS)
    print(string.format("\n  %d processes through a restart and a 3-s stall: %d requests, 429s %d, "
      .. "outages ridden %d (%d requests granted from the local share)", N, st.requests, st.status["429"] or 0,
      outages, shared))
    -- Processes asked Redis while it was down or stalled, and went on.
    assert.is_true(outages >= 1, "outages: " .. outages)
    -- The enforcer turns away whatever is over the limit in a window: nothing was.
    assert.equal(0, st.status["429"] or 0)
    helpers.rmtree(dir)
  end)
end)
