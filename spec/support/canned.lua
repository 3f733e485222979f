-- Starting `canned_server.lua` from a spec: one loopback server process that answers every
-- request with the same status and body and records what it was sent.
local helpers = require "helpers"

local M = {}

local function q(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

--- Starts a server in `dir` answering `status`, `ctype`, `body` for up to `max` requests
-- (20 s at most); returns `{ url, requests = function() -> list of {request, body} }`.
function M.start(dir, status, ctype, body, max)
  local n = (M.count or 0) + 1
  M.count = n
  local port_file, body_file, record = dir .. "/canned" .. n .. ".port", dir .. "/canned" .. n .. ".body",
    dir .. "/canned" .. n .. ".jsonl"
  helpers.writefile(body_file, body)
  assert(os.execute(("cd %s && lua5.4 -e \"package.path='lua/?.lua;lua/?/init.lua;'..package.path\" "
    .. "spec/support/canned_server.lua %s %d %s %s %s %d 20 >/dev/null 2>&1 &"):format(q(helpers.root),
      q(port_file), status, q(ctype), q(body_file), q(record), max or 4)))
  local port = require("support.loopback").wait_port(port_file, "the canned server")
  return {
    url = "http://127.0.0.1:" .. port,
    requests = function()
      local json = require "coursegen.json"
      local out = {}
      for line in (helpers.readfile(record) or ""):gmatch("[^\n]+") do out[#out + 1] = json.decode(line) end
      return out
    end,
  }
end

return M
