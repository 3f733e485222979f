-- luacheck: std +busted
-- Signals that arrive while the process exits: the handlers live in coursegen.core, which
-- `os.exit(code, true)` unloads, so a handler still installed then runs unmapped code (a
-- segfault, exit 139). Real signals to real processes: a storm of SIGTERM, and a double
-- Ctrl-C 50 ms apart on the real command.
local helpers = require "helpers"
local json = require "coursegen.json"
local mock = require "coursegen.mock"

local ROOT = helpers.root

local function q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- Runs a bash script in `dir`; returns the list of exit codes it wrote, one per line.
local function codes(dir, lines)
  helpers.writefile(dir .. "/run.sh", table.concat(lines, "\n") .. "\n")
  assert(os.execute("cd " .. q(dir) .. " && bash run.sh >/dev/null 2>&1"))
  local out = {}
  for line in (helpers.readfile(dir .. "/codes") or ""):gmatch("%d+") do out[#out + 1] = tonumber(line) end
  return out
end

describe("signals during exit", function()
  local dir

  before_each(function() dir = helpers.tmpdir() end)
  after_each(function() helpers.rmtree(dir) end)

  it("a SIGTERM storm while a Lua state that caught signals closes never segfaults", function()
    local child = ("package.cpath = %q .. '/?.so;' .. package.cpath\n"):format(ROOT .. "/" .. helpers.child_build())
      .. "local core = require 'coursegen.core'\n"
      .. "core.catch_signals()\n"
      .. "io.open('ready', 'w'):close()\n"
      .. "local t = os.clock() while os.clock() - t < 0.02 do end\n"
      .. "os.exit(0, true)\n"
    helpers.writefile(dir .. "/child.lua", child)
    local got = codes(dir, {
      "for i in $(seq 1 30); do",
      "  rm -f ready",
      "  lua5.4 child.lua & p=$!",
      "  for w in $(seq 1 2000); do [ -e ready ] && break; sleep 0.005; done",
      "  while kill -TERM $p 2>/dev/null; do :; done",
      "  wait $p; echo $? >>codes",
      "done",
    })
    assert.equal(30, #got)
    for i, c in ipairs(got) do
      -- 0: exited before a signal landed in the closing window; 143: the default action
      assert.is_true(c == 0 or c == 143, ("try %d exited %d"):format(i, c))
    end
  end)

  describe("on the command line", function()
    local srv

    before_each(function() srv = mock.start { latency_ms = 100 } end)
    after_each(function() srv:close() end)

    local function generate_script(signals)
      local course = dir .. "/course.json"
      helpers.writefile(course, json.encode { title = "Sig", chapters = { "A", "B", "C", "D", "E", "F" } })
      return {
        "set -m",
        "for i in 1 2 3; do",
        "  rm -rf o",
        ("  env -u GEMINI_API_KEY %s generate %s --base-url %s --out o --concurrency 1 --no-progress "
          .. "</dev/null >/dev/null 2>&1 & p=$!"):format(q(ROOT .. "/bin/coursegen"), q(course), q(srv.url)),
        "  for w in $(seq 1 400); do ls o/01-*.md >/dev/null 2>&1 && break; sleep 0.025; done",
        signals,
        "  wait $p; echo $? >>codes",
        "done",
      }
    end

    it("a double Ctrl-C 50 ms apart ends with 130, never 139 #slow", function()
      local got = codes(dir, generate_script("  kill -INT $p; sleep 0.05; kill -INT $p 2>/dev/null"))
      assert.equal(3, #got)
      for i, c in ipairs(got) do assert.equal(130, c, "try " .. i) end
    end)

    it("SIGTERM every 0.5 ms until it is gone never segfaults #slow", function()
      local got = codes(dir, generate_script("  while kill -TERM $p 2>/dev/null; do sleep 0.0005; done"))
      assert.equal(3, #got)
      for i, c in ipairs(got) do assert.is_true(c == 143 or c == 130, ("try %d exited %d"):format(i, c)) end
    end)
  end)
end)
