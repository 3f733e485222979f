--- `coursegen generate --dry-run`: prints the outline, every prompt, the number of
-- requests and an estimate of tokens and cost, and sends nothing. With `--quiet`, only
-- the counts. Output on stdout.
-- @module coursegen.cli.dryrun
local M = {}

local prices = require "coursegen.prices"
local fmt = require "coursegen.cli.format"

local type, tostring, string_format = type, tostring, string.format

--- The cost line for a plan.
-- @tparam table tokens `{ prompt, output }`
-- @tparam table s settings (`model`, `price_in`, `price_out`, `loopback`)
-- @treturn string
function M.cost_line(tokens, s)
  if s.loopback and not (s.price_in or s.price_out) then
    return "cost: nothing to pay for a local server"
  end
  local price, err = prices.resolve(s.model, s.price_in, s.price_out, s.price_cached)
  if not price then return "cost: unknown (" .. err .. ")" end
  return string_format("cost: up to about %s (%s in, %s out per million tokens, %s; thinking tokens not included)",
    prices.format(prices.cost(tokens, price)), prices.format(price.input),
    prices.format(price.output), price.source)
end

--- The line comparing the ways to pay: plain, with caching, with `--batch`, both. Nil
-- when no price is known (the cost line says why) or for a local server.
-- @tparam table plan from `coursegen.plan` (`tokens`, `shared_tokens`, `shared_requests`)
-- @tparam table s settings (`model`, `provider`, `price_in`, `price_out`, `is_local`)
-- @tparam[opt] boolean no_cache `--no-cache`: no explicit cache
-- @treturn ?string
function M.savings_line(plan, s, no_cache)
  if require("coursegen.settings").is_loopback(s.base_url) and not (s.price_in or s.price_out) then return nil end
  local price = prices.resolve(s.model, s.price_in, s.price_out, s.price_cached)
  if not price then return nil end
  local ok, p = pcall(require, "coursegen.providers." .. tostring(s.provider))
  local tokens = plan.shared_tokens or 0
  local explicit = not no_cache and ok and p.cache_min_tokens ~= nil and (plan.shared_requests or 0) >= 2
    and tokens >= p.cache_min_tokens(s.model)
  local e = prices.estimates(plan.tokens or {}, price,
    { shared = tokens, n = plan.shared_requests, explicit = explicit,
      hours = require("coursegen.cache").TTL_S / 3600 }) -- one TTL of storage: a run deletes its cache
  local parts = { "plain " .. prices.format(e.plain) }
  if e.cached then
    parts[#parts + 1] = string_format("with %s %s", explicit and "context caching (the default here)"
      or "prefix caching (automatic)", prices.format(e.cached))
  end
  parts[#parts + 1] = "with --batch " .. prices.format(e.batch)
  if e.cached_batch then
    parts[#parts + 1] = "with --batch and prefix-cache hits " .. prices.format(e.cached_batch)
  end
  return "cost by mode: " .. table.concat(parts, "; ")
end

local function chapters_of(outline)
  if type(outline) ~= "table" then return nil end
  if type(outline.chapters) == "table" then return outline.chapters end
  if #outline > 0 then return outline end
  return nil
end

--- The parts of the request count: "(1 outline, 12 chapters, 1 course summary)".
-- @tparam table plan
-- @treturn string
function M.breakdown(plan)
  local outline, chapters = 0, 0
  for _, p in ipairs(plan.prompts or {}) do
    if p.chapter == "outline" then outline = outline + 1
    elseif type(p.chapter) == "number" then chapters = chapters + 1 end
  end
  if outline > 0 then chapters = plan.chapter_count or 0 end
  local rest = (plan.requests or 0) - outline - chapters
  local parts = {}
  if outline > 0 then parts[#parts + 1] = "1 outline" end
  parts[#parts + 1] = fmt.plural(chapters, "chapter")
  if rest == 1 then parts[#parts + 1] = "1 course summary"
  elseif rest > 1 then parts[#parts + 1] = rest .. " more (stages, course summary)" end
  return " (" .. table.concat(parts, ", ") .. ")"
end

--- Runs the dry run.
-- @param cg the `coursegen` module
-- @tparam table course
-- @tparam table s settled settings (`coursegen.cli.settings.resolve`)
-- @tparam table args parsed command line
-- @tparam table ctx
-- @treturn integer|nil exit code, or nil, a message and an exit code
function M.run(cg, course, s, args, ctx)
  local plan, err = cg.plan(course, s)
  if not plan then return nil, err, 2 end
  local out = ctx.stdout
  local tokens = type(plan.tokens) == "table" and plan.tokens or {}
  local prompts = type(plan.prompts) == "table" and plan.prompts or {}
  local chapters = chapters_of(plan.outline)
  local requests = plan.requests or #prompts
  local total_tokens = (tokens.prompt or 0) + (tokens.output or 0)

  if args.quiet then
    out:write(string_format("%s, %s, about %s tokens (%s prompt, %s output); %s\n",
      fmt.plural(plan.chapter_count or (chapters and #chapters) or #prompts, "chapter"),
      fmt.plural(requests, "request"),
      fmt.int(total_tokens), fmt.int(tokens.prompt or 0), fmt.int(tokens.output or 0),
      M.cost_line(tokens, s)))
    local saving = M.savings_line(plan, s, args.no_cache)
    if saving then out:write(saving, "\n") end
    return 0
  end

  out:write(string_format("course: %s\n", tostring(course.title)))
  out:write(string_format("output: %s\n", tostring(plan.out or s.out or "?")))
  out:write(string_format("model: %s (%s, %s)\n", s.model, s.provider, s.base_url))
  if chapters then
    out:write(string_format("\noutline (%s):\n", fmt.plural(#chapters, "chapter")))
    local width = #tostring(#chapters)
    for i, ch in ipairs(chapters) do
      local title = type(ch) == "table" and ch.title or tostring(ch)
      local brief = type(ch) == "table" and ch.brief
      out:write(string_format("  %" .. width .. "d. %s%s\n", i, title,
        brief and (" — " .. brief) or ""))
    end
  else
    out:write("\noutline: to be generated first (one structured request)\n")
  end
  if (plan.skipped or 0) > 0 then
    out:write(string_format("\nalready written (skipped): %s\n", fmt.plural(plan.skipped, "chapter")))
  end
  if plan.source_bytes and #prompts > 0 then
    out:write(string_format("\n===== source document: %s bytes, sent first (not shown) =====\n",
      fmt.int(plan.source_bytes)))
  end
  if plan.shared and #prompts > 0 then
    out:write("\n===== shared part, sent first with every chapter prompt =====\n")
    out:write((tostring(plan.shared):gsub("%s+$", "")), "\n")
  end
  for _, p in ipairs(prompts) do
    local label = type(p.chapter) == "number" and ("chapter " .. p.chapter) or tostring(p.chapter or "request")
    if p.title then label = label .. ": " .. p.title end
    out:write(string_format("\n===== prompt for %s =====\n", label))
    out:write((tostring(p.prompt or ""):gsub("%s+$", "")), "\n")
  end
  if plan.warning then out:write("\nwarning: ", tostring(plan.warning), "\n") end
  out:write(string_format("\nrequests: %d%s\n", requests, M.breakdown(plan)))
  out:write(string_format("tokens: about %s (%s prompt, %s output at most)\n",
    fmt.int(total_tokens), fmt.int(tokens.prompt or 0), fmt.int(tokens.output or 0)))
  out:write(M.cost_line(tokens, s), "\n")
  local saving = M.savings_line(plan, s, args.no_cache)
  if saving then out:write(saving, "\n") end
  out:write("dry run: nothing was sent\n")
  return 0
end

return M
