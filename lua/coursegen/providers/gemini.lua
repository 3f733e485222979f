--- The Gemini API (native REST, `generateContent`).
-- Same interface as `coursegen.providers.openai`: `defaults`, `request`, `parse`,
-- `error_message`, `estimate`, `needs_key`.
-- @module coursegen.providers.gemini
local json = require "coursegen.json"
local common = require "coursegen.providers.common"

local M = { name = "gemini" }

local type, ipairs, concat, num = type, ipairs, table.concat, common.num

--- Defaults for this provider (`coursegen.settings` applies them): the model, the server,
-- the limits of Google's paid tier 1, the variables holding the key (in order), and what
-- the key is, for messages.
M.defaults = {
  model = "gemini-2.5-flash",
  base_url = "https://generativelanguage.googleapis.com",
  rpm = 1000, tpm = 1000000, rpd = 10000,
  key_env = { "GEMINI_API_KEY", "GOOGLE_API_KEY" },
  key_help = "your Gemini API key",
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

--- The system instruction as Gemini takes it.
-- @tparam string system
-- @treturn table
function M.system_instruction(system)
  return { role = "user", parts = json.array { { text = system } } }
end

local function user_turn(text)
  return { role = "user", parts = json.array { { text = text } } }
end

--- The `contents` of a request: the source document's part first, then the shared part
-- (each its own user turn, byte-identical for every chapter, so the implicit prefix cache
-- can serve them), then the prompt. A request naming a cached content (`req.cached`) leaves
-- out what the cache holds: the source always, the shared part when `req.cached_shared`.
-- @tparam table req
-- @treturn table JSON array
function M.contents(req)
  local c = json.array {}
  if req.source and not req.cached then c[#c + 1] = user_turn(req.source) end
  if req.shared and not (req.cached and (req.cached_shared or not req.source)) then
    c[#c + 1] = user_turn(req.shared)
  end
  c[#c + 1] = user_turn(req.prompt)
  return c
end

--- Builds the HTTP request for one prompt.
-- @tparam table cfg `{base_url, model, api_key}`
-- @tparam table req `{prompt, source, shared, cached, cached_shared, system, max_output_tokens,
--   temperature, thinking_budget, schema}`: `source`, then `shared`, go first; `cached` names a
--   cached content (`cachedContents/ID`) holding `system`, `source` and (`cached_shared`) `shared`
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
  local body = { contents = M.contents(req), generationConfig = gen }
  if req.cached then
    -- The cached content holds the system instruction and the shared part; Gemini
    -- refuses a request that names a cache and sends its own system instruction.
    body.cachedContent = req.cached
  elseif req.system and req.system ~= "" then
    body.systemInstruction = M.system_instruction(req.system)
  end
  return common.post(cfg, "/v1beta/models/" .. cfg.model .. ":generateContent", "x-goog-api-key: ", body)
end

--- Token estimate for the limiter: prompt bytes / 4 plus the output budget.
-- @function estimate
-- @tparam table req as for `request`
-- @treturn integer
M.estimate = common.estimate

-- A Gemini error object, even when sent with a 200.
local function is_error(v)
  return v.error
end

--- Parses a 200 answer into one shape.
-- @tparam string body
-- @treturn table `{kind = "ok"|"empty"|"blocked"|"truncated", text, finish_reason,
--   usage = {prompt, output, thoughts}, message}`
function M.parse(body)
  local v, refused = common.decode(body, is_error)
  if not v then return refused end
  local u = type(v.usageMetadata) == "table" and v.usageMetadata or {}
  -- promptTokenCount includes the cached tokens; cachedContentTokenCount says how many
  -- of them were served from a cache (explicit or implicit), billed at the cached rate.
  local usage = { prompt = num(u.promptTokenCount), output = num(u.candidatesTokenCount),
                  thoughts = num(u.thoughtsTokenCount), cached = num(u.cachedContentTokenCount) }
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
  end
  return common.text_result(text, reason, usage, detail)
end

-- ---- explicit context caching (cachedContents; shapes in docs/wire-caching-batch.md) ----

--- The smallest cached content the model takes, in tokens (documented minimums: Pro
-- models 4,096, the Flash models 1,024).
-- @tparam string model
-- @treturn integer
function M.cache_min_tokens(model)
  return model:find("pro", 1, true) and 4096 or 1024
end

local function cache_url(cfg, name)
  return cfg.base_url:gsub("/+$", "") .. "/v1beta/" .. name
end

local function key_headers(cfg)
  local h = { "Content-Type: application/json" }
  if cfg.api_key and cfg.api_key ~= "" then h[#h + 1] = "x-goog-api-key: " .. cfg.api_key end
  return h
end

--- The request that creates a cached content holding `req.system`, `req.source` and
-- `req.shared` (those it has).
-- @tparam table cfg `{base_url, model, api_key}`
-- @tparam table req a chapter request (`system`, `shared`)
-- @tparam number ttl_s seconds it lives unless renewed or deleted
-- @treturn table `{url, method, headers, body}`
function M.cache_create(cfg, req, ttl_s)
  local body = {
    model = "models/" .. cfg.model, ttl = string.format("%ds", math.ceil(ttl_s)),
    displayName = "coursegen", contents = json.array {},
  }
  if req.source then body.contents[#body.contents + 1] = user_turn(req.source) end
  if req.shared then body.contents[#body.contents + 1] = user_turn(req.shared) end
  if req.system and req.system ~= "" then body.systemInstruction = M.system_instruction(req.system) end
  return common.post(cfg, "/v1beta/cachedContents", "x-goog-api-key: ", body)
end

--- The request that sets a cached content's TTL anew (from now).
-- @tparam table cfg
-- @tparam string name `cachedContents/ID`
-- @tparam number ttl_s
-- @treturn table
function M.cache_renew(cfg, name, ttl_s)
  return { url = cache_url(cfg, name), method = "PATCH", headers = key_headers(cfg),
           body = json.encode { ttl = string.format("%ds", math.ceil(ttl_s)) } }
end

--- The request that reads a cached content (is it still there?).
-- @tparam table cfg
-- @tparam string name
-- @treturn table
function M.cache_get(cfg, name)
  return { url = cache_url(cfg, name), method = "GET", headers = key_headers(cfg) }
end

--- The request that deletes a cached content.
-- @tparam table cfg
-- @tparam string name
-- @treturn table
function M.cache_delete(cfg, name)
  return { url = cache_url(cfg, name), method = "DELETE", headers = key_headers(cfg) }
end

--- The name and size of a cached content from a create, get or patch answer.
-- @tparam string body
-- @treturn ?string `cachedContents/ID`, nil when the answer is not one
-- @treturn ?integer its total token count
function M.cache_parse(body)
  local v = json.decode(body or "")
  if type(v) ~= "table" or type(v.name) ~= "string" or not v.name:match("^cachedContents/[%w%-_]+$") then return nil end
  local u = type(v.usageMetadata) == "table" and v.usageMetadata or {}
  return v.name, num(u.totalTokenCount)
end

-- ---- batch mode (batchGenerateContent; docs/wire-caching-batch.md) ----

--- Largest inline batch request body (documented: 20 MB; `batch_inline_bytes` overrides):
-- above it the chapters go in a JSONL file uploaded through the Files API.
M.BATCH_LIMIT = 20 * 1000 * 1000

--- Largest batch input file (documented: 2 GB); above it the chapters go in more than one job.
M.BATCH_FILE_LIMIT = 2 * 1000 * 1000 * 1000

local STATES = {
  BATCH_STATE_PENDING = "pending", BATCH_STATE_RUNNING = "running", BATCH_STATE_SUCCEEDED = "succeeded",
  BATCH_STATE_FAILED = "failed", BATCH_STATE_CANCELLED = "cancelled", BATCH_STATE_EXPIRED = "expired",
  -- the SDKs' spelling of the same states
  JOB_STATE_PENDING = "pending", JOB_STATE_RUNNING = "running", JOB_STATE_SUCCEEDED = "succeeded",
  JOB_STATE_FAILED = "failed", JOB_STATE_CANCELLED = "cancelled", JOB_STATE_EXPIRED = "expired",
}

--- One inline batch item's text: the same body a live request sends, under its key.
-- @tparam table cfg
-- @tparam string key
-- @tparam table req
-- @treturn string
function M.batch_item(cfg, key, req)
  return '{"request":' .. M.request(cfg, req).body .. ',"metadata":{"key":' .. json.encode(key) .. "}}"
end

--- One line of a batch input file (JSONL): the key, then the body a live request sends.
-- @tparam table cfg
-- @tparam string key
-- @tparam table req
-- @treturn string
function M.batch_line(cfg, key, req)
  return '{"key":' .. json.encode(key) .. ',"request":' .. M.request(cfg, req).body .. "}"
end

local function batch_body(title, input)
  return '{"batch":{"display_name":' .. json.encode(title) .. ',"input_config":' .. input .. "}}"
end

local function create_url(cfg)
  return cfg.base_url:gsub("/+$", "") .. "/v1beta/models/" .. cfg.model .. ":batchGenerateContent"
end

--- The request that creates a batch job from items made by `batch_item`.
-- @tparam table cfg
-- @tparam {string,...} items
-- @tparam string title the job's display name
-- @treturn table `{url, method, headers, body}`
function M.batch_create(cfg, items, title)
  return { url = create_url(cfg), method = "POST", headers = key_headers(cfg),
           body = batch_body(title, '{"requests":{"requests":[' .. concat(items, ",") .. "]}}") }
end

--- The request that creates a batch job from an uploaded input file.
-- @tparam table cfg
-- @tparam string file `files/ID`, from `upload_file_name`
-- @tparam string title the job's display name
-- @treturn table `{url, method, headers, body}`
function M.batch_create_file(cfg, file, title)
  return { url = create_url(cfg), method = "POST", headers = key_headers(cfg),
           body = batch_body(title, '{"file_name":' .. json.encode(file) .. "}") }
end

--- The first step of a resumable upload: declares the file; the answer's
-- `X-Goog-Upload-URL` header says where its bytes go.
-- @tparam table cfg
-- @tparam integer size the file's length in bytes
-- @tparam string display_name
-- @treturn table `{url, method, headers, body}`
function M.upload_start(cfg, size, display_name)
  local h = key_headers(cfg)
  h[#h + 1] = "X-Goog-Upload-Protocol: resumable"
  h[#h + 1] = "X-Goog-Upload-Command: start"
  h[#h + 1] = "X-Goog-Upload-Header-Content-Length: " .. math.tointeger(size)
  h[#h + 1] = "X-Goog-Upload-Header-Content-Type: application/jsonl"
  return { url = cfg.base_url:gsub("/+$", "") .. "/upload/v1beta/files", method = "POST", headers = h,
           body = json.encode { file = { display_name = display_name } } }
end

--- The second step: all the bytes at once, ending the upload. The caller checks that
-- `url` (from the server's answer) is on the configured server before the key goes there.
-- @tparam table cfg
-- @tparam string url the upload address from `upload_start`'s answer
-- @tparam string data the file's content
-- @treturn table `{url, method, headers, body}`
function M.upload_bytes(cfg, url, data)
  local h = { "X-Goog-Upload-Command: upload, finalize", "X-Goog-Upload-Offset: 0" }
  if cfg.api_key and cfg.api_key ~= "" then h[#h + 1] = "x-goog-api-key: " .. cfg.api_key end
  return { url = url, method = "POST", headers = h, body = data }
end

--- The name of an uploaded file, from the finalizing answer (`{"file": {"name": "files/ID"}}`).
-- @tparam string body
-- @treturn ?string
function M.upload_file_name(body)
  local v = json.decode(body or "")
  local f = type(v) == "table" and type(v.file) == "table" and v.file or nil
  return f and type(f.name) == "string" and f.name:match("^files/[%w%-_]+$") and f.name or nil
end

--- The request that downloads a file's bytes (a file job's `responsesFile`).
-- @tparam table cfg
-- @tparam string name `files/ID`
-- @treturn table
function M.file_content(cfg, name)
  return { url = cfg.base_url:gsub("/+$", "") .. "/download/v1beta/" .. name .. ":download?alt=media",
           method = "GET", headers = key_headers(cfg) }
end

--- The request that reads a batch job (`batches/ID`).
-- @tparam table cfg
-- @tparam string name
-- @treturn table
function M.batch_get(cfg, name)
  return { url = cache_url(cfg, name), method = "GET", headers = key_headers(cfg) }
end

--- The request that cancels a batch job.
-- @tparam table cfg
-- @tparam string name
-- @treturn table
function M.batch_cancel(cfg, name)
  return { url = cache_url(cfg, name) .. ":cancel", method = "POST", headers = key_headers(cfg), body = "{}" }
end

-- One answer of a job (inline item or file line): `{key, body | error}`.
local function result_of(item, key)
  local r = { key = key ~= nil and tostring(key) or nil }
  if type(item.response) == "table" then r.body = json.encode(item.response)
  else
    local e = type(item.error) == "table" and item.error or {}
    r.error = string.format("%s%s", e.code and ("error " .. tostring(e.code) .. ": ") or "",
      tostring(e.message or "the request failed in the batch"))
  end
  return r
end

--- A batch job's answer (create or get) in one shape.
-- @tparam string body
-- @treturn ?table `{name, state = "pending"|"running"|"succeeded"|"failed"|"cancelled"|"expired",
--   message, results = {{key, body = answer JSON text | nil, error = message | nil}},
--   files = {"files/ID"} (a file job's results, for `file_content` and `batch_results`)}`;
--   nil when the answer is not a batch job
function M.batch_parse(body)
  local v = json.decode(body or "")
  if type(v) ~= "table" or type(v.name) ~= "string" or not v.name:match("^batches/[%w%-_]+$") then return nil end
  local meta = type(v.metadata) == "table" and v.metadata or {}
  local out = { name = v.name, state = STATES[meta.state] or "pending" }
  if type(v.error) == "table" then
    out.message = tostring(v.error.message or "the job failed")
    if out.state ~= "cancelled" and out.state ~= "expired" then out.state = "failed" end
  end
  local resp = type(v.response) == "table" and v.response or {}
  if not (v.done and out.state == "succeeded") then return out end
  local inl = type(resp.inlinedResponses) == "table" and resp.inlinedResponses.inlinedResponses
  if type(inl) == "table" then
    out.results = {}
    for _, item in ipairs(inl) do
      if type(item) == "table" then
        out.results[#out.results + 1] = result_of(item, type(item.metadata) == "table" and item.metadata.key or nil)
      end
    end
  elseif type(resp.responsesFile) == "string" and resp.responsesFile:match("^files/[%w%-_]+$") then
    out.files = { resp.responsesFile }
  end
  return out
end

--- The results in a file job's responses file: one JSON line per request, keyed.
-- @tparam string text JSONL
-- @treturn {table,...} `{{key, body | error}}`
function M.batch_results(text)
  return common.jsonl_results(text, function(v)
    local key = v.key
    if key == nil and type(v.metadata) == "table" then key = v.metadata.key end
    if key ~= nil then return result_of(v, key) end
  end)
end

--- The message for a non-200 answer.
-- @function error_message
-- @tparam integer status
-- @tparam[opt] string body
-- @treturn string
M.error_message = common.error_message

return M
