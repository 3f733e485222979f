-- The preamble every example shares, so each example file shows only what it demonstrates:
-- module paths from this folder (the examples run from a checkout, before any install),
-- the command line, the server to talk to, and the output folder.
-- Load it relative to the script, whatever the working folder:
--   local ex = dofile(((arg and arg[0] or ""):match("^(.*)/[^/]*$") or ".") .. "/support.lua")
local M = {}

local getenv, tmpname, remove = os.getenv, os.tmpname, os.remove

--- The examples' folder, for files that come with them (e.g. notes.md).
M.here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."

package.path = M.here .. "/../lua/?.lua;" .. M.here .. "/../lua/?/init.lua;" .. package.path
package.cpath = M.here .. "/../build/?.so;" .. package.cpath

--- The command line as `--name value` pairs, names without the dashes.
M.args = {}
for i = 1, #arg, 2 do M.args[(arg[i] or ""):gsub("^%-%-", "")] = arg[i + 1] end

local srv

--- The server's URL: `--base-url`, else `COURSEGEN_BASE_URL`, else the bundled mock, started
-- in this process so an example needs no key and no network.
-- @tparam[opt] table mock options for `coursegen.mock.start` added to the defaults
-- @treturn string
function M.base_url(mock)
  local url = M.args["base-url"] or getenv("COURSEGEN_BASE_URL")
  if url then return url end
  local opts = { port = 0, latency_ms = 5, jitter_ms = 10 }
  for k, v in pairs(mock or {}) do opts[k] = v end
  srv = require("coursegen.mock").start(opts)
  return srv.url
end

--- The output folder: `--out`, else a fresh temporary one.
-- @treturn string
function M.out()
  local out = M.args.out
  if not out then -- os.tmpname creates a file: reuse its name for a folder
    out = tmpname()
    remove(out)
  end
  return out
end

--- Stops the mock, if one was started.
function M.close()
  if srv then srv:close() end
  srv = nil
end

--- Ends a `coursegen.generate` call: stops the mock, and on failure prints the error and
-- exits with 2 (as the command line does for a run that could not start).
-- @param stats, err what `generate` returned
-- @treturn table stats
function M.finish(stats, err)
  M.close()
  if not stats then
    io.stderr:write(err, "\n")
    os.exit(2)
  end
  return stats
end

return M
