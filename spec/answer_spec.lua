-- Cleaning answers, chapter summaries, outlines and source budgets.
-- luacheck: std +busted
local answer = require "coursegen.answer"
local outline = require "coursegen.outline"
local source = require "coursegen.source"
local json = require "coursegen.json"
local helpers = require "helpers"

describe("coursegen.answer", function()
  it("strips a preamble line", function()
    assert.equal("## Summary\n\nText.", answer.clean("Here is the chapter:\n\n## Summary\n\nText."))
    assert.equal("Body", answer.clean("Sure! Here's your chapter.\n\nBody"))
    assert.equal("Certainly:\nno blank line after", answer.clean("Certainly:\nno blank line after"))
  end)

  it("strips a code fence around the whole answer", function()
    assert.equal("## Summary\n\nx", answer.clean("```markdown\n## Summary\n\nx\n```"))
    assert.equal("## A\n\nb", answer.clean("Here is the chapter:\n\n```md\n## A\n\nb\n```\n"))
  end)

  it("leaves inner fences and other text alone", function()
    local t = "## Example\n\n```lua\nprint(1)\n```\n\nMore."
    assert.equal(t, answer.clean(t))
    local two = "```lua\na()\n```\n\ntext\n\n```lua\nb()\n```"
    assert.equal(two, answer.clean(two))
    assert.equal("Here is how tables work in detail, with many words and a long explanation that goes on",
      answer.clean("Here is how tables work in detail, with many words and a long explanation that goes on"))
  end)

  it("drops a leading heading that repeats the title", function()
    assert.equal("Body", answer.drop_title("# Tables\n\nBody", "Tables"))
    assert.equal("# Other\n\nBody", answer.drop_title("# Other\n\nBody", "Tables"))
  end)

  it("fits a course summary under the README's heading", function()
    assert.equal("Text.\n\n### Skills\n\n- a",
      answer.as_section("# Course summary: X\n\n## Summary\n\nText.\n\n## Skills\n\n- a"))
    assert.equal("Plain.", answer.as_section("Plain."))
  end)

  it("finds a chapter's own summary", function()
    assert.equal("It covers tables.", answer.summary("## Summary\n\nIt covers tables.\n\n## Tables\n\nMore."))
    assert.equal("First paragraph.", answer.summary("# T\n\nFirst paragraph.\n\nSecond."))
    assert.equal(11, #answer.summary("## Summary\n\n" .. string.rep("x", 50), 10) - #"…" + 1)
  end)
end)

describe("coursegen.outline", function()
  it("asks for exactly n chapters with titles and briefs", function()
    local s = outline.schema(12)
    assert.equal(12, s.properties.chapters.minItems)
    assert.equal(12, s.properties.chapters.maxItems)
    assert.same({ "title", "brief" }, s.properties.chapters.items.required)
  end)

  it("accepts a valid answer", function()
    local ch = assert(outline.parse('{"chapters":[{"title":"A","brief":"a"},{"title":"B","brief":""}]}', 2))
    assert.same({ { title = "A", brief = "a" }, { title = "B" } }, ch)
  end)

  it("rejects a wrong count, empty titles, duplicates and bad JSON", function()
    local _, e1 = outline.parse('{"chapters":[{"title":"A","brief":"a"}]}', 2)
    assert.equal("outline: expected 2 chapters, got 1", e1)
    local _, e2 = outline.parse('{"chapters":[{"title":" ","brief":"a"}]}', 1)
    assert.equal("outline: chapters[1].title: must not be empty", e2)
    local _, e3 = outline.parse('{"chapters":[{"title":"A","brief":""},{"title":"a","brief":""}]}', 2)
    assert.equal('outline: chapters[2].title: duplicate of chapters[1] ("a")', e3)
    local _, e4 = outline.parse("nope", 2)
    assert.truthy(e4:find("^outline: the answer is not valid JSON"))
    local _, e5 = outline.parse('{"items":[]}', 2)
    assert.equal('outline: expected an object with a "chapters" list', e5)
  end)

  it("round-trips the saved file", function()
    local text = outline.encode { { title = "A", brief = "a" }, { title = "B" } }
    assert.same({ { title = "A", brief = "a" }, { title = "B" } }, outline.check(json.decode(text)))
  end)
end)

describe("coursegen.source", function()
  local dir
  before_each(function() dir = helpers.tmpdir() end)
  after_each(function() helpers.rmtree(dir) end)

  it("reads Markdown and text as they are", function()
    helpers.writefile(dir .. "/n.md", "# Notes\n\nHello.\n")
    local d = source.read(dir .. "/n.md")
    assert.equal("# Notes\n\nHello.\n", d.text)
    assert.equal(4, d.tokens) -- 16 bytes
    assert.is_false(d.truncated)
  end)

  it("cuts a large source at a paragraph boundary", function()
    local para = string.rep("word ", 20) -- 100 bytes
    helpers.writefile(dir .. "/big.txt", para .. "\n\n" .. para .. "\n\n" .. para)
    local d = source.read(dir .. "/big.txt", 60) -- 240 bytes
    assert.is_true(d.truncated)
    assert.equal(para .. "\n\n" .. para, d.text)
    assert.equal(76, d.original_tokens)
  end)

  it("names the missing tool and its package", function()
    helpers.writefile(dir .. "/x.pdf", "%PDF-1.4")
    local has = os.execute("command -v pdftotext >/dev/null 2>&1")
    if not has then
      local ok, e = pcall(source.read, dir .. "/x.pdf")
      assert.is_false(ok)
      assert.equal("source: " .. dir .. "/x.pdf needs pdftotext, which is not installed (Debian package poppler-utils)",
        e.msg)
    end
  end)

  it("converts HTML through pandoc when installed", function()
    if not os.execute("command -v pandoc >/dev/null 2>&1") then return end
    helpers.writefile(dir .. "/p.html", "<html><body><h1>Title</h1><p>Para one.</p></body></html>")
    local d = source.read(dir .. "/p.html")
    assert.truthy(d.text:find("Para one.", 1, true))
  end)

  -- A child process, because the fake converter must be first on its PATH.
  local function read_with_fake_pandoc(script, name)
    helpers.writefile(dir .. "/bin/pandoc", script)
    assert(os.execute("chmod +x '" .. dir .. "/bin/pandoc'"))
    helpers.writefile(dir .. "/" .. name, "<p>x</p>")
    local cmd = ("cd '%s' && SRC='%s/%s' PATH='%s/bin':\"$PATH\" lua5.4 "
      .. "-e 'package.path=\"lua/?.lua;\" .. package.path' "
      .. "-e 'local ok, r = pcall(require(\"coursegen.source\").read, os.getenv(\"SRC\")); "
      .. "io.write(ok and \"TEXT:\" .. r.text or \"ERR:\" .. tostring(r.msg or r))' 2>&1")
      :format(helpers.root, dir, name, dir)
    local p = io.popen(cmd)
    local out = p:read("a")
    p:close()
    return out
  end

  it("keeps a converter's warnings out of the source text", function()
    assert(os.execute("mkdir -p '" .. dir .. "/bin'"))
    local out = read_with_fake_pandoc("#!/bin/sh\necho 'WARNING: unclosed tag' >&2\nprintf 'Converted text\\n'\n",
      "w.html")
    assert.equal("TEXT:Converted text\n", out)
  end)

  it("reports a converter's error output when it fails", function()
    assert(os.execute("mkdir -p '" .. dir .. "/bin'"))
    local out = read_with_fake_pandoc("#!/bin/sh\necho 'partial'\necho 'cannot parse' >&2\nexit 3\n", "f.html")
    assert.equal("ERR:source: pandoc failed on " .. dir .. "/f.html: cannot parse", out)
  end)

  it("refuses unknown formats", function()
    local ok, e = pcall(source.read, dir .. "/x.xyz")
    assert.is_false(ok)
    assert.equal("source: " .. dir .. "/x.xyz: unsupported format (use .md, .txt, .docx, .html, .odt, .epub or .pdf)",
      e.msg)
    assert.equal("input", e.kind)
  end)
end)
