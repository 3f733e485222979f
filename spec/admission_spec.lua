-- Unit specs of admission: the rule the engine applies to each head of its send queue
-- (csrc/cg_admit.c), driven through core.admission with an injected clock.
local core = require "coursegen.core"

-- Offers the heads in order, as the engine's worker does, until one is not sent; returns
-- the names sent and the verdict and detail of the one that stopped the round.
local function round(adm, queue, now)
  local sent = {}
  while queue[1] do
    local verdict, detail = adm:head(queue[1].tokens, now)
    if verdict ~= "send" and verdict ~= "probe" then return sent, verdict, detail end
    sent[#sent + 1] = table.remove(queue, 1).name
  end
  return sent
end

describe("coursegen.core.admission", function()
  it("sends while slots are free, and the worker's share bounds it too", function()
    local adm = core.admission(core.limiter {}, { concurrency = 4, share = 2 })
    assert.equal("send", adm:head(0, 0))
    assert.equal("send", adm:head(0, 0))
    assert.equal("full", adm:head(0, 0)) -- the worker's share of 2, though 4 are allowed
    adm:set { share = 4 }
    assert.equal("send", adm:head(0, 0))
    assert.equal("send", adm:head(0, 0))
    assert.equal("full", adm:head(0, 0))
    assert.same(4, adm:state().in_flight)
    adm:finished()
    assert.equal("send", adm:head(0, 0))
  end)

  it("decides nothing for a head without a slot: the limiter is not charged", function()
    local lim = core.limiter { rpm = 600 } -- burst 5
    local adm = core.admission(lim, { concurrency = 1 })
    assert.equal("send", adm:head(0, 0))
    assert.equal("full", adm:head(0, 0))
    assert.near(4, lim:levels(0).requests, 1e-9)
  end)

  it("holds the head for exactly the limiter's wait, then sends it", function()
    local adm = core.admission(core.limiter { rpm = 240 }, { concurrency = 10 }) -- 4/s, burst 2
    assert.equal("send", adm:head(0, 0))
    assert.equal("send", adm:head(0, 0))
    local verdict, wait = adm:head(0, 0)
    assert.equal("wait", verdict)
    assert.near(0.25, wait, 1e-9)
    assert.equal("wait", (adm:head(0, 0.24)))
    assert.equal("send", adm:head(0, 0.25))
  end)

  it("keeps strict FIFO: a large head is not starved by small requests behind it", function()
    local lim = core.limiter { tpm = 600, burst_tokens = 100 } -- 10 tokens/s
    assert.is_true(lim:reserve(100, 0)) -- empty the bucket
    local adm = core.admission(lim, { concurrency = 10 })
    local queue = { { name = "big", tokens = 80 }, { name = "small1", tokens = 5 }, { name = "small2", tokens = 5 } }
    local sent, verdict, wait = round(adm, queue, 1) -- 10 tokens: enough for the small ones, not the big
    assert.same({}, sent)
    assert.equal("wait", verdict)
    assert.near(7, wait, 1e-9)
    sent, verdict, wait = round(adm, queue, 8)
    assert.same({ "big" }, sent)
    assert.equal("wait", verdict)
    assert.near(0.5, wait, 1e-9)
    sent, verdict = round(adm, queue, 9)
    assert.same({ "small1", "small2" }, sent)
    assert.is_nil(verdict)
  end)

  it("fails a head no bucket can hold, with the message the engine gives", function()
    local adm = core.admission(core.limiter { tpm = 6000, burst_tokens = 1000 }, { concurrency = 2 })
    local verdict, msg = adm:head(1001, 0)
    assert.equal("too_large", verdict)
    assert.equal("too_large: request needs 1001 tokens but the tokens/min limit allows at most 1000", msg)
    assert.equal("send", adm:head(1000, 0)) -- the next head is not blocked by it
  end)

  it("lets one probe through a provisional pause only when nothing is in flight", function()
    local lim = core.limiter { rpm = 600 }
    local adm = core.admission(lim, { concurrency = 4, in_flight = 1 })
    lim:pause_until(5, 0, true, true) -- a lone 429: provisional
    assert.equal("wait", adm:head(0, 1)) -- something in flight will tell
    adm:finished()
    assert.equal("probe", adm:head(0, 1))
    assert.equal("wait", adm:head(0, 1)) -- one probe, not a burst
    local firm = core.limiter { rpm = 600 }
    firm:pause_until(5, 0, true, false)
    local alone = core.admission(firm, { concurrency = 4 })
    local verdict, wait = alone:head(0, 1)
    assert.equal("wait", verdict) -- a firm pause is never probed
    assert.near(4, wait, 1e-9)
  end)

  it("fails a head the spent daily quota holds beyond quota_wait, and only then", function()
    local adm = core.admission(core.limiter { rpd = 2 }, { concurrency = 10 })
    assert.equal("send", adm:head(0, 0))
    assert.equal("send", adm:head(0, 0))
    local verdict, msg = adm:head(0, 0)
    assert.equal("quota", verdict)
    assert.matches("^quota: the requests/day limit %(rpd 2%) is spent; the next request fits in 720 min", msg)
    adm:set { quota_wait = 86400 }
    local v2, wait = adm:head(0, 0)
    assert.equal("wait", v2)
    assert.near(43200, wait, 1e-6)
  end)

  it("sends one outage probe at a time, not before its time", function()
    local adm = core.admission(core.limiter {}, { concurrency = 8, outage = true, outage_next = 5 })
    local verdict, wait = adm:head(0, 1)
    assert.equal("outage", verdict)
    assert.near(4, wait, 1e-9)
    assert.equal("send", adm:head(0, 5))
    assert.is_true(adm:state().outage_probe)
    verdict, wait = adm:head(0, 6)
    assert.equal("outage", verdict)
    assert.equal(math.huge, wait) -- until the probe's answer
    adm:finished()
    adm:set { outage_next = 9 }
    assert.equal("outage", (adm:head(0, 8)))
    adm:set { outage = false }
    assert.equal("send", adm:head(0, 8))
    assert.equal("send", adm:head(0, 8))
  end)

  it("waits for the shared limiter's grant and spends it", function()
    local adm = core.admission(core.limiter { tpm = 6000 }, { concurrency = 8, shared = true })
    assert.equal("grant", adm:head(10, 0))
    adm:set { grant_req = 2, grant_tok = 15 }
    assert.equal("send", adm:head(10, 0))
    assert.same({ req = 1, tok = 5 }, { req = adm:state().grant_req, tok = adm:state().grant_tok })
    assert.equal("grant", adm:head(10, 0)) -- a request granted, not its tokens
    local verdict, msg = adm:head(7000, 0) -- never waits for a grant it cannot get
    assert.equal("too_large", verdict)
    assert.matches("allows at most 6000", msg)
  end)

  it("fails every head once the shared limiter failed, after an outage's hold", function()
    local adm = core.admission(core.limiter {}, { concurrency = 8, dead = true, outage = true, outage_next = 3 })
    assert.equal("outage", (adm:head(0, 0)))
    adm:set { outage = false }
    assert.equal("dead", adm:head(0, 0))
    assert.equal(0, adm:state().in_flight)
  end)

  it("refuses unknown state keys", function()
    assert.has_error(function() core.admission(core.limiter {}, { concurency = 2 }) end,
      "unknown option 'concurency' for admission")
  end)
end)
