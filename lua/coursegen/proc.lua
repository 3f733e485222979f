--- Running external programs (pandoc, pdftotext) without a shell in the way.
--
-- Every argument is single-quoted before it reaches `/bin/sh`, so no title, path or other
-- value can inject shell syntax. A program's standard error goes to a temporary file, not
-- into its output: a converter's warnings must never end up in the text it produced.
-- @module coursegen.proc
local M = {}

local io, os, type, error, ipairs = io, os, type, error, ipairs
local concat = table.concat

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

--- Whether `path` is an executable regular file.
-- @tparam string path
-- @treturn boolean
function M.is_executable(path)
  -- lfs is needed only here: loading it lazily keeps this module cheap for `coursegen.cli.format`
  local attr = require("lfs").attributes(path)
  return attr ~= nil and attr.mode == "file" and attr.permissions:find("x", 1, true) ~= nil
end

--- Find a program on `PATH`, as the shell would.
-- @tparam string name a command name (without a slash)
-- @treturn ?string the executable's path, or nil when none is on `PATH`
function M.which(name)
  if type(name) ~= "string" then
    error(("argument 1 expected a 'string', got a '%s'"):format(type(name)), 2)
  end
  for dir in (os.getenv("PATH") or "/usr/local/bin:/usr/bin:/bin"):gmatch("[^:]+") do
    local candidate = dir .. "/" .. name
    if M.is_executable(candidate) then return candidate end
  end
  return nil
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

return M
