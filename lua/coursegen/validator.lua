--- The answer checks the pipeline uses, for anyone driving the engine directly.
--
-- An HTTP 200 is not always an answer: it can hold no text, a refusal (safety, recitation,
-- a blocked prompt) or text cut short by the output budget. `classify` names which;
-- `new` builds the engine's `validate` callback that accepts good answers and re-asks the
-- others under the engine's attempt budget and backoff, with a doubled output budget for a
-- truncated one, exactly as `coursegen generate` does.
--
-- ```lua
-- local validator = require "coursegen.validator"
-- local eng = require("coursegen.engine").new { validate = validator.new("gemini") }
-- ```
-- @module coursegen.validator
local json = require "coursegen.json"
local settings = require "coursegen.settings"

local M = {}

local type, require, format = type, require, string.format

local function provider_of(p)
  if type(p) == "table" and type(p.parse) == "function" then return p end
  if type(p) ~= "string" then
    error(format("bad argument #1 (provider name or module expected, got %s)", type(p)), 3)
  end
  local ok, mod = pcall(require, "coursegen.providers." .. p)
  if not ok then error(format("unknown provider '%s'", p), 3) end
  return mod
end

--- Classifies an answer's body.
-- @tparam string|table provider "gemini", "openai" or a provider module
-- @tparam string body the HTTP 200 body
-- @treturn table `{kind = "ok"|"empty"|"blocked"|"truncated", text, finish_reason,
--   usage = {prompt, output, thoughts}, message}` (message set when kind is not "ok")
function M.classify(provider, body)
  return provider_of(provider).parse(body or "")
end

-- Where each dialect keeps the output budget in a request body.
local function budget_slot(body)
  if type(body.generationConfig) == "table" then return body.generationConfig, "maxOutputTokens" end
  if body.max_completion_tokens then return body, "max_completion_tokens" end
  return body, "max_tokens"
end

--- The request body with its output budget doubled (capped), for a truncated answer.
-- @tparam string body the JSON request body
-- @tparam[opt] integer cap the largest budget (default 65536)
-- @treturn string|nil the new body, or nil when the body is not JSON or is at the cap
function M.larger_budget(body, cap)
  cap = cap or settings.MAX_OUTPUT_CAP
  local t = type(body) == "string" and json.decode(body)
  if type(t) ~= "table" then return nil end
  local slot, key = budget_slot(t)
  local now = type(slot[key]) == "number" and slot[key] or settings.DEFAULT_MAX_OUTPUT
  if now >= cap then return nil end
  slot[key] = settings.larger_output(now, cap)
  return json.encode(t)
end

--- An engine `validate` callback: accepts "ok" answers, re-asks the others (a truncated
-- one with a larger output budget), and reports the tokens the answer used.
-- @tparam string|table provider "gemini", "openai" or a provider module
-- @tparam[opt] table opts `{ on_answer = fn(result, parsed), body_of = fn(result) }`:
--   `on_answer` is called for every 200; `body_of` returns the JSON body the result's
--   request was sent with (the engine does not hand it back), so a truncated answer is
--   re-asked with twice the output budget; without it, with the same body
-- @treturn function `validate(result) -> ok, info`
function M.new(provider, opts)
  local p = provider_of(provider)
  opts = opts or {}
  local on_answer, body_of = opts.on_answer, opts.body_of
  return function(result)
    local parsed = p.parse(result.body or "")
    if on_answer then on_answer(result, parsed) end
    local u = parsed.usage or {}
    local used = (u.prompt or 0) + (u.output or 0) + (u.thoughts or 0)
    used = used > 0 and used or nil
    if parsed.kind == "ok" then return true, { used = used } end
    local info = { reason = parsed.kind, used = used }
    if parsed.kind == "truncated" and body_of then info.body = M.larger_budget(body_of(result)) end
    return false, info
  end
end

return M
