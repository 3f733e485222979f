-- Backoff that holds against a server nobody here wrote (spec/support/fault_server.lua):
-- a failed request is never asked again before its backoff or the time the server named,
-- a server-wide outage is weathered one probe at a time without using up the requests'
-- attempts, and a rate limit slows the engine down without failing a request.
local core = require "coursegen.core"
local helpers = require "helpers"
local mock = require "coursegen.mock"
local rel = require "support.reliability"

local SLOW = ({ valgrind = 20, asan = 3, tsan = 5 })[os.getenv("COURSEGEN_SANITIZER") or ""] or 1

local function body(text)
  return '{"contents":[{"role":"user","parts":[{"text":"' .. text .. '"}]}]}'
end

-- Starts the scripted server in its own process; returns its generateContent URL and a
-- function reading its log as { {t =, status =, tag =}, ... }.
local function fault_server(tmp, mode, param, max_seconds)
  local port_file, log_file = tmp .. "/fault.port", tmp .. "/fault.log"
  assert(os.execute(("cd %s && lua5.4 spec/support/fault_server.lua %s %s %d %s %s >/dev/null 2>&1 &"):format(
    rel.q(helpers.root), rel.q(port_file), rel.q(log_file), max_seconds, mode, tostring(param))))
  local port = require("support.loopback").wait_port(port_file, "the fault server")
  local function read_log()
    local out = {}
    for line in (helpers.readfile(log_file) or ""):gmatch("[^\n]+") do
      local t, status, tag = line:match("^(%S+) (%d+) (%S+)$")
      out[#out + 1] = { t = tonumber(t), status = tonumber(status), tag = tag }
    end
    return out
  end
  return ("http://127.0.0.1:%d/v1beta/models/m:generateContent"):format(port), read_log
end

local function drain(eng, n, timeout)
  local out = {}
  for i = 1, n do
    out[i] = assert(eng:next(timeout))
  end
  assert.is_nil((eng:next(0)))
  return out
end

describe("backoff", function()
  local tmp
  before_each(function() tmp = helpers.tmpdir() end)
  after_each(function() helpers.rmtree(tmp) end)

  it("asks a lone 429 again only after its RetryInfo, while the others go on", function()
    local url, read_log = fault_server(tmp, "retryinfo", 1.5, 20 * SLOW)
    local eng <close> = core.engine { concurrency = 4, backoff_base = 0.01 }
    eng:submit { url = url, body = body("[lone] chapter") }
    for i = 1, 20 do eng:submit { url = url, body = body("[h" .. i .. "] chapter") } end
    local out = drain(eng, 21, 10 * SLOW)
    for _, r in ipairs(out) do assert.equal(200, r.status) end
    assert.equal(2, out[1].attempts)
    local lone, last_healthy = {}, 0
    for _, e in ipairs(read_log()) do
      if e.tag == "lone" then lone[#lone + 1] = e else last_healthy = math.max(last_healthy, e.t) end
    end
    assert.equal(2, #lone)
    assert.equal(429, lone[1].status)
    local gap = lone[2].t - lone[1].t
    assert.is_true(gap >= 1.5, ("asked again %.3f s after a 1.5 s RetryInfo"):format(gap))
    -- The others did not wait for it: the 429 was about that one request.
    assert.is_true(last_healthy < lone[2].t, "the healthy requests waited for the hinted one")
  end)

  it("keeps sending behind a head that waits out its RetryInfo (engine.map's window grows)", function()
    local url, read_log = fault_server(tmp, "retryinfo", 1.5, 30 * SLOW)
    local engine = require "coursegen.engine"
    local n = 0
    local function source()
      n = n + 1
      if n > 600 then return nil end
      return { url = url, body = body(n == 1 and "[lone] chapter" or ("[h" .. n .. "] chapter")) }
    end
    -- concurrency 4: a default window of 128 requests
    local count = engine.map({ concurrency = 4, backoff_base = 0.01 }, source, { timeout = 20 * SLOW },
      function(r) assert.equal(200, r.status) end)
    assert.equal(600, count)
    local before, retry_t = 0, nil
    local log = read_log()
    for _, e in ipairs(log) do
      if e.tag == "lone" and e.status == 200 then retry_t = e.t end
    end
    for _, e in ipairs(log) do
      if e.tag ~= "lone" and e.t < retry_t then before = before + 1 end
    end
    -- A fixed window would have sent 127 others, then waited with the engine idle.
    assert.is_true(before > 128, before .. " others answered while the head waited")
  end)

  it("asks a lone failing request again only after the backoff it announced", function()
    local url, read_log = fault_server(tmp, "fail503", 3, 30 * SLOW)
    local waits = {}
    local eng <close> = core.engine {
      concurrency = 4, backoff_base = 0.4, seed = 7,
      on_attempt = function(ev) waits[ev.attempt] = ev.wait_s end,
    }
    eng:submit { url = url, body = body("[lone] chapter") }
    local r = drain(eng, 1, 30 * SLOW)[1]
    assert.equal(200, r.status)
    assert.equal(4, r.attempts)
    local log = read_log()
    assert.equal(4, #log)
    for k = 1, 3 do
      local gap = log[k + 1].t - log[k].t
      assert.is_true(gap >= waits[k] - 0.005,
        ("attempt %d went %.3f s after attempt %d, its backoff was %.3f s"):format(k + 1, gap, k, waits[k]))
    end
  end)

  it("#slow weathers a 20 s outage of every request: no chapter lost, about one probe a second", function()
    local url, read_log = fault_server(tmp, "outage", 20, 120 * SLOW)
    local eng <close> = core.engine {} -- default settings, as a course run has them
    for i = 1, 6 do eng:submit { url = url, body = body("[c" .. i .. "] chapter") } end
    local out = drain(eng, 6, 90 * SLOW)
    for _, r in ipairs(out) do assert.equal(200, r.status, r.error) end
    local st = eng:stats()
    assert.is_true(st.outages >= 1)
    local during, last = 0, nil
    for _, e in ipairs(read_log()) do
      if e.status == 503 then
        if e.t > 1 then during = during + 1 end
        if last and e.t > 1 then
          assert.is_true(e.t - last >= 0.45, ("two requests %.3f s apart during the outage"):format(e.t - last))
        end
        last = e.t
      end
    end
    assert.is_true(during <= 19, during .. " requests in the outage's last 19 s")
  end)

  it("#slow holds a sliding-window enforcer's limit with few 429s", function()
    -- 20 answered requests in any second, the client told the same: the window counts
    -- every arrival, so a client that ever sends two a little early meets it.
    local url, read_log = fault_server(tmp, "window", 20, 60 * SLOW)
    local eng <close> = core.engine { concurrency = 8, rpm = 1200 }
    for i = 1, 160 do eng:submit { url = url, body = body("[w" .. i .. "] chapter") } end
    local out = drain(eng, 160, 60 * SLOW)
    for _, r in ipairs(out) do assert.equal(200, r.status, r.error) end
    local log, n429, t_last = read_log(), 0, 0
    for _, e in ipairs(log) do
      if e.status == 429 then n429 = n429 + 1 else t_last = e.t end
    end
    assert.is_true(n429 <= 2, n429 .. " 429s for 160 requests")
    print(("\n  sliding window 20/s: %.1f answered/s, %d 429s"):format(159 / t_last, n429))
  end)

  it("stops a course at once when the client's own requests/day are spent, saying what is left", function()
    local coursegen = require "coursegen"
    local run = require "support.course_run"
    local srv = run.mock()
    -- rpd = 4 holds the outline's and a few chapters' requests, not all six.
    local t0 = core.now()
    local stats, err, kind = coursegen.generate(run.course(6),
      run.opts(srv, { out = tmp .. "/out", rpd = 4, concurrency = 1, on_event = function() end }))
    srv:close()
    assert.is_nil(stats)
    assert.equal("quota", kind)
    assert.matches("requests/day limit %(rpd 4%) is spent; the next request fits in %d+ min", err)
    local written, left = err:match("the run stopped: (%d+) of 6 chapters are written in .*, (%d+) are left")
    assert.truthy(written, err)
    assert.equal(6, written + left)
    assert.is_true(tonumber(left) >= 1)
    assert.is_true(core.now() - t0 < 10 * SLOW, "it waited for the day's quota")
    assert.truthy(helpers.readfile(tmp .. "/out/course.json"), "no manifest was written")
  end)

  it("never fails a request on a rate limit while the server answers others", function()
    local srv = mock.start { rpm = 120, burst = 1, latency_ms = 1 }
    local eng <close> = core.engine { concurrency = 8, max_attempts = 2, backoff_base = 0.05 }
    for i = 1, 12 do
      eng:submit { url = srv.url .. "/v1beta/models/m:generateContent", body = body("rate " .. i) }
    end
    local out = drain(eng, 12, 60 * SLOW)
    for _, r in ipairs(out) do assert.equal(200, r.status, r.error) end
    local st = eng:stats()
    assert.is_true((st.status["429"] or 0) > 0, "the server never limited the run")
    assert.is_true(st.free_retries > 0)
    srv:close()
  end)
end)
