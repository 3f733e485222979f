-- luacheck: std +busted
-- Option values, the parser's grammar and the settings' precedence, without a server.
local values = require "coursegen.cli.values"
local options = require "coursegen.cli.options"
local settings = require "coursegen.cli.settings"

local function env_of(t)
  return function(name) return t[name] end
end

describe("coursegen.cli.values", function()
  describe("integer()", function()
    local cases = {
      { "8", 8 },
      { " 12 ", 12 },
      { "0", nil, "--concurrency must be at least 1, got '0'" },
      { "-4", nil, "--concurrency must be at least 1, got '-4'" },
      { "abc", nil, "--concurrency must be a whole number from 1 to 1,024, got 'abc'" },
      { "2.5", nil, "--concurrency must be a whole number from 1 to 1,024, got '2.5'" },
      { "", nil, "--concurrency must be a whole number from 1 to 1,024, got ''" },
      { "5000", nil, "--concurrency must be at most 1,024, got '5000'" },
      { "99999999999999999999999", nil, "--concurrency must be at most 1,024, got '99999999999999999999999'" },
    }
    for _, c in ipairs(cases) do
      it("reads '" .. c[1] .. "'", function()
        local v, err = values.integer("--concurrency", c[1], 1, 1024)
        assert.equal(c[2], v)
        assert.equal(c[3], err)
      end)
    end
  end)

  describe("number()", function()
    it("accepts decimals and rejects zero when the minimum is open", function()
      assert.equal(1.5, values.number("--timeout", "1.5", 0, 86400, true))
      assert.same({ nil, "--timeout must be greater than 0, got '0'" },
        { values.number("--timeout", "0", 0, 86400, true) })
      assert.same({ nil, "--timeout must be a number, got 'nan'" },
        { values.number("--timeout", "nan", 0, 86400, true) })
      assert.same({ nil, "--timeout must be a number, got 'inf'" },
        { values.number("--timeout", "inf", 0, 86400, true) })
      assert.same({ nil, "--timeout must be at most 86,400, got '1e9'" },
        { values.number("--timeout", "1e9", 0, 86400, true) })
    end)
  end)

  describe("list()", function()
    it("reads numbers and ranges, sorted and without duplicates", function()
      assert.same({ 2, 3, 4, 7 }, values.list("--only", "7,2-4,3"))
    end)
    it("names the option on a bad list", function()
      local _, err = values.list("--only", "3,x")
      assert.equal("--only must be chapter numbers separated by commas, such as 3,7 or 2-5, got '3,x'", err)
      _, err = values.list("--only", "0")
      assert.equal("--only must be at least 1, got '0'", err)
      _, err = values.list("--only", "5-2")
      assert.equal("--only: the range '5-2' runs backwards", err)
    end)
  end)

  describe("url() and coursegen.settings.is_loopback()", function()
    it("checks the scheme and strips a trailing slash", function()
      assert.equal("http://127.0.0.1:8080/v1", values.url("--base-url", "http://127.0.0.1:8080/v1/"))
      assert.is_nil((values.url("--base-url", "localhost:8080")))
    end)
    it("knows loopback hosts", function()
      local is_loopback = require("coursegen.settings").is_loopback
      assert.is_true(is_loopback("http://localhost:11434/v1"))
      assert.is_true(is_loopback("http://127.0.0.1:9"))
      assert.is_true(is_loopback("http://[::1]:9"))
      assert.is_false(is_loopback("https://generativelanguage.googleapis.com"))
      assert.is_false(is_loopback("http://localhost.example.com"))
      assert.is_false(is_loopback("http://127.0.0.1@evil.example/v1"))   -- user-info is not the host
      assert.is_false(is_loopback("http://127.0.0.1:80@evil.example/v1"))
      assert.is_false(is_loopback("http://localhost:x@[2001:db8::1]:8/v1"))
      assert.is_true(is_loopback("http://user:pw@127.0.0.1:8/v1"))
      assert.is_false(is_loopback("http://127.0.0.1.nip.io/v1"))
    end)
  end)
end)

