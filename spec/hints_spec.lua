-- Unit specs of the server-hint parsers.
local core = require "coursegen.core"

describe("coursegen.core", function()
  describe("parse_duration()", function()
    local cases = {
      { "6m0s", 360 }, { "1s", 1 }, { "12ms", 0.012 }, { "45.837906927s", 45.837906927 },
      { "1h2m3.5s", 3723.5 }, { "300us", 0.0003 }, { "300µs", 0.0003 }, { "7ns", 7e-9 },
      { "0", 0 }, { "2.5", 2.5 }, { " 26s ", 26 }, { "0.5m", 30 },
    }
    for _, c in ipairs(cases) do
      it("reads " .. c[1], function()
        assert.near(c[2], core.parse_duration(c[1]), 1e-12)
      end)
    end
    for _, bad in ipairs { "", "s", "1x", "1.s2", "-1s", "1s2", "abc", "1 s", "1..2s" } do
      it("rejects " .. string.format("%q", bad), function()
        assert.is_nil(core.parse_duration(bad))
      end)
    end
  end)

  describe("parse_retry_after()", function()
    local now = 1445412470 -- Wed, 21 Oct 2015 07:27:50 GMT
    it("reads integer and fractional seconds", function()
      assert.equal(120, core.parse_retry_after("120", now))
      assert.near(1.5, core.parse_retry_after("1.5", now), 1e-12)
    end)
    it("reads the three HTTP date formats", function()
      assert.equal(10, core.parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now))
      assert.equal(10, core.parse_retry_after("Wednesday, 21-Oct-15 07:28:00 GMT", now))
      assert.equal(10, core.parse_retry_after("Wed Oct 21 07:28:00 2015", now))
    end)
    it("never returns a negative wait for a past date", function()
      assert.equal(0, core.parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now))
    end)
    for _, bad in ipairs { "", "soon", "-5", "5s", "Wed, 32 Oct 2015 07:28:00 GMT", "1e3" } do
      it("rejects " .. string.format("%q", bad), function()
        assert.is_nil(core.parse_retry_after(bad, now))
      end)
    end
  end)

  describe("hint()", function()
    local gemini = table.concat {
      '{"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "details": [',
      '{"@type": "type.googleapis.com/google.rpc.QuotaFailure",',
      ' "violations": [{"quotaId": "GenerateRequestsPerMinutePerProjectPerModel"}]},',
      '{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "45.837906927s"}]}}',
    }
    local openai = table.concat {
      '{"error": {"message": "Rate limit reached for gpt-4o in organization org-x on tokens per min (TPM):',
      ' Limit 30000, Used 30000, Requested 523. Please try again in 18.642s. Visit',
      ' https://platform.openai.com/account/rate-limits to learn more.", "type": "tokens",',
      ' "code": "rate_limit_exceeded"}}',
    }

    it("reads retry-after-ms first", function()
      local d, src = core.hint({ ["retry-after-ms"] = "1500", ["Retry-After"] = "9" }, gemini)
      assert.near(1.5, d, 1e-12)
      assert.equal("retry-after-ms", src)
    end)
    it("then Retry-After, in any case", function()
      local d, src = core.hint({ ["RETRY-AFTER"] = "9" }, gemini)
      assert.equal(9, d)
      assert.equal("retry-after", src)
    end)
    it("then Gemini's RetryInfo.retryDelay", function()
      local d, src = core.hint({}, gemini)
      assert.near(45.837906927, d, 1e-9)
      assert.equal("retry_info", src)
      assert.equal(26, (core.hint({}, '{"retryDelay":"26s"}')))
    end)
    it("then OpenAI's 'Please try again in'", function()
      local d, src = core.hint({}, openai)
      assert.near(18.642, d, 1e-9)
      assert.equal("message", src)
      assert.near(0.02, (core.hint({}, "Please try again in 20ms.")), 1e-12)
      assert.equal(366, (core.hint({}, "please try again in 6m6s")))
    end)
    it("then the later of the x-ratelimit-reset headers", function()
      local d, src = core.hint({ ["x-ratelimit-reset-requests"] = "1s", ["x-ratelimit-reset-tokens"] = "6m0s" }, "{}")
      assert.equal(360, d)
      assert.equal("x-ratelimit-reset", src)
    end)
    it("ignores malformed hints", function()
      assert.is_nil(core.hint({ ["retry-after-ms"] = "soon", ["retry-after"] = "later" }, '{"retryDelay": 26}'))
      assert.is_nil(core.hint({}, '{"retryDelay": "26 seconds"}'))
      assert.is_nil(core.hint({}, "try again in a while"))
      assert.is_nil(core.hint({ ["x-ratelimit-reset-tokens"] = "6 minutes" }, ""))
      assert.is_nil(core.hint({}, nil))
    end)
    it("gives a malformed header no precedence over a good body hint", function()
      assert.equal(26, (core.hint({ ["retry-after"] = "later" }, '{"retryDelay":"26s"}')))
    end)
  end)
end)
