--- Small formatters shared by the progress display, the summary and the dry run.
-- @module coursegen.cli.format
local M = {}

local proc = require "coursegen.proc"

local string_format, math_floor, tostring = string.format, math.floor, tostring

--- An integer with thousands separators: 48210 → "48,210".
-- @tparam number n
-- @treturn string
function M.int(n)
  n = math_floor((n or 0) + 0.5)
  local s = tostring(n)
  local sign, digits = s:match("^(%-?)(%d+)$")
  if not digits then return s end
  local out = digits:reverse():gsub("(%d%d%d)", "%1,"):reverse():gsub("^,", "")
  return sign .. out
end

--- A count in short form: 950 → "950", 48210 → "48.2k", 3400000 → "3.4M".
-- @tparam number n
-- @treturn string
function M.short(n)
  n = n or 0
  if n < 1000 then return tostring(math_floor(n + 0.5)) end
  if n < 1e6 then return (string_format("%.1fk", n / 1e3):gsub("%.0k", "k")) end
  return (string_format("%.1fM", n / 1e6):gsub("%.0M", "M"))
end

--- A duration: 4.2 → "4.2s", 75 → "1:15", 3725 → "1:02:05".
-- @tparam number s seconds
-- @treturn string
function M.duration(s)
  s = s or 0
  if s < 0 then s = 0 end
  if s < 60 then return string_format("%.1fs", s) end
  local t = math_floor(s + 0.5)
  local h, m, sec = t // 3600, (t % 3600) // 60, t % 60
  if h > 0 then return string_format("%d:%02d:%02d", h, m, sec) end
  return string_format("%d:%02d", m, sec)
end

--- "1 chapter", "2 chapters".
-- @tparam number n
-- @tparam string word singular
-- @tparam[opt] string plural
-- @treturn string
function M.plural(n, word, plural)
  if n == 1 then return "1 " .. word end
  return M.int(n) .. " " .. (plural or word .. "s")
end

--- Quotes a string for a POSIX shell, only when it needs it.
-- @tparam string s
-- @treturn string
function M.shell_quote(s)
  s = tostring(s)
  if s ~= "" and s:match("^[%w%._/:=,%-+@%%]+$") then return s end
  return proc.quote(s)
end

--- The command line as it was typed, quoted for a shell.
-- @tparam string prog
-- @tparam table args
-- @treturn string
function M.command_line(prog, args)
  local parts = { M.shell_quote(prog) }
  for i = 1, #args do parts[#parts + 1] = M.shell_quote(args[i]) end
  return table.concat(parts, " ")
end

return M
