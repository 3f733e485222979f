-- A course from a Lua table: four chapters, generated in parallel, with progress lines.
--   lua5.4 examples/course_from_table.lua [--base-url URL] [--provider gemini|openai] [--out DIR]
-- Without --base-url (or COURSEGEN_BASE_URL) it runs against the bundled mock server.
-- support.lua: module paths, the command line, the server (the bundled mock by default).
local ex = dofile(((arg and arg[0] or ""):match("^(.*)/[^/]*$") or ".") .. "/support.lua")
local coursegen = require "coursegen"
local args, base_url, out = ex.args, ex.base_url(), ex.out()

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
ex.finish(stats, err)
print(string.format("%d written, %d failed, %d requests, in %s", stats.chapters.written,
  stats.chapters.failed, stats.requests, stats.out))
os.exit(stats.chapters.failed == 0 and 0 or 1)
