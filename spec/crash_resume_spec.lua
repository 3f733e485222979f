-- luacheck: std +busted
-- The real command killed with SIGKILL at random moments and run again until it finishes:
-- nothing half-written, no temporary file left, no finished chapter asked for again, and
-- the final folder byte-identical to one uninterrupted run (the mock's answers depend only
-- on the prompt and the seed). Some runs kill themselves right after writing a chapter file,
-- before the manifest records it (COURSEGEN_TEST_KILL), a moment random kills rarely hit.
local helpers = require "helpers"
local lfs = require "lfs"
local run = require "support.course_run"
local rel = require "support.reliability"
local sha256 = require "coursegen.sha256"

-- The manifest without what differs from run to run: the statistics always; with faults,
-- also how many attempts each request took and the tokens those attempts used.
local function stable_manifest(dir, loose)
  local m = rel.manifest(dir)
  m.stats = nil
  m.server = nil -- the reference ran against a twin of the server, on another port
  if loose then
    for _, e in ipairs(m.chapters) do e.attempts, e.tokens = nil, nil end
    if type(m.summary) == "table" then m.summary.attempts, m.summary.tokens = nil, nil end
  end
  return m
end

-- Whether a chapter's file holds the text its entry says coursegen wrote: done, or recorded
-- as about to be written by a run killed before it could record it as done.
local function whole(dir, e)
  if e.status ~= "done" and e.status ~= "writing" then return false end
  local text = helpers.readfile(dir .. "/" .. e.file)
  return text ~= nil and sha256.hex(text) == e.sha256
end

-- Requests a run needs to finish the folder as it stands: the outline if asked for and
-- not saved, every chapter whose file is not whole, the summary if not done.
local function left_to_do(dir, n, planned)
  local todo = (planned and not lfs.attributes(dir .. "/outline.json")) and 1 or 0
  if not lfs.attributes(dir .. "/course.json") then return todo + n + 1 end
  local m = rel.manifest(dir)
  for _, e in ipairs(m.chapters) do if not whole(dir, e) then todo = todo + 1 end end
  if #m.chapters < n then todo = todo + n - #m.chapters end
  if not (m.summary and m.summary.status == "done") then todo = todo + 1 end
  return todo
end

