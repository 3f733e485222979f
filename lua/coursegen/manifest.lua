--- The manifest, `course.json`: what was written, from which prompt, and the run's statistics.
-- Its `prompt_sha256` fields are what resuming compares against.
-- @module coursegen.manifest
local json = require "coursegen.json"
local files = require "coursegen.files"

local M = { _VERSION = "0.1.0" }

--- File name of the manifest inside the output folder.
M.FILE = "course.json"

--- Manifest format number.
M.FORMAT = 1

-- Key order in the written file, so it reads like the documented shape.
local ORDER = {
  "format", "index", "title", "provider", "model", "chapters", "summary", "stats",
  "file", "status", "attempts", "finish_reason", "prompt_sha256", "sha256",
  "tokens", "error", "stages", "prompt", "output", "thoughts",
  "total", "written", "skipped", "failed", "requests", "retries", "status",
}

--- Reads a manifest; nil when missing or unreadable (a fresh run then starts).
-- @tparam string path
-- @treturn ?table
function M.read(path)
  local text = files.read(path)
  if not text then return nil end
  local v = json.decode(text)
  if type(v) ~= "table" or v.format ~= M.FORMAT or type(v.chapters) ~= "table" then return nil end
  return v
end

--- One chapter entry, with every documented field present (`null` when unknown).
-- @tparam table e fields as in the manifest
-- @treturn table
function M.entry(e)
  local null = json.null
  return {
    index = e.index, title = e.title, file = e.file, status = e.status,
    attempts = e.attempts or 0, finish_reason = e.finish_reason or null,
    prompt_sha256 = e.prompt_sha256 or null, sha256 = e.sha256 or null,
    tokens = e.tokens or { prompt = 0, output = 0, thoughts = 0 },
    error = e.error or null, stages = e.stages,
  }
end

--- Writes the manifest atomically.
-- @tparam string path
-- @tparam table m `{title, provider, model, chapters, summary, stats}`
function M.write(path, m)
  local chapters = json.array {}
  for i, e in ipairs(m.chapters) do chapters[i] = e end
  local doc = {
    format = M.FORMAT, title = m.title, provider = m.provider, model = m.model,
    chapters = chapters, summary = m.summary, stats = m.stats,
  }
  files.write(path, json.pretty(doc, ORDER))
end

return M
