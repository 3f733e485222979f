-- luacheck: std +busted
-- The command line, end to end: the real `bin/coursegen` as a subprocess against the mock
-- server running inside this process. Exit codes, every option, the progress output, the
-- statistics file, interruption and resuming, and the error messages a user sees.
local helpers = require "helpers"
local json = require "coursegen.json"
local mock = require "coursegen.mock"

local ROOT = helpers.root
local BIN = ROOT .. "/bin/coursegen"

-- Variables a developer's shell may set that would change what the command does.
local UNSET = { "GEMINI_API_KEY", "GOOGLE_API_KEY", "OPENAI_API_KEY", "COURSEGEN_PROVIDER",
                "COURSEGEN_MODEL", "COURSEGEN_BASE_URL", "COURSEGEN_PRICE_IN", "COURSEGEN_PRICE_OUT",
                "NO_COLOR", "MY_KEY", "COURSEGEN_CONFIG", "COURSEGEN_API_KEY_FILE", "OPENAI_BASE_URL" }

local function q(s)
  s = tostring(s)
  if s:match("^[%w%._/:=,%-+@]+$") then return s end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

local function env_prefix(env)
  local parts = { "env" }
  for _, k in ipairs(UNSET) do parts[#parts + 1] = "-u " .. k end
  -- no user config file from the developer's own home
  parts[#parts + 1] = "XDG_CONFIG_HOME=/nonexistent/coursegen-spec"
  local keys = {}
  for k in pairs(env or {}) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do parts[#parts + 1] = k .. "=" .. q(env[k]) end
  return table.concat(parts, " ")
end

-- The command line without the `cd`: one simple command, so `$!` is its process.
-- `timeout --foreground` passes a signal on to the command once; without it, timeout also
-- signals its whole process group, and the command would see a second Ctrl-C.
local function bare_command(args, env)
  local quoted = {}
  for i, a in ipairs(args) do quoted[i] = q(a) end
  return string.format("%s timeout --foreground 30 %s %s", env_prefix(env), q(BIN), table.concat(quoted, " "))
end

local function command(dir, args, env)
  return "cd " .. q(dir) .. " && " .. bare_command(args, env)
end

-- Runs the command in `dir`; returns { code, out, err }.
local function run(dir, args, env)
  local out, err = dir .. "/.stdout", dir .. "/.stderr"
  local _, how, code = os.execute(command(dir, args, env) .. " >" .. q(out) .. " 2>" .. q(err) .. " </dev/null")
  assert.equal("exit", how)
  return { code = code, out = helpers.readfile(out) or "", err = helpers.readfile(err) or "" }
end

-- Runs the command in the background, sends SIGINT once `trigger_glob` matches a file,
-- and waits; returns { code, out, err }.
local function run_interrupted(dir, args, env, trigger_glob)
  local script = dir .. "/.interrupt.sh"
  helpers.writefile(script, table.concat({
    "set -m",
    "cd " .. q(dir),
    bare_command(args, env) .. " >.stdout 2>.stderr </dev/null &",
    "pid=$!",
    "for i in $(seq 1 400); do ls " .. trigger_glob .. " >/dev/null 2>&1 && break; sleep 0.025; done",
    "kill -INT $pid",
    "wait $pid; echo $? >.rc",
  }, "\n") .. "\n")
  assert(os.execute("cd " .. q(dir) .. " && bash .interrupt.sh"))
  return { code = tonumber(helpers.readfile(dir .. "/.rc")), out = helpers.readfile(dir .. "/.stdout") or "",
           err = helpers.readfile(dir .. "/.stderr") or "" }
end

local function course_file(dir, t, name)
  local path = dir .. "/" .. (name or "course.json")
  helpers.writefile(path, json.encode(t))
  return path
end

local function read_json(path)
  return assert(json.decode(assert(helpers.readfile(path), "missing " .. path)))
end

local function count_files(dir, pattern)
  local n = 0
  local p = io.popen("ls -1 " .. q(dir) .. " 2>/dev/null")
  for name in p:lines() do
    if name:match(pattern) then n = n + 1 end
  end
  p:close()
  return n
end

local function sum(t)
  local n = 0
  for _, v in pairs(t or {}) do n = n + v end
  return n
end

local FOUR = { title = "Spec Course", chapters = { "Values", "Tables", "Functions", "Closures" } }

describe("coursegen command line", function()
  local srv, dir

  before_each(function()
    srv = mock.start { latency_ms = 10 }
    dir = helpers.tmpdir()
  end)

  after_each(function()
    if srv then srv:close() end
    helpers.rmtree(dir)
  end)

  describe("help and usage", function()
    it("prints --version and --help, exit 0", function()
      local r = run(dir, { "--version" })
      assert.equal(0, r.code)
      assert.truthy(r.out:match("^coursegen %S+\n$"))
      r = run(dir, { "--help" })
      assert.equal(0, r.code)
      local synopsis = "coursegen generate [COURSE_FILE] [--topic TEXT] [--source FILE] [--chapters N] [options]"
      assert.truthy(r.out:find(synopsis, 1, true))
      assert.truthy(r.out:find("coursegen validate COURSE_FILE", 1, true))
    end)

    it("answers --help and --version without loading the library or its C core", function()
      -- LUA_INIT_5_4 runs before the launcher: it reports what was loaded when the command exits
      local init = 'local e = os.exit; os.exit = function(...) io.stderr:write("LOADED", '
        .. '(package.loaded["coursegen.core"] and " core" or ""), (package.loaded.coursegen and " lib" or ""), '
        .. '"\\n"); return e(...) end'
      for _, flag in ipairs { "--help", "--version" } do
        local r = run(dir, { flag }, { LUA_INIT_5_4 = init })
        assert.equal(0, r.code, r.err)
        assert.equal("LOADED\n", r.err, flag)
      end
      local r = run(dir, { "--version" })
      assert.equal("coursegen " .. require("coursegen")._VERSION .. "\n", r.out)
    end)

    it("prints every command's --help", function()
      for _, cmd in ipairs { "generate", "outline", "validate", "mock" } do
        local r = run(dir, { cmd, "--help" })
        assert.equal(0, r.code)
        assert.truthy(r.out:find("Usage: coursegen " .. cmd, 1, true))
      end
      local r = run(dir, { "generate", "--help" })
      for _, opt in ipairs { "--out", "--provider", "--model", "--base-url", "--api-key-env", "--concurrency",
                             "--rpm", "--tpm", "--max-attempts", "--timeout", "--force", "--only", "--dry-run",
                             "--stats-json", "--quiet", "--no-progress", "--verbose", "--topic", "--source",
                             "--chapters" } do
        assert.truthy(r.out:find(opt, 1, true), "generate --help lacks " .. opt)
      end
    end)

    it("suggests the closest option, exit 2", function()
      local r = run(dir, { "generate", "c.json", "--concurency", "3" })
      assert.equal(2, r.code)
      assert.equal("coursegen: error: unknown option '--concurency' (did you mean '--concurrency'?)\n"
        .. "Run 'coursegen generate --help' for usage.\n", r.err)
    end)

    it("suggests the closest command, and asks for one, exit 2", function()
      local r = run(dir, { "generat" })
      assert.equal(2, r.code)
      assert.truthy(r.err:find("coursegen: error: unknown command 'generat' (did you mean 'generate'?)", 1, true))
      r = run(dir, {})
      assert.equal(2, r.code)
      assert.truthy(r.err:find("Usage: coursegen generate", 1, true))
    end)
  end)

  describe("option values", function()
    local cases = {
      { { "--concurrency", "0" }, "--concurrency must be at least 1, got '0'" },
      { { "--concurrency", "-2" }, "--concurrency must be at least 1, got '-2'" },
      { { "--concurrency", "many" }, "--concurrency must be a whole number from 1 to 1,024, got 'many'" },
      { { "--concurrency", "100000" }, "--concurrency must be at most 1,024, got '100000'" },
      { { "--rpm", "0" }, "--rpm must be at least 1, got '0'" },
      { { "--tpm", "1e3" }, "--tpm must be a whole number from 1 to 1,000,000,000, got '1e3'" },
      { { "--max-attempts", "1000" }, "--max-attempts must be at most 100, got '1000'" },
      { { "--timeout", "0" }, "--timeout must be greater than 0, got '0'" },
      { { "--timeout", "soon" }, "--timeout must be a number, got 'soon'" },
      { { "--chapters", "0" }, "--chapters must be at least 1, got '0'" },
      { { "--only", "2,x" }, "--only must be chapter numbers separated by commas, such as 3,7 or 2-5, got '2,x'" },
      { { "--provider", "claude" }, "--provider must be one of gemini, openai, ollama, got 'claude'" },
      { { "--base-url", "localhost:8080" }, "--base-url must be an http:// or https:// URL, got 'localhost:8080'" },
      { { "--api-key-env", "my key" },
        "--api-key-env must be the name of an environment variable, such as MY_KEY, got 'my key'" },
      { { "--quiet", "--verbose" }, "--quiet and --verbose can not be used together" },
    }
    for _, c in ipairs(cases) do
      it("rejects " .. table.concat(c[1], " ") .. ", exit 2, nothing sent", function()
        local path = course_file(dir, FOUR)
        local args = { "generate", path, "--base-url", srv.url }
        for _, a in ipairs(c[1]) do args[#args + 1] = a end
        local r = run(dir, args)
        assert.equal(2, r.code)
        assert.equal("coursegen: error: " .. c[2] .. "\n", r.err:match("^[^\n]*\n"))
        assert.equal(0, srv:stats().requests)
      end)
    end

    it("checks the environment's values", function()
      local path = course_file(dir, FOUR)
      local r = run(dir, { "generate", path, "--dry-run" }, { COURSEGEN_PROVIDER = "claude" })
      assert.equal(2, r.code)
      assert.equal("coursegen: error: COURSEGEN_PROVIDER must be one of gemini, openai, ollama, got 'claude'\n", r.err)
    end)

    it("checks mock's options", function()
      local r = run(dir, { "mock", "--port", "70000" })
      assert.equal(2, r.code)
      assert.equal("coursegen: error: --port must be at most 65,535, got '70000'\n", r.err:match("^[^\n]*\n"))
      r = run(dir, { "mock", "--faults", "503:7" })
      assert.equal(2, r.code)
      assert.truthy(r.err:find("^coursegen: error: bad fault '503:7' in %-%-faults"))
    end)
  end)

  describe("errors a user can act on", function()
    it("names the variable to set when the key is missing, exit 2, nothing sent", function()
      local path = course_file(dir, FOUR)
      local r = run(dir, { "generate", path })
      assert.equal(2, r.code)
      assert.equal("coursegen: error: no API key for gemini: set GEMINI_API_KEY (or GOOGLE_API_KEY) to your "
        .. "Gemini API key, name another variable with --api-key-env, or give a file with --api-key-file\n", r.err)
      r = run(dir, { "generate", path, "--provider", "openai" })
      assert.equal(2, r.code)
      assert.truthy(r.err:find("set OPENAI_API_KEY", 1, true))
      r = run(dir, { "generate", path, "--api-key-env", "MY_KEY" })
      assert.equal(2, r.code)
      assert.equal("coursegen: error: no API key: the variable MY_KEY (named by --api-key-env) is not set\n", r.err)
    end)

    it("names the file and the field of a bad course file, exit 2, without a traceback", function()
      local path = course_file(dir, { title = "T", chapters = { "A", "A" } })
      local r = run(dir, { "generate", path, "--base-url", srv.url })
      assert.equal(2, r.code)
      assert.equal("coursegen: error: " .. path .. ": chapters[2].title: duplicate of chapters[1] (\"A\")\n", r.err)
      path = course_file(dir, { title = "T", chapter = 3 })
      r = run(dir, { "validate", path })
      assert.equal(2, r.code)
      assert.truthy(r.err:find("^coursegen: error: " .. path:gsub("%p", "%%%0") .. ": unknown key \"chapter\""))
      assert.is_nil(r.err:find("traceback", 1, true))
      r = run(dir, { "validate", dir .. "/missing.json" })
      assert.equal(2, r.code)
      assert.truthy(r.err:find("missing.json", 1, true))
    end)

    it("checks --only and --stats-json before sending anything", function()
      local path = course_file(dir, FOUR)
      local r = run(dir, { "generate", path, "--base-url", srv.url, "--only", "2,9" })
      assert.equal(2, r.code)
      assert.equal("coursegen: error: --only: there is no chapter 9; the course has 4 chapters\n", r.err)
      r = run(dir, { "generate", path, "--base-url", srv.url, "--stats-json", dir .. "/no/such/dir/s.json" })
      assert.equal(2, r.code)
      assert.truthy(r.err:find("^coursegen: error: %-%-stats%-json: cannot write "))
      assert.equal(0, srv:stats().requests)
    end)

    it("names the field of the course file's options", function()
      local t = { title = "T", chapters = { "A" }, options = { concurrency = 0 } }
      local path = course_file(dir, t)
      local r = run(dir, { "validate", path })
      assert.equal(2, r.code)
      assert.equal("coursegen: error: " .. path .. ": options.concurrency must be at least 1, got '0'\n", r.err)
    end)

    it("quotes the server's message and names the key to check when the key is refused", function()
      srv:close()
      srv = mock.start { latency_ms = 5, api_key = "the-right-key" }
      local path = course_file(dir, { title = "T", chapters = { "A", "B" } })
      local r = run(dir, { "generate", path, "--base-url", srv.url, "--out", "o", "--no-progress" },
        { GEMINI_API_KEY = "a-wrong-key" })
      assert.equal(1, r.code)
      assert.truthy(r.err:find("coursegen: error: ", 1, true))
      assert.truthy(r.err:find("API key not valid", 1, true))       -- the server's words
      assert.truthy(r.err:find("check the API key in GEMINI_API_KEY", 1, true))
      assert.truthy(r.err:find("failed 2 chapters (1, 2): ", 1, true))
      assert.is_nil(r.err:find("a-wrong-key", 1, true))
    end)
  end)

  describe("validate", function()
    it("accepts a good file, exit 0", function()
      local path = course_file(dir, FOUR)
      local r = run(dir, { "validate", path })
      assert.equal(0, r.code)
      assert.equal(path .. ": ok: \"Spec Course\", 4 chapters\n", r.out)
    end)
  end)

  describe("generate", function()
    it("writes every chapter, a line per chapter without a terminal, and the statistics, exit 0", function()
      local path = course_file(dir, FOUR)
      local r = run(dir, { "generate", path, "--base-url", srv.url, "--out", "o", "--stats-json", "s.json" })
      assert.equal(0, r.code, r.err)
      assert.equal("", r.out)
      assert.equal(4, count_files(dir .. "/o", "^%d%d%-.*%.md$"))
      assert.is_nil(r.err:find("\27", 1, true))
      local lines = 0
      for _ in r.err:gmatch("%[%d/4%] done %d%d%-[%w-]+%.md") do lines = lines + 1 end
      assert.equal(4, lines)
      assert.truthy(r.err:find("Done: 4 chapters in o (4 written, 0 skipped, 0 failed).", 1, true))
      local st = read_json(dir .. "/s.json")
      assert.same({ total = 4, written = 4, skipped = 0, failed = 0 }, st.chapters)
      local ms = srv:stats()
      assert.equal(ms.requests, st.requests)
      assert.same(ms.status, st.status)
      assert.equal(sum(st.status) + st.network_errors, st.requests)
      assert.equal(st.chapters.written + 1 + st.retries, st.requests)    -- 1: the course summary
      for _, k in ipairs { "empty_answers", "blocked_answers", "truncated_answers", "elapsed_s",
                           "limiter_wait_s", "max_in_flight" } do
        assert.is_number(st[k], k)
      end
      assert.is_number(st.tokens.prompt)
      assert.is_number(st.tokens.output)
      assert.is_number(st.tokens.thoughts)
    end)

    it("counts retries: requests = successes + retries, statuses as the server saw them", function()
      srv:close()
      srv = mock.start { latency_ms = 5, faults = "503:0.3", seed = 3 }
      local path = course_file(dir, FOUR)
      local r = run(dir, { "generate", path, "--base-url", srv.url, "--out", "o", "--stats-json", "s.json",
                           "--max-attempts", "10", "--quiet" })
      assert.equal(0, r.code, r.err)
      local st = read_json(dir .. "/s.json")
      local ms = srv:stats()
      assert.same(ms.status, st.status)
      assert.equal(ms.requests, st.requests)
      assert.equal(st.status["200"] + st.retries, st.requests)
      assert.equal(st.status["200"], st.chapters.written + 1)
    end)

    it("skips what is done on a rerun, and --force and --only redo chapters", function()
      local path = course_file(dir, FOUR)
      local base = { "generate", path, "--base-url", srv.url, "--out", "o", "--stats-json", "s.json", "--quiet" }
      local r0 = run(dir, base)
      assert.equal(0, r0.code, r0.err)
      srv:reset_stats()
      local r = run(dir, base)
      assert.equal(0, r.code)
      assert.equal(0, srv:stats().requests)
      assert.same({ total = 4, written = 0, skipped = 4, failed = 0 }, read_json(dir .. "/s.json").chapters)
      local args = { table.unpack(base) }
      args[#args + 1] = "--only"
      args[#args + 1] = "2,4"
      r = run(dir, args)
      assert.equal(0, r.code)
      assert.equal(2, srv:stats().requests)
      srv:reset_stats()
      args[#args] = nil
      args[#args] = "--force"
      r = run(dir, args)
      assert.equal(0, r.code)
      assert.equal(5, srv:stats().requests)
    end)

    it("makes a course from --topic and --chapters", function()
      local r = run(dir, { "generate", "--topic", "Knots for sailors", "--chapters", "3", "--base-url", srv.url,
                           "--out", "o", "--stats-json", "s.json" })
      assert.equal(0, r.code, r.err)
      assert.equal(3, count_files(dir .. "/o", "^%d%d%-.*%.md$"))
      assert.truthy(r.err:find("outline: 3 chapters (generated)", 1, true))
      assert.equal(5, srv:stats().requests)   -- the outline, 3 chapters, the summary
    end)

    it("grounds a course in --source", function()
      helpers.writefile(dir .. "/notes.md", "# Tide tables\n\nHigh water comes twice a day.\n")
      local r = run(dir, { "generate", "--source", "notes.md", "--chapters", "2", "--base-url", srv.url,
                           "--out", "o" })
      assert.equal(0, r.code, r.err)
      assert.equal(2, count_files(dir .. "/o", "^%d%d%-.*%.md$"))
      assert.truthy(helpers.readfile(dir .. "/o/course.json"):find("Tide tables", 1, true))
    end)

    it("reports failed chapters with their reasons, exit 1", function()
      -- Each title carries its own directive, so each chapter's prompt meets its own first.
      local t = { title = "Faults", chapters = { "Fine [[mock:slow:1]]", "Blocked [[mock:safety*]]",
                                                "Also fine [[mock:slow:1]]" } }
      local path = course_file(dir, t)
      local r = run(dir, { "generate", path, "--base-url", srv.url, "--out", "o", "--max-attempts", "1",
                           "--stats-json", "s.json", "--no-progress" })
      assert.equal(1, r.code, r.err)
      assert.truthy(r.err:find("Finished with failures: 2 of 3 chapters in o (2 written, 0 skipped, 1 failed).",
        1, true))
      assert.truthy(r.err:find("failed 2 Blocked [[mock:safety*]]: blocked", 1, true))
      assert.truthy(r.err:find("to retry the failed chapters, run the same command again: ", 1, true))
      assert.same({ total = 3, written = 2, skipped = 0, failed = 1 }, read_json(dir .. "/s.json").chapters)
    end)

    it("prints one line per attempt with --verbose and only the summary with --quiet", function()
      local path = course_file(dir, { title = "T", chapters = { "Once [[mock:503,slow:1]]" } })
      local r = run(dir, { "generate", path, "--base-url", srv.url, "--out", "o", "--verbose" })
      assert.equal(0, r.code, r.err)
      assert.truthy(r.err:find("  1 Once [[mock:503,slow:1]], attempt 1: 503 (", 1, true))
      assert.truthy(r.err:find("%), retry in %d+%.%ds\n"))
      r = run(dir, { "generate", path, "--base-url", srv.url, "--out", "o2", "--quiet" })
      assert.equal(0, r.code)
      assert.truthy(r.err:find("^Done: 1 chapter in o2"))
    end)

    it("takes options from the course file and the environment", function()
      local t = { title = "T", chapters = { "A", "B" }, options = { out = "from-file", concurrency = 1 } }
      local path = course_file(dir, t)
      local r = run(dir, { "generate", path, "--quiet" }, { COURSEGEN_BASE_URL = srv.url })
      assert.equal(0, r.code, r.err)
      assert.equal(2, count_files(dir .. "/from-file", "^%d%d%-.*%.md$"))
      assert.equal(1, srv:stats().max_concurrent)
    end)

    it("reads the key from the variable named by --api-key-env", function()
      srv:close()
      srv = mock.start { latency_ms = 5, api_key = "the-right-key" }
      local path = course_file(dir, { title = "T", chapters = { "A" } })
      local r = run(dir, { "generate", path, "--base-url", srv.url, "--out", "o", "--api-key-env", "MY_KEY",
                           "--quiet" }, { MY_KEY = "the-right-key", GEMINI_API_KEY = "a-wrong-key" })
      assert.equal(0, r.code, r.err)
    end)

    it("passes --timeout and --tpm to the engine", function()
      local path = course_file(dir, { title = "T", chapters = { "Slow [[mock:stall,slow:1]]" } })
      local r = run(dir, { "generate", path, "--base-url", srv.url, "--out", "o", "--timeout", "0.5",
                           "--stats-json", "s.json", "--quiet" })
      assert.equal(0, r.code, r.err)
      assert.is_true(read_json(dir .. "/s.json").retries >= 1)
      srv:reset_stats()
      path = course_file(dir, { title = "T", chapters = { "A" } })
      r = run(dir, { "generate", path, "--base-url", srv.url, "--out", "o2", "--tpm", "10", "--no-progress" })
      assert.equal(1, r.code, r.err)
      assert.truthy(r.err:find("[1/1] failed A: ", 1, true))   -- larger than the bucket: fails at once
      assert.equal(0, srv:stats().requests)
    end)

    it("speaks the openai dialect to a local server without a key", function()
      local path = course_file(dir, FOUR)
      local r = run(dir, { "generate", path, "--provider", "openai", "--base-url", srv.url .. "/v1",
                           "--model", "llama3.2", "--out", "o", "--quiet" })
      assert.equal(0, r.code, r.err)
      assert.equal(4, count_files(dir .. "/o", "^%d%d%-.*%.md$"))
    end)
  end)

  describe("--dry-run", function()
    it("prints the outline, the prompts, the counts and a cost, and sends nothing", function()
      local path = course_file(dir, FOUR)
      local r = run(dir, { "generate", path, "--dry-run", "--out", "o" })   -- no key needed
      assert.equal(0, r.code, r.err)
      assert.truthy(r.out:find("outline (4 chapters):", 1, true))
      assert.truthy(r.out:find("===== prompt for chapter 4: Closures =====", 1, true))
      assert.truthy(r.out:find("\nrequests: 5 (4 chapters, 1 course summary)\n", 1, true))
      assert.truthy(r.out:find("\ntokens: about [%d,]+ %([%d,]+ prompt, [%d,]+ output at most%)\n"))
      assert.truthy(r.out:find("list price of gemini-2.5-flash", 1, true))
      assert.equal(0, srv:stats().requests)
      assert.is_nil(io.open(dir .. "/o/course.json"))
    end)

    it("prints only the counts with --quiet, and takes the given prices", function()
      local path = course_file(dir, FOUR)
      local r = run(dir, { "generate", path, "--dry-run", "--quiet", "--base-url", srv.url, "--model", "llama3.2",
                           "--price-in", "1", "--price-out", "2" })
      assert.equal(0, r.code, r.err)
      assert.truthy(r.out:match("^4 chapters, 5 requests, about [%d,]+ tokens"))
      assert.truthy(r.out:find("given", 1, true))
      assert.is_nil(r.out:find("prompt for", 1, true))
      assert.equal(0, srv:stats().requests)
    end)

    it("says when the price of a model is unknown", function()
      local path = course_file(dir, FOUR)
      local r = run(dir, { "generate", path, "--dry-run", "--model", "mystery-1" })
      assert.equal(0, r.code)
      assert.truthy(r.out:find("no price known for model 'mystery-1'", 1, true))
    end)
  end)

  describe("outline", function()
    it("writes the generated outline to stdout, or to -o FILE as a course file", function()
      local r = run(dir, { "outline", "--topic", "Knots", "--chapters", "3", "--base-url", srv.url,
                           "--out", "o" })
      assert.equal(0, r.code, r.err)
      assert.truthy(r.out:find("^# Knots\n"))
      local items = 0
      for _ in r.out:gmatch("\n%d%. [^\n]+") do items = items + 1 end
      assert.equal(3, items)
      r = run(dir, { "outline", "--topic", "Knots", "--chapters", "3", "--base-url", srv.url,
                     "--out", "o", "-o", "knots.md" })
      assert.equal(0, r.code, r.err)
      r = run(dir, { "validate", "knots.md" })
      assert.equal(0, r.code, r.err)
      assert.truthy(r.out:find("3 chapters", 1, true))
    end)

    it("names -o when the file cannot be written, and leaves no temporary file", function()
      local r = run(dir, { "outline", "--topic", "Knots", "--chapters", "3", "--base-url", srv.url,
                           "--out", "o", "-o", "missing/knots.md" })
      assert.equal(1, r.code, r.err)
      assert.equal("coursegen: error: -o: cannot write missing/knots.md: No such file or directory\n", r.err)
      r = run(dir, { "outline", "--topic", "Knots", "--chapters", "3", "--base-url", srv.url,
                     "--out", "o", "-o", "k.json" })
      assert.equal(0, r.code, r.err)
      local names = io.popen("ls -A " .. q(dir)):read("a")
      assert.is_nil(names:find("%.tmp"), names)
      assert.truthy(names:find("k.json", 1, true))
    end)
  end)

  describe("on a terminal", function()
    -- script(1) gives the command a pseudo-terminal; skipped where it is missing
    local has_script = os.execute("command -v script >/dev/null 2>&1")

    -- The terminal is script(1)'s, not the caller's: its TERM is set here, so a caller
    -- with TERM=dumb (or none) does not turn the live line off.
    local function run_on_tty(args, env)
      env = env or {}
      env.TERM = env.TERM or "xterm"
      local cmd = "cd " .. q(dir) .. " && COLUMNS=200 script -qec " .. q(bare_command(args, env))
        .. " /dev/null >.tty </dev/null"
      assert(os.execute(cmd))
      return helpers.readfile(dir .. "/.tty") or ""
    end

    it("redraws one live line in place and paints the summary, or not with NO_COLOR", function()
      if not has_script then return pending("script(1) is not installed") end
      local path = course_file(dir, FOUR)
      local text = run_on_tty({ "generate", path, "--base-url", srv.url, "--out", "o" })
      assert.truthy(text:find("\r\27[K", 1, true))
      assert.truthy(text:find("4/4 chapters", 1, true))
      assert.truthy(text:find("\27[32mDone:\27[0m", 1, true))
      assert.is_nil(text:find("[1/4] done", 1, true))       -- no per-chapter log lines
      text = run_on_tty({ "generate", path, "--base-url", srv.url, "--out", "o2" }, { NO_COLOR = "1" })
      assert.truthy(text:find("\r\27[K", 1, true))
      assert.truthy(text:find("Done: 4 chapters", 1, true))
      assert.is_nil(text:find("\27%[%d+m"))
      text = run_on_tty({ "generate", path, "--base-url", srv.url, "--out", "o3", "--no-progress" })
      assert.is_nil(text:find("\r\27[K", 1, true))
      assert.truthy(text:find("[1/4] ", 1, true))
    end)
  end)

  describe("interruption", function()
    it("stops on SIGINT with 130, keeps what finished, and a rerun sends only what is missing #slow", function()
      srv:close()
      srv = mock.start { latency_ms = 150 }
      local t = { title = "Long", chapters = { "One", "Two", "Three", "Four", "Five", "Six" } }
      local path = course_file(dir, t)
      local args = { "generate", path, "--base-url", srv.url, "--out", "o", "--concurrency", "1",
                     "--stats-json", "s.json", "--no-progress" }
      local r = run_interrupted(dir, args, nil, "o/02-*.md")
      assert.equal(130, r.code, r.err)
      assert.truthy(r.err:find("Interrupted. Kept ", 1, true), r.err)
      assert.truthy(r.err:find("to resume, run the same command again: ", 1, true))
      local st = read_json(dir .. "/s.json")
      assert.is_true(st.interrupted)
      local kept = st.chapters.written
      assert.is_true(kept >= 2 and kept < 6, "kept " .. kept)
      assert.equal(kept, count_files(dir .. "/o", "^%d%d%-.*%.md$"))
      local manifest = read_json(dir .. "/o/course.json")
      local done = 0
      for _, e in ipairs(manifest.chapters) do
        if e.status == "done" then done = done + 1 end
      end
      assert.equal(kept, done)

      srv:reset_stats()
      r = run(dir, args)
      assert.equal(0, r.code, r.err)
      st = read_json(dir .. "/s.json")
      assert.same({ total = 6, written = 6 - kept, skipped = kept, failed = 0 }, st.chapters)
      assert.equal(6 - kept + 1, srv:stats().requests)    -- the missing chapters and the summary
    end)
  end)
end)
