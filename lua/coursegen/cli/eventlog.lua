--- `--log-file FILE`: every event of a run (attempts with their statuses and waits,
-- chapters, stages, the outline, the summary, warnings) appended to FILE as one JSON object
-- per line, for scripts and for a post-mortem. The progress ticks (four a second) are left
-- out; the final statistics close the run. Each line carries `time` (UTC, ISO 8601) and
-- `elapsed_s`. No secret is written: the events carry messages the pipeline has already
-- masked the key in, and the server's URL loses its user-info.
-- @module coursegen.cli.eventlog
local M = {}

local json = require "coursegen.json"

local Log = {}
Log.__index = Log

local function now_iso()
  return os.date("!%Y-%m-%dT%H:%M:%SZ")
end

--- Opens the log (appending) before anything is sent.
-- @tparam string path
-- @tparam table s settled settings (the provider, model and server to record)
-- @tparam[opt] function clock seconds, monotonic (default luasystem's `monotime`)
-- @treturn table|nil the log, or nil and a message naming the option
function M.open(path, s, clock)
  local f, err = io.open(path, "ab")
  if not f then return nil, "--log-file: cannot write " .. tostring(err) end
  f:setvbuf("line")
  local self = setmetatable({ f = f, clock = clock or require("system").monotime }, Log)
  self.started = self.clock()
  self:write { type = "start", provider = s.provider, model = s.model,
               base_url = (tostring(s.base_url):gsub("//[^/@]*@", "//")), out = s.out }
  return self
end

--- Appends one event.
-- @tparam table ev
function Log:write(ev)
  if not self.f or ev.type == "tick" then return end
  local rec = { time = now_iso(), elapsed_s = self.clock() - self.started }
  for k, v in pairs(ev) do
    if type(v) ~= "function" then rec[k] = v end
  end
  local ok, line = pcall(json.encode, rec)
  if not ok then line = json.encode { time = rec.time, type = tostring(ev.type), note = "event not encodable" } end
  self.f:write(line, "\n")
end

--- An `on_event` handler that logs each event, then passes it on.
-- @tparam[opt] function next_handler
-- @treturn function
function Log:handler(next_handler)
  return function(ev)
    self:write(ev)
    if next_handler then return next_handler(ev) end
  end
end

--- Writes the closing record (the run's statistics, or the error) and closes the file.
-- @tparam[opt] table stats
-- @tparam[opt] string err
function Log:close(stats, err)
  if not self.f then return end
  self:write { type = "finish", stats = stats, error = err }
  self.f:close()
  self.f = nil
end

return M
