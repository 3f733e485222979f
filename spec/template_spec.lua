-- The prompt template language and the default prompts.
-- luacheck: std +busted
local template = require "coursegen.template"
local prompts = require "coursegen.prompts"

describe("coursegen.template", function()
  it("inserts variables, nested names and numbers", function()
    local t = template.compile("t", "{{course.title}} / {{ chapter.number }} of {{chapter.count}}")
    assert.equal("Lua / 3 of 12", t:render { course = { title = "Lua" }, chapter = { number = 3, count = 12 } })
  end)

  it("renders a missing variable as nothing", function()
    assert.equal("[]", template.compile("t", "[{{instructions}}]"):render {})
  end)

  it("keeps an optional section only when its value is set", function()
    local t = template.compile("t", "a{{#source}}<{{source}}>{{/source}}b")
    assert.equal("a<doc>b", t:render { source = "doc" })
    assert.equal("ab", t:render { source = "" })
    assert.equal("ab", t:render {})
  end)

  it("nests sections", function()
    local t = template.compile("t", "{{#source}}S{{#instructions}}I{{/instructions}}{{/source}}")
    assert.equal("SI", t:render { source = "x", instructions = "y" })
    assert.equal("S", t:render { source = "x" })
  end)

  it("collapses blank lines left by empty sections", function()
    local t = template.compile("t", "a\n\n{{#source}}x\n{{/source}}\n\nb")
    assert.equal("a\n\nb", t:render {})
  end)

  it("names the template and the variable on errors", function()
    assert.has_error(function() template.compile("chapter", "{{chapter.titel}}") end,
      "template chapter: unknown variable {{chapter.titel}}")
    assert.has_error(function() template.compile("outline", "{{#source}}x") end,
      "template outline: section {{#source}} is never closed")
    assert.has_error(function() template.compile("summary", "x{{/source}}") end,
      "template summary: {{/source}} closes no open section")
    assert.has_error(function() template.compile("summary", "{{ }}") end,
      "template summary: empty variable {{}}")
  end)
end)

describe("coursegen.prompts", function()
  local course = { title = "Lua", language = "French", audience = "beginners", instructions = "Be brief." }
  local t = prompts.compile()
  local chapters = { { title = "Values", brief = "types" }, { title = "Tables" }, { title = "Functions" } }

  it("puts the chapter's place and title on the first line", function()
    local p = t.chapter:render(prompts.context(course, {
      chapter = { title = "Tables", number = 2, count = 3 }, outline = prompts.outline_text(chapters) }))
    assert.equal("Chapter 2 of 3: Tables", p:match("^[^\n]*"))
  end)

  it("shares the whole outline with briefs, the instructions and the language", function()
    local p = t.context:render(prompts.context(course, {
      chapter = { count = 3 }, outline = prompts.outline_text(chapters) }))
    assert.truthy(p:find("1. Values: types\n2. Tables\n3. Functions", 1, true))
    assert.truthy(p:find("Instructions from the author: Be brief.", 1, true))
    assert.truthy(p:find("Write in French.", 1, true))
    assert.truthy(p:find("## Summary", 1, true))
    assert.truthy(p:find("## Exercises", 1, true))
    assert.truthy(p:find("## Going further", 1, true))
    assert.is_nil(p:find("<source>", 1, true))
  end)

  it("points to the source only when there is one; the source itself is its own part", function()
    local p = t.outline:render(prompts.context(course, { chapter = { count = 5 }, source = "NOTES" }))
    assert.truthy(p:find("Base the course on the source document above.", 1, true))
    assert.is_nil(p:find("NOTES", 1, true)) -- sent once, before the prompt (prompts.source_turn)
    assert.is_nil(t.outline:render(prompts.context(course, { chapter = { count = 5 } })):find("source", 1, true))
    assert.truthy(p:find("exactly 5 chapters", 1, true))
    assert.equal("The source document of this course:\n<source>\nNOTES\n</source>", prompts.source_turn("NOTES"))
    assert.is_true(t.outline.default)
    assert.is_false(prompts.compile({ outline = "{{source}}" }).outline.default)
  end)

  it("keeps the chapter's own part free of what every chapter shares", function()
    local own = t.chapter:render(prompts.context(course, {
      chapter = { title = "Tables", number = 2, count = 3 }, outline = prompts.outline_text(chapters), source = "S" }))
    assert.is_nil(own:find("1. Values", 1, true))
    assert.is_nil(own:find("<source>", 1, true))
    local shared = t.context:render(prompts.context(course, {
      chapter = { count = 3 }, outline = prompts.outline_text(chapters), source = "NOTES" }))
    assert.truthy(shared:find("Ground the chapters in the source document above.", 1, true))
    assert.is_nil(shared:find("NOTES", 1, true))
  end)

  it("drops the shared part when a course writes its own chapter template only", function()
    local c = prompts.compile { chapter = "Ch {{chapter.number}}: {{outline}}" }
    assert.equal("", c.context:render(prompts.context(course, { outline = "X" })))
  end)

  it("lets a course override one template and keep the others", function()
    local c = prompts.compile { chapter = "Ch {{chapter.number}}: {{chapter.title}}" }
    assert.equal("Ch 1: X", c.chapter:render { chapter = { number = 1, title = "X" } })
    assert.truthy(c.summary:render(prompts.context(course, { summaries = "S" })):find("S", 1, true))
  end)
end)
