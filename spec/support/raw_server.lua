-- A loopback HTTP server that answers every request with the same bytes, read from a file:
-- for answers no well-behaved server sends (a redirect, a header of a megabyte). Run as a
-- separate process: `lua5.4 raw_server.lua PORT_FILE RESPONSE_FILE MAX_REQUESTS`; it writes
-- its port to PORT_FILE and exits after MAX_REQUESTS requests or 20 seconds.
local loopback = require "support.loopback"

local port_file, response_file, max_requests = arg[1], arg[2], tonumber(arg[3]) or 1
local f = assert(io.open(response_file, "rb"))
local response = f:read("a")
f:close()

loopback.serve(port_file, max_requests, 20, function(c) c:send(response) end)