describe("coursegen.cli.options", function()
  describe("parse()", function()
    it("reads every generate option", function()
      local a = assert(options.parse {
        "generate", "c.json", "--out", "o", "--provider", "openai", "--model", "m",
        "--base-url", "http://localhost:1/v1", "--api-key-env", "MY_KEY", "--concurrency", "3",
        "--rpm", "60", "--tpm", "1000", "--rpd", "100", "--max-attempts", "2", "--timeout", "1.5",
        "--force", "--only", "1,3", "--dry-run", "--stats-json", "s.json", "--no-progress",
        "--verbose", "--price-in", "0.1", "--price-out", "0.2",
      })
      assert.equal("generate", a.command)
      assert.equal("c.json", a.course_file)
      assert.equal("o", a.out)
      assert.equal("openai", a.provider)
      assert.equal("http://localhost:1/v1", a.base_url)
      assert.equal("MY_KEY", a.api_key_env)
      assert.equal(3, a.concurrency)
      assert.equal(60, a.rpm)
      assert.equal(1000, a.tpm)
      assert.equal(100, a.rpd)
      assert.equal(2, a.max_attempts)
      assert.equal(1.5, a.timeout)
      assert.is_true(a.force)
      assert.same({ 1, 3 }, a.only)
      assert.is_true(a.dry_run)
      assert.equal("s.json", a.stats_json)
      assert.is_true(a.no_progress)
      assert.is_true(a.verbose)
      assert.equal(0.1, a.price_in)
      assert.equal(0.2, a.price_out)
    end)

    it("suggests the closest option and command", function()
      assert.same({ nil, "unknown option '--concurency' (did you mean '--concurrency'?)", "generate" },
        { options.parse { "generate", "--concurency", "3" } })
      assert.same({ nil, "unknown command 'generat' (did you mean 'generate'?)" },
        { options.parse { "generat" } })
    end)

    it("checks values with the option's name, negative ones included", function()
      assert.same({ nil, "--rpm must be at least 1, got '-5'", "generate" },
        { options.parse { "generate", "--rpm", "-5" } })
      assert.same({ nil, "--provider must be one of gemini, openai, ollama, got 'claude'", "generate" },
        { options.parse { "generate", "--provider", "claude" } })
      assert.same({ nil, "--port must be at most 65,535, got '70000'", "mock" },
        { options.parse { "mock", "--port", "70000" } })
    end)

    it("refuses --quiet with --verbose", function()
      assert.same({ nil, "--quiet and --verbose can not be used together", "generate" },
        { options.parse { "generate", "--quiet", "--verbose" } })
    end)
  end)
end)

describe("coursegen.cli.settings", function()
  local COURSE = { title = "Knots" }
  -- no user config unless a test gives one
  local function resolve(args, o)
    o.config = o.config or {}
    return settings.resolve(COURSE, args, o)
  end

  describe("resolve()", function()
    it("uses the provider's defaults", function()
      local s = assert(resolve({}, { env = env_of { GEMINI_API_KEY = "k" }, need_key = true }))
      assert.equal("gemini", s.provider)
      assert.equal("gemini-2.5-flash", s.model)
      assert.equal("https://generativelanguage.googleapis.com", s.base_url)
      assert.equal(1000, s.rpm)
      assert.equal(1000000, s.tpm)
      assert.equal(10000, s.rpd)
      assert.equal("k", s.api_key)
    end)

    it("takes the command line over the environment over the course file", function()
      local env = env_of { COURSEGEN_MODEL = "env-model", COURSEGEN_BASE_URL = "http://127.0.0.1:9",
                           COURSEGEN_PROVIDER = "openai" }
      local fo = { model = "file-model", concurrency = 3, out = "file-out" }
      local s = assert(resolve({}, { env = env, file_options = fo }))
      assert.equal("env-model", s.model)
      assert.equal("openai", s.provider)
      assert.equal("http://127.0.0.1:9", s.base_url)
      assert.equal(3, s.concurrency)
      assert.equal("file-out", s.out)
      s = assert(resolve({ model = "cli-model", concurrency = 5 }, { env = env, file_options = fo }))
      assert.equal("cli-model", s.model)
      assert.equal(5, s.concurrency)
    end)

    it("checks the environment's values", function()
      assert.same({ nil, "COURSEGEN_PROVIDER must be one of gemini, openai, ollama, got 'x'" },
        { resolve({}, { env = env_of { COURSEGEN_PROVIDER = "x" } }) })
      assert.same({ nil, "COURSEGEN_BASE_URL must be an http:// or https:// URL, got 'nope'" },
        { resolve({}, { env = env_of { COURSEGEN_BASE_URL = "nope" } }) })
    end)

    it("names the variable to set when the key is missing", function()
      assert.same({ nil, "no API key for gemini: set GEMINI_API_KEY (or GOOGLE_API_KEY) to your Gemini "
        .. "API key, name another variable with --api-key-env, or give a file with --api-key-file" },
        { resolve({}, { env = env_of {}, need_key = true }) })
      assert.same({ nil, "no API key for openai: set OPENAI_API_KEY to your OpenAI API key, name "
        .. "another variable with --api-key-env, or give a file with --api-key-file" },
        { resolve({ provider = "openai" }, { env = env_of {}, need_key = true }) })
      assert.same({ nil, "no API key: the variable MY_KEY (named by --api-key-env) is not set" },
        { resolve({ api_key_env = "MY_KEY" }, { env = env_of {}, need_key = true }) })
    end)

    it("takes GOOGLE_API_KEY and the variable named by --api-key-env", function()
      assert.equal("g", resolve({}, { env = env_of { GOOGLE_API_KEY = "g" }, need_key = true }).api_key)
      assert.equal("m", resolve({ api_key_env = "MY_KEY" },
        { env = env_of { MY_KEY = "m", GEMINI_API_KEY = "k" }, need_key = true }).api_key)
    end)

    it("needs no key for a local server, nor for a dry run", function()
      local s = assert(resolve({ provider = "openai", base_url = "http://localhost:11434/v1" },
        { env = env_of {}, need_key = true }))
      assert.is_nil(s.api_key)
      assert.is_nil(s.rpm)   -- no limit
      assert(resolve({}, { env = env_of {} }))
    end)
  end)

  describe("check_file_options()", function()
    it("names the file and the field", function()
      assert.same({ nil, "c.json: options.concurrency must be at least 1, got '0'" },
        { settings.check_file_options({ concurrency = 0 }, "c.json") })
      local _, err = settings.check_file_options({ concurrence = 2 }, "c.json")
      assert.truthy(err:find("c.json: unknown field options.concurrence (known: ", 1, true))
      assert.same({ rpm = 10, model = "m" },
        settings.check_file_options({ rpm = 10, ["model"] = "m" }, "c.json"))
    end)
  end)
end)

