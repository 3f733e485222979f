--- The manifest, `course.json`: what was written, from which prompt, by which model and
-- server, and the run's statistics. Its `prompt_sha256` fields are what resuming compares
-- against; its `sha256` fields tell a chapter coursegen wrote from one edited by hand.
-- A chapter is recorded as "writing" (with the hash of the text about to be written, and
-- `replaces`, the hash of the file it replaces) before its file is written, so a run killed
-- between the two leaves a manifest that recognises the finished file.
-- @module coursegen.manifest
local json = require "coursegen.json"
local fail = require "coursegen.fail"
local files = require "coursegen.files"

local M = {}

--- File name of the manifest inside the output folder.
M.FILE = "course.json"

--- Largest manifest read: far above 500 chapters' worth; anything bigger is not ours.
M.MAX_BYTES = 64 * 1024 * 1024

--- Manifest format number.
M.FORMAT = 1

-- Key order in the written file, so it reads like the documented shape.
local ORDER = {
  "format", "index", "title", "description", "language", "audience", "author", "provider", "model",
  "server", "cache", "batch", "chapters", "summary", "stats",
  "file", "status", "attempts", "finish_reason", "prompt_sha256", "sha256", "replaces",
  "tokens", "error", "stages", "prompt", "output", "thoughts", "cached",
  "total", "written", "skipped", "failed", "requests", "retries", "status",
}

--- Deepest nesting in a manifest: an entry's stage's tokens sit five levels down.
M.MAX_DEPTH = 16

--- Reads a manifest; nil when missing or not a manifest (a fresh run then starts). A file
-- too large or nested too deeply to be one raises an "input" failure naming it: it is not
-- coursegen's, and reading it would cost the memory or stack of the whole run.
-- @tparam string path
-- @treturn ?table
function M.read(path)
  local text, err, why = files.read_output(path, M.MAX_BYTES)
  if not text then
    if why == "too large" then fail.raise("input", "%s; not a coursegen manifest", err) end
    return nil
  end
  local v, jerr = json.decode_limited(text, M.MAX_DEPTH)
  if v == nil and tostring(jerr):find("too many nested", 1, true) then
    fail.raise("input", "%s: nested more than %d levels deep; not a coursegen manifest (move it away, or "
      .. "choose another --out)", path, M.MAX_DEPTH)
  end
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
    error = e.error or null, stages = copy(e.stages), replaces = e.replaces,
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
-- @tparam table m `{title, description, language, audience, author, provider, model, server,
--   chapters, summary, stats, cache, batch}` (what the exports need to know of the course: its
--   language, its author; what wrote it); `chapters` holds entries made by `entry` or
--   `with_stage`; `cache` names the run's cached content and `batch` its batch job, while they
--   exist (a rerun picks them up)
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
    format = M.FORMAT, title = m.title, description = m.description, language = m.language,
    audience = m.audience, author = m.author, provider = m.provider, model = m.model, server = m.server,
    chapters = chapters, summary = m.summary, stats = m.stats, cache = m.cache, batch = m.batch,
  }
  files.write(path, json.pretty(doc, ORDER))
end

return M
