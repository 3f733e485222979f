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

  -- A run of an n-chapter sourced course that stops (a hook raises) at its first event of `ev_type`.
  local function crash_at(ev_type, n)
    local opts = run.opts(srv, { tpm = 1e9, out = dir })
    opts.on_event = function(ev)
      if ev.type == ev_type then error("crash at " .. ev_type, 0) end
    end
    -- a raising hook ends the run like a crash would, with nil and the hook's error
    local stats, err, kind = coursegen.generate(sourced_course(src, n), opts)
    assert.is_nil(stats)
    assert.equal("hook", kind, err)
  end

  it("sends the source once for a 20-chapter course, reports cached tokens and deletes its cache", function()
    local stats, events = run.generate(sourced_course(src, 20), run.opts(srv, { tpm = 1e9, out = dir }))
    assert.same({ total = 20, written = 20, skipped = 0, failed = 0 }, stats.chapters)
    local ms = srv:stats()
    assert.equal(1, ms.caches_created)
    assert.equal(1, ms.caches_deleted)
    -- every call the server saw is counted: the chapters' and the summary's in `requests`,
    -- the cache's create and delete in `cache_requests`
    assert.equal(21, stats.requests)
    assert.equal(2, stats.cache_requests)
    assert.equal(ms.requests, stats.requests + stats.cache_requests)
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

  it("sends the source once when the outline is generated too: the outline request uses the cache", function()
    src_bytes = write_source(src, 200)
    local c = assert(coursegen.course { title = "Sourced", source = src, chapters = 20 })
    local seen = {}
    local opts = run.opts(srv, { tpm = 1e9, out = dir })
    opts.on_event = function(ev)
      if ev.type == "outline" then seen.after_outline = srv:stats() end
      if ev.type == "cache" then seen.cache = ev end
    end
    local stats = assert(coursegen.generate(c, opts))
    assert.same({ total = 20, written = 20, skipped = 0, failed = 0 }, stats.chapters)
    -- the cache (system instruction and source) was made first, and the outline request named it
    local a = seen.after_outline
    assert.equal(1, a.caches_created)
    assert.equal(2, a.requests)
    assert.truthy(a.request_bytes < src_bytes + 8 * 1024, "bytes before the chapters: " .. a.request_bytes)
    local ms = srv:stats()
    assert.equal(1, ms.caches_created) -- the chapters use the same one
    assert.equal(1, ms.caches_deleted)
    assert.truthy(ms.request_bytes < 1.5 * src_bytes, "bytes sent: " .. ms.request_bytes .. " for a source of "
      .. src_bytes)
    local m = run.manifest(dir)
    for i = 1, 20 do assert.truthy(m.chapters[i].tokens.cached >= src_bytes // 4, "chapter " .. i) end
    assert.truthy(seen.cache.name:match("^cachedContents/"))
  end)

  it("makes the chapters their own cache when their shared parts add up to more than the source", function()
    -- a 40 KiB source, 20 chapters whose shared part (outline, structure) is a few KiB each
    local c = assert(coursegen.course { title = "Sourced", source = src, chapters = 20 })
    local stats = run.generate(c, run.opts(srv, { tpm = 1e9, out = dir }))
    assert.equal(20, stats.chapters.written)
    local ms = srv:stats()
    assert.equal(2, ms.caches_created) -- the outline's, then the chapters' (source and shared part)
    assert.equal(2, ms.caches_deleted)
    assert.truthy(ms.request_bytes < 2.5 * src_bytes, "bytes sent: " .. ms.request_bytes)
  end)

  it("leaves the source where a course's own template puts it", function()
    local jobs = require "coursegen.jobs"
    local settings = require "coursegen.settings"
    local c = assert(coursegen.course { title = "T", source = src, chapters = 3,
                                        prompts = { outline = "Outline from: {{source}}" } })
    local s = settings.resolve(c, { out = dir, env = {} })
    local req = jobs.outline(c, s, "NOTES", "sys")
    assert.is_nil(req.source)
    assert.equal("Outline from: NOTES", req.prompt)
    local own = jobs.outline(assert(coursegen.course { title = "T", source = src, chapters = 3 }), s, "NOTES", "sys")
    assert.equal(require("coursegen.prompts").source_turn("NOTES"), own.source)
    assert.is_nil(own.prompt:find("NOTES", 1, true))
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
    crash_at("chapter", 6)
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

  it("deletes a cache a crashed run left when the rerun does not use it", function()
    crash_at("cache", 4)
    assert.truthy(run.manifest(dir).cache)
    local stats = run.generate(sourced_course(src, 4), run.opts(srv, { tpm = 1e9, out = dir, cache = false }))
    assert.equal(4, stats.chapters.written)
    local ms = srv:stats()
    assert.equal(1, ms.caches_created)
    assert.equal(1, ms.caches_deleted)
    assert.is_nil(run.manifest(dir).cache)
  end)

  it("sends the chapters whole when the cache vanishes during the run", function()
    srv:close()
    srv = run.mock { latency_ms = 50, jitter_ms = 0 }
    local core = require "coursegen.core"
    local other = core.engine { concurrency = 1 }
    local opts = run.opts(srv, { tpm = 1e9, out = dir, concurrency = 2 })
    local events = {}
    opts.on_event = function(ev)
      events[#events + 1] = ev
      if ev.type == "cache" then -- someone else deletes it
        other:submit { url = srv.url .. "/v1beta/" .. ev.name, method = "DELETE" }
        assert.equal(200, assert(other:next(5)).status)
      end
    end
    local stats = assert(coursegen.generate(sourced_course(src, 4), opts))
    other:close()
    assert.same({ total = 4, written = 4, skipped = 0, failed = 0 }, stats.chapters)
    local w = run.of_type(events, "warning")
    assert.equal(1, #w)
    assert.truthy(w[1].message:find("is gone", 1, true))
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
    local stats = run.generate_interrupted(sourced_course(src, 8), run.opts(srv, { tpm = 1e9, out = dir,
                                                                                concurrency = 1 }), 0.7)
    assert.is_true(stats.interrupted)
    assert.equal(1, srv:stats().caches_deleted)
    local m = run.manifest(dir)
    assert.is_nil(m.cache)
    assert.equal("pending", m.chapters[8].status)
  end)
end)

describe("money", function()
  local prices = require "coursegen.prices"
  local summary = require "coursegen.cli.summary"

  it("prices cached tokens at the cached rate and a batch at half", function()
    local p = assert(prices.resolve("gemini-2.5-flash"))
    assert.equal(0.03, p.cached)
    assert.near(0.30, prices.cost({ prompt = 1e6, output = 0 }, p), 1e-9)
    assert.near(0.03, prices.cost({ prompt = 1e6, cached = 1e6, output = 0 }, p), 1e-9)
    -- 20 requests sharing 100,000 tokens, each with 1,000 of its own and 5,000 out
    local tokens = { prompt = 20 * 101000, output = 20 * 5000 }
    local e = prices.estimates(tokens, p, { shared = 100000, n = 20, explicit = true })
    assert.near(20 * 101000 * 0.3e-6 + 20 * 5000 * 2.5e-6, e.plain, 1e-9)
    assert.near(e.plain / 2, e.batch, 1e-9)
    -- own parts in full, 20 cached reads, the cache filled once, an hour of storage
    assert.near(20 * 1000 * 0.3e-6 + 20 * 100000 * 0.03e-6 + 100000 * 0.3e-6 + 0.1 + 20 * 5000 * 2.5e-6,
      e.cached, 1e-9)
    assert.truthy(e.cached_batch < e.cached and e.cached < e.plain)
    local implicit = prices.estimates(tokens, p, { shared = 100000, n = 20 })
    assert.near(20 * 1000 * 0.3e-6 + 19 * 100000 * 0.03e-6 + 100000 * 0.3e-6 + 20 * 5000 * 2.5e-6,
      implicit.cached, 1e-9)
    assert.is_nil(prices.estimates(tokens, assert(prices.resolve("x", 1, 2)), { shared = 1, n = 2 }).cached)
    -- in a batch, cache hits keep the cached rate; the rest is half price
    assert.near(0.03, prices.batch_cost({ prompt = 1e6, cached = 1e6, output = 0 }, p), 1e-9)
    assert.near(0.15 + 1.25, prices.batch_cost({ prompt = 1e6, output = 1e6 }, p), 1e-9)
  end)

  it("says in the summary what the run cost, batch answers at half price", function()
    local p = assert(prices.resolve("gemini-2.5-flash"))
    local line = summary.cost_line({ tokens = { prompt = 2e6, cached = 1e6, output = 1e6, thoughts = 0 },
                                     batch_tokens = { prompt = 1e6, cached = 0, output = 1e6, thoughts = 0 } }, p)
    -- 1M fresh at 0.30 + 1M cached at 0.03 + 1M out at 2.50, less half of (0.30 + 2.50)
    assert.truthy(line:find("about $1.43 ", 1, true), line)
    assert.truthy(line:find("batch answers at half price", 1, true))
  end)
end)
