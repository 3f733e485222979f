-- The mock's cached contents, prefix cache, batch jobs and files, over real HTTP through
-- the engine: the shapes the providers document (docs/wire-caching-batch.md).
-- luacheck: std +busted
local core = require "coursegen.core"
local json = require "coursegen.json"
local mock = require "coursegen.mock"
local system = require "system"

local function client(srv)
  local eng = core.engine { concurrency = 4, max_attempts = 1 }
  return function(method, path, body, headers)
    local h = headers or { "Content-Type: application/json" }
    eng:submit { url = srv.url .. path, method = method, headers = h,
                 body = type(body) == "table" and json.encode(body) or body }
    local r = assert(eng:next(10))
    return r.status, json.decode(r.body or "") or r.body, r.body
  end, eng
end

local BIG = string.rep("The same long preamble, sentence after sentence. ", 120) -- ~1,500 tokens

local function gen(text, extra)
  local b = { contents = json.array { { role = "user", parts = json.array { { text = text } } } } }
  for k, v in pairs(extra or {}) do b[k] = v end
  return b
end

-- A mock and a client for each spec of a block.
local function with_mock(opts)
  local ctx = {}
  before_each(function()
    ctx.srv = mock.start(opts)
    ctx.call, ctx.eng = client(ctx.srv)
  end)
  after_each(function()
    ctx.eng:close()
    ctx.srv:close()
  end)
  return ctx
end

