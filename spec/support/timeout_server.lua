-- A loopback Gemini-shaped server whose answers take their time, for the timeout specs.
-- Written from HTTP/1.1 itself (a status line, headers, a Content-Length body), not from
-- the mock's code. One connection at a time; each request N gets the N-th step of SCRIPT
-- (the last step repeats), and is logged as "SECONDS_SINCE_START STEP".
--
--   lua5.4 timeout_server.lua PORT_FILE LOG_FILE MAX_SECONDS SCRIPT
--   SCRIPT: comma-separated steps
--     ok          answers at once
--     think:S     sends nothing for S seconds (a model thinking), then the whole answer
--     stall:S     sends the headers and half the body, then nothing until the client hangs
--                 up or S seconds pass, then the rest
--     trickle:S   sends the headers, then one byte of leading whitespace every 0.2 s for
--                 S seconds (bytes keep flowing), then the answer
--     busy        answers 503 UNAVAILABLE at once (Google's shape of an overloaded model)
local socket = require "socket"
local loopback = require "spec.support.loopback"

local port_file, log_file, max_seconds, script = arg[1], arg[2], tonumber(arg[3]), arg[4]

local steps = {}
for step in script:gmatch("[^,]+") do steps[#steps + 1] = step end

local log = assert(io.open(log_file, "w"))
log:setvbuf("line")
local start = socket.gettime()

local BODY = '{"candidates":[{"content":{"parts":[{"text":"a considered answer"}],"role":"model"},'
  .. '"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":3,'
  .. '"totalTokenCount":8}}'

local function head(length)
  return ("HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=UTF-8\r\nConnection: close\r\n"
    .. "Content-Length: %d\r\n\r\n"):format(length)
end

-- Waits until the client hangs up or `seconds` pass; true when it hung up.
local function hung_up(c, seconds)
  c:settimeout(seconds)
  local _, err = c:receive(1)
  return err == "closed"
end

loopback.serve(port_file, 100, max_seconds, function(c, _, _, n)
  local step = steps[math.min(n, #steps)]
  local kind, arg_s = step:match("^(%a+):?([%d.]*)$")
  local seconds = tonumber(arg_s) or 0
  log:write(("%.3f %s\n"):format(socket.gettime() - start, step))
  if kind == "think" then
    if not hung_up(c, seconds) then c:send(head(#BODY) .. BODY) end
  elseif kind == "stall" then
    local half = #BODY // 2
    c:send(head(#BODY) .. BODY:sub(1, half))
    if not hung_up(c, seconds) then c:send(BODY:sub(half + 1)) end
  elseif kind == "trickle" then
    local pad = math.floor(seconds / 0.2)
    c:send(head(pad + #BODY))
    for _ = 1, pad do
      if not c:send(" ") then return end
      socket.sleep(0.2)
    end
    c:send(BODY)
  elseif kind == "busy" then
    local err = '{"error":{"code":503,"message":"The model is overloaded. Please try again later.",'
      .. '"status":"UNAVAILABLE"}}'
    c:send(("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json; charset=UTF-8\r\n"
      .. "Connection: close\r\nContent-Length: %d\r\n\r\n%s"):format(#err, err))
  else
    c:send(head(#BODY) .. BODY)
  end
end)
log:close()
