-- A loopback HTTP server that answers every request with the same bytes, read from a file:
-- for answers no well-behaved server sends (a redirect, a header of a megabyte). Run as a
-- separate process: `lua5.4 raw_server.lua PORT_FILE RESPONSE_FILE MAX_REQUESTS`; it writes
-- its port to PORT_FILE and exits after MAX_REQUESTS requests or 20 seconds.
local socket = require "socket"

local port_file, response_file, max_requests = arg[1], arg[2], tonumber(arg[3]) or 1
local f = assert(io.open(response_file, "rb"))
local response = f:read("a")
f:close()

local server = assert(socket.bind("127.0.0.1", 0))
server:settimeout(0.2)
local _, port = server:getsockname()
f = assert(io.open(port_file .. ".part", "w"))
f:write(port, "\n")
f:close()
assert(os.rename(port_file .. ".part", port_file))

local deadline = socket.gettime() + 20
local served = 0
while served < max_requests and socket.gettime() < deadline do
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
    if length > 0 then c:receive(math.min(length, 1024 * 1024)) end
    c:send(response)
    c:close()
    served = served + 1
  end
end
server:close()
