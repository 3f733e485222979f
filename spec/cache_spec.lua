-- Context caching against the mock: the shared part of the chapter prompts is sent once
-- (the mock counts the request bytes it receives), cached tokens come back into the
-- manifest and the statistics, and the cache is deleted at the end, also after Ctrl-C.
-- luacheck: std +busted
local coursegen = require "coursegen"
local helpers = require "helpers"
local run = require "support.course_run"

-- A source document of about `kb` KiB, every paragraph different.
local function write_source(path, kb)
  local parts = {}
  local i = 0
  while #table.concat(parts) < kb * 1024 do
    i = i + 1
    parts[#parts + 1] = string.format("Paragraph %d. Tables hold values under keys; section %d explains why.\n\n", i, i)
  end
  helpers.writefile(path, table.concat(parts))
  return #table.concat(parts)
end

local function sourced_course(src, n)
  local chapters = {}
  for i = 1, n do chapters[i] = { title = "Topic " .. i } end
  return assert(coursegen.course { title = "Sourced", source = src, chapters = chapters })
end

describe("context caching", function()
  local srv, dir, src, src_bytes
  before_each(function()
    srv = run.mock()
    local tmp = helpers.tmpdir()
    dir = tmp .. "/out"
    src = tmp .. "/notes.md"
    src_bytes = write_source(src, 40)
  end)
  after_each(function()
    srv:close()
    helpers.rmtree(dir:match("^(.*)/out$"))
  end)

  it("sends the source once for a 20-chapter course, reports cached tokens and deletes its cache", function()
    local stats, events = run.generate(sourced_course(src, 20), run.opts(srv, { tpm = 1e9, out = dir }))
    assert.same({ total = 20, written = 20, skipped = 0, failed = 0 }, stats.chapters)
    local ms = srv:stats()
    assert.equal(1, ms.caches_created)
    assert.equal(1, ms.caches_deleted)
    -- once in the cache, never again: 20 chapters plus the summary fit in a second copy's room
    assert.truthy(ms.request_bytes > src_bytes, "the source went out once")
    assert.truthy(ms.request_bytes < 2 * src_bytes, "bytes sent: " .. ms.request_bytes)
    local ev = run.of_type(events, "cache")[1]
    assert.truthy(ev.name:match("^cachedContents/"))
    assert.is_false(ev.reused)
    local m = run.manifest(dir)
    assert.is_nil(m.cache) -- deleted, so no longer named
    for i = 1, 20 do
      local e = m.chapters[i]
      assert.truthy(e.tokens.cached >= src_bytes // 4, "chapter " .. i)
      assert.truthy(e.tokens.prompt > e.tokens.cached)
      assert.truthy(helpers.readfile(dir .. "/" .. e.file):find("Chapter " .. i .. " of 20: Topic " .. i, 1, true))
    end
    assert.truthy(stats.tokens.cached >= 20 * (src_bytes // 4))
  end)

  it("sends every chapter whole with cache = false, and the mock's prefix cache still counts", function()
    local stats, events = run.generate(sourced_course(src, 5), run.opts(srv, { tpm = 1e9, out = dir, cache = false }))
    assert.equal(5, stats.chapters.written)
    local ms = srv:stats()
    assert.equal(0, ms.caches_created)
    assert.truthy(ms.request_bytes > 5 * src_bytes)
    assert.equal(0, #run.of_type(events, "cache"))
    -- the shared part comes first and byte-identical: all but the first chapter hit the prefix cache
    local hits = 0
    for _, e in ipairs(run.manifest(dir).chapters) do
      if e.tokens.cached > 0 then hits = hits + 1 end
    end
    assert.truthy(hits >= 4, "prefix cache hits: " .. hits)
  end)

  it("falls back to plain requests with a one-line notice when creating the cache fails", function()
    helpers.writefile(src, helpers.readfile(src) .. "\n[[mock:429*]]\n")
    local stats, events = run.generate(sourced_course(src, 3), run.opts(srv, { tpm = 1e9, out = dir }))
    assert.equal(3, stats.chapters.written)
    local w = run.of_type(events, "warning")
    assert.equal(1, #w)
    assert.truthy(w[1].message:find("^no context cache %(HTTP 429"), w[1].message)
    assert.equal(0, srv:stats().caches_created)
  end)

  it("says why it does not cache a shared part under the model's minimum", function()
    write_source(src, 1)
    local _, events = run.generate(sourced_course(src, 3), run.opts(srv, { tpm = 1e9, out = dir }))
    local w = run.of_type(events, "warning")[1]
    assert.truthy(w and w.message:find("under gemini%-2%.5%-flash's minimum of 1024"), w and w.message)
    assert.equal(0, srv:stats().caches_created)
  end)

  it("leaves the cache to a rerun after a crash, which reuses it through the manifest", function()
    local opts = run.opts(srv, { tpm = 1e9, out = dir })
    opts.on_event = function(ev)
      if ev.type == "chapter" then error("crash after the first chapter", 0) end
    end
    assert.has_error(function() coursegen.generate(sourced_course(src, 6), opts) end)
    local m = run.manifest(dir)
    assert.truthy(m.cache and m.cache.name:match("^cachedContents/"))
    local stats, events = run.generate(sourced_course(src, 6), run.opts(srv, { tpm = 1e9, out = dir }))
    assert.equal(6, stats.chapters.written + stats.chapters.skipped)
    local ev = run.of_type(events, "cache")[1]
    assert.equal(m.cache.name, ev.name)
    assert.is_true(ev.reused)
    local ms = srv:stats()
    assert.equal(1, ms.caches_created)
    assert.equal(1, ms.caches_deleted)
    assert.is_nil(run.manifest(dir).cache)
  end)

  it("renews the cache's TTL while the run outlives half of it", function()
    srv:close()
    srv = run.mock { latency_ms = 150, jitter_ms = 0 }
    local stats = run.generate(sourced_course(src, 8),
      run.opts(srv, { tpm = 1e9, out = dir, concurrency = 1, cache_ttl = 0.5 }))
    assert.equal(8, stats.chapters.written)
    assert.truthy(srv:stats().caches_renewed >= 1)
    assert.equal(1, srv:stats().caches_deleted)
  end)

  it("deletes the cache after Ctrl-C and keeps the chapters not yet written pending", function()
    srv:close()
    srv = run.mock { latency_ms = 200, jitter_ms = 0 }
    local pid = helpers.readfile("/proc/self/stat"):match("^%d+")
    os.execute("(sleep 0.7; kill -INT " .. pid .. ") &")
    local stats = run.generate(sourced_course(src, 8),
      run.opts(srv, { tpm = 1e9, out = dir, concurrency = 1, catch_signals = true }))
    require("coursegen.core").reset_interrupted()
    assert.is_true(stats.interrupted)
    assert.equal(1, srv:stats().caches_deleted)
    local m = run.manifest(dir)
    assert.is_nil(m.cache)
    assert.equal("pending", m.chapters[8].status)
  end)
end)
