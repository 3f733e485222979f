-- Whole runs against the mock server over loopback, with real files in a temporary folder.
-- luacheck: std +busted
local coursegen = require "coursegen"
local helpers = require "helpers"
local run = require "support.course_run"

describe("coursegen.generate against the mock", function()
  local srv, dir
  before_each(function()
    srv = run.mock()
    dir = helpers.tmpdir() .. "/out"
  end)
  after_each(function()
    srv:close()
    helpers.rmtree(dir:match("^(.*)/out$"))
  end)

  it("writes a 12-chapter course in order, each file quoting its own title", function()
    local stats, events = run.generate(run.course(12), run.opts(srv, { out = dir }))
    assert.same({ total = 12, written = 12, skipped = 0, failed = 0 }, stats.chapters)
    assert.is_false(stats.interrupted)
    assert.equal(dir, stats.out)
    assert.equal(13, srv:stats().requests) -- 12 chapters and the summary
    local m = run.manifest(dir)
    assert.equal(1, m.format)
    assert.equal("Mock course", m.title)
    assert.equal("gemini", m.provider)
    for i = 1, 12 do
      local e = m.chapters[i]
      assert.equal(i, e.index)
      assert.equal(string.format("%02d-topic-%d.md", i, i), e.file)
      assert.equal("done", e.status)
      assert.equal(1, e.attempts)
      assert.equal("STOP", e.finish_reason)
      assert.equal(64, #e.prompt_sha256)
      local text = helpers.readfile(dir .. "/" .. e.file)
      assert.equal(require("coursegen.sha256").hex(text), e.sha256)
      assert.equal("# Topic " .. i .. "\n", text:match("^[^\n]*\n"))
      assert.truthy(text:find("Chapter " .. i .. " of 12: Topic " .. i, 1, true), "chapter " .. i)
      assert.truthy(e.tokens.prompt > 0 and e.tokens.output > 0)
    end
    local readme = helpers.readfile(dir .. "/README.md")
    local pos = 0
    for i = 1, 12 do
      local at = readme:find(string.format("%d. [Topic %d](%02d-topic-%d.md)", i, i, i, i), 1, true)
      assert.truthy(at and at > pos, "README entry " .. i)
      pos = at
    end
    assert.truthy(readme:find("## Summary\n\n", 1, true))
    assert.equal("done", m.summary.status)
    local plan = run.of_type(events, "plan")[1]
    assert.same({ type = "plan", total = 12, skipped = 0, to_do = 12 }, plan)
    assert.equal(12, #run.of_type(events, "chapter"))
    assert.same({ type = "outline", source = "given", count = 12 }, run.of_type(events, "outline")[1])
    assert.equal("done", run.of_type(events, "summary")[1].status)
    assert.truthy(#run.of_type(events, "tick") >= 1)
  end)

  it("generates an outline, saves it, and reuses it on a rerun", function()
    local course = assert(coursegen.course { title = "Generated", chapters = 5 })
    local _, events = run.generate(course, run.opts(srv, { out = dir }))
    assert.same({ type = "outline", source = "generated", count = 5 }, run.of_type(events, "outline")[1])
    local outline = require("coursegen.json").decode(helpers.readfile(dir .. "/outline.json"))
    assert.equal(5, #outline.chapters)
    assert.equal(7, srv:stats().requests) -- outline, 5 chapters, summary
    srv:reset_stats()
    local stats2, events2 = run.generate(course, run.opts(srv, { out = dir }))
    assert.same({ type = "outline", source = "saved", count = 5 }, run.of_type(events2, "outline")[1])
    assert.equal(5, stats2.chapters.skipped)
    assert.equal(0, srv:stats().requests)
    -- The user edits a title: the rerun keeps the edit (every prompt carries the outline,
    -- so every chapter is written again).
    outline.chapters[2].title = "My own title"
    helpers.writefile(dir .. "/outline.json", require("coursegen.json").encode(outline))
    local stats3 = run.generate(course, run.opts(srv, { out = dir }))
    assert.equal(5, stats3.chapters.written)
    assert.truthy(helpers.readfile(dir .. "/02-my-own-title.md"):find("^# My own title\n"))
  end)

  it("refuses a saved outline it cannot use, naming the file, and sends nothing", function()
    local course = assert(coursegen.course { title = "Saved", chapters = 3 })
    assert(require("coursegen.files").mkdir_p(dir))
    -- a folder coursegen wrote before (an empty manifest), holding an outline it cannot use
    helpers.writefile(dir .. "/course.json", '{"format": 1, "chapters": []}')
    local path = dir .. "/outline.json"
    for _, case in ipairs {
      { '{"chapters": [', path .. ": invalid JSON: " },
      { string.rep(" ", 16 * 1024 * 1024 + 1), path .. ": file too large (more than 16 MiB)" },
    } do
      helpers.writefile(path, case[1])
      for _, call in ipairs { coursegen.generate, coursegen.plan } do
        local ok, err, kind = call(course, run.opts(srv, { out = dir }))
        assert.is_nil(ok)
        assert.equal("input", kind)
        assert.equal(case[2], err:sub(1, #case[2]))
      end
      assert.equal(case[1], helpers.readfile(path)) -- the user's file is left as it was
    end
    assert.equal(0, srv:stats().requests)
  end)

  it("re-asks an outline answer that is not usable", function()
    -- The description is in the outline prompt, and in the chapters' shared part, which the
    -- mock does not read for directives (it reads the last user message): one empty answer.
    local course = assert(coursegen.course { title = "Asked twice", description = "[[mock:empty]]", chapters = 3 })
    local stats, events = run.generate(course, run.opts(srv, { out = dir }))
    assert.same({ type = "outline", source = "generated", count = 3 }, run.of_type(events, "outline")[1])
    assert.equal(3, stats.chapters.written)
    assert.equal(1, stats.empty_answers)
  end)

  it("retries faults until every chapter is written", function()
    local course = run.course(6, { nil, "[[mock:503,503]]", nil, "[[mock:empty]]", "[[mock:maxtokens]]",
                                   "[[mock:500,504]]" })
    local stats = run.generate(course, run.opts(srv, { out = dir }))
    assert.same({ total = 6, written = 6, skipped = 0, failed = 0 }, stats.chapters)
    local m = run.manifest(dir)
    local attempts = {}
    for i, e in ipairs(m.chapters) do attempts[i] = e.attempts end
    assert.same({ 1, 3, 1, 2, 2, 3 }, attempts)
    assert.equal(1, stats.empty_answers)
    assert.equal(1, stats.truncated_answers)
    for i = 1, 6 do
      assert.truthy(helpers.readfile(dir .. "/" .. m.chapters[i].file):find("of 6: Topic " .. i, 1, true))
    end
  end)

  it("reports a chapter that stays blocked, writes the others, lists it as missing", function()
    local course = run.course(4, { nil, nil, "[[mock:safety*]]" })
    local stats, events = run.generate(course, run.opts(srv, { out = dir, max_attempts = 3 }))
    assert.same({ total = 4, written = 3, skipped = 0, failed = 1 }, stats.chapters)
    assert.equal(3, stats.blocked_answers)
    local m = run.manifest(dir)
    assert.equal("failed", m.chapters[3].status)
    assert.equal(3, m.chapters[3].attempts)
    assert.equal("SAFETY", m.chapters[3].finish_reason)
    assert.equal("blocked after 3 attempts: blocked, finish reason SAFETY", m.chapters[3].error)
    assert.is_nil(helpers.readfile(dir .. "/03-topic-3.md")) -- never fake content
    local readme = helpers.readfile(dir .. "/README.md")
    assert.truthy(readme:find("3. Topic 3 (missing: generation failed)", 1, true))
    assert.is_nil(readme:find("## Summary", 1, true))
    local ev = run.of_type(events, "chapter")
    local failed
    for _, e in ipairs(ev) do if e.index == 3 then failed = e end end
    assert.equal("failed", failed.status)
    assert.equal(3, failed.attempts)
    assert.equal("blocked after 3 attempts: blocked, finish reason SAFETY", failed.reason)
    assert.equal("skipped", run.of_type(events, "summary")[1].status)
  end)

  it("resumes after a run stopped midway, with no request for finished chapters", function()
    local course = run.course(12)
    local seen = 0
    local stats0, err, kind = coursegen.generate(course, run.opts(srv, { out = dir, concurrency = 2,
      on_event = function(ev)
        if ev.type == "chapter" then
          seen = seen + 1
          if seen == 5 then error("stop here", 0) end
        end
      end }))
    assert.is_nil(stats0)
    assert.equal("hook on_event raised: stop here", err)
    assert.equal("hook", kind)
    local m = run.manifest(dir)
    local done = 0
    for _, e in ipairs(m.chapters) do if e.status == "done" then done = done + 1 end end
    assert.equal(5, done)
    srv:reset_stats()
    local stats = run.generate(course, run.opts(srv, { out = dir }))
    assert.same({ total = 12, written = 7, skipped = 5, failed = 0 }, stats.chapters)
    assert.equal(8, srv:stats().requests) -- 7 chapters and the summary
    srv:reset_stats()
    local again = run.generate(course, run.opts(srv, { out = dir }))
    assert.same({ total = 12, written = 0, skipped = 12, failed = 0 }, again.chapters)
    assert.equal(0, srv:stats().requests)
  end)

  it("regenerates a chapter whose prompt changed, and everything with force", function()
    run.generate(run.course(3), run.opts(srv, { out = dir }))
    srv:reset_stats()
    local stats = run.generate(run.course(3, { nil, "now with a brief" }), run.opts(srv, { out = dir }))
    -- the brief is in every chapter's outline, so every prompt changed
    assert.equal(3, stats.chapters.written)
    srv:reset_stats()
    local forced = run.generate(run.course(3, { nil, "now with a brief" }), run.opts(srv, { out = dir, force = true }))
    assert.equal(3, forced.chapters.written)
    assert.equal(4, srv:stats().requests)
  end)

  it("regenerates only the chapters named by only", function()
    run.generate(run.course(8), run.opts(srv, { out = dir }))
    srv:reset_stats()
    local stats = run.generate(run.course(8), run.opts(srv, { out = dir, only = { 3, 7 } }))
    assert.same({ total = 8, written = 2, skipped = 6, failed = 0 }, stats.chapters)
    assert.equal(2, srv:stats().requests)
    assert.equal("done", run.manifest(dir).summary.status) -- the earlier summary is kept
    local _, err, kind = coursegen.generate(run.course(8), run.opts(srv, { out = dir, only = { 9 } }))
    assert.equal("option only: there is no chapter 9 (the course has 8)", err)
    assert.equal("input", kind)
  end)

  it("never writes the API key anywhere", function()
    local key = "sekrit-KEY-0123456789"
    srv:close()
    srv = run.mock { api_key = key }
    local stats = run.generate(run.course(3), run.opts(srv, { out = dir, api_key = key }))
    assert.equal(3, stats.chapters.written)
    assert.is_nil(run.all_text(dir):find(key, 1, true))
    -- A wrong key fails every chapter with the server's words, and still leaks nothing.
    local dir2 = dir .. "-wrong"
    local bad, events = run.generate(run.course(2), run.opts(srv, { out = dir2, api_key = "wrong-key-987654" }))
    assert.equal(2, bad.chapters.failed)
    local m = run.manifest(dir2)
    assert.truthy(m.chapters[1].error:find("HTTP 400", 1, true), m.chapters[1].error)
    assert.is_nil(run.all_text(dir2):find("wrong-key-987654", 1, true))
    for _, ev in ipairs(events) do
      for _, v in pairs(ev) do assert.is_false(tostring(v):find("wrong-key-987654", 1, true) ~= nil) end
    end
    -- dir2 sits in the temporary folder that after_each removes, once the server is closed.
  end)

  it("runs stages after each chapter, through the same resume", function()
    local course = run.course(3)
    local opts = run.opts(srv, { out = dir, hooks = {
      prompt = function(ch, p) return p .. "\n\n(chapter " .. ch.number .. " hook)" end,
      postprocess = function(_, text) return text .. "\n\n---\nEdited." end,
      stages = { {
        name = "quiz",
        prompt = function(ch, text)
          assert.truthy(text:find("Topic " .. ch.index, 1, true))
          return "Quiz for chapter " .. ch.number .. ": " .. ch.title
        end,
      } },
    } })
    local stats, events = run.generate(course, opts)
    assert.same({ written = 3, skipped = 0, failed = 0 }, stats.stages)
    assert.equal(7, srv:stats().requests)
    for i = 1, 3 do
      local quiz = helpers.readfile(string.format("%s/%02d-topic-%d.quiz.md", dir, i, i))
      assert.truthy(quiz:find("Quiz for chapter " .. i .. ": Topic " .. i, 1, true))
      assert.truthy(helpers.readfile(string.format("%s/%02d-topic-%d.md", dir, i, i)):find("\n---\nEdited.\n$"))
    end
    assert.equal("done", run.manifest(dir).chapters[2].stages.quiz.status)
    assert.equal(3, #run.of_type(events, "stage"))
    srv:reset_stats()
    local again = run.generate(course, opts)
    assert.same({ written = 0, skipped = 3, failed = 0 }, again.stages)
    assert.equal(0, srv:stats().requests)
  end)

  it("ends with nil, the hook's error and kind \"hook\" when a hook raises, keeping what finished", function()
    local course = run.course(3)
    local calls = 0
    local opts = run.opts(srv, { out = dir, concurrency = 1, hooks = {
      postprocess = function(ch, text)
        calls = calls + 1
        if ch.index == 2 then error("no quiz for " .. ch.title) end
        return text
      end,
    } })
    local stats, err, kind = coursegen.generate(course, opts)
    assert.is_nil(stats)
    assert.equal("hook", kind)
    assert.truthy(err:find("hook postprocess raised: ", 1, true), err)
    assert.truthy(err:find("no quiz for Topic 2", 1, true), err)
    local m = run.manifest(dir)
    assert.equal("done", m.chapters[1].status)
    assert.truthy(helpers.readfile(dir .. "/01-topic-1.md"))
    -- A hook that returns no string is named too.
    opts.hooks.postprocess = function() return nil end
    stats, err, kind = coursegen.generate(course, run.opts(srv, { out = dir .. "2", hooks = opts.hooks }))
    assert.is_nil(stats)
    assert.equal("hook", kind)
    assert.equal("hook postprocess must return a string, got nil", err)
    helpers.rmtree(dir .. "2")
  end)

  it("cuts a source over its budget and says so", function()
    local src = dir:match("^(.*)/out$") .. "/notes.md"
    helpers.writefile(src, string.rep("A paragraph of notes about the topic.\n\n", 40))
    local course = assert(coursegen.course { title = "From notes", source = src, chapters = { "One" } })
    local _, events = run.generate(course, run.opts(srv, { out = dir, source_max_tokens = 50 }))
    local w = run.of_type(events, "warning")[1]
    assert.equal("source " .. src .. " is about 390 tokens, over the budget of 50: using its first 49 tokens " ..
      "(cut at a paragraph boundary)", w.message)
  end)

  it("stops on SIGINT, keeps what finished, and reports interrupted", function()
    srv:close()
    srv = run.mock { latency_ms = 200, jitter_ms = 0 }
    -- The signal comes from a background shell started before any connection is open (a
    -- child forked later would inherit the sockets); six chapters one at a time take 1.2 s.
    local pid = helpers.readfile("/proc/self/stat"):match("^%d+")
    os.execute("(sleep 0.5; kill -INT " .. pid .. ") &")
    local stats = run.generate(run.course(6), run.opts(srv, { out = dir, concurrency = 1, catch_signals = true }))
    require("coursegen.core").reset_interrupted() -- the flag is process-wide: clear it for the next specs
    assert.is_true(stats.interrupted)
    local m = run.manifest(dir)
    assert.equal("done", m.chapters[1].status)
    assert.equal("pending", m.chapters[6].status)
    assert.truthy(stats.chapters.written >= 1 and stats.chapters.written < 6)
  end)

  it("speaks the OpenAI dialect too", function()
    local stats = run.generate(run.course(3), run.opts(srv, { out = dir, provider = "openai",
      base_url = srv.url .. "/v1" }))
    assert.equal(3, stats.chapters.written)
    assert.truthy(helpers.readfile(dir .. "/02-topic-2.md"):find("Chapter 2 of 3: Topic 2", 1, true))
  end)

  it("plans without sending anything", function()
    local plan = assert(coursegen.plan(run.course(4), run.opts(srv, { out = dir })))
    assert.equal(4, #plan.prompts)
    assert.equal("Chapter 2 of 4: Topic 2", plan.prompts[2].prompt:match("^[^\n]*"))
    assert.equal(5, plan.requests)
    assert.truthy(plan.tokens.prompt > 0 and plan.tokens.output == 5 * 8192)
    assert.equal(dir, plan.out)
    local six = assert(coursegen.course { title = "G", chapters = 6 })
    local gen = assert(coursegen.plan(six, run.opts(srv, { out = dir })))
    assert.is_nil(gen.outline)
    assert.equal("outline", gen.prompts[1].chapter)
    assert.equal(8, gen.requests)
    assert.equal(0, srv:stats().requests)
  end)
end)

describe("coursegen.generate input errors", function()
  it("returns auth when no key is found for the real server", function()
    local c = assert(coursegen.course { title = "T", chapters = 1 })
    local s, err, kind = coursegen.generate(c, { env = {}, out = "out/never-written" })
    assert.is_nil(s)
    assert.equal("no API key for gemini: set GEMINI_API_KEY (or GOOGLE_API_KEY) to your Gemini API key, name another "
      .. "variable with --api-key-env, or give a file with --api-key-file", err)
    assert.equal("auth", kind)
  end)

  it("names a bad or unknown option", function()
    local c = assert(coursegen.course { title = "T", chapters = 1 })
    local _, err, kind = coursegen.generate(c, { concurency = 3 })
    assert.equal('unknown option "concurency"', err)
    assert.equal("input", kind)
    local _, err2 = coursegen.generate(c, { provider = "claude" })
    assert.equal('option provider: unknown provider "claude" (known: gemini, openai, ollama)', err2)
    local _, err3 = coursegen.generate(c, { concurrency = 0 })
    assert.equal("option concurrency: expected a whole number of at least 1, got 0", err3)
    local _, err4 = coursegen.generate({ title = "" }, {})
    assert.equal("course: title: must not be empty", err4)
  end)

  it("raises on misuse", function()
    assert.has_error(function() coursegen.generate(nil) end, "bad argument #1 to 'generate' (course expected, got nil)")
  end)
end)
