--- OpenAI-compatible `chat/completions` (OpenAI, Ollama, llama.cpp, vLLM, ...).
-- Same interface as `coursegen.providers.gemini`.
-- @module coursegen.providers.openai
local json = require "coursegen.json"
local common = require "coursegen.providers.common"

local M = { name = "openai" }

local type, ipairs, concat, num = type, ipairs, table.concat, common.num

--- Defaults for this provider (see `coursegen.providers.gemini.defaults`); `base_url_env`
-- is the variable OpenAI's own SDKs read the server from.
M.defaults = {
  model = "gpt-4o-mini",
  base_url = "https://api.openai.com/v1",
  base_url_env = "OPENAI_BASE_URL",
  rpm = 500, tpm = 200000, rpd = nil,
  key_env = { "OPENAI_API_KEY" },
  key_help = "your OpenAI API key",
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
  -- The source document, then the shared part, first, each in its own message and
  -- byte-identical for the outline and every chapter: OpenAI bills a repeated prefix
  -- (1,024 tokens or more) at the cached rate.
  if req.source then messages[#messages + 1] = { role = "user", content = req.source } end
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

-- ---- batch mode (/v1/files + /v1/batches; docs/wire-caching-batch.md) ----

--- Largest input file for one batch job (the documented limit is 200 MB).
M.BATCH_LIMIT = 190 * 1000 * 1000

local STATES = {
  validating = "pending", in_progress = "running", finalizing = "running", cancelling = "running",
  completed = "succeeded", failed = "failed", expired = "expired", cancelled = "cancelled",
}

local function with_key(cfg, headers)
  if cfg.api_key and cfg.api_key ~= "" then headers[#headers + 1] = "Authorization: Bearer " .. cfg.api_key end
  return headers
end

local function url(cfg, path)
  return cfg.base_url:gsub("/+$", "") .. path
end

--- One line of the batch input file: the same body a live request sends, under its key.
-- @tparam table cfg
-- @tparam string key
-- @tparam table req
-- @treturn string
function M.batch_item(cfg, key, req)
  return '{"custom_id":' .. json.encode(key) .. ',"method":"POST","url":"/v1/chat/completions","body":'
    .. M.request(cfg, req).body .. "}"
end

--- The upload of the batch input file (multipart, `purpose=batch`).
-- @tparam table cfg
-- @tparam {string,...} items from `batch_item`
-- @treturn table `{url, method, headers, body}`
function M.batch_upload(cfg, items)
  local data = concat(items, "\n") .. "\n"
  local boundary = "coursegen-batch-boundary-7f3a9c"
  while data:find(boundary, 1, true) do boundary = boundary .. "x" end
  local body = concat {
    "--", boundary, '\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n',
    "--", boundary, '\r\nContent-Disposition: form-data; name="file"; filename="coursegen-batch.jsonl"\r\n',
    "Content-Type: application/jsonl\r\n\r\n", data, "\r\n--", boundary, "--\r\n",
  }
  return { url = url(cfg, "/files"), method = "POST", body = body,
           headers = with_key(cfg, { "Content-Type: multipart/form-data; boundary=" .. boundary }) }
end

--- The id of an uploaded file, from the upload's answer.
-- @tparam string body
-- @treturn ?string
function M.file_id(body)
  local v = json.decode(body or "")
  return type(v) == "table" and type(v.id) == "string" and v.id or nil
end

--- The request that creates a batch job from an uploaded file.
-- @tparam table cfg
-- @tparam string file_id
-- @treturn table
function M.batch_create(cfg, file_id)
  return { url = url(cfg, "/batches"), method = "POST",
           headers = with_key(cfg, { "Content-Type: application/json" }),
           body = json.encode { input_file_id = file_id, endpoint = "/v1/chat/completions",
                                completion_window = "24h" } }
end

--- The request that reads a batch job.
-- @tparam table cfg
-- @tparam string id
-- @treturn table
function M.batch_get(cfg, id)
  return { url = url(cfg, "/batches/" .. id), method = "GET", headers = with_key(cfg, {}) }
end

--- The request that cancels a batch job.
-- @tparam table cfg
-- @tparam string id
-- @treturn table
function M.batch_cancel(cfg, id)
  return { url = url(cfg, "/batches/" .. id .. "/cancel"), method = "POST",
           headers = with_key(cfg, { "Content-Type: application/json" }), body = "{}" }
end

--- The request that downloads a file's content (a batch's output or error file).
-- @tparam table cfg
-- @tparam string id
-- @treturn table
function M.file_content(cfg, id)
  return { url = url(cfg, "/files/" .. id .. "/content"), method = "GET", headers = with_key(cfg, {}) }
end

--- A batch job's answer in one shape (see `coursegen.providers.gemini.batch_parse`); the
-- results are in files: `files` lists the output and error files to download.
-- @tparam string body
-- @treturn ?table `{name, state, message, files = {id, ...}}`
function M.batch_parse(body)
  local v = json.decode(body or "")
  if type(v) ~= "table" or v.object ~= "batch" or type(v.id) ~= "string" then return nil end
  local out = { name = v.id, state = STATES[v.status] or "pending" }
  local errs = type(v.errors) == "table" and type(v.errors.data) == "table" and v.errors.data
  if errs and type(errs[1]) == "table" then out.message = tostring(errs[1].message or errs[1].code) end
  if out.state == "succeeded" then
    out.files = {}
    for _, k in ipairs { "output_file_id", "error_file_id" } do
      if type(v[k]) == "string" then out.files[#out.files + 1] = v[k] end
    end
  end
  return out
end

--- The results in an output or error file: `{{key, body = answer JSON text | nil, error}}`.
-- @tparam string text JSONL
-- @treturn {table,...}
function M.batch_results(text)
  return common.jsonl_results(text, function(v)
    if v.custom_id == nil then return nil end
    local r = { key = tostring(v.custom_id) }
    local resp = type(v.response) == "table" and v.response or nil
    if resp and resp.status_code == 200 and type(resp.body) == "table" then
      r.body = json.encode(resp.body)
    elseif resp then
      r.error = M.error_message(math.tointeger(resp.status_code) or 0, json.encode(resp.body or {}))
    else
      local e = type(v.error) == "table" and v.error or {}
      r.error = tostring(e.message or e.code or "the request failed in the batch")
    end
    return r
  end)
end

--- The message for a non-200 answer.
-- @function error_message
-- @tparam integer status
-- @tparam[opt] string body
-- @treturn string
M.error_message = common.error_message

return M
