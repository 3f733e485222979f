--- Expected failures: raised inside as tables, returned as `nil, message, kind` at the edge.
-- Kinds: "input" (bad course, file or option: nothing was sent), "auth" (no API key),
-- "io" (a file could not be written), "request" (the outline could not be generated),
-- "limiter" (the shared limiter in Redis is unreachable or failed: the run stopped, and
-- what finished was kept), "hook" (a hook given to `generate` raised: the run stopped, and
-- what finished was kept), "busy" (another run holds the output folder's lock), "quota" (the
-- day's request quota is spent: the run stopped, what finished was kept).
-- @module coursegen.fail
local M = {}

local format, type, tostring = string.format, type, tostring

--- Raises an expected failure.
-- @tparam string kind
-- @tparam string fmt a `string.format` pattern
-- @param ... its arguments
function M.raise(kind, fmt, ...)
  error({ kind = kind, msg = select("#", ...) > 0 and format(fmt, ...) or fmt }, 0)
end

--- Whether `e` is an expected failure (a table with a message).
-- @param e an error value
-- @treturn boolean
function M.is(e)
  return type(e) == "table" and type(e.msg) == "string"
end

--- Calls `fn(...)`; returns its results, or `nil, message, kind` for an expected failure.
-- Any other error (a bug, or misuse of the API) is raised again unchanged.
-- @tparam function fn
-- @param ... arguments
function M.protect(fn, ...)
  local res = table.pack(xpcall(fn, function(e)
    if M.is(e) then return e end
    return debug.traceback(tostring(e), 2)
  end, ...))
  if res[1] then return table.unpack(res, 2, res.n) end
  local e = res[2]
  if M.is(e) then return nil, e.msg, e.kind or "input" end
  error(e, 0)
end

return M
