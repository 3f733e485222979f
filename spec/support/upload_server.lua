-- A loopback server for Gemini's resumable upload, written from Google's Files API and
-- Batch API pages (not from the mock): the start request (`X-Goog-Upload-Command: start`)
-- is answered with an `X-Goog-Upload-URL` header, the `upload, finalize` request with the
-- file (`{"file": {"name": "files/..."}}`). Each request (its request line, headers and
-- body) is appended to RECORD_FILE, one JSON object a line.
-- Run as a separate process:
--   lua5.4 upload_server.lua PORT_FILE RECORD_FILE UPLOAD_ORIGIN MAX_SECONDS
-- UPLOAD_ORIGIN is the scheme://host:port the upload address names ("self": this server).
local json = require "coursegen.json"
local socket = require "socket"

local port_file, record_file, upload_origin, max_seconds = arg[1], arg[2], arg[3], tonumber(arg[4]) or 20

local server = dofile((arg[0]:match("^(.*)/[^/]*$") or ".") .. "/loopback.lua").listen(port_file)
local _, port = server:getsockname()
if upload_origin == "self" then upload_origin = "http://127.0.0.1:" .. port end

local function reply(c, status, headers, body)
  c:send(("HTTP/1.1 %d %s\r\n%sContent-Length: %d\r\nConnection: close\r\n\r\n%s"):format(status,
    status == 200 and "OK" or "Bad Request", headers, #body, body))
end

local deadline = socket.gettime() + max_seconds
while socket.gettime() < deadline do
  local c = server:accept()
  if c then
    c:settimeout(5)
    local line = c:receive("*l") or ""
    local headers = {}
    while true do
      local h = c:receive("*l")
      if not h or h == "" then break end
      local k, v = h:match("^([^:]+):%s*(.-)%s*$")
      if k then headers[k:lower()] = v end
    end
    local length = tonumber(headers["content-length"] or "0") or 0
    local body = length > 0 and c:receive(length) or ""
    local rec = assert(io.open(record_file, "ab"))
    rec:write(json.encode { request = line, headers = headers, body = body }, "\n")
    rec:close()
    local cmd = headers["x-goog-upload-command"]
    if line:match("^POST /upload/v1beta/files ") and cmd == "start" then
      reply(c, 200, ("X-Goog-Upload-URL: %s/upload/v1beta/files?upload_id=ABC-123&upload_protocol=resumable\r\n"
        .. "X-Goog-Upload-Status: active\r\n"):format(upload_origin), "")
    elseif line:match("^POST /upload/v1beta/files%?upload_id=ABC%-123") and cmd == "upload, finalize"
      and headers["x-goog-upload-offset"] == "0" then
      reply(c, 200, "Content-Type: application/json; charset=UTF-8\r\n", json.encode { file = {
        name = "files/abc-123", displayName = "coursegen", mimeType = "application/jsonl",
        sizeBytes = tostring(#body), state = "ACTIVE", source = "UPLOADED",
        uri = upload_origin .. "/v1beta/files/abc-123" } })
    else
      reply(c, 400, "Content-Type: application/json\r\n",
        '{"error":{"code":400,"message":"unexpected request","status":"INVALID_ARGUMENT"}}')
    end
    c:close()
  end
end
server:close()
