-- A loopback Gemini-shaped server that fails on a script, written from Google's documented
-- error shapes (an `error` object with `code`, `status`, `message`, and a
-- `google.rpc.RetryInfo` detail whose `retryDelay` is a duration string like "1.5s"), not
-- from the mock's code. It serves one connection at a time and closes each, and logs
-- every request it answers as "SECONDS_SINCE_START STATUS MARKER" (MARKER: the first
-- `[tag]` in the body, or "-") so specs can check when each attempt arrived.
--
--   lua5.4 fault_server.lua PORT_FILE LOG_FILE MAX_SECONDS MODE ARG
--   MODE outage S     every request within S seconds of the first one gets 503 UNAVAILABLE
--   MODE retryinfo S  the first request tagged [lone] gets 429 with RetryInfo S seconds
--   MODE fail503 N    the first N requests tagged [lone] get 503 (no hint)
--   MODE window N     a sliding one-second window: a request that would make N+1 answered
--                     in the last second gets 429 RESOURCE_EXHAUSTED (no hint)
-- Everything else gets a 200 answer. It exits after MAX_SECONDS.
local socket = require "socket"

local port_file, log_file, max_seconds, mode, param = arg[1], arg[2], tonumber(arg[3]), arg[4], tonumber(arg[5])

local server = require("spec.support.loopback").listen(port_file)
local log = assert(io.open(log_file, "w"))
log:setvbuf("line")

local function reply(c, status, reason, body)
  c:send(("HTTP/1.1 %d %s\r\nContent-Type: application/json; charset=UTF-8\r\nConnection: close\r\n"
    .. "Content-Length: %d\r\n\r\n%s"):format(status, reason, #body, body))
end

local function ok(c, tag)
  reply(c, 200, "OK", ('{"candidates":[{"content":{"parts":[{"text":"answer to %s"}],"role":"model"},'
    .. '"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":3,'
    .. '"totalTokenCount":8}}'):format(tag))
end

local function unavailable(c)
  reply(c, 503, "Service Unavailable", '{"error":{"code":503,"message":"The model is overloaded. '
    .. 'Please try again later.","status":"UNAVAILABLE"}}')
end

local function exhausted(c, seconds)
  reply(c, 429, "Too Many Requests", ('{"error":{"code":429,"message":"Resource has been exhausted '
    .. '(e.g. check quota).","status":"RESOURCE_EXHAUSTED","details":[{"@type":'
    .. '"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"%ss"}]}}'):format(seconds))
end

local start, first = socket.gettime(), nil
local window = {} -- times of the 200s answered in the last second (window mode)
local lone_seen = 0
while socket.gettime() - start < max_seconds do
  local c = server:accept()
  if c then
    c:settimeout(2)
    local length = 0
    for _ = 1, 100 do
      local line = c:receive("*l")
      if not line or line == "" then break end
      local n = line:match("^[Cc]ontent%-[Ll]ength:%s*(%d+)")
      if n then length = tonumber(n) end
    end
    local body = length > 0 and c:receive(math.min(length, 1024 * 1024)) or ""
    local tag = (body or ""):match("%[(%w+)%]") or "-"
    local now = socket.gettime()
    first = first or now
    local status = 200
    if mode == "outage" and now - first < param then
      status = 503
      unavailable(c)
    elseif tag == "lone" and lone_seen < param and mode == "fail503" then
      status = 503
      unavailable(c)
    elseif tag == "lone" and lone_seen < 1 and mode == "retryinfo" then
      status = 429
      exhausted(c, param)
    elseif mode == "window" then
      while window[1] and window[1] <= now - 1 do table.remove(window, 1) end
      if #window >= param then
        status = 429
        reply(c, 429, "Too Many Requests", '{"error":{"code":429,"message":"Resource has been exhausted '
          .. '(e.g. check quota).","status":"RESOURCE_EXHAUSTED"}}')
      else
        window[#window + 1] = now
        ok(c, tag)
      end
    else
      ok(c, tag)
    end
    if tag == "lone" then lone_seen = lone_seen + 1 end
    log:write(("%.4f %d %s\n"):format(now - first, status, tag))
    c:close()
  end
end
log:close()
server:close()
