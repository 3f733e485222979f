-- A loopback HTTP server that answers every request with the same status, content type and
-- body, and appends each request (its request line and body, one JSON object a line) to a
-- record file: for the error-body shapes of real servers (Ollama's string error, OpenAI's
-- object, a proxy's plain text or HTML page) and for checking what a client sent.
-- Run as a separate process:
--   lua5.4 canned_server.lua PORT_FILE STATUS CONTENT_TYPE BODY_FILE RECORD_FILE MAX_REQUESTS MAX_SECONDS
-- It writes its port to PORT_FILE and exits after MAX_REQUESTS requests or MAX_SECONDS.
local json = require "coursegen.json"

local port_file, status, ctype, body_file, record_file = arg[1], tonumber(arg[2]), arg[3], arg[4], arg[5]
local max_requests, max_seconds = tonumber(arg[6]) or 10, tonumber(arg[7]) or 20

local f = assert(io.open(body_file, "rb"))
local answer = f:read("a")
f:close()

local REASONS = { [200] = "OK", [400] = "Bad Request", [401] = "Unauthorized", [404] = "Not Found",
                  [500] = "Internal Server Error", [502] = "Bad Gateway", [503] = "Service Unavailable" }

dofile((arg[0]:match("^(.*)/[^/]*$") or ".") .. "/loopback.lua").serve(port_file, max_requests, max_seconds,
  function(c, head, body)
    local rec = assert(io.open(record_file, "ab"))
    rec:write(json.encode { request = head[1] or "", body = body }, "\n")
    rec:close()
    c:send(string.format("HTTP/1.1 %d %s\r\nContent-Type: %s\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s",
      status, REASONS[status] or "Status", ctype, #answer, answer))
  end)
