-- Integration specs of the request engine against the mock server over loopback.
local core = require "coursegen.core"
local engine = require "coursegen.engine"
local mock = require "coursegen.mock"

-- Sanitizers and valgrind slow everything down: wall-clock sanity bounds stretch by this.
local SLOW = ({ valgrind = 20, asan = 3, tsan = 5 })[os.getenv("COURSEGEN_SANITIZER") or ""] or 1

local function gemini_body(text)
  return '{"contents":[{"role":"user","parts":[{"text":"' .. text .. '"}]}]}'
end

local function drain(eng, timeout)
  local out = {}
  while true do
    local r, err = eng:next(timeout or 20)
    if not r then
      assert.is_nil(err)
      return out
    end
    out[#out + 1] = r
  end
end

describe("coursegen.core", function()
  local srv, url
  setup(function()
    srv = mock.start { latency_ms = 2 }
    url = srv.url .. "/v1beta/models/m:generateContent"
  end)
  teardown(function() srv:close() end)
  local function req(text, extra)
    local r = { url = url, body = gemini_body(text), headers = { "Content-Type: application/json" } }
    for k, v in pairs(extra or {}) do r[k] = v end
    return r
  end

  describe("engine() misuse", function()
    it("names an unknown option", function()
      assert.has.error(function() core.engine { concurency = 2 } end, "unknown option 'concurency' for engine")
    end)
    it("checks option types and ranges", function()
      assert.has.error(function() core.engine { concurrency = "8" } end,
        "bad option 'concurrency' (number expected, got string)")
      assert.has.error(function() core.engine { concurrency = 0 } end,
        "bad option 'concurrency' (expected an integer in 1..100000)")
      assert.has.error(function() core.engine { validate = 1 } end,
        "bad option 'validate' (function expected, got number)")
      assert.has.error(function() core.engine { timeout = -1 } end, "bad option 'timeout' (expected a number > 0)")
    end)
    it("checks requests", function()
      local eng <close> = core.engine {}
      assert.has.error(function() eng:submit { body = "x" } end, "bad request field 'url' (string expected, got nil)")
      assert.has.error(function() eng:submit { url = url, bodyy = "x" } end, "unknown option 'bodyy' for request")
      assert.has.error(function() eng:submit { url = url, tokens = -1 } end,
        "bad request field 'tokens' (expected a number >= 0)")
      assert.has.error(function() eng:submit { url = url, headers = { 1 } } end)
      assert.has.error(function() eng:submit "x" end)
      assert.equal(0, eng:pending())
    end)
    it("raises on a closed engine, and closing twice is fine", function()
      local eng = core.engine {}
      eng:close()
      eng:close()
      assert.has.error(function() eng:submit(req("x")) end, "attempt to use a closed engine")
      assert.has.error(function() eng:next() end, "attempt to use a closed engine")
      assert.has.error(function() eng:stats() end, "attempt to use a closed engine")
      assert.equal("coursegen.Engine (closed)", tostring(eng))
    end)
  end)

  describe("engine", function()
    it("returns nil when nothing is outstanding and 'timeout' when nothing arrived", function()
      local slow = mock.start { latency_ms = 500 }
      local eng <close> = core.engine {}
      assert.is_nil(eng:next(0))
      eng:submit { url = slow.url .. "/v1beta/models/m:generateContent", body = gemini_body("slow") }
      local r, err = eng:next(0)
      assert.is_nil(r)
      assert.equal("timeout", err)
      r, err = eng:poll(0.05)
      assert.is_nil(r)
      assert.equal("timeout", err)
      eng:close()
      slow:close()
    end)

    it("returns 1,000 requests with random latencies in submission order", function()
      local jittery = mock.start { latency_ms = 1, jitter_ms = 30, seed = 3 }
      local eng <close> = core.engine { concurrency = 64 }
      local n = SLOW > 5 and 300 or 1000
      for i = 1, n do
        assert.equal(i, eng:submit { url = jittery.url .. "/v1beta/models/m:generateContent",
                                     body = gemini_body("question " .. i) })
      end
      assert.equal(n, eng:pending())
      local out = drain(eng)
      assert.equal(n, #out)
      for i, r in ipairs(out) do
        assert.equal(i, r.id)
        assert.equal(200, r.status)
        assert.matches("question " .. i .. "\\n", r.body, 1, true)
        assert.equal(1, r.attempts)
        assert.is_true(r.elapsed > 0)
      end
      assert.equal(0, eng:pending())
      local s = eng:stats()
      assert.equal(n, s.requests)
      assert.equal(n, s.status["200"])
      assert.equal(n, s.completed)
      assert.equal(0, s.failed)
      assert.is_true(s.max_in_flight <= 64 and s.max_in_flight > 1)
      assert.is_true(s.latency_ms.p50 > 0 and s.latency_ms.p50 <= s.latency_ms.p99)
      assert.is_true(s.latency_ms.p99 <= s.latency_ms.max)
      jittery:close()
    end)

    it("poll returns every result in completion order", function()
      local eng <close> = core.engine { concurrency = 8 }
      eng:submit(req(("[[mock:slow:%d]] late"):format(800 * SLOW)))
      for i = 1, 5 do eng:submit(req("early " .. i)) end
      local ids = {}
      while true do
        local r = eng:poll(20 * SLOW)
        if not r then break end
        ids[#ids + 1] = r.id
      end
      assert.equal(6, #ids)
      assert.equal(1, ids[6])
    end)

    it("mixes next and poll without losing or repeating a result", function()
      local eng <close> = core.engine { concurrency = 4 }
      for i = 1, 20 do eng:submit(req("mix " .. i)) end
      local seen = {}
      for k = 1, 20 do
        local r = (k % 2 == 0) and eng:next(10) or eng:poll(10)
        assert.is_nil(seen[r.id])
        seen[r.id] = true
      end
      assert.is_nil(eng:next(1))
    end)

    it("gives headers with lower-case names", function()
      local eng <close> = core.engine {}
      eng:submit(req("headers"))
      local r = eng:next(10)
      assert.matches("^application/json", r.headers["content-type"])
    end)

    it("succeeds on the third attempt after 503 twice", function()
      local eng <close> = core.engine { backoff_base = 0.02 }
      eng:submit(req("[[mock:503,503]] twice"))
      local r = eng:next(10)
      assert.equal(200, r.status)
      assert.equal(3, r.attempts)
      assert.is_nil(r.error)
      local s = eng:stats()
      assert.equal(3, s.requests)
      assert.equal(2, s.retries)
      assert.equal(2, s.status["503"])
    end)

    it("does not retry a 400", function()
      local eng <close> = core.engine { backoff_base = 0.02 }
      eng:submit(req("[[mock:400]] bad"))
      local r = eng:next(10)
      assert.equal(400, r.status)
      assert.equal(1, r.attempts)
      assert.equal("http", r.error_code)
      assert.matches("^http: HTTP 400", r.error)
      assert.is_string(r.body)
    end)

    it("gives up after max_attempts with the last error", function()
      local eng <close> = core.engine { backoff_base = 0.01, max_attempts = 3 }
      eng:submit(req("[[mock:500*]] always"))
      local r = eng:next(10)
      assert.equal(500, r.status)
      assert.equal(3, r.attempts)
      assert.equal("http", r.error_code)
      assert.matches("%(after 3 attempts%)$", r.error)
    end)

    it("honours a per-request max_attempts", function()
      local eng <close> = core.engine { backoff_base = 0.01 }
      eng:submit(req("[[mock:503*]] once", { max_attempts = 1 }))
      assert.equal(1, eng:next(10).attempts)
    end)

    it("stops at the retry budget", function()
      local eng <close> = core.engine { backoff_base = 10, backoff_cap = 10, retry_budget = 0.001, seed = 1 }
      eng:submit(req("[[mock:503*]] budget"))
      local r = eng:next(10)
      assert.equal("budget", r.error_code)
      assert.matches("^budget: retry budget of 0.001 s spent after 1 attempt; last error: http: HTTP 503", r.error)
    end)

    it("retries resets and stalls", function()
      local eng <close> = core.engine { backoff_base = 0.02, timeout = 0.5 * SLOW }
      eng:submit(req("[[mock:reset,reset]] reset"))
      eng:submit(req("[[mock:stall]] stall"))
      local a, b = eng:next(10), eng:next(10)
      assert.equal(200, a.status)
      assert.equal(200, b.status)
      assert.equal(2, b.attempts)
      local s = eng:stats()
      assert.is_true(s.network_errors >= 2)
    end)

    it("reports a timeout when every attempt stalls", function()
      local eng <close> = core.engine { backoff_base = 0.01, timeout = 0.2, max_attempts = 2 }
      eng:submit(req("[[mock:stall*]] stall"))
      local r = eng:next(10)
      assert.is_nil(r.status)
      assert.equal("timeout", r.error_code)
      assert.matches("^timeout: ", r.error)
    end)

    it("reports a refused connection as a network error", function()
      local eng <close> = core.engine { backoff_base = 0.01, max_attempts = 2, connect_timeout = 1 }
      eng:submit { url = "http://127.0.0.1:1/" }
      local r = eng:next(10)
      assert.equal("network", r.error_code)
      assert.matches("^network: cannot connect", r.error)
      assert.equal(2, r.attempts)
    end)

    it("fails a hard-quota 429 at once", function()
      local eng <close> = core.engine { backoff_base = 0.02 }
      eng:submit(req("[[mock:429day]] day"))
      eng:submit(req("[[mock:quota]] billing"))
      for _ = 1, 2 do
        local r = eng:next(10)
        assert.equal(429, r.status)
        assert.equal(1, r.attempts)
        assert.equal("quota", r.error_code)
        assert.matches("^quota: HTTP 429, ", r.error)
      end
    end)

    it("fails a wait beyond max_hint_wait as quota", function()
      local eng <close> = core.engine { backoff_base = 0.02, max_hint_wait = 1 }
      eng:submit(req("[[mock:429:30s]] long"))
      local r = eng:next(10)
      assert.equal("quota", r.error_code)
      assert.matches("more than max_hint_wait %(1 s%)", r.error)
      assert.is_true(r.elapsed < 5 * SLOW)
    end)

    it("pauses everyone until the time a 429's RetryInfo gives once a probe confirms it", function()
      local t429
      local eng <close> = core.engine {
        concurrency = 8, backoff_base = 0.01,
        on_attempt = function(ev) if ev.status == 429 then t429 = t429 or core.now() end end,
      }
      -- Alone in flight, the first 429 is provisional; the probe sent through it (another
      -- request: the hinted one waits for its own time) meets a 429 too, and the pause stands.
      eng:submit(req("[[mock:429:1s]] hinted"))
      local t0 = core.now()
      while not t429 and core.now() - t0 < 10 * SLOW do assert.is_nil((eng:next(0.02))) end
      assert.is_number(t429)
      local st = eng:stats()
      assert.is_true(st.paused_until_s > 0 and st.paused_until_s <= 1)
      assert.is_true(st.rate_factor < 1)
      local subs = {}
      subs[eng:submit(req("[[mock:429:1s]] probe"))] = core.now()
      for i = 1, 5 do subs[eng:submit(req("after " .. i))] = core.now() end
      local out = drain(eng)
      assert.equal(7, #out)
      assert.equal(2, out[1].attempts)
      assert.equal(2, out[2].attempts)
      for i = 3, 7 do
        local done = subs[out[i].id] + out[i].elapsed
        assert.is_true(done >= t429 + 0.85, ("request %d done %.3f s after the 429"):format(i, done - t429))
      end
      assert.equal(0, eng:stats().pauses_lifted)
    end)

    -- One faulty request among healthy ones, with a backoff far longer than the run may take.
    local function lone_fault(directive, healthy, concurrency)
      local eng <close> = core.engine { concurrency = concurrency, backoff_base = 30 }
      local t0 = core.now()
      eng:submit(req(directive .. " lone"))
      for i = 1, healthy do eng:submit(req("healthy " .. i)) end
      local out = drain(eng)
      assert.equal(healthy + 1, #out)
      for _, r in ipairs(out) do assert.equal(200, r.status) end
      assert.is_true(core.now() - t0 < 10 * SLOW, "a 20 s hint or a 30 s backoff was waited out")
      return out[1], eng:stats()
    end

    it("takes back a lone 429's pause for the others, while the 429's own retry waits for its hint", function()
      local eng <close> = core.engine { concurrency = 8, backoff_base = 0.01 }
      local t0 = core.now()
      local lone = eng:submit(req("[[mock:429:2s]] lone"))
      local done = {}
      for i = 1, 20 do eng:submit(req("healthy " .. i)) end
      local n = 0
      while n < 21 do
        local r = assert(eng:poll(10 * SLOW))
        assert.equal(200, r.status)
        done[r.id] = core.now() - t0
        n = n + 1
      end
      local st = eng:stats()
      assert.is_true(st.pauses_lifted >= 1)
      assert.near(1, st.rate_factor, 0.05)
      for id, t in pairs(done) do
        if id == lone then
          assert.is_true(t >= 2, ("the hinted request came back %.3f s after its 429"):format(t))
        else
          assert.is_true(t < 1.5 * SLOW, ("a healthy request waited %.3f s"):format(t))
        end
      end
      assert.equal(0, st.early_retries)
    end)

    it("retries an isolated failure at once while the server answers the others", function()
      local r, st = lone_fault("[[mock:503]]", 40, 4)
      assert.equal(2, r.attempts)
      assert.is_true(st.early_retries >= 1)
    end)

    it("weathers failures of every request as one outage: one probe at a time, attempts not counted", function()
      -- Each request fails twice; to the engine that is a server failing everything, so
      -- after the first few it sends one probe at a time, and those attempts are free.
      local eng <close> = core.engine { concurrency = 40, backoff_base = 0.02, backoff_cap = 0.04, max_attempts = 2 }
      for i = 1, 40 do eng:submit(req("[[mock:503,503]] storm " .. i)) end
      local out = drain(eng)
      assert.equal(40, #out)
      for _, r in ipairs(out) do
        assert.equal(200, r.status, r.error)
        assert.equal(3, r.attempts)
      end
      local st = eng:stats()
      assert.equal(0, st.early_retries)
      assert.is_true(st.outages >= 1)
      assert.is_true(st.free_retries >= 40)
    end)

    it("takes a 429 at its word while the client sends as fast as its own limit allows", function()
      local eng <close> = core.engine { concurrency = 8, rpm = 600, burst_requests = 1, backoff_base = 0.01 }
      for i = 1, 5 do eng:submit(req("paced " .. i)) end
      eng:submit(req("[[mock:429:1s]] limited"))
      for i = 1, 3 do eng:submit(req("behind " .. i)) end
      local t0 = core.now()
      local out = drain(eng)
      assert.equal(9, #out)
      assert.equal(0, eng:stats().pauses_lifted)
      assert.is_true(core.now() - t0 >= 1, "the pause was taken back")
    end)

    it("keeps 429s rare when the server enforces the client's own rate", function()
      local limited = mock.start { rpm = 1200, latency_ms = 1 }
      local eng <close> = core.engine { concurrency = 16, rpm = 1200, backoff_base = 0.05 }
      local t0 = core.now()
      for i = 1, 60 do
        eng:submit { url = limited.url .. "/v1beta/models/m:generateContent", body = gemini_body("rate " .. i) }
      end
      local out = drain(eng)
      local dt = core.now() - t0
      assert.equal(60, #out)
      for _, r in ipairs(out) do assert.equal(200, r.status) end
      local s = eng:stats()
      assert.is_true((s.status["429"] or 0) <= 3, "429s: " .. tostring(s.status["429"]))
      assert.is_true(dt > 1.5 and dt < 10 * SLOW, "took " .. dt)
      assert.is_true(s.limiter_wait_s > 1)
      limited:close()
    end)

    it("fails what is left at once, saying when, once the client's own requests/day are spent", function()
      local eng <close> = core.engine { rpd = 3, concurrency = 2 }
      for i = 1, 6 do eng:submit(req("day " .. i)) end
      local t0 = core.now()
      local out = drain(eng, 10)
      assert.equal(6, #out)
      for i = 1, 3 do assert.equal(200, out[i].status) end
      for i = 4, 6 do
        assert.equal("quota", out[i].error_code)
        assert.matches("requests/day limit %(rpd 3%) is spent; the next request fits in %d+ min", out[i].error)
        assert.equal(0, out[i].attempts)
      end
      assert.is_true(core.now() - t0 < 5 * SLOW, "it waited for the day's quota")
      assert.equal(3, eng:stats().requests)
    end)

    it("charges a request without tokens its body's bytes / 4 when a token limit is set", function()
      local eng <close> = core.engine { tpm = 600000 }
      local r1 = req(("x"):rep(396)) -- a body of 400 + the JSON around the text
      eng:submit(r1)
      local r = eng:next(10)
      assert.equal(math.ceil(#r1.body / 4), r.tokens_reserved)
      local free <close> = core.engine {}
      free:submit(req("no limit"))
      assert.equal(0, free:next(10).tokens_reserved)
      -- A body larger than the bucket fails as too large, like a stated estimate would.
      local small <close> = core.engine { tpm = 600, burst_tokens = 50 }
      small:submit(req(("y"):rep(400)))
      assert.equal("too_large", small:next(10).error_code)
    end)

    it("fails a request larger than the token bucket at once", function()
      local eng <close> = core.engine { tpm = 1000, burst_tokens = 500 }
      eng:submit(req("big", { tokens = 501 }))
      local r = eng:next(5)
      assert.equal("too_large", r.error_code)
      assert.equal("too_large: request needs 501 tokens but the tokens/min limit allows at most 500", r.error)
      assert.equal(0, r.attempts)
    end)

    it("caps the response size", function()
      local eng <close> = core.engine { max_response_bytes = 100 }
      eng:submit(req("size"))
      local r = eng:next(5)
      assert.equal("too_large", r.error_code)
      assert.equal("too_large: response larger than 100 bytes", r.error)
      assert.equal(1, r.attempts)
    end)

    it("closes within a second with 200 requests in flight", function()
      local slow = mock.start { latency_ms = 5000 }
      local eng = core.engine { concurrency = 256 }
      for i = 1, 200 do
        eng:submit { url = slow.url .. "/v1beta/models/m:generateContent", body = gemini_body("slow " .. i) }
      end
      eng:submit(req("[[mock:503*]] in backoff"))
      local t0 = core.now()
      while eng:stats().in_flight < 200 and core.now() - t0 < 10 * SLOW do eng:next(0.02) end
      assert.is_true(eng:stats().in_flight >= 200)
      t0 = core.now()
      eng:close()
      assert.is_true(core.now() - t0 < 1 * SLOW)
      slow:close()
    end)

    it("is collected by the garbage collector with requests in flight", function()
      do
        local eng = core.engine { concurrency = 4 }
        for i = 1, 10 do eng:submit(req("gc " .. i)) end
      end
      collectgarbage()
      collectgarbage()
    end)

    it("changes limits while running", function()
      local eng <close> = core.engine { concurrency = 8, rpm = 60, burst_requests = 1 }
      for i = 1, 10 do eng:submit(req("limits " .. i)) end
      assert.is_not_nil(eng:next(5)) -- the first one goes at once
      eng:set_limits { rpm = 60000 }
      local t0 = core.now()
      assert.equal(9, #drain(eng))
      assert.is_true(core.now() - t0 < 3 * SLOW)
      assert.has.error(function() eng:set_limits { rmp = 1 } end, "unknown option 'rmp' for set_limits")
    end)

    it("returns nil, 'interrupted' after SIGINT", function()
      core.catch_signals()
      local slow = mock.start { latency_ms = 3000 }
      local eng <close> = core.engine {}
      eng:submit { url = slow.url .. "/v1beta/models/m:generateContent", body = gemini_body("x") }
      local f = assert(io.open("/proc/self/stat"))
      local pid = f:read("n")
      f:close()
      -- in the background: system() ignores SIGINT while its child runs
      os.execute("(sleep 0.3; kill -INT " .. pid .. ") &")
      local t0 = core.now()
      local r, err = eng:next(10)
      assert.is_nil(r)
      assert.equal("interrupted", err)
      assert.is_true(core.now() - t0 < 2 * SLOW)
      assert.equal("SIGINT", core.interrupted())
      core.reset_interrupted()
      assert.is_false(core.interrupted())
      eng:close()
      slow:close()
    end)

    it("cancels queued, running and backing-off requests", function()
      local slow = mock.start { latency_ms = 2000 }
      local surl = slow.url .. "/v1beta/models/m:generateContent"
      local eng <close> = core.engine { concurrency = 2, backoff_base = 5, backoff_cap = 5 }
      local running = eng:submit { url = surl, body = gemini_body("running") }
      local backing = eng:submit(req("[[mock:503*]] backing off"))
      local queued = eng:submit { url = surl, body = gemini_body("queued") }
      local fine = eng:submit(req("fine"))
      assert.is_nil((eng:next(0.3)))
      local t0 = core.now()
      assert.is_true(eng:cancel(running))
      assert.is_true(eng:cancel(backing))
      assert.is_true(eng:cancel(queued))
      local out = drain(eng, 5)
      assert.is_true(core.now() - t0 < 1.5 * SLOW)
      assert.equal(4, #out)
      for _, i in ipairs { running, backing, queued } do
        assert.equal("cancelled", out[i].error_code)
        assert.equal("cancelled: the request was cancelled", out[i].error)
      end
      assert.equal(200, out[fine].status)
      assert.is_false(eng:cancel(fine))
      assert.is_false(eng:cancel(12345))
      slow:close()
    end)

    it("exposes the statistics fields", function()
      local eng <close> = core.engine {}
      local s = eng:stats()
      for _, k in ipairs { "requests", "retries", "network_errors", "limiter_wait_s", "tokens_reserved",
                           "tokens_used", "in_flight", "max_in_flight", "completed", "failed", "rate_factor",
                           "paused_until_s", "pending", "queued", "backoff" } do
        assert.is_number(s[k], k)
      end
      assert.is_table(s.status)
      for _, k in ipairs { "p50", "p90", "p99", "max" } do assert.is_number(s.latency_ms[k]) end
    end)
  end)

  describe("engine validate", function()
    it("re-asks rejected answers and keeps their place in the order", function()
      local asked = {}
      local eng <close> = core.engine {
        concurrency = 8, backoff_base = 0.01, tpm = 1e6,
        validate = function(r)
          asked[r.id] = (asked[r.id] or 0) + 1
          if r.id % 3 == 0 and asked[r.id] == 1 then
            return false, { reason = "empty", body = gemini_body("again " .. r.id), tokens = 20, used = 5 }
          end
          return true, { used = 7 }
        end,
      }
      for i = 1, 30 do eng:submit(req("first " .. i, { tokens = 10 })) end
      local out = drain(eng)
      assert.equal(30, #out)
      for i, r in ipairs(out) do
        assert.equal(i, r.id)
        assert.equal(200, r.status)
        if i % 3 == 0 then
          assert.equal(2, r.attempts)
          assert.matches("again " .. i, r.body, 1, true)
          assert.equal(20, r.tokens_reserved)
        else
          assert.equal(1, r.attempts)
          assert.matches("first " .. i, r.body, 1, true)
        end
      end
      local s = eng:stats()
      assert.equal(10, s.retries)
      assert.equal(10 * 5 + 30 * 7, s.tokens_used)
      assert.equal(30 * 10 + 10 * 20, s.tokens_reserved)
    end)

    it("delivers 'rejected' with the reason when attempts run out", function()
      local eng <close> = core.engine {
        backoff_base = 0.01, max_attempts = 2,
        validate = function() return false, { reason = "blocked" } end,
      }
      eng:submit(req("never good"))
      local r = eng:next(10)
      assert.equal("rejected", r.error_code)
      assert.equal("rejected: blocked (after 2 attempts)", r.error)
      assert.equal("blocked", r.reason)
      assert.equal(2, r.attempts)
    end)

    it("delivers 'rejected' when the retry budget runs out", function()
      local eng <close> = core.engine {
        backoff_base = 10, backoff_cap = 10, retry_budget = 0.001, seed = 1,
        validate = function() return false, { reason = "empty" } end,
      }
      eng:submit(req("budget re-ask"))
      local r = eng:next(10)
      assert.equal("rejected", r.error_code)
      assert.equal("budget: retry budget of 0.001 s spent after 1 attempt; last error: rejected: empty", r.error)
      assert.equal("empty", r.reason)
    end)

    it("ends a rejected answer and an HTTP failure with the same words and events", function()
      local events = {}
      local eng <close> = core.engine {
        backoff_base = 0.01, max_attempts = 2,
        validate = function(r) return not r.body:find("never good", 1, true), { reason = "blocked" } end,
        on_attempt = function(ev) events[#events + 1] = ev end,
      }
      local bad = eng:submit(req("[[mock:503*]] always down"))
      local rej = eng:submit(req("never good"))
      local r1, r2 = eng:next(10), eng:next(10)
      assert.equal(bad, r1.id)
      assert.matches("^http: HTTP 503.* %(after 2 attempts%)$", r1.error)
      assert.equal(rej, r2.id)
      assert.equal("rejected: blocked (after 2 attempts)", r2.error)
      -- Each one: an event with the wait before its retry, then a last one with the final
      -- message and no retry.
      for _, id in ipairs { bad, rej } do
        local mine = {}
        for _, ev in ipairs(events) do
          if ev.id == id then mine[#mine + 1] = ev end
        end
        assert.equal(2, #mine)
        assert.is_true(mine[1].retry)
        assert.is_false(mine[2].retry)
        assert.equal(id == bad and r1.error or r2.error, mine[2].error)
      end
    end)

    it("reports an error raised in validate without crashing", function()
      local eng <close> = core.engine { validate = function() error("boom") end }
      eng:submit(req("raise"))
      local r = eng:next(10)
      assert.equal("callback", r.error_code)
      assert.matches("^callback: validate raised: .*boom", r.error)
      assert.matches("stack traceback", r.error)
    end)

    it("reports an error raised in on_attempt with the result", function()
      local eng <close> = core.engine { backoff_base = 0.01, on_attempt = function() error("oops") end }
      eng:submit(req("[[mock:503]] once"))
      local r = eng:next(10)
      assert.equal(200, r.status)
      assert.matches("^callback: on_attempt raised: .*oops", r.callback_error)
    end)

    it("passes attempt events to on_attempt", function()
      local evs = {}
      local eng <close> = core.engine { backoff_base = 0.01, on_attempt = function(ev) evs[#evs + 1] = ev end }
      eng:submit(req("[[mock:503]] event"))
      eng:next(10)
      assert.equal(1, #evs)
      assert.equal(1, evs[1].id)
      assert.equal(1, evs[1].attempt)
      assert.equal(503, evs[1].status)
      assert.is_true(evs[1].retry)
      assert.is_true(evs[1].wait_s >= 0)
      assert.matches("^http: HTTP 503", evs[1].error)
    end)

    it("refuses to wait for results inside a callback", function()
      local eng
      eng = core.engine { validate = function() eng:next(0) end }
      eng:submit(req("reentry"))
      local r = eng:next(10)
      assert.matches("attempt to wait for results inside an engine callback", r.error)
      eng:close()
    end)
  end)
end)

describe("coursegen.engine", function()
  local srv, url
  setup(function()
    srv = mock.start { latency_ms = 1, jitter_ms = 5 }
    url = srv.url .. "/v1beta/models/m:generateContent"
  end)
  teardown(function() srv:close() end)

  describe("map()", function()
    it("yields results in order with a bounded window", function()
      local eng <close> = core.engine { concurrency = 8 }
      local n, max_pending = 0, 0
      local function source()
        n = n + 1
        max_pending = math.max(max_pending, eng:pending())
        if n <= 300 then return { url = url, body = gemini_body("map " .. n) } end
      end
      local i = 0
      for r, rq in engine.map(eng, source, { window = 16 }) do
        i = i + 1
        assert.equal(i, r.id)
        assert.matches("map " .. i, rq.body, 1, true)
      end
      assert.equal(300, i)
      assert.is_true(max_pending <= 16)
    end)

    it("creates and closes its own engine and calls a handler", function()
      local list = {}
      for i = 1, 50 do list[i] = { url = url, body = gemini_body("list " .. i) } end
      local ids = {}
      local count = engine.map({ concurrency = 4 }, list, function(r) ids[#ids + 1] = r.id end)
      assert.equal(50, count)
      for i = 1, 50 do assert.equal(i, ids[i]) end
    end)

    it("gives its engine's statistics: live in the loop, final at the end", function()
      local list = {}
      for i = 1, 30 do list[i] = { url = url, body = gemini_body("stats " .. i) } end
      local final
      local live = 0
      for _, _, eng in engine.map({ concurrency = 3 }, list, { on_stats = function(st) final = st end }) do
        live = math.max(live, eng:stats().completed)
      end
      assert.is_true(live > 0)
      assert.equal(30, final.status["200"])
      assert.equal(30, final.requests)
      local n, st = engine.map({ concurrency = 3 }, list, function(_, _, eng) assert.truthy(eng:stats()) end)
      assert.equal(30, n)
      assert.equal(30, st.status["200"])
      assert.has.error(function() engine.map({}, {}, { on_stats = 1 }) end,
        "bad option 'on_stats' (expected a function)")
    end)

    it("closes its own engine when the loop breaks or the handler raises", function()
      local list = {}
      for i = 1, 20 do list[i] = { url = url, body = gemini_body("brk " .. i) } end
      for r in engine.map({ concurrency = 2 }, list) do
        if r.id == 3 then break end
      end
      assert.has.error(function()
        engine.map({ concurrency = 2 }, list, function() error("stop", 0) end)
      end, "stop")
    end)

    it("raises on misuse", function()
      assert.has.error(function() engine.map(1, {}) end,
        "bad argument #1 to 'map' (engine or options table expected, got number)")
      assert.has.error(function() engine.map({}, {}, { windw = 1 }) end, "unknown option 'windw' for map")
    end)

    local function rss_kb()
      local f = assert(io.open("/proc/self/status"))
      local s = f:read("a")
      f:close()
      return tonumber(s:match("VmRSS:%s*(%d+)"))
    end

    it("runs 100,000 requests in flat memory #slow", function()
      local fast = mock.start {}
      local furl = fast.url .. "/v1beta/models/m:generateContent"
      local n, at10k = 0, nil
      local function source()
        n = n + 1
        if n <= 100000 then return { url = furl, body = gemini_body("n " .. n) } end
      end
      local count = engine.map({ concurrency = 64 }, source, { window = 256 }, function(r)
        assert.equal(200, r.status)
        if r.id == 10000 then
          collectgarbage()
          at10k = rss_kb()
        end
      end)
      collectgarbage()
      local at100k = rss_kb()
      assert.equal(100000, count)
      -- A sanitizer's quarantine holds freed memory for a while: RSS says nothing there.
      if SLOW == 1 then
        assert.is_true(at100k - at10k < 8 * 1024, ("RSS grew from %d kB to %d kB"):format(at10k, at100k))
      end
      fast:close()
    end)
  end)
end)
