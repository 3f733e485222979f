-- A script that lives anywhere, not in the checkout: it finds coursegen through the
-- search path that `coursegen path` prints. Copy it to any folder and run
--   eval "$(coursegen path)"          # or: eval "$(/path/to/checkout/bin/coursegen path)"
--   lua5.4 standalone.lua [OUT_DIR]
-- With COURSEGEN_BASE_URL unset it writes the course against the bundled mock server (no
-- key, no network); with it set (and the provider's key in the environment), against that.
local coursegen = require "coursegen"

local out = arg[1] or "out/standalone"
local srv
local base_url = os.getenv("COURSEGEN_BASE_URL")
if not base_url then
  srv = require("coursegen.mock").start { port = 0, latency_ms = 5 }
  base_url = srv.url
end

local course = assert(coursegen.course {
  title = "Shell scripting in one afternoon",
  chapters = { "Variables and quoting", "Loops and conditions", "Functions and exit codes" },
})
local stats, err = coursegen.generate(course, {
  out = out, provider = "gemini", base_url = base_url,
  api_key = os.getenv("GEMINI_API_KEY") or "not-needed-by-the-mock",
})
if srv then srv:close() end
if not stats then
  io.stderr:write("standalone: ", err, "\n")
  os.exit(2)
end
print(string.format("%d of %d chapters written in %s (%d requests)", stats.chapters.written
  + stats.chapters.skipped, stats.chapters.total, stats.out, stats.requests))
-- A run whose chapters failed is not a success, even though it returned statistics.
os.exit(stats.chapters.failed == 0 and 0 or 1)
