-- Providers: request building, and parsing answers and errors (recorded fixtures).
-- luacheck: std +busted
local gemini = require "coursegen.providers.gemini"
local openai = require "coursegen.providers.openai"
local json = require "coursegen.json"
local fx = require "support.fixtures"

local function headers_of(h)
  local t = {}
  for _, line in ipairs(h) do
    local k, v = line:match("^([^:]+):%s*(.*)$")
    t[k:lower()] = v
  end
  return t
end

describe("gemini requests", function()
  local cfg = { base_url = "https://generativelanguage.googleapis.com/", model = "gemini-2.5-flash",
                api_key = "SECRET" }

  it("puts the key in a header, never in the URL", function()
    local r = gemini.request(cfg, { prompt = "hi" })
    assert.equal("https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent", r.url)
    assert.equal("POST", r.method)
    local h = headers_of(r.headers)
    assert.equal("SECRET", h["x-goog-api-key"])
    assert.equal("application/json", h["content-type"])
    assert.is_nil(r.url:find("SECRET", 1, true))
    assert.is_nil(r.body:find("SECRET", 1, true))
  end)

  it("sends the system instruction, generation config and structured output", function()
    local r = gemini.request(cfg, { prompt = "Outline", system = "Be a teacher", max_output_tokens = 200,
      temperature = 0.5, thinking_budget = 50, schema = { type = "object" } })
    local b = json.decode(r.body)
    assert.same({ { role = "user", parts = { { text = "Outline" } } } }, b.contents)
    assert.same({ role = "user", parts = { { text = "Be a teacher" } } }, b.systemInstruction)
    assert.same({ maxOutputTokens = 200, temperature = 0.5, thinkingConfig = { thinkingBudget = 50 },
      responseMimeType = "application/json", responseJsonSchema = { type = "object" } }, b.generationConfig)
  end)

  it("omits the key header without a key", function()
    local r = gemini.request({ base_url = "http://127.0.0.1:9", model = "m" }, { prompt = "x" })
    assert.is_nil(headers_of(r.headers)["x-goog-api-key"])
  end)

  it("estimates prompt bytes / 4 plus the output budget", function()
    assert.equal(3 + 100, gemini.estimate { prompt = "123456789012", max_output_tokens = 100 })
  end)

  it("needs a key only for Google's server", function()
    assert.is_true(gemini.needs_key("https://generativelanguage.googleapis.com"))
    assert.is_false(gemini.needs_key("http://127.0.0.1:8080"))
  end)
end)

