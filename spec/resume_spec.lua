-- luacheck: std +busted
-- Resuming: a chapter file written just before a kill (or a full disk) is recognised and
-- never paid for again; a rerun with another model, a disagreeing chapter count or a
-- renamed chapter behaves; --only refreshes the summary; failed chapters hold it back.
local helpers = require "helpers"
local json = require "coursegen.json"
local lfs = require "lfs"
local run = require "support.course_run"
local rel = require "support.reliability"
local sha256 = require "coursegen.sha256"

-- Chapters whose file on disk is whole: the text the manifest says coursegen wrote (done,
-- or recorded as about to be written).
local function whole_chapters(dir)
  local m = run.manifest(dir)
  local n = 0
  for _, e in ipairs(m.chapters) do
    local text = helpers.readfile(dir .. "/" .. e.file)
    if text and sha256.hex(text) == e.sha256 and (e.status == "done" or e.status == "writing") then n = n + 1 end
  end
  return n, m
end

describe("resuming", function()
  local srv, tmp

  before_each(function()
    tmp = helpers.tmpdir()
    srv = run.mock { answer_words = 200 }
  end)
  after_each(function()
    srv:close()
    helpers.rmtree(tmp)
  end)

  local function gen(args, env) return rel.generate(tmp, srv.url, args, env) end

  it("recognises a chapter file written just before a kill, and asks for it no more", function()
    local c = rel.course_file(tmp .. "/c.json", 6)
    -- SIGKILL right after the third chapter file, before the manifest records it
    local r = gen({ c, "--out", "out", "--concurrency", "1" }, { COURSEGEN_TEST_KILL = "chapter-file:3" })
    assert.equal(137, r.code, r.err)
    local out = tmp .. "/out"
    local m = run.manifest(out)
    assert.equal("writing", m.chapters[3].status)
    assert.equal(sha256.hex(helpers.readfile(out .. "/" .. m.chapters[3].file)), m.chapters[3].sha256)
    srv:reset_stats()
    r = gen({ c, "--out", "out" })
    assert.equal(0, r.code, r.err)
    assert.equal(3 + 1, srv:stats().requests) -- chapters 4 to 6 and the summary, nothing twice
    local done = rel.check_course(out, 6)
    assert.is_nil(done.chapters[3].replaces)
  end)

  it("stops with a clear error on a full disk, and sends no written chapter again once space is freed", function()
    local uid = io.popen("id -u"):read("l")
    if uid ~= "0" then
      pending("needs root to mount a small tmpfs")
      return
    end
    local mnt = tmp .. "/small"
    lfs.mkdir(mnt)
    if not os.execute("mount -t tmpfs -o size=24k tmpfs " .. rel.q(mnt) .. " 2>/dev/null") then
      pending("cannot mount a tmpfs here")
      return
    end
    local ok, err = pcall(function()
      local c = rel.course_file(tmp .. "/c.json", 10)
      local r = gen({ c, "--out", mnt .. "/out", "--concurrency", "2" })
      assert.equal(1, r.code, r.err)
      assert.truthy(r.err:find("No space left on device", 1, true), r.err)
      assert.is_nil(r.err:find("internal error", 1, true), r.err)
      local whole = whole_chapters(mnt .. "/out")
      assert.truthy(whole >= 1 and whole < 10, whole .. " chapters fit")
      local inodes = {}
      for _, e in ipairs(run.manifest(mnt .. "/out").chapters) do
        inodes[e.file] = lfs.attributes(mnt .. "/out/" .. e.file, "ino")
      end
      assert(os.execute("mount -o remount,size=4m " .. rel.q(mnt)))
      srv:reset_stats()
      r = gen({ c, "--out", mnt .. "/out" })
      assert.equal(0, r.code, r.err)
      assert.equal(10 - whole + 1, srv:stats().requests)
      local m = rel.check_course(mnt .. "/out", 10)
      local kept = 0
      for _, e in ipairs(m.chapters) do
        if inodes[e.file] and inodes[e.file] == lfs.attributes(mnt .. "/out/" .. e.file, "ino") then kept = kept + 1 end
      end
      assert.equal(whole, kept) -- each whole chapter left exactly as it was
    end)
    os.execute("umount " .. rel.q(mnt))
    assert(ok, err)
  end)

  describe("after changes", function()
    local dir
    before_each(function() dir = tmp .. "/out" end)

    it("refuses to mix another provider, model or server into a course, until --force", function()
      run.generate(run.course(2), run.opts(srv, { out = dir }))
      srv:reset_stats()
      local stats, err, kind = require("coursegen").generate(run.course(2),
        run.opts(srv, { out = dir, model = "another-model" }))
      assert.is_nil(stats)
      assert.equal("input", kind)
      assert.truthy(err:find("2 chapters were written by gemini gemini", 1, true), err)
      assert.truthy(err:find("at " .. srv.url .. ", and this run uses gemini another-model at " .. srv.url
        .. " (another model)", 1, true), err)
      assert.truthy(err:find("add --force", 1, true), err)
      assert.equal(0, srv:stats().requests)
      stats = run.generate(run.course(2), run.opts(srv, { out = dir, model = "another-model", force = true }))
      assert.equal(2, stats.chapters.written)
      local m = run.manifest(dir)
      assert.equal("another-model", m.model)
      assert.equal(srv.url, m.server)
    end)

    it("refuses --chapters that disagrees with a saved outline", function()
      local coursegen = require "coursegen"
      run.generate(assert(coursegen.course { title = "Saved", chapters = 3 }), run.opts(srv, { out = dir }))
      srv:reset_stats()
      local stats, err, kind = coursegen.generate(assert(coursegen.course { title = "Saved", chapters = 5 }),
        run.opts(srv, { out = dir }))
      assert.is_nil(stats)
      assert.equal("input", kind)
      assert.truthy(err:find(dir .. "/outline.json holds 3 chapters, but the course asks for 5", 1, true), err)
      assert.equal(0, srv:stats().requests)
    end)

    it("removes the old file of a renamed chapter, and keeps an old file edited by hand", function()
      local coursegen = require "coursegen"
      local function course(titles)
        local chapters = {}
        for i, t in ipairs(titles) do chapters[i] = { title = t } end
        return assert(coursegen.course { title = "Renames", chapters = chapters })
      end
      run.generate(course { "Alpha", "Beta", "Gamma" }, run.opts(srv, { out = dir }))
      helpers.writefile(dir .. "/03-gamma.md", "# Gamma\n\nmy own words\n")
      local _, events = run.generate(course { "Alpha", "Beta two", "Delta" }, run.opts(srv, { out = dir }))
      assert.is_nil(lfs.attributes(dir .. "/02-beta.md"))
      assert.truthy(lfs.attributes(dir .. "/02-beta-two.md"))
      assert.equal("# Gamma\n\nmy own words\n", helpers.readfile(dir .. "/03-gamma.md"))
      local warned
      for _, ev in ipairs(run.of_type(events, "warning")) do
        if ev.message:find("03-gamma.md is no longer in the outline but was edited by hand", 1, true) then
          warned = true
        end
      end
      assert.truthy(warned, "no warning about the edited file")
      local files = {}
      for _, e in ipairs(run.manifest(dir).chapters) do files[#files + 1] = e.file end
      assert.same({ "01-alpha.md", "02-beta-two.md", "03-delta.md" }, files)
    end)

    it("refreshes the course summary when --only changed a chapter", function()
      run.generate(run.course(3), run.opts(srv, { out = dir }))
      local before = run.manifest(dir).summary
      srv:reset_stats()
      local stats, events = run.generate(run.course(3, { nil, "a new brief" }),
        run.opts(srv, { out = dir, only = { 2 } }))
      assert.equal(1, stats.chapters.written)
      assert.equal(2, srv:stats().requests) -- chapter 2 and the summary
      assert.equal("done", run.of_type(events, "summary")[1].status)
      local after = run.manifest(dir).summary
      assert.not_equal(before.prompt_sha256, after.prompt_sha256)
      assert.truthy(helpers.readfile(dir .. "/README.md"):find(after.text, 1, true))
    end)

    it("says the course summary waits for the chapters that failed", function()
      local c = tmp .. "/c.json"
      helpers.writefile(c, json.encode { title = "Mock course", chapters = {
        { title = "Topic 1" }, { title = "Topic 2", brief = "[[mock:safety*]]" }, { title = "Topic 3" } } })
      local r = gen({ c, "--out", "out", "--max-attempts", "1" })
      assert.equal(1, r.code, r.err)
      assert.truthy(r.err:find("the course summary waits for chapter 2 (not written yet): run the same command "
        .. "again to write it, then the summary", 1, true), r.err)
    end)
  end)
end)
