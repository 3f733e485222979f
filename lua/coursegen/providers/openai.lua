--- OpenAI-compatible `chat/completions` (OpenAI, Ollama, llama.cpp, vLLM, ...).
-- Same interface as `coursegen.providers.gemini`.
-- @module coursegen.providers.openai
local json = require "coursegen.json"
local common = require "coursegen.providers.common"

local M = { _VERSION = "0.1.0", name = "openai" }

local type, ipairs, concat, num = type, ipairs, table.concat, common.num

--- Defaults for this provider.
M.defaults = {
  model = "gpt-4o-mini",
  base_url = "https://api.openai.com/v1",
  rpm = 500, tpm = 200000, rpd = nil,
  key_env = { "OPENAI_API_KEY" },
}

--- Whether a key is required: only for OpenAI's own server (local servers need none).
-- @tparam string base_url
-- @treturn boolean
function M.needs_key(base_url)
  return base_url:find("api.openai.com", 1, true) ~= nil
end

--- Builds the HTTP request for one prompt.
-- @tparam table cfg `{base_url, model, api_key}`
-- @tparam table req `{prompt, system, max_output_tokens, temperature, schema}` (`thinking_budget`
--   has no equivalent here and is ignored)
-- @treturn table `{url, method, headers, body}`; no `Authorization` header without a key
function M.request(cfg, req)
  local messages = json.array {}
  if req.system and req.system ~= "" then messages[#messages + 1] = { role = "system", content = req.system } end
  -- The shared part first, in its own message and byte-identical for every chapter: OpenAI
  -- bills a repeated prefix (1,024 tokens or more) at the cached rate.
  if req.shared then messages[#messages + 1] = { role = "user", content = req.shared } end
  messages[#messages + 1] = { role = "user", content = req.prompt }
  local body = { model = cfg.model, messages = messages }
  if req.max_output_tokens then
    -- OpenAI deprecated max_tokens for max_completion_tokens; local servers know max_tokens.
    if M.needs_key(cfg.base_url) then
      body.max_completion_tokens = req.max_output_tokens
    else
      body.max_tokens = req.max_output_tokens
    end
  end
  if req.temperature then body.temperature = req.temperature end
  if req.schema then
    body.response_format = {
      type = "json_schema",
      json_schema = { name = req.schema_name or "answer", schema = req.schema, strict = true },
    }
  end
  return common.post(cfg, "/chat/completions", "Authorization: Bearer ", body)
end

--- Token estimate for the limiter: prompt bytes / 4 plus the output budget.
-- @function estimate
-- @tparam table req
-- @treturn integer
M.estimate = common.estimate

-- An OpenAI error object, or vLLM's flat one, even when sent with a 200.
local function is_error(v)
  return v.error or v.object == "error"
end

local function content_text(c)
  if type(c) == "string" then return c end
  if type(c) == "table" then -- content parts: [{type = "text", text = ...}]
    local out = {}
    for _, p in ipairs(c) do
      if type(p) == "table" and type(p.text) == "string" then out[#out + 1] = p.text end
    end
    return concat(out)
  end
  return ""
end

--- Parses a 200 answer into one shape (see `coursegen.providers.gemini.parse`).
-- @tparam string body
-- @treturn table
function M.parse(body)
  local v, refused = common.decode(body, is_error)
  if not v then return refused end
  local u = type(v.usage) == "table" and v.usage or {}
  local details = type(u.completion_tokens_details) == "table" and u.completion_tokens_details or {}
  local thoughts = num(details.reasoning_tokens)
  -- completion_tokens includes reasoning; keep them apart so prompt + output + thoughts is the total.
  local pdetails = type(u.prompt_tokens_details) == "table" and u.prompt_tokens_details or {}
  local usage = { prompt = num(u.prompt_tokens), output = math.max(0, num(u.completion_tokens) - thoughts),
                  thoughts = thoughts, cached = num(pdetails.cached_tokens) }
  local choice = type(v.choices) == "table" and v.choices[1] or nil
  if type(choice) ~= "table" then
    return { kind = "empty", text = "", usage = usage, message = "no choices in the answer" }
  end
  local msg = type(choice.message) == "table" and choice.message or {}
  local text = content_text(msg.content)
  local reason = choice.finish_reason ~= nil and tostring(choice.finish_reason) or nil
  if type(msg.refusal) == "string" and msg.refusal ~= "" then
    return { kind = "blocked", text = text, finish_reason = reason or "refusal", usage = usage,
             message = "refused: " .. msg.refusal }
  elseif reason == "content_filter" then
    return { kind = "blocked", text = text, finish_reason = reason, usage = usage,
             message = "blocked by the content filter (content_filter)" }
  elseif reason == "length" then
    return { kind = "truncated", text = text, finish_reason = reason, usage = usage,
             message = "cut short at the output token limit (length)" }
  end
  return common.text_result(text, reason, usage)
end

--- The message for a non-200 answer.
-- @function error_message
-- @tparam integer status
-- @tparam[opt] string body
-- @treturn string
M.error_message = common.error_message

return M
