-- luacheck: std +busted
-- Load: 100,000 requests through one engine with 1,000 in flight, against the in-process
-- mock. Every answer comes back once, in order, and neither memory nor open descriptors
-- grow with the number of requests. The ten-minute soak (`make soak`) repeats engine
-- batches and whole courses and checks the same.
local helpers = require "helpers"
local engine = require "coursegen.engine"
local mock = require "coursegen.mock"
local run = require "support.course_run"
local rel = require "support.reliability"

-- The soft limit on open files: 1,000 transfers need 1,000 client sockets here and as many
-- on the mock's side of loopback, in this one process.
local function fd_limit()
  local s = helpers.readfile("/proc/self/limits") or ""
  return tonumber(s:match("Max open files%s+(%d+)")) or 1024
end

-- The mock keeps a counter per distinct prompt (for its fault directives), which grows
-- with every new prompt; a fixed set of prompts keeps its memory out of the figures.
local PROMPTS = 997

-- A request the mock answers in a few bytes; the prompt names the request's number (modulo
-- PROMPTS) so a mixed-up answer would show.
local function request(url, i)
  return { url = url, headers = { "Content-Type: application/json" }, tokens = 10,
           body = ('{"contents":[{"role":"user","parts":[{"text":"# Item %d"}]}]}'):format(i % PROMPTS) }
end

-- Runs `n` requests through `eng` (window `window`) and checks each answer; calls
-- `at(i)` after the i-th result. Returns the number of results.
local function batch(eng, url, n, window, at)
  local i = 0
  local function source()
    if i >= n then return nil end
    i = i + 1
    return request(url, i)
  end
  local expect, first = 0, nil
  -- The timeout only bounds a hang: a loaded machine may take long over one result.
  return engine.map(eng, source, { window = window, timeout = 180 }, function(r, req)
    expect = expect + 1
    -- Ids are consecutive from the engine's first one, results come in submission order.
    first = first or r.id
    if r.id ~= first + expect - 1 then error(("result %d has id %d"):format(expect, r.id)) end
    local num = tonumber(req.body:match("Item (%d+)"))
    if num ~= expect % PROMPTS then error(("result %d came for prompt %d"):format(expect, num)) end
    if r.status ~= 200 or r.error then
      error(("request %d: status %s, %s"):format(expect, tostring(r.status), tostring(r.error)))
    end
    -- The mock quotes the prompt's first line: this answer is this request's.
    if tonumber(r.body:match('"# Item (%d+)\\n')) ~= num then
      error("request " .. expect .. ": answer for another prompt")
    end
    if at then at(expect) end
  end)
end

local function settle()
  collectgarbage()
  collectgarbage()
end

local function figures(label, t)
  io.stderr:write(("\n%s: %s\n"):format(label, t))
end

describe("#reliability load", function()
  it("takes 100,000 requests with 1,000 in flight, all accounted for, memory and descriptors flat", function()
    if fd_limit() < 2600 then
      pending(("needs at least 2,600 open files (soft limit %d): ulimit -n 4096"):format(fd_limit()))
      return
    end
    local N, C = 100000, 1000
    local srv = mock.start { latency_ms = 0, jitter_ms = 2, answer_words = 3 }
    local url = srv.url .. "/v1beta/models/m:generateContent"
    local eng = engine.new { concurrency = C, max_attempts = 3, backoff_base = 0.01, timeout = 30 }
    local t0 = rel.now()
    settle()
    local rss0, _ = rel.memory()
    local fd0 = rel.fds()
    -- Descriptors are sampled all along (their count wobbles with connection turnover):
    -- the most seen in the first 10% against the most seen after.
    local at10 -- { rss, hwm, fds } once 10% are done
    local fd_first, fd_after = 0, 0
    local n = batch(eng, url, N, 2 * C, function(i)
      if i % 500 == 0 then
        if i <= N // 10 then fd_first = math.max(fd_first, rel.fds()) else fd_after = math.max(fd_after, rel.fds()) end
      end
      if i == N // 10 then
        settle()
        local rss, hwm = rel.memory()
        at10 = { rss = rss, hwm = hwm, fds = fd_first }
      end
    end)
    local elapsed = rel.now() - t0
    settle()
    local rss, hwm = rel.memory()
    local fds = rel.fds()
    local es, ms = eng:stats(), srv:stats()
    eng:close()
    srv:close()
    figures("load", ("%d requests in %.1f s (%.0f/s), %d in flight at most (mock saw %d); RSS %d KiB before, "
      .. "%d at 10%%, %d at the end; peak %d KiB at 10%%, %d at the end; descriptors %d before, at most %d in "
      .. "the first 10%%, at most %d after, %d at the end (%d with the engine and mock closed)"):format(n, elapsed,
      n / elapsed, es.max_in_flight, ms.max_concurrent, rss0, at10.rss, rss, at10.hwm, hwm, fd0, fd_first, fd_after,
      fds, rel.fds()))
    assert.equal(N, n)
    assert.equal(N, es.requests)
    assert.equal(N, ms.requests)
    assert.equal(C, es.max_in_flight)
    -- Flat: what the first 10% grew to is the most it ever needs (slack for the allocator).
    assert.truthy(hwm <= at10.hwm * 1.10 + 8192, ("peak RSS grew from %d to %d KiB"):format(at10.hwm, hwm))
    assert.truthy(rss <= at10.rss * 1.10 + 8192, ("RSS grew from %d to %d KiB"):format(at10.rss, rss))
    -- Descriptors: one socket per transfer on each side of loopback, whatever the count of
    -- requests; how many are open at a given moment wobbles with connection turnover.
    -- The first 10% may end before every transfer has its connection open (more so on a
    -- loaded machine): later samples may reach, never pass, one socket per transfer on
    -- each side.
    local ceiling = math.max(fd_first, fd0 + 2 * C) + 16
    assert.truthy(fd_after <= ceiling, ("descriptors grew from %d to %d"):format(fd_first, fd_after))
    assert.truthy(rel.fds() <= fd0 + 4, "descriptors left open after close")
  end)
end)

