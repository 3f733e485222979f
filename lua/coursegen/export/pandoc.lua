--- Finding and running pandoc without a shell in the way.
--
-- Every argument is single-quoted before it reaches `/bin/sh`, so no title, path or other
-- value can inject shell syntax. Course text never goes on the command line anyway: the
-- exporters write it to metadata files that pandoc reads.
-- @module coursegen.export.pandoc
local M = {}

local proc = require "coursegen.proc"
local os, type, error, ipairs, tonumber = os, type, error, ipairs, tonumber

--- The Debian/Ubuntu package that provides pandoc (error messages name it).
M.package = "pandoc"

--- Find the pandoc executable.
-- @tparam[opt] string explicit a path or command name chosen by the user
-- @treturn string|nil the executable's path
-- @treturn string an error naming the package to install, when not found
function M.find(explicit)
  if explicit ~= nil and type(explicit) ~= "string" then
    error(("argument 1 expected a 'string', got a '%s'"):format(type(explicit)), 2)
  end
  local name = explicit or os.getenv("PANDOC") or "pandoc"
  if name == "" then name = "pandoc" end
  if name:find("/", 1, true) then
    if proc.is_executable(name) then return name end
    return nil, ("pandoc not found at %s: install the '%s' package (apt-get install %s)")
      :format(name, M.package, M.package)
  end
  local found = proc.which(name)
  if found then return found end
  return nil, ("%s not found on PATH: install the '%s' package (apt-get install %s), "
    .. "or set PANDOC to its path"):format(name, M.package, M.package)
end

local version_cache = {}

--- The pandoc version as a list of numbers, e.g. `{2, 17, 1, 1}`.
-- @tparam string exe path of pandoc
-- @treturn table|nil version
-- @treturn string error
function M.version(exe)
  if version_cache[exe] then return version_cache[exe] end
  local ok, out = proc.exec{ exe, "--version" }
  if not ok then return nil, out end
  local v = out:match("^%S+%s+([%d%.]+)")
  if not v then return nil, "cannot read the version of " .. exe end
  local parts = {}
  for n in v:gmatch("%d+") do parts[#parts + 1] = tonumber(n) end
  version_cache[exe] = parts
  return parts
end

--- Whether version `v` is at least `major.minor`.
-- @tparam table v version from `version`
-- @tparam number major
-- @tparam number minor
-- @treturn boolean
function M.at_least(v, major, minor)
  if (v[1] or 0) ~= major then return (v[1] or 0) > major end
  return (v[2] or 0) >= minor
end

--- Run pandoc with the given arguments (never through a shell).
-- @tparam string exe pandoc's path (from `find`)
-- @tparam table args arguments after the program name
-- @tparam[opt] table opts `{sandbox = true}` adds `--sandbox` when pandoc is new enough, so
--   a document can never make pandoc read other files or fetch anything (the EPUB and DOCX
--   writers of some versions cannot find their own data files in the sandbox)
-- @treturn boolean|nil true on success
-- @treturn string pandoc's error output on failure
function M.run(exe, args, opts)
  if type(exe) ~= "string" then error("argument 1 expected a 'string'", 2) end
  if type(args) ~= "table" then error("argument 2 expected a 'table'", 2) end
  if opts ~= nil and type(opts) ~= "table" then error("argument 3 expected a 'table'", 2) end
  local v, verr = M.version(exe)
  if not v then return nil, verr end
  local argv = { exe }
  if opts and opts.sandbox and M.at_least(v, 2, 15) then argv[#argv + 1] = "--sandbox" end
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  local ok, out = proc.exec(argv)
  if not ok then return nil, "pandoc failed: " .. out end
  return true, out
end

return M
