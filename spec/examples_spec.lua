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

  it("standalone.lua runs from outside the checkout with the path `coursegen path` prints", function()
    local pwd = io.popen("pwd")
    local repo = pwd:read("l")
    pwd:close()
    local script = dir .. "/standalone.lua"
    helpers.writefile(script, helpers.readfile("examples/standalone.lua"))
    -- A clean environment: no search path inherited from busted, a folder far from the tree.
    local cmd = string.format("cd '%s' && env -u LUA_PATH -u LUA_CPATH -u LUA_PATH_5_4 -u LUA_CPATH_5_4"
      .. " -u COURSEGEN_BASE_URL sh -c 'eval \"$(%s/bin/coursegen path)\" && lua5.4 standalone.lua course'"
      .. " > run.log 2>&1", dir, repo)
    local ok = os.execute(cmd)
    local log = helpers.readfile(dir .. "/run.log")
    assert.is_true(ok == true, log)
    assert.truthy(log:find("3 of 3 chapters written", 1, true), log)
    assert.truthy(helpers.readfile(dir .. "/course/01-variables-and-quoting.md"))
  end)
end)