describe("#soak", function()
  -- Ten minutes (SOAK_SECONDS to change) of engine batches and whole courses; memory and
  -- descriptors are sampled after each round and must stay flat after the first rounds.
  it("keeps memory and descriptors flat for ten minutes of batches and courses", function()
    local seconds = tonumber(os.getenv("SOAK_SECONDS")) or 600
    -- Transport-level faults for the bare engine (it has no answer check to re-ask with);
    -- answer-level ones too for the courses, whose pipeline re-asks.
    local bare = mock.start { latency_ms = 0, jitter_ms = 3, answer_words = 20, seed = 5,
                              faults = "503:0.02,reset:0.005" }
    local srv = mock.start { latency_ms = 0, jitter_ms = 3, answer_words = 20, seed = 6,
                             faults = "503:0.02,reset:0.005,empty:0.01,maxtokens:0.01" }
    local url = bare.url .. "/v1beta/models/m:generateContent"
    local tmp = helpers.tmpdir()
    local t0 = rel.now()
    local rounds, requests, courses = 0, 0, 0
    local base -- figures after the warm-up rounds
    local worst = { rss = 0, fds = 0 }
    while rel.now() - t0 < seconds and rounds < 100000 do
      rounds = rounds + 1
      -- A batch through a fresh engine: engines come and go as in a long-lived host.
      local eng = engine.new { concurrency = 256, max_attempts = 6, backoff_base = 0.005, backoff_cap = 0.05,
                               timeout = 10 }
      requests = requests + batch(eng, url, 5000, 512)
      eng:close()
      -- A whole course, written and then resumed with nothing to do.
      local dir = tmp .. "/c" .. (rounds % 2)
      helpers.rmtree(dir)
      local stats = run.generate(run.course(20), run.opts(srv, { out = dir, concurrency = 16, max_attempts = 8,
                                                                 rpm = 0, tpm = 0 }))
      assert.same({ total = 20, written = 20, skipped = 0, failed = 0 }, stats.chapters)
      rel.check_course(dir, 20)
      local again = run.generate(run.course(20), run.opts(srv, { out = dir, rpm = 0, tpm = 0 }))
      assert.same({ total = 20, written = 0, skipped = 20, failed = 0 }, again.chapters)
      assert.equal(0, again.requests)
      courses = courses + 1
      settle()
      local rss = rel.memory()
      local fds = rel.fds()
      if rounds == 3 then base = { rss = rss, fds = fds } end
      if base then
        worst.rss, worst.fds = math.max(worst.rss, rss), math.max(worst.fds, fds)
        assert.truthy(rss <= base.rss * 1.15 + 16384, ("round %d: RSS %d KiB, %d after warm-up"):format(rounds, rss,
          base.rss))
        assert.truthy(fds <= base.fds + 8, ("round %d: %d descriptors, %d after warm-up"):format(rounds, fds, base.fds))
      end
    end
    srv:close()
    bare:close()
    helpers.rmtree(tmp)
    figures("soak", ("%d rounds in %.0f s: %d engine requests, %d courses; RSS %d KiB after warm-up, %d at most; "
      .. "descriptors %d after warm-up, %d at most"):format(rounds, rel.now() - t0, requests, courses,
      base and base.rss or 0, worst.rss, base and base.fds or 0, worst.fds))
    assert.truthy(rounds >= 3)
  end)
end)