describe("coursegen.cli.generate", function()
  local gen = require "coursegen.cli.generate"
  local s = { provider = "gemini", model = "gemini-2.5-flash", base_url = "https://g.example", tpm = 10 }

  describe("hint()", function()
    it("says which key, option or limit to check", function()
      assert.equal("check the API key in GEMINI_API_KEY (or GOOGLE_API_KEY) (or choose the variable with "
        .. "--api-key-env) and that it is meant for https://g.example", gen.hint("HTTP 401: unauthorized", s))
      assert.truthy(gen.hint("HTTP 400 INVALID_ARGUMENT: API key not valid", s):find("^check the API key"))
      assert.equal("check --model (now gemini-2.5-flash), --provider (now gemini) and the key in GEMINI_API_KEY "
        .. "(or GOOGLE_API_KEY)", gen.hint("HTTP 400: bad request", s))
      assert.equal("check --model (now gemini-2.5-flash) and --base-url (now https://g.example)",
        gen.hint("HTTP 404 NOT_FOUND: models/x is not found", s))
      assert.equal("raise --tpm (now 10) to at least the size of one request",
        gen.hint("too_large: request needs 8420 tokens but the tokens/min limit allows at most 10", s))
      assert.is_nil(gen.hint("HTTP 503: overloaded", s))
      local o = { provider = "openai", api_key_env = "MY_KEY", base_url = "u", model = "m" }
      assert.truthy(gen.hint("HTTP 403: forbidden", o):find("check the API key in MY_KEY", 1, true))
    end)
  end)
end)

