-- A course grounded in a document: the outline (3 chapters) is generated from the notes,
-- saved as outline.json in the output folder, then every chapter is written from it.
--   lua5.4 examples/course_from_source.lua [--base-url URL] [--provider gemini|openai] [--out DIR]
-- support.lua: module paths, the command line, the server (the bundled mock by default).
local ex = dofile(((arg and arg[0] or ""):match("^(.*)/[^/]*$") or ".") .. "/support.lua")
local coursegen = require "coursegen"
local args, base_url, out = ex.args, ex.base_url(), ex.out()

local course = assert(coursegen.course {
  title = "Git from the notes",
  source = ex.here .. "/notes.md",
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
ex.finish(stats, err)
print("outline saved in " .. stats.out .. "/outline.json; edit it and rerun to use it")
os.exit(stats.chapters.failed == 0 and 0 or 1)
