-- The listening side of a spec's own server process: binds a loopback port chosen by the
-- system and publishes it in PORT_FILE, which appears whole or not at all.
local socket = require "socket"

return function(port_file)
  local server = assert(socket.bind("127.0.0.1", 0, 64))
  server:settimeout(0.2)
  local _, port = server:getsockname()
  local f = assert(io.open(port_file .. ".part", "w"))
  f:write(port, "\n")
  f:close()
  assert(os.rename(port_file .. ".part", port_file))
  return server
end
