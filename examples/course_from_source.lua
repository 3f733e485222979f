-- A course grounded in a document: the outline (3 chapters) is generated from the notes,
-- saved as outline.json in the output folder, then every chapter is written from it.
--   lua5.4 examples/course_from_source.lua [--base-url URL] [--provider gemini|openai] [--out DIR]
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
  title = "Git from the notes",
  source = here .. "/notes.md",
  chapters = 3,
  language = "English",
})

local stats, err = coursegen.generate(course, {
  out = out, base_url = base_url, provider = args.provider,
  on_event = function(ev)
    if ev.type == "outline" then
      print(string.format("outline: %d chapters (%s)", ev.count, ev.source))
    elseif ev.type == "chapter" then
      print(string.format("chapter %d %s: %s", ev.index, ev.status, ev.title))
    end
  end,
})
if srv then srv:close() end
if not stats then
  io.stderr:write(err, "\n")
  os.exit(2)
end
print("outline saved in " .. stats.out .. "/outline.json; edit it and rerun to use it")
os.exit(stats.chapters.failed == 0 and 0 or 1)
