-- Reading the recorded provider bodies under spec/fixtures/providers.
local json = require "coursegen.json"

local M = {}

M.dir = "spec/fixtures/providers/"

--- The raw bytes of a fixture file.
function M.read(name)
  local f = assert(io.open(M.dir .. name, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

--- A js-genai recording's first response: status and body (its one JSON segment, re-encoded).
function M.recording(name)
  local rec = assert(json.decode(M.read("js-genai/" .. name)))
  local resp = rec.interactions[1].response
  return resp.statusCode, json.encode(resp.bodySegments[1])
end

return M
