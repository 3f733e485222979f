--- A batch input file through Gemini's resumable upload: a first request declares the
-- file, the server answers where its bytes go (`X-Goog-Upload-URL`), a second request
-- sends them all and ends the upload.
--
-- Trust: that address comes from a server's answer, so the API key goes there only when
-- it is on the server the user configured (same scheme, host and port); any other address
-- stops the run with an error rather than hand the key to a host nobody named.
-- @module coursegen.upload
local cache = require "coursegen.cache"
local fail = require "coursegen.fail"

local M = {}

--- Longest wait for the bytes of one file, seconds (tens of MB over a slow link).
M.BYTES_TIMEOUT_S = 600

local DEFAULT_PORT = { http = "80", https = "443" }

--- The origin of an absolute http(s) URL: `scheme://host:port`, lower-case, with the
-- scheme's default port written out; nil for anything else (a relative address, another
-- scheme, user information before the host).
-- @tparam string url
-- @treturn ?string
function M.origin(url)
  if type(url) ~= "string" then return nil end
  local scheme, authority = url:match("^(%a[%w+.-]*)://([^/?#]*)")
  scheme = scheme and scheme:lower()
  if not (scheme and DEFAULT_PORT[scheme]) or authority == "" or authority:find("@", 1, true) then return nil end
  local host, port = authority:match("^(%[[%x:.]+%])(.*)$")
  if not host then host, port = authority:match("^([^:]+)(.*)$") end
  if not host then return nil end
  if port == "" then port = DEFAULT_PORT[scheme]
  else
    port = port:match("^:(%d+)$")
    if not port then return nil end
    port = tostring(math.tointeger(tonumber(port)))
  end
  return scheme .. "://" .. host:lower() .. ":" .. port
end

--- Uploads `data` as a JSONL file. Raises a "request" failure when the server names an
-- upload address off the configured server.
-- @param run the pipeline's run (`p`, `cfg`)
-- @tparam string data the file's content
-- @tparam string display_name
-- @treturn[1] string the file's name (`files/ID`)
-- @treturn[2] nil
-- @treturn[2] ?table the engine's result that refused, if any
-- @treturn[2] ?string why, when there is no result to say it
function M.jsonl(run, data, display_name)
  local p, cfg = run.p, run.cfg
  local r, err = cache.call(run, p.upload_start(cfg, #data, display_name))
  if not (r and r.status == 200) then return nil, r, err end
  local url = r.headers and r.headers["x-goog-upload-url"]
  if type(url) ~= "string" or url == "" then
    return nil, nil, "the server's answer to the upload's start names no upload address (X-Goog-Upload-URL)"
  end
  local want = M.origin(cfg.base_url)
  if M.origin(url) ~= want then
    -- only the address's origin is named: its query may carry a session token
    fail.raise("request", "batch file upload refused: the server named an upload address on %s, not on the "
      .. "configured server %s; the API key goes only to the configured server",
      M.origin(url) or "an address coursegen cannot read", want or cfg.base_url)
  end
  r, err = cache.call(run, p.upload_bytes(cfg, url, data), M.BYTES_TIMEOUT_S)
  if not (r and r.status == 200) then return nil, r, err end
  local name = p.upload_file_name(r.body)
  if not name then return nil, nil, "the upload's answer names no file" end
  return name
end

return M