describe("mock: Gemini cached contents", function()
  local ctx = with_mock { port = 0 }
  local function call(...) return ctx.call(...) end

  it("creates, reads, renews, serves and deletes a cache", function()
    local st, v = call("POST", "/v1beta/cachedContents", { model = "models/gemini-2.5-flash", ttl = "600s",
      contents = json.array { { role = "user", parts = json.array { { text = BIG } } } } })
    assert.equal(200, st)
    local name = v.name
    assert.truthy(name:match("^cachedContents/[%w]+$"))
    assert.equal("models/gemini-2.5-flash", v.model)
    assert.truthy(v.expireTime:match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d"))
    local tokens = v.usageMetadata.totalTokenCount
    assert.truthy(tokens >= 1024)
    st = call("GET", "/v1beta/" .. name)
    assert.equal(200, st)
    st, v = call("PATCH", "/v1beta/" .. name, { ttl = "1200s" })
    assert.equal(200, st)
    assert.equal(name, v.name)
    st, v = call("POST", "/v1beta/models/gemini-2.5-flash:generateContent", gen("Chapter 1: Tables",
      { cachedContent = name }))
    assert.equal(200, st)
    assert.equal(tokens, v.usageMetadata.cachedContentTokenCount)
    assert.truthy(v.usageMetadata.promptTokenCount > tokens)
    assert.truthy(v.candidates[1].content.parts[1].text:find("Chapter 1: Tables", 1, true))
    st, v = call("POST", "/v1beta/models/gemini-2.5-flash:generateContent", gen("x", { cachedContent = name,
      systemInstruction = { parts = json.array { { text = "s" } } } }))
    assert.equal(400, st)
    assert.truthy(v.error.message:find("CachedContent can not be used", 1, true))
    st = call("DELETE", "/v1beta/" .. name)
    assert.equal(200, st)
    st, v = call("GET", "/v1beta/" .. name)
    assert.equal(403, st)
    assert.equal("PERMISSION_DENIED", v.error.status)
    local ms = ctx.srv:stats()
    assert.equal(1, ms.caches_created)
    assert.equal(1, ms.caches_renewed)
    assert.equal(1, ms.caches_deleted)
  end)

  it("refuses a cache under the model's minimum, and a bad ttl", function()
    local st, v = call("POST", "/v1beta/cachedContents", { model = "models/gemini-2.5-pro",
      contents = json.array { { role = "user", parts = json.array { { text = BIG } } } } })
    assert.equal(400, st)
    assert.truthy(v.error.message:find("min_total_token_count=4096", 1, true), v.error.message)
    st = call("POST", "/v1beta/cachedContents", { model = "models/gemini-2.5-flash", ttl = "10m",
      contents = json.array { { role = "user", parts = json.array { { text = BIG } } } } })
    assert.equal(400, st)
  end)

  it("forgets a cache when its TTL runs out", function()
    local _, v = call("POST", "/v1beta/cachedContents", { model = "models/gemini-2.5-flash", ttl = "1s",
      contents = json.array { { role = "user", parts = json.array { { text = BIG } } } } })
    system.sleep(1.1)
    local st = call("POST", "/v1beta/models/gemini-2.5-flash:generateContent", gen("x", { cachedContent = v.name }))
    assert.equal(403, st)
  end)

  it("answers 429 to a create whose text asks for it, once", function()
    local body = { model = "models/gemini-2.5-flash",
      contents = json.array { { role = "user", parts = json.array { { text = BIG .. "[[mock:429]]" } } } } }
    local st, v = call("POST", "/v1beta/cachedContents", body)
    assert.equal(429, st)
    assert.equal("RESOURCE_EXHAUSTED", v.error.status)
    assert.equal(200, (call("POST", "/v1beta/cachedContents", body)))
  end)

  it("reports a repeated prefix as cached in both dialects, unless told not to", function()
    local two = gen("Chapter 2: x")
    table.insert(two.contents, 1, { role = "user", parts = json.array { { text = BIG } } })
    local _, a = call("POST", "/v1beta/models/gemini-2.5-flash:generateContent", two)
    local _, b = call("POST", "/v1beta/models/gemini-2.5-flash:generateContent", two)
    assert.is_nil(a.usageMetadata.cachedContentTokenCount)
    assert.truthy(b.usageMetadata.cachedContentTokenCount >= 1024)
    local oa = { model = "gpt-4o-mini", messages = json.array { { role = "system", content = BIG .. "!" },
                                                               { role = "user", content = "Chapter 3" } } }
    _, a = call("POST", "/v1/chat/completions", oa)
    _, b = call("POST", "/v1/chat/completions", oa)
    assert.equal(0, a.usage.prompt_tokens_details.cached_tokens)
    assert.truthy(b.usage.prompt_tokens_details.cached_tokens >= 1024)
    assert.truthy(ctx.srv:stats().request_bytes > 4 * #BIG)
    local off = mock.start { port = 0, implicit_cache = 0 }
    local call2, eng2 = client(off)
    call2("POST", "/v1/chat/completions", oa)
    _, b = call2("POST", "/v1/chat/completions", oa)
    assert.equal(0, b.usage.prompt_tokens_details.cached_tokens)
    eng2:close()
    off:close()
  end)
end)

describe("mock: batch jobs", function()
  local ctx = with_mock { port = 0, batch_delay_ms = 300 }
  local function call(...) return ctx.call(...) end

  local function inline(texts)
    local reqs = json.array {}
    for i, t in ipairs(texts) do
      reqs[i] = { request = gen(t), metadata = { key = "k" .. i } }
    end
    return { batch = { display_name = "t", input_config = { requests = { requests = reqs } } } }
  end

  it("moves a Gemini job through its states and returns answers, errors and blocked answers", function()
    local st, op = call("POST", "/v1beta/models/gemini-2.5-flash:batchGenerateContent",
      inline { "Chapter A", "Chapter B [[mock:400]]", "Chapter C [[mock:safety]]" })
    assert.equal(200, st)
    assert.truthy(op.name:match("^batches/"))
    assert.equal("BATCH_STATE_PENDING", op.metadata.state)
    assert.equal("3", op.metadata.batchStats.requestCount)
    local seen, v = {}
    local deadline = system.monotime() + 5
    repeat
      system.sleep(0.05)
      st, v = call("GET", "/v1beta/" .. op.name)
      assert.equal(200, st)
      seen[v.metadata.state] = true
    until v.done or system.monotime() > deadline
    assert.is_true(seen.BATCH_STATE_RUNNING)
    assert.equal("BATCH_STATE_SUCCEEDED", v.metadata.state)
    local out = v.response.inlinedResponses.inlinedResponses
    assert.equal(3, #out)
    assert.equal("k1", out[1].metadata.key)
    assert.truthy(out[1].response.candidates[1].content.parts[1].text:find("Chapter A", 1, true))
    assert.equal(400, out[2].error.code)
    assert.equal("SAFETY", out[3].response.candidates[1].finishReason)
  end)

  it("cancels a Gemini job, and fails or expires one whose requests ask for it", function()
    local _, op = call("POST", "/v1beta/models/gemini-2.5-flash:batchGenerateContent", inline { "x" })
    assert.equal(200, (call("POST", "/v1beta/" .. op.name .. ":cancel", "{}")))
    local _, v = call("GET", "/v1beta/" .. op.name)
    assert.equal("BATCH_STATE_CANCELLED", v.metadata.state)
    assert.equal(1, ctx.srv:stats().batches_cancelled)
    local _, f = call("POST", "/v1beta/models/gemini-2.5-flash:batchGenerateContent",
      inline { "y [[mock-batch:fail]]" })
    local _, e = call("POST", "/v1beta/models/gemini-2.5-flash:batchGenerateContent",
      inline { "z [[mock-batch:expire]]" })
    system.sleep(0.35)
    _, v = call("GET", "/v1beta/" .. f.name)
    assert.equal("BATCH_STATE_FAILED", v.metadata.state)
    assert.truthy(v.error.message)
    _, v = call("GET", "/v1beta/" .. e.name)
    assert.equal("BATCH_STATE_EXPIRED", v.metadata.state)
    assert.equal(404, (call("GET", "/v1beta/batches/nope")))
  end)

  it("runs an OpenAI batch from an uploaded file to output and error files", function()
    local lines = {
      json.encode { custom_id = "c1", method = "POST", url = "/v1/chat/completions",
                    body = { model = "gpt-4o-mini", messages = json.array { { role = "user", content = "One" } } } },
      json.encode { custom_id = "c2", method = "POST", url = "/v1/chat/completions",
                    body = { model = "gpt-4o-mini",
                             messages = json.array { { role = "user", content = "Two [[mock:500]]" } } } },
    }
    local data = table.concat(lines, "\n") .. "\n"
    local form = "--B\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n--B\r\n"
      .. "Content-Disposition: form-data; name=\"file\"; filename=\"in.jsonl\"\r\n\r\n" .. data .. "\r\n--B--\r\n"
    local st, file = call("POST", "/v1/files", form, { "Content-Type: multipart/form-data; boundary=B" })
    assert.equal(200, st)
    assert.equal("batch", file.purpose)
    assert.equal(#data, file.bytes)
    local b
    st, b = call("POST", "/v1/batches", { input_file_id = file.id, endpoint = "/v1/chat/completions",
                                          completion_window = "24h" })
    assert.equal(200, st)
    assert.equal("validating", b.status)
    system.sleep(0.35)
    st, b = call("GET", "/v1/batches/" .. b.id)
    assert.equal(200, st)
    assert.equal("completed", b.status)
    assert.same({ total = 2, completed = 1, failed = 1 }, b.request_counts)
    local _, _, outf = call("GET", "/v1/files/" .. b.output_file_id .. "/content")
    local _, _, errf = call("GET", "/v1/files/" .. b.error_file_id .. "/content")
    local o = json.decode(outf:match("^[^\n]+"))
    assert.equal("c1", o.custom_id)
    assert.equal(200, o.response.status_code)
    assert.equal("chat.completion", o.response.body.object)
    local e = json.decode(errf:match("^[^\n]+"))
    assert.equal("c2", e.custom_id)
    assert.equal(500, e.response.status_code)
    st = call("POST", "/v1/batches", { input_file_id = "file-nope", endpoint = "/v1/chat/completions" })
    assert.equal(400, st)
  end)
end)
