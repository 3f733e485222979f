-- A loopback HTTP server whose error messages quote the caller's key far into a long text,
-- and a key of its own, as a misconfigured gateway might: the first answer is a 400, the
-- second a 200 carrying an error object, and so on. Run as a separate process:
-- `lua5.4 reflect_server.lua PORT_FILE MAX_REQUESTS PAD`; it writes its port to PORT_FILE
-- and exits after MAX_REQUESTS requests or 20 seconds.
local json = require "coursegen.json"
local loopback = require "support.loopback"

local port_file, max_requests, pad = arg[1], tonumber(arg[2]) or 2, tonumber(arg[3]) or 545

-- A key in Google's shape that the caller never had.
local FOREIGN = "AIzaSyD-foreign0key0of0the0gateway0xyz"

loopback.serve(port_file, max_requests, 20, function(c, head, _, served)
  local key = ""
  for _, line in ipairs(head) do
    key = line:match("^[Xx]%-[Gg]oog%-[Aa]pi%-[Kk]ey:%s*(.-)%s*$")
      or line:match("^[Aa]uthorization:%s*Bearer%s+(.-)%s*$") or key
  end
  local body = json.encode { error = { code = 400, status = "INVALID_ARGUMENT",
    message = "Request rejected. " .. ("detail "):rep(pad // 7 + 1):sub(1, pad - 18) .. " key=" .. key
      .. " gateway=" .. FOREIGN } }
  local status = served % 2 == 1 and "400 Bad Request" or "200 OK"
  c:send("HTTP/1.1 " .. status .. "\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: "
    .. #body .. "\r\n\r\n" .. body)
end)
