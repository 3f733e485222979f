--- Finding and running pandoc without a shell in the way.
--
-- Every argument is single-quoted before it reaches `/bin/sh`, so no title, path or other
-- value can inject shell syntax. Course text never goes on the command line anyway: the
-- exporters write it to metadata files that pandoc reads.
-- @module coursegen.export.pandoc
local M = { _VERSION = "0.1" }

local lfs = require "lfs"
local io, os, type, error, ipairs, tonumber = io, os, type, error, ipairs, tonumber
local concat = table.concat

--- The Debian/Ubuntu package that provides pandoc (error messages name it).
M.package = "pandoc"

--- Quote one argument for POSIX `sh`.
-- @tparam string s any string (NUL bytes are refused)
-- @treturn string the quoted word
function M.quote(s)
  if type(s) ~= "string" then
    error(("argument 1 expected a 'string', got a '%s'"):format(type(s)), 2)
  end
  if s:find("\0", 1, true) then error("argument contains a NUL byte", 2) end
  return "'" .. s:gsub("'", [['\'']]) .. "'"
end

local function command_line(argv)
  local words = {}
  for i, a in ipairs(argv) do words[i] = M.quote(a) end
  return concat(words, " ")
end

local function is_executable(path)
  local attr = lfs.attributes(path)
  return attr ~= nil and attr.mode == "file" and attr.permissions:find("x", 1, true) ~= nil
end

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
    if is_executable(name) then return name end
    return nil, ("pandoc not found at %s: install the '%s' package (apt-get install %s)")
      :format(name, M.package, M.package)
  end
  for dir in (os.getenv("PATH") or "/usr/local/bin:/usr/bin:/bin"):gmatch("[^:]+") do
    local candidate = dir .. "/" .. name
    if is_executable(candidate) then return candidate end
  end
  return nil, ("%s not found on PATH: install the '%s' package (apt-get install %s), "
    .. "or set PANDOC to its path"):format(name, M.package, M.package)
end

local function read_all(path)
  local f = io.open(path, "rb")
  if not f then return "" end
  local s = f:read("a")
  f:close()
  return s
end

--- Run a program with arguments, capturing its output.
-- @tparam table argv program and arguments, `argv[1]` is the executable
-- @treturn boolean|nil true when it exited with status 0
-- @treturn string its standard output (on success) or an error with its stderr
function M.exec(argv)
  if type(argv) ~= "table" or type(argv[1]) ~= "string" then
    error("argument 1 expected a list of strings", 2)
  end
  local errfile = os.tmpname()
  local p = io.popen(command_line(argv) .. " </dev/null 2>" .. M.quote(errfile), "r")
  if not p then
    os.remove(errfile)
    return nil, "cannot start " .. argv[1]
  end
  local out = p:read("a")
  local ok, how, code = p:close()
  local err = read_all(errfile)
  os.remove(errfile)
  if ok then return true, out end
  err = err:gsub("%s+$", "")
  if err == "" then
    err = ("%s %s %s"):format(argv[1], how == "signal" and "killed by signal" or "exited with", code)
  end
  return nil, err
end

local version_cache = {}

--- The pandoc version as a list of numbers, e.g. `{2, 17, 1, 1}`.
-- @tparam string exe path of pandoc
-- @treturn table|nil version
-- @treturn string error
function M.version(exe)
  if version_cache[exe] then return version_cache[exe] end
  local ok, out = M.exec{ exe, "--version" }
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
  local ok, out = M.exec(argv)
  if not ok then return nil, "pandoc failed: " .. out end
  return true, out
end

return M