describe("coursegen.cli.outline", function()
  local outline = require "coursegen.cli.outline"
  it("writes a JSON outline whose source is found from where the file is", function()
    local helpers = require "helpers"
    local dir = helpers.tmpdir()
    assert(os.execute("mkdir -p '" .. dir .. "/c/docs'"))
    helpers.writefile(dir .. "/c/docs/notes.md", "# Notes\n")
    local real = require("coursegen.realpath").resolve(dir)
    assert.equal("docs/notes.md", outline.source_from(dir .. "/c/docs/notes.md", dir .. "/c/k.json"))
    assert.equal(real .. "/c/docs/notes.md", outline.source_from(dir .. "/c/docs/notes.md", dir .. "/elsewhere/k.json"))
    local text = outline.json({ title = "K", source = dir .. "/c/docs/notes.md" }, { { title = "A" } },
      dir .. "/c/k.json")
    assert.equal("docs/notes.md", require("coursegen.json").decode(text).source)
    helpers.rmtree(dir)
  end)

  it("runs with every setting generate would use: limits and limiter included", function()
    local s = assert(outline.settings({ title = "Knots" }, { model = "m" }, { env = env_of { GEMINI_API_KEY = "k" } },
      { rpm = 7, tpm = 900 }))
    assert.equal(7, s.rpm)
    assert.equal(900, s.tpm)
    s = assert(settings.resolve({ title = "Knots" }, {}, { env = env_of {},
      config = { limiter = "redis://127.0.0.1:6390/0?key=k", rpd = 50 }, extra = { only = {} } }))
    assert.equal("redis://127.0.0.1:6390/0?key=k", s.limiter)
    assert.equal(50, s.rpd)
    assert.same({}, s.only)        -- the outline only: no chapter is written
  end)

  it("writes an outline as a Markdown course file", function()
    assert.equal("# Knots\n\nFor sailors.\n\n1. Reef knot\n   Joins two ends.\n2. Bowline\n",
      outline.markdown({ title = "Knots", description = "For sailors." },
        { { title = "Reef knot", brief = "Joins\ntwo ends." }, { title = "Bowline" } }))
  end)
end)

describe("coursegen.cli.generate.resume_command()", function()
  it("repeats the command line without --force", function()
    local gen = require "coursegen.cli.generate"
    assert.equal("coursegen generate 'my course.json' --out o",
      gen.resume_command("coursegen", { "generate", "my course.json", "--force", "--out", "o" }))
  end)
end)

describe("coursegen.settings API key lookup", function()
  local lib = require "coursegen.settings"
  local course = { title = "Knots" }
  local function key_of(opts)
    return lib.attach_key(lib.resolve(course, opts)).api_key
  end

  it("trims a key read from the environment, as the command line does", function()
    assert.equal("sk-abc", key_of { env = { GEMINI_API_KEY = "  sk-abc\n" } })
    assert.equal("sk-abc", assert(settings.resolve(course, {}, { config = {}, need_key = true,
      env = env_of { GEMINI_API_KEY = "  sk-abc\n" } })).api_key)
  end)

  it("skips a blank variable for the next one", function()
    assert.equal("g-key", key_of { env = { GEMINI_API_KEY = " \n", GOOGLE_API_KEY = "g-key\r\n" } })
    assert.same({ "g-key", "GOOGLE_API_KEY" },
      { lib.env_key({ "GEMINI_API_KEY", "GOOGLE_API_KEY" }, env_of { GEMINI_API_KEY = "", GOOGLE_API_KEY = "g-key" }) })
    assert.is_nil(lib.env_key({ "A" }, env_of {}))
  end)

  it("keeps an explicit api_key as given", function()
    assert.equal("k", key_of { api_key = "k", env = { GEMINI_API_KEY = "other" } })
  end)
end)

describe("coursegen.cli.course", function()
  local helpers = require "helpers"
  local cli_course = require "coursegen.cli.course"
  local course_mod = require "coursegen.course"

  it("reads a course file once for both the course and its options", function()
    local dir = helpers.tmpdir()
    helpers.writefile(dir .. "/c.lua", 'return { title = "Knots", chapters = 2, options = { model = "m-1" } }')
    local read_raw = spy.on(course_mod, "read_raw")
    local course, fo = cli_course.build({ course_file = dir .. "/c.lua" })
    read_raw:revert()
    helpers.rmtree(dir)
    assert.equal("Knots", course.title)
    assert.equal("m-1", fo.model)
    assert.spy(read_raw).was.called(1)
  end)

  it("reports a bad options object, and a bad course, naming the file", function()
    local dir = helpers.tmpdir()
    helpers.writefile(dir .. "/a.json", '{"title": "K", "options": {"nope": 1}}')
    helpers.writefile(dir .. "/b.json", '{"title": 3, "options": {"model": "m"}}')
    local c, err = cli_course.build({ course_file = dir .. "/a.json" })
    assert.is_nil(c)
    assert.truthy(err:find(dir .. "/a.json", 1, true), err)
    c, err = cli_course.build({ course_file = dir .. "/b.json" })
    helpers.rmtree(dir)
    assert.is_nil(c)
    assert.truthy(err:find(dir .. "/b.json: title", 1, true), err)
  end)
end)
