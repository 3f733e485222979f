-- The public answer checks: the classification the pipeline uses, given to engine users.
local validator = require "coursegen.validator"
local engine = require "coursegen.engine"
local mock = require "coursegen.mock"
local json = require "coursegen.json"

describe("coursegen.validator", function()
  describe("classify()", function()
    it("names ok, empty, blocked and truncated answers of both dialects", function()
      local function gem(parts, reason)
        return json.encode { candidates = { { content = { parts = parts }, finishReason = reason } } }
      end
      assert.equal("ok", validator.classify("gemini", gem({ { text = "Hello" } }, "STOP")).kind)
      assert.equal("empty", validator.classify("gemini", gem({ { text = "  " } }, "STOP")).kind)
      assert.equal("blocked", validator.classify("gemini", gem({ { text = "x" } }, "SAFETY")).kind)
      assert.equal("truncated", validator.classify("gemini", gem({ { text = "x" } }, "MAX_TOKENS")).kind)
      local oa = json.encode { choices = { { message = { content = "Hi" }, finish_reason = "length" } } }
      assert.equal("truncated", validator.classify("openai", oa).kind)
      assert.equal("empty", validator.classify("openai", "not json").kind)
    end)

    it("raises on a provider it does not know", function()
      assert.has.error(function() validator.classify("nope", "{}") end, "unknown provider 'nope'")
    end)
  end)

  describe("larger_budget()", function()
    it("doubles the output budget where each dialect keeps it, up to the cap", function()
      local g = json.decode(validator.larger_budget('{"generationConfig":{"maxOutputTokens":1000}}'))
      assert.equal(2000, g.generationConfig.maxOutputTokens)
      local o = json.decode(validator.larger_budget('{"max_completion_tokens":40000}', 65536))
      assert.equal(65536, o.max_completion_tokens)
      assert.is_nil(validator.larger_budget('{"max_tokens":65536}', 65536))
      assert.is_nil(validator.larger_budget("not json"))
    end)
  end)

  describe("new()", function()
    local srv
    setup(function() srv = mock.start { latency_ms = 1 } end)
    teardown(function() srv:close() end)

    it("makes the engine re-ask empty, blocked and truncated answers until one is usable", function()
      local url = srv.url .. "/v1beta/models/m:generateContent"
      local bodies, seen = {}, {}
      local function body(text, budget)
        return json.encode { contents = { { role = "user", parts = { { text = text } } } },
                             generationConfig = { maxOutputTokens = budget } }
      end
      local reqs = {
        { url = url, body = body("[[mock:empty,safety]] one", 4000) },
        { url = url, body = body("[[mock:maxtokens]] two", 4000) },
        { url = url, body = body("three", 4000) },
      }
      local validate = validator.new("gemini", {
        body_of = function(r) return bodies[r.id] end,
        on_answer = function(_, parsed) seen[#seen + 1] = parsed.kind end,
      })
      local eng = engine.new { concurrency = 2, validate = validate, backoff_base = 0.01, max_attempts = 4 }
      for _, r in ipairs(reqs) do bodies[eng:submit(r)] = r.body end
      local attempts = {}
      while true do
        local r = eng:next(20)
        if not r then break end
        assert.equal(200, r.status)
        assert.is_nil(r.error_code, r.id .. " " .. tostring(r.reason) .. " " .. tostring(r.attempts))
        assert.equal("ok", validator.classify("gemini", r.body).kind)
        attempts[r.id] = r.attempts
      end
      eng:close()
      assert.same({ 3, 2, 1 }, attempts)
      table.sort(seen)
      assert.same({ "blocked", "empty", "ok", "ok", "ok", "truncated" }, seen)
    end)
  end)
end)
