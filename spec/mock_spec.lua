-- The bundled mock LLM server, driven over real loopback HTTP with the curl command.
local mock = require "coursegen.mock"
local cjson = require "cjson"
local helpers = require "spec.helpers"

local FIX = "spec/fixtures/mock/"

-- curl is the client, not the code under test: keep a sanitizer runtime that is preloaded
-- for the interpreter out of it (an instrumented curl can deadlock at start-up).
local CURL = "env -u LD_PRELOAD curl"

local tmp
local seq = 0

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function run(cmd)
  local f = assert(io.popen(cmd))
  local out = f:read("a")
  local ok, _, code = f:close()
  return out, ok and 0 or code
end

--- One HTTP exchange. Returns status (number, 0 when curl failed), body, headers
-- (lower-case names), curl's exit code.
local function http(method, url, body, opts)
  opts = opts or {}
  seq = seq + 1
  local base = tmp .. "/r" .. seq
  local args = { CURL .. " -s -X " .. method, "-o " .. q(base .. ".out"), "-D " .. q(base .. ".hdr"),
                 "-w '%{http_code}'", "--max-time " .. (opts.timeout or 10) }
  if body then
    helpers.writefile(base .. ".in", body)
    args[#args + 1] = "--data-binary @" .. q(base .. ".in")
    args[#args + 1] = "-H 'Content-Type: application/json'"
  end
  for _, h in ipairs(opts.headers or {}) do args[#args + 1] = "-H " .. q(h) end
  if opts.http10 then args[#args + 1] = "--http1.0" end
  args[#args + 1] = q(url)
  local code_s, exit = run(table.concat(args, " "))
  local headers = {}
  for line in (helpers.readfile(base .. ".hdr") or ""):gmatch("[^\r\n]+") do
    local k, v = line:match("^([^:]+):%s*(.*)$")
    if k then headers[k:lower()] = v end
  end
  return tonumber(code_s) or 0, helpers.readfile(base .. ".out") or "", headers, exit
end

local function gemini_body(text, extra)
  local t = { contents = { { role = "user", parts = { { text = text } } } } }
  for k, v in pairs(extra or {}) do t[k] = v end
  return cjson.encode(t)
end

local function openai_body(text, extra)
  local t = { model = "gpt-test", messages = { { role = "system", content = "Be brief." },
                                               { role = "user", content = text } } }
  for k, v in pairs(extra or {}) do t[k] = v end
  return cjson.encode(t)
end

local function gen_url(srv, model, op)
  return srv.url .. "/v1beta/models/" .. (model or "gemini-2.5-flash") .. ":" .. (op or "generateContent")
end

local function sse_events(body, sep)
  local ev = {}
  for data in body:gmatch("data: (.-)" .. sep) do ev[#ev + 1] = data end
  return ev
end

-- Set of key paths ("a.b[].c") of a decoded JSON value.
local function paths(v, prefix, out)
  out = out or {}
  if type(v) == "table" then
    if #v > 0 then
      paths(v[1], prefix .. "[]", out)
    else
      for k, x in pairs(v) do
        local p = prefix == "" and k or prefix .. "." .. k
        out[p] = true
        paths(x, p, out)
      end
    end
  end
  return out
end

local function fixture(name)
  local s = helpers.readfile(FIX .. name)
  assert.is_string(s, "missing fixture " .. name)
  return cjson.decode(s)
end

local function recording(name)
  local r = fixture("js-genai/" .. name)
  return r.interactions[1].response
end

-- Every listed path must exist in both bodies.
local function assert_same_shape(got, want, list)
  local g, w = paths(got, ""), paths(want, "")
  for _, p in ipairs(list) do
    assert.is_true(w[p] == true, "fixture lacks " .. p)
    assert.is_true(g[p] == true, "mock body lacks " .. p)
  end
end

-- Wall clock with 10 ms resolution.
local function now()
  return tonumber(helpers.readfile("/proc/uptime"):match("^(%S+)"))
end

local function wait_for(pred, secs)
  local deadline = os.time() + (secs or 5)
  while os.time() <= deadline do
    if pred() then return true end
    os.execute("sleep 0.05")
  end
  return false
end

describe("coursegen.mock", function()
  local srv

  setup(function() tmp = helpers.tmpdir() end)
  teardown(function() helpers.rmtree(tmp) end)
  before_each(function() srv = mock.start { seed = 7 } end)
  after_each(function() if srv then srv:close() end end)

  describe("start()", function()
    it("listens on a free loopback port", function()
      assert.is_number(srv.port)
      assert.are.equal("http://127.0.0.1:" .. srv.port, srv.url)
    end)

    it("rejects unknown options and wrong types, naming the option", function()
      assert.has.error(function() mock.start { nope = 1 } end, "bad option 'nope' (unknown option)")
      assert.has.error(function() mock.start { rpm = "x" } end, "bad option 'rpm' (number expected, got string)")
      assert.has.error(function() mock.start { port = 1.5 } end,
        "bad option 'port' (integer between 0 and 65535 expected)")
      assert.has.error(function() mock.start { api_key = 3 } end,
        "bad option 'api_key' (string expected, got number)")
      assert.has.error(function() mock.start { faults = "foo:0.1" } end,
        "bad option 'faults' (bad fault 'foo': unknown fault name)")
    end)

    it("blames the caller's line, not mock.lua, for a bad option", function()
      local ok, err = pcall(function() mock.start { bogus = 1 } end)
      assert.is_false(ok)
      assert.truthy(err:find("^[^:]*mock_spec%.lua:%d+: bad option 'bogus' %(unknown option%)$"), err)
      ok, err = pcall(function() mock.run { bogus = 1 } end)
      assert.is_false(ok)
      assert.truthy(err:find("^[^:]*mock_spec%.lua:%d+: bad option 'bogus'"), err)
      ok, err = pcall(function() mock.start { faults = "foo:0.1" } end)
      assert.is_false(ok)
      assert.truthy(err:find("^[^:]*mock_spec%.lua:%d+: bad option 'faults'"), err)
    end)

    it("names the function that was called for a non-table argument", function()
      local ok, err = pcall(function() mock.start(5) end)
      assert.is_false(ok)
      assert.truthy(err:find("^[^:]*mock_spec%.lua:%d+: bad argument #1 to 'start' %(table expected, got number%)$"),
        err)
      ok, err = pcall(function() mock.run(5) end)
      assert.is_false(ok)
      assert.truthy(err:find("^[^:]*mock_spec%.lua:%d+: bad argument #1 to 'run' %(table expected, got number%)$"), err)
    end)

    it("closes idempotently, and refuses use after close", function()
      srv:close()
      srv:close()
      assert.has.error(function() srv:stats() end, "attempt to use a closed mock server")
      srv = nil
    end)

    it("raises a clear error when the port is taken", function()
      assert.has.error(function() mock.start { port = srv.port } end,
        "mock server: cannot listen on 127.0.0.1:" .. srv.port .. ": Address already in use")
    end)

    it("stops a server that is garbage-collected", function()
      local port = mock.start {}.port
      collectgarbage()
      collectgarbage()
      assert.are.equal(0, (http("GET", "http://127.0.0.1:" .. port .. "/stats", nil, { timeout = 2 })))
    end)

    it("supports to-be-closed variables", function()
      local port
      do
        local s <close> = mock.start {}
        port = s.port
      end
      local status = http("GET", "http://127.0.0.1:" .. port .. "/stats", nil, { timeout = 2 })
      assert.are.equal(0, status)
    end)
  end)

  describe("run()", function()
    it("prints the URL first, serves, and returns on SIGTERM", function()
      local out = tmp .. "/run.out"
      local build = helpers.child_build()
      local script = ("package.path = 'lua/?.lua;' .. package.path; package.cpath = %q .. '/?.so;' .. package.cpath;"
        .. " io.stdout:setvbuf('full'); local r = require('coursegen.mock').run{}; print('stopped by ' .. r)")
        :format(build)
      local pid = run(("lua5.4 -e %s > %s 2>&1 & echo $!"):format(q(script), q(out))):match("%d+")
      assert.is_true(wait_for(function() return (helpers.readfile(out) or ""):find("\n") ~= nil end))
      local url = helpers.readfile(out):match("^listening on (http://127%.0%.0%.1:%d+)\n")
      assert.is_string(url)
      assert.are.equal(200, (http("GET", url .. "/stats")))
      os.execute("kill -TERM " .. pid)
      assert.is_true(wait_for(function() return (helpers.readfile(out) or ""):find("stopped by SIGTERM") ~= nil end))
    end)
  end)

  describe("parse_faults()", function()
    it("parses names, probabilities and arguments", function()
      local f = mock.parse_faults("503:0.05, 429:2s:0.1,slow:250:0.5,reset:0.01")
      assert.are.same({ name = "503", probability = 0.05 }, f[1])
      assert.are.same({ name = "429", probability = 0.1, ms = 2000 }, f[2])
      assert.are.same({ name = "slow", probability = 0.5, ms = 250 }, f[3])
      assert.are.equal("reset", f[4].name)
    end)

    it("raises a clear error for a bad spec", function()
      assert.has.error(function() mock.parse_faults("foo:0.1") end,
        "bad fault 'foo' in --faults: unknown fault name")
      assert.has.error(function() mock.parse_faults("503") end,
        "bad fault '503' in --faults: expected NAME:PROBABILITY")
      assert.has.error(function() mock.parse_faults("503:2") end,
        "bad fault '503:2' in --faults: probability must be a number between 0 and 1")
    end)

    it("keeps a fault spec that looks like a file:line prefix intact", function()
      local ok, err = pcall(mock.parse_faults, "foo:12: bar")
      assert.is_false(ok)
      assert.truthy(err:find("^bad fault 'foo:12: bar' in %-%-faults: "), err)
    end)
  end)

  describe("Gemini", function()
    it("answers generateContent quoting the title, with usage that adds up", function()
      local status, body, h = http("POST", gen_url(srv), gemini_body("# Intro to Lua\n\nWrite the chapter."))
      assert.are.equal(200, status)
      assert.matches("^application/json", h["content-type"])
      assert.is_nil(h["retry-after"])
      local r = cjson.decode(body)
      local c = r.candidates[1]
      assert.are.equal("STOP", c.finishReason)
      assert.are.equal("model", c.content.role)
      assert.matches("^# Intro to Lua\n", c.content.parts[1].text)
      assert.matches("```", c.content.parts[1].text)
      local u = r.usageMetadata
      assert.are.equal(math.ceil(#c.content.parts[1].text / 4), u.candidatesTokenCount)
      assert.are.equal(u.promptTokenCount + u.candidatesTokenCount, u.totalTokenCount)
      assert.are.equal("gemini-2.5-flash", r.modelVersion)
      assert.is_string(r.responseId)
      assert_same_shape(r, fixture("firebase/googleai/unary-success-basic-reply-short.json"), {
        "candidates", "candidates[].content", "candidates[].content.parts", "candidates[].content.parts[].text",
        "candidates[].content.role", "candidates[].finishReason", "usageMetadata.promptTokenCount",
        "usageMetadata.candidatesTokenCount", "usageMetadata.totalTokenCount", "modelVersion" })
      local rec = recording(
        "Client_Tests_generateContent_ML_Dev_should_generate_content_with_specified_parameters.json")
      assert_same_shape(r, rec.bodySegments[1], { "responseId", "candidates[].index",
        "usageMetadata.promptTokensDetails[].modality" })
    end)

    it("is deterministic for the same prompt and seed", function()
      local _, a = http("POST", gen_url(srv), gemini_body("Same prompt"))
      local _, b = http("POST", gen_url(srv), gemini_body("Same prompt"))
      assert.are.equal(cjson.decode(a).candidates[1].content.parts[1].text,
                       cjson.decode(b).candidates[1].content.parts[1].text)
    end)

    it("accepts snake_case system_instruction and counts its tokens", function()
      local _, a = http("POST", gen_url(srv), gemini_body("Topic"))
      local _, b = http("POST", gen_url(srv), gemini_body("Topic",
        { system_instruction = { parts = { { text = string.rep("x", 400) } } } }))
      assert.are.equal(cjson.decode(a).usageMetadata.promptTokenCount + 100,
                       cjson.decode(b).usageMetadata.promptTokenCount)
    end)

    it("honours maxOutputTokens with MAX_TOKENS", function()
      local _, body = http("POST", gen_url(srv), gemini_body("Long one",
        { generationConfig = { maxOutputTokens = 20 } }))
      local r = cjson.decode(body)
      assert.are.equal("MAX_TOKENS", r.candidates[1].finishReason)
      assert.are.equal(20, r.usageMetadata.candidatesTokenCount)
      assert.is_true(#r.candidates[1].content.parts[1].text <= 80)
    end)

    it("streams SSE with cumulative usage and finishReason on the last event only", function()
      local status, body, h = http("POST", gen_url(srv, nil, "streamGenerateContent?alt=sse"),
        gemini_body("## Streams\nGo"))
      assert.are.equal(200, status)
      assert.are.equal("text/event-stream", h["content-type"])
      local ev = sse_events(body, "\r\n\r\n")
      assert.is_true(#ev >= 2)
      local text, prev, id = "", 0, nil
      for i, e in ipairs(ev) do
        local r = cjson.decode(e)
        local c = r.candidates[1]
        text = text .. c.content.parts[1].text
        assert.is_true(r.usageMetadata.candidatesTokenCount > prev)
        prev = r.usageMetadata.candidatesTokenCount
        assert.are.equal(r.usageMetadata.promptTokenCount + prev, r.usageMetadata.totalTokenCount)
        id = id or r.responseId
        assert.are.equal(id, r.responseId)
        if i < #ev then assert.is_nil(c.finishReason) else assert.are.equal("STOP", c.finishReason) end
      end
      assert.matches("^# Streams\n", text)
      assert.are.equal(math.ceil(#text / 4), prev)
      local want = helpers.readfile(FIX .. "firebase/googleai/streaming-success-basic-reply-short.txt")
      local fev = sse_events(want, "\r\n\r\n")
      assert_same_shape(cjson.decode(ev[#ev]), cjson.decode(fev[#fev]), { "candidates[].content.parts[].text",
        "candidates[].finishReason", "usageMetadata.totalTokenCount", "modelVersion" })
    end)

    it("streams one JSON array without alt=sse", function()
      local _, body, h = http("POST", gen_url(srv, nil, "streamGenerateContent"), gemini_body("Arrays"))
      assert.matches("^application/json", h["content-type"])
      local arr = cjson.decode(body)
      assert.is_true(#arr >= 1)
      assert.are.equal("STOP", arr[#arr].candidates[1].finishReason)
    end)

    it("reads alt=sse as a whole query parameter", function()
      local _, _, h = http("POST", gen_url(srv, nil, "streamGenerateContent?foo=1&alt=sse"), gemini_body("Amp"))
      assert.are.equal("text/event-stream", h["content-type"])
      _, _, h = http("POST", gen_url(srv, nil, "streamGenerateContent?alt=ssex"), gemini_body("Ssex"))
      assert.matches("^application/json", h["content-type"])
      _, _, h = http("POST", gen_url(srv, nil, "streamGenerateContent?salt=sse"), gemini_body("Salt"))
      assert.matches("^application/json", h["content-type"])
    end)

    it("reports thinking tokens when a thinkingBudget is set", function()
      local _, body = http("POST", gen_url(srv), gemini_body("Think", {
        generationConfig = { thinkingConfig = { thinkingBudget = 30 } } }))
      local u = cjson.decode(body).usageMetadata
      assert.are.equal(30, u.thoughtsTokenCount)
      assert.are.equal(u.promptTokenCount + u.candidatesTokenCount + 30, u.totalTokenCount)
    end)

    it("takes a large body (Expect: 100-continue)", function()
      local status, body = http("POST", gen_url(srv), gemini_body("# Big\n" .. string.rep("word ", 400000)))
      assert.are.equal(200, status)
      local r = cjson.decode(body)
      assert.matches("^# Big\n", r.candidates[1].content.parts[1].text)
      assert.is_true(r.usageMetadata.promptTokenCount > 500000)
    end)

    it("counts tokens", function()
      local _, body = http("POST", gen_url(srv, nil, "countTokens"), gemini_body(string.rep("a", 40)))
      local r = cjson.decode(body)
      assert.are.equal(10, r.totalTokens)
      local rec = recording("Client_Tests_countTokens_ML_Dev_should_count_tokens_with_specified_parameters.json")
      assert_same_shape(r, rec.bodySegments[1], { "totalTokens", "promptTokensDetails[].tokenCount" })
    end)

    it("answers JSON that fits a responseJsonSchema", function()
      local schema = { type = "object", required = { "title", "chapters" }, properties = {
        title = { type = "string" },
        chapters = { type = "array", minItems = 4, items = { type = "object", properties = {
          title = { type = "string" }, minutes = { type = "integer", minimum = 5, maximum = 30 },
          optional = { type = "boolean" } } } } } }
      local _, body = http("POST", gen_url(srv), gemini_body("# Course on C\nPlan it.", {
        generationConfig = { responseMimeType = "application/json", responseJsonSchema = schema } }))
      local r = cjson.decode(body)
      local out = cjson.decode(r.candidates[1].content.parts[1].text)
      assert.is_string(out.title)
      assert.matches("Course on C", out.title)
      assert.are.equal(4, #out.chapters)
      local seen = {}
      for _, ch in ipairs(out.chapters) do
        assert.is_string(ch.title)
        assert.is_nil(seen[ch.title])
        seen[ch.title] = true
        assert.are.equal(math.floor(ch.minutes), ch.minutes)
        assert.is_true(ch.minutes >= 5 and ch.minutes <= 30)
        assert.is_boolean(ch.optional)
      end
    end)

    it("bounds the work a hostile schema can cause", function()
      local schema = { type = "string" }
      for _ = 1, 6 do schema = { type = "array", minItems = 1000, items = schema } end
      local status, body = http("POST", gen_url(srv), gemini_body("Bomb", {
        generationConfig = { responseMimeType = "application/json", responseJsonSchema = schema } }))
      assert.are.equal(200, status)
      assert.is_table(cjson.decode(cjson.decode(body).candidates[1].content.parts[1].text))
    end)

    it("quotes the title when the directive has a line of its own", function()
      local _, body = http("POST", gen_url(srv), gemini_body("[[mock:slow:1]]\n\n## Real Title [[mock:slow:1]]\nmore"))
      assert.matches("^# Real Title\n", cjson.decode(body).candidates[1].content.parts[1].text)
    end)

    it("accepts an OpenAPI responseSchema with upper-case types", function()
      local schema = { type = "ARRAY", items = { type = "STRING" } }
      local _, body = http("POST", gen_url(srv), gemini_body("Lists", {
        generationConfig = { responseMimeType = "application/json", responseSchema = schema } }))
      local out = cjson.decode(cjson.decode(body).candidates[1].content.parts[1].text)
      assert.are.equal(3, #out)
    end)
  end)

  describe("OpenAI", function()
    local url
    before_each(function() url = srv.url .. "/v1/chat/completions" end)

    it("answers chat.completion with usage that adds up", function()
      local status, body = http("POST", url, openai_body("# Pointers\nExplain."))
      assert.are.equal(200, status)
      local r = cjson.decode(body)
      assert.are.equal("chat.completion", r.object)
      assert.are.equal("gpt-test", r.model)
      assert.matches("^chatcmpl%-", r.id)
      local ch = r.choices[1]
      assert.are.equal("assistant", ch.message.role)
      assert.are.equal("stop", ch.finish_reason)
      assert.matches("^# Pointers\n", ch.message.content)
      assert.are.equal(math.ceil(#ch.message.content / 4), r.usage.completion_tokens)
      assert.are.equal(r.usage.prompt_tokens + r.usage.completion_tokens, r.usage.total_tokens)
    end)

    it("serves /chat/completions and array content parts too", function()
      local body = cjson.encode { messages = { { role = "user", content = {
        { type = "text", text = "# Arrays of parts" } } } } }
      local status, out = http("POST", srv.url .. "/chat/completions", body)
      assert.are.equal(200, status)
      assert.matches("^# Arrays of parts", cjson.decode(out).choices[1].message.content)
    end)

    it("honours max_completion_tokens with finish_reason length", function()
      local _, body = http("POST", url, openai_body("Cut", { max_completion_tokens = 10 }))
      local r = cjson.decode(body)
      assert.are.equal("length", r.choices[1].finish_reason)
      assert.are.equal(10, r.usage.completion_tokens)
    end)

    it("streams chunks, a usage chunk and [DONE]", function()
      local _, body, h = http("POST", url, openai_body("# Streaming\n",
        { stream = true, stream_options = { include_usage = true } }))
      assert.are.equal("text/event-stream", h["content-type"])
      local ev = sse_events(body, "\n\n")
      assert.are.equal("[DONE]", ev[#ev])
      local text, finish = "", nil
      for i = 1, #ev - 2 do
        local c = cjson.decode(ev[i])
        assert.are.equal("chat.completion.chunk", c.object)
        assert.are.equal(cjson.null, c.usage)
        text = text .. (c.choices[1].delta.content or "")
        finish = c.choices[1].finish_reason
      end
      assert.are.equal("stop", finish)
      local u = cjson.decode(ev[#ev - 1])
      assert.are.same({}, u.choices)
      assert.are.equal(math.ceil(#text / 4), u.usage.completion_tokens)
      assert.matches("^# Streaming\n", text)
    end)

    it("answers JSON that fits response_format.json_schema", function()
      local schema = { type = "object", properties = { items = { type = "array", minItems = 2,
        items = { type = "string" } } } }
      local _, body = http("POST", url, openai_body("Schema", { response_format = {
        type = "json_schema", json_schema = { name = "x", schema = schema } } }))
      local out = cjson.decode(cjson.decode(body).choices[1].message.content)
      assert.are.equal(2, #out.items)
      assert.are_not.equal(out.items[1], out.items[2])
    end)
  end)

  describe("fault directives", function()
    local gemini_errors = {
      { "400", 400, "INVALID_ARGUMENT" }, { "401", 401, "UNAUTHENTICATED" }, { "403", 403, "PERMISSION_DENIED" },
      { "404", 404, "NOT_FOUND" }, { "500", 500, "INTERNAL" }, { "503", 503, "UNAVAILABLE" },
      { "504", 504, "DEADLINE_EXCEEDED" }, { "429bare", 429, "RESOURCE_EXHAUSTED" },
    }
    for _, case in ipairs(gemini_errors) do
      it("Gemini " .. case[1], function()
        local status, body, h = http("POST", gen_url(srv), gemini_body("T [[mock:" .. case[1] .. "]]"))
        assert.are.equal(case[2], status)
        assert.matches("^{\n  \"error\": {\n    \"code\": " .. case[2] .. ",\n    \"message\": ", body)
        assert.matches("\n$", body)
        local e = cjson.decode(body).error
        assert.are.equal(case[3], e.status)
        assert.is_nil(h["retry-after"])
      end)
    end

    it("Gemini 503 has the overloaded message", function()
      local _, body = http("POST", gen_url(srv), gemini_body("[[mock:503]]"))
      assert.are.equal("The model is overloaded. Please try again later.", cjson.decode(body).error.message)
    end)

    it("Gemini 403 and 404 have the recorded shapes", function()
      local _, body = http("POST", gen_url(srv), gemini_body("[[mock:403]]"))
      assert_same_shape(cjson.decode(body),
        fixture("firebase/googleai/unary-failure-generativelanguage-api-not-enabled.json"),
        { "error.code", "error.message", "error.status", "error.details[].@type" })
      local _, b404, h = http("POST", gen_url(srv, "custom", "streamGenerateContent?alt=sse"),
        gemini_body("[[mock:404]]"))
      assert.are.equal("text/event-stream", h["content-type"])
      local rec = recording("Chats_Tests_sendMessage_Send_message_stream_with_error.json")
      assert.are.equal(404, rec.statusCode)
      assert_same_shape(cjson.decode(b404), rec.bodySegments[1], { "error.code", "error.message", "error.status" })
      assert.matches("models/custom is not found", b404, 1, true)
    end)

    it("Gemini 429 carries QuotaFailure, Help and RetryInfo, and 429:2s sets the delay", function()
      local status, body, h = http("POST", gen_url(srv), gemini_body("[[mock:429:2s]]"))
      assert.are.equal(429, status)
      assert.is_nil(h["retry-after"])
      local e = cjson.decode(body).error
      local types = {}
      for _, d in ipairs(e.details) do types[d["@type"]:match("rpc%.(%w+)$")] = d end
      assert.is_table(types.QuotaFailure)
      assert.is_table(types.Help)
      assert.are.equal("2s", types.RetryInfo.retryDelay)
    end)

    it("Gemini 429day and quota name a per-day quota", function()
      for _, f in ipairs { "429day", "quota" } do
        local status, body = http("POST", gen_url(srv), gemini_body("[[mock:" .. f .. "]]"))
        assert.are.equal(429, status)
        assert.matches("GenerateRequestsPerDayPerProjectPerModel", body, 1, true)
      end
    end)

    it("Gemini empty, thought, maxtokens, safety, recitation, blocked", function()
      local function ask(f, extra)
        local _, body = http("POST", gen_url(srv), gemini_body("# Faults\n[[mock:" .. f .. "]]", extra))
        return cjson.decode(body)
      end
      local r = ask("empty")
      assert.are.equal("", r.candidates[1].content.parts[1].text)
      assert.are.equal("STOP", r.candidates[1].finishReason)
      assert.is_nil(r.usageMetadata.candidatesTokenCount)
      r = ask("thought", { generationConfig = { maxOutputTokens = 30 } })
      assert.is_true(r.candidates[1].content.parts[1].thought)
      assert.are.equal(1, #r.candidates[1].content.parts)
      assert.are.equal("MAX_TOKENS", r.candidates[1].finishReason)
      assert.is_nil(r.usageMetadata.candidatesTokenCount)
      assert.are.equal(30, r.usageMetadata.thoughtsTokenCount)
      assert.are.equal(r.usageMetadata.promptTokenCount + 30, r.usageMetadata.totalTokenCount)
      r = ask("maxtokens")
      assert.are.equal("MAX_TOKENS", r.candidates[1].finishReason)
      assert.matches("^# Faults", r.candidates[1].content.parts[1].text)
      r = ask("safety")
      assert.are.equal("SAFETY", r.candidates[1].finishReason)
      assert.is_nil(r.candidates[1].content)
      assert_same_shape(r, fixture("firebase/googleai/unary-failure-finish-reason-safety.json"),
        { "candidates[].finishReason", "candidates[].safetyRatings[].category" })
      r = ask("recitation")
      assert.are.equal("RECITATION", r.candidates[1].finishReason)
      assert.is_nil(r.candidates[1].content)
      r = ask("blocked")
      assert.is_nil(r.candidates)
      assert.are.equal("SAFETY", r.promptFeedback.blockReason)
      local want = helpers.readfile(FIX .. "firebase/googleai/streaming-failure-prompt-blocked-safety.txt")
      assert_same_shape(r, cjson.decode(want:match("^data: (.-)\r\n")),
        { "promptFeedback.blockReason", "promptFeedback.safetyRatings[].probability" })
    end)

    it("Gemini streams fault answers as events", function()
      local _, body = http("POST", gen_url(srv, nil, "streamGenerateContent?alt=sse"),
        gemini_body("[[mock:safety]]"))
      local ev = sse_events(body, "\r\n\r\n")
      assert.are.equal(1, #ev)
      assert.are.equal("SAFETY", cjson.decode(ev[1]).candidates[1].finishReason)
      local status, b503, h = http("POST", gen_url(srv, nil, "streamGenerateContent?alt=sse"),
        gemini_body("[[mock:503]]"))
      assert.are.equal(503, status)
      assert.are.equal("text/event-stream", h["content-type"])
      assert.are.equal("UNAVAILABLE", cjson.decode(b503).error.status)
    end)

    local openai_errors = {
      { "400", 400, "invalid_request_error" }, { "401", 401, "invalid_request_error", "invalid_api_key" },
      { "403", 403, "request_forbidden", "unsupported_country_region_territory" },
      { "404", 404, "invalid_request_error", "model_not_found" },
      { "500", 500, "server_error" }, { "503", 503, "server_error" }, { "504", 504, "server_error" },
      { "429bare", 429, "requests", "rate_limit_exceeded" }, { "429day", 429, "requests", "rate_limit_exceeded" },
      { "quota", 429, "insufficient_quota", "insufficient_quota" },
    }
    for _, case in ipairs(openai_errors) do
      it("OpenAI " .. case[1], function()
        local status, body = http("POST", srv.url .. "/v1/chat/completions", openai_body("[[mock:" .. case[1] .. "]]"))
        assert.are.equal(case[2], status)
        local e = cjson.decode(body).error
        assert.are.equal(case[3], e.type)
        assert.are.equal(case[4] or cjson.null, e.code)
        assert.are.equal(cjson.null, e.param)
        assert.is_string(e.message)
      end)
    end

    it("OpenAI 429 carries retry-after and x-ratelimit headers", function()
      local status, body, h = http("POST", srv.url .. "/v1/chat/completions", openai_body("[[mock:429:1.5s]]"))
      assert.are.equal(429, status)
      assert.are.equal("2", h["retry-after"])
      assert.are.equal("1500", h["retry-after-ms"])
      assert.are.equal("1.5s", h["x-ratelimit-reset-requests"])
      assert.matches("Please try again in 1.5s.", cjson.decode(body).error.message, 1, true)
    end)

    it("OpenAI 429 directive without a limit sends the default request headers, once", function()
      local _, _, h = http("POST", srv.url .. "/v1/chat/completions", openai_body("[[mock:429:2s]]"))
      assert.are.equal("60", h["x-ratelimit-limit-requests"])
      assert.are.equal("0", h["x-ratelimit-remaining-requests"])
      assert.are.equal("2s", h["x-ratelimit-reset-requests"])
      assert.is_nil(h["x-ratelimit-limit-tokens"])
    end)

    it("OpenAI remaining headers are whole numbers of what the buckets hold", function()
      local s <close> = mock.start { rpm = 600, burst = 5, tpm = 600000 }
      local _, _, h = http("POST", s.url .. "/v1/chat/completions", openai_body("a"))
      assert.are.equal("600", h["x-ratelimit-limit-requests"])
      assert.matches("^[34]$", h["x-ratelimit-remaining-requests"])
      assert.are.equal("600000", h["x-ratelimit-limit-tokens"])
      assert.matches("^%d+$", h["x-ratelimit-remaining-tokens"])
      assert.is_true(tonumber(h["x-ratelimit-remaining-tokens"]) < 10000)
      assert.matches("^[%d.]+m?s$", h["x-ratelimit-reset-tokens"])
    end)

    it("OpenAI empty, thought, maxtokens, safety, recitation, blocked", function()
      local function ask(f)
        local _, body = http("POST", srv.url .. "/v1/chat/completions", openai_body("# F\n[[mock:" .. f .. "]]"))
        return cjson.decode(body)
      end
      local r = ask("empty")
      assert.are.equal("", r.choices[1].message.content)
      assert.are.equal("stop", r.choices[1].finish_reason)
      r = ask("thought")
      assert.are.equal("", r.choices[1].message.content)
      assert.are.equal("length", r.choices[1].finish_reason)
      assert.is_true(r.usage.completion_tokens_details.reasoning_tokens > 0)
      r = ask("maxtokens")
      assert.are.equal("length", r.choices[1].finish_reason)
      for _, f in ipairs { "safety", "recitation", "blocked" } do
        r = ask(f)
        assert.are.equal("content_filter", r.choices[1].finish_reason)
        assert.are.equal(cjson.null, r.choices[1].message.content)
      end
    end)

    for _, dialect in ipairs { "Gemini", "OpenAI" } do
      local function post(srv_, text, opts)
        if dialect == "Gemini" then return http("POST", gen_url(srv_), gemini_body(text), opts) end
        return http("POST", srv_.url .. "/v1/chat/completions", openai_body(text), opts)
      end

      it(dialect .. " malformed, truncated, reset", function()
        local status, body = post(srv, "[[mock:malformed]]")
        assert.are.equal(200, status)
        assert.is_false(pcall(cjson.decode, body))
        local _, _, _, exit = post(srv, "[[mock:truncated]]")
        assert.are.equal(18, exit) -- CURLE_PARTIAL_FILE
        status, _, _, exit = post(srv, "[[mock:reset]]")
        assert.are.equal(0, status)
        assert.are.equal(56, exit) -- CURLE_RECV_ERROR
        local st = srv:stats()
        assert.are.equal(1, st.faults.reset)
        assert.are.equal(1, st.faults.truncated)
      end)

      it(dialect .. " slow:MS delays the answer", function()
        local t0 = now()
        local status = post(srv, "[[mock:slow:300]]")
        local dt = now() - t0
        assert.are.equal(200, status)
        assert.is_true(dt >= 0.29 and dt < 2, "took " .. dt)
      end)

      it(dialect .. " stall holds the request until the client gives up", function()
        local status, _, _, exit = post(srv, "[[mock:stall]]", { timeout = 0.5 })
        assert.are.equal(0, status)
        assert.are.equal(28, exit) -- CURLE_OPERATION_TIMEDOUT
        assert.is_true(wait_for(function() return srv:stats().in_flight == 0 end))
      end)
    end

    it("midstream ends a stream with an error object (extra fault)", function()
      local _, body = http("POST", gen_url(srv, nil, "streamGenerateContent?alt=sse"),
        gemini_body("# Mid\n[[mock:midstream]]"))
      local first, rest = body:match("^data: (.-)\r\n\r\n(.*)$")
      assert.matches("^# Mid", cjson.decode(first).candidates[1].content.parts[1].text)
      assert.are.equal("CANCELLED", cjson.decode(rest).error.status)
      local _, ob = http("POST", srv.url .. "/v1/chat/completions",
        openai_body("[[mock:midstream]]", { stream = true }))
      local ev = sse_events(ob, "\n\n")
      assert.are.equal("server_error", cjson.decode(ev[#ev]).error.type)
      assert.is_nil(ob:find("[DONE]", 1, true))
      local _, _, _, exit = http("POST", gen_url(srv), gemini_body("unary [[mock:midstream]]"))
      assert.are.equal(18, exit)
    end)

    it("html404 answers Google's HTML page (extra fault)", function()
      local status, body, h = http("POST", gen_url(srv), gemini_body("[[mock:html404]]"))
      assert.are.equal(404, status)
      assert.matches("^text/html", h["content-type"])
      assert.matches("Error 404 (Not Found)!!1", body, 1, true)
      status = http("POST", srv.url .. "/v1/chat/completions", openai_body("oa [[mock:html404]]"))
      assert.are.equal(404, status)
    end)

    it("applies the n-th listed fault to the n-th identical prompt, then answers", function()
      local text = "# Sequence\n[[mock:503,429bare,500]]"
      local got = {}
      for i = 1, 4 do got[i] = http("POST", gen_url(srv), gemini_body(text)) end
      assert.are.same({ 503, 429, 500, 200 }, got)
      -- a different prompt has its own count
      assert.are.equal(503, (http("POST", gen_url(srv), gemini_body("# Other\n[[mock:503,429bare,500]]"))))
    end)

    it("repeats F* forever", function()
      for i = 1, 3 do
        assert.are.equal(i == 1 and 503 or 500, (http("POST", gen_url(srv), gemini_body("[[mock:503,500*]]x"))))
      end
      local s = srv:stats()
      assert.are.equal(1, s.status["503"])
      assert.are.equal(2, s.status["500"])
    end)
  end)

  describe("probabilistic faults", function()
    it("are deterministic for a seed", function()
      local function pattern()
        local s <close> = mock.start { seed = 42, faults = "503:0.3,500:0.2" }
        local out = {}
        for i = 1, 12 do out[i] = http("POST", gen_url(s), gemini_body("p" .. i)) end
        return table.concat(out, ",")
      end
      local a, b = pattern(), pattern()
      assert.are.equal(a, b)
      assert.matches("503", a)
      assert.matches("200", a)
    end)
  end)

  describe("rate limit", function()
    it("answers Gemini 429 with RetryInfo after the rpm bucket is empty", function()
      local s <close> = mock.start { rpm = 60, burst = 1 }
      local codes, body = {}, {}
      local h
      for i = 1, 3 do codes[i], body[i], h = http("POST", gen_url(s), gemini_body("r" .. i)) end
      assert.are.same({ 200, 429, 429 }, codes)
      assert.is_nil(h["retry-after"])
      assert.matches('^{\n  "error": {\n    "code": 429,', body[2])
      local e = cjson.decode(body[2]).error
      assert.are.equal("RESOURCE_EXHAUSTED", e.status)
      local delay
      for _, d in ipairs(e.details) do delay = delay or d.retryDelay end
      assert.matches("^%d+%.?%d*s$", delay)
      local secs = tonumber(delay:sub(1, -2))
      assert.is_true(secs > 0 and secs <= 1)
      assert.are.equal(2, s:stats().rate_limited)
    end)

    it("answers OpenAI 429 with retry and x-ratelimit headers", function()
      local s <close> = mock.start { rpm = 60, burst = 1, tpm = 100000 }
      local st1, _, h1 = http("POST", s.url .. "/v1/chat/completions", openai_body("a"))
      assert.are.equal(200, st1)
      assert.are.equal("60", h1["x-ratelimit-limit-requests"])
      local st, body, h = http("POST", s.url .. "/v1/chat/completions", openai_body("b"))
      assert.are.equal(429, st)
      local e = cjson.decode(body).error
      assert.are.equal("rate_limit_exceeded", e.code)
      assert.are.equal("requests", e.type)
      assert.matches("Please try again in [%d.]+m?s%.", e.message)
      assert.are.equal("1", h["retry-after"])
      assert.is_true(tonumber(h["retry-after-ms"]) > 0)
      assert.are.equal("60", h["x-ratelimit-limit-requests"])
      assert.are.equal("0", h["x-ratelimit-remaining-requests"])
      assert.matches("^%d+m?s$", h["x-ratelimit-reset-requests"])
      assert.are.equal("100000", h["x-ratelimit-limit-tokens"])
      assert.is_string(h["x-ratelimit-remaining-tokens"])
      assert.is_string(h["x-ratelimit-reset-tokens"])
    end)

    it("limits tokens per minute", function()
      local s <close> = mock.start { tpm = 600, answer_words = 50 } -- 10 tokens/s, capacity 10
      local a = http("POST", gen_url(s), gemini_body("t1"))
      local b, body = http("POST", gen_url(s), gemini_body("t2"))
      assert.are.equal(200, a)
      assert.are.equal(429, b)
      assert.matches("GenerateContentInputTokensPerModelPerMinute", body, 1, true)
    end)
  end)

  describe("API key", function()
    it("Gemini: header or ?key=, else 400 API_KEY_INVALID", function()
      local s <close> = mock.start { api_key = "sekrit" }
      local st = http("POST", gen_url(s), gemini_body("k"), { headers = { "x-goog-api-key: sekrit" } })
      assert.are.equal(200, st)
      st = http("POST", gen_url(s) .. "?key=sekrit", gemini_body("k"))
      assert.are.equal(200, st)
      local body
      st, body = http("POST", gen_url(s), gemini_body("k"), { headers = { "x-goog-api-key: wrong" } })
      assert.are.equal(400, st)
      local got = cjson.decode(body)
      assert.are.equal("API_KEY_INVALID", got.error.details[1].reason)
      assert_same_shape(got, fixture("firebase/googleai/unary-failure-api-key.json"), {
        "error.code", "error.message", "error.status", "error.details[].@type", "error.details[].reason",
        "error.details[].metadata.service" })
      assert.are.equal(400, (http("POST", gen_url(s), gemini_body("k"))))
      local stats = s:stats()
      assert.are.equal(1, stats.key_in_url)
      assert.are.equal(2, stats.status["400"])
    end)

    it("Gemini: takes ?key= among other parameters, but not a parameter ending in key", function()
      local s <close> = mock.start { api_key = "sekrit" }
      assert.are.equal(200, (http("POST", gen_url(s) .. "?alt=json&key=sekrit", gemini_body("k"))))
      assert.are.equal(400, (http("POST", gen_url(s) .. "?xkey=sekrit", gemini_body("k"))))
      assert.are.equal(400, (http("POST", gen_url(s) .. "?key=sekritx", gemini_body("k"))))
      assert.are.equal(2, s:stats().key_in_url) -- the first and the wrong key; not xkey=
    end)

    it("OpenAI: Authorization Bearer, else 401 invalid_api_key", function()
      local s <close> = mock.start { api_key = "sekrit" }
      local url = s.url .. "/v1/chat/completions"
      assert.are.equal(200, (http("POST", url, openai_body("k"), { headers = { "Authorization: Bearer sekrit" } })))
      local st, body = http("POST", url, openai_body("k"), { headers = { "Authorization: Bearer nope" } })
      assert.are.equal(401, st)
      assert.are.equal("invalid_api_key", cjson.decode(body).error.code)
    end)
  end)

  describe("/stats", function()
    it("counts requests, statuses, faults and connections", function()
      http("POST", gen_url(srv), gemini_body("a"))
      http("POST", gen_url(srv), gemini_body("[[mock:503]]"))
      http("POST", srv.url .. "/v1/chat/completions", openai_body("[[mock:empty]]"))
      local status, body = http("GET", srv.url .. "/stats")
      assert.are.equal(200, status)
      local s = cjson.decode(body)
      assert.are.equal(3, s.requests)
      assert.are.equal(2, s.status["200"])
      assert.are.equal(1, s.status["503"])
      assert.are.equal(1, s.faults["503"])
      assert.are.equal(1, s.faults.empty)
      assert.are.equal(1, s.max_concurrent)
      assert.are.equal(0, s.in_flight)
      assert.are.equal(3, s.requests_last_minute)
      assert.are.equal(1, s.connections) -- the /stats request's own
      assert.are.equal(0, s.key_in_url)
      local l = srv:stats()
      assert.are.equal(3, l.requests)
      assert.are.equal(2, l.status["200"])
      assert.are.equal(http("DELETE", srv.url .. "/stats"), 200)
      assert.are.equal(0, srv:stats().requests)
      http("POST", gen_url(srv), gemini_body("b"))
      srv:reset_stats()
      assert.are.same({}, srv:stats().status)
    end)

    it("lists the arrival and the named wait of each injected 429 that names one", function()
      http("DELETE", srv.url .. "/stats")
      http("POST", gen_url(srv), gemini_body("h1"))
      http("POST", gen_url(srv), gemini_body("h2 [[mock:429:2.5s]]"))
      http("POST", gen_url(srv), gemini_body("h3 [[mock:429bare]]"))
      http("POST", gen_url(srv), gemini_body("h4 [[mock:429]]"))
      local _, body = http("GET", srv.url .. "/stats")
      assert.are.same({ { 2, 2500 }, { 4, 1000 } }, cjson.decode(body).hinted_429)
      srv:reset_stats()
      _, body = http("GET", srv.url .. "/stats")
      assert.are.same({}, cjson.decode(body).hinted_429)
    end)

    it("sees concurrent requests", function()
      local s <close> = mock.start { latency_ms = 300 }
      local cmd = {}
      for i = 1, 5 do
        helpers.writefile(tmp .. "/c" .. i, gemini_body("c" .. i))
        cmd[#cmd + 1] = ("%s -s -o /dev/null --data-binary @%s %s &"):format(CURL, q(tmp .. "/c" .. i), q(gen_url(s)))
      end
      run(table.concat(cmd, " ") .. " wait")
      local st = s:stats()
      assert.are.equal(5, st.requests)
      assert.are.equal(5, st.max_concurrent)
      assert.are.equal(0, st.in_flight)
    end)
  end)

  describe("hostile input", function()
    local function raw(port, bytes)
      local f = tmp .. "/raw" .. seq
      seq = seq + 1
      helpers.writefile(f, bytes)
      return run(("timeout 5 bash -c 'exec 3<>/dev/tcp/127.0.0.1/%d; cat %s >&3; cat <&3'"):format(port, q(f)))
    end

    it("answers a malformed request line with 400 and survives", function()
      local out = raw(srv.port, "GARBAGE\r\n\r\n")
      assert.matches("^HTTP/1.1 400 ", out)
      out = raw(srv.port, "GET /stats HTTP/9.9\r\n\r\n")
      assert.matches("^HTTP/1.1 400 ", out)
      out = raw(srv.port, "POST /x HTTP/1.1\r\nContent-Length: zz\r\n\r\n")
      assert.matches("^HTTP/1.1 400 ", out)
      assert.are.equal(200, (http("GET", srv.url .. "/stats")))
    end)

    it("keeps a connection alive and tolerates pipelining", function()
      local body = gemini_body("pipe")
      local one = ("POST /v1beta/models/m:generateContent HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s")
        :format(#body, body)
      local out = raw(srv.port, one .. one .. "GET /stats HTTP/1.1\r\nConnection: close\r\n\r\n")
      local n = 0
      for _ in out:gmatch("HTTP/1.1 200 OK") do n = n + 1 end
      assert.are.equal(3, n)
      assert.matches('"requests":2', out, 1, true)
    end)

    it("reads chunked request bodies", function()
      local status, body = http("POST", gen_url(srv), gemini_body("# Chunked\n" .. string.rep("z", 100000)),
        { headers = { "Transfer-Encoding: chunked" } })
      assert.are.equal(200, status)
      assert.matches("^# Chunked\n", cjson.decode(body).candidates[1].content.parts[1].text)
      local b = gemini_body("# Raw chunks")
      local req = ("POST /v1beta/models/m:generateContent HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        .. "%x;ext=1\r\n%s\r\n%x\r\n%s\r\n0\r\nX-Trailer: 1\r\n\r\n"):format(5, b:sub(1, 5), #b - 5, b:sub(6))
      local out = raw(srv.port, req .. "GET /stats HTTP/1.1\r\nConnection: close\r\n\r\n")
      assert.matches("# Raw chunks", out, 1, true)
      assert.matches('"requests":2', out, 1, true)
      out = raw(srv.port, "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
      assert.matches("^HTTP/1.1 400 ", out)
      out = raw(srv.port, "POST /x HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n")
      assert.matches("^HTTP/1.1 501 ", out)
    end)

    it("times out a half-sent request after 30 s #slow", function()
      local out = run(("timeout 40 bash -c 'exec 3<>/dev/tcp/127.0.0.1/%d; "
        .. "printf \"POST /x HTTP/1.1\\r\\nContent-Length: 10\\r\\n\\r\\nab\" >&3; cat <&3'"):format(srv.port))
      assert.matches("^HTTP/1.1 408 ", out)
    end)

    it("speaks HTTP/1.0", function()
      local status = http("POST", gen_url(srv), gemini_body("old"), { http10 = true })
      assert.are.equal(200, status)
    end)

    it("answers 404 for unknown routes in Google's shape", function()
      local status, body = http("GET", srv.url .. "/nope")
      assert.are.equal(404, status)
      local e = cjson.decode(body).error
      assert.are.equal(404, e.code)
      assert.are.equal("NOT_FOUND", e.status)
      status = http("POST", srv.url .. "/v1beta/models/m:unknownOp", gemini_body("x"))
      assert.are.equal(404, status)
    end)

    it("answers 400 INVALID_ARGUMENT for invalid JSON", function()
      local status, body = http("POST", gen_url(srv), "{not json")
      assert.are.equal(400, status)
      assert.are.equal("INVALID_ARGUMENT", cjson.decode(body).error.status)
      status = http("POST", gen_url(srv), "{}")
      assert.are.equal(400, status)
      status, body = http("POST", srv.url .. "/v1/chat/completions", "[1,2")
      assert.are.equal(400, status)
      assert.are.equal("invalid_request_error", cjson.decode(body).error.type)
      status = http("POST", gen_url(srv), string.rep("[", 100000))
      assert.are.equal(400, status)
    end)

    it("answers 431 for oversized headers and 413 for oversized bodies", function()
      local status = http("GET", srv.url .. "/stats", nil, { headers = { "X-Big: " .. string.rep("a", 20000) } })
      assert.are.equal(431, status)
      local status2, body = http("POST", gen_url(srv), string.rep("x", 9 * 1024 * 1024))
      assert.are.equal(413, status2)
      assert.are.equal(413, cjson.decode(body).error.code)
      assert.are.equal(200, (http("GET", srv.url .. "/stats")))
    end)

    it("delivers the 413 to a client that uploads without waiting for 100-continue", function()
      local big = string.rep("x", 9 * 1024 * 1024)
      local out = raw(srv.port,
        ("POST /v1/chat/completions HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s"):format(#big, big))
      assert.matches("^HTTP/1.1 413 ", out)
    end)

    it("closes quickly with a stalled connection open", function()
      helpers.writefile(tmp .. "/stall", gemini_body("[[mock:stall]]"))
      local pidfile = tmp .. "/stall.pid"
      os.execute(("%s -s -o /dev/null --max-time 20 --data-binary @%s %s & echo $! > %s")
        :format(CURL, q(tmp .. "/stall"), q(gen_url(srv)), q(pidfile)))
      assert.is_true(wait_for(function() return srv:stats().in_flight == 1 end))
      local t0 = now()
      srv:close()
      assert.is_true(now() - t0 < 0.3)
      srv = nil
      local pid = helpers.readfile(pidfile):match("%d+")
      os.execute("wait " .. pid .. " 2>/dev/null; true")
    end)
  end)
end)
