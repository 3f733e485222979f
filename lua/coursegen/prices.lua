--- Prices of the models coursegen knows, for the `--dry-run` cost estimate.
-- USD per million tokens, standard (not batch) tier, short prompts. Prices change: the
-- estimate is a guide, and `--price-in`/`--price-out` (or `COURSEGEN_PRICE_IN`/`_OUT`)
-- override it. Thinking tokens are billed as output by both vendors and are not in the estimate.
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

--- Looks up the price of `model`: an exact name first, then the longest known name that
-- prefixes it (so `gemini-2.5-flash-001` or `gpt-4o-2024-08-06` find their family).
-- @tparam string model
-- @treturn table|nil `{ input, output, model = matched name }`
function M.lookup(model)
  if type(model) ~= "string" then
    error("argument 1 expected a 'string', got a '" .. type(model) .. "'", 2)
  end
  local p = M.table[model]
  if p then return { input = p.input, output = p.output, model = model } end
  local best
  for name in pairs(M.table) do
    if model:sub(1, #name) == name and (not best or #name > #best) then best = name end
  end
  -- "models/gemini-2.5-flash" is how some users spell it
  if not best and model:match("^models/") then return M.lookup(model:sub(8)) end
  if not best then return nil end
  p = M.table[best]
  return { input = p.input, output = p.output, model = best }
end

--- Estimates the cost of a run.
-- @tparam table tokens `{ prompt = n, output = n }`
-- @tparam table price `{ input = USD per 1M, output = USD per 1M }`
-- @treturn number USD
function M.cost(tokens, price)
  return (tokens.prompt or 0) / 1e6 * price.input + (tokens.output or 0) / 1e6 * price.output
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
-- @treturn table|nil price `{ input, output, source }`; nil with a message when unknown
function M.resolve(model, override_in, override_out)
  local known = M.lookup(model)
  local input = override_in or (known and known.input)
  local output = override_out or (known and known.output)
  if input == nil or output == nil then
    return nil, "no price known for model '" .. tostring(model)
      .. "'; pass --price-in and --price-out (USD per million tokens) for a cost estimate"
  end
  local source
  if override_in or override_out then source = "given"
  else source = "list price of " .. known.model end
  return { input = input, output = output, source = source }
end

return M
