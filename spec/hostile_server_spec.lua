-- luacheck: std +busted
-- Servers that misbehave on purpose: bodies past the size cap, headers that never end, a
-- byte a second, invalid UTF-8, JSON nested 100,000 deep or of the wrong shape, a
-- redirect to another host, an HTTP/1.0 answer. Each must cost at most its own request
-- (a clear error, or success when the answer is legitimate), never the run, a crash, a
-- leaked descriptor, or the API key.
local core = require "coursegen.core"
local json = require "coursegen.json"
local coursegen = require "coursegen"
local helpers = require "helpers"
local run = require "support.course_run"
local rel = require "support.reliability"

local SECRET = "hostile-test-key-0123456789"
local CAP = 1024 * 1024

local function gemini_body(title)
  return json.encode { contents = { { role = "user", parts = { { text = "# " .. title } } } } }
end

local function is_utf8(s)
  return utf8.len(s) ~= nil
end

-- Waits until the mock has closed its side of every connection the client dropped, so a
-- descriptor count compares like with like (both ends live in this process).
local function settle(...)
  for _, s in ipairs { ... } do
    local deadline = rel.now() + 5
    while s:stats().connections > 0 and rel.now() < deadline do core.sleep(0.02) end
  end
end

-- Every file of an output folder, by name.
local function files(dir)
  local out = {}
  for _, name in ipairs(rel.list(dir)) do out[name] = helpers.readfile(dir .. "/" .. name) end
  return out
end

