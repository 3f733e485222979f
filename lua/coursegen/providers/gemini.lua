--- The Gemini API (native REST, `generateContent`).
-- Same interface as `coursegen.providers.openai`: `defaults`, `request`, `parse`,
-- `error_message`, `estimate`, `needs_key`.
-- @module coursegen.providers.gemini
local json = require "coursegen.json"
local http_error = require "coursegen.http_error"

local M = { _VERSION = "0.1.0", name = "gemini" }

local type, ipairs, concat = type, ipairs, table.concat

--- Defaults for this provider.
M.defaults = {
  model = "gemini-2.5-flash",
  base_url = "https://generativelanguage.googleapis.com",
  rpm = 1000, tpm = 1000000, rpd = 10000,
  key_env = { "GEMINI_API_KEY", "GOOGLE_API_KEY" },
}

-- Finish reasons that mean the model (or a filter) refused to produce the text.
local BLOCKED = {
  SAFETY = true, RECITATION = true, PROHIBITED_CONTENT = true, BLOCKLIST = true, SPII = true,
  LANGUAGE = true, IMAGE_SAFETY = true, IMAGE_PROHIBITED_CONTENT = true, IMAGE_RECITATION = true,
}

--- Whether a key is required: only for Google's own server (local mocks and proxies may not need one).
-- @tparam string base_url
-- @treturn boolean
function M.needs_key(base_url)
  return base_url:find("googleapis.com", 1, true) ~= nil
end

--- Builds the HTTP request for one prompt.
-- @tparam table cfg `{base_url, model, api_key}`
-- @tparam table req `{prompt, system, max_output_tokens, temperature, thinking_budget, schema}`
-- @treturn table `{url, method, headers, body}` (the key is in a header, never in the URL)
function M.request(cfg, req)
  local gen = {}
  if req.max_output_tokens then gen.maxOutputTokens = req.max_output_tokens end
  if req.temperature then gen.temperature = req.temperature end
  if req.thinking_budget then gen.thinkingConfig = { thinkingBudget = req.thinking_budget } end
  if req.schema then
    gen.responseMimeType = "application/json"
    gen.responseJsonSchema = req.schema
  end
  local body = {
    contents = json.array { { role = "user", parts = json.array { { text = req.prompt } } } },
    generationConfig = gen,
  }
  if req.system and req.system ~= "" then
    body.systemInstruction = { role = "user", parts = json.array { { text = req.system } } }
  end
  local headers = { "Content-Type: application/json" }
  if cfg.api_key and cfg.api_key ~= "" then headers[#headers + 1] = "x-goog-api-key: " .. cfg.api_key end
  local base = cfg.base_url:gsub("/+$", "")
  return {
    url = base .. "/v1beta/models/" .. cfg.model .. ":generateContent",
    method = "POST",
    headers = headers,
    body = json.encode(body),
  }
end

--- Token estimate for the limiter: prompt bytes / 4 plus the output budget.
-- @tparam table req as for `request`
-- @treturn integer
function M.estimate(req)
  local bytes = #req.prompt + #(req.system or "")
  return (bytes + 3) // 4 + (req.max_output_tokens or 8192)
end

local function num(v)
  return type(v) == "number" and math.tointeger(v) or 0
end

--- Parses a 200 answer into one shape.
-- @tparam string body
-- @treturn table `{kind = "ok"|"empty"|"blocked"|"truncated", text, finish_reason,
--   usage = {prompt, output, thoughts}, message}`
function M.parse(body)
  local v, err = json.decode(body)
  local usage = { prompt = 0, output = 0, thoughts = 0 }
  if type(v) ~= "table" then
    return { kind = "empty", text = "", usage = usage, message = "the answer is not valid JSON: " .. tostring(err) }
  end
  if v.error then
    return { kind = "empty", text = "", usage = usage, message = http_error.message(200, body) }
  end
  local u = type(v.usageMetadata) == "table" and v.usageMetadata or {}
  usage = { prompt = num(u.promptTokenCount), output = num(u.candidatesTokenCount),
            thoughts = num(u.thoughtsTokenCount) }
  local cand = type(v.candidates) == "table" and v.candidates[1] or nil
  local pf = type(v.promptFeedback) == "table" and v.promptFeedback or nil
  if type(cand) ~= "table" then
    if pf and (pf.blockReason or pf.blockReasonMessage) then
      local reason = tostring(pf.blockReason or "BLOCKED_REASON_UNSPECIFIED")
      local msg = "prompt blocked: " .. reason
      if pf.blockReasonMessage then msg = msg .. ": " .. tostring(pf.blockReasonMessage) end
      return { kind = "blocked", text = "", finish_reason = reason, usage = usage, message = msg }
    end
    return { kind = "empty", text = "", usage = usage, message = "no candidates in the answer" }
  end
  local texts = {}
  local content = type(cand.content) == "table" and cand.content or {}
  for _, p in ipairs(type(content.parts) == "table" and content.parts or {}) do
    if type(p) == "table" and not p.thought and type(p.text) == "string" then texts[#texts + 1] = p.text end
  end
  local text = concat(texts)
  local reason = cand.finishReason ~= nil and tostring(cand.finishReason) or nil
  local detail = cand.finishMessage and (": " .. tostring(cand.finishMessage)) or ""
  if reason and BLOCKED[reason] then
    return { kind = "blocked", text = text, finish_reason = reason, usage = usage,
             message = "blocked, finish reason " .. reason .. detail }
  elseif reason == "MAX_TOKENS" then
    return { kind = "truncated", text = text, finish_reason = reason, usage = usage,
             message = "cut short at the output token limit (MAX_TOKENS)" .. detail }
  elseif text:match("^%s*$") then
    return { kind = "empty", text = text, finish_reason = reason, usage = usage,
             message = "no text in the answer" .. (reason and (", finish reason " .. reason) or "") .. detail }
  end
  return { kind = "ok", text = text, finish_reason = reason, usage = usage }
end

--- The message for a non-200 answer.
-- @tparam integer status
-- @tparam[opt] string body
-- @treturn string
function M.error_message(status, body)
  return http_error.message(status, body)
end

return M
