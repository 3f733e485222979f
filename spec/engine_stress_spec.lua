-- Stress spec for the engine's threads: many workers, submits, retries, closes and
-- cancellations. Meant to run under ThreadSanitizer (`make tsan`), so it checks little
-- itself: the sanitizer is the judge.
local core = require "coursegen.core"
local mock = require "coursegen.mock"

local function body(text)
  return '{"contents":[{"role":"user","parts":[{"text":"' .. text .. '"}]}]}'
end

describe("coursegen.core engine #stress", function()
  local srv, url
  setup(function()
    srv = mock.start { latency_ms = 1, jitter_ms = 10, faults = "503:0.1,reset:0.05,429bare:0.02", seed = 9 }
    url = srv.url .. "/v1beta/models/m:generateContent"
  end)
  teardown(function() srv:close() end)

  it("survives many engines closed mid-flight and mid-backoff", function()
    for round = 1, 30 do
      local eng = core.engine { concurrency = 32, threads = 2, backoff_base = 0.01, timeout = 2,
                                rpm = (round % 3 == 0) and 6000 or nil }
      for i = 1, 100 do eng:submit { url = url, body = body(("r%d q%d"):format(round, i)) } end
      for _ = 1, round % 7 do eng:poll(0.05) end
      if round % 5 == 0 then eng:stats() end
      eng:close()
    end
  end)

  it("weathers outages across threads: probes, held jobs, cancels and closes", function()
    for round = 1, 6 do
      local eng = core.engine { concurrency = 48, threads = 2, backoff_base = 0.005, backoff_cap = 0.02,
                                max_attempts = 2, rpm = (round % 2 == 0) and 60000 or nil }
      local ids = {}
      for i = 1, 120 do
        ids[i] = eng:submit { url = url, body = body(("[[mock:503,503,503]] out%d q%d"):format(round, i)) }
      end
      for i = 1, 120, 7 do eng:cancel(ids[i]) end
      if round % 3 == 0 then
        for _ = 1, 3 do eng:poll(0.02) end
        eng:close()
      else
        local n = 0
        while eng:poll(10) do n = n + 1 end
        assert.equal(120, n)
        assert.is_true(eng:stats().outages >= 1)
        eng:close()
      end
    end
  end)

  it("drains everything with retries, validate re-asks and limit changes", function()
    local eng <close> = core.engine {
      concurrency = 64, threads = 2, backoff_base = 0.005, backoff_cap = 0.05, rpm = 60000, tpm = 1e7, aimd_min = 0.5,
      validate = function(r)
        if r.id % 4 == 0 and r.attempts == 1 then return false, { reason = "again", tokens = 5 } end
        return true, { used = 3 }
      end,
      on_attempt = function() end,
    }
    local n = 2000
    for i = 1, n do eng:submit { url = url, body = body("drain " .. i), tokens = 10 } end
    local got = 0
    while true do
      local r = eng:next(20)
      if not r then break end
      got = got + 1
      assert.equal(got, r.id)
      if got % 200 == 0 then
        eng:set_limits { rpm = 30000 + got, tpm = 1e7 }
        eng:stats()
      end
    end
    assert.equal(n, got)
  end)

  it("cancels at random while workers run", function()
    local eng <close> = core.engine {
      concurrency = 32, threads = 2, backoff_base = 0.01,
      validate = function(r)
        if r.id % 5 == 0 then return false, { reason = "again" } end
        return true
      end,
    }
    local n = 1500
    for i = 1, n do eng:submit { url = url, body = body("cancel " .. i) } end
    local got, cancelled = 0, 0
    local seed = 12345
    while true do
      seed = (seed * 1103515245 + 12345) % 2147483648
      eng:cancel(1 + seed % n)
      local r = eng:poll(20)
      if not r then break end
      got = got + 1
      if r.error_code == "cancelled" then cancelled = cancelled + 1 end
    end
    assert.equal(n, got)
    assert.is_true(cancelled > 0)
  end)

  it("leaves abandoned engines to the garbage collector", function()
    for round = 1, 20 do
      local eng = core.engine { concurrency = 16, threads = 2, backoff_base = 0.01 }
      for i = 1, 50 do eng:submit { url = url, body = body(("gc%d %d"):format(round, i)) } end
      eng:poll(0.01)
      eng = nil -- luacheck: ignore
      collectgarbage()
    end
  end)

  it("submits from inside callbacks while workers run", function()
    local eng
    local extra = 0
    eng = core.engine {
      concurrency = 16, threads = 2, backoff_base = 0.005,
      validate = function(r)
        if extra < 200 and r.id % 2 == 0 then
          extra = extra + 1
          eng:submit { url = url, body = body("extra " .. extra) }
        end
        return true
      end,
    }
    for i = 1, 200 do eng:submit { url = url, body = body("cb " .. i) } end
    local got = 0
    while eng:poll(20) do got = got + 1 end
    assert.equal(200 + extra, got)
    eng:close()
  end)
end)