describe("gemini answers", function()
  it("parses a plain reply with usage", function()
    local r = gemini.parse(fx.read("firebase/googleai/unary-success-basic-reply-short.json"))
    assert.equal("ok", r.kind)
    assert.equal("STOP", r.finish_reason)
    assert.equal("Google's headquarters, also known as the Googleplex, is located in **Mountain View, California**.\n",
      r.text)
    assert.same({ prompt = 7, output = 22, thoughts = 0, cached = 0 }, r.usage)
  end)

  it("skips thought parts and counts thought tokens", function()
    local r = gemini.parse(fx.read("firebase/googleai/unary-success-thinking-reply-thought-summary.json"))
    assert.equal("ok", r.kind)
    assert.equal("Mountain View", r.text)
    assert.same({ prompt = 14, output = 2, thoughts = 24, cached = 0 }, r.usage)
  end)

  it("parses a real recording", function()
    local status, body = fx.recording("Chats_Tests_sendMessage_Google_AI_with_empty_text.json")
    assert.equal(200, status)
    local r = gemini.parse(body)
    assert.equal("ok", r.kind)
    assert.truthy(r.text:find("a + 10 = 5 + 10 = 15", 1, true))
    assert.same({ prompt = 13, output = 43, thoughts = 0, cached = 0 }, r.usage)
  end)

  it("parses a structured-output recording", function()
    local _, body = fx.recording(
      "Client_Tests_generateContent_ML_Dev_should_generate_content_with_given_valid_json_schema_in_" ..
      "responseJsonSchema.json")
    local r = gemini.parse(body)
    assert.equal("ok", r.kind)
    assert.equal("Hello", json.decode(r.text).simpleString)
  end)

  it("classifies a SAFETY finish as blocked, with or without content", function()
    local r = gemini.parse(fx.read("firebase/googleai/unary-failure-finish-reason-safety.json"))
    assert.equal("blocked", r.kind)
    assert.equal("SAFETY", r.finish_reason)
    assert.equal("blocked, finish reason SAFETY", r.message)
    local r2 = gemini.parse(fx.read("firebase/vertexai/unary-failure-finish-reason-safety-no-content.json"))
    assert.equal("blocked", r2.kind)
    assert.equal("", r2.text)
  end)

  it("classifies a blocked prompt", function()
    local r = gemini.parse(fx.read("firebase/vertexai/unary-failure-prompt-blocked-safety.json"))
    assert.equal("blocked", r.kind)
    assert.equal("prompt blocked: SAFETY", r.message)
  end)

  it("never crashes on unknown enum values", function()
    local r = gemini.parse(fx.read("firebase/vertexai/unary-failure-unknown-enum-finish-reason.json"))
    assert.equal("ok", r.kind)
    assert.equal("FAKE_NEW_FINISH_REASON", r.finish_reason)
    local r2 = gemini.parse(fx.read("firebase/vertexai/unary-failure-unknown-enum-prompt-blocked.json"))
    assert.equal("blocked", r2.kind)
    assert.equal("FAKE_NEW_BLOCK_REASON", r2.finish_reason)
  end)

  it("classifies empty answers", function()
    local r = gemini.parse(fx.read("firebase/vertexai/unary-failure-empty-content.json"))
    assert.equal("empty", r.kind)
    local r2 = gemini.parse(fx.read("firebase/googleai/unary-failure-with-message-no-content.json"))
    assert.equal("empty", r2.kind)
    assert.equal("no text in the answer, finish reason OTHER: Model failed to generate content due to internal error.",
      r2.message)
    local r3 = gemini.parse('{"candidates":[{"content":{"parts":[{"text":""}],"role":"model"},"finishReason":"STOP"}]}')
    assert.equal("empty", r3.kind)
    local r4 = gemini.parse('{"candidates":[{"content":{"parts":[{"text":"thinking","thought":true}]},' ..
      '"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":5,"thoughtsTokenCount":9}}')
    assert.equal("empty", r4.kind)
    assert.same({ prompt = 5, output = 0, thoughts = 9, cached = 0 }, r4.usage)
    assert.equal("empty", gemini.parse("{not json").kind)
    assert.equal("empty", gemini.parse("").kind)
  end)

  it("classifies MAX_TOKENS as truncated, even with text", function()
    local r = gemini.parse('{"candidates":[{"content":{"parts":[{"text":"The sky is"}]},' ..
      '"finishReason":"MAX_TOKENS"}],' ..
      '"usageMetadata":{"promptTokenCount":7,"candidatesTokenCount":149,"thoughtsTokenCount":48}}')
    assert.equal("truncated", r.kind)
    assert.equal("The sky is", r.text)
    assert.same({ prompt = 7, output = 149, thoughts = 48, cached = 0 }, r.usage)
  end)
end)

