-- Batch mode against the mock: the chapters go as one batch job (Gemini inline requests,
-- OpenAI file + batch), the folder ends as a live run leaves it, Ctrl-C leaves the job
-- running for the rerun, and failed jobs, per-request errors and blocked answers are
-- re-asked live.
-- luacheck: std +busted
local coursegen = require "coursegen"
local helpers = require "helpers"
local run = require "support.course_run"

local function course(n, briefs)
  return run.course(n, briefs)
end

-- No token-rate pacing: these specs are about the batch, not the limiter.
local base_opts = run.opts
run = setmetatable({ opts = function(srv, extra)
  local o = base_opts(srv, extra)
  o.tpm = o.tpm or 1e9
  return o
end }, { __index = run })

-- The manifest entry fields that say what was written and how.
local function entry_view(e)
  return { index = e.index, title = e.title, file = e.file, status = e.status, attempts = e.attempts,
           finish_reason = e.finish_reason, prompt_sha256 = e.prompt_sha256, sha256 = e.sha256, tokens = e.tokens }
end

local function same_folders(a, b, n)
  local ma, mb = run.manifest(a), run.manifest(b)
  assert.equal(n, #mb.chapters)
  for i = 1, n do
    assert.same(entry_view(ma.chapters[i]), entry_view(mb.chapters[i]))
    assert.equal(helpers.readfile(a .. "/" .. ma.chapters[i].file), helpers.readfile(b .. "/" .. mb.chapters[i].file))
  end
  assert.same(ma.summary, mb.summary)
  assert.equal(helpers.readfile(a .. "/README.md"), helpers.readfile(b .. "/README.md"))
  assert.is_nil(mb.batch)
end

describe("batch mode", function()
  local srv, tmp
  before_each(function()
    srv = run.mock { batch_delay_ms = 300, jitter_ms = 0 }
    tmp = helpers.tmpdir()
  end)
  after_each(function()
    srv:close()
    helpers.rmtree(tmp)
  end)

  -- A batch run of n chapters stopped by Ctrl-C while its job runs (the mock takes 1.5 s).
  local function stopped_batch(n)
    srv:close()
    srv = run.mock { batch_delay_ms = 1500, jitter_ms = 0 }
    local out = tmp .. "/out"
    local stats = run.generate_interrupted(course(n), run.opts(srv, { out = out, batch = true,
                                                                       batch_poll_s = 0.05 }), 0.5)
    assert.is_true(stats.interrupted)
    return out, stats
  end

  for _, dialect in ipairs { "gemini", "openai" } do
    it("writes a 30-chapter course as a live run does (" .. dialect .. ")", function()
      local extra = dialect == "openai" and { provider = "openai", base_url = srv.url .. "/v1" } or {}
      local function opts(out, more)
        local o = run.opts(srv, { out = out, batch_poll_s = 0.05 })
        for k, v in pairs(extra) do o[k] = v end
        for k, v in pairs(more or {}) do o[k] = v end
        return o
      end
      run.generate(course(30), opts(tmp .. "/live"))
      srv:reset_stats()
      local stats, events = run.generate(course(30), opts(tmp .. "/batch", { batch = true }))
      assert.same({ total = 30, written = 30, skipped = 0, failed = 0 }, stats.chapters)
      local ms = srv:stats()
      assert.equal(1, ms.batches_created)
      assert.equal(1, stats.requests) -- only the course summary went live
      assert.equal(ms.requests, stats.requests + stats.batch_requests) -- every call counted
      local states = {}
      for _, ev in ipairs(run.of_type(events, "batch")) do states[#states + 1] = ev.state end
      assert.equal("succeeded", states[#states])
      same_folders(tmp .. "/live", tmp .. "/batch", 30)
    end)
  end

  it("survives Ctrl-C between submit and completion: the rerun collects the same job", function()
    local out, stats = stopped_batch(30)
    assert.equal(0, stats.chapters.written)
    local m = run.manifest(out)
    assert.truthy(m.batch and m.batch.jobs[1].name:match("^batches/"))
    assert.equal(30, #m.batch.jobs[1].chapters)
    assert.equal("pending", m.chapters[1].status)
    assert.same({ m.batch.jobs[1].name }, stats.batch_running)
    local stats2, events = run.generate(course(30), run.opts(srv, { out = out, batch = true, batch_poll_s = 0.05 }))
    assert.equal(30, stats2.chapters.written)
    assert.equal(1, srv:stats().batches_created) -- nothing submitted twice
    assert.equal("resumed", run.of_type(events, "batch")[1].state)
    assert.is_nil(run.manifest(out).batch)
    run.generate(course(30), run.opts(srv, { out = tmp .. "/live" }))
    same_folders(tmp .. "/live", out, 30)
  end)

  it("splits the chapters over several jobs above the size limit for one file (openai)", function()
    local openai = require "coursegen.providers.openai"
    local limit = openai.BATCH_LIMIT
    openai.BATCH_LIMIT = 6000 -- a few chapters a job
    local function opts(out, more)
      local o = run.opts(srv, { out = out, provider = "openai", base_url = srv.url .. "/v1", batch_poll_s = 0.05 })
      for k, v in pairs(more or {}) do o[k] = v end
      return o
    end
    local ok, err = pcall(function()
      local stats = run.generate(course(12), opts(tmp .. "/batch", { batch = true }))
      assert.equal(12, stats.chapters.written)
      assert.truthy(srv:stats().batches_created >= 3)
    end)
    openai.BATCH_LIMIT = limit
    assert(ok, err)
    run.generate(course(12), opts(tmp .. "/live"))
    same_folders(tmp .. "/live", tmp .. "/batch", 12)
  end)

  describe("above the inline limit (gemini)", function()
    -- The mock refuses inline jobs above 4,000 bytes, as Gemini does above 20 MB.
    before_each(function()
      srv:close()
      srv = run.mock { batch_delay_ms = 300, jitter_ms = 0, batch_inline_limit = 4000 }
    end)

    local function opts(out, more)
      local o = run.opts(srv, { out = out, batch_poll_s = 0.05, batch_inline_bytes = 4000 })
      for k, v in pairs(more or {}) do o[k] = v end
      return o
    end

    it("sends one JSONL file and one job, and writes what a live run writes", function()
      run.generate(course(12), opts(tmp .. "/live"))
      srv:reset_stats()
      local stats = run.generate(course(12), opts(tmp .. "/batch", { batch = true }))
      assert.same({ total = 12, written = 12, skipped = 0, failed = 0 }, stats.chapters)
      local ms = srv:stats()
      assert.equal(1, ms.uploads_started)
      assert.equal(1, ms.batches_created)
      assert.equal(1, ms.files_downloaded)
      assert.is_nil(ms.status["400"]) -- no inline job was tried
      assert.equal(1, stats.requests) -- only the course summary went live
      -- the rest is counted apart: 2 for the upload, the create, the looks, the download
      assert.truthy(stats.batch_requests >= 5, stats.batch_requests)
      assert.equal(ms.requests, stats.requests + stats.batch_requests)
      same_folders(tmp .. "/live", tmp .. "/batch", 12)
    end)

    it("picks the file job up after Ctrl-C without uploading or submitting twice", function()
      srv:close()
      srv = run.mock { batch_delay_ms = 1500, jitter_ms = 0, batch_inline_limit = 4000 }
      local out = tmp .. "/out"
      local stats = run.generate_interrupted(course(12), opts(out, { batch = true }), 0.5)
      assert.is_true(stats.interrupted)
      assert.truthy(run.manifest(out).batch.jobs[1].name:match("^batches/"))
      local stats2 = run.generate(course(12), opts(out, { batch = true }))
      assert.equal(12, stats2.chapters.written)
      local ms = srv:stats()
      assert.equal(1, ms.uploads_started)
      assert.equal(1, ms.batches_created)
      run.generate(course(12), opts(tmp .. "/live"))
      same_folders(tmp .. "/live", out, 12)
    end)

    it("sends the chapters live when the upload is refused", function()
      local stats, events = run.generate(course(12, { "[[mock-batch:upload-refused]]" }),
        opts(tmp .. "/out", { batch = true }))
      assert.equal(12, stats.chapters.written)
      assert.equal(0, srv:stats().batches_created)
      local w = run.of_type(events, "warning")[1]
      assert.truthy(w and w.message:find("uploading the batch file: .*The file was refused.*sending 12 chapters live"),
        w and w.message)
    end)

    it("uploads a file for a single chapter larger than the inline limit", function()
      local stats = run.generate(course(1, { ("a long brief. "):rep(400) }), opts(tmp .. "/out", { batch = true }))
      assert.equal(1, stats.chapters.written)
      local ms = srv:stats()
      assert.equal(1, ms.uploads_started)
      assert.equal(1, ms.batches_created)
      assert.is_nil(ms.status["400"])
    end)

    it("uploads a file of tens of MB", function()
      local big = tmp .. "/source.md"
      -- about 1.2 MB of source, sent with each of 24 chapters: some 29 MB of JSONL
      local para = ("Lua tables are the one data structure; arrays, records and modules are tables. "):rep(12)
      helpers.writefile(big, (para .. "\n\n"):rep(1200))
      local c = assert(coursegen.course { title = "Big source", source = big,
        chapters = (function()
          local t = {}
          for i = 1, 24 do t[i] = { title = "Topic " .. i } end
          return t
        end)() })
      local stats = run.generate(c, opts(tmp .. "/out", { batch = true, source_max_tokens = 1000000, cache = false,
                                                          timeout = 120 }))
      assert.equal(24, stats.chapters.written)
      local ms = srv:stats()
      assert.equal(1, ms.uploads_started)
      assert.equal(1, ms.batches_created)
      assert.truthy(ms.request_bytes > 24 * 1000 * 1000, ms.request_bytes)
    end)
  end)

  it("tries the job's creation again after a 429", function()
    local stats = run.generate(course(3, { "[[mock-batch:429]]" }),
      run.opts(srv, { out = tmp .. "/out", batch = true, batch_poll_s = 0.05 }))
    assert.equal(3, stats.chapters.written)
    local ms = srv:stats()
    assert.equal(1, ms.batches_created)
    assert.equal(1, ms.status["429"])
    assert.equal(1, stats.requests) -- the summary: the chapters went in the job
    assert.equal(ms.requests, stats.requests + stats.batch_requests) -- the refused create counted too
  end)

  it("cancels an earlier job whose prompts the changed course no longer sends, and submits anew", function()
    local out = stopped_batch(6)
    local old_name = run.manifest(out).batch.jobs[1].name
    local changed = course(6, { nil, "now about metatables" }) -- in every prompt's outline
    local stats2, events = run.generate(changed, run.opts(srv, { out = out, batch = true, batch_poll_s = 0.05 }))
    assert.equal(6, stats2.chapters.written)
    local ms = srv:stats()
    assert.equal(2, ms.batches_created)
    assert.equal(1, ms.batches_cancelled)
    local w = run.of_type(events, "warning")[1]
    assert.equal("the course changed since batch job " .. old_name .. " was submitted: cancelled it", w.message)
    assert.is_nil(run.manifest(out).batch)
  end)

  it("sends the chapters of an expired job live", function()
    local stats, events = run.generate(course(3, { "[[mock-batch:expire]]" }),
      run.opts(srv, { out = tmp .. "/out", batch = true, batch_poll_s = 0.05 }))
    assert.equal(3, stats.chapters.written)
    local w = run.of_type(events, "warning")[1]
    assert.truthy(w and w.message:find("expired: sending its 3 chapters live", 1, true), w and w.message)
  end)

  it("sends the chapters of a failed job live", function()
    local out = tmp .. "/out"
    local stats, events = run.generate(course(4, { "[[mock-batch:fail]]" }),
      run.opts(srv, { out = out, batch = true, batch_poll_s = 0.05 }))
    assert.equal(4, stats.chapters.written)
    local w = run.of_type(events, "warning")[1]
    assert.truthy(w and w.message:find("failed %(Batch job failed"), w and w.message)
    assert.equal(5, stats.requests) -- four chapters and the summary, live
  end)

  it("re-asks live the answers that failed or were blocked inside the job", function()
    local out = tmp .. "/out"
    local stats, events = run.generate(course(5, { nil, "[[mock:500]]", nil, "[[mock:safety]]" }),
      run.opts(srv, { out = out, batch = true, batch_poll_s = 0.05 }))
    assert.same({ total = 5, written = 5, skipped = 0, failed = 0 }, stats.chapters)
    local again = {}
    for _, ev in ipairs(run.of_type(events, "batch")) do
      if ev.state == "re-ask" then again[#again + 1] = ev.index end
    end
    table.sort(again)
    assert.same({ 2, 4 }, again)
    assert.equal(1, stats.blocked_answers)
    assert.equal(3, stats.requests) -- two chapters and the summary
  end)

  it("cancels the recorded job with batch_cancel and forgets it", function()
    srv:close()
    srv = run.mock { batch_delay_ms = 60000 }
    local out = tmp .. "/out"
    local o = run.opts(srv, { out = out, batch = true, batch_poll_s = 0.05 })
    o.on_event = function(ev) if ev.type == "batch" then error("stop here", 0) end end
    local stopped, _, stop_kind = coursegen.generate(course(3), o)
    assert.is_nil(stopped)
    assert.equal("hook", stop_kind)
    local name = run.manifest(out).batch.jobs[1].name
    local stats = run.generate(course(3), run.opts(srv, { out = out, batch = true, batch_cancel = true }))
    assert.same({ name }, stats.batch_cancelled)
    assert.equal(1, srv:stats().batches_cancelled)
    assert.is_nil(run.manifest(out).batch)
    local _, err, kind = coursegen.generate(course(3), run.opts(srv, { out = out, batch = true, batch_cancel = true }))
    assert.equal("input", kind)
    assert.truthy(err:find("no batch job is recorded", 1, true))
  end)
end)

-- Gemini's resumable upload against a server written from Google's pages, not the mock.
describe("batch file upload (independent server)", function()
  local loopback = require "support.loopback"
  local upload = require "coursegen.upload"
  local json = require "coursegen.json"
  local tmp
  before_each(function() tmp = helpers.tmpdir() end)
  after_each(function() helpers.rmtree(tmp) end)

  local function records(path)
    local out = {}
    for line in (helpers.readfile(path) or ""):gmatch("[^\n]+") do out[#out + 1] = json.decode(line) end
    return out
  end

  local function fake_run(base_url)
    return { p = require "coursegen.providers.gemini", s = { timeout = 10, connect_timeout = 5 },
             cfg = { base_url = base_url, model = "gemini-2.5-flash", api_key = "k-upload-secret" },
             scrub = function(_, x) return x end }
  end

  it("declares the file, then sends its bytes to the address the server names", function()
    local url = loopback.start(tmp, "upload_server", tmp .. "/rec", "self", 10)
    if not url then return pending("LuaSocket is not installed") end
    local data = '{"key":"chapter-1","request":{"contents":[]}}\n'
    local r = fake_run(url)
    local name = upload.jsonl(r, data, "coursegen: a course")
    r.ctl:close()
    assert.equal("files/abc-123", name)
    local rec = records(tmp .. "/rec")
    assert.equal(2, #rec)
    assert.equal("POST /upload/v1beta/files HTTP/1.1", rec[1].request)
    local h = rec[1].headers
    assert.equal("resumable", h["x-goog-upload-protocol"])
    assert.equal("start", h["x-goog-upload-command"])
    assert.equal(tostring(#data), h["x-goog-upload-header-content-length"])
    assert.equal("application/jsonl", h["x-goog-upload-header-content-type"])
    assert.equal("k-upload-secret", h["x-goog-api-key"])
    assert.same({ file = { display_name = "coursegen: a course" } }, json.decode(rec[1].body))
    assert.equal("POST /upload/v1beta/files?upload_id=ABC-123&upload_protocol=resumable HTTP/1.1", rec[2].request)
    assert.equal("upload, finalize", rec[2].headers["x-goog-upload-command"])
    assert.equal("0", rec[2].headers["x-goog-upload-offset"])
    assert.equal(data, rec[2].body)
    for _, x in ipairs(rec) do assert.is_nil(x.request:find("k-upload-secret", 1, true)) end -- the key: headers only
  end)

  it("refuses an upload address on another server: the key never goes there", function()
    local other = loopback.start(tmp, "canned_server", 200, "application/json", (function()
      helpers.writefile(tmp .. "/answer", "{}")
      return tmp .. "/answer"
    end)(), tmp .. "/other-rec", 5, 5)
    if not other then return pending("LuaSocket is not installed") end
    local url = loopback.start(tmp, "upload_server", tmp .. "/rec", other, 10)
    local r = fake_run(url)
    local ok, err = pcall(upload.jsonl, r, "{}\n", "x")
    r.ctl:close()
    assert.is_false(ok)
    assert.equal("request", err.kind)
    assert.equal("batch file upload refused: the server named an upload address on " .. other .. ", not on "
      .. "the configured server " .. url .. "; the API key goes only to the configured server", err.msg)
    assert.equal(1, #records(tmp .. "/rec")) -- the start only
    assert.is_nil(helpers.readfile(tmp .. "/other-rec")) -- nothing reached the other server
  end)

  it("stops a batch run whose server names a foreign upload address, with a clear error", function()
    helpers.writefile(tmp .. "/answer", "{}")
    local other = loopback.start(tmp, "canned_server", 200, "application/json", tmp .. "/answer",
      tmp .. "/other-rec", 5, 5)
    if not other then return pending("LuaSocket is not installed") end
    local url = loopback.start(tmp, "upload_server", tmp .. "/rec", other, 10)
    local stats, err, kind = coursegen.generate(course(2), { base_url = url, api_key = "k-upload-secret", env = {},
      out = tmp .. "/out", batch = true, batch_inline_bytes = 100, max_attempts = 1 })
    assert.is_nil(stats)
    assert.equal("request", kind)
    assert.truthy(err:find("batch file upload refused: the server named an upload address on " .. other, 1, true), err)
    assert.is_nil(helpers.readfile(tmp .. "/other-rec"))
    assert.is_nil(run.all_text(tmp .. "/out"):find("k-upload-secret", 1, true)) -- nor in any file
  end)

  it("reads an upload address's origin", function()
    assert.equal("https://generativelanguage.googleapis.com:443",
      upload.origin("https://generativelanguage.googleapis.com/upload/v1beta/files?upload_id=x"))
    assert.equal("http://127.0.0.1:8080", upload.origin("HTTP://127.0.0.1:8080"))
    assert.equal("http://[::1]:80", upload.origin("http://[::1]/x"))
    assert.is_nil(upload.origin("http://127.0.0.1:8080@evil.example/x")) -- user information: refused
    assert.is_nil(upload.origin("ftp://host/x"))
    assert.is_nil(upload.origin("/upload/v1beta/files"))
    assert.is_nil(upload.origin("http://host:80x/"))
  end)
end)

-- The providers' own examples (docs/wire-caching-batch.md), not the mock's output: the two
-- must not share a mistake.
describe("batch and cache shapes as documented", function()
  local gemini = require "coursegen.providers.gemini"
  local openai = require "coursegen.providers.openai"

  it("reads a finished Gemini batch operation with inline responses", function()
    local job = gemini.batch_parse([[{"name": "batches/123456",
      "metadata": {"@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch",
        "model": "models/gemini-2.5-flash", "displayName": "my-batch-requests", "state": "BATCH_STATE_SUCCEEDED",
        "name": "batches/123456"},
      "done": true,
      "response": {"@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatchOutput",
        "inlinedResponses": {"inlinedResponses": [
          {"response": {"candidates": [{"content": {"parts": [{"text": "Photosynthesis is the process..."}],
            "role": "model"}, "finishReason": "STOP", "index": 0}],
            "usageMetadata": {"promptTokenCount": 6, "candidatesTokenCount": 100, "totalTokenCount": 106}},
           "metadata": {"key": "request-1"}},
          {"error": {"code": 400, "message": "Request contains an invalid argument."},
           "metadata": {"key": "request-2"}}]}}}]])
    assert.equal("batches/123456", job.name)
    assert.equal("succeeded", job.state)
    assert.equal(2, #job.results)
    assert.equal("request-1", job.results[1].key)
    local parsed = gemini.parse(job.results[1].body)
    assert.equal("ok", parsed.kind)
    assert.equal("Photosynthesis is the process...", parsed.text)
    assert.equal("error 400: Request contains an invalid argument.", job.results[2].error)
  end)

  it("reads a finished Gemini file job and its responses file", function()
    local job = gemini.batch_parse([[{"name": "batches/123456", "done": true,
      "metadata": {"state": "BATCH_STATE_SUCCEEDED", "name": "batches/123456"},
      "response": {"@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatchOutput",
        "responsesFile": "files/batch-abc123"}}]])
    assert.same({ "files/batch-abc123" }, job.files)
    assert.is_nil(job.results)
    local rs = gemini.batch_results(table.concat({
      '{"key": "request-1", "response": {"candidates": [{"content": {"parts": [{"text": "A big letter A"}], '
        .. '"role": "model"}, "finishReason": "STOP"}], "usageMetadata": {"promptTokenCount": 12}}}',
      '{"key": "request-2", "error": {"code": 400, "message": "Request contains an invalid argument."}}',
      "",
    }, "\n"))
    assert.equal(2, #rs)
    assert.equal("request-1", rs[1].key)
    assert.equal("A big letter A", gemini.parse(rs[1].body).text)
    assert.equal("error 400: Request contains an invalid argument.", rs[2].error)
    local create = gemini.batch_create_file({ base_url = "https://g.example/", model = "gemini-2.5-flash" },
      "files/123456", "my-batch-requests")
    assert.equal("https://g.example/v1beta/models/gemini-2.5-flash:batchGenerateContent", create.url)
    assert.same({ batch = { display_name = "my-batch-requests", input_config = { file_name = "files/123456" } } },
      require("coursegen.json").decode(create.body))
    assert.equal("https://g.example/download/v1beta/files/batch-abc123:download?alt=media",
      gemini.file_content({ base_url = "https://g.example" }, "files/batch-abc123").url)
  end)

  it("reads the SDKs' state names and a failed Gemini job", function()
    assert.equal("running", gemini.batch_parse('{"name":"batches/a","metadata":{"state":"JOB_STATE_RUNNING"}}').state)
    local j = gemini.batch_parse('{"name":"batches/a","metadata":{"state":"BATCH_STATE_FAILED"},"done":true,'
      .. '"error":{"code":13,"message":"internal"}}')
    assert.equal("failed", j.state)
    assert.equal("internal", j.message)
    assert.is_nil(gemini.batch_parse('{"name":"operations/x"}'))
  end)

  it("reads an OpenAI batch object and its output and error lines", function()
    local b = openai.batch_parse([[{"id": "batch_abc123", "object": "batch", "endpoint": "/v1/chat/completions",
      "errors": null, "input_file_id": "file-abc123", "completion_window": "24h", "status": "completed",
      "output_file_id": "file-cvaTdG", "error_file_id": "file-HOWS94", "created_at": 1711471533,
      "request_counts": {"total": 100, "completed": 95, "failed": 5}, "metadata": null}]])
    assert.equal("succeeded", b.state)
    assert.same({ "file-cvaTdG", "file-HOWS94" }, b.files)
    assert.equal("running", openai.batch_parse('{"id":"batch_1","object":"batch","status":"finalizing"}').state)
    local rs = openai.batch_results(table.concat({
      '{"id": "batch_req_123", "custom_id": "request-2", "response": {"status_code": 200, "request_id": "req_123", '
        .. '"body": {"id": "chatcmpl-123", "object": "chat.completion", "created": 1711652795, "model": '
        .. '"gpt-3.5-turbo-0125", "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello."}, '
        .. '"logprobs": null, "finish_reason": "stop"}], "usage": {"prompt_tokens": 22, "completion_tokens": 2, '
        .. '"total_tokens": 24}, "system_fingerprint": "fp_123"}}, "error": null}',
      '{"id": "batch_req_456", "custom_id": "request-1", "response": null, '
        .. '"error": {"code": "invalid_request", "message": "Missing body."}}',
    }, "\n"))
    assert.equal("request-2", rs[1].key)
    assert.equal("Hello.", openai.parse(rs[1].body).text)
    assert.equal("Missing body.", rs[2].error)
  end)

  it("reads cached token counts and a cached content", function()
    local u = openai.parse('{"choices":[{"message":{"content":"x"},"finish_reason":"stop"}],"usage":{'
      .. '"prompt_tokens":2006,"completion_tokens":300,"total_tokens":2306,"prompt_tokens_details":{'
      .. '"cached_tokens":1920,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}').usage
    assert.same({ prompt = 2006, output = 300, thoughts = 0, cached = 1920 }, u)
    local g = gemini.parse('{"candidates":[{"content":{"parts":[{"text":"x"}]},"finishReason":"STOP"}],'
      .. '"usageMetadata":{"promptTokenCount":10200,"cachedContentTokenCount":10000,"candidatesTokenCount":5}}')
    assert.equal(10000, g.usage.cached)
    assert.same({ "cachedContents/abc-123", 5000 }, { gemini.cache_parse(
      '{"name":"cachedContents/abc-123","model":"models/gemini-2.5-flash","usageMetadata":{"totalTokenCount":5000}}') })
    assert.is_nil(gemini.cache_parse('{"error":{"code":403}}'))
  end)
end)
