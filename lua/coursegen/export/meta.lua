--- Metadata files for pandoc, safe for any title.
--
-- pandoc reads metadata values as Markdown, so a title like `C * pointers *` would turn
-- into emphasis. Every string is escaped here (each ASCII punctuation character gets a
-- backslash) and the file is written as JSON, which pandoc's YAML reader accepts, so no
-- value can change the document's structure.
-- @module coursegen.export.meta
local M = {}

local cjson = require "cjson"
local fsutil = require "coursegen.export.fsutil"
local type, pairs, error = type, pairs, error

--- Escape a string so pandoc's Markdown reader keeps it literally.
-- @tparam string s
-- @treturn string
function M.escape(s)
  if type(s) ~= "string" then error("argument 1 expected a 'string'", 2) end
  s = s:gsub("[%c]+", " ")
  return (s:gsub("%p", "\\%0"))
end

local function escape_all(v)
  if type(v) == "string" then return M.escape(v) end
  if type(v) ~= "table" then return v end
  local out = {}
  for k, x in pairs(v) do out[k] = escape_all(x) end
  return out
end

--- Encode a metadata table as pandoc metadata (JSON), escaping every string value.
-- Booleans stay booleans (template conditionals); lists must be Lua sequences.
-- @tparam table t
-- @treturn string
function M.encode(t)
  if type(t) ~= "table" then error("argument 1 expected a 'table'", 2) end
  return cjson.encode(escape_all(t))
end

--- Write a metadata file for `--metadata-file`.
-- @tparam string path
-- @tparam table t
-- @treturn boolean|nil true
-- @treturn string error
function M.write(path, t)
  return fsutil.write(path, M.encode(t))
end

return M
