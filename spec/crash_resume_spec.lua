-- luacheck: std +busted
-- The real command killed with SIGKILL at random moments and run again until it finishes:
-- nothing half-written, no temporary file left, no finished chapter asked for again, and
-- the final folder byte-identical to one uninterrupted run (the mock's answers depend only
-- on the prompt and the seed).
local helpers = require "helpers"
local lfs = require "lfs"
local run = require "support.course_run"
local rel = require "support.reliability"

local N = 40

-- Sorted list of the names a finished run leaves: chapter files, README, manifest.
local function expected_names(m)
  local names = { "README.md", "course.json" }
  for _, e in ipairs(m.chapters) do names[#names + 1] = e.file end
  table.sort(names)
  return names
end

-- The manifest without what differs from run to run (the statistics).
local function stable_manifest(dir)
  local m = rel.manifest(dir)
  m.stats = nil
  return m
end

describe("#reliability crash and resume", function()
  local srv, tmp
  before_each(function()
    tmp = helpers.tmpdir()
    -- 30-70 ms per answer, four at a time: a run takes about a second, long enough to be
    -- killed in every phase (before the first answer, mid-chapters, during the summary).
    srv = run.mock { latency_ms = 30, jitter_ms = 40, answer_words = 80, seed = 11 }
  end)
  after_each(function()
    srv:close()
    helpers.rmtree(tmp)
  end)

  it("survives SIGKILL at random moments and ends byte-identical to an uninterrupted run", function()
    local course = rel.course_file(tmp .. "/c.json", N)
    local function args(out)
      return { "generate", course, "--base-url", srv.url, "--out", out, "--concurrency", "4", "--no-progress" }
    end

    local t_ref = rel.now()
    local r0 = rel.run(tmp, args("ref"))
    t_ref = rel.now() - t_ref
    assert.equal(0, r0.code, r0.err)
    local ref_dir = tmp .. "/ref"
    local ref_m = rel.check_course(ref_dir, N)
    local names = expected_names(ref_m)
    assert.same(names, rel.list(ref_dir))
    local ref_files = {}
    for _, name in ipairs(names) do ref_files[name] = helpers.readfile(ref_dir .. "/" .. name) end

    math.randomseed(20261129)
    local kills, runs, temps_seen = 0, 0, 0
    local deadline = rel.now() + 120
    for scenario = 1, 6 do
      local out = "run" .. scenario
      local dir = tmp .. "/" .. out
      local inodes = {} -- file -> inode, for every chapter the manifest called done
      local finished = false
      for attempt = 1, 30 do
        assert.truthy(rel.now() < deadline, "crash loop over its time bound")
        -- What the folder holds before this run: chapters done and whether the summary is.
        local before = lfs.attributes(dir .. "/course.json") and rel.manifest(dir) or nil
        local todo = N + 1
        if before then
          todo = 0
          for _, e in ipairs(before.chapters) do if e.status ~= "done" then todo = todo + 1 end end
          if not (before.summary and before.summary.status == "done") then todo = todo + 1 end
        end
        srv:reset_stats()
        -- Kill anywhere from before the first request to after the end; the last tries
        -- give it time to finish so the loop ends.
        local moment = attempt <= 8 and (0.05 + math.random() * t_ref * 0.8) or 30
        local r = rel.run_killed(tmp, args(out), nil, moment)
        runs = runs + 1
        local sent = srv:stats().requests
        if r.killed then
          kills = kills + 1
          assert.truthy(sent <= todo, ("run sent %d requests with %d left to do"):format(sent, todo))
        else
          assert.equal(0, r.code, r.err)
          -- An uninterrupted rerun asks for exactly what was not done, once each.
          assert.equal(todo, sent, "requests of the finishing run")
          finished = true
        end
        -- Whatever is in the folder now is whole: known names (plus, after a kill, the
        -- temporary file of a write it interrupted), every chapter file identical to the
        -- reference, a manifest that parses.
        for _, name in ipairs(rel.list(dir)) do
          if ref_files[name] then
            if name:match("^%d+%-") then
              assert.equal(ref_files[name], helpers.readfile(dir .. "/" .. name), name .. " is not whole")
            end
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
            if e.status == "done" then
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
        if name ~= "course.json" then
          assert.equal(ref_files[name], helpers.readfile(dir .. "/" .. name), name .. " differs from the reference")
        end
      end
      local m = stable_manifest(dir)
      assert.same(stable_manifest(ref_dir), m)
    end
    io.stderr:write(("\ncrash and resume: %d runs, %d killed with SIGKILL and resumed, %d temporary files "
      .. "seen after kills; reference run %.2f s\n"):format(runs, kills, temps_seen, t_ref))
    assert.truthy(kills >= 10, "only " .. kills .. " runs were killed")
  end)
end)