describe("#reliability crash and resume", function()
  local srv, srv_opts, tmp

  -- Starts the mock and remembers its options, so the loop can start a twin of it.
  local function start(opts)
    srv_opts = opts
    return run.mock(opts)
  end

  before_each(function() tmp = helpers.tmpdir() end)
  after_each(function()
    srv:close()
    helpers.rmtree(tmp)
  end)

  -- Kills runs of `args(out)` into fresh folders until `scenarios` folders are finished,
  -- checking each folder after every run; returns the number of runs and of kills.
  -- `o.n` chapters; `o.planned` when the outline is generated; `o.faults` when the mock
  -- injects faults (attempt counts then vary from run to run).
  local function crash_loop(args, o)
    local t_ref = rel.now()
    local r0 = rel.run(tmp, args("ref"))
    t_ref = rel.now() - t_ref
    assert.equal(0, r0.code, "exit " .. tostring(r0.code) .. ": " .. r0.err)
    -- A fresh server with the same seed (on another port) for the interrupted runs: the
    -- answers depend on the prompt and the seed, not on one server's history.
    srv:close()
    srv = run.mock(srv_opts)
    local ref_dir = tmp .. "/ref"
    local names = rel.list(ref_dir)
    local ref_m = rel.manifest(ref_dir)
    assert.equal(o.n, #ref_m.chapters)
    assert.equal("done", ref_m.summary.status)
    local ref_files = {}
    for _, name in ipairs(names) do ref_files[name] = helpers.readfile(ref_dir .. "/" .. name) end

    local kills, runs, temps_seen, scenario, file_kills = 0, 0, 0, 0, 0
    -- Generous: a loaded machine is slow, and only the extra folders are cut short.
    local started = rel.now()
    local deadline = started + 300
    -- At least `o.scenarios` folders, and more until `o.kills` runs were killed: how many
    -- kills a folder takes before it finishes depends on the machine's speed.
    while scenario < o.scenarios or (kills < o.kills and scenario < 4 * o.scenarios and rel.now() < started + 60) do
      scenario = scenario + 1
      local out = "run" .. scenario
      local dir = tmp .. "/" .. out
      local inodes = {} -- file -> inode, for every chapter the manifest called done
      local finished = false
      for attempt = 1, 30 do
        assert.truthy(rel.now() < deadline, "crash loop over its time bound")
        local todo = left_to_do(dir, o.n, o.planned)
        srv:reset_stats()
        -- Kill anywhere from before the first request to past the end; after eight tries
        -- the run is left to finish, so the loop ends.
        -- The range shrinks with the work left, so that most runs are killed mid-way.
        local share = math.min(1, (todo + 2) / (o.n + 2))
        local moment = attempt <= 8 and (0.05 + math.random() * t_ref * share) or 30
        -- Each folder's first run, and one in three later ones (while chapters are left), kills
        -- itself just after a chapter file.
        local env, at_file
        local chapters_left = todo - 1 - ((o.planned and not lfs.attributes(dir .. "/outline.json")) and 1 or 0)
        if attempt <= 8 and chapters_left >= 1 and (attempt == 1 or math.random(3) == 1) then
          at_file = math.random(chapters_left)
          env, moment = { COURSEGEN_TEST_KILL = "chapter-file:" .. at_file }, 30
        end
        local r = rel.run_killed(tmp, args(out), env, moment)
        runs = runs + 1
        local sent = srv:stats().requests
        if at_file and not o.faults then
          assert.truthy(r.killed, "the run did not stop after chapter file " .. at_file .. ": " .. r.err)
        end
        if at_file and r.killed then
          file_kills = file_kills + 1
          -- killed between the file and its manifest entry: the entry says "writing", the file is whole
          local caught = false
          for _, e in ipairs(rel.manifest(dir).chapters) do
            if e.status == "writing" and whole(dir, e) then caught = true end
          end
          assert.truthy(caught, "no chapter recorded as being written after a kill at chapter file " .. at_file)
        end
        if r.killed then
          kills = kills + 1
          if not o.faults then
            assert.truthy(sent <= todo, ("a killed run sent %d requests with %d left to do"):format(sent, todo))
          end
        else
          assert.equal(0, r.code, "exit " .. tostring(r.code) .. ": " .. r.err)
          -- An uninterrupted rerun asks for exactly what was not done, once each.
          if o.faults then
            assert.truthy(sent >= todo, ("the last run sent %d requests with %d left to do"):format(sent, todo))
          else
            assert.equal(todo, sent, "requests of the finishing run")
          end
          finished = true
        end
        -- Whatever is in the folder now is whole: known names (plus, after a kill, the
        -- temporary file of a write it interrupted), every chapter file and the outline
        -- identical to the reference, a manifest that parses.
        for _, name in ipairs(rel.list(dir)) do
          if ref_files[name] then
            if name:match("^%d+%-") or name == "outline.json" then
              assert.equal(ref_files[name], helpers.readfile(dir .. "/" .. name), name .. " is not whole")
            elseif name == "README.md" then
              -- Mid-run it lacks the summary, so it differs from the reference: whole, though.
              local text = helpers.readfile(dir .. "/" .. name)
              assert.equal(ref_files[name]:match("^[^\n]*\n"), text:match("^[^\n]*\n"), "README.md is not whole")
              local entries = 0
              for _ in text:gmatch("\n%d+%. [^\n]+") do entries = entries + 1 end
              assert.equal(o.n, entries, "README.md does not list every chapter")
              assert.equal("\n", text:sub(-1), "README.md is cut short")
            end
          elseif name == ".coursegen.lock" then
            assert.truthy(helpers.readfile(dir .. "/" .. name):match("^%d+\n$"), "the lock file holds no pid")
          elseif name:match("^%..*%.tmp%-") then
            assert.is_true(r.killed, "temporary file " .. name .. " left by a run that was not killed")
            temps_seen = temps_seen + 1
          else
            error("unexpected file " .. name .. " in " .. out)
          end
        end
        if lfs.attributes(dir .. "/course.json") then
          local m = rel.manifest(dir)
          for _, e in ipairs(m.chapters) do
            if whole(dir, e) then
              local ino = lfs.attributes(dir .. "/" .. e.file, "ino")
              assert.truthy(ino, e.file .. " is done in the manifest but missing")
              -- A chapter done before is never written again (a new write is a new inode).
              if inodes[e.file] then assert.equal(inodes[e.file], ino, e.file .. " was written again") end
              inodes[e.file] = ino
            end
          end
        end
        if finished then break end
      end
      assert.is_true(finished, "scenario " .. scenario .. " never finished")
      assert.same(names, rel.list(dir))
      for _, name in ipairs(names) do
        if name ~= "course.json" and name ~= ".coursegen.lock" then -- (the lock holds the last run's pid)
          assert.equal(ref_files[name], helpers.readfile(dir .. "/" .. name), name .. " differs from the reference")
        end
      end
      assert.same(stable_manifest(ref_dir, o.faults), stable_manifest(dir, o.faults))
    end
    io.stderr:write(("\ncrash and resume (%s): %d runs, %d killed with SIGKILL and resumed (%d of them between "
      .. "a chapter file and its manifest entry), %d temporary files seen after kills; uninterrupted run %.2f s\n")
      :format(o.label, runs, kills, file_kills, temps_seen, t_ref))
    return runs, kills, file_kills
  end

  it("survives SIGKILL at random moments and ends byte-identical to an uninterrupted run", function()
    -- 30-70 ms per answer, four at a time: a run takes about a second, long enough to be
    -- killed in every phase (before the first answer, mid-chapters, during the summary).
    srv = start { latency_ms = 30, jitter_ms = 40, answer_words = 80, seed = 11 }
    local course = rel.course_file(tmp .. "/c.json", 40)
    math.randomseed(20261129)
    local _, kills, file_kills = crash_loop(function(out)
      return { "generate", course, "--base-url", srv.url, "--out", out, "--concurrency", "4", "--no-progress" }
    end, { n = 40, scenarios = 5, kills = 20, label = "given outline" })
    assert.truthy(kills >= 20, "only " .. kills .. " runs were killed")
    assert.truthy(file_kills >= 5, "only " .. file_kills .. " runs were killed between a chapter file and the manifest")
    rel.check_course(tmp .. "/run1", 40)
  end)

  it("resumes a generated outline the same way", function()
    srv = start { latency_ms = 30, jitter_ms = 40, answer_words = 60, seed = 12 }
    math.randomseed(11292026)
    local _, kills = crash_loop(function(out)
      return { "generate", "--topic", "Knots for sailors", "--chapters", "24", "--base-url", srv.url, "--out", out,
               "--concurrency", "3", "--no-progress" }
    end, { n = 24, planned = true, scenarios = 3, kills = 8, label = "generated outline" })
    assert.truthy(kills >= 5, "only " .. kills .. " runs were killed")
  end)

  it("resumes the same way while the server fails some requests", function()
    srv = start { latency_ms = 30, jitter_ms = 40, answer_words = 60, seed = 13,
                     faults = "503:0.05,empty:0.05,reset:0.03,429bare:0.03" }
    local course = rel.course_file(tmp .. "/c.json", 30)
    math.randomseed(29112026)
    local _, kills = crash_loop(function(out)
      return { "generate", course, "--base-url", srv.url, "--out", out, "--concurrency", "4", "--max-attempts", "10",
               "--no-progress" }
    end, { n = 30, faults = true, scenarios = 3, kills = 8, label = "faulty server" })
    assert.truthy(kills >= 5, "only " .. kills .. " runs were killed")
  end)
end)

describe("resuming after a kill", function()
  it("removes the temporary files a killed run left, and nothing else", function()
    local tmp = helpers.tmpdir()
    local srv = run.mock()
    local dir = tmp .. "/out"
    run.generate(run.course(3), run.opts(srv, { out = dir }))
    -- What a run killed between writing and renaming leaves, and look-alikes of a user's.
    local stale = { ".course.json.tmp-1764393000-7-123456", ".02-topic-2.md.tmp-1764393000-3-99" }
    local kept = { ".notes.tmp", "draft.md.tmp-1-2-3", ".x.tmp-1-2" }
    for _, name in ipairs(stale) do helpers.writefile(dir .. "/" .. name, "half a fi") end
    for _, name in ipairs(kept) do helpers.writefile(dir .. "/" .. name, "mine") end
    srv:reset_stats()
    local stats = run.generate(run.course(3), run.opts(srv, { out = dir }))
    assert.equal(3, stats.chapters.skipped)
    assert.equal(0, srv:stats().requests)
    srv:close()
    local names = rel.list(dir)
    for _, name in ipairs(stale) do assert.is_false(lfs.attributes(dir .. "/" .. name) ~= nil, name) end
    for _, name in ipairs(kept) do assert.equal("mine", helpers.readfile(dir .. "/" .. name), name) end
    assert.equal(3 + 3 + #kept, #names) -- three chapters, README.md, course.json, the lock
    helpers.rmtree(tmp)
  end)
end)
