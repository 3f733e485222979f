-- Course files: the three formats, and every validation error, word for word.
-- luacheck: std +busted
local coursegen = require "coursegen"

local BAD = "spec/fixtures/bad/"

describe("coursegen.load", function()
  it("loads a JSON course with every field", function()
    local c = assert(coursegen.load("spec/fixtures/good/course.json"))
    assert.equal("Introduction to Lua", c.title)
    assert.equal("A practical first course.", c.description)
    assert.equal("programmers new to Lua", c.audience)
    assert.equal("English", c.language)
    assert.equal("spec/fixtures/good/notes.md", c.source) -- relative to the course file
    assert.same({ { title = "Values and types" }, { title = "Tables", brief = "constructors, length, metatables" } },
      c.chapters)
    assert.equal("Use short runnable examples.", c.instructions)
    assert.equal("Summarise Introduction to Lua:\nx", c.templates.summary:render {
      course = { title = "Introduction to Lua" }, summaries = "x" })
  end)

  it("loads a Lua course file (in an empty environment)", function()
    local c = assert(coursegen.load("spec/fixtures/good/course.lua"))
    assert.equal(2, #c.chapters)
    assert.equal("constructors, length, metatables", c.chapters[2].brief)
  end)

  it("loads a Markdown outline with briefs and a description", function()
    local c = assert(coursegen.load("spec/fixtures/good/course.md"))
    assert.equal("Introduction to Lua", c.title)
    assert.equal("A practical first course.", c.description)
    assert.same({
      { title = "Values and types", brief = "nil, booleans, numbers, strings; and how to tell them apart" },
      { title = "Tables" },
      { title = "Functions", brief = "closures and varargs" },
    }, c.chapters)
  end)

  local cases = {
    ["unknown-key.json"] = 'unknown key "titel"',
    ["title-number.json"] = "title: expected a string, got number",
    ["title-empty.json"] = "title: must not be empty",
    ["title-missing.json"] = "title: missing (required)",
    ["chapter-unknown-key.json"] = 'chapters[2]: unknown key "brif"',
    ["chapter-empty.json"] = "chapters[2].title: must not be empty",
    ["chapter-duplicate.json"] = 'chapters[3].title: duplicate of chapters[1] ("tables")',
    ["chapters-string.json"] = "chapters: expected a list or a number, got string",
    ["chapters-zero.json"] = "chapters: must be a whole number from 1 to 500, got 0",
    ["chapter-boolean.json"] = "chapters[1]: expected a string or an object, got boolean",
    ["prompt-unknown-variable.json"] = "prompts: template chapter: unknown variable {{chapter.titel}}",
    ["prompt-unknown-name.json"] =
      'prompts: unknown template "quiz" (known: chapter, context, outline, summary, system)',
    ["source-missing.json"] = "source: file not found: spec/fixtures/bad/missing-notes.md",
    ["syntax.json"] = "invalid JSON: Expected object key string but found T_END at character 19",
    ["array.json"] = "expected a JSON object at the top level",
    ["duplicate.lua"] = 'chapters[3].title: duplicate of chapters[1] ("a")',
    ["not-table.lua"] = "the file must return a table, got string",
  }
  for file, msg in pairs(cases) do
    it("names the file and the field: " .. file, function()
      local c, err, kind = coursegen.load(BAD .. file)
      assert.is_nil(c)
      assert.equal(BAD .. file .. ": " .. msg, err)
      assert.equal("input", kind)
    end)
  end

  local lines = {
    ["empty-item.md"] = "4: chapter title is empty",
    ["duplicate.md"] = '6: duplicate chapter "values" (first on line 3)',
    ["no-title.md"] = '1: the outline must start with a "# Title" line',
    ["heading.md"] = '5: expected a chapter as a list item ("- Title" or "1. Title")',
    ["syntax.lua"] = "2: '}' expected (to close '{' at line 1) near <eof>",
  }
  for file, msg in pairs(lines) do
    it("names the file and the line: " .. file, function()
      local c, err = coursegen.load(BAD .. file)
      assert.is_nil(c)
      assert.equal(BAD .. file .. ":" .. msg, err)
    end)
  end

  it("reports a missing file and an unknown type", function()
    local _, err = coursegen.load(BAD .. "nope.json")
    assert.equal(BAD .. "nope.json: cannot read: " .. BAD .. "nope.json: No such file or directory", err)
    local _, err2 = coursegen.load("spec/fixtures/bad/x.yaml")
    assert.equal("spec/fixtures/bad/x.yaml: unknown course file type (expected .json, .lua or .md)", err2)
  end)

  it("raises on misuse", function()
    assert.has_error(function() coursegen.load(42) end, "bad argument #1 to 'load' (string expected, got number)")
  end)
end)

describe("coursegen.course", function()
  it("validates a table and names the field", function()
    local c = assert(coursegen.course { title = "T", chapters = 3 })
    assert.equal(3, c.chapter_count)
    local _, err, kind = coursegen.course { title = "T", chapters = { "A", { title = "B", extra = 1 } } }
    assert.equal('course: chapters[2]: unknown key "extra"', err)
    assert.equal("input", kind)
  end)

  it("raises when given something other than a table", function()
    assert.has_error(function() coursegen.course("x") end, "bad argument #1 to 'course' (table expected, got string)")
  end)
end)
