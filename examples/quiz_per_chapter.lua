-- A pipeline with a stage: after each chapter is written, one more request turns it into a
-- quiz, saved beside it as NN-slug.quiz.md. Stages share the engine, its limits and resume.
--   lua5.4 examples/quiz_per_chapter.lua [--base-url URL] [--provider gemini|openai] [--out DIR]
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
  title = "Statistics for the curious",
  chapters = { "Averages and spread", "Probability", "Sampling", "Testing a hypothesis" },
})

local quiz = {
  name = "quiz",
  -- The first line names the chapter: real models read it as the task, the mock quotes it.
  prompt = function(chapter, text)
    return "Quiz for chapter " .. chapter.number .. ": " .. chapter.title .. "\n\n" ..
      "Write five multiple-choice questions (four options each, answers at the end) " ..
      "that check the reader understood this chapter:\n\n" .. text
  end,
  file = function(chapter) return (chapter.file:gsub("%.md$", ".quiz.md")) end,
}

local stats, err = coursegen.generate(course, {
  out = out, base_url = base_url, provider = args.provider,
  hooks = {
    stages = { quiz },
    -- Every chapter ends with a pointer to its quiz.
    postprocess = function(chapter, text)
      return text .. "\n\n---\nTest yourself: [quiz](" .. chapter.file:gsub("%.md$", ".quiz.md") .. ")"
    end,
  },
  on_event = function(ev)
    if ev.type == "chapter" or ev.type == "stage" then
      print(string.format("%-7s %d %s: %s", ev.type, ev.index, ev.status, ev.name or ev.title))
    end
  end,
})
if srv then srv:close() end
if not stats then
  io.stderr:write(err, "\n")
  os.exit(2)
end
print(string.format("%d chapters and %d quizzes in %s", stats.chapters.written, stats.stages.written, stats.out))
os.exit((stats.chapters.failed + stats.stages.failed) == 0 and 0 or 1)
