-- luacheck: std +busted
-- A local model in one flag: `--provider ollama`, the dialect a base URL names, the
-- server OPENAI_BASE_URL names, and a clear message for every shape of error body a server
-- sends (each against a real loopback server written here, from the servers' documentation).
local helpers = require "helpers"
local json = require "coursegen.json"
local lib = require "coursegen.settings"
local cli_settings = require "coursegen.cli.settings"
local http_error = require "coursegen.http_error"
local canned = require "support.canned"
local rel = require "support.reliability"
local mock = require "coursegen.mock"

local COURSE = { title = "Local" }

local function env_of(t)
  return function(n) return t[n] end
end

local function settle(args, env)
  return assert(cli_settings.resolve(COURSE, args, { env = env_of(env or {}), config = {}, need_key = true }))
end

describe("--provider ollama", function()
  it("is Ollama's address, a local model, the openai dialect, no key and no limits", function()
    local s = settle { provider = "ollama" }
    assert.equal("http://localhost:11434/v1", s.base_url)
    assert.equal("llama3.2", s.model)
    assert.is_nil(s.api_key)
    assert.is_nil(s.rpm)
    assert.is_nil(s.tpm)
    local req = s.provider_mod.request({ base_url = s.base_url, model = s.model },
      { prompt = "Hi", max_output_tokens = 9 })
    assert.equal("http://localhost:11434/v1/chat/completions", req.url)
    local body = json.decode(req.body)
    assert.equal("llama3.2", body.model)
    assert.equal(9, body.max_tokens)
  end)

  it("does not send OPENAI_API_KEY to Ollama", function()
    assert.is_nil(settle({ provider = "ollama" }, { OPENAI_API_KEY = "sk-openai" }).api_key)
  end)

  it("writes a course end to end against a server speaking the openai dialect", function()
    local srv = mock.start { latency_ms = 1 }
    local dir = helpers.tmpdir()
    helpers.writefile(dir .. "/c.json", '{"title": "T", "chapters": ["A", "B"]}')
    local r = rel.run(dir, { "generate", "c.json", "--provider", "ollama", "--base-url", srv.url .. "/v1",
                             "--out", "o", "--quiet" }, { XDG_CONFIG_HOME = dir .. "/none" })
    srv:close()
    assert.equal(0, r.code, r.err)
    assert.truthy(helpers.readfile(dir .. "/o/02-b.md"))
    helpers.rmtree(dir)
  end)
end)

describe("the attempt timeout", function()
  it("outlasts a model on this machine's CPU, and a thinking remote model, unless set", function()
    assert.equal(lib.LOCAL_TIMEOUT, settle({ provider = "ollama" }).timeout)
    assert.equal(lib.LOCAL_TIMEOUT, settle({ base_url = "http://127.0.0.1:8080/v1" }).timeout)
    local keys = { GEMINI_API_KEY = "k", OPENAI_API_KEY = "k" }
    assert.equal(lib.DEFAULTS.timeout, settle({}, keys).timeout)
    assert.equal(lib.DEFAULTS.timeout, settle({ provider = "openai" }, keys).timeout)
    assert.is_true(lib.LOCAL_TIMEOUT >= 3600 and lib.DEFAULTS.timeout >= 1200)
    assert.equal(90, settle({ provider = "ollama", timeout = 90 }).timeout)
    -- The engine gets it, and no idle limit shorter than it.
    local opts = lib.engine_options(settle({ provider = "ollama" }))
    assert.equal(lib.LOCAL_TIMEOUT, opts.timeout)
    assert.is_nil(opts.idle_timeout)
  end)
end)

describe("the dialect a base URL names", function()
  it("is inferred when no provider is chosen", function()
    assert.equal("ollama", settle({ base_url = "http://127.0.0.1:11434/v1" }).provider)
    assert.equal("openai", settle({ base_url = "http://127.0.0.1:8080/v1" }).provider)
    assert.equal("openai", settle({ base_url = "https://api.openai.com/v1" }, { OPENAI_API_KEY = "k" }).provider)
    assert.equal("gemini", settle({ base_url = "https://generativelanguage.googleapis.com" },
      { GEMINI_API_KEY = "k" }).provider)
    assert.equal("gemini", settle({ base_url = "http://127.0.0.1:9" }).provider) -- says nothing: the default
  end)

  it("never overrides a provider the user chose", function()
    assert.equal("gemini", settle({ provider = "gemini", base_url = "http://127.0.0.1:8080/v1" }).provider)
    assert.equal("openai", settle({ base_url = "http://127.0.0.1:8080/v1" },
      { COURSEGEN_PROVIDER = "openai" }).provider)
  end)
end)

describe("OPENAI_BASE_URL", function()
  it("names the openai provider's server, below the flag and COURSEGEN_BASE_URL", function()
    local env = { OPENAI_BASE_URL = "http://127.0.0.1:7/v1/" }
    assert.equal("http://127.0.0.1:7/v1", settle({ provider = "openai" }, env).base_url)
    env.COURSEGEN_BASE_URL = "http://127.0.0.1:8/v1"
    assert.equal("http://127.0.0.1:8/v1", settle({ provider = "openai" }, env).base_url)
    assert.equal("http://127.0.0.1:9/v1",
      settle({ provider = "openai", base_url = "http://127.0.0.1:9/v1" }, env).base_url)
  end)

  it("is above the user config, and means nothing to gemini", function()
    local s = assert(cli_settings.resolve(COURSE, { provider = "openai" },
      { config = { base_url = "http://127.0.0.1:5/v1" }, env = env_of { OPENAI_BASE_URL = "http://127.0.0.1:6/v1" } }))
    assert.equal("http://127.0.0.1:6/v1", s.base_url)
    assert.equal("https://generativelanguage.googleapis.com",
      settle({}, { OPENAI_BASE_URL = "http://127.0.0.1:6/v1", GEMINI_API_KEY = "k" }).base_url)
  end)

  it("is checked like a flag, naming the variable", function()
    local s, err = cli_settings.resolve(COURSE, { provider = "openai" }, { config = {},
      env = env_of { OPENAI_BASE_URL = "localhost:8080" } })
    assert.is_nil(s)
    assert.equal("OPENAI_BASE_URL must be an http:// or https:// URL, got 'localhost:8080'", err)
  end)

  it("is honoured by the library too, as OpenAI's SDKs do", function()
    local s = lib.resolve(COURSE, { provider = "openai", env = { OPENAI_BASE_URL = "http://127.0.0.1:4/v1" } })
    assert.equal("http://127.0.0.1:4/v1", s.base_url)
  end)
end)

describe("error bodies", function()
  -- status, content type, body, what the user must read
  local SHAPES = {
    { name = "a string error (Ollama)", status = 404, ctype = "application/json",
      body = '{"error":"model \\"llama3.2\\" not found, try pulling it first"}',
      says = 'HTTP 404: model "llama3.2" not found, try pulling it first' },
    { name = "an object error (OpenAI's envelope)", status = 404, ctype = "application/json",
      body = '{"error":{"message":"The model `llama9` does not exist","type":"not_found_error","param":null,'
        .. '"code":"model_not_found"}}',
      says = "HTTP 404 not_found_error: The model `llama9` does not exist (code model_not_found)" },
    { name = "plain text (a proxy)", status = 502, ctype = "text/plain",
      body = "upstream connect error or disconnect/reset before headers\n",
      says = "HTTP 502: upstream connect error or disconnect/reset before headers" },
    { name = "an HTML page (a gateway)", status = 503, ctype = "text/html",
      body = "<html><head><title>503 Service Temporarily Unavailable</title></head><body><center>"
        .. "<h1>503 Service Temporarily Unavailable</h1></center><hr><center>nginx</center></body></html>",
      says = "HTTP 503: 503 Service Temporarily Unavailable" },
    { name = "an HTML page without a title", status = 502, ctype = "text/html",
      body = "<html><body><h1>Bad   Gateway</h1>\n<p>try later</p></body></html>",
      says = "HTTP 502: Bad Gateway try later" },
    { name = "FastAPI's detail", status = 400, ctype = "application/json",
      body = '{"detail":"Not Found"}', says = "HTTP 400: Not Found" },
  }

  for _, shape in ipairs(SHAPES) do
    it("reads " .. shape.name .. " into a clear message, exit 1, no internal error", function()
      local dir = helpers.tmpdir()
      local srv = canned.start(dir, shape.status, shape.ctype, shape.body, 2)
      helpers.writefile(dir .. "/c.json", '{"title": "T", "chapters": ["A"]}')
      local r = rel.run(dir, { "generate", "c.json", "--provider", "ollama", "--base-url", srv.url .. "/v1",
                               "--max-attempts", "1", "--out", "o", "--no-progress" },
        { XDG_CONFIG_HOME = dir .. "/none" })
      assert.equal(1, r.code, r.err)
      assert.truthy(r.err:find("[1/1] failed A: " .. shape.says, 1, true), r.err)
      assert.is_nil(r.err:find("internal error", 1, true))
      assert.equal(1, #srv.requests())
      assert.equal("POST /v1/chat/completions HTTP/1.1", srv.requests()[1].request)
      assert.equal(shape.says, http_error.message(shape.status, shape.body))
      helpers.rmtree(dir)
    end)
  end

  it("says how to fetch a model Ollama does not have", function()
    local dir = helpers.tmpdir()
    local srv = canned.start(dir, 404, "application/json", '{"error":"not found"}', 2)
    helpers.writefile(dir .. "/c.json", '{"title": "T", "chapters": ["A"]}')
    local r = rel.run(dir, { "generate", "c.json", "--provider", "ollama", "--base-url", srv.url .. "/v1",
                             "--model", "qwen3", "--max-attempts", "1", "--out", "o", "--no-progress" },
      { XDG_CONFIG_HOME = dir .. "/none" })
    assert.equal(1, r.code, r.err)
    assert.truthy(r.err:find("HTTP 404: not found; check --model (now qwen3: 'ollama pull qwen3' fetches it)", 1, true),
      r.err)
    helpers.rmtree(dir)
  end)

  it("never shows a table's address for an odd field", function()
    assert.equal("HTTP 500: (no message) (code 7)", http_error.message(500, '{"error":{"message":{"x":1},"code":7}}'))
    assert.equal('HTTP 418: [1,2]', http_error.message(418, "[1,2]"))
  end)
end)
