-- Rate control held against real nginx `limit_req` (spec/support/nginx_limiter.lua), the
-- leaky bucket production API gateways use: with no burst at all, the engine told the
-- server's rate keeps its requests far enough apart; told more than the server allows, it
-- settles at what the server delivers; and in both no request fails on a rate limit.
local core = require "coursegen.core"
local helpers = require "helpers"
local nginx = require "support.nginx_limiter"

local SLOW = ({ valgrind = 20, asan = 3, tsan = 5 })[os.getenv("COURSEGEN_SANITIZER") or ""] or 1

local BODY = '{"contents":[{"role":"user","parts":[{"text":"a chapter"}]}]}'

-- Sends n requests through a fresh engine; returns the results and the engine's stats.
local function run(url, n, options)
  local eng <close> = core.engine(options)
  for _ = 1, n do eng:submit { url = url, body = BODY } end
  local out = {}
  for i = 1, n do out[i] = assert(eng:next(60 * SLOW)) end
  return out, eng:stats()
end

local function count(log, status)
  local k = 0
  for _, e in ipairs(log) do
    if e.status == status then k = k + 1 end
  end
  return k
end

-- The most requests nginx let through in any window of `w` seconds.
local function busiest(log, w)
  local ok = {}
  for _, e in ipairs(log) do
    if e.status == 200 then ok[#ok + 1] = e.t end
  end
  table.sort(ok)
  local best, lo = 0, 1
  for hi = 1, #ok do
    while ok[hi] - ok[lo] >= w do lo = lo + 1 end
    best = math.max(best, hi - lo + 1)
  end
  return best
end

describe("against nginx limit_req", function()
  local tmp, gw
  before_each(function()
    if not nginx.available() then
      assert.is_nil(os.getenv("CI"), "nginx is missing: .ci/deps.sh test installs it")
      pending("nginx is not installed (bash .ci/deps.sh test)")
      return
    end
    tmp = helpers.tmpdir()
  end)
  after_each(function()
    if gw then gw.stop() end
    gw = nil
    helpers.rmtree(tmp)
  end)

  it("#slow keeps requests apart at a server with no burst: every answer, few 429s", function()
    if not tmp then return end
    gw = nginx.start(tmp, 20, 0)
    local out, st = run(gw.url, 80, { concurrency = 8, rpm = 1200, max_attempts = 3 })
    for _, r in ipairs(out) do assert.equal(200, r.status) end
    local log = gw.log()
    assert.equal(80, count(log, 200))
    -- Opening the way a server of unknown burst needs (one request, then one more per clean
    -- answer) and a minimum gap after the first 429: the old engine's half-second opening
    -- burst met a 429 for almost every request of it.
    -- (A sanitizer build sends with more jitter of its own: it gets the slack it needs.)
    assert.is_true(count(log, 429) <= 4 * SLOW, count(log, 429) .. " 429s")
    assert.equal(count(log, 429), st.status["429"] or 0)
  end)

  it("#slow settles at what the server delivers when told more, failing nothing", function()
    if not tmp then return end
    gw = nginx.start(tmp, 20, 2)
    -- Told 30/s against 20/s, and only two attempts: a rate limit must not use them up.
    local out, st = run(gw.url, 120, { concurrency = 8, rpm = 1800, max_attempts = 2 })
    for _, r in ipairs(out) do assert.equal(200, r.status) end
    local log = gw.log()
    assert.equal(120, count(log, 200))
    -- The rate is set from the delivered answers, not probed again and again.
    local t0, late = log[1].t, 0
    for _, e in ipairs(log) do
      if e.status == 429 and e.t - t0 > 2 then late = late + 1 end
    end
    -- Finding the server's rate costs a few at the start; after that, hardly any.
    assert.is_true(count(log, 429) <= 18 * SLOW, count(log, 429) .. " 429s for 120 answers")
    assert.is_true(late <= 5 * SLOW, late .. " 429s after the first two seconds")
    assert.is_true(st.free_retries >= count(log, 429) - 1)
    -- nginx's own bucket: never more than rate + burst in a second.
    assert.is_true(busiest(log, 1.0) <= 20 + 2 + 1)
  end)
end)
