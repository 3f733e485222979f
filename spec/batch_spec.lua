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
      local states = {}
      for _, ev in ipairs(run.of_type(events, "batch")) do states[#states + 1] = ev.state end
      assert.equal("succeeded", states[#states])
      same_folders(tmp .. "/live", tmp .. "/batch", 30)
    end)
  end

  it("survives Ctrl-C between submit and completion: the rerun collects the same job", function()
    srv:close()
    srv = run.mock { batch_delay_ms = 1500, jitter_ms = 0 }
    local out = tmp .. "/out"
    local pid = helpers.readfile("/proc/self/stat"):match("^%d+")
    os.execute("(sleep 0.5; kill -INT " .. pid .. ") &")
    local stats = run.generate(course(30), run.opts(srv, { out = out, batch = true, batch_poll_s = 0.05,
                                                            catch_signals = true }))
    require("coursegen.core").reset_interrupted()
    assert.is_true(stats.interrupted)
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
    assert.has_error(function() coursegen.generate(course(3), o) end)
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
