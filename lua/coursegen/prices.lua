--- Prices of the models coursegen knows, for the `--dry-run` cost estimate and the summary.
-- USD per million tokens, standard (not batch) tier, short prompts, as of `DATE`. Prices
-- change: the estimate is a guide, and `--price-in`/`--price-out` (or
-- `COURSEGEN_PRICE_IN`/`_OUT`) override it; `cached` and `BATCH_DISCOUNT` may be changed by
-- a program like `table`. Thinking tokens are billed as output by both vendors and are not
-- in the dry run's estimate.
-- @module coursegen.prices
local M = {}

local type, tostring, string_format = type, tostring, string.format

--- The table: model name → `{ input = USD per 1M, output = USD per 1M }`.
M.table = {
  ["gemini-2.5-pro"]        = { input = 1.25,  output = 10.00 },
  ["gemini-2.5-flash"]      = { input = 0.30,  output = 2.50 },
  ["gemini-2.5-flash-lite"] = { input = 0.10,  output = 0.40 },
  ["gemini-2.0-flash"]      = { input = 0.10,  output = 0.40 },
  ["gemini-2.0-flash-lite"] = { input = 0.075, output = 0.30 },
  ["gpt-5"]                 = { input = 1.25,  output = 10.00 },
  ["gpt-5-mini"]            = { input = 0.25,  output = 2.00 },
  ["gpt-5-nano"]            = { input = 0.05,  output = 0.40 },
  ["gpt-4.1"]               = { input = 2.00,  output = 8.00 },
  ["gpt-4.1-mini"]          = { input = 0.40,  output = 1.60 },
  ["gpt-4.1-nano"]          = { input = 0.10,  output = 0.40 },
  ["gpt-4o"]                = { input = 2.50,  output = 10.00 },
  ["gpt-4o-mini"]           = { input = 0.15,  output = 0.60 },
  ["o4-mini"]               = { input = 1.10,  output = 4.40 },
}

--- When the prices of `table`, `cached` and `BATCH_DISCOUNT` were last checked against the
-- providers' pricing pages (ai.google.dev/gemini-api/docs/pricing, openai.com/api/pricing).
-- Check of 2026-12-03: the pages' rows for these models, as transcribed word for word on
-- 2026-09-20 and 2026-10-07 (Gemini) and 2026-11-05 (OpenAI, developers.openai.com/api/docs/
-- pricing), and the Gemini batch guide (batch at 50% of the live price), give the same
-- figures as this table: nothing changed. Newer models (Gemini 3.x, GPT-5.x) are not listed:
-- give their price with `--price-in`/`--price-out`.
M.DATE = "2026-12-03"

