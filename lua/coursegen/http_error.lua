--- One clear message from an HTTP error body, whatever the server's dialect.
-- Handles Gemini's `{"error":{code,message,status,details}}` and its array-wrapped variant,
-- OpenAI's `{"error":{message,type,param,code}}` (string or integer code), Ollama's
-- `{"error":"not found"}`, vLLM's flat `{"object":"error",...}`, FastAPI's `{"detail":...}`,
-- HTML pages and plain text. The server's own words are kept.
-- @module coursegen.http_error
local json = require "coursegen.json"
local textutil = require "coursegen.text"

local M = {}

local format, type, tostring, concat = string.format, type, tostring, table.concat

local function one_line(s, max)
  s = tostring(s):gsub("%s+", " "):match("^%s*(.-)%s*$")
  return textutil.shorten(s, max)
end

-- Useful extras from Gemini `details`: the reason, a quota id, a retry delay.
local function gemini_details(details)
  local bits = {}
  if type(details) ~= "table" then return bits end
  for _, d in ipairs(details) do
    if type(d) == "table" then
      local t = tostring(d["@type"] or "")
      if t:match("ErrorInfo$") and d.reason then
        bits[#bits + 1] = "reason " .. tostring(d.reason)
      elseif t:match("QuotaFailure$") and type(d.violations) == "table" then
        for _, v in ipairs(d.violations) do
          if type(v) == "table" and v.quotaId then bits[#bits + 1] = "quota " .. tostring(v.quotaId) end
        end
      elseif t:match("RetryInfo$") and d.retryDelay then
        bits[#bits + 1] = "retry in " .. tostring(d.retryDelay)
      end
    end
  end
  return bits
end

-- A field shown to people: text as it is, a number as text, anything else left out (a
-- table would print as its address).
local function text_of(v)
  if type(v) == "string" or type(v) == "number" then return tostring(v) end
  return nil
end

--- Pulls `{message, status, code, extras}` out of a decoded error value, or nil. Knows
-- the string form `{"error":"not found"}` (Ollama, many proxies), the object form
-- `{"error":{...}}` (Gemini, OpenAI, llama.cpp), the flat forms `{"object":"error",...}`
-- (vLLM) and `{"message":...}`, and FastAPI's `{"detail":...}`.
-- @param v a decoded JSON value
-- @treturn[opt] table `extras` is always a list
function M.fields(v)
  if type(v) ~= "table" then return nil end
  if v[1] ~= nil and type(v[1]) == "table" then v = v[1] end -- Gemini's OpenAI layer wraps in an array
  local e = v.error
  if type(e) == "string" then return { message = e, extras = {} } end
  if type(e) ~= "table" then
    if type(v.message) == "string" or v.object == "error" then
      e = v
    elseif type(v.detail) == "string" then
      return { message = v.detail, extras = {} }
    else
      return nil
    end
  end
  local status = text_of(e.status) or text_of(e.type)
  return {
    message = text_of(e.message),
    status = status,
    code = text_of(e.code),
    extras = gemini_details(e.details),
  }
end

-- A redirect is not followed (libcurl would resend the key to whatever host it names), so
-- the message says where it pointed: usually a base URL missing a path or `https`.
local function redirect_note(status, headers)
  if type(status) ~= "number" or status < 300 or status > 399 then return "" end
  local loc = type(headers) == "table" and headers.location
  if type(loc) ~= "string" or loc == "" then return "; a redirect without a Location" end
  return format("; redirected to %s (not followed: a redirect would carry the API key elsewhere;"
    .. " check --base-url)", one_line((loc:gsub("%c", "")), 300))
end

-- The message for an error body alone.
local function body_message(status, body)
  local head = "HTTP " .. tostring(status or "?")
  if body == nil or body:match("^%s*$") then return head .. " (empty body)" end
  local v = json.decode(body)
  local f = v ~= nil and M.fields(v)
  if f then
    local parts = { head }
    if f.status then
      parts[1] = head .. " " .. f.status
    end
    local msg = f.message and one_line(f.message, 600) or "(no message)"
    local extras = {}
    if f.code and f.code ~= tostring(status) then extras[#extras + 1] = "code " .. f.code end
    for _, x in ipairs(f.extras) do extras[#extras + 1] = x end
    local s = parts[1] .. ": " .. msg
    if #extras > 0 then s = s .. " (" .. concat(extras, ", ") .. ")" end
    return s
  end
  local title = body:match("<[Tt][Ii][Tt][Ll][Ee]>(.-)</[Tt][Ii][Tt][Ll][Ee]>")
  if title then return format("%s: %s", head, one_line(title, 200)) end
  if body:match("^%s*<") then
    local text = body:gsub("<[^>]*>", " ")
    return format("%s: %s", head, one_line(text, 200))
  end
  return format("%s: %s", head, one_line(body, 300))
end

--- The message for an HTTP answer that is not a success.
-- @tparam integer status HTTP status
-- @tparam[opt] string body the response body
-- @tparam[opt] table headers the response headers (lower-case names), for a redirect's Location
-- @treturn string e.g. `HTTP 503 UNAVAILABLE: The model is overloaded. Please try again later.`
function M.message(status, body, headers)
  return body_message(status, body) .. redirect_note(status, headers)
end

return M
