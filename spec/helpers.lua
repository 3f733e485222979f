-- Shared setup for the specs: loaded by busted before every spec file (see .busted).
local helpers = {}

-- Under `make asan` and `make tsan` the sanitizer runtime is preloaded into this interpreter, which is not
-- instrumented itself. Programs the specs start (curl, chromium, pandoc, the coursegen
-- command) must not inherit the preload: some of them hang at start-up under it.
if os.getenv("COURSEGEN_SANITIZER") and os.getenv("LD_PRELOAD") then
  local popen, execute = io.popen, os.execute
  -- luacheck: push ignore 122 (replacing the standard functions is the point here)
  io.popen = function(cmd, ...) return popen("unset LD_PRELOAD; " .. cmd, ...) end
  os.execute = function(cmd, ...)
    if cmd == nil then return execute() end
    return execute("unset LD_PRELOAD; " .. cmd, ...)
  end
  -- luacheck: pop
end

--- The build folder a `lua5.4` child process should load the C modules from: children do
-- not get the sanitizer runtime (see above), so they use the plain build.
function helpers.child_build()
  if os.getenv("COURSEGEN_SANITIZER") and os.getenv("LD_PRELOAD") then return "build" end
  return os.getenv("COURSEGEN_BUILD") or "build"
end

--- Absolute path of the source tree's root.
helpers.root = os.getenv("PWD")

--- A fresh temporary directory, removed by `helpers.rmtree`.
function helpers.tmpdir()
  local p = os.tmpname()
  os.remove(p)
  assert(os.execute("mkdir -p '" .. p .. "'"))
  return p
end

function helpers.rmtree(p)
  if p and p:match("^/tmp/") then os.execute("rm -rf '" .. p .. "'") end
end

-- luasystem when installed: a sub-millisecond sleep without starting a process
local ok_sys, system = pcall(require, "system")

--- Sleeps `s` seconds (nothing for zero or less).
function helpers.sleep(s)
  if s <= 0 then return end
  if ok_sys then system.sleep(s) else os.execute(string.format("sleep %.3f", s)) end
end

--- Whether process `pid` is still running (a zombie counts until reaped).
function helpers.alive(pid)
  return os.execute("kill -0 " .. pid .. " 2>/dev/null") == true
end

function helpers.readfile(p)
  local f = io.open(p, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

function helpers.writefile(p, s)
  local f = assert(io.open(p, "wb"))
  f:write(s)
  f:close()
end

package.loaded["spec.helpers"] = helpers
package.loaded["helpers"] = helpers
return helpers
