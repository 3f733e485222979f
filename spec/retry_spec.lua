-- Unit specs of the retry policy: classification and full-jitter backoff.
local core = require "coursegen.core"

describe("coursegen.core", function()
  describe("classify()", function()
    for _, s in ipairs { 408, 409, 429, 500, 502, 503, 504 } do
      it("retries HTTP " .. s, function()
        local v = core.classify(s, {}, "")
        assert.is_true(v.retry)
        assert.equal("http", v.code)
        assert.equal("http: HTTP " .. s, v.message)
      end)
    end
    for _, s in ipairs { 400, 401, 403, 404, 422, 501 } do
      it("does not retry HTTP " .. s, function()
        local v = core.classify(s, {}, "")
        assert.is_false(v.retry)
        assert.equal("http", v.code)
      end)
    end

    it("lets x-should-retry decide when present", function()
      assert.is_false(core.classify(503, { ["x-should-retry"] = "false" }).retry)
      assert.is_true(core.classify(400, { ["X-Should-Retry"] = "true" }).retry)
      assert.is_true(core.classify(503, { ["x-should-retry"] = "maybe" }).retry)
    end)

    it("pauses everyone on a retryable 429", function()
      local v = core.classify(429, {}, '{"error":{"details":[{"retryDelay":"26s"}]}}')
      assert.is_true(v.retry)
      assert.is_true(v.pause)
      assert.equal(26, v.hint)
      assert.equal("retry_info", v.hint_source)
      assert.is_false(core.classify(503, { ["retry-after"] = "3" }).pause)
    end)

    local hard = {
      { "a Gemini per-day quota",
        '{"error":{"code":429,"details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure",'
          .. '"violations":[{"quotaId":"GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]},'
          .. '{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"20s"}]}}',
        "per%-day quota" },
      { "OpenAI insufficient_quota",
        '{"error":{"message":"You exceeded your current quota","type":"insufficient_quota",'
          .. '"code":"insufficient_quota"}}',
        "insufficient_quota" },
      { "a request too large",
        '{"error":{"message":"Request too large for gpt-4 in organization org-x on tokens per min (TPM):'
          .. ' Limit 10000, Requested 12000."}}',
        "too large" },
    }
    for _, c in ipairs(hard) do
      it("fails " .. c[1] .. " at once as quota", function()
        local v = core.classify(429, {}, c[2])
        assert.is_false(v.retry)
        assert.is_false(v.pause)
        assert.equal("quota", v.code)
        assert.matches("^quota: HTTP 429, .*" .. c[3], v.message)
      end)
    end

    it("does not treat a per-minute quota as hard", function()
      local v = core.classify(429, {}, '{"details":[{"quotaId":"GenerateRequestsPerMinutePerProject"}]}')
      assert.is_true(v.retry)
    end)

    it("fails as quota when the hint is beyond max_hint_wait", function()
      local v = core.classify(429, { ["retry-after"] = "3600" }, "", 120)
      assert.is_false(v.retry)
      assert.equal("quota", v.code)
      assert.equal("quota: HTTP 429, the server asks to wait 3600.0 s (retry-after),"
        .. " more than max_hint_wait (120 s)", v.message)
      assert.is_true(core.classify(429, { ["retry-after"] = "100" }, "", 120).retry)
    end)

    it("caps a long x-ratelimit-reset wait instead of failing", function()
      local v = core.classify(429, { ["x-ratelimit-reset-tokens"] = "6m0s" }, "", 120)
      assert.is_true(v.retry)
      assert.equal(120, v.hint)
    end)

    it("adds a one-line excerpt of the body", function()
      local v = core.classify(400, {}, '{\n  "error": "bad"\n}')
      assert.equal('http: HTTP 400: { "error": "bad" }', v.message)
    end)

    for _, k in ipairs { "connect", "dns", "reset", "timeout" } do
      it("retries a " .. k .. " failure", function()
        local v = core.classify(k, nil, "detail")
        assert.is_true(v.retry)
        assert.equal(k == "timeout" and "timeout" or "network", v.code)
      end)
    end
    it("does not retry an oversized response or an unknown failure", function()
      local v = core.classify("too_large", nil, "response larger than 10 bytes")
      assert.is_false(v.retry)
      assert.equal("too_large: response larger than 10 bytes", v.message)
      assert.is_false(core.classify("other", nil, "bad URL").retry)
      local tls = core.classify("tls", nil, "SSL certificate problem: self-signed certificate")
      assert.is_false(tls.retry)
      assert.equal("network", tls.code)
    end)
    it("raises on an unknown failure kind", function()
      assert.has.error(function() core.classify("weird") end)
    end)
  end)

  describe("backoff()", function()
    it("stays within full-jitter bounds", function()
      local b = core.backoff { base = 1, cap = 60, seed = 42 }
      for n = 1, 12 do
        local top = math.min(60, 2 ^ (n - 1))
        for _ = 1, 200 do
          local d = b:delay(n)
          assert.is_true(d >= 0 and d <= top, ("retry %d: %g not in [0, %g]"):format(n, d, top))
        end
      end
    end)
    it("spreads delays over the whole range", function()
      local b = core.backoff { base = 1, cap = 60, seed = 7 }
      local lo, hi = math.huge, 0
      for _ = 1, 1000 do
        local d = b:delay(4)
        lo, hi = math.min(lo, d), math.max(hi, d)
      end
      assert.is_true(lo < 0.5 and hi > 7.5)
    end)
    it("repeats with the same seed and differs with another", function()
      local a, b, c = core.backoff { seed = 1 }, core.backoff { seed = 1 }, core.backoff { seed = 2 }
      local same, diff = true, false
      for n = 1, 5 do
        local x, y, z = a:delay(n), b:delay(n), c:delay(n)
        same = same and x == y
        diff = diff or x ~= z
      end
      assert.is_true(same)
      assert.is_true(diff)
    end)
    it("raises on misuse", function()
      assert.has.error(function() core.backoff { bsae = 1 } end, "unknown option 'bsae' for backoff")
      assert.has.error(function() core.backoff {}:delay(0) end)
    end)
  end)
end)
