-- The API key from a file (--api-key-file, COURSEGEN_API_KEY_FILE): first line, trimmed;
-- messages name the file and never its content.
local helpers = require "helpers"
local settings = require "coursegen.cli.settings"
local lib = require "coursegen.settings"
local COURSE = { title = "Keys" }

describe("coursegen.cli.settings", function()
  local dir
  before_each(function() dir = helpers.tmpdir() end)
  after_each(function() helpers.rmtree(dir) end)

  describe("read_key_file()", function()
    it("reads the first line, trimmed", function()
      helpers.writefile(dir .. "/key", "  sk-FROM-FILE \nsecond line\n")
      assert.equal("sk-FROM-FILE", lib.read_key_file(dir .. "/key"))
    end)

    it("names a missing file", function()
      local key, err = lib.read_key_file(dir .. "/none")
      assert.is_nil(key)
      assert.equal("--api-key-file: cannot read " .. dir .. "/none: No such file or directory", err)
    end)

    it("names an empty file", function()
      helpers.writefile(dir .. "/key", "\n")
      local key, err = lib.read_key_file(dir .. "/key")
      assert.is_nil(key)
      assert.equal("--api-key-file: " .. dir .. "/key is empty (put the key on its first line)", err)
    end)
  end)

  describe("resolve()", function()
    it("takes the key file over the environment", function()
      helpers.writefile(dir .. "/key", "sk-FROM-FILE\n")
      local env = { GEMINI_API_KEY = "sk-FROM-ENV" }
      local s = assert(settings.resolve(COURSE, { api_key_file = dir .. "/key" },
        { env = function(k) return env[k] end, config = {}, need_key = true }))
      assert.equal("sk-FROM-FILE", s.api_key)
    end)

    it("reads COURSEGEN_API_KEY_FILE", function()
      helpers.writefile(dir .. "/key", "sk-FROM-FILE\n")
      local env = { COURSEGEN_API_KEY_FILE = dir .. "/key" }
      local s = assert(settings.resolve(COURSE, {}, { env = function(k) return env[k] end, config = {},
        need_key = true }))
      assert.equal("sk-FROM-FILE", s.api_key)
    end)
  end)
end)
