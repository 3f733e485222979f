-- The Lua API examples run from the source tree against the bundled mock.
-- luacheck: std +busted
local helpers = require "helpers"

describe("examples", function()
  local dir
  before_each(function() dir = helpers.tmpdir() end)
  after_each(function() helpers.rmtree(dir) end)

  for _, name in ipairs { "course_from_table", "course_from_source", "quiz_per_chapter", "engine_batch" } do
    it(name .. ".lua runs and succeeds", function()
      local out = dir .. "/" .. name
      local cmd = string.format("lua5.4 examples/%s.lua --out '%s' > '%s.log' 2>&1", name, out, out)
      local ok = os.execute(cmd)
      assert.is_true(ok == true, helpers.readfile(out .. ".log"))
      if name ~= "engine_batch" then
        assert.truthy(helpers.readfile(out .. "/README.md"))
        assert.truthy(helpers.readfile(out .. "/course.json"))
      end
    end)
  end
end)
