-- The command line's caching and batch flags, run as a user would, against the mock.
-- luacheck: std +busted
local helpers = require "helpers"
local json = require "coursegen.json"
local mock = require "coursegen.mock"

local BIN = helpers.root .. "/bin/coursegen"
local UNSET = "-u GEMINI_API_KEY -u GOOGLE_API_KEY -u OPENAI_API_KEY -u COURSEGEN_PROVIDER -u COURSEGEN_MODEL "
  .. "-u COURSEGEN_BASE_URL -u COURSEGEN_PRICE_IN -u COURSEGEN_PRICE_OUT"

local function run(dir, args)
  local out, err = dir .. "/.stdout", dir .. "/.stderr"
  local cmd = string.format("cd '%s' && env %s timeout --foreground 60 '%s' %s >'%s' 2>'%s' </dev/null",
    dir, UNSET, BIN, table.concat(args, " "), out, err)
  local _, how, code = os.execute(cmd)
  assert.equal("exit", how)
  return { code = code, out = helpers.readfile(out) or "", err = helpers.readfile(err) or "" }
end

describe("coursegen generate: --no-cache, --batch, --cancel", function()
  local srv, dir
  before_each(function()
    srv = mock.start { port = 0, answer_words = 60, batch_delay_ms = 200 }
    dir = helpers.tmpdir()
    local lines = {}
    for i = 1, 600 do lines[i] = "Paragraph " .. i .. " of the notes, about tables and their keys." end
    helpers.writefile(dir .. "/notes.md", table.concat(lines, "\n\n"))
    helpers.writefile(dir .. "/course.json", json.encode { title = "Tables", source = "notes.md",
      chapters = json.array { "Keys", "Values", "Length", "Iteration" } })
  end)
  after_each(function()
    srv:close()
    helpers.rmtree(dir)
  end)

  it("caches the source by default and says how many prompt tokens were cached", function()
    local r = run(dir, { "generate", "course.json", "--base-url", srv.url, "--out", "out", "--no-progress",
                         "--tpm", "100000000" })
    assert.equal(0, r.code, r.err)
    assert.equal(1, srv:stats().caches_created)
    assert.equal(1, srv:stats().caches_deleted)
    assert.truthy(r.err:match("tokens [%d,]+ prompt %(([%d,]+) of them cached%)"), r.err)
    -- the cache's own calls (create, delete) are shown apart from the chapters'
    assert.truthy(r.err:find("requests 5, retries 0, 429s 0; and 2 for the context cache", 1, true), r.err)
  end)

  it("sends plain requests with --no-cache", function()
    local r = run(dir, { "generate", "course.json", "--base-url", srv.url, "--out", "out", "--no-progress",
                         "--no-cache", "--tpm", "100000000" })
    assert.equal(0, r.code, r.err)
    assert.equal(0, srv:stats().caches_created)
  end)

  it("writes the chapters through a batch job with --batch, showing its states", function()
    local r = run(dir, { "generate", "course.json", "--base-url", srv.url, "--out", "out", "--no-progress",
                         "--batch", "--tpm", "100000000" })
    assert.equal(0, r.code, r.err)
    assert.truthy(r.err:find("batch job batches/[%w]+: pending %(4 chapters%)"), r.err)
    assert.truthy(r.err:find("batch job batches/[%w]+: succeeded"), r.err)
    assert.equal(1, srv:stats().batches_created)
    assert.truthy(helpers.readfile(dir .. "/out/04-iteration.md"))
    local n = tonumber(r.err:match("requests 1, retries 0, 429s 0; and (%d+) for batch jobs"))
    assert.truthy(n and n >= 2, r.err) -- the create and at least one look
    local stats = json.decode(helpers.readfile(dir .. "/out/course.json")).stats
    assert.equal(srv:stats().requests, stats.requests + stats.batch_requests)
  end)

  it("refuses --cancel without --batch, and says when there is nothing to cancel", function()
    local r = run(dir, { "generate", "course.json", "--base-url", srv.url, "--out", "out", "--cancel" })
    assert.equal(2, r.code)
    assert.truthy(r.err:find("--cancel goes with --batch", 1, true), r.err)
    r = run(dir, { "generate", "course.json", "--base-url", srv.url, "--out", "out", "--batch", "--cancel" })
    assert.equal(2, r.code)
    assert.truthy(r.err:find("no batch job is recorded in out/course.json", 1, true), r.err)
  end)

  it("shows plain, cached and batch prices in the dry run", function()
    local r = run(dir, { "generate", "course.json", "--dry-run", "--out", "out" })
    assert.equal(0, r.code, r.err)
    assert.truthy(r.out:find("cost by mode: plain %$[%d.]+; with context caching %(the default here%) %$[%d.]+; "
      .. "with %-%-batch %$[%d.]+"), r.out)
    assert.truthy(r.out:find("===== shared part, sent first with every chapter prompt =====", 1, true))
    assert.truthy(r.out:find("===== source document: [%d,]+ bytes, sent first %(not shown%) =====\n"), r.out)
    assert.is_nil(r.out:find("Paragraph 17 of the notes", 1, true)) -- the source itself is not printed
  end)

  it("takes the cached-input price from --price-cached", function()
    local function cached_cost(extra)
      local args = { "generate", "course.json", "--dry-run", "--quiet", "--out", "out", "--no-cache" }
      for _, a in ipairs(extra) do args[#args + 1] = a end
      local r = run(dir, args)
      assert.equal(0, r.code, r.err)
      return tonumber(r.out:match("with prefix caching %(automatic%) %$([%d.]+)"))
    end
    assert.truthy(cached_cost { "--price-cached", "0.3" } > cached_cost {}) -- 0.3: no discount at all
  end)
end)
