--- The final summary of a run, and the `--stats-json` file.
-- @module coursegen.cli.summary
local M = {}

local fmt = require "coursegen.cli.format"
local json = require "coursegen.json"
local fail = require "coursegen.fail"
local files = require "coursegen.files"
local prices = require "coursegen.prices"

local string_format, tostring, type, pairs = string.format, tostring, type, pairs

--- Key order of the statistics file (as the README's "Statistics" shows it), then anything else alphabetically.
M.order = {
  "chapters", "total", "written", "skipped", "failed",
  "requests", "cache_requests", "batch_requests", "retries", "status", "network_errors", "empty_answers",
  "blocked_answers", "truncated_answers", "tokens", "prompt", "output", "thoughts", "cached",
  "elapsed_s", "limiter_wait_s", "max_in_flight", "interrupted", "out",
}

local function n(v) return type(v) == "number" and v or 0 end

local function status_counts(status)
  local keys = {}
  for k in pairs(type(status) == "table" and status or {}) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do
    if k ~= "200" then parts[#parts + 1] = k .. ": " .. fmt.int(status[k] or status[tonumber(k)]) end
  end
  return parts
end

--- The summary's lines.
-- @tparam table stats the pipeline's statistics (the README's "Statistics", plus `interrupted`, `out`)
-- @tparam table o `{ failures = {{index, title, reason, attempts}}, resume = "command line",
--   paint = function(colour, text), price = from `coursegen.prices.resolve` (no cost line without) }`
-- @treturn table list of lines (without newlines)
function M.lines(stats, o)
  o = o or {}
  local paint = o.paint or function(_, t) return t end
  local ch = type(stats.chapters) == "table" and stats.chapters or {}
  local total, written, skipped, failed = n(ch.total), n(ch.written), n(ch.skipped), n(ch.failed)
  local out = stats.out and tostring(stats.out) or "?"
  local lines = {}
  local counts = string_format("%d written, %d skipped, %d failed", written, skipped, failed)
  if stats.interrupted then
    local missing = total - written - skipped - failed
    lines[#lines + 1] = paint("yellow", "Interrupted.") .. string_format(
      " Kept %s in %s (%s); %d not written.", fmt.plural(written + skipped, "chapter"), out,
      counts, missing > 0 and missing or 0)
  elseif failed > 0 then
    lines[#lines + 1] = paint("red", "Finished with failures:") .. string_format(
      " %d of %s in %s (%s).", written + skipped, fmt.plural(total, "chapter"), out, counts)
  else
    lines[#lines + 1] = paint("green", "Done:") .. string_format(
      " %s in %s (%s).", fmt.plural(total, "chapter"), out, counts)
  end
  -- one line per distinct reason: a refused key fails every chapter the same way
  local groups, order = {}, {}
  for _, f in ipairs(o.failures or {}) do
    local reason = tostring(f.reason or "unknown reason")
    if not groups[reason] then groups[reason] = {}; order[#order + 1] = reason end
    local g = groups[reason]
    g[#g + 1] = f
  end
  for _, reason in ipairs(order) do
    local g = groups[reason]
    if #g == 1 then
      local f = g[1]
      lines[#lines + 1] = string_format("  failed %s %s: %s", tostring(f.index or "?"), tostring(f.title or ""),
        reason)
    else
      local nums = {}
      for i, f in ipairs(g) do nums[i] = tostring(f.index or "?") end
      lines[#lines + 1] = string_format("  failed %d chapters (%s): %s", #g, table.concat(nums, ", "), reason)
    end
  end
  local req = string_format("  requests %s, retries %s, 429s %s", fmt.int(n(stats.requests)),
    fmt.int(n(stats.retries)), fmt.int(n(type(stats.status) == "table" and
      (stats.status["429"] or stats.status[429]))))
  local others = status_counts(stats.status)
  if #others > 0 then req = req .. " (statuses " .. table.concat(others, ", ") .. ")" end
  if n(stats.network_errors) > 0 then
    req = req .. ", network errors " .. fmt.int(stats.network_errors)
  end
  -- the calls around the chapters: counted apart so `requests` stays the chapters' attempts
  local around = {}
  if n(stats.cache_requests) > 0 then
    around[#around + 1] = fmt.int(stats.cache_requests) .. " for the context cache"
  end
  if n(stats.batch_requests) > 0 then around[#around + 1] = fmt.int(stats.batch_requests) .. " for batch jobs" end
  if #around > 0 then req = req .. "; and " .. table.concat(around, ", ") end
  lines[#lines + 1] = req
  local tok = type(stats.tokens) == "table" and stats.tokens or {}
  local t = string_format("  tokens %s prompt", fmt.int(n(tok.prompt)))
  if n(tok.cached) > 0 then t = t .. string_format(" (%s of them cached)", fmt.int(tok.cached)) end
  t = t .. string_format(", %s output", fmt.int(n(tok.output)))
  if n(tok.thoughts) > 0 then t = t .. string_format(", %s thinking", fmt.int(tok.thoughts)) end
  t = t .. string_format("; elapsed %s", fmt.duration(n(stats.elapsed_s)))
  if n(stats.limiter_wait_s) >= 0.05 then
    t = t .. string_format(" (waited %s for the rate limits)", fmt.duration(stats.limiter_wait_s))
  end
  lines[#lines + 1] = t
  if o.price then lines[#lines + 1] = M.cost_line(stats, o.price) end
  if type(stats.batch_running) == "table" and stats.batch_running[1] then
    lines[#lines + 1] = string_format("  batch job %s still running at the provider: run the same command again "
      .. "to collect it (add --cancel to cancel it)", table.concat(stats.batch_running, ", "))
  end
  if stats.interrupted and o.resume then
    lines[#lines + 1] = "  to resume, run the same command again: " .. o.resume
  elseif failed > 0 and o.resume then
    lines[#lines + 1] = "  to retry the failed chapters, run the same command again: " .. o.resume
  end
  return lines
end

--- The estimated cost of what a run used: prompt tokens (cached ones at the cached rate),
-- output and thinking tokens at the output rate, the batch's share at the batch price.
-- @tparam table stats
-- @tparam table price from `coursegen.prices.resolve`
-- @treturn string
function M.cost_line(stats, price)
  local function usd(t)
    if type(t) ~= "table" then return 0 end
    return prices.cost({ prompt = n(t.prompt), cached = n(t.cached), output = n(t.output) + n(t.thoughts) }, price)
  end
  local bt = type(stats.batch_tokens) == "table" and stats.batch_tokens or nil
  local total = usd(stats.tokens)
  if bt then
    local t = { prompt = n(bt.prompt), cached = n(bt.cached), output = n(bt.output) + n(bt.thoughts) }
    total = total - usd(bt) + prices.batch_cost(t, price)
  end
  local notes = { price.source }
  if price.cached and n(type(stats.tokens) == "table" and stats.tokens.cached) > 0 then
    notes[#notes + 1] = "cached tokens at " .. prices.format(price.cached) .. " per million"
  end
  if bt then notes[#notes + 1] = "batch answers at half price" end
  return string_format("  estimated cost about %s (%s)", prices.format(total), table.concat(notes, "; "))
end

--- Writes `stats` as JSON to `path`, atomically (`coursegen.files.write`), so a reader
-- never sees half a file and a kill leaves a temporary name a rerun removes.
-- @tparam string path
-- @tparam table stats
-- @treturn boolean|nil true, or nil and a message naming the file
function M.write_json(path, stats, stdout)
  if path == "-" then
    stdout:write(json.pretty(stats, M.order), "\n")
    return true
  end
  local ok, err = fail.protect(files.write, path, json.pretty(stats, M.order))
  if not ok then return nil, "--stats-json: " .. err end
  return true
end

return M
