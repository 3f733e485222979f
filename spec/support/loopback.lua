-- The loop shared by the specs' small loopback servers (each run as its own process):
-- listen on 127.0.0.1 at a free port, publish the port in a file that appears whole, read
-- each request, answer it and close, until a count or a time is reached.
local socket = require "socket"

local M = {}

--- Serves requests one at a time.
-- @tparam string port_file where the port is written
-- @tparam integer max_requests
-- @tparam number max_seconds
-- @tparam function respond `respond(head, body)` → the whole response; `head` is the list
--   of the request's lines (request line first), `body` its body (at most 1 MiB)
function M.serve(port_file, max_requests, max_seconds, respond)
  local server = assert(socket.bind("127.0.0.1", 0))
  server:settimeout(0.2)
  local _, port = server:getsockname()
  local f = assert(io.open(port_file .. ".part", "w"))
  f:write(port, "\n")
  f:close()
  assert(os.rename(port_file .. ".part", port_file)) -- the port file appears whole or not at all
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
      local body = length > 0 and c:receive(math.min(length, 1024 * 1024)) or ""
      c:send(respond(head, body or ""))
      c:close()
      served = served + 1
    end
  end
  server:close()
end

return M
