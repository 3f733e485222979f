-- luacheck: std +busted
-- One version: every place that states it agrees with lua/coursegen/version.lua.
local helpers = require "helpers"

describe("the version", function()
  it("is one string: the library's, the C core's and the mock server's", function()
    local v = require "coursegen.version"
    assert.equal(v, require("coursegen")._VERSION)
    assert.equal(v, require("coursegen.core")._VERSION)
    assert.equal(v, require("coursegen.mockserver")._VERSION)
    assert.equal(v, require("coursegen.engine")._VERSION)
  end)

  it("is the only _VERSION a Lua module sets", function()
    local lfs = require "lfs"
    local function walk(dir)
      for name in lfs.dir(dir) do
        local p = dir .. "/" .. name
        if name:match("%.lua$") and p ~= "lua/coursegen/init.lua" then
          assert.is_nil(helpers.readfile(p):find("_VERSION =", 1, true), p)
        elseif not name:match("^%.") and lfs.attributes(p, "mode") == "directory" then
          walk(p)
        end
      end
    end
    walk("lua/coursegen")
  end)
end)
