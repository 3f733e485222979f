-- luacheck: std +busted
-- https end to end: the engine and the command line against the mock behind a TLS front
-- whose certificate only `ca_file` / `--ca-file` makes trusted. Two I/O threads share one
-- TLS session cache, so the shared handle's locking is exercised too.
local core = require "coursegen.core"
local mock = require "coursegen.mock"
local helpers = require "helpers"
local rel = require "support.reliability"
local tls = require "support.tls_proxy"

local function gemini_body(text)
  return '{"contents":[{"role":"user","parts":[{"text":"' .. text .. '"}]}]}'
end

describe("https", function()
  if not tls.available() then
    pending("socat, openssl and curl are needed (make deps installs them)")
    return
  end
  local srv, proxy, url
  setup(function()
    srv = mock.start { latency_ms = 2 }
    proxy = tls.start(srv.port)
    url = proxy.url .. "/v1beta/models/m:generateContent"
  end)
  teardown(function()
    tls.stop(proxy)
    srv:close()
  end)

  it("sends every request to a server behind a private CA, in order, across two I/O threads", function()
    local eng <close> = core.engine { concurrency = 32, threads = 2, ca_file = proxy.ca_file }
    for i = 1, 200 do
      eng:submit { url = url, body = gemini_body("secure " .. i), headers = { "Content-Type: application/json" } }
    end
    for i = 1, 200 do
      local r = assert(eng:next(60))
      assert.equal(200, r.status, r.error)
      assert.truthy(r.body:find("secure " .. i, 1, true), "answer " .. i .. " out of order")
    end
    assert.equal(200, eng:stats().requests)
  end)

  it("fails at once, saying how to trust the server, when its certificate is not trusted", function()
    local eng <close> = core.engine { concurrency = 2 }
    eng:submit { url = url, body = gemini_body("untrusted"), headers = { "Content-Type: application/json" } }
    local r = assert(eng:next(30))
    assert.equal("network", r.error_code)
    assert.equal(1, r.attempts)
    assert.matches("^network: TLS certificate not trusted %(.+%); name the CAs to trust with ca_file %(%-%-ca%-file%)$",
      r.error)
  end)

  it("refuses a CA file it cannot read when the engine starts", function()
    assert.has.error(function() core.engine { ca_file = "/nonexistent/ca.pem" } end,
      "bad option 'ca_file' (cannot read /nonexistent/ca.pem: No such file or directory)")
    assert.has.error(function() core.engine { ca_file = 1 } end, "bad option 'ca_file' (string expected, got number)")
  end)

  it("generates a course over https with --ca-file, and names the option when the file is missing", function()
    local dir = helpers.tmpdir()
    helpers.writefile(dir .. "/course.json", '{"title": "Over TLS", "chapters": ["One", "Two", "Three"]}')
    local env = { GEMINI_API_KEY = "k" }
    local r = rel.run(dir, { "generate", "course.json", "--base-url", proxy.url, "--ca-file", proxy.ca_file,
                             "--out", "out", "--no-progress" }, env)
    assert.equal(0, r.code, r.err)
    assert.truthy(helpers.readfile(dir .. "/out/02-two.md"):find("^# Two\n"))
    r = rel.run(dir, { "generate", "course.json", "--base-url", proxy.url, "--out", "out2" }, env)
    assert.equal(1, r.code)
    assert.truthy(r.err:find("TLS certificate not trusted", 1, true), r.err)
    r = rel.run(dir, { "generate", "course.json", "--base-url", proxy.url, "--ca-file", "missing.pem",
                       "--out", "out3" }, env)
    assert.equal(2, r.code)
    assert.equal("coursegen: error: --ca-file: cannot read missing.pem: No such file or directory\n", r.err)
    helpers.rmtree(dir)
  end)
end)