describe("#reliability hostile servers", function()
  local srv, target, tmp
  before_each(function()
    srv = run.mock { jitter_ms = 0, answer_words = 40 }
    -- Where the redirect points: it must never see a request.
    target = run.mock { jitter_ms = 0 }
    tmp = helpers.tmpdir()
  end)
  after_each(function()
    srv:close()
    target:close()
    helpers.rmtree(tmp)
  end)

  describe("through the engine", function()
    -- One request per fault, each followed by a clean one on the same engine, so a fault
    -- that poisoned a worker or a connection would show up in its neighbour.
    local CASES = {
      { "huge", function(r)
        assert.equal("too_large", r.error_code)
        assert.matches("response larger than " .. CAP .. " bytes", r.error, 1, true)
      end },
      { "hugechunked", function(r)
        assert.equal("too_large", r.error_code)
        assert.matches("response larger than " .. CAP .. " bytes", r.error, 1, true)
      end },
      { "endless_headers", function(r)
        assert.equal("too_large", r.error_code)
        assert.matches("response headers larger than", r.error, 1, true)
      end },
      { "slowloris", function(r)
        assert.equal("timeout", r.error_code)
      end },
      { "badutf8", function(r)
        assert.equal(200, r.status)
        assert.is_nil(r.error)
        local v = assert(json.decode(r.body))
        local text = v.candidates[1].content.parts[1].text
        assert.is_false(is_utf8(text))
        assert.is_true(is_utf8(json.encode { text = text })) -- the encoder repairs it
      end },
      { "deepjson", function(r)
        assert.equal(200, r.status)
        -- the decoder refuses past its depth limit with a message instead of a C stack overflow
        local v, err = json.decode(r.body)
        assert.is_nil(v)
        assert.matches("nested", err)
      end },
      { "oddjson:1", function(r)
        assert.equal(200, r.status)
        assert.equal("string", type(assert(json.decode(r.body)).candidates[1].content.parts))
      end },
      { "oddjson:2", function(r)
        assert.equal(200, r.status)
        assert.is_nil(assert(json.decode(r.body)).candidates[1])
      end },
      { "oddjson:3", function(r)
        assert.equal(200, r.status)
        assert.equal(42, assert(json.decode(r.body)).candidates[1].content.parts[1].text)
      end },
      { "redirect", function(r)
        assert.equal(302, r.status)
        assert.equal("http", r.error_code)
        assert.equal(1, r.attempts) -- a 3xx is not retried either
        assert.matches("^http://127%.0%.0%.1:%d+/", r.headers.location)
      end },
      { "http10", function(r)
        assert.equal(200, r.status)
        assert.is_nil(r.error)
        local v = assert(json.decode(r.body))
        assert.matches("Chapter http10", v.candidates[1].content.parts[1].text, 1, true)
      end },
    }

    it("fails only the hostile request, clearly, follows no redirect and leaks nothing", function()
      local fds0 = rel.fds()
      local eng = core.engine { concurrency = 4, max_attempts = 2, backoff_base = 0.01, backoff_cap = 0.02,
                                timeout = 2, idle_timeout = 2, max_response_bytes = CAP }
      local expect = {}
      for _, case in ipairs(CASES) do
        local fault = case[1] == "redirect" and ("redirect:" .. target.port) or case[1]
        local title = "Chapter " .. case[1]
        local id = eng:submit { url = srv.url .. "/v1beta/models/m:generateContent", method = "POST",
                                headers = { "Content-Type: application/json", "x-goog-api-key: " .. SECRET },
                                body = gemini_body(title .. " [[mock:" .. fault .. "*]]"), tokens = 100,
                                max_attempts = case[1] == "slowloris" and 1 or nil }
        expect[id] = case
        local clean = eng:submit { url = srv.url .. "/v1beta/models/m:generateContent", method = "POST",
                                   headers = { "Content-Type: application/json" },
                                   body = gemini_body("Clean after " .. case[1]), tokens = 100 }
        expect[clean] = { "clean " .. case[1], function(r)
          assert.equal(200, r.status)
          assert.matches("Clean after " .. case[1], r.body, 1, true)
        end }
      end
      local seen = 0
      while true do
        local r = eng:next(30)
        if not r then break end
        local case = assert(expect[r.id], "unexpected id " .. tostring(r.id))
        local ok, err = pcall(case[2], r)
        assert(ok, case[1] .. ": " .. tostring(err) .. " (got " .. tostring(r.status) .. " "
                 .. tostring(r.error) .. ")")
        seen = seen + 1
      end
      assert.equal(2 * #CASES, seen)
      assert.equal(0, eng:stats().in_flight)
      eng:close()
      assert.equal(0, target:stats().requests)
      assert.equal(0, srv:stats().in_flight)
      settle(srv, target)
      assert.equal(fds0, rel.fds())
    end)

    it("speaks only http and https, whatever URL it is given", function()
      local eng = core.engine { concurrency = 1, max_attempts = 1 }
      eng:submit { url = "file:///etc/hostname", method = "GET" }
      eng:submit { url = "dict://127.0.0.1:1/x", method = "GET" }
      for _ = 1, 2 do
        local r = assert(eng:next(5))
        assert.is_nil(r.body)
        assert.equal("network", r.error_code)
        assert.matches("not supported or disabled", r.error, 1, true)
      end
      eng:close()
    end)

    it("takes 64 MiB from a server without holding it, under the default cap too", function()
      -- Four answers past the default 32 MiB cap; the results wait undelivered until all
      -- four have failed, so a partial body kept with its job would show as 4 x 32 MiB.
      local rss0 = rel.memory()
      local eng = core.engine { concurrency = 4, max_attempts = 1, timeout = 20 }
      for i = 1, 4 do
        eng:submit { url = srv.url .. "/v1beta/models/m:generateContent", method = "POST",
                     headers = { "Content-Type: application/json" },
                     body = gemini_body("Big " .. i .. " [[mock:hugechunked]]"), tokens = 100 }
      end
      local deadline = rel.now() + 30
      while eng:stats().in_flight > 0 and rel.now() < deadline do core.sleep(0.05) end
      local held = rel.memory() - rss0
      for _ = 1, 4 do
        local r = assert(eng:next(20))
        assert.equal("too_large", r.error_code)
        assert.matches("larger than 33554432 bytes", r.error, 1, true)
        assert.is_nil(r.body)
      end
      eng:close()
      -- (a sanitizer's quarantine keeps freed memory resident, so only a plain build tells)
      if not os.getenv("COURSEGEN_SANITIZER") then
        assert.is_true(held < 64 * 1024, "failed results held " .. held .. " KiB")
      end
    end)
  end)

  describe("through coursegen.generate", function()
    -- Chapter i gets FAULTS[i] on every attempt; the check sees its manifest entry and file.
    local FAULTS = {
      { "huge", "failed", "too_large" },
      { "hugechunked", "failed", "too_large" },
      { "endless_headers", "failed", "response headers larger than" },
      { "slowloris", "failed", "timeout" },
      { "badutf8", "done" },
      { "deepjson", "failed", "nested" },
      { "oddjson:1", "failed", "no text in the answer" },
      { "oddjson:2", "failed", "in the answer" }, -- "no candidates" / "no choices"
      { "oddjson:3", "failed", "no text in the answer" },
      { "redirect", "failed", "HTTP 302" },
      { "http10", "done" },
    }

    local function course()
      local chapters = { { title = "Clean first" } }
      for i, f in ipairs(FAULTS) do
        local fault = f[1] == "redirect" and ("redirect:" .. target.port) or f[1]
        chapters[#chapters + 1] = { title = "Topic " .. i, brief = "[[mock:" .. fault .. "*]]" }
      end
      chapters[#chapters + 1] = { title = "Clean last" }
      return assert(coursegen.course { title = "Hostile course", chapters = chapters })
    end

    for _, provider in ipairs { "gemini", "openai" } do
      it("writes every other chapter and reports each hostile one (" .. provider .. ")", function()
        local dir = tmp .. "/out-" .. provider
        local fds0 = rel.fds()
        -- 4 s per attempt: the slowloris chapter's cost, and time enough for 32 MiB to
        -- arrive on a slow machine, so "huge" meets the size cap rather than the clock
        local stats = run.generate(course(), run.opts(srv, {
          out = dir, provider = provider, api_key = SECRET, max_attempts = 2, timeout = 4,
          concurrency = 6, rpm = 0, tpm = 0 }))
        assert.equal(#FAULTS + 2, stats.chapters.total)
        local m = rel.manifest(dir)
        assert.equal("done", m.chapters[1].status)
        assert.equal("done", m.chapters[#FAULTS + 2].status)
        for i, f in ipairs(FAULTS) do
          local e = m.chapters[i + 1]
          assert.equal(f[2], e.status, f[1] .. ": " .. tostring(e.error))
          if f[3] then
            assert.matches(f[3], e.error, 1, true)
            assert.is_nil(e.error:find("traceback", 1, true), f[1])
          end
        end
        local all = files(dir)
        -- invalid bytes stay in the chapter (the answer as received), never in the JSON
        local bad = all[m.chapters[1 + 5].file]
        assert.is_false(is_utf8(bad))
        assert.is_true(is_utf8(all["course.json"]))
        for name, text in pairs(all) do
          assert.is_true(is_utf8(name), name)
          assert.is_nil(text:find(SECRET, 1, true), name)
        end
        assert.equal(0, target:stats().requests)
        settle(srv, target)
        assert.equal(fds0, rel.fds())
      end)
    end

    it("keeps file names and the manifest valid UTF-8 when the outline's titles are not", function()
      local dir = tmp .. "/out"
      local c = assert(coursegen.course { title = "Broken titles", chapters = 3,
                                          description = "[[mock:badutf8]]" })
      local stats = run.generate(c, run.opts(srv, { out = dir }))
      assert.equal(3, stats.chapters.written)
      for name, text in pairs(files(dir)) do
        assert.is_true(is_utf8(name), name)
        assert.is_nil(name:find("\u{FFFD}", 1, true), name) -- the stand-in is no letter
        if name:match("%.json$") then
          assert.is_true(is_utf8(text), name)
          assert.truthy(json.decode(text), name)
        end
      end
      assert.matches("\u{FFFD}", rel.manifest(dir).chapters[1].title, 1, true)
    end)

    it("prints no control characters from a server on the command line", function()
      -- oddjson:3 puts "ESC[2J ESC]0;owned BEL" (clear screen, retitle the window) in the
      -- finish reason, which the failure line and the final summary both quote
      helpers.writefile(tmp .. "/c.json", json.encode { title = "Escapes", chapters = {
        { title = "Fine" }, { title = "Escaped", brief = "[[mock:oddjson:3*]]" } } })
      for _, extra in ipairs { { "--no-progress" }, { "--no-progress", "--verbose" } } do
        local args = { "generate", "c.json", "--base-url", srv.url, "--out", "o", "--max-attempts", "1",
                       "--force", table.unpack(extra) }
        local r = rel.run(tmp, args, { GEMINI_API_KEY = SECRET })
        assert.equal(1, r.code, r.err)
        assert.truthy(r.err:find("owned", 1, true), r.err) -- the reason is shown...
        assert.is_nil(r.err:find("[\0-\8\11-\31\127]"), r.err) -- ...without its control characters
        assert.is_nil(r.out:find("[\0-\8\11-\31\127]"), r.out)
      end
    end)

    it("reports a clear error when the outline answer is nested too deeply or shaped wrong", function()
      for _, fault in ipairs { "deepjson", "oddjson:2" } do
        local c = assert(coursegen.course { title = "Deep " .. fault, chapters = 3,
                                            description = "[[mock:" .. fault .. "*]]" })
        local stats, err, kind = coursegen.generate(c, run.opts(srv, { out = tmp .. "/" .. fault, max_attempts = 2 }))
        assert.is_nil(stats)
        assert.equal("request", kind)
        assert.matches("^outline: could not be generated: ", err)
        assert.is_nil(err:find("traceback", 1, true))
      end
    end)
  end)
end)
