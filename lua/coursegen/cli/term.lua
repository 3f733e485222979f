--- Terminal helpers for the command line: is a stream a terminal, may we use colour,
-- and the few escape sequences the live progress line needs.
-- @module coursegen.cli.term
local M = {}

local os_getenv = os.getenv
local pcall, require = pcall, require

local ok_sys, lsys = pcall(require, "system")
local ok_term, lterm = pcall(require, "term")

--- Whether `file` (default `io.stderr`) is a terminal.
-- Uses luasystem's `isatty` (newer releases) or lua-term's; without either, assumes no
-- terminal (plain output is always safe).
-- @param file an io file handle
-- @treturn boolean
function M.isatty(file)
  file = file or io.stderr
  if ok_sys and lsys and lsys.isatty then
    local ok, res = pcall(lsys.isatty, file)
    if ok then return res == true end
  end
  if ok_term and lterm and lterm.isatty then
    local ok, res = pcall(lterm.isatty, file)
    return ok and res == true
  end
  return false
end

--- Whether colour may be used on `file`: only on a terminal, never when `NO_COLOR` is set
-- (to any non-empty value, as no-color.org asks) or when `TERM` is `dumb`.
-- @param file an io file handle
-- @param env optional function used instead of `os.getenv` (for tests)
-- @treturn boolean
function M.use_colour(file, env)
  env = env or os_getenv
  local nc = env("NO_COLOR")
  if nc and nc ~= "" then return false end
  if env("TERM") == "dumb" then return false end
  return M.isatty(file)
end

--- Whether a live, redrawn line may be used on `file`: a terminal whose `TERM` is not `dumb`.
-- @param file an io file handle
-- @param env optional function used instead of `os.getenv`
-- @treturn boolean
function M.live(file, env)
  env = env or os_getenv
  if env("TERM") == "dumb" then return false end
  return M.isatty(file)
end

--- Carriage return plus "clear to end of line": puts the cursor at the start of an empty line.
M.CLEAR_LINE = "\r\27[K"

local codes = { red = "31", green = "32", yellow = "33", blue = "34", dim = "2", bold = "1" }

--- A painter: `paint(colour, text)` wraps `text` in the colour's escape codes when `enabled`,
-- and returns it unchanged otherwise. Colours: red, green, yellow, blue, dim, bold.
-- @tparam boolean enabled
-- @treturn function
function M.painter(enabled)
  if not enabled then
    return function(_, text) return text end
  end
  return function(colour, text)
    local c = codes[colour]
    if not c then return text end
    return "\27[" .. c .. "m" .. text .. "\27[0m"
  end
end

--- Seconds on a monotonic clock (luasystem), or wall time where it is missing.
-- @treturn number
function M.now()
  if ok_sys and lsys then
    if lsys.monotime then return lsys.monotime() end
    if lsys.gettime then return lsys.gettime() end
  end
  return os.time()
end

--- Width of the terminal in columns: `COLUMNS` when set, else what `stty` says about the
-- controlling terminal (asked only when stderr is one), else 80.
-- @param env optional function used instead of `os.getenv`
-- @treturn integer
function M.columns(env)
  env = env or os_getenv
  local n = tonumber(env("COLUMNS") or "")
  if not n and M.isatty(io.stderr) then
    local p = io.popen("stty size </dev/tty 2>/dev/null")
    if p then
      local out = p:read("a") or ""
      p:close()
      n = tonumber(out:match("^%s*%d+%s+(%d+)"))
    end
  end
  if n and n >= 20 and n <= 1000 then return math.floor(n) end
  return 80
end

return M
