-- luacheck: std +busted
-- The shared limiter wired into the engine, the Lua API and the command line (`limiter`,
-- `--limiter`), against a real redis-server on a loopback port and the mock server.
local helpers = require "helpers"
local redis = require "support.redis_server"
local core = require "coursegen.core"
local coursegen = require "coursegen"
local gemini = require "coursegen.providers.gemini"
local json = require "coursegen.json"
local mock = require "coursegen.mock"


local runs = require "support.cli_runs"
local run_all, result_of, course_file, wall = runs.run_all, runs.result_of, runs.course_file, runs.wall

-- A request for the mock (Gemini dialect).
local function request(base_url, prompt, tokens)
  local http = gemini.request({ base_url = base_url, model = "m" }, { prompt = prompt })
  return { url = http.url, method = http.method, headers = http.headers, body = http.body,
           tokens = tokens or 0 }
end

local function all_results(eng)
  local out = {}
  while true do
    local r, err = eng:next(30)
    assert.is_nil(err)
    if not r then break end
    out[#out + 1] = r
  end
  return out
end

describe("coursegen shared limiter", function()
  describe("the engine's limiter option", function()
    it("raises naming the option for a bad URL, and naming the URL when Redis is unreachable", function()
      assert.has.error(function() core.engine { limiter = "http://x" } end,
        "bad option 'limiter' (bad limiter URL 'http://x': scheme must be redis:// or unix://)")
      assert.has.error(function() core.engine { limiter = "redis://h:1/0" } end,
        "bad option 'limiter' (bad limiter URL 'redis://h:1/0': missing ?key=NAME)")
      assert.has.error(function() core.engine { limiter = 1 } end,
        "bad option 'limiter' (string expected, got number)")
      -- Nothing listens on port 1 of the loopback; the password never shows.
      assert.has.error(function() core.engine { limiter = "redis://:secret@127.0.0.1:1/0?key=k" } end,
        "cannot start the engine: limiter: redis: redis://:***@127.0.0.1:1/0?key=k: Connection refused")
    end)
  end)

  describe("the Lua API's limiter option", function()
    it("returns an input error for a bad URL and a limiter error when Redis is unreachable", function()
      local dir = helpers.tmpdir()
      local course = assert(coursegen.course { title = "T", chapters = { "A" } })
      local res, err, kind = coursegen.generate(course, { out = dir .. "/o", limiter = "redis://h",
                                                         base_url = "http://127.0.0.1:1" })
      assert.is_nil(res)
      assert.equal("input", kind)
      assert.equal("option limiter: bad limiter URL 'redis://h': missing ?key=NAME", err)
      res, err, kind = coursegen.generate(course, { out = dir .. "/o", base_url = "http://127.0.0.1:1",
                                                    limiter = "redis://127.0.0.1:1/0?key=k" })
      assert.is_nil(res)
      assert.equal("limiter", kind)
      assert.equal("limiter: redis: redis://127.0.0.1:1/0?key=k: Connection refused", err)
      helpers.rmtree(dir)
    end)
  end)

  describe("the command line's --limiter", function()
    it("rejects a bad URL as a usage error (exit 2)", function()
      local dir = helpers.tmpdir()
      local path = course_file(dir, "c", "T", 1)
      run_all(dir, { { name = "bad", args = { "generate", path, "--base-url", "http://127.0.0.1:1",
                                             "--limiter", "redis://:pw@h:99999/0?key=k" } } })
      local r = result_of(dir, "bad")
      assert.equal(2, r.code)
      assert.matches("coursegen: error: --limiter: bad limiter URL 'redis://:***@h:99999/0?key=k': "
        .. "bad port '99999' (1-65535)", r.err, 1, true)
      assert.not_matches("pw", r.err, 1, true)
      helpers.rmtree(dir)
    end)
  end)

  describe("with a real redis-server", function()
    local srv, server
    setup(function()
      srv = redis.start()
      server = mock.start { latency_ms = 5 }
    end)
    teardown(function()
      if server then server:close() end
      redis.stop(srv)
    end)

    it("sends every request on a grant and reports the round trips in stats().redis", function()
      local url = srv.url(redis.fresh_key())
      local eng <close> = core.engine { limiter = url, rpm = 6000, concurrency = 8 }
      for i = 1, 40 do eng:submit(request(server.url, "Grant " .. i)) end
      local res = all_results(eng)
      assert.equal(40, #res)
      for _, r in ipairs(res) do assert.equal(200, r.status) end
      local st = eng:stats()
      assert.equal(url, st.redis.url)
      assert.equal(40, st.redis.grants)
      assert.equal(0, st.redis.errors)
      assert.is_true(st.redis.round_trips >= 1)
      -- Leased in batches: fewer round trips than requests.
      assert.is_true(st.redis.round_trips < 40, "round trips: " .. st.redis.round_trips)
      assert.near(st.redis.round_trips / 40, st.redis.round_trips_per_request, 1e-9)
    end)

    it("passes changed limits with its next call to Redis", function()
      local url = srv.url(redis.fresh_key())
      local eng <close> = core.engine { limiter = url, rpm = 60 } -- one request a second
      eng:submit(request(server.url, "Limits 1"))
      assert.equal(200, assert(eng:next(10)).status)
      eng:set_limits { rpm = 60000 }
      local t0 = core.now()
      for i = 2, 6 do eng:submit(request(server.url, "Limits " .. i)) end
      assert.equal(5, #all_results(eng))
      assert.is_true(core.now() - t0 < 1, "5 requests took " .. (core.now() - t0) .. " s")
    end)

    it("is an option of coursegen.generate, with the round trips in the statistics", function()
      local dir = helpers.tmpdir()
      local course = assert(coursegen.course { title = "Shared", chapters = { "One", "Two", "Three" } })
      local stats, err = coursegen.generate(course, { out = dir .. "/o", base_url = server.url, rpm = 600,
                                                      limiter = srv.url(redis.fresh_key()) })
      assert.is_nil(err)
      assert.equal(3, stats.chapters.written)
      assert.equal(4, stats.limiter.grants) -- three chapters and the summary
      assert.equal(0, stats.limiter.errors)
      assert.is_true(stats.limiter.round_trips >= 1)
      helpers.rmtree(dir)
    end)

    it("records a 429's hinted pause in Redis, so every process on the key pauses", function()
      local url = srv.url(redis.fresh_key())
      local eng <close> = core.engine { limiter = url, rpm = 600, max_attempts = 1 }
      eng:submit(request(server.url, "Pause [[mock:429:3s]]"))
      local r = assert(eng:next(10))
      assert.equal(429, r.status)
      local other <close> = core.redis_limiter(url, { rpm = 600 })
      local paused = 0
      for _ = 1, 50 do -- the engine's gate records it right after the answer
        paused = assert(other:state()).paused
        if paused > 0 then break end
        helpers.sleep(0.02)
      end
      assert.is_true(paused > 2 and paused <= 3, "paused: " .. paused)
      local granted, wait = other:lease(1, 0)
      assert.is_false(granted)
      assert.is_true(wait > 2)
    end)

    it("settles real usage and refunds failed attempts' tokens in Redis", function()
      local url = srv.url(redis.fresh_key())
      local limits = { tpm = 60, burst_tokens = 1000 } -- refills 1 token/s: levels show what was settled
      local other <close> = core.redis_limiter(url, limits)
      assert(other:state()) -- the key exists, buckets full: no paced opening (another spec's)
      do
        local eng <close> = core.engine { limiter = url, tpm = 60, burst_tokens = 1000,
          validate = function() return true, { used = 100 } end }
        eng:submit(request(server.url, "Settle", 900))
        assert.equal(200, assert(eng:next(10)).status)
      end
      -- 1000 - 900 reserved + 800 settled (without settling it would be about 100)
      local level = assert(other:state()).tokens
      assert.is_true(level >= 895 and level <= 1000, "tokens after settling: " .. level)
      do
        local eng <close> = core.engine { limiter = url, tpm = 60, burst_tokens = 1000, max_attempts = 1 }
        eng:submit(request(server.url, "Refund [[mock:400]]", 800))
        assert.equal(400, assert(eng:next(10)).status)
      end
      local after = assert(other:state()).tokens
      assert.is_true(after >= level - 5, "tokens after a refund: " .. after .. " (before: " .. level .. ")")
    end)

    it("fails what waits with error_code 'limiter' when Redis goes away, and sends nothing without a grant", function()
      local own = redis.start()
      local url = own.url(redis.fresh_key()) .. "&outage=0"
      server:reset_stats()
      -- `outage=0`: no riding through. The first request is granted; the queue then runs
      -- dry, so the engine holds no lease when Redis goes, and what comes after needs it.
      local eng <close> = core.engine { limiter = url, rpm = 60 }
      eng:submit(request(server.url, "Stop 1"))
      local first = assert(eng:next(10))
      assert.equal(200, first.status)
      redis.stop(own)
      for i = 2, 5 do eng:submit(request(server.url, "Stop " .. i)) end
      local ok, failed = 1, 0
      for _ = 2, 5 do
        local r = assert(eng:next(10))
        if r.status == 200 then
          ok = ok + 1
        else
          failed = failed + 1
          assert.equal("limiter", r.error_code)
          assert.equal(0, r.attempts)
          assert.matches("^limiter: redis: " .. url:gsub("%p", "%%%0") .. ": ", r.error)
        end
      end
      assert.is_true(failed >= 1)
      assert.equal(ok, server:stats().requests)
      -- Nothing is admitted any more.
      eng:submit(request(server.url, "After"))
      assert.equal("limiter", assert(eng:next(10)).error_code)
      assert.equal(ok, server:stats().requests)
    end)
  end)

  describe("a Redis password", function()
    it("comes from --limiter-file or COURSEGEN_LIMITER and shows nowhere: messages, hint, stats", function()
      local secret = "pw-" .. math.random(1e6, 9e6)
      local srv = redis.start { password = secret }
      local server = mock.start { latency_ms = 5 }
      local dir = helpers.tmpdir()
      local key = redis.fresh_key("pw")
      local url = string.format("redis://:%s@127.0.0.1:%d/0?key=%s", secret, srv.port, key)
      helpers.writefile(dir .. "/limiter.url", url .. "\n")
      local path = course_file(dir, "c", "Secret", 3)
      -- One chapter fails for good, so the summary prints the "run again" hint.
      local failing = course_file(dir, "f", "Secret [[mock:400]]", 2)
      local common = { "--base-url", server.url, "--rpm", "600", "--no-progress", "--max-attempts", "1" }
      local function with(args) for _, a in ipairs(common) do args[#args + 1] = a end return args end
      run_all(dir, {
        { name = "file", args = with { "generate", path, "--out", dir .. "/o1",
                                       "--limiter-file", dir .. "/limiter.url", "--stats-json", dir .. "/s1.json" } },
        { name = "env", args = with { "generate", path, "--out", dir .. "/o2", "--stats-json", dir .. "/s2.json" },
          env = { COURSEGEN_LIMITER = url } },
        { name = "argv", args = with { "generate", failing, "--out", dir .. "/o3", "--limiter", url } },
      })
      local file, env, argv = result_of(dir, "file"), result_of(dir, "env"), result_of(dir, "argv")
      assert.equal(0, file.code, file.err)
      assert.equal(0, env.code, env.err)
      assert.equal(1, argv.code, argv.err)
      -- The runs went through Redis: the key's requests were granted there.
      for _, n in ipairs { 1, 2 } do
        local st = json.decode(assert(helpers.readfile(dir .. "/s" .. n .. ".json")))
        assert.equal(4, st.limiter.grants)
        assert.matches("redis://:***@127.0.0.1:", st.limiter.url, 1, true)
      end
      -- The URL in argv is warned about, and the hint masks it.
      assert.matches("warning: the --limiter URL carries a password", argv.err, 1, true)
      assert.matches("run the same command again: .*redis://:%*%*%*@127%.0%.0%.1:", argv.err)
      for _, name in ipairs { "file", "env", "argv" } do
        local r = result_of(dir, name)
        assert.is_nil((r.out .. r.err):find(secret, 1, true), name .. " printed the password")
      end
      for _, f in ipairs { "s1.json", "s2.json", "o1/course.json", "o2/course.json", "o3/course.json" } do
        local text = helpers.readfile(dir .. "/" .. f) or ""
        assert.is_nil(text:find(secret, 1, true), f .. " holds the password")
      end
      server:close()
      redis.stop(srv)
      helpers.rmtree(dir)
    end)

    it("names the file or the variable for a bad URL, and refuses both flags at once", function()
      local dir = helpers.tmpdir()
      local path = course_file(dir, "c", "T", 1)
      helpers.writefile(dir .. "/bad.url", "redis://:hush@h:99999/0?key=k\n")
      helpers.writefile(dir .. "/empty.url", "\n")
      local base = { "generate", path, "--base-url", "http://127.0.0.1:1", "--out", dir .. "/o" }
      local function args(extra)
        local a = {}
        for _, v in ipairs(base) do a[#a + 1] = v end
        for _, v in ipairs(extra) do a[#a + 1] = v end
        return a
      end
      run_all(dir, {
        { name = "badfile", args = args { "--limiter-file", dir .. "/bad.url" } },
        { name = "empty", args = args { "--limiter-file", dir .. "/empty.url" } },
        { name = "missing", args = args { "--limiter-file", dir .. "/none.url" } },
        { name = "badenv", args = base, env = { COURSEGEN_LIMITER = "redis://:hush@h/0" } },
        { name = "both", args = args { "--limiter", "redis://h/0?key=k", "--limiter-file", dir .. "/bad.url" } },
      })
      local function check(name, msg)
        local r = result_of(dir, name)
        assert.equal(2, r.code, name .. ": " .. r.err)
        assert.matches(msg, r.err, 1, true)
        assert.is_nil(r.err:find("hush", 1, true), name .. " printed the password")
      end
      check("badfile", "--limiter-file " .. dir .. "/bad.url: bad limiter URL 'redis://:***@h:99999/0?key=k': "
        .. "bad port '99999' (1-65535)")
      check("empty", "--limiter-file: " .. dir .. "/empty.url is empty (put the redis:// URL on its first line)")
      check("missing", "--limiter-file: cannot read " .. dir .. "/none.url")
      check("badenv", "COURSEGEN_LIMITER: bad limiter URL 'redis://:***@h/0': missing ?key=NAME")
      check("both", "use --limiter or --limiter-file, not both")
      helpers.rmtree(dir)
    end)
  end)

  describe("coursegen quota", function()
    it("shows the key's limits and who shares it, sets them for all, and a run with others is warned", function()
      local srv = redis.start()
      local server = mock.start { latency_ms = 5 }
      local dir = helpers.tmpdir()
      local key = redis.fresh_key("quota")
      local url = srv.url(key)
      local holder <close> = core.redis_limiter(url, { rpm = 600, tpm = 100000 })
      assert.is_true((holder:lease(1, 0)))
      local path = course_file(dir, "c", "Quota", 2)
      run_all(dir, {
        { name = "show", args = { "quota", "--limiter", url } },
        { name = "nokey", args = { "quota" } },
        { name = "badset", args = { "quota", "--limiter", url, "--set", "rpm=10,rpx=3" } },
      })
      local show = result_of(dir, "show")
      assert.equal(0, show.code, show.err)
      assert.matches("key: " .. url, show.out, 1, true)
      assert.matches("limits: rpm 600, tpm 100000, rpd none", show.out, 1, true)
      assert.matches("processes sharing it (last minute): 1", show.out, 1, true)
      assert.equal(2, result_of(dir, "nokey").code)
      assert.matches("quota: name the key's Redis with --limiter URL", result_of(dir, "nokey").err, 1, true)
      local badset = result_of(dir, "badset")
      assert.equal(2, badset.code)
      assert.matches("--set: expected NAME=N with NAME rpm, tpm or rpd, got 'rpx=3'", badset.err, 1, true)
      -- A run with other limits uses the key's and says so once.
      run_all(dir, { { name = "gen", args = { "generate", path, "--out", dir .. "/o", "--base-url", server.url,
                                              "--rpm", "6000", "--limiter", url, "--no-progress" } } })
      local gen = result_of(dir, "gen")
      assert.equal(0, gen.code, gen.err)
      local _, warnings = gen.err:gsub("the limiter key's limits %(rpm 600, tpm 100000, rpd none%) apply, "
        .. "not this run's %(rpm 6000", "")
      assert.equal(1, warnings, gen.err)
      -- Set for everyone (the other key, by name, from COURSEGEN_LIMITER).
      run_all(dir, { { name = "set", args = { "quota", key, "--set", "rpm=1200" },
                       env = { COURSEGEN_LIMITER = srv.url("unrelated") } } })
      local set = result_of(dir, "set")
      assert.equal(0, set.code, set.err)
      assert.matches("limits: rpm 1200, tpm 100000", set.out, 1, true)
      assert.equal(1200, holder:state().rpm)
      server:close()
      redis.stop(srv)
      helpers.rmtree(dir)
    end)
  end)

  describe("three coursegen processes on one key", function()
    -- 40 chapters each, about 6 s. The makespan includes the processes' start-up (about
    -- 0.3 s) and the opening burst (half a second's worth, see the engine), which roughly
    -- cancel out; the steady rate in between is the limit.
    local RPM, CHAPTERS = 1200, 40

    it("share the rate: under 1% 429s and at least 95% of the limit achieved #slow", function()
      local srv = redis.start()
      local server = mock.start { rpm = RPM, latency_ms = 20 }
      local dir = helpers.tmpdir()
      local url = srv.url(redis.fresh_key("three"))
      local cmds = {}
      for i = 1, 3 do
        local path = course_file(dir, "c" .. i, "Course " .. i, CHAPTERS)
        cmds[i] = { name = "p" .. i, args = { "generate", path, "--out", dir .. "/o" .. i,
          "--base-url", server.url, "--rpm", tostring(RPM), "--limiter", url, "--no-progress",
          "--quiet", "--stats-json", dir .. "/s" .. i .. ".json" } }
      end
      local t0 = wall()
      run_all(dir, cmds)
      local makespan = wall() - t0
      local st = server:stats()
      server:close()
      redis.stop(srv)
      local trips, sent = 0, 0
      for i = 1, 3 do
        local r = result_of(dir, "p" .. i)
        assert.equal(0, r.code, r.err)
        local s = json.decode(assert(helpers.readfile(dir .. "/s" .. i .. ".json")))
        assert.equal(CHAPTERS, s.chapters.written)
        trips = trips + s.limiter.round_trips
        sent = sent + s.requests
      end
      local n429 = st.status["429"] or 0
      local rate = st.requests / makespan
      print(string.format("\n  3 processes, %d requests in %.2f s: %.1f/s (limit %d/s), 429s %d (%.2f%%), "
        .. "redis round trips per request %.2f", st.requests, makespan, rate, RPM // 60, n429,
        100 * n429 / st.requests, trips / sent))
      assert.is_true(n429 / st.requests < 0.01, "429 share: " .. n429 .. "/" .. st.requests)
      assert.is_true(rate >= 0.95 * RPM / 60, "achieved rate: " .. rate)
      helpers.rmtree(dir)
    end)

    -- Stops Redis once `ready(stats)` holds for the mock's statistics (or after 10 s), then
    -- waits for the processes of `pid` to end (at most 30 s).
    local function stop_redis_when(srv, server, pid, ready)
      for _ = 1, 1000 do
        if ready(server:stats()) then break end
        helpers.sleep(0.01)
      end
      redis.stop(srv)
      for _ = 1, 3000 do
        if not helpers.alive(pid) then break end
        helpers.sleep(0.01)
      end
    end

    it("stop after the last chapter saying the course summary is what is left", function()
      local srv = redis.start()
      -- Answers take a second: Redis stops while every chapter is in flight. (A limit is
      -- named: with none, as for a server on this machine, the limiter lets all through.)
      local server = mock.start { latency_ms = 1000 }
      local dir = helpers.tmpdir()
      local url = srv.url(redis.fresh_key("summary")) .. "&outage=1"
      local path = course_file(dir, "c", "Course", 3)
      local pid = runs.start_all(dir, { { name = "p", args = { "generate", path, "--out", dir .. "/o",
        "--base-url", server.url, "--limiter", url, "--rpm", "600", "--no-progress", "--no-cache" } } })
      stop_redis_when(srv, server, pid, function(st) return st.in_flight >= 3 end)
      local r = result_of(dir, "p")
      assert.equal(1, r.code, r.err)
      assert.matches("coursegen: error: limiter: redis: " .. url .. ": ", r.err, 1, true)
      assert.matches("the run stopped: all 3 chapters are written in " .. dir .. "/o but the course summary "
        .. "is not (run again when the limiter is back to write it)", r.err, 1, true)
      local m = json.decode(assert(helpers.readfile(dir .. "/o/course.json")))
      for _, e in ipairs(m.chapters) do assert.equal("done", e.status) end
      server:close()
      helpers.rmtree(dir)
    end)

    it("stop with a clear error when Redis stops, keeping every finished chapter #slow", function()
      local srv = redis.start()
      local server = mock.start { latency_ms = 20 }
      local dir = helpers.tmpdir()
      local url = srv.url(redis.fresh_key("stop")) .. "&outage=1"
      local cmds = {}
      for i = 1, 3 do
        -- More chapters than a lease holds (at most 64 requests), so a process that holds
        -- one when Redis stops still has chapters the limiter never granted.
        local path = course_file(dir, "c" .. i, "Course " .. i, 150)
        -- 50 requests a second in all: the run would take about 9 s.
        cmds[i] = { name = "p" .. i, args = { "generate", path, "--out", dir .. "/o" .. i,
          "--base-url", server.url, "--rpm", "3000", "--limiter", url, "--no-progress" } }
      end
      local pid = runs.start_all(dir, cmds)
      -- Stop Redis once a few chapters are written.
      stop_redis_when(srv, server, pid, function(st) return st.requests >= 15 end)
      local done = 0
      for i = 1, 3 do
        local r = result_of(dir, "p" .. i)
        assert.equal(1, r.code, r.err)
        local msg = "coursegen: error: limiter: redis: " .. url .. ": "
        assert.matches(msg, r.err, 1, true)
        assert.matches("the run stopped: %d+ of 150 chapters are written in ", r.err)
        local m = json.decode(assert(helpers.readfile(dir .. "/o" .. i .. "/course.json")))
        assert.equal(150, #m.chapters)
        for _, e in ipairs(m.chapters) do
          if e.status == "done" then
            done = done + 1
            local text = assert(helpers.readfile(dir .. "/o" .. i .. "/" .. e.file), e.file)
            assert.matches(e.title, text, 1, true)
          else
            assert.equal("failed", e.status)
            assert.matches("limiter: redis: ", e.error, 1, true)
          end
        end
      end
      -- Every request the mock saw was granted and its chapter kept (besides each
      -- process's context cache, made before the first chapter and deleted at the end).
      local st = server:stats()
      assert.is_true(done >= 15 and done < 3 * 150, "done: " .. done)
      assert.equal(3, st.caches_created)
      assert.equal(done + st.caches_created + st.caches_deleted, st.requests)
      server:close()
      helpers.rmtree(dir)
    end)
  end)
end)