describe("gemini errors", function()
  it("keeps the server's words, status and reason", function()
    assert.equal("HTTP 400 INVALID_ARGUMENT: API key not valid. Please pass a valid API key. (reason API_KEY_INVALID)",
      gemini.error_message(400, fx.read("firebase/googleai/unary-failure-api-key.json")))
    local m = gemini.error_message(403,
      fx.read("firebase/googleai/unary-failure-generativelanguage-api-not-enabled.json"))
    assert.truthy(m:find("^HTTP 403 PERMISSION_DENIED: Generative Language API has not been used in project 12345678"))
    assert.truthy(m:find("(reason SERVICE_DISABLED)", 1, true))
  end)

  it("reads a real 404 recording", function()
    local status, body = fx.recording("Chats_Tests_sendMessage_Send_message_stream_with_error.json")
    assert.equal(404, status)
    assert.truthy(gemini.error_message(status, body):find(
      "^HTTP 404 NOT_FOUND: models/custom%-gemini%-2%.0%-flash is not found for API version v1beta"))
  end)

  it("names the quota and the retry delay of a 429", function()
    local body = [[{"error":{"code":429,"message":"You exceeded your current quota.","status":"RESOURCE_EXHAUSTED",
      "details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaId":
      "GenerateContentInputTokensPerModelPerMinute-FreeTier"}]},
      {"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"26s"}]}}]]
    assert.equal("HTTP 429 RESOURCE_EXHAUSTED: You exceeded your current quota. " ..
      "(quota GenerateContentInputTokensPerModelPerMinute-FreeTier, retry in 26s)", gemini.error_message(429, body))
  end)

  it("reads the array-wrapped variant", function()
    assert.equal("HTTP 429 RESOURCE_EXHAUSTED: Resource has been exhausted (e.g. check quota).",
      gemini.error_message(429, '[{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).",' ..
        '"status":"RESOURCE_EXHAUSTED"}}]'))
  end)

  it("reads HTML and plain-text bodies", function()
    assert.equal("HTTP 404: Error 404 (Not Found)!!1",
      gemini.error_message(404, fx.read("firebase/vertexai/unary-failure-invalid-location-url-not-found.html")))
    assert.equal("HTTP 502: Bad Gateway", gemini.error_message(502, "Bad Gateway\n"))
    assert.equal("HTTP 503 (empty body)", gemini.error_message(503, ""))
  end)
end)

describe("openai requests", function()
  it("posts to chat/completions with a bearer key", function()
    local r = openai.request({ base_url = "https://api.openai.com/v1/", model = "gpt-4o-mini", api_key = "sk-x" },
      { prompt = "hi", system = "sys", max_output_tokens = 100, temperature = 0.2 })
    assert.equal("https://api.openai.com/v1/chat/completions", r.url)
    assert.equal("Bearer sk-x", headers_of(r.headers).authorization)
    local b = json.decode(r.body)
    assert.equal("gpt-4o-mini", b.model)
    assert.same({ { role = "system", content = "sys" }, { role = "user", content = "hi" } }, b.messages)
    assert.equal(100, b.max_completion_tokens)
    assert.equal(0.2, b.temperature)
  end)

  it("omits Authorization for a local server without a key, and uses max_tokens there", function()
    local r = openai.request({ base_url = "http://localhost:11434/v1", model = "llama3" },
      { prompt = "hi", max_output_tokens = 50 })
    assert.is_nil(headers_of(r.headers).authorization)
    assert.equal(50, json.decode(r.body).max_tokens)
  end)

  it("asks for structured output with a strict JSON schema", function()
    local r = openai.request({ base_url = "http://x/v1", model = "m" },
      { prompt = "p", schema = { type = "object" }, schema_name = "outline" })
    assert.same({ type = "json_schema",
                  json_schema = { name = "outline", schema = { type = "object" }, strict = true } },
      json.decode(r.body).response_format)
  end)
end)

describe("openai answers", function()
  local function body(choice, usage)
    return json.encode { id = "chatcmpl-123", object = "chat.completion", choices = json.array { choice },
      usage = usage or { prompt_tokens = 9, completion_tokens = 12, total_tokens = 21 } }
  end

  it("parses a reply (the documented example)", function()
    local r = openai.parse(body { index = 0, finish_reason = "stop",
      message = { role = "assistant", content = "\n\nHello there, how may I assist you today?" } })
    assert.equal("ok", r.kind)
    assert.equal("\n\nHello there, how may I assist you today?", r.text)
    assert.same({ prompt = 9, output = 12, thoughts = 0, cached = 0 }, r.usage)
  end)

  it("separates reasoning tokens", function()
    local r = openai.parse(body({ finish_reason = "stop", message = { content = "x" } },
      { prompt_tokens = 5, completion_tokens = 30, completion_tokens_details = { reasoning_tokens = 20 } }))
    assert.same({ prompt = 5, output = 10, thoughts = 20, cached = 0 }, r.usage)
  end)

  it("classifies length, content_filter, refusal, empty and unknown reasons", function()
    assert.equal("truncated", openai.parse(body { finish_reason = "length", message = { content = "abc" } }).kind)
    assert.equal("blocked", openai.parse(body { finish_reason = "content_filter", message = { content = "" } }).kind)
    local refused = openai.parse(body { finish_reason = "stop", message = { content = json.null, refusal = "No." } })
    assert.equal("blocked", refused.kind)
    assert.equal("refused: No.", refused.message)
    assert.equal("empty", openai.parse(body { finish_reason = "stop", message = { content = "" } }).kind)
    assert.equal("ok", openai.parse(body { finish_reason = "brand_new", message = { content = "x" } }).kind)
    assert.equal("empty", openai.parse('{"choices":[]}').kind)
  end)
end)

describe("openai errors", function()
  it("reads OpenAI's envelope with a string code", function()
    assert.equal("HTTP 401 invalid_request_error: Incorrect API key provided: sk-proj-****SJh4. " ..
      "(code invalid_api_key)", openai.error_message(401, '{"error":{"message":"Incorrect API key provided: ' ..
      'sk-proj-****SJh4.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}'))
  end)

  it("reads llama.cpp's integer code and vLLM's flat error", function()
    assert.equal("HTTP 503 unavailable_error: Loading model",
      openai.error_message(503, '{"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}'))
    assert.equal("HTTP 400 BadRequestError: max_tokens is too large (code 40001)",
      openai.error_message(400, '{"object":"error","message":"max_tokens is too large","type":"BadRequestError",' ..
        '"param":null,"code":40001}'))
  end)
end)
