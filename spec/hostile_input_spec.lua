-- luacheck: std +busted
-- Broken and hostile input: course files (JSON, Lua, Markdown), a saved outline edited
-- badly, templates, and every numeric option of `coursegen generate`. Each gives one clear
-- message naming the file and the field, line or option (exit 2 on the command line), and
-- never a traceback, a hang or a runaway allocation.
local coursegen = require "coursegen"
local course_mod = require "coursegen.course"
local helpers = require "helpers"
local run = require "support.course_run"
local rel = require "support.reliability"

local BAD = "spec/fixtures/bad/"

local function no_traceback(s)
  assert.is_nil(s:find("traceback", 1, true), s)
  assert.is_nil(s:find("internal error", 1, true), s)
end

describe("hostile course files", function()
  -- The message after "FILE: " (or "FILE:LINE: ").
  local cases = {
    ["deep.json"] = ": invalid JSON: Found too many nested data structures (1001) at character 1030",
    ["empty.json"] = ": invalid JSON: Expected value but found T_END at character 1",
    ["bom.json"] = ": invalid JSON: Expected value but found invalid token at character 1",
    ["nul.json"] = ": invalid JSON: Expected value but found unexpected end of string at character 15",
    ["title-object.json"] = ": title: expected a string, got table",
    ["chapters-huge.json"] = ": chapters: must be a whole number from 1 to 500, got inf",
    ["chapters-fraction.json"] = ": chapters: must be a whole number from 1 to 500, got 2.5",
    ["chapters-negative.json"] = ": chapters: must be a whole number from 1 to 500, got -3",
    ["chapters-too-many.json"] = ": chapters: 501 chapters, at most 500",
    ["prompt-unclosed.json"] = ": prompts: template chapter: section {{#source}} is never closed",
    ["prompt-stray-close.json"] = ": prompts: template chapter: {{/source}} closes no open section",
    ["prompt-not-string.json"] = ": prompts.chapter: expected a string, got table",
    ["loop.lua"] = ":3: runs too long (more than 1000000 instructions); a course file only returns a table",
    ["alloc.lua"] = ":3: runs too long (more than 1000000 instructions); a course file only returns a table",
    ["doubling.lua"] = ":3: uses too much memory (more than 64 MiB); a course file only returns a table",
    ["rep.lua"] = ":2: attempt to call a nil value (method 'rep')",
    ["library.lua"] = ":2: attempt to index a nil value (global 'os')",
    ["runtime-error.lua"] = ":1: attempt to concatenate a nil value",
    ["binary.md"] = ":1: invalid UTF-8 at byte 4; only visible text may appear here",
  }
  for file, msg in pairs(cases) do
    it("refuses " .. file .. " with the file named", function()
      local t0 = rel.now()
      local c, err, kind = coursegen.load(BAD .. file)
      assert.is_nil(c)
      assert.equal(BAD .. file .. msg, err)
      assert.equal("input", kind)
      assert.is_true(rel.now() - t0 < 10, file .. " took " .. (rel.now() - t0) .. " s")
    end)
  end

  it("bounds a Lua file without changing the caller's hook or string methods", function()
    local calls = 0
    local function hook() calls = calls + 1 end
    debug.sethook(hook, "", 1000000)
    local _, err = coursegen.load(BAD .. "loop.lua")
    local h = debug.gethook()
    debug.sethook()
    assert.equal(hook, h)
    assert.matches("runs too long", err)
    assert.equal("xx", ("x"):rep(2)) -- the full string library is back
    local before, peak0 = rel.memory()
    local _, err2 = coursegen.load(BAD .. "doubling.lua")
    assert.matches("uses too much memory", err2)
    local _, peak = rel.memory()
    collectgarbage()
    -- 64 MiB of budget, and the one doubling that crossed it; AddressSanitizer also holds
    -- freed blocks back (its quarantine, 256 MiB) before the allocator sees them again.
    local slack = os.getenv("COURSEGEN_SANITIZER") == "asan" and 256 * 1024 or 0
    assert.is_true(peak - math.max(before, peak0) < 400 * 1024 + slack, "peak grew by " .. (peak - peak0) .. " KiB")
  end)

  it("still runs an honest Lua course file, string methods included", function()
    local dir = helpers.tmpdir()
    helpers.writefile(dir .. "/c.lua", 'local t = { title = ("intro to lua"):upper() }\n'
      .. 't.chapters = {}\nfor i = 1, 400 do t.chapters[i] = ("Part %d"):format(i) end\nreturn t\n')
    local c = assert(coursegen.load(dir .. "/c.lua"))
    assert.equal("INTRO TO LUA", c.title)
    assert.equal(400, #c.chapters)
    helpers.rmtree(dir)
  end)

  it("refuses a file too large to be a course before reading it all", function()
    local dir = helpers.tmpdir()
    local f = assert(io.open(dir .. "/big.json", "wb"))
    f:write("{\"title\": \"")
    f:seek("set", course_mod.MAX_FILE_BYTES + 10) -- sparse: no disk spent
    f:write("\"}")
    f:close()
    local _, err, kind = coursegen.load(dir .. "/big.json")
    assert.equal(dir .. "/big.json: file too large (more than 16 MiB); a course file is a short description", err)
    assert.equal("input", kind)
    helpers.rmtree(dir)
  end)
end)

describe("#reliability hostile input on the command line", function()
  local dir
  before_each(function() dir = helpers.tmpdir() end)
  after_each(function() helpers.rmtree(dir) end)

  local GOOD = helpers.root .. "/spec/fixtures/good/course.json"

  -- Every numeric option of `generate`, and values none of them may take. "0" is a fine
  -- price, so the prices get their own list.
  local OPTIONS = { "--chapters", "--max-attempts", "--timeout", "--concurrency", "--rpm", "--tpm", "--rpd",
                    "--only", "--price-in", "--price-out" }
  local BAD_VALUES = { "-1", "abc", "1e999", "99999999999999999999", "nan", "", "0x10z", "1,5x" }

  it("refuses every bad value of every numeric option with exit 2, naming the option", function()
    for _, opt in ipairs(OPTIONS) do
      local values = { table.unpack(BAD_VALUES) }
      if opt ~= "--price-in" and opt ~= "--price-out" then values[#values + 1] = "0" end
      for _, v in ipairs(values) do
        local r = rel.run(dir, { "generate", GOOD, "--dry-run", opt, v })
        local what = opt .. " " .. v .. ": " .. r.err
        assert.equal(2, r.code, what)
        assert.truthy(r.err:find(opt, 1, true), what)
        no_traceback(r.err)
      end
    end
  end)

  it("refuses bad options in a course file, naming the file and the field", function()
    local cases = {
      { '{"timeout": -1}', "options.timeout must be greater than 0, got '-1'" },
      { '{"concurrency": "abc"}', "options.concurrency must be a whole number from 1 to 1,024, got 'abc'" },
      { '{"rpm": 1e999}', "options.rpm must be a whole number from 1 to 10,000,000, got 'inf'" },
      { '{"max_attempts": 0.5}', "options.max_attempts must be a whole number from 1 to 100, got '0.5'" },
      { '{"concurrency": {"a": 1}}', "options.concurrency must be a number, got an object or a list" },
      { '{"model": true}', "options.model must be a string, got boolean" },
      { '"fast"', "options must be an object" },
    }
    for i, c in ipairs(cases) do
      local path = ("%s/c%d.json"):format(dir, i)
      helpers.writefile(path, '{"title": "T", "chapters": ["a"], "options": ' .. c[1] .. "}")
      local r = rel.run(dir, { "generate", path, "--dry-run" })
      assert.equal(2, r.code, r.err)
      assert.truthy(r.err:find(path .. ": " .. c[2], 1, true), r.err)
      no_traceback(r.err)
    end
  end)

  it("stops a Lua file that runs away inside one C call, in a child process", function()
    local cases = {
      ["backtrack.lua"] = "runs too long (more than 2 s of processor time); a course file only returns a table",
      ["format-bomb.lua"] = "uses too much memory; a course file only returns a table",
    }
    for file, msg in pairs(cases) do
      for _, cmd in ipairs { { "validate" }, { "generate", "--dry-run" } } do
        local t0 = rel.now()
        local r = rel.run(dir, { cmd[1], helpers.root .. "/" .. BAD .. file, cmd[2] })
        assert.equal(2, r.code, file .. ": " .. r.err)
        assert.truthy(r.err:find(BAD .. file .. ": " .. msg, 1, true), r.err)
        assert.is_true(rel.now() - t0 < 10, file .. " took " .. (rel.now() - t0) .. " s")
        no_traceback(r.err)
      end
    end
  end)

  it("refuses hostile course files with exit 2, whatever the command", function()
    for _, file in ipairs { "loop.lua", "doubling.lua", "deep.json", "binary.md", "prompt-unclosed.json" } do
      for _, cmd in ipairs { { "validate" }, { "generate", "--dry-run" } } do
        local args = { cmd[1], helpers.root .. "/" .. BAD .. file, cmd[2] }
        local r = rel.run(dir, args)
        assert.equal(2, r.code, file .. ": " .. r.err)
        assert.truthy(r.err:find(BAD .. file, 1, true), r.err)
        no_traceback(r.err)
      end
    end
  end)

  describe("a saved outline edited badly", function()
    local srv
    before_each(function() srv = run.mock() end)
    after_each(function() srv:close() end)

    local OUTLINES = {
      { "{", "invalid JSON: Expected object key string but found T_END at character 2" },
      { "", "invalid JSON: Expected value but found T_END at character 1" },
      { ("["):rep(3000), "invalid JSON: Found too many nested data structures (9) at character 9" },
      { "[1, 2]", 'expected an object with a "chapters" list' },
      { '{"chapters": "x"}', 'expected an object with a "chapters" list' },
      { '{"chapters": []}', "chapters: the list is empty" },
      { '{"chapters": [{"title": ""}]}', "chapters[1].title: must not be empty" },
      { '{"chapters": [{"title": "a", "extra": 1}]}', 'chapters[1]: unknown key "extra"' },
      { '{"chapters": [{"title": "a"}, {"title": "A"}]}', 'chapters[2].title: duplicate of chapters[1] ("A")' },
    }

    it("names outline.json and what is wrong, and sends nothing", function()
      for i, case in ipairs(OUTLINES) do
        local out = ("%s/out%d"):format(dir, i)
        assert(require("lfs").mkdir(out))
        helpers.writefile(out .. "/course.json", '{"format": 1, "chapters": []}') -- a folder coursegen wrote
        helpers.writefile(out .. "/outline.json", case[1])
        local c = assert(coursegen.course { title = "Edited", chapters = 3 })
        local stats, err, kind = coursegen.generate(c, run.opts(srv, { out = out }))
        assert.is_nil(stats)
        assert.equal(out .. "/outline.json: " .. case[2], err)
        assert.equal("input", kind)
      end
      assert.equal(0, srv:stats().requests)
    end)

    it("exits 2 on the command line", function()
      helpers.writefile(dir .. "/c.json", '{"title": "Edited", "chapters": 3}')
      assert(require("lfs").mkdir(dir .. "/o"))
      helpers.writefile(dir .. "/o/course.json", '{"format": 1, "chapters": []}') -- a folder coursegen wrote
      helpers.writefile(dir .. "/o/outline.json", '{"chapters": [{"title": ""}]}')
      local r = rel.run(dir, { "generate", "c.json", "--out", "o", "--base-url", srv.url, "--no-progress" })
      assert.equal(2, r.code, r.err)
      assert.truthy(r.err:find("o/outline.json: chapters[1].title: must not be empty", 1, true), r.err)
      no_traceback(r.err)
      assert.equal(0, srv:stats().requests)
    end)
  end)
end)

describe("reads with a cap", function()
  local dir
  before_each(function()
    dir = helpers.tmpdir()
    helpers.writefile(dir .. "/c.json", '{"title": "Capped", "chapters": ["One"]}')
  end)
  after_each(function() helpers.rmtree(dir) end)

  -- Every command that reads the course: validate must refuse what generate refuses.
  local function refused(args_list, env, what)
    for _, args in ipairs(args_list) do
      local r = rel.run(dir, args, env)
      local label = table.concat(args, " ") .. ": " .. r.err
      assert.equal(2, r.code, label)
      assert.truthy(r.err:find(what, 1, true), label)
      no_traceback(r.err)
    end
  end

  local function course_with_source(src)
    helpers.writefile(dir .. "/s.json", ('{"title": "Capped", "chapters": ["One"], "source": %q}'):format(src))
    return { { "validate", "s.json" }, { "generate", "s.json", "--dry-run" } }
  end

  it("refuses a source that is a device, a folder, binary or gigabytes, in validate too", function()
    refused(course_with_source("/dev/zero"), nil, "source: /dev/zero is outside the course file's folder")
    assert(os.execute("mkfifo " .. rel.q(dir .. "/pipe.md")))
    refused(course_with_source("pipe.md"), nil, "pipe.md is not a regular file")
    refused({ { "generate", "c.json", "--source", "/dev/zero", "--dry-run" } }, nil,
      "--source: /dev/zero is not a regular file")
    assert(require("lfs").mkdir(dir .. "/notes.md"))
    refused(course_with_source("notes.md"), nil, "notes.md is a folder")
    helpers.writefile(dir .. "/bin.txt", "text\0more")
    refused(course_with_source("bin.txt"), nil, "bin.txt is not text (a zero byte at offset 4)")
    assert(os.execute("truncate -s 2G " .. rel.q(dir .. "/big.md")))
    refused(course_with_source("big.md"), nil, "big.md is 2.0 GiB, more than 64 MiB")
    os.remove(dir .. "/big.md")
  end)

  it("reads only the budget's worth of a long source", function()
    local para = ("word "):rep(199) .. "word\n\n"
    helpers.writefile(dir .. "/long.md", para:rep(5000)) -- 5 MB, 1.25 M tokens
    local source = require "coursegen.source"
    local doc = source.read(dir .. "/long.md", 1000)
    assert.is_true(doc.truncated)
    assert.equal(#para * 5000 // 4, doc.original_tokens)
    assert.is_true(#doc.text <= 4000)
  end)

  it("refuses an --api-key-file that is /dev/zero or a folder", function()
    local args = { "generate", "c.json", "--out", "o", "--base-url", "https://example.invalid", "--api-key-file" }
    local function with(file)
      local a = { table.unpack(args) }
      a[#a + 1] = file
      return { a }
    end
    refused(with("/dev/zero"), nil, "the API key from /dev/zero is not a key")
    refused(with(dir), nil, "--api-key-file: cannot read " .. dir)
  end)

  it("refuses a manifest nested 900 deep, naming it, on every rerun", function()
    assert(require("lfs").mkdir(dir .. "/o"))
    local deep = ('{"x":'):rep(900) .. "1" .. ("}"):rep(900)
    helpers.writefile(dir .. "/o/course.json", '{"format": 1, "title": "Capped", "chapters": [{"index": 1, '
      .. '"title": "One", "file": "01-one.md", "status": "failed", "stages": ' .. deep .. "}], \"stats\": "
      .. deep .. "}")
    for _ = 1, 2 do
      refused({ { "generate", "c.json", "--out", "o", "--base-url", "http://127.0.0.1:9", "--max-attempts", "1" },
                { "generate", "c.json", "--out", "o", "--dry-run" } },
        { GEMINI_API_KEY = "k" }, "o/course.json: nested more than 16 levels deep")
    end
  end)
end)

describe("titles", function()
  local outline = require "coursegen.outline"
  local slug = require "coursegen.slug"
  local json = require "coursegen.json"

  local function load_json(t)
    local dir = helpers.tmpdir()
    local path = dir .. "/c.json"
    helpers.writefile(path, json.encode(t))
    local c, err, kind = coursegen.load(path)
    helpers.rmtree(dir)
    return c, err and err:gsub("^.-/c%.json", "c.json"), kind
  end

  it("refuses control characters in a course file, naming the field", function()
    local cases = {
      { { title = "Lua\n# Injected", chapters = { "a" } }, "c.json: title: U+000A (a line break) at byte 4" },
      { { title = "T", chapters = { "a", "b\0c" } }, "c.json: chapters[2].title: U+0000 (NUL) at byte 2" },
      { { title = "T", chapters = { "\27[2Jclear" } }, "c.json: chapters[1].title: U+001B (ESC, a terminal escape)" },
      { { title = "T", chapters = { "\u{FEFF}Intro" } }, "c.json: chapters[1].title: U+FEFF (a byte-order mark)" },
      { { title = "T", chapters = { { title = "a", brief = "x\27]0;owned\7" } } },
        "c.json: chapters[1].brief: U+001B" },
      { { title = "T", language = "fr\u{202E}", chapters = { "a" } }, "c.json: language: U+202E" },
      { { title = "T", description = "bell\7", chapters = { "a" } }, "c.json: description: U+0007" },
    }
    for _, case in ipairs(cases) do
      local c, err, kind = load_json(case[1])
      assert.is_nil(c)
      assert.equal("input", kind)
      assert.equal(case[2], err:sub(1, #case[2]))
    end
    -- line breaks are text in a description and a brief
    assert.truthy(load_json { title = "T", description = "one\ntwo", chapters = { { title = "a", brief = "x\ny" } } })
  end)

  it("names the line of a Markdown outline with a control character", function()
    local dir = helpers.tmpdir()
    helpers.writefile(dir .. "/o.md", "# Course\n\n- One\n- Two \27[31mred\n")
    local c, err = coursegen.load(dir .. "/o.md")
    helpers.rmtree(dir)
    assert.is_nil(c)
    assert.equal(dir .. "/o.md:4: U+001B (ESC, a terminal escape) at byte 7; only visible text may appear here", err)
  end)

  it("counts titles equal after normalisation and case folding as duplicates", function()
    for _, pair in ipairs { { "Café", "CAFÉ" }, { "Café", "Cafe\u{301}" }, { "ﬁle systems", "File Systems" },
                            { "Straße", "STRASSE" } } do
      local c, err = load_json { title = "T", chapters = { pair[1], pair[2] } }
      assert.is_nil(c, pair[2])
      assert.matches("chapters[2].title: duplicate of chapters[1]", err, 1, true)
    end
    assert.truthy(load_json { title = "T", chapters = { "Café", "Cafe" } }) -- different letters stay apart
  end)

  it("cleans a server's titles into one line of visible text", function()
    local answer = json.encode { chapters = {
      { title = "\u{FEFF}Intro\n# Injected \27[31mred\u{202E}", brief = "line\none" },
      { title = "Next", brief = "" } } }
    local chapters = assert(outline.parse(answer, 2))
    assert.equal("Intro # Injected [31mred", chapters[1].title)
    assert.equal("line one", chapters[1].brief)
    assert.equal("intro-injected-31mred", slug.slug(chapters[1].title))
    assert.equal("intro", slug.slug("\u{FEFF}Intro"))
  end)

  it("prints nothing raw on --dry-run: the title is refused first", function()
    local dir = helpers.tmpdir()
    helpers.writefile(dir .. "/c.json", json.encode { title = "T\27[2J", chapters = { "a" } })
    local r = rel.run(dir, { "generate", "c.json", "--dry-run" })
    helpers.rmtree(dir)
    assert.equal(2, r.code, r.err)
    assert.is_nil((r.out .. r.err):find("\27", 1, true))
    assert.truthy(r.err:find("c.json: title: U+001B", 1, true), r.err)
  end)
end)
