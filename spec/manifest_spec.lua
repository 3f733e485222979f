-- The manifest's text: its exact layout, and that reusing each entry's encoded text (the
-- pipeline rewrites the manifest after every chapter) never writes a stale entry.
-- luacheck: std +busted
local helpers = require "helpers"
local json = require "coursegen.json"
local manifest = require "coursegen.manifest"

describe("coursegen.manifest", function()
  local dir, path
  before_each(function()
    dir = helpers.tmpdir()
    path = dir .. "/" .. manifest.FILE
  end)
  after_each(function() helpers.rmtree(dir) end)

  local function doc(chapters)
    return { title = "T", provider = "gemini", model = "m", chapters = chapters,
             stats = { requests = 2, chapters = { total = 2, written = 1 } } }
  end

  local EXPECTED = [[
{
  "format": 1,
  "title": "T",
  "provider": "gemini",
  "model": "m",
  "chapters": [
    {
      "index": 1,
      "title": "A/B",
      "file": "01-a-b.md",
      "status": "done",
      "attempts": 1,
      "finish_reason": "STOP",
      "prompt_sha256": "ab",
      "sha256": "cd",
      "tokens": {
        "prompt": 3,
        "output": 4,
        "thoughts": 0
      },
      "error": null,
      "stages": {
        "quiz": {
          "file": "01-a-b.quiz.md",
          "status": "failed",
          "attempts": 0,
          "error": "no \"prompt\""
        }
      }
    },
    {
      "index": 2,
      "title": "C",
      "file": "02-c.md",
      "status": "pending",
      "attempts": 0,
      "finish_reason": null,
      "prompt_sha256": null,
      "sha256": null,
      "tokens": {
        "prompt": 0,
        "output": 0,
        "thoughts": 0
      },
      "error": null
    }
  ],
  "stats": {
    "chapters": {
      "total": 2,
      "written": 1
    },
    "requests": 2
  }
}
]]

  local function entries()
    return {
      manifest.entry { index = 1, title = "A/B", file = "01-a-b.md", status = "done", attempts = 1,
                       finish_reason = "STOP", prompt_sha256 = "ab", sha256 = "cd",
                       tokens = { prompt = 3, output = 4, thoughts = 0 },
                       stages = { quiz = { file = "01-a-b.quiz.md", status = "failed", attempts = 0,
                                           error = 'no "prompt"' } } },
      manifest.entry { index = 2, title = "C", file = "02-c.md", status = "pending" },
    }
  end

  it("writes the documented key order and indentation", function()
    manifest.write(path, doc(entries()))
    assert.equal(EXPECTED, helpers.readfile(path))
    -- Again with every entry's text reused: the same bytes.
    local list = entries()
    manifest.write(path, doc(list))
    manifest.write(path, doc(list))
    assert.equal(EXPECTED, helpers.readfile(path))
  end)

  it("writes a replaced entry, not the text of the one it replaced", function()
    local list = entries()
    manifest.write(path, doc(list))
    list[2] = manifest.entry { index = 2, title = "C", file = "02-c.md", status = "done", attempts = 2 }
    list[1] = manifest.with_stage(list[1], "quiz", { status = "done", file = "01-a-b.quiz.md" })
    manifest.write(path, doc(list))
    local m = manifest.read(path)
    assert.equal("done", m.chapters[2].status)
    assert.equal(2, m.chapters[2].attempts)
    assert.same({ status = "done", file = "01-a-b.quiz.md" }, m.chapters[1].stages.quiz)
  end)

  it("makes entries that share no table with what they were made from", function()
    local usage = { prompt = 1, output = 2, thoughts = 0 }
    local stages = { quiz = { status = "done" } }
    local e = manifest.entry { index = 1, title = "A", file = "a.md", status = "done", tokens = usage,
                               stages = stages }
    usage.prompt = 99
    stages.quiz.status = "failed"
    assert.equal(1, e.tokens.prompt)
    assert.equal("done", e.stages.quiz.status)
    assert.equal(json.null, e.error)
  end)

  it("with_stage leaves the entry it starts from as it was", function()
    local e = manifest.entry { index = 1, title = "A", file = "a.md", status = "done" }
    local e2 = manifest.with_stage(e)
    assert.is_nil(e.stages)
    assert.same({}, e2.stages)
    local e3 = manifest.with_stage(e2, "quiz", { status = "done" })
    assert.same({}, e2.stages)
    assert.same({ quiz = { status = "done" } }, e3.stages)
    assert.equal("done", e3.status)
  end)
end)

describe("coursegen.json fragments", function()
  it("pretty_fragment and raw reproduce what pretty writes", function()
    local inner = { b = { 1, 2 }, a = "x/y", c = json.null }
    local whole = json.pretty({ list = json.array { inner, inner } }, { "c" })
    local piece = json.raw(json.pretty_fragment(inner, { "c" }, 2))
    assert.equal(whole, json.pretty({ list = json.array { piece, piece } }, { "c" }))
    assert.equal(json.encode({ 1, { a = 2 } }), '[1,{"a":2}]')
  end)
end)
