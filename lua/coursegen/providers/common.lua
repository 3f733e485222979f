--- What every provider shares: the HTTP request's frame, the token estimate, decoding and
-- classifying an answer, error messages. Each `coursegen.providers.<name>` keeps only its
-- dialect (URL, key header, body fields, where the text and the finish reason are), so a
-- fix to the shared rules reaches every provider at once.
-- @module coursegen.providers.common
local json = require "coursegen.json"
local http_error = require "coursegen.http_error"

local M = {}

local type, tostring, tointeger = type, tostring, math.tointeger

--- A POST of a JSON body to `cfg.base_url .. path`; the key goes in a header (never the URL),
-- and no key header is sent without a key (local servers need none).
-- @tparam table cfg `{base_url, api_key}`
-- @tparam string path appended to the base URL (its trailing slashes removed)
-- @tparam string key_header the header line before the key, e.g. `"Authorization: Bearer "`
-- @tparam table body encoded as JSON
-- @treturn table `{url, method, headers, body}`
function M.post(cfg, path, key_header, body)
  local headers = { "Content-Type: application/json" }
  if cfg.api_key and cfg.api_key ~= "" then headers[#headers + 1] = key_header .. cfg.api_key end
  local base = cfg.base_url:gsub("/+$", "")
  return { url = base .. path, method = "POST", headers = headers, body = json.encode(body) }
end

--- Token estimate for the limiter: prompt bytes / 4 plus the output budget.
-- @tparam table req `{prompt, system, max_output_tokens}`
-- @treturn integer
function M.estimate(req)
  local bytes = #req.prompt + #(req.system or "") + #(req.shared or "") + #(req.source or "")
  return (bytes + 3) // 4 + (req.max_output_tokens or require("coursegen.settings").DEFAULT_MAX_OUTPUT)
end

--- The results in a batch's JSONL file: `one(object)` for each line that is a JSON object,
-- keeping what it returns (nil leaves the line out).
-- @tparam string text JSONL
-- @tparam function one
-- @treturn {table,...}
function M.jsonl_results(text, one)
  local out = {}
  for line in (text or ""):gmatch("[^\n]+") do
    local v = json.decode(line)
    if type(v) == "table" then out[#out + 1] = one(v) end
  end
  return out
end

--- A token count from an answer: an integer, else 0 (servers omit or mistype them).
-- @param v a value from the decoded answer
-- @treturn integer
function M.num(v)
  return type(v) == "number" and tointeger(v) or 0
end

--- The usage of an answer that carries none.
-- @treturn table `{prompt = 0, output = 0, thoughts = 0, cached = 0}`
function M.no_usage()
  return { prompt = 0, output = 0, thoughts = 0, cached = 0 }
end

--- Decodes a 200 answer's body.
-- @tparam string body
-- @tparam function is_error `is_error(v)`: whether the decoded value is this dialect's error object
-- @treturn[1] table the decoded answer
-- @treturn[2] nil
-- @treturn[2] table the `"empty"` result to return: not JSON, or an error object sent with a 200
function M.decode(body, is_error)
  local v, err = json.decode(body)
  if type(v) ~= "table" then
    return nil, { kind = "empty", text = "", usage = M.no_usage(),
                  message = "the answer is not valid JSON: " .. tostring(err) }
  end
  if is_error(v) then
    return nil, { kind = "empty", text = "", usage = M.no_usage(), message = http_error.message(200, body) }
  end
  return v
end

--- The result for an answer no dialect rule refused or cut: `"empty"` when it has no
-- text (blank counts as none), else `"ok"`.
-- @tparam string text
-- @tparam ?string reason the finish reason
-- @tparam table usage
-- @tparam[opt=""] string detail appended to the message (e.g. the server's finish message)
-- @treturn table
function M.text_result(text, reason, usage, detail)
  if text:match("^%s*$") then
    return { kind = "empty", text = text, finish_reason = reason, usage = usage,
             message = "no text in the answer" .. (reason and (", finish reason " .. reason) or "") .. (detail or "") }
  end
  return { kind = "ok", text = text, finish_reason = reason, usage = usage }
end

--- The message for a non-200 answer.
-- @tparam integer status
-- @tparam[opt] string body
-- @tparam[opt] table headers response headers (a redirect's Location is reported)
-- @treturn string
function M.error_message(status, body, headers)
  return http_error.message(status, body, headers)
end

return M
