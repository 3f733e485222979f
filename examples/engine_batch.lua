-- The request engine on its own, for any batch of LLM calls: here, one short definition
-- per term, sent in parallel under rate limits with retries, read back in order.
--   lua5.4 examples/engine_batch.lua [--base-url URL] [--provider gemini|openai]
-- support.lua: module paths, the command line, the server (the bundled mock by default).
local ex = dofile(((arg and arg[0] or ""):match("^(.*)/[^/]*$") or ".") .. "/support.lua")
local engine = require "coursegen.engine"

local provider = require("coursegen.providers." .. (ex.args.provider or "gemini"))
-- The mock fails one request in ten here, to show the retries at work.
local base_url = ex.base_url { faults = "503:0.1", seed = 3 }
local key_env = provider.defaults.key_env[1]
local cfg = { base_url = base_url, model = provider.defaults.model, api_key = os.getenv(key_env) }

local terms = { "closure", "coroutine", "metatable", "upvalue", "varargs", "userdata", "environment" }
local requests, term_of = {}, {}
for i, term in ipairs(terms) do
  local req = { prompt = "Define " .. term .. " in one sentence, for a Lua programmer.", max_output_tokens = 2048 }
  local http = provider.request(cfg, req)
  http.tokens = provider.estimate(req)
  requests[i] = http
  term_of[http] = term -- map yields each result with the request table it came from
end

local failed = 0
for result, request in engine.map({ concurrency = 4, rpm = 600, max_attempts = 4, backoff_base = 0.05 }, requests) do
  if result.status == 200 then
    local answer = provider.parse(result.body)
    print(string.format("%-12s %-5s %s", term_of[request], answer.kind, (answer.text:match("^[^\n]*"))))
  else
    failed = failed + 1
    print(string.format("%-12s failed %s", term_of[request],
      result.status and provider.error_message(result.status, result.body) or tostring(result.error)))
  end
end
ex.close()
os.exit(failed == 0 and 0 or 1)
