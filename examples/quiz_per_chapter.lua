-- A pipeline with a stage: after each chapter is written, one more request turns it into a
-- quiz, saved beside it as NN-slug.quiz.md. Stages share the engine, its limits and resume.
--   lua5.4 examples/quiz_per_chapter.lua [--base-url URL] [--provider gemini|openai] [--out DIR]
-- support.lua: module paths, the command line, the server (the bundled mock by default).
local ex = dofile(((arg and arg[0] or ""):match("^(.*)/[^/]*$") or ".") .. "/support.lua")
local coursegen = require "coursegen"
local args, base_url, out = ex.args, ex.base_url(), ex.out()

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
ex.finish(stats, err)
print(string.format("%d chapters and %d quizzes in %s", stats.chapters.written, stats.stages.written, stats.out))
os.exit((stats.chapters.failed + stats.stages.failed) == 0 and 0 or 1)
