-- A loopback HTTP server that answers every request with a 400 whose error message echoes
-- the request line and headers back, as some proxies and gateways do. Run as a separate
-- process: `lua5.4 echo_server.lua PORT_FILE MAX_REQUESTS MAX_SECONDS`; it writes its port
-- to PORT_FILE and exits after MAX_REQUESTS requests or MAX_SECONDS, whichever comes first.
local socket = require "socket"
local json = require "coursegen.json"

local port_file, max_requests, max_seconds = arg[1], tonumber(arg[2]) or 10, tonumber(arg[3]) or 20

local server = require("spec.support.listener")(port_file)

local deadline = socket.gettime() + max_seconds
local served = 0
while served < max_requests and socket.gettime() < deadline do
  local c = server:accept()
  if c then
    c:settimeout(2)
    local head, length = {}, 0
    while #head < 100 do
      local line = c:receive("*l")
      if not line or line == "" then break end
      head[#head + 1] = line
      local n = line:match("^[Cc]ontent%-[Ll]ength:%s*(%d+)")
      if n then length = tonumber(n) end
    end
    if length > 0 then c:receive(math.min(length, 1024 * 1024)) end
    local body = json.encode { error = { code = 400, status = "INVALID_ARGUMENT",
      message = "Malformed request: " .. table.concat(head, " | ") } }
    c:send("HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: "
      .. #body .. "\r\n\r\n" .. body)
    c:close()
    served = served + 1
  end
end
server:close()
