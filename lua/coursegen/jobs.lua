--- What a run would send: the chapters' prompts, requests, file names, and resume decisions.
-- Shared by `plan` (dry run) and `generate`, so both agree on what is skipped.
-- @module coursegen.jobs
local prompts = require "coursegen.prompts"
local sha256 = require "coursegen.sha256"
local slug = require "coursegen.slug"
local files = require "coursegen.files"
local fail = require "coursegen.fail"
local outline_mod = require "coursegen.outline"
local settings = require "coursegen.settings"

local M = { _VERSION = "0.1.0" }

local format, max = string.format, math.max

--- The chapter table hooks receive.
-- @tparam table ch `{title, brief}`
-- @tparam integer i
-- @tparam integer n
-- @tparam string file
-- @treturn table `{index, number, count, title, brief, file}`
local function hook_chapter(ch, i, n, file)
  return { index = i, number = i, count = n, title = ch.title, brief = ch.brief, file = file }
end

--- File names `NN-slug.md` for an outline (zero-padded to the count's width, at least 2).
-- @tparam {table,...} chapters
-- @treturn {string,...}
function M.file_names(chapters)
  local titles = {}
  for i, ch in ipairs(chapters) do titles[i] = ch.title end
  local slugs = slug.unique(titles, "chapter")
  local width = max(2, #tostring(#chapters))
  local out = {}
  for i, s in ipairs(slugs) do out[i] = format("%0" .. width .. "d-%s.md", i, s) end
  return out
end

--- Identity of a request's content: what resuming compares.
-- @tparam string system
-- @tparam string prompt
-- @tparam[opt] string shared the part sent before the prompt (chapters' shared context)
-- @treturn string hex SHA-256
function M.prompt_sha(system, prompt, shared)
  if shared and shared ~= "" then return sha256.hex(system .. "\0" .. shared .. "\0" .. prompt) end
  return sha256.hex(system .. "\0" .. prompt)
end

--- The part every chapter prompt shares (the `context` template), sent before each
-- chapter's own part; "" when the course's templates have none.
-- @tparam table course validated course
-- @tparam {table,...} chapters the outline
-- @tparam[opt] string source_text
-- @treturn string
function M.shared(course, chapters, source_text)
  return course.templates.context:render(prompts.context(course, {
    chapter = { count = #chapters }, outline = prompts.outline_text(chapters), source = source_text,
  }))
end

--- The system instruction for a course.
-- @tparam table course
-- @treturn string
function M.system(course)
  return course.templates.system:render(prompts.context(course))
end

--- The request that asks for an outline, for a course that gives no chapters. Shared by
-- `plan` and `generate`, so a dry run counts the prompt the run would send.
-- @tparam table course validated course
-- @tparam table s settings
-- @tparam[opt] string source_text the source document's text
-- @tparam string system the system instruction (`M.system(course)`)
-- @treturn table req `{prompt, system, max_output_tokens, temperature, thinking_budget,
--   schema, schema_name}`
-- @treturn integer the number of chapters asked for
function M.outline(course, s, source_text, system)
  local n = course.chapter_count or settings.DEFAULT_CHAPTERS
  local prompt = course.templates.outline:render(prompts.context(course, {
    chapter = { count = n }, source = source_text,
  }))
  return {
    prompt = prompt, system = system, max_output_tokens = s.max_output_tokens,
    temperature = s.temperature, thinking_budget = s.thinking_budget,
    schema = outline_mod.schema(n), schema_name = "outline",
  }, n
end

--- Builds every chapter job for an outline.
-- @tparam table course validated course
-- @tparam {table,...} chapters the outline
-- @tparam table s settings
-- @tparam[opt] string source_text the source document's text
-- @treturn {table,...} jobs `{index, title, brief, file, chapter (hook view), prompt, shared,
--   system, req, sha}`; `req.shared` is the part every chapter sends first (nil when empty)
function M.chapters(course, chapters, s, source_text)
  local n = #chapters
  local names = M.file_names(chapters)
  local outline = prompts.outline_text(chapters)
  local system = M.system(course)
  local shared = M.shared(course, chapters, source_text)
  if shared == "" then shared = nil end
  local out = {}
  for i, ch in ipairs(chapters) do
    local view = hook_chapter(ch, i, n, names[i])
    local prompt = course.templates.chapter:render(prompts.context(course, {
      chapter = { title = ch.title, brief = ch.brief, number = i, count = n },
      outline = outline, source = source_text,
    }))
    if s.hooks.prompt then
      prompt = s.hooks.prompt(view, prompt)
      if type(prompt) ~= "string" then
        error(format("hooks.prompt must return a string, got %s", type(prompt)), 0)
      end
    end
    local req = {
      prompt = prompt, shared = shared, system = system, max_output_tokens = s.max_output_tokens,
      temperature = s.temperature, thinking_budget = s.thinking_budget,
    }
    out[i] = {
      kind = "chapter", index = i, title = ch.title, brief = ch.brief, file = names[i],
      chapter = view, prompt = prompt, shared = shared, system = system, req = req,
      sha = M.prompt_sha(system, prompt, shared),
    }
  end
  return out
end

--- A copy of a request with twice the output budget (capped): how an answer cut short at
-- the limit is asked again, live or after a batch.
-- @tparam table req
-- @treturn table
function M.with_larger_output(req)
  local out = {}
  for k, v in pairs(req) do out[k] = v end
  out.max_output_tokens = math.min((req.max_output_tokens or settings.DEFAULT_MAX_OUTPUT) * 2, settings.MAX_OUTPUT_CAP)
  return out
end

--- Decides, per chapter, whether it runs ("todo"), is kept ("skipped"), or is left alone
-- because `only` names other chapters ("left").
-- @tparam {table,...} jobs from `chapters`
-- @tparam ?table old the previous manifest
-- @tparam table s settings (`force`, `only`, `out`)
function M.decide(jobs, old, s)
  for i in pairs(s.only or {}) do
    if i > #jobs then
      fail.raise("input", "option only: there is no chapter %d (the course has %d)", i, #jobs)
    end
  end
  local prev = {}
  for _, e in ipairs(old and old.chapters or {}) do
    if type(e) == "table" and e.index then prev[e.index] = e end
  end
  for _, job in ipairs(jobs) do
    local e = prev[job.index]
    job.previous = e
    local done = e and e.status == "done" and e.prompt_sha256 == job.sha and e.file == job.file
      and files.exists(s.out .. "/" .. job.file)
    if s.only then
      if s.only[job.index] then job.decision = "todo"
      elseif done then job.decision = "skipped"
      else job.decision = "left" end
    elseif s.force or not done then
      job.decision = "todo"
    else
      job.decision = "skipped"
    end
  end
end

return M
