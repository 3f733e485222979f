--- Cost benchmark: a course grounded in a source document of about 150,000 tokens, 20
-- chapters, written four ways against the mock (in-process): plain, with context caching,
-- as a batch, and as a batch with prefix caching. Prints a Markdown table of the input
-- tokens billed at the full and at the cached rate, the request bytes the server received,
-- and the estimated dollars at gemini-2.5-flash's list prices (`coursegen.prices`).
-- Run from the source tree root: `lua5.4 bench/cost.lua [--append FILE]`.
package.path = "lua/?.lua;lua/?/init.lua;" .. package.path
package.cpath = (os.getenv("COURSEGEN_BUILD") or "build") .. "/?.so;" .. package.cpath

local coursegen = require "coursegen"
local mock = require "coursegen.mock"
local prices = require "coursegen.prices"
local summary = require "coursegen.cli.summary"
local fmt = require "coursegen.cli.format"

local CHAPTERS, SOURCE_TOKENS, MODEL = 20, 150000, "gemini-2.5-flash"

local tmp = os.tmpname()
os.remove(tmp)
assert(os.execute("mkdir -p " .. tmp))

-- A deterministic source: numbered paragraphs, about 4 bytes a token.
local function write_source(path)
  local parts, size, i = {}, 0, 0
  while size < SOURCE_TOKENS * 4 do
    i = i + 1
    local p = string.format("Section %d. A table maps keys to values; entry %d shows how a lookup by key "
      .. "finds its value without scanning, and why the order of pairs is not defined.\n\n", i, i)
    parts[#parts + 1] = p
    size = size + #p
  end
  local f = assert(io.open(path, "w"))
  f:write(table.concat(parts))
  f:close()
  return size
end

local src = tmp .. "/source.md"
local src_bytes = write_source(src)
local chapters = {}
for i = 1, CHAPTERS do chapters[i] = { title = "Topic " .. i } end
local course = assert(coursegen.course { title = "Cost bench", source = src, chapters = chapters })

local modes = {
  { name = "plain", opts = { cache = false }, implicit = 0 },
  { name = "cached (explicit context cache)", opts = {}, implicit = 0 },
  { name = "batch", opts = { batch = true, cache = false }, implicit = 0 },
  { name = "cached + batch (prefix cache hits)", opts = { batch = true }, implicit = 1 },
}

local price = assert(prices.resolve(MODEL))
-- The mock takes bodies up to 8 MB, the API inline batches up to 20 MB: the plain batch
-- (12 MB) goes as two jobs here, as a larger course would against the API.
require("coursegen.providers.gemini").BATCH_LIMIT = 7 * 1000 * 1000
local rows = {}
for i, m in ipairs(modes) do
  local srv = mock.start { port = 0, answer_words = 600, batch_delay_ms = 200, implicit_cache = m.implicit, seed = 1 }
  local opts = { base_url = srv.url, model = MODEL, out = tmp .. "/out" .. i, tpm = 1e9, env = {},
                 batch_poll_s = 0.05, on_event = function(ev)
                   if ev.type == "warning" then io.stderr:write("cost bench: ", ev.message, "\n") end
                 end }
  for k, v in pairs(m.opts) do opts[k] = v end
  local stats = assert(coursegen.generate(course, opts))
  local ms = srv:stats()
  srv:close()
  local tok = stats.tokens
  -- the cache's own creation is billed as input too: the mock counts it in request bytes only
  local fill = ms.caches_created > 0 and (src_bytes // 4) or 0
  local usd = tonumber(summary.cost_line(stats, price):match("%$([%d%.]+)"))
  local hours = require("coursegen.cache").TTL_S / 3600 -- storage billed for one TTL at most
  usd = usd + fill / 1e6 * price.input + (ms.caches_created > 0 and fill / 1e6 * price.storage * hours or 0)
  rows[#rows + 1] = string.format("| %s | %d | %d | %s | %s | %.1f MB | $%.2f |", m.name,
    stats.chapters.written, ms.batches_created, fmt.int(tok.prompt - tok.cached + fill), fmt.int(tok.cached),
    ms.request_bytes / 1e6, usd)
end

local out = {
  "## Cost",
  "",
  string.format("`lua5.4 bench/cost.lua` (%s): a course grounded in a source of about %s tokens (%.1f MB),",
    os.date("!%Y-%m-%d %H:%M UTC"), fmt.int(src_bytes // 4), src_bytes / 1e6),
  string.format("%d chapters and the course summary, against the mock; dollars at %s's list prices", CHAPTERS, MODEL),
  string.format("as of %s (input $%.2f, cached $%.3f, output $%.2f per million, storage $%.2f per million",
    prices.DATE, price.input, price.cached, price.output, price.storage),
  "an hour for one 15-minute TTL, batch at half price). Input at full price includes making the cache.",
  "",
  "| mode | chapters | batch jobs | input tokens, full price | input tokens, cached | request bytes | estimated cost |",
  "|---|---|---|---|---|---|---|",
}
for _, r in ipairs(rows) do out[#out + 1] = r end
local text = table.concat(out, "\n") .. "\n"
io.write(text)
os.execute("rm -rf " .. tmp)
if arg[1] == "--append" and arg[2] then
  local f = assert(io.open(arg[2], "a"))
  f:write("\n", text)
  f:close()
end
