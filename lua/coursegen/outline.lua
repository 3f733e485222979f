--- Generated outlines: the JSON schema asked for, validating the answer, and the saved file.
-- The outline is saved as `<out>/outline.json` so the user can edit it; a rerun uses it.
-- @module coursegen.outline
local json = require "coursegen.json"
local title = require "coursegen.title"
local course = require "coursegen.course"
local files = require "coursegen.files"

local M = {}

local format, type = string.format, type

--- File name of the saved outline inside the output folder.
M.FILE = "outline.json"

--- Largest saved outline read (200 chapters with long briefs take well under 1 MiB).
M.MAX_BYTES = 16 * 1024 * 1024

--- The JSON schema for an outline of exactly `n` chapters, or of 1 to `n`.
-- @tparam integer n
-- @tparam[opt] boolean at_most
-- @treturn table
function M.schema(n, at_most)
  return {
    type = "object",
    properties = {
      chapters = {
        type = "array", minItems = at_most and 1 or n, maxItems = n,
        items = {
          type = "object",
          properties = { title = { type = "string" }, brief = { type = "string" } },
          required = json.array { "title", "brief" },
          additionalProperties = false,
        },
      },
    },
    required = json.array { "chapters" },
    additionalProperties = false,
  }
end

--- Validates an outline value; returns the chapters or `nil, reason`.
-- @param v decoded JSON
-- @tparam[opt] integer n the expected count
-- @tparam[opt="outline"] string where name used in messages
-- @tparam[opt] boolean at_most `n` is a maximum, not the exact count
-- @treturn[1] {table,...} chapters `{title, brief}`
-- @treturn[2] nil
-- @treturn[2] string why it is not a usable outline
function M.check(v, n, where, at_most)
  where = where or "outline"
  if type(v) ~= "table" or type(v.chapters) ~= "table" then
    return nil, where .. ": expected an object with a \"chapters\" list"
  end
  local ok, res = pcall(course.check, { title = "outline", chapters = v.chapters }, where)
  if not ok then
    return nil, type(res) == "table" and res.msg or tostring(res)
  end
  local chapters = res.chapters
  if not chapters then
    return nil, where .. ": expected an object with a \"chapters\" list"
  end
  if n and at_most and #chapters > n then
    return nil, format("%s: expected at most %d chapters, got %d", where, n, #chapters)
  elseif n and not at_most and #chapters ~= n then
    return nil, format("%s: expected %d chapters, got %d", where, n, #chapters)
  end
  return chapters
end

--- Parses and validates the model's answer text.
-- @tparam string text
-- @tparam integer n
-- @tparam[opt] boolean at_most `n` is a maximum
-- @treturn[1] {table,...} chapters
-- @treturn[2] nil
-- @treturn[2] string reason
function M.parse(text, n, at_most)
  -- Some servers wrap JSON in a fence even when asked for JSON.
  local inner = text:match("^%s*```[%w]*%s*\n(.-)\n```%s*$") or text
  -- Titles become file names, README links and prompts: invalid UTF-8 in the answer is
  -- replaced (U+FFFD) here, once, rather than leaking into each of those.
  local v, err = json.decode(json.utf8_clean(inner))
  if v == nil then return nil, "outline: the answer is not valid JSON: " .. tostring(err) end
  -- A course file's titles with control characters are refused; a server's are cleaned:
  -- the model cannot be asked to fix them, and one stray newline should not cost a run.
  if type(v) == "table" and type(v.chapters) == "table" then
    for _, ch in ipairs(v.chapters) do
      if type(ch) == "table" then
        if type(ch.title) == "string" then ch.title = title.clean(ch.title) end
        if type(ch.brief) == "string" then ch.brief = title.clean(ch.brief) end
      end
    end
  end
  return M.check(v, n, nil, at_most)
end

--- The saved outline's JSON text.
-- @tparam {table,...} chapters
-- @treturn string
function M.encode(chapters)
  local list = json.array {}
  for i, ch in ipairs(chapters) do list[i] = { title = ch.title, brief = ch.brief or "" } end
  return json.pretty({ chapters = list }, { "chapters", "title", "brief" })
end

--- Reads a saved outline.
-- @tparam string path
-- @treturn[1] {table,...} chapters `{title, brief}`
-- @treturn[2] nil when there is no saved outline
-- @treturn[3] nil
-- @treturn[3] string why the saved outline cannot be used, naming the file
function M.load(path)
  -- an output read back: never through a link planted in the folder
  local text, err, why = files.read_output(path, M.MAX_BYTES)
  if not text then
    if why ~= "missing" then return nil, tostring(err) end
    return nil
  end
  local v, jerr = json.decode_limited(text, 8) -- {chapters: [{title, brief}]} is three levels deep
  if v == nil then return nil, format("%s: invalid JSON: %s", path, tostring(jerr)) end
  return M.check(v, nil, path)
end

return M
