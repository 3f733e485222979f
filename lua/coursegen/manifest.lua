--- The manifest, `course.json`: what was written, from which prompt, and the run's statistics.
-- Its `prompt_sha256` fields are what resuming compares against.
-- @module coursegen.manifest
local json = require "coursegen.json"
local files = require "coursegen.files"

local M = { _VERSION = "0.1.0" }

--- File name of the manifest inside the output folder.
M.FILE = "course.json"

--- Largest manifest read: far above 500 chapters' worth; anything bigger is not ours.
M.MAX_BYTES = 64 * 1024 * 1024

--- Manifest format number.
M.FORMAT = 1

-- Key order in the written file, so it reads like the documented shape.
local ORDER = {
  "format", "index", "title", "provider", "model", "cache", "batch", "chapters", "summary", "stats",
  "file", "status", "attempts", "finish_reason", "prompt_sha256", "sha256",
  "tokens", "error", "stages", "prompt", "output", "thoughts", "cached",
  "total", "written", "skipped", "failed", "requests", "retries", "status",
}

--- Reads a manifest; nil when missing or unreadable (a fresh run then starts).
-- @tparam string path
-- @treturn ?table
function M.read(path)
  local text = files.read(path, M.MAX_BYTES)
  if not text then return nil end
  local v = json.decode(text)
  if type(v) ~= "table" or v.format ~= M.FORMAT or type(v.chapters) ~= "table" then return nil end
  return v
end

-- A copy of plain JSON data that shares no table with `v` (json.null stays the sentinel).
local function copy(v)
  if type(v) ~= "table" or v == json.null then return v end
  local t = {}
  for k, x in pairs(v) do t[k] = copy(x) end
  return setmetatable(t, getmetatable(v))
end

--- One chapter entry, with every documented field present (`null` when unknown).
-- An entry is a value: it shares no table with `e`, and must not be changed once made
-- (`write` encodes each entry once and reuses the text); make a new one instead.
-- @tparam table e fields as in the manifest
-- @treturn table
function M.entry(e)
  local null = json.null
  return {
    index = e.index, title = e.title, file = e.file, status = e.status,
    attempts = e.attempts or 0, finish_reason = e.finish_reason or null,
    prompt_sha256 = e.prompt_sha256 or null, sha256 = e.sha256 or null,
    tokens = copy(e.tokens) or { prompt = 0, output = 0, thoughts = 0 },
    error = e.error or null, stages = copy(e.stages),
  }
end

--- A new entry: entry `e` with stage `name`'s outcome set to `stage`; without a name, `e`
-- with a stage table (empty when it had none). `e` itself is left as it is.
-- @tparam table e an entry
-- @tparam[opt] string name
-- @tparam[opt] table stage
-- @treturn table
function M.with_stage(e, name, stage)
  local fields = {}
  for k, v in pairs(e) do fields[k] = v end
  fields.stages = fields.stages or {}
  local out = M.entry(fields)
  if name ~= nil then out.stages[name] = copy(stage) end
  return out
end

-- Each entry's text as it sits in the manifest (two levels deep), wrapped for json.pretty.
-- Weak keys: an entry replaced in the run's list is dropped with its text. A run rewrites
-- the manifest after every chapter, so encoding only the new entry keeps writes O(N).
local entry_text = setmetatable({}, { __mode = "k" })

--- Writes the manifest atomically.
-- @tparam string path
-- @tparam table m `{title, provider, model, chapters, summary, stats, cache, batch}`;
--   `chapters` holds entries made by `entry` or `with_stage`; `cache` names the run's
--   cached content and `batch` its batch job, while they exist (a rerun picks them up)
function M.write(path, m)
  local chapters = json.array {}
  for i, e in ipairs(m.chapters) do
    local text = entry_text[e]
    if not text then
      text = json.raw(json.pretty_fragment(e, ORDER, 2))
      entry_text[e] = text
    end
    chapters[i] = text
  end
  local doc = {
    format = M.FORMAT, title = m.title, provider = m.provider, model = m.model,
    chapters = chapters, summary = m.summary, stats = m.stats, cache = m.cache, batch = m.batch,
  }
  files.write(path, json.pretty(doc, ORDER))
end

return M
