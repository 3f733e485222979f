-- Slugs: safe file names from any title.
-- luacheck: std +busted
local slug = require "coursegen.slug"

describe("coursegen.slug", function()
  it("lowercases and dashes", function()
    assert.equal("hello-world", slug.slug("Hello, World!"))
    assert.equal("values-and-types", slug.slug("  Values   and types  "))
  end)

  it("never escapes the folder", function()
    assert.equal("etc-passwd", slug.slug("../etc/passwd"))
    assert.equal("a-b", slug.slug("a/b"))
    assert.equal("chapter", slug.slug(".."))
    assert.equal("hidden", slug.slug(".hidden"))
    assert.equal("x-y", slug.slug("x\0y"))
    for _, t in ipairs { "../..", "/", "\0", "...", "---" } do
      local s = slug.slug(t)
      assert.is_nil(s:find("..", 1, true))
      assert.is_nil(s:find("/", 1, true))
      assert.is_nil(s:find("\0", 1, true))
      assert.is_nil(s:match("^%."))
      assert.equal("chapter", s)
    end
  end)

  it("keeps non-ASCII letters and drops emoji", function()
    assert.equal("线性代数-入门", slug.slug("线性代数 入门"))
    assert.equal("emoji-party", slug.slug("Emoji 🎉 party"))
    assert.equal("ärger-über-öl", slug.slug("Ärger über Öl"))
    assert.equal("chapter", slug.slug("🎉🎉"))
  end)

  it("drops invalid UTF-8 bytes", function()
    assert.equal("abc", slug.slug("\xff\xfeabc"))
    assert.equal("ab", slug.slug("a\xc3b")) -- a lone lead byte
    assert.truthy(utf8.len(slug.slug("caf\xc3\xa9\xe9")))
  end)

  it("cuts at 60 bytes without cutting a character", function()
    local s = slug.slug(string.rep("a", 300))
    assert.equal(string.rep("a", 60), s)
    local c = slug.slug(string.rep("数", 300)) -- 3 bytes each
    assert.equal(60, #c)
    assert.truthy(utf8.len(c))
    local e = slug.slug(string.rep("é", 300)) -- 2 bytes each
    assert.truthy(#e <= 60 and utf8.len(e))
    local mixed = slug.slug("a" .. string.rep("数", 100))
    assert.truthy(#mixed <= 60 and utf8.len(mixed))
    assert.is_nil(slug.slug(string.rep("ab ", 100)):match("%-$"))
  end)

  it("uses the fallback when nothing is left", function()
    assert.equal("chapter", slug.slug(""))
    assert.equal("course", slug.slug("!!!", "course"))
  end)

  it("disambiguates duplicates", function()
    assert.same({ "tables", "tables-2", "tables-3", "chapter", "chapter-2" },
      slug.unique { "Tables", "tables!", "TABLES", "", "?" })
    local long = slug.unique { string.rep("数", 30), string.rep("数", 30) .. "!" }
    assert.equal(60, #long[1])
    assert.truthy(#long[2] <= 60 and utf8.len(long[2]) and long[2]:match("%-2$"))
  end)
end)
