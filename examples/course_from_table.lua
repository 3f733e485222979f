-- A course from a Lua table: four chapters, generated in parallel, with progress lines.
--   lua5.4 examples/course_from_table.lua [--base-url URL] [--provider gemini|openai] [--out DIR]
-- Without --base-url (or COURSEGEN_BASE_URL) it runs against the bundled mock server.
local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
package.path = here .. "/../lua/?.lua;" .. here .. "/../lua/?/init.lua;" .. package.path
package.cpath = here .. "/../build/?.so;" .. package.cpath

local coursegen = require "coursegen"

local args = {}
for i = 1, #arg, 2 do args[(arg[i] or ""):gsub("^%-%-", "")] = arg[i + 1] end
local base_url = args["base-url"] or os.getenv("COURSEGEN_BASE_URL")
local srv
if not base_url then
  srv = require("coursegen.mock").start { port = 0, latency_ms = 5, jitter_ms = 10 }
  base_url = srv.url
end
local out = args.out
if not out then -- a fresh temporary folder (os.tmpname creates a file: reuse its name)
  out = os.tmpname()
  os.remove(out)
end

local course = assert(coursegen.course {
  title = "Introduction to Lua",
  description = "A practical first course for programmers.",
  audience = "programmers who know another language",
  chapters = {
    "Values and types",
    { title = "Tables", brief = "constructors, length, iteration, metatables" },
    { title = "Functions", brief = "closures, varargs, multiple results" },
    "Modules and packages",
  },
  instructions = "Use short runnable examples.",
})

local stats, err = coursegen.generate(course, {
  out = out, base_url = base_url, provider = args.provider,
  on_event = function(ev)
    if ev.type == "chapter" then
      print(string.format("chapter %d %-8s %s%s", ev.index, ev.status, ev.title,
        ev.reason and ("  (" .. ev.reason .. ")") or ""))
    elseif ev.type == "warning" then
      print("warning: " .. ev.message)
    end
  end,
})
if srv then srv:close() end
if not stats then
  io.stderr:write(err, "\n")
  os.exit(2)
end
print(string.format("%d written, %d failed, %d requests, in %s", stats.chapters.written,
  stats.chapters.failed, stats.requests, stats.out))
os.exit(stats.chapters.failed == 0 and 0 or 1)
