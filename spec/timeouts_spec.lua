-- Timeouts against a server that takes its time (spec/support/timeout_server.lua), with
-- small values standing for the real ones: a model may think in silence for as long as
-- the attempt's `timeout` allows unless an `idle_timeout` is asked for; a body that stalls
-- half-way is cut at `idle_timeout` and asked again; an attempt that goes on past
-- `timeout` is cut even while bytes keep coming.
local core = require "coursegen.core"
local helpers = require "helpers"
local loopback = require "support.loopback"

local SLOW = ({ valgrind = 20, asan = 3, tsan = 5 })[os.getenv("COURSEGEN_SANITIZER") or ""] or 1
local BODY = '{"contents":[{"role":"user","parts":[{"text":"Write the chapter."}]}]}'

describe("timeouts", function()
  local tmp
  before_each(function() tmp = helpers.tmpdir() end)
  after_each(function() helpers.rmtree(tmp) end)

  -- Starts the server with SCRIPT; returns its generateContent URL and a function giving
  -- the steps it served, in order.
  local started = 0
  local function server(script)
    started = started + 1
    local log = ("%s/timeout%d.log"):format(tmp, started)
    local base = loopback.start(tmp, "timeout_server", log, 30 * SLOW, script)
    if not base then return pending("LuaSocket is not installed") end
    return base .. "/v1beta/models/m:generateContent", function()
      local steps = {}
      for step in (helpers.readfile(log) or ""):gmatch("%S+ (%S+)\n") do steps[#steps + 1] = step end
      return steps
    end
  end

  -- Sends one request through an engine with `opts`; returns its result and the
  -- on_attempt events.
  local function ask(url, opts)
    local events = {}
    opts.on_attempt = function(ev) events[#events + 1] = ev end
    local eng <close> = core.engine(opts)
    eng:submit { url = url, headers = { "Content-Type: application/json" }, body = BODY }
    return assert(eng:next(60 * SLOW)), events
  end

  it("#slow accepts an answer after a silence longer than an idle limit would allow, by default", function()
    -- libcurl measures speed over its last few seconds, the request's own bytes included,
    -- so an idle limit of 1 s cuts a silence after some 3 to 7 s: 8 s is past it. Two
    -- servers think at once, one asked with the default idle settings, one with 1 s.
    local think = 8 * SLOW
    local url, served = server("think:" .. think)
    local url_idle = server("think:" .. think)
    local function engine(to, opts)
      local eng = core.engine(opts)
      eng:submit { url = to, headers = { "Content-Type: application/json" }, body = BODY }
      return eng
    end
    local eng <close> = engine(url, { timeout = 2 * think, max_attempts = 1 })
    local eng_idle <close> = engine(url_idle, { timeout = 2 * think, idle_timeout = 1, max_attempts = 1 })
    local r, cut = assert(eng:next(60 * SLOW)), assert(eng_idle:next(60 * SLOW))
    -- Default: the attempt's timeout is the only limit on thinking.
    assert.is_nil(r.error)
    assert.equal(200, r.status)
    assert.matches("a considered answer", r.body)
    assert.is_true(r.elapsed >= think, "it really waited: " .. r.elapsed)
    -- An explicit idle limit cuts the same silence: the low-speed check counts from the
    -- request's start, thinking included. This is why the default is the timeout.
    assert.equal("timeout", cut.error_code)
    assert.matches("too slow", cut.error)
    assert.is_true(cut.elapsed < think, "cut before the answer: " .. cut.elapsed)
    assert.same({ "think:" .. think }, served())
  end)

  it("cuts a body that stalls half-way at idle_timeout, then asks again", function()
    local url, served = server("stall:" .. 20 * SLOW .. ",ok")
    local r, events = ask(url, { timeout = 10 * SLOW, idle_timeout = 1, max_attempts = 2, backoff_base = 0.05 })
    assert.is_nil(r.error)
    assert.equal(200, r.status)
    assert.equal(2, r.attempts)
    assert.equal(1, #events)
    assert.matches("^timeout: .*too slow", events[1].error)
    assert.is_true(events[1].retry)
    assert.is_true(r.elapsed < 10 * SLOW, "cut at the idle limit, not the attempt's: " .. r.elapsed)
    assert.same({ "stall:" .. 20 * SLOW, "ok" }, served())
  end)

  it("cuts an attempt that runs past timeout even while bytes keep coming", function()
    local url, served = server("trickle:" .. 6 * SLOW .. ",ok")
    local limit = 1.5 * SLOW
    local r, events = ask(url, { timeout = limit, max_attempts = 2, backoff_base = 0.05 })
    assert.is_nil(r.error)
    assert.equal(2, r.attempts)
    assert.equal(1, #events)
    assert.matches("^timeout: .*timed out after", events[1].error)
    assert.is_true(r.elapsed < 6 * SLOW, "cut at the attempt's timeout: " .. r.elapsed)
    -- With one attempt it is the result: a timeout, told as one.
    local url2 = server("trickle:" .. 6 * SLOW)
    local last = ask(url2, { timeout = limit, max_attempts = 1 })
    assert.equal("timeout", last.error_code)
    assert.matches("^timeout: no answer in time", last.error)
    assert.same({ "trickle:" .. 6 * SLOW, "ok" }, served())
  end)

  it("spends the retry budget on waits for a retry, not on long attempts or the queue", function()
    -- A model slower than the whole retry budget: its timed-out attempt is asked again,
    -- and so is a request that queued longer than the budget before failing once.
    local slow = 1.5 * SLOW
    local url, served = server("trickle:" .. 6 * SLOW .. ",ok,think:" .. slow .. ",busy,ok")
    local eng <close> = core.engine { timeout = 2 * slow, retry_budget = 1, backoff_base = 0.05, concurrency = 1 }
    local function submit()
      return eng:submit { url = url, headers = { "Content-Type: application/json" }, body = BODY }
    end
    submit()
    local r = assert(eng:next(60 * SLOW))
    assert.is_nil(r.error)
    assert.equal(2, r.attempts)
    submit() -- thinks for `slow`, while the next one queues behind it (one slot)
    submit() -- answered 503 once, after queueing longer than the budget
    local a, b = assert(eng:next(60 * SLOW)), assert(eng:next(60 * SLOW))
    assert.is_nil(a.error)
    assert.equal(1, a.attempts)
    assert.is_nil(b.error)
    assert.equal(2, b.attempts)
    assert.is_true(b.elapsed > 1, "it queued past the budget: " .. b.elapsed)
    assert.same({ "trickle:" .. 6 * SLOW, "ok", "think:" .. slow, "busy", "ok" }, served())
  end)
end)
