-- luacheck: std +busted
-- Every fault the mock can inject, alone and mixed, against a whole 30-chapter course:
-- retryable faults never cost a chapter, non-retryable ones fail only their own chapter at
-- once with the server's words, and the client's books (manifest, statistics) agree with
-- what the server saw.
local helpers = require "helpers"
local run = require "support.course_run"
local rel = require "support.reliability"

local N = 30

-- Faults a run must survive, as `--faults` rules: the retryable ones, and extra latency.
-- A 429's RetryInfo pauses the shared limiter, so it gets a short hint here to keep the
-- run fast (the plain 1 s hint is in the directive case).
local RETRYABLE = { "429:100ms", "429bare", "500", "503", "504", "empty", "thought", "maxtokens", "malformed",
                    "truncated", "reset", "stall", "midstream", "slow:30" }

-- A short per-attempt timeout so a stalled request costs little, yet far above the mock's
-- few milliseconds (a timed-out answer the mock did send would unbalance the books);
-- enough attempts that a 20% fault rate essentially never exhausts them (0.2^8).
local function fast_opts(srv, dir, extra)
  -- No client-side rate limit: the provider's published one would pace a mock run for nothing.
  local o = run.opts(srv, { out = dir, concurrency = 12, max_attempts = 8, timeout = 1, rpm = 0, tpm = 0,
                            backoff_base = 0.005, backoff_cap = 0.02 })
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end

local function mock(extra)
  local o = { latency_ms = 0, jitter_ms = 5, answer_words = 30 }
  for k, v in pairs(extra or {}) do o[k] = v end
  return run.mock(o)
end

