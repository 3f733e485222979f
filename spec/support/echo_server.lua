-- A loopback HTTP server that answers every request with a 400 whose error message echoes
-- the request line and headers back, as some proxies and gateways do. Run as a separate
-- process: `lua5.4 echo_server.lua PORT_FILE MAX_REQUESTS MAX_SECONDS`; it writes its port
-- to PORT_FILE and exits after MAX_REQUESTS requests or MAX_SECONDS, whichever comes first.
local json = require "coursegen.json"
local loopback = require "support.loopback"

local port_file, max_requests, max_seconds = arg[1], tonumber(arg[2]) or 10, tonumber(arg[3]) or 20

loopback.serve(port_file, max_requests, max_seconds, function(c, head)
  local body = json.encode { error = { code = 400, status = "INVALID_ARGUMENT",
    message = "Malformed request: " .. table.concat(head, " | ") } }
  c:send("HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: "
    .. #body .. "\r\n\r\n" .. body)
end)
