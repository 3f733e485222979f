-- luacheck: std +busted
-- The API key goes to the server in its header and nowhere else: not in a file, the
-- manifest, the statistics, a line of output or an error message, whatever the command
-- and however it fails.
local helpers = require "helpers"
local lfs = require "lfs"
local loopback = require "support.loopback"
local mock = require "coursegen.mock"
local rel = require "support.reliability"

-- A recognisable key nobody else uses: a leak is found by plain search.
local function secret(tag)
  local f = assert(io.open("/dev/urandom", "rb"))
  local bytes = f:read(12)
  f:close()
  return "sk-SECRET-" .. tag .. "-" .. bytes:gsub(".", function(c) return ("%02x"):format(c:byte()) end)
end

-- Every file under `dir`, hidden ones included, as { path = text }.
local function all_files(dir, out)
  out = out or {}
  for name in lfs.dir(dir) do
    if name ~= "." and name ~= ".." then
      local p = dir .. "/" .. name
      local mode = lfs.symlinkattributes(p, "mode")
      if mode == "directory" then all_files(p, out)
      elseif mode == "file" then out[p] = helpers.readfile(p) or "" end
    end
  end
  return out
end

describe("#reliability secrets", function()
  local KEY, OTHER = secret("A"), secret("B")
  local srv, tmp, outputs

  -- Runs the command and keeps its output for the final search.
  local function cg(args, env, label)
    local r = rel.run(tmp, args, env)
    outputs[#outputs + 1] = { label = label, text = r.out .. "\n" .. r.err }
    return r
  end

  -- Nothing the runs left anywhere holds either key, nor does the mock's URL log.
  local function assert_no_leak()
    for _, o in ipairs(outputs) do
      for _, k in ipairs { KEY, OTHER } do
        assert.is_nil(o.text:find(k, 1, true), o.label .. " printed the key")
        assert.is_nil(o.text:find(k:sub(11), 1, true), o.label .. " printed the key's tail")
      end
    end
    for path, text in pairs(all_files(tmp)) do
      for _, k in ipairs { KEY, OTHER } do
        assert.is_nil(text:find(k, 1, true), path .. " holds the key")
        assert.is_nil(text:find(k:sub(11), 1, true), path .. " holds the key's tail")
      end
    end
  end

  before_each(function()
    tmp = helpers.tmpdir()
    outputs = {}
    srv = mock.start { latency_ms = 1, jitter_ms = 3, answer_words = 40, api_key = KEY }
    rel.course_file(tmp .. "/c.json", 4, "Secret course")
  end)
  after_each(function()
    srv:close()
    helpers.rmtree(tmp)
  end)

  it("is sent only in the request header by every successful command", function()
    local env = { GEMINI_API_KEY = KEY }
    local base = { "--base-url", srv.url }
    local function gen(out, ...)
      local a = { "generate", "c.json", "--out", out, table.unpack(base) }
      for _, x in ipairs { ... } do a[#a + 1] = x end
      return a
    end
    local runs = {
      { gen("o1", "--stats-json", "s1.json"), "generate" },
      { gen("o2", "--verbose", "--stats-json", "s2.json"), "generate --verbose" },
      { gen("o3", "--quiet", "--force"), "generate --quiet" },
      { gen("o4", "--dry-run"), "generate --dry-run" },
      { gen("o5", "--dry-run", "--verbose"), "generate --dry-run --verbose" },
      { { "outline", "--topic", "Knots", "--chapters", "3", "--out", "o6", "-o", "knots.md", table.unpack(base) },
        "outline" },
      { { "outline", "--topic", "Knots", "--chapters", "3", "--out", "o7", "--verbose", table.unpack(base) },
        "outline --verbose" },
      { { "validate", "c.json" }, "validate" },
      { { "validate", "c.json", "--verbose" }, "validate --verbose" },
      { { "validate", "knots.md" }, "validate an outline" },
    }
    for _, c in ipairs(runs) do
      srv:reset_stats()
      local r = cg(c[1], env, c[2])
      assert.equal(0, r.code, c[2] .. ": " .. r.err)
      local ms = srv:stats()
      -- Every request carried the key the mock requires (else: 400 API_KEY_INVALID), in
      -- the header (a `?key=` would be counted).
      for status in pairs(ms.status) do assert.equal("200", status, c[2]) end
      assert.equal(0, ms.key_in_url, c[2])
    end
    -- The OpenAI dialect: `Authorization: Bearer`.
    srv:reset_stats()
    local r = cg({ "generate", "c.json", "--provider", "openai", "--base-url", srv.url .. "/v1", "--out", "o8",
                   "--verbose", "--stats-json", "s8.json" }, { OPENAI_API_KEY = KEY }, "generate openai")
    assert.equal(0, r.code, r.err)
    assert.same({ ["200"] = 5 }, srv:stats().status)
    -- The key from a variable named by --api-key-env.
    srv:reset_stats()
    r = cg(gen("o9", "--api-key-env", "SOME_VAR"), { SOME_VAR = KEY, GEMINI_API_KEY = OTHER }, "--api-key-env")
    assert.equal(0, r.code, r.err)
    assert.same({ ["200"] = 5 }, srv:stats().status)
    assert.truthy(helpers.readfile(tmp .. "/o1/01-topic-1.md"), "the first run wrote nothing")
    -- The mock command given a key to require, stopped by Ctrl-C after half a second.
    local mock_cmd = rel.command({ "mock", "--api-key", KEY, "--port", "0" }, nil, 0.5, "INT")
    os.execute("cd " .. rel.q(tmp) .. " && " .. mock_cmd .. " >.mock.out 2>.mock.err </dev/null")
    local said = (helpers.readfile(tmp .. "/.mock.out") or "") .. (helpers.readfile(tmp .. "/.mock.err") or "")
    assert.truthy(said:find("listening on http://127.0.0.1:", 1, true), said)
    outputs[#outputs + 1] = { label = "mock", text = said }
    assert_no_leak()
  end)

  it("stays out of every failure's messages", function()
    local env = { GEMINI_API_KEY = KEY }
    -- The server refuses specific chapters (each brief carries its own directive).
    helpers.writefile(tmp .. "/bad.json", require("coursegen.json").encode { title = "Refused", chapters = {
      { title = "One", brief = "[[mock:400*]]" }, { title = "Two", brief = "[[mock:401*]]" },
      { title = "Three", brief = "[[mock:403*]]" }, { title = "Four", brief = "[[mock:404*]]" } } })
    local r = cg({ "generate", "bad.json", "--base-url", srv.url, "--out", "b1", "--verbose", "--stats-json",
                   "b1.json" }, env, "refused chapters")
    assert.equal(1, r.code, r.err)
    assert.truthy(r.err:find("HTTP 401", 1, true) and r.err:find("HTTP 403", 1, true), r.err)
    r = cg({ "generate", "bad.json", "--provider", "openai", "--base-url", srv.url .. "/v1", "--out", "b2",
             "--verbose" }, { OPENAI_API_KEY = KEY }, "refused chapters, openai")
    assert.equal(1, r.code, r.err)
    -- A wrong key: the server says so (its echo is a four-character prefix at most).
    srv:reset_stats()
    r = cg({ "generate", "c.json", "--base-url", srv.url, "--out", "b3", "--verbose" },
      { GEMINI_API_KEY = OTHER }, "wrong key")
    assert.equal(1, r.code)
    assert.truthy(r.err:find("API key not valid", 1, true), r.err)
    assert.equal(4, srv:stats().status["400"])
    r = cg({ "generate", "c.json", "--provider", "openai", "--base-url", srv.url .. "/v1", "--out", "b4",
             "--verbose" }, { OPENAI_API_KEY = OTHER }, "wrong key, openai")
    assert.equal(1, r.code)
    assert.truthy(r.err:find("Incorrect API key provided", 1, true), r.err)
    -- Bad options and input, with the key set: refused before anything is sent.
    srv:reset_stats()
    for i, args in ipairs {
      { "generate", "c.json", "--base-url", srv.url, "--concurrency", "0" },
      { "generate", "c.json", "--base-url", srv.url, "--only", "9" },
      { "generate", "c.json", "--base-url", "not a url" },
      { "generate", "missing.json", "--base-url", srv.url },
      { "generate", "c.json", "--base-url", srv.url, "--api-key-env", "bad name" },
      { "outline", "--chapters", "0", "--base-url", srv.url },
      { "validate", "missing.json" },
      { "generate", "c.json", "--base-url", srv.url, "--no-such-option", KEY },
    } do
      r = cg(args, env, "bad input " .. i)
      assert.equal(2, r.code, table.concat(args, " ") .. ": " .. r.err)
    end
    assert.equal(0, srv:stats().requests)
    -- The key is in some other variable than the ones the command reads: it says which
    -- to set, and never looks elsewhere.
    r = cg({ "generate", "c.json", "--out", "b5" }, { MY_GEMINI = KEY }, "missing key")
    assert.equal(2, r.code)
    assert.truthy(r.err:find("no API key for gemini", 1, true), r.err)
    r = cg({ "generate", "c.json", "--out", "b6", "--api-key-env", "UNSET_VAR" }, { MY_GEMINI = KEY },
      "missing named key")
    assert.equal(2, r.code)
    assert.equal(0, srv:stats().requests)
    assert.equal(0, srv:stats().key_in_url)
    assert_no_leak()
  end)

  -- Starts the echoing server (a separate process, so the command can run while this one
  -- waits) for `max` requests; returns its URL, or nil when LuaSocket is missing.
  local function echo_server(max)
    return loopback.start(tmp, "echo_server", max, 20)
  end

  -- Every string inside a value (keys too), for a search.
  local function strings(v, out, seen)
    out, seen = out or {}, seen or {}
    if type(v) == "table" then
      if seen[v] then return out end
      seen[v] = true
      for k, x in pairs(v) do
        strings(k, out, seen)
        strings(x, out, seen)
      end
    elseif v ~= nil then
      out[#out + 1] = tostring(v)
    end
    return out
  end

  it("never reaches an event, a result or an error of the library", function()
    local coursegen = require "coursegen"
    local url = echo_server(4)
    local seen = {}
    local function collect(ev) seen[#seen + 1] = ev end
    local bad = assert(coursegen.course { title = "Refused", chapters = {
      { title = "One", brief = "[[mock:400*]]" }, { title = "Two", brief = "[[mock:401*]]" },
      { title = "Three", brief = "[[mock:503,403*]]" }, { title = "Four" } } })
    local function go(opts)
      opts.on_event, opts.env, opts.backoff_base, opts.max_attempts = collect, {}, 0.01, 2
      opts.rpm, opts.tpm = 0, 0
      local a, b, c = coursegen.generate(bad, opts)
      seen[#seen + 1] = { a, b, c }
      seen[#seen + 1] = { coursegen.plan(bad, opts) }
    end
    go { base_url = srv.url, api_key = KEY, out = tmp .. "/l1" }
    go { base_url = srv.url, api_key = OTHER, out = tmp .. "/l2" }
    go { base_url = srv.url .. "/v1", provider = "openai", api_key = KEY, out = tmp .. "/l3" }
    go { base_url = srv.url, api_key = KEY, out = tmp .. "/l4", concurrency = 0 }
    if url then go { base_url = url, api_key = KEY, out = tmp .. "/l5", concurrency = 1 } end
    local all = table.concat(strings(seen), "\n")
    assert.truthy(all:find("HTTP 401", 1, true))
    if url then assert.truthy(all:find("x-goog-api-key: [api key]", 1, true)) end
    for _, k in ipairs { KEY, OTHER } do
      assert.is_nil(all:find(k, 1, true), "an event or a result holds the key")
      assert.is_nil(all:find(k:sub(11), 1, true), "an event or a result holds the key's tail")
    end
    assert.equal(0, srv:stats().key_in_url)
    assert_no_leak()
  end)

  it("is masked where a server echoes the request back in its error", function()
    local url = echo_server(2) -- one request per run below: it exits after the second
    if not url then
      pending("needs LuaSocket for the echoing server")
      return
    end
    helpers.writefile(tmp .. "/one.json", '{"title":"Echo","chapters":["Only"]}')
    local r = cg({ "generate", "one.json", "--base-url", url, "--out", "e1", "--verbose", "--max-attempts", "1",
                   "--stats-json", "e1.json" }, { GEMINI_API_KEY = KEY }, "echoing server")
    assert.equal(1, r.code, r.err)
    -- The server's words are kept, the header that carried the key is there, masked.
    assert.truthy(r.err:find("Malformed request: POST /v1beta/models/", 1, true), r.err)
    assert.truthy(r.err:find("x-goog-api-key: [api key]", 1, true), r.err)
    local m = rel.manifest(tmp .. "/e1")
    assert.truthy(m.chapters[1].error:find("[api key]", 1, true), m.chapters[1].error)
    r = cg({ "generate", "one.json", "--provider", "openai", "--base-url", url .. "/v1", "--out", "e2",
             "--verbose", "--max-attempts", "1" }, { OPENAI_API_KEY = KEY }, "echoing server, openai")
    assert.equal(1, r.code, r.err)
    assert.truthy(r.err:find("Bearer [api key]", 1, true), r.err)
    assert_no_leak()
  end)
end)