describe("#reliability fault matrix", function()
  local srv, tmp, survived = nil, nil, 0
  before_each(function() tmp = helpers.tmpdir() end)
  after_each(function()
    if srv then srv:close() end
    srv = nil
    helpers.rmtree(tmp)
  end)

  -- One course under a probabilistic fault spec: complete, in order, books balanced.
  local function survive(spec, seed, dialect)
    srv = mock { faults = spec, seed = seed }
    local dir = tmp .. "/out-" .. seed .. "-" .. (dialect or "gemini")
    local extra = dialect == "openai" and { provider = "openai", base_url = srv.url .. "/v1" } or nil
    local stats = run.generate(run.course(N), fast_opts(srv, dir, extra))
    local ms = srv:stats()
    assert.same({ total = N, written = N, skipped = 0, failed = 0 }, stats.chapters)
    local m = rel.check_course(dir, N)
    rel.check_accounting(stats, m, ms)
    rel.check_accounting(m.stats, m, ms) -- the manifest's copy says the same
    local injected = 0
    for _, n in pairs(ms.faults) do injected = injected + n end
    assert.truthy(injected > 0, "no fault was injected by " .. spec)
    survived = survived + injected
    srv:close()
    srv = nil
    return injected
  end

  for _, dialect in ipairs { "gemini", "openai" } do
    for i, f in ipairs(RETRYABLE) do
      it("survives " .. f .. " on 20% of requests (" .. dialect .. ")", function()
        survive(f .. ":0.2", 100 + i, dialect)
      end)
    end

    it("survives every retryable fault mixed, 20% of requests in all (" .. dialect .. ")", function()
      local rules = {}
      for i, f in ipairs(RETRYABLE) do rules[i] = f .. ":" .. (0.2 / #RETRYABLE) end
      -- Several seeds: the mix is thin per fault, so one seed alone meets only a few kinds.
      local injected = 0
      for seed = 1, 4 do injected = injected + survive(table.concat(rules, ","), seed, dialect) end
      assert.truthy(injected >= 12)
    end)
  end

  it("retries each retryable fault given by directive, with exact attempt counts", function()
    -- Chapter i carries two faults in a row, then answers: three attempts each.
    local list = { "429", "429bare", "500", "503", "504", "empty", "thought", "maxtokens", "malformed",
                   "truncated", "stall", "midstream", "safety", "recitation", "blocked" }
    local briefs = {}
    for i, f in ipairs(list) do briefs[i] = ("[[mock:%s,%s]]"):format(f, f) end
    srv = mock()
    local dir = tmp .. "/out"
    local stats = run.generate(run.course(N, briefs), fast_opts(srv, dir))
    local ms = srv:stats()
    assert.same({ total = N, written = N, skipped = 0, failed = 0 }, stats.chapters)
    local m = rel.check_course(dir, N)
    for i = 1, N do
      assert.equal(list[i] and 3 or 1, m.chapters[i].attempts, "chapter " .. i .. " " .. tostring(list[i]))
    end
    assert.equal(0, rel.check_accounting(stats, m, ms))
    -- An unparseable body counts as an empty answer; a thought-only answer ends with
    -- MAX_TOKENS (the thinking used the budget), so it is re-asked as truncated.
    assert.equal(4, stats.empty_answers)      -- empty and malformed, twice each
    assert.equal(4, stats.truncated_answers)  -- maxtokens and thought, twice each
    assert.equal(6, stats.blocked_answers)
  end)

  it("fails a non-retryable fault's chapter only, at once, with the server's words", function()
    -- Each listed chapter gets its fault forever; the others answer. Backoff is long here
    -- on purpose: a single backoff wait would show in the elapsed time.
    local cases = {
      [3] = { "400", "HTTP 400", "Request contains an invalid argument." },
      [5] = { "401", "HTTP 401", "Request had invalid authentication credentials." },
      [8] = { "403", "HTTP 403", "has not been used in project" },
      [11] = { "404", "HTTP 404", "is not found for API version v1beta" },
      [14] = { "429day", "quota", "You exceeded your current quota" },
      [17] = { "quota", "quota", "You exceeded your current quota" },
      [20] = { "html404", "HTTP 404", "Error 404 (Not Found)!!1" },
    }
    local briefs = {}
    for i, c in pairs(cases) do briefs[i] = ("[[mock:%s*]]"):format(c[1]) end
    srv = mock()
    local dir = tmp .. "/out"
    local t0 = rel.now()
    local stats = run.generate(run.course(N, briefs), fast_opts(srv, dir, { backoff_base = 5, backoff_cap = 5 }))
    local elapsed = rel.now() - t0
    local ms = srv:stats()
    local nfail = 0
    for _ in pairs(cases) do nfail = nfail + 1 end
    assert.same({ total = N, written = N - nfail, skipped = 0, failed = nfail }, stats.chapters)
    assert.truthy(elapsed < 2.5, ("took %.2f s: a non-retryable fault waited"):format(elapsed))
    local m = rel.manifest(dir)
    for i = 1, N do
      local c = cases[i]
      if c then
        local e = m.chapters[i]
        assert.equal("failed", e.status)
        assert.equal(1, e.attempts, "chapter " .. i .. " " .. c[1])
        assert.truthy(e.error:find(c[2], 1, true), e.error)
        assert.truthy(e.error:find(c[3], 1, true), e.error)
        assert.is_nil(helpers.readfile(dir .. "/" .. e.file))
      else
        rel.check_chapter(dir, m, i, N)
      end
    end
    assert.equal("pending", m.summary and m.summary.status or "pending") -- no summary of a partial course
    assert.equal(N, ms.requests)
    rel.check_accounting(stats, m, ms)
  end)

  it("fails a chapter that stays blocked after its attempts, the others written", function()
    local briefs = { [4] = "[[mock:safety*]]", [9] = "[[mock:recitation*]]", [23] = "[[mock:blocked*]]" }
    srv = mock()
    local dir = tmp .. "/out"
    local stats = run.generate(run.course(N, briefs), fast_opts(srv, dir, { max_attempts = 3 }))
    assert.same({ total = N, written = N - 3, skipped = 0, failed = 3 }, stats.chapters)
    local m = rel.manifest(dir)
    for i, e in ipairs(m.chapters) do
      if briefs[i] then
        assert.equal("failed", e.status)
        assert.equal(3, e.attempts)
        assert.truthy(e.error:find("^blocked after 3 attempts"), e.error)
      else
        rel.check_chapter(dir, m, i, N)
      end
    end
    rel.check_accounting(stats, m, srv:stats())
  end)

  it("fails non-retryable faults the same way in the OpenAI dialect", function()
    local cases = { [2] = { "400", "HTTP 400" }, [6] = { "401", "HTTP 401" }, [9] = { "403", "HTTP 403" },
                    [12] = { "404", "HTTP 404" }, [15] = { "quota", "quota" } }
    local briefs = {}
    for i, c in pairs(cases) do briefs[i] = ("[[mock:%s*]]"):format(c[1]) end
    srv = mock()
    local dir = tmp .. "/out"
    local t0 = rel.now()
    local stats = run.generate(run.course(N, briefs), fast_opts(srv, dir, {
      provider = "openai", base_url = srv.url .. "/v1", backoff_base = 5, backoff_cap = 5 }))
    local elapsed = rel.now() - t0
    assert.truthy(elapsed < 2.5, ("took %.2f s: a non-retryable fault waited"):format(elapsed))
    assert.equal(5, stats.chapters.failed)
    local m = rel.manifest(dir)
    for i, c in pairs(cases) do
      assert.equal(1, m.chapters[i].attempts)
      assert.truthy(m.chapters[i].error:find(c[2], 1, true), m.chapters[i].error)
    end
    rel.check_accounting(stats, m, srv:stats())
  end)

  -- libcurl silently sends a request again when a reused keep-alive connection is reset
  -- before any byte of the answer: the server sees two requests, the engine counts one
  -- attempt, so `requests` under-counts and the reset never reaches on_attempt.
  it("counts a reset on a reused connection as an attempt", function()

    srv = mock()
    local dir = tmp .. "/out"
    local stats = run.generate(run.course(4, { nil, "[[mock:reset]]" }), fast_opts(srv, dir, { concurrency = 1 }))
    local ms = srv:stats()
    assert.equal(ms.requests, stats.requests)
    assert.equal(2, rel.manifest(dir).chapters[2].attempts)
  end)

  teardown(function()
    io.stderr:write(("\nfault matrix: %d faults injected and survived\n"):format(survived))
  end)
end)

describe("#reliability fault matrix on the command line", function()
  it("accounts a faulty run the same in --stats-json as the mock's /stats", function()
    local tmp = helpers.tmpdir()
    local srv = mock { faults = "503:0.06,429bare:0.03,empty:0.03,stall:0.03,reset:0.03,truncated:0.03", seed = 3 }
    local path = rel.course_file(tmp .. "/c.json", N)
    -- The command line's backoff starts at 1 s: few faults, and a short --timeout for stalls.
    -- The statistics go inside the output folder, which this first run creates.
    local r = rel.run(tmp, { "generate", path, "--base-url", srv.url, "--out", "o", "--stats-json", "o/s.json",
                             "--max-attempts", "8", "--concurrency", "12", "--timeout", "0.5", "--quiet" })
    local ms = srv:stats()
    srv:close()
    assert.equal(0, r.code, r.err)
    local st = require("coursegen.json").decode(helpers.readfile(tmp .. "/o/s.json"))
    local m = rel.check_course(tmp .. "/o", N)
    rel.check_accounting(st, m, ms)
    helpers.rmtree(tmp)
  end)
end)
