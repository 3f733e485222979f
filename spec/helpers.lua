-- Shared setup for the specs: loaded by busted before every spec file (see .busted).
local helpers = {}

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