--- Cached input, USD per 1M tokens, and (Gemini's explicit caches) storage, USD per 1M
-- tokens per hour. OpenAI bills a repeated prompt prefix at its cached rate by itself;
-- Gemini does the same for 2.5 models (implicit caching) and bills an explicit cache's
-- tokens at the cached rate plus storage.
M.cached = {
  ["gemini-2.5-pro"]        = { input = 0.125,  storage = 4.50 },
  ["gemini-2.5-flash"]      = { input = 0.03,   storage = 1.00 },
  ["gemini-2.5-flash-lite"] = { input = 0.01,   storage = 1.00 },
  ["gemini-2.0-flash"]      = { input = 0.025,  storage = 1.00 },
  ["gemini-2.0-flash-lite"] = { input = 0.01875, storage = 1.00 },
  ["gpt-5"]                 = { input = 0.125 },
  ["gpt-5-mini"]            = { input = 0.025 },
  ["gpt-5-nano"]            = { input = 0.005 },
  ["gpt-4.1"]               = { input = 0.50 },
  ["gpt-4.1-mini"]          = { input = 0.10 },
  ["gpt-4.1-nano"]          = { input = 0.025 },
  ["gpt-4o"]                = { input = 1.25 },
  ["gpt-4o-mini"]           = { input = 0.075 },
  ["o4-mini"]               = { input = 0.275 },
}

--- Batch jobs are billed at this fraction of the live price (both vendors: half).
M.BATCH_DISCOUNT = 0.5

-- The entry of `tbl` for `model`: an exact name first, then the longest known name that
-- prefixes it; "models/NAME" as NAME. Returns the entry and the name matched.
local function match(tbl, model)
  if tbl[model] then return tbl[model], model end
  local best
  for name in pairs(tbl) do
    if model:sub(1, #name) == name and (not best or #name > #best) then best = name end
  end
  if not best and model:match("^models/") then return match(tbl, model:sub(8)) end
  if best then return tbl[best], best end
  return nil
end

--- Looks up the price of `model`: an exact name first, then the longest known name that
-- prefixes it (so `gemini-2.5-flash-001` or `gpt-4o-2024-08-06` find their family).
-- @tparam string model
-- @treturn table|nil `{ input, output, model = matched name }`
function M.lookup(model)
  if type(model) ~= "string" then
    error("argument 1 expected a 'string', got a '" .. type(model) .. "'", 2)
  end
  local p, name = match(M.table, model)
  if not p then return nil end
  return { input = p.input, output = p.output, model = name }
end

--- The cached-input price of `model` (and its storage price, for Gemini), or nil.
-- @tparam string model
-- @treturn table|nil `{ input, storage }`
function M.cached_lookup(model)
  local p = match(M.cached, model)
  return p and { input = p.input, storage = p.storage } or nil
end

--- Estimates the cost of a run.
-- @tparam table tokens `{ prompt = n, output = n, cached = n }`: `prompt` includes `cached`
--   (as both APIs count them), billed at `price.cached` when known
-- @tparam table price `{ input = USD per 1M, output = USD per 1M, cached = USD per 1M or nil }`
-- @treturn number USD
function M.cost(tokens, price)
  local cached = price.cached and (tokens.cached or 0) or 0
  return ((tokens.prompt or 0) - cached) / 1e6 * price.input + cached / 1e6 * (price.cached or 0)
    + (tokens.output or 0) / 1e6 * price.output
end

--- The cost of answers from a batch job: half the live price, except prompt tokens served
-- from a cache, which are billed at the cached rate as in live traffic (Gemini's batch
-- guide says so; OpenAI's batch price already includes its cached rate).
-- @tparam table tokens as for `cost`
-- @tparam table price as for `cost`
-- @treturn number USD
function M.batch_cost(tokens, price)
  local cached = price.cached and (tokens.cached or 0) / 1e6 * price.cached or 0
  return (M.cost(tokens, price) - cached) * M.BATCH_DISCOUNT + cached
end

--- The four ways to pay for a run whose `n` chapter requests share `shared` prompt tokens:
-- plain, with caching, as a batch, and both. With an explicit cache (Gemini) the shared
-- part is billed once in full when the cache is made, then at the cached rate per request,
-- plus storage for `shape.hours` (default 1); with a prefix cache (OpenAI, Gemini implicit)
-- every request but the first is billed at the cached rate.
-- @tparam table tokens `{ prompt, output }` for the whole run
-- @tparam table price from `resolve` (`cached`, `storage` when known)
-- @tparam table shape `{ shared = tokens, n = requests sharing them, explicit = boolean, hours }`
-- @treturn table `{ plain, cached, batch, cached_batch }` USD (`cached` nil without a cached price)
function M.estimates(tokens, price, shape)
  local out = { plain = M.cost(tokens, price) }
  out.batch = out.plain * M.BATCH_DISCOUNT
  local n, shared = shape.n or 0, shape.shared or 0
  if not price.cached or n < 2 or shared <= 0 then return out end
  -- prefix cache: every request but the first reads the shared part at the cached rate
  local hit = { prompt = tokens.prompt, output = tokens.output, cached = (n - 1) * shared }
  local prefix = M.cost(hit, price)
  if shape.explicit then
    local storage = price.storage and shared / 1e6 * price.storage * (shape.hours or 1) or 0
    local fill = shared / 1e6 * price.input -- making the cache
    out.cached = M.cost({ prompt = tokens.prompt, output = tokens.output, cached = n * shared }, price) + fill + storage
  else
    out.cached = prefix
  end
  -- a batch uses no explicit cache; its requests may still hit the prefix cache
  out.cached_batch = M.batch_cost(hit, price)
  return out
end

--- Formats an amount in USD: cents for amounts of a cent or more, else four decimals.
-- @tparam number usd
-- @treturn string
function M.format(usd)
  if usd == 0 then return "$0.00" end
  if usd < 0.01 then return string_format("$%.4f", usd) end
  return string_format("$%.2f", usd)
end

--- Resolves the price to use: `override_in`/`override_out` (numbers, from options or the
-- environment) replace the table's values; both must be known for an estimate.
-- @tparam string model
-- @param override_in number or nil
-- @param override_out number or nil
-- @param override_cached number or nil: the cached-input price
-- @treturn table|nil price `{ input, output, source, cached, storage }` (`cached` and
--   `storage` nil when unknown); nil with a message when unknown
function M.resolve(model, override_in, override_out, override_cached)
  local known = M.lookup(model)
  local input = override_in or (known and known.input)
  local output = override_out or (known and known.output)
  if input == nil or output == nil then
    return nil, "no price known for model '" .. tostring(model)
      .. "'; pass --price-in and --price-out (USD per million tokens) for a cost estimate"
  end
  local source
  if override_in or override_out then source = "given"
  else source = "list price of " .. known.model .. " as of " .. M.DATE end
  local c = M.cached_lookup(model)
  return { input = input, output = output, source = source, cached = override_cached or (c and c.input),
           storage = c and c.storage }
end

return M
