-- Unit specs of the token-bucket limiter, driven by an injected clock.
local core = require "coursegen.core"

describe("coursegen.core", function()
  describe("limiter()", function()
    it("admits a burst of half a second's worth, then waits for refill", function()
      local lim = core.limiter { rpm = 240 } -- 4/s, burst 2
      assert.is_true(lim:reserve(0, 0))
      assert.is_true(lim:reserve(0, 0))
      local ok, wait = lim:reserve(0, 0)
      assert.is_false(ok)
      assert.near(0.25, wait, 1e-9)
      assert.is_false(lim:reserve(0, 0.24))
      assert.is_true(lim:reserve(0, 0.25))
    end)

    it("honours an explicit burst", function()
      local lim = core.limiter { rpm = 60, burst_requests = 5 }
      for _ = 1, 5 do assert.is_true(lim:reserve(0, 0)) end
      local ok, wait = lim:reserve(0, 0)
      assert.is_false(ok)
      assert.near(1, wait, 1e-9)
    end)

    it("refills fractionally and never above the burst", function()
      local lim = core.limiter { tpm = 600, burst_tokens = 100 } -- 10 tokens/s
      assert.is_true(lim:reserve(100, 0))
      assert.near(0, lim:levels(0).tokens, 1e-9)
      assert.near(2.5, lim:levels(0.25).tokens, 1e-9)
      assert.near(100, lim:levels(1000).tokens, 1e-9)
    end)

    it("admits all or nothing across buckets", function()
      local lim = core.limiter { rpm = 60, tpm = 6000, burst_requests = 10, burst_tokens = 100 }
      assert.is_true(lim:reserve(90, 0))
      local ok, wait = lim:reserve(50, 0) -- requests fine, tokens short by 40 (100/s refill)
      assert.is_false(ok)
      assert.near(0.4, wait, 1e-9)
      local lv = lim:levels(0)
      assert.near(9, lv.requests, 1e-9) -- nothing taken from the request bucket
      assert.near(10, lv.tokens, 1e-9)
    end)

    it("reconciles a reservation with real usage", function()
      local lim = core.limiter { tpm = 6000, burst_tokens = 1000 }
      assert.is_true(lim:reserve(800, 0))
      lim:reconcile(800, 300, 0) -- 500 come back
      assert.near(700, lim:levels(0).tokens, 1e-9)
      lim:reconcile(100, 400, 0) -- 300 more were used than reserved
      assert.near(400, lim:levels(0).tokens, 1e-9)
    end)

    it("refunds a failed attempt's tokens, capped at the burst", function()
      local lim = core.limiter { tpm = 6000, burst_tokens = 1000 }
      assert.is_true(lim:reserve(600, 0))
      lim:refund(600, 0)
      assert.near(1000, lim:levels(0).tokens, 1e-9)
      lim:refund(600, 0)
      assert.near(1000, lim:levels(0).tokens, 1e-9)
    end)

    it("fails a request larger than a bucket at once", function()
      local lim = core.limiter { tpm = 6000, burst_tokens = 1000 }
      local ok, msg, code = lim:reserve(1001, 0)
      assert.is_nil(ok)
      assert.equal("too_large: request needs 1001 tokens but the tokens/min limit allows at most 1000", msg)
      assert.equal("too_large", code)
    end)

    it("lets a request above the default burst wait for a full bucket and leave debt", function()
      local lim = core.limiter { tpm = 600 } -- 10/s, default burst 10, at most 600 per request
      assert.is_true(lim:reserve(0, 0))
      assert.is_true(lim:reserve(50, 0)) -- bucket was full: admitted, now 40 in debt
      local ok, wait = lim:reserve(1, 0)
      assert.is_false(ok)
      assert.near(4.1, wait, 1e-9)
      assert.is_nil((lim:reserve(601, 0)))
    end)

    it("pauses admission until the hinted time and restarts from empty buckets", function()
      local lim = core.limiter { rpm = 600 } -- 10/s, burst 10
      lim:pause_until(5, 1)
      local ok, wait = lim:reserve(0, 1)
      assert.is_false(ok)
      assert.near(4, wait, 1e-9)
      assert.near(5, lim:levels(1).paused_until, 1e-9)
      -- at 5 s the bucket is empty and the factor halved: 5/s
      ok, wait = lim:reserve(0, 5)
      assert.is_false(ok)
      assert.is_true(wait > 0 and wait < 0.5)
    end)

    it("cuts the rate on a 429 and recovers additively", function()
      local lim = core.limiter { rpm = 600, aimd_decrease = 0.5, aimd_increase = 0.1 }
      lim:pause_until(0, 0) -- a 429 with no hint: no pause, rate halves
      assert.near(0.5, lim:levels(0).factor, 1e-9)
      lim:pause_until(0, 0.5) -- within a second of the last cut: not cut again
      assert.near(0.55, lim:levels(0.5).factor, 1e-9)
      assert.near(1, lim:levels(100).factor, 1e-9)
    end)

    it("takes back a provisional pause: levels, factor and admission return", function()
      local lim = core.limiter { rpm = 600, burst_requests = 10 } -- 10/s, 10 at once
      for _ = 1, 4 do assert.is_true(lim:reserve(0, 0)) end
      lim:pause_until(5, 0, true, true)
      assert.is_false((lim:reserve(0, 0.01)))
      assert.near(0.5, lim:levels(0.01).factor, 0.01)
      assert.is_true(lim:unpause(0.02))
      local lv = lim:levels(0.02)
      assert.near(6, lv.requests, 1e-9) -- what was left before the pause, nothing refilled during it
      assert.near(1, lv.factor, 1e-9)
      assert.is_true(lv.paused_until < 0.02)
      assert.is_true(lim:reserve(0, 0.02))
      assert.is_false(lim:unpause(0.03)) -- nothing left to take back
    end)

    it("lets one probe through a provisional pause, charged like any request, never past the day's quota", function()
      local lim = core.limiter { rpm = 600, tpm = 6000, burst_requests = 10, burst_tokens = 6000 }
      assert.is_false(lim:probe(100, 0)) -- no pause to probe
      lim:pause_until(5, 0, true, true)
      assert.is_true(lim:probe(100, 0.01))
      local lv = lim:levels(0.01)
      assert.near(-1, lv.requests, 1e-9)
      assert.near(-100, lv.tokens, 1e-9)
      assert.is_true(lim:unpause(0.02)) -- the probe's charge stays; what the pause drained returns
      lv = lim:levels(0.02)
      assert.near(9, lv.requests, 1e-9)
      assert.near(5900, lv.tokens, 1e-9)
      lim:pause_until(10, 1, true, false)
      assert.is_false(lim:probe(1, 1.5)) -- a firm pause lets nothing through
      local day = core.limiter { rpd = 1 }
      assert.is_true(day:reserve(0, 0))
      day:pause_until(5, 0.1, true, true)
      assert.is_false(day:probe(0, 0.2))
    end)

    it("keeps a firm pause, and a provisional one made firm, for good", function()
      local lim = core.limiter { rpm = 600 }
      lim:pause_until(5, 0, true, true)
      lim:pause_until(6, 0.1, true, false) -- a confirmed 429: the pause is the server's word now
      assert.is_false(lim:unpause(0.2))
      assert.near(6, lim:levels(0.2).paused_until, 1e-9)
      local lim2 = core.limiter { rpm = 600 }
      lim2:pause_until(2, 0)
      assert.is_false(lim2:unpause(0.1))
    end)

    it("lets evidence take back a provisional cut only while it is fresh", function()
      local lim = core.limiter { rpm = 600, aimd_increase = 0 }
      lim:pause_until(0, 0, true, true) -- hintless: no pause, but the cut may come back for 1 s
      assert.is_true(lim:unpause(0.5))
      assert.near(1, lim:levels(0.5).factor, 1e-9)
      lim:pause_until(3, 10, true, true)
      assert.is_false(lim:unpause(13)) -- the pause ran its course: nothing to take back
      assert.near(0.5, lim:levels(13).factor, 1e-9)
    end)

    it("says when its buckets bind, never because of a pause", function()
      local lim = core.limiter { rpm = 60, burst_requests = 1 }
      assert.is_false(lim:binding(0))
      assert.is_true(lim:reserve(0, 0))
      assert.is_false((lim:reserve(0, 0.5)))
      assert.is_true(lim:binding(0.5))
      assert.is_false(lim:binding(1.6))
      lim:pause_until(20, 2)
      assert.is_false((lim:reserve(0, 3)))
      assert.is_false(lim:binding(3))
      assert.is_false(core.limiter {}:binding(0))
    end)

    it("never cuts below aimd_min", function()
      local lim = core.limiter { rpm = 600, aimd_min = 0.25, aimd_increase = 0 }
      for t = 0, 10, 2 do lim:pause_until(0, t) end
      assert.near(0.25, lim:levels(10).factor, 1e-9)
    end)

    it("applies a per-day limit", function()
      local lim = core.limiter { rpd = 2 }
      assert.is_true(lim:reserve(0, 0))
      assert.is_true(lim:reserve(0, 0))
      local ok, wait = lim:reserve(0, 0)
      assert.is_false(ok)
      assert.near(43200, wait, 1e-6)
    end)

    it("changes limits at run time, keeping levels", function()
      local lim = core.limiter { rpm = 60, burst_requests = 10 }
      for _ = 1, 10 do assert.is_true(lim:reserve(0, 0)) end
      lim:set_limits({ rpm = 6000, burst_requests = 10 }, 0)
      local ok, wait = lim:reserve(0, 0)
      assert.is_false(ok)
      assert.near(0.01, wait, 1e-9)
      lim:set_limits({ tpm = 60 }, 0) -- absent fields keep their values
      assert.is_false(lim:reserve(0, 0))
      lim:set_limits({ rpm = 0, tpm = 0 }, 0) -- 0 removes a limit
      assert.is_true(lim:reserve(1e9, 0))
    end)

    it("opens with one request and grows the burst by one per clean answer (slow start)", function()
      local lim = core.limiter { rpm = 6000, burst_requests = 4, slow_start = true } -- 100/s
      assert.is_true(lim:reserve(0, 0))
      assert.is_false(lim:reserve(0, 0))
      assert.near(1, lim:levels(1).requests, 1e-9) -- a second later: still one, not four
      lim:delivered(1)
      lim:delivered(1)
      assert.near(3, lim:levels(2).requests, 1e-9)
      for _ = 1, 10 do lim:delivered(2) end
      assert.near(4, lim:levels(3).requests, 1e-9) -- never past the configured burst
      -- A 429 ends slow start: the burst stays at one request from then on, with half a
      -- request of credit so that a late wake-up is made up rather than lost.
      lim:pause_until(3, 3)
      for _ = 1, 10 do lim:delivered(4) end
      assert.near(1.5, lim:levels(10).requests, 1e-9)
    end)

    it("after a 429 keeps requests a little more than the rate's interval apart, credit or not", function()
      local lim = core.limiter { rpm = 3000, burst_requests = 10, slow_start = true } -- 50/s
      for k = 1, 8 do lim:delivered(k / 100) end
      lim:pause_until(0.1, 0.1) -- a 429 with no hint: burst ends, the gap rule starts
      assert.is_true(lim:reserve(0, 1)) -- a second later the bucket holds its 1.5 requests
      local ok, wait = lim:reserve(0, 1)
      assert.is_false(ok) -- credit is there, but not 20 ms since the last one
      assert.near(0.02 * 1.005, wait, 1e-9)
      assert.is_true(lim:reserve(0, 1 + 0.02 * 1.005))
    end)

    it("sets the rate after a 429 from what the server delivered, not by halving", function()
      local lim = core.limiter { rpm = 6000, aimd_increase = 0 } -- told 100/s
      -- The server delivered 80 answers a second for two seconds.
      for k = 0, 159 do lim:delivered(k / 80) end
      lim:pause_until(2, 2)
      assert.near(0.8 * 0.97, lim:levels(2).factor, 1e-9)
      -- Never more than the old cut, whatever the delivery: 2 answers in 2 s.
      local lim2 = core.limiter { rpm = 6000, aimd_increase = 0, aimd_decrease = 0.5 }
      lim2:delivered(0)
      for k = 1, 4 do lim2:delivered(1 + k / 4) end
      lim2:pause_until(2, 2)
      assert.near(0.5, lim2:levels(2).factor, 1e-9)
      -- Before two seconds of answers, a small step.
      local lim3 = core.limiter { rpm = 6000, aimd_increase = 0 }
      lim3:delivered(0)
      lim3:pause_until(0.1, 0.1)
      assert.near(0.995, lim3:levels(0.1).factor, 1e-9)
      -- A 429 while the server takes all that is sent is about spacing: the same small step.
      local lim4 = core.limiter { rpm = 6000, aimd_increase = 0 }
      for k = 0, 199 do lim4:delivered(k / 100) end
      lim4:pause_until(2, 2)
      assert.near(0.995, lim4:levels(2).factor, 1e-9)
    end)

    it("climbs back fast to just under the rate that met the 429, then slowly", function()
      local lim = core.limiter { rpm = 6000, aimd_increase = 0.1 }
      for k = 0, 159 do lim:delivered(k / 80) end
      lim:pause_until(2, 2) -- met at factor 1: ceiling 1, cut to 0.776
      assert.near(0.776 + 0.1, lim:levels(3).factor, 1e-9)
      -- 0.98 is reached after 2.04 s; past it the climb is a tenth as steep.
      assert.near(0.98 + 0.1 * 0.08 / 10, lim:levels(2 + 2.04 + 0.08).factor, 1e-6)
    end)

    it("has no limit when none is configured", function()
      local lim = core.limiter {}
      for _ = 1, 1000 do assert.is_true(lim:reserve(1e6, 0)) end
    end)

    it("raises on misuse, naming the option", function()
      assert.has.error(function() core.limiter { rpn = 1 } end, "unknown option 'rpn' for limiter")
      assert.has.error(function() core.limiter { rpm = "x" } end, "bad option 'rpm' (number expected, got string)")
      assert.has.error(function() core.limiter { rpm = 60, burst_requests = 0.5 } end,
        "bad option 'burst_requests' (expected >= 1)")
      assert.has.error(function() core.limiter { aimd_decrease = 2 } end,
        "bad option 'aimd_decrease' (expected 0 < x <= 1)")
    end)
  end)
end)
