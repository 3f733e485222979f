-- luacheck: std +busted
-- The controls people expect: --instructions(-file), --language, --audience,
-- --temperature (also a course-file option), --max-chapters, --log-file, --quiet, and the
-- user config file with its place among the settings' sources. The real command as a
-- subprocess, against the mock or a loopback server that records what it was sent.
local helpers = require "helpers"
local json = require "coursegen.json"
local mock = require "coursegen.mock"
local canned = require "support.canned"
local rel = require "support.reliability"

local KEY = "AIzaSyFLAGS-spec-key-0123456789abcdefg"

describe("command-line controls", function()
  local dir, srv, env

  before_each(function()
    dir = helpers.tmpdir()
    srv = mock.start { latency_ms = 1 }
    env = { XDG_CONFIG_HOME = dir .. "/xdg" }   -- no user config unless a test writes one
  end)
  after_each(function()
    srv:close()
    helpers.rmtree(dir)
  end)

  local function course(t, name)
    helpers.writefile(dir .. "/" .. (name or "c.json"), json.encode(t))
    return name or "c.json"
  end

  local function run(args, extra_env)
    local e = {}
    for k, v in pairs(env) do e[k] = v end
    for k, v in pairs(extra_env or {}) do e[k] = v end
    return rel.run(dir, args, e)
  end

  local function dry(args)
    local all = { "generate", course { title = "Knots", chapters = { "Reef knot", "Bowline" } }, "--dry-run" }
    for _, a in ipairs(args) do all[#all + 1] = a end
    local r = run(all)
    assert.equal(0, r.code, r.err)
    return r.out
  end

  describe("the course's words", function()
    it("--instructions, --language and --audience reach every prompt", function()
      local out = dry { "--instructions", "Use sailing examples.", "--language", "French", "--audience", "sailors" }
      -- in the part every chapter prompt shares (the dry run prints it once) or in each prompt
      local _, n = out:gsub("Instructions from the author: Use sailing examples%.", "")
      assert.is_true(n >= 1, out)
      assert.truthy(out:find("Write in French.", 1, true))
      assert.truthy(out:find("Audience: sailors", 1, true))
    end)

    it("--instructions replaces the course file's instructions", function()
      local path = course { title = "K", chapters = { "A" }, instructions = "From the file." }
      local r = run { "generate", path, "--dry-run", "--instructions", "From the flag." }
      assert.truthy(r.out:find("From the flag.", 1, true))
      assert.is_nil(r.out:find("From the file.", 1, true))
    end)

    it("--instructions-file reads them from a file, and names a missing or empty one", function()
      helpers.writefile(dir .. "/style.txt", "Every example uses rope.\n")
      assert.truthy(dry({ "--instructions-file", "style.txt" }):find("Every example uses rope.", 1, true))
      local r = run { "generate", course { title = "K", chapters = 2 }, "--dry-run", "--instructions-file", "nope.txt" }
      assert.equal(2, r.code)
      assert.equal("coursegen: error: --instructions-file: cannot read nope.txt: No such file or directory\n", r.err)
      helpers.writefile(dir .. "/empty.txt", " \n")
      r = run { "generate", "c.json", "--dry-run", "--instructions-file", "empty.txt" }
      assert.equal(2, r.code)
      assert.equal("coursegen: error: --instructions-file: empty.txt is empty\n", r.err)
      r = run { "generate", "c.json", "--dry-run", "--instructions-file", "style.txt", "--instructions", "x" }
      assert.equal(2, r.code)
      assert.truthy(r.err:find("can not be used together", 1, true))
    end)
  end)

  describe("--temperature", function()
    local ANSWER = json.encode { choices = { { index = 0, finish_reason = "stop",
      message = { role = "assistant", content = "## Summary\nA chapter about knots." } } },
      usage = { prompt_tokens = 10, completion_tokens = 8, total_tokens = 18 } }

    local function sent_temperatures(args, course_options)
      local server = canned.start(dir, 200, "application/json", ANSWER, 4)
      local path = course({ title = "K", chapters = { "A" }, options = course_options }, "t.json")
      local all = { "generate", path, "--provider", "openai", "--base-url", server.url .. "/v1", "--out", "o",
                    "--force", "--quiet" }
      for _, a in ipairs(args) do all[#all + 1] = a end
      local r = run(all)
      assert.equal(0, r.code, r.err)
      local temps = {}
      for i, req in ipairs(server.requests()) do temps[i] = json.decode(req.body).temperature or "none" end
      return temps
    end

    it("is sent with every request, from the flag or the course file, the flag first", function()
      assert.same({ 0.3, 0.3 }, sent_temperatures { "--temperature", "0.3" })    -- the chapter and the summary
      assert.same({ 0.7, 0.7 }, sent_temperatures({}, { temperature = 0.7 }))
      assert.same({ 0.1, 0.1 }, sent_temperatures({ "--temperature", "0.1" }, { temperature = 0.7 }))
      assert.same({ "none", "none" }, sent_temperatures {})                      -- the model's own
    end)

    it("is checked, naming the flag or the course file's field", function()
      local r = run { "generate", course { title = "K", chapters = 1 }, "--dry-run", "--temperature", "3" }
      assert.equal(2, r.code)
      assert.equal("coursegen: error: --temperature must be at most 2, got '3'\n", r.err:match("^[^\n]*\n"))
      local path = course({ title = "K", chapters = 1, options = { temperature = -1 } }, "bad.json")
      r = run { "validate", path }
      assert.equal(2, r.code)
      assert.equal("coursegen: error: bad.json: options.temperature must be at least 0, got '-1'\n", r.err)
    end)
  end)

  describe("--max-chapters", function()
    it("asks for at most N chapters and accepts fewer", function()
      local path = course { title = "Knots" }
      local r = run { "generate", path, "--max-chapters", "4", "--dry-run" }
      assert.equal(0, r.code, r.err)
      assert.truthy(r.out:find("with at most 4 chapters.\n\nChoose the number of chapters the subject needs", 1, true))
      r = run { "generate", path, "--max-chapters", "4", "--base-url", srv.url, "--out", "o", "--quiet" }
      assert.equal(0, r.code, r.err)
      local saved = json.decode(helpers.readfile(dir .. "/o/outline.json"))
      assert.is_true(#saved.chapters >= 1 and #saved.chapters <= 4)
    end)

    it("is a course-file key too, and conflicts with --chapters", function()
      local path = course({ title = "Knots", max_chapters = 3 }, "m.json")
      local r = run { "generate", path, "--dry-run" }
      assert.truthy(r.out:find("with at most 3 chapters.", 1, true), r.out)
      r = run { "generate", path, "--dry-run", "--chapters", "5" }        -- the flag replaces the file's maximum
      assert.truthy(r.out:find("with exactly 5 chapters.", 1, true), r.out)
      r = run { "generate", path, "--dry-run", "--chapters", "5", "--max-chapters", "3" }
      assert.equal(2, r.code)
      assert.equal("coursegen: error: --chapters and --max-chapters can not be used together\n", r.err)
    end)
  end)

  describe("--log-file", function()
    it("appends every event as a JSON line: attempts, waits, statuses, chapters; never the key", function()
      srv:close()
      srv = mock.start { latency_ms = 1, api_key = KEY }
      local path = course { title = "K", chapters = { { title = "Flaky", brief = "[[mock:503]]" }, "Steady" } }
      local r = run({ "generate", path, "--base-url", srv.url, "--out", "o", "--quiet", "--log-file", "run.log" },
        { GEMINI_API_KEY = KEY })
      assert.equal(0, r.code, r.err)
      local text = assert(helpers.readfile(dir .. "/run.log"))
      assert.is_nil(text:find(KEY, 1, true))
      local events = {}
      for line in text:gmatch("[^\n]+") do
        local ev = assert(json.decode(line), line)
        assert.truthy(ev.time:match("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$"))
        assert.is_number(ev.elapsed_s)
        assert.is_not.equal("tick", ev.type)
        events[#events + 1] = ev
      end
      assert.equal("start", events[1].type)
      assert.equal("gemini-2.5-flash", events[1].model)
      assert.equal("finish", events[#events].type)
      assert.equal(2, events[#events].stats.chapters.written)
      local retried, done = false, 0
      for _, ev in ipairs(events) do
        if ev.type == "attempt" and ev.status == 503 then
          retried = true
          assert.is_number(ev.wait_s)
          assert.equal("Flaky", ev.title)
        end
        if ev.type == "chapter" and ev.status == "done" then done = done + 1 end
      end
      assert.is_true(retried)
      assert.equal(2, done)
      -- appended, not replaced
      run({ "generate", path, "--base-url", srv.url, "--out", "o", "--quiet", "--log-file", "run.log" },
        { GEMINI_API_KEY = KEY })
      local _, starts = helpers.readfile(dir .. "/run.log"):gsub('"type":"start"', "")
      assert.equal(2, starts)
    end)

    it("names a log file it cannot write, before anything is sent", function()
      local r = run { "generate", course { title = "K", chapters = { "A" } }, "--base-url", srv.url,
                      "--log-file", "no/such/dir/run.log" }
      assert.equal(2, r.code)
      assert.truthy(r.err:find("^coursegen: error: %-%-log%-file: cannot write no/such/dir/run.log"), r.err)
      assert.equal(0, srv:stats().requests)
    end)
  end)

  describe("outline", function()
    it("runs under the limits generate would use: a course file's tpm too small for one request fails it", function()
      local path = course { title = "Knots", chapters = 3, options = { tpm = 10 } }
      local r = run { "outline", path, "--base-url", srv.url, "-o", "k.md" }
      assert.equal(1, r.code, r.err)
      assert.truthy(r.err:find("tokens/min", 1, true), r.err)
      assert.equal(0, srv:stats().requests)
    end)
  end)

  describe("--quiet", function()
    it("leaves stderr to errors and the summary, for scripts", function()
      local path = course { title = "K", chapters = 2 }
      local r = run { "outline", path, "--base-url", srv.url, "-o", "k.md", "--quiet" }
      assert.equal(0, r.code)
      assert.equal("", r.err)
      r = run { "generate", "k.md", "--base-url", srv.url, "--out", "o", "--quiet" }
      assert.equal(0, r.code)
      assert.truthy(r.err:match("^Done: 2 chapters in o"), r.err)
      assert.is_nil(r.err:find("[1/2]", 1, true))
    end)
  end)

  describe("the user config file", function()
    local function config(t, path)
      path = path or (dir .. "/xdg/coursegen/config.json")
      assert(os.execute("mkdir -p '" .. path:match("^(.*)/") .. "'"))
      helpers.writefile(path, type(t) == "string" and t or json.encode(t))
      return path
    end

    it("holds the settings kept per machine: server, key variable, limits", function()
      srv:close()
      srv = mock.start { latency_ms = 5, api_key = KEY }
      config { base_url = srv.url, api_key_env = "MY_LLM_KEY", concurrency = 1, model = "from-config" }
      local path = course { title = "K", chapters = { "A", "B", "C" }, options = { model = "from-course" } }
      local r = run({ "generate", path, "--out", "o", "--quiet", "--stats-json", "s.json" }, { MY_LLM_KEY = KEY })
      assert.equal(0, r.code, r.err)
      assert.equal(1, srv:stats().max_concurrent)
      local m = json.decode(helpers.readfile(dir .. "/o/course.json"))
      assert.equal("from-config", m.model)    -- the user config is above the course file
    end)

    it("is below the environment and the flags", function()
      config { model = "from-config", base_url = srv.url }
      local path = course { title = "K", chapters = { "A" } }
      local r = run({ "generate", path, "--dry-run" }, { COURSEGEN_MODEL = "from-env" })
      assert.truthy(r.out:find("model: from-env (gemini, " .. srv.url .. ")", 1, true), r.out)
      r = run({ "generate", path, "--dry-run", "--model", "from-flag" }, { COURSEGEN_MODEL = "from-env" })
      assert.truthy(r.out:find("model: from-flag", 1, true), r.out)
    end)

    it("can live elsewhere with COURSEGEN_CONFIG, which must then exist", function()
      local other = config({ model = "elsewhere" }, dir .. "/my.json")
      local path = course { title = "K", chapters = { "A" } }
      local r = run({ "generate", path, "--dry-run" }, { COURSEGEN_CONFIG = other })
      assert.truthy(r.out:find("model: elsewhere", 1, true), r.out)
      r = run({ "generate", path, "--dry-run" }, { COURSEGEN_CONFIG = dir .. "/missing.json" })
      assert.equal(2, r.code)
      assert.equal("coursegen: error: user config: cannot read " .. dir .. "/missing.json: No such file or directory\n",
        r.err)
    end)

    it("reads the key file it names, relative to itself or from ~/", function()
      srv:close()
      srv = mock.start { latency_ms = 1, api_key = KEY }
      local p = config { base_url = srv.url, api_key_file = "key.txt" }
      helpers.writefile(p:match("^(.*)/") .. "/key.txt", KEY .. "\n")
      local path = course { title = "K", chapters = { "A" } }
      local r = run { "generate", path, "--out", "o", "--quiet" }
      assert.equal(0, r.code, r.err)
      helpers.writefile(dir .. "/home-key", KEY .. "\n")
      config { base_url = srv.url, api_key_file = "~/home-key" }
      r = run({ "generate", path, "--out", "o2", "--quiet" }, { HOME = dir })
      assert.equal(0, r.code, r.err)
    end)

    it("names the file and the field of a bad entry, exit 2", function()
      local p = config { modle = "x" }
      local r = run { "generate", course { title = "K", chapters = { "A" } }, "--dry-run" }
      assert.equal(2, r.code)
      assert.truthy(r.err:find("coursegen: error: " .. p .. ": unknown field modle (known: api_key_env, api_key_file, "
        .. "base_url, ca_file, concurrency, limiter, ", 1, true), r.err)
      config { rpm = 0 }
      r = run { "generate", "c.json", "--dry-run" }
      assert.equal("coursegen: error: " .. p .. ": rpm must be at least 1, got '0'\n", r.err)
      config "{ not json"
      r = run { "generate", "c.json", "--dry-run" }
      assert.truthy(r.err:find(p .. ": invalid JSON", 1, true), r.err)
    end)
  end)

  describe("--help", function()
    it("lists the new controls, the variables and the order of the sources", function()
      local r = run { "generate", "--help" }
      for _, opt in ipairs { "--instructions TEXT", "--instructions-file FILE", "--language NAME", "--audience TEXT",
                             "--temperature T", "--max-chapters N", "--log-file FILE", "--quiet", "ollama",
                             "COURSEGEN_PROVIDER", "COURSEGEN_MODEL", "COURSEGEN_BASE_URL", "COURSEGEN_API_KEY_FILE",
                             "COURSEGEN_PRICE_IN", "COURSEGEN_PRICE_OUT", "COURSEGEN_CONFIG", "OPENAI_BASE_URL",
                             "flags, the environment, the user config file" } do
        assert.truthy(r.out:find(opt, 1, true), "generate --help lacks " .. opt)
      end
      r = run { "--help" }
      assert.truthy(r.out:find("COURSEGEN_CONFIG", 1, true))
    end)
  end)
end)
