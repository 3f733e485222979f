-- luacheck: std +busted
-- What coursegen writes and reads back: only files it owns, hand edits kept, one run per
-- folder, durable writes, no symbolic link followed or replaced, `-` for standard output.
-- The command runs as a real subprocess against the in-process mock; the folder is real.
local helpers = require "helpers"
local json = require "coursegen.json"
local lfs = require "lfs"
local run = require "support.course_run"
local rel = require "support.reliability"
local sha256 = require "coursegen.sha256"

local function course_file(path, chapters, extra)
  local t = { title = "Mock course", chapters = chapters }
  for k, v in pairs(extra or {}) do t[k] = v end
  helpers.writefile(path, json.encode(t))
  return path
end

local function topics(n)
  local t = {}
  for i = 1, n do t[i] = "Topic " .. i end
  return t
end

describe("what coursegen writes", function()
  local srv, tmp

  before_each(function()
    tmp = helpers.tmpdir()
    srv = run.mock()
  end)
  after_each(function()
    srv:close()
    helpers.rmtree(tmp)
  end)

  local function gen(dir, args) return rel.generate(dir, srv.url, args) end

  describe("only into a folder it owns", function()
    it("refuses a folder holding the user's files before any request, naming the file and a sub-folder", function()
      local proj = tmp .. "/proj"
      lfs.mkdir(proj)
      helpers.writefile(proj .. "/README.md", "my project\n")
      course_file(proj .. "/course.json", topics(2))
      local before = helpers.readfile(proj .. "/course.json")
      local r = gen(proj, { "course.json", "--out", "." })
      assert.equal(2, r.code, r.err)
      assert.truthy(r.err:find("./course.json would be replaced", 1, true), r.err)
      assert.truthy(r.err:find("sub-folder (for example ./mock-course)", 1, true), r.err)
      assert.equal(0, srv:stats().requests)
      assert.equal("my project\n", helpers.readfile(proj .. "/README.md"))
      assert.equal(before, helpers.readfile(proj .. "/course.json"))
      assert.same({ "README.md", "course.json" }, rel.list(proj))
      -- a dry run refuses it too
      r = gen(proj, { "course.json", "--out", ".", "--dry-run" })
      assert.equal(2, r.code, r.err)
      assert.truthy(r.err:find("./course.json would be replaced", 1, true), r.err)
    end)

    it("refuses options.out pointing at the parent folder", function()
      local proj = tmp .. "/proj"
      lfs.mkdir(proj)
      lfs.mkdir(proj .. "/sub")
      helpers.writefile(proj .. "/README.md", "parent readme\n")
      course_file(proj .. "/sub/c.json", topics(1), { options = { out = ".." } })
      local r = gen(proj .. "/sub", { "c.json" })
      assert.equal(2, r.code, r.err)
      assert.truthy(r.err:find("../README.md would be replaced", 1, true), r.err)
      assert.equal("parent readme\n", helpers.readfile(proj .. "/README.md"))
      assert.equal(0, srv:stats().requests)
    end)

    it("refuses a folder of other files even when none would be replaced", function()
      local out = tmp .. "/out"
      lfs.mkdir(out)
      helpers.writefile(out .. "/notes.txt", "mine")
      local r = gen(tmp, { course_file(tmp .. "/c.json", topics(1)), "--out", out })
      assert.equal(2, r.code, r.err)
      assert.truthy(r.err:find("holds files coursegen did not write (notes.txt)", 1, true), r.err)
      assert.same({ "notes.txt" }, rel.list(out))
    end)

    it("never replaces a chapter file its manifest does not list", function()
      local out = tmp .. "/out"
      assert.equal(0, gen(tmp, { course_file(tmp .. "/c.json", topics(2)), "--out", out }).code)
      helpers.writefile(out .. "/03-topic-3.md", "my own chapter three\n")
      srv:reset_stats()
      local r = gen(tmp, { course_file(tmp .. "/c.json", topics(3)), "--out", out })
      assert.equal(2, r.code, r.err)
      assert.truthy(r.err:find(out .. "/03-topic-3.md exists and coursegen did not write it", 1, true), r.err)
      assert.equal(0, srv:stats().requests)
      assert.equal("my own chapter three\n", helpers.readfile(out .. "/03-topic-3.md"))
    end)

    it("never writes over its course file or its source document", function()
      local out = tmp .. "/out"
      assert.equal(0, gen(tmp, { course_file(tmp .. "/c.json", topics(1)), "--out", out }).code)
      -- the course file saved under a name the run writes (the saved outline's)
      course_file(out .. "/outline.json", topics(1))
      local before = helpers.readfile(out .. "/outline.json")
      srv:reset_stats()
      local r = gen(tmp, { out .. "/outline.json", "--out", out })
      assert.equal(2, r.code, r.err)
      assert.truthy(r.err:find("the course file " .. out .. "/outline.json is also an output of this run", 1, true),
        r.err)
      assert.equal(before, helpers.readfile(out .. "/outline.json"))
      -- the source document is the folder's README (another spelling of the same path)
      r = gen(tmp, { course_file(tmp .. "/s.json", topics(1), { source = "out/./README.md" }), "--out", out })
      assert.equal(2, r.code, r.err)
      assert.truthy(r.err:find("the source document " .. out .. "/./README.md is also an output of this run", 1, true),
        r.err)
      assert.equal(0, srv:stats().requests)
    end)
  end)

  describe("hand edits", function()
    it("keeps an edited chapter, says how to regenerate it, and backs it up on --force", function()
      local out = tmp .. "/out"
      local c = course_file(tmp .. "/c.json", topics(3), { description = "A course." })
      assert.equal(0, gen(tmp, { c, "--out", out }).code)
      local first = helpers.readfile(out .. "/01-topic-1.md")
      local edited = first .. "\nMy own note, typed by hand.\n"
      helpers.writefile(out .. "/01-topic-1.md", edited)
      -- a typo fixed in the description changes every prompt
      course_file(c, topics(3), { description = "A course!" })
      srv:reset_stats()
      local r = gen(tmp, { c, "--out", out })
      assert.equal(0, r.code, r.err)
      assert.truthy(r.err:find("kept chapter 1: edited by hand since coursegen wrote it; to regenerate: "
        .. "--only 1 (or --force)", 1, true), r.err)
      assert.equal(edited, helpers.readfile(out .. "/01-topic-1.md"))
      -- chapters 2 and 3; the summary's prompt (the chapters' own summaries, which the mock
      -- writes the same again) did not change, so it is not asked again
      assert.equal(2, srv:stats().requests, r.err)
      assert.is_nil(lfs.attributes(out .. "/01-topic-1.md.orig"))
      -- and the next run still knows it was edited
      srv:reset_stats()
      r = gen(tmp, { c, "--out", out })
      assert.equal(0, r.code, r.err)
      assert.truthy(r.err:find("kept chapter 1", 1, true), r.err)
      assert.equal(0, srv:stats().requests)

      r = gen(tmp, { c, "--out", out, "--force" })
      assert.equal(0, r.code, r.err)
      assert.equal(edited, helpers.readfile(out .. "/01-topic-1.md.orig"))
      local again = helpers.readfile(out .. "/01-topic-1.md")
      assert.not_equal(edited, again)
      assert.equal(run.manifest(out).chapters[1].sha256, sha256.hex(again))

      -- --only regenerates it too; --no-backup keeps no copy
      helpers.writefile(out .. "/01-topic-1.md", "second edit\n")
      r = gen(tmp, { c, "--out", out, "--only", "1", "--no-backup" })
      assert.equal(0, r.code, r.err)
      assert.equal(edited, helpers.readfile(out .. "/01-topic-1.md.orig")) -- the older backup, untouched
      assert.not_equal("second edit\n", helpers.readfile(out .. "/01-topic-1.md"))
    end)
  end)

  describe("one run per folder", function()
    it("stops a second run at once, naming the pid of the run that writes the folder", function()
      srv:close()
      srv = run.mock { latency_ms = 250, jitter_ms = 0 }
      local out = tmp .. "/out"
      local c = course_file(tmp .. "/c.json", topics(4))
      -- the first run in the background, four answers one after another (about a second)
      local cmd = rel.command({ "generate", c, "--base-url", srv.url, "--out", out, "--concurrency", "1",
                                "--no-progress" })
      os.execute("( cd " .. rel.q(tmp) .. " && " .. cmd .. " >/dev/null 2>" .. rel.q(tmp .. "/a.err")
        .. " </dev/null; echo $? >" .. rel.q(tmp .. "/a.rc") .. " ) &")
      local pid
      for _ = 1, 200 do
        pid = (helpers.readfile(out .. "/.coursegen.lock") or ""):match("^(%d+)\n$")
        if pid and srv:stats().requests > 0 then break end
        helpers.sleep(0.02)
      end
      assert.truthy(pid, "the first run never took the lock")
      local t0 = rel.now()
      local r = gen(tmp, { c, "--out", out })
      assert.equal(2, r.code, r.err)
      assert.truthy(r.err:find("another coursegen run (pid " .. pid .. ") is writing into " .. out, 1, true), r.err)
      assert.truthy(rel.now() - t0 < 5, "the second run waited")
      for _ = 1, 500 do
        if helpers.readfile(tmp .. "/a.rc") then break end
        helpers.sleep(0.02)
      end
      assert.equal("0\n", helpers.readfile(tmp .. "/a.rc"), helpers.readfile(tmp .. "/a.err"))
      assert.equal(5, srv:stats().requests) -- four chapters and the summary, each once
      rel.check_course(out, 4)
    end)
  end)

  describe("durable writes", function()
    local function traced(out, c)
      local log = tmp .. "/trace"
      local cmd = rel.command({ "generate", c, "--base-url", srv.url, "--out", out, "--no-progress" })
      -- strace goes after env and timeout, so it traces the command itself
      cmd = cmd:gsub(" timeout ", " strace -f -qq -o " .. rel.q(log)
        .. " -e trace=openat,fsync,rename,renameat,renameat2,close timeout ", 1)
      local ok = os.execute("cd " .. rel.q(tmp) .. " && " .. cmd .. " >/dev/null 2>&1 </dev/null")
      return ok, helpers.readfile(log)
    end

    it("flushes each file before its rename and the folder after it (chapters and manifest)", function()
      if not os.execute("command -v strace >/dev/null 2>&1") then
        pending("strace is not installed")
        return
      end
      local out = tmp .. "/out"
      local ok, log = traced(out, course_file(tmp .. "/c.json", topics(2)))
      if not log or log:find("Operation not permitted", 1, true) then
        pending("strace cannot trace here (no ptrace permission)")
        return
      end
      assert.truthy(ok, "the traced run failed")
      -- per process: the descriptor each temporary file was opened on, and what happened
      local lines = {}
      for line in log:gmatch("[^\n]+") do lines[#lines + 1] = line end
      local function check(name)
        local final = out .. "/" .. name
        local renamed
        for i, line in ipairs(lines) do
          local pid, tmpname = line:match('^(%d+)%s+rename%("([^"]+)", "' .. final:gsub("%p", "%%%0") .. '"%)')
          if pid and tmpname then
            -- the temporary file's descriptor, fsynced before the rename, in that process
            local fd, synced
            for j = i - 1, 1, -1 do
              local l = lines[j]
              if l:match("^" .. pid .. "%s") then
                fd = fd or l:match('openat%([^,]+, "' .. tmpname:gsub("%p", "%%%0") .. '", [^)]*%)%s*=%s*(%d+)')
                if not fd then synced = synced or l:match("fsync%((%d+)%)%s*=%s*0") end
                if fd then break end
              end
            end
            assert.truthy(fd, "no open of " .. tmpname)
            assert.equal(fd, synced, name .. ": the temporary file was not fsynced before its rename")
            -- then the folder: opened as a directory and fsynced
            local dirfd, dsynced
            for j = i + 1, #lines do
              local l = lines[j]
              if l:match("^" .. pid .. "%s") then
                local dir_open =
                  'openat%([^,]+, "' .. out:gsub("%p", "%%%0") .. '", [^)]*O_DIRECTORY[^)]*%)%s*=%s*(%d+)'
                dirfd = dirfd or l:match(dir_open)
                if dirfd then
                  dsynced = l:match("fsync%(" .. dirfd .. "%)%s*=%s*0")
                  if dsynced then break end
                end
              end
            end
            assert.truthy(dsynced, name .. ": the folder was not fsynced after the rename")
            renamed = true
          end
        end
        assert.truthy(renamed, name .. " was never renamed into place")
      end
      check("01-topic-1.md")
      check("02-topic-2.md")
      check("course.json")
    end)
  end)

  describe("symbolic links", function()
    it("never reads an output back through a planted link: not into a prompt, not into an export", function()
      local out = tmp .. "/out"
      local c = course_file(tmp .. "/c.json", topics(2))
      assert.equal(0, gen(tmp, { c, "--out", out }).code)
      helpers.writefile(tmp .. "/secret.txt", "TOPSECRET-4242 the user's private key\n")
      os.remove(out .. "/01-topic-1.md")
      assert(lfs.link(tmp .. "/secret.txt", out .. "/01-topic-1.md", true))
      -- the old summary no longer matches the chapters, so a rerun that read the link would
      -- send its text in the summary prompt
      srv:reset_stats()
      local r = gen(tmp, { c, "--out", out })
      assert.equal(2, r.code, r.err)
      assert.truthy(r.err:find(out .. "/01-topic-1.md is a symbolic link", 1, true), r.err)
      assert.equal(0, srv:stats().requests)
      os.remove(out .. "/01-topic-1.md") -- (the spec's own reader would follow it)
      assert.is_nil(run.all_text(out):find("TOPSECRET", 1, true))
      assert(lfs.link(tmp .. "/secret.txt", out .. "/01-topic-1.md", true))
      assert.equal("link", lfs.symlinkattributes(out .. "/01-topic-1.md", "mode"))
      -- the exporter refuses the folder rather than publish the file
      local folder, err = require("coursegen.export.course_folder").read(out)
      assert.is_nil(folder)
      assert.truthy(tostring(err):find("01-topic-1.md is a symbolic link", 1, true), tostring(err))
    end)

    it("never blocks on, nor replaces, a FIFO planted as a chapter file", function()
      local out = tmp .. "/out"
      local c = course_file(tmp .. "/c.json", topics(1))
      assert.equal(0, gen(tmp, { c, "--out", out }).code)
      os.remove(out .. "/01-topic-1.md")
      assert(os.execute("mkfifo " .. rel.q(out .. "/01-topic-1.md")))
      local r = gen(tmp, { c, "--out", out, "--force" })
      assert.equal(2, r.code, r.err)
      assert.truthy(r.err:find(out .. "/01-topic-1.md is not a regular file", 1, true), r.err)
      assert.equal("named pipe", lfs.symlinkattributes(out .. "/01-topic-1.md", "mode"))
    end)

    it("never renames over a link or a device: --stats-json through a link is refused", function()
      local out = tmp .. "/out"
      helpers.writefile(tmp .. "/target", "keep me\n")
      assert(lfs.link(tmp .. "/target", tmp .. "/stats.json", true))
      local r = gen(tmp, { course_file(tmp .. "/c.json", topics(1)), "--out", out, "--stats-json", "stats.json" })
      assert.truthy(r.err:find("cannot write stats.json: it is a symbolic link, not a regular file", 1, true), r.err)
      assert.equal("link", lfs.symlinkattributes(tmp .. "/stats.json", "mode"))
      assert.equal("keep me\n", helpers.readfile(tmp .. "/target"))
    end)

    it("takes - as standard output for --stats-json and outline -o", function()
      local out = tmp .. "/out"
      local c = course_file(tmp .. "/c.json", topics(2))
      local r = gen(tmp, { c, "--out", out, "--stats-json", "-" })
      assert.equal(0, r.code, r.err)
      local stats = json.decode(r.out)
      assert.equal(2, stats.chapters.written)
      assert.is_nil(lfs.symlinkattributes(tmp .. "/-"))
      r = rel.run(tmp, { "outline", c, "-o", "-" })
      assert.equal(0, r.code, r.err)
      assert.truthy(r.out:find("Topic 2", 1, true), r.out)
      assert.is_nil(lfs.symlinkattributes(tmp .. "/-"))
    end)
  end)
end)
