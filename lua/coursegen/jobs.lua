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

local M = {}

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
-- @tparam[opt] string source the source document's part, sent first (`source_part`)
-- @treturn string hex SHA-256
function M.prompt_sha(system, prompt, shared, source)
  if source then
    return sha256.hex("source\0" .. system .. "\0" .. source .. "\0" .. (shared or "") .. "\0" .. prompt)
  end
  if shared and shared ~= "" then return sha256.hex(system .. "\0" .. shared .. "\0" .. prompt) end
  return sha256.hex(system .. "\0" .. prompt)
end

--- The source document's own part of a request (`req.source`), when the template that
-- would hold it is the default one (a course's own template places `{{source}}` itself).
-- @tparam table course validated course
-- @tparam string which "outline" or "context"
-- @tparam[opt] string source_text
-- @treturn ?string
function M.source_part(course, which, source_text)
  if source_text and course.templates[which].default then return prompts.source_turn(source_text) end
  return nil
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
-- @treturn boolean whether that number is a maximum (`max_chapters`) rather than exact
function M.outline(course, s, source_text, system)
  local at_most = course.max_chapters
  local n = at_most or course.chapter_count or settings.DEFAULT_CHAPTERS
  local prompt = course.templates.outline:render(prompts.context(course, {
    chapter = { count = n, max = at_most, exact = not at_most }, source = source_text,
  }))
  return {
    prompt = prompt, system = system, source = M.source_part(course, "outline", source_text),
    max_output_tokens = s.max_output_tokens,
    temperature = s.temperature, thinking_budget = s.thinking_budget,
    schema = outline_mod.schema(n, at_most ~= nil), schema_name = "outline",
  }, n, at_most ~= nil
end

--- The outline an earlier run saved in the output folder, if any. Raises an "input"
-- failure for one that cannot be used, or whose chapter count disagrees with the count the
-- course asks for (`--chapters`): silently using it would ignore what the user asked.
-- @tparam table course validated course
-- @tparam table s settings (`out`)
-- @treturn ?{table,...} the saved chapters
function M.saved_outline(course, s)
  local path = s.out .. "/" .. outline_mod.FILE
  local saved, bad = outline_mod.load(path)
  if bad then fail.raise("input", "%s", bad) end
  local want = course.chapter_count
  if saved and want and #saved ~= want then
    fail.raise("input", "%s holds %d chapters, but the course asks for %d: drop --chapters to use the saved "
      .. "outline, or delete %s to have a new one made", path, #saved, want, path)
  end
  return saved
end

--- Builds every chapter job for an outline.
-- @tparam table course validated course
-- @tparam {table,...} chapters the outline
-- @tparam table s settings
-- @tparam[opt] string source_text the source document's text
-- @treturn {table,...} jobs `{index, title, brief, file, chapter (hook view), prompt, shared,
--   system, req, sha}`; `req.shared` is the part every chapter sends before its own (nil when
--   empty), `req.source` the source document's part, sent before that
function M.chapters(course, chapters, s, source_text)
  local n = #chapters
  local names = M.file_names(chapters)
  local outline = prompts.outline_text(chapters)
  local system = M.system(course)
  local shared = M.shared(course, chapters, source_text)
  if shared == "" then shared = nil end
  local source = M.source_part(course, "context", source_text)
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
      prompt = prompt, shared = shared, source = source, system = system, max_output_tokens = s.max_output_tokens,
      temperature = s.temperature, thinking_budget = s.thinking_budget,
    }
    out[i] = {
      kind = "chapter", index = i, title = ch.title, brief = ch.brief, file = names[i],
      chapter = view, prompt = prompt, shared = shared, system = system, req = req,
      sha = M.prompt_sha(system, prompt, shared, source),
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
  out.max_output_tokens = settings.larger_output(req.max_output_tokens)
  return out
end

--- What is on disk at a chapter's file, against what the manifest says coursegen wrote
-- there: "missing"; "ours" (the text coursegen wrote, `e` being its entry, promoted to done
-- when the run that wrote it was killed before recording it); "old" (a write recorded but
-- not made: the file it was to replace); "edited" (changed by hand); or "foreign" (a file no
-- entry claims). A link or anything but a regular file is refused.
-- @tparam string path
-- @tparam ?table e the manifest entry whose `file` is this file
-- @treturn string state
-- @treturn ?table the entry as it stands on disk (a "writing" entry whose file is whole
--   comes back as done)
function M.file_state(path, e)
  local text, err, why = files.read_output(path)
  if not text then
    if why == "missing" then return "missing" end
    if why == "link" or why == "not a file" then
      fail.raise("input", "%s; coursegen reads back and replaces only regular files it wrote: remove it and run again",
        err)
    end
    fail.raise("io", "cannot read %s", err)
  end
  if not e then return "foreign" end
  local sha = sha256.hex(text)
  if sha == e.sha256 then
    if e.status == "writing" then
      local done = {}
      for k, v in pairs(e) do done[k] = v end
      done.status, done.replaces = "done", nil
      return "ours", done
    end
    return "ours", e
  end
  if e.replaces and sha == e.replaces then return "old", e end
  return "edited", e
end

--- Decides, per chapter, whether it runs ("todo"), is kept ("skipped"), is left alone
-- because `only` names other chapters ("left"), or is kept because it was edited by hand
-- ("kept": `force` or `only` regenerate it, after a backup unless `no_backup`). A chapter
-- file no manifest entry claims is never replaced: the run stops before sending anything.
-- @tparam {table,...} jobs from `chapters`
-- @tparam ?table old the previous manifest
-- @tparam table s settings (`force`, `only`, `out`, `no_backup`)
function M.decide(jobs, old, s)
  for i in pairs(s.only or {}) do
    if i > #jobs then
      fail.raise("input", "option only: there is no chapter %d (the course has %d)", i, #jobs)
    end
  end
  local by_file = {}
  for _, e in ipairs(old and old.chapters or {}) do
    if type(e) == "table" and type(e.file) == "string" then by_file[e.file] = e end
  end
  for _, job in ipairs(jobs) do
    local path = s.out .. "/" .. job.file
    local state, e = M.file_state(path, by_file[job.file])
    if state == "foreign" then
      fail.raise("input", "%s exists and coursegen did not write it (the manifest does not list it): "
        .. "move it away, or choose another output folder", path)
    end
    if e and e.index ~= job.index then e = nil end -- another chapter's file before a reorder
    job.previous = state ~= "missing" and e or nil
    job.state = state
    local done = state == "ours" and e.status == "done" and e.prompt_sha256 == job.sha
    local asked = s.force or (s.only and s.only[job.index])
    if state == "edited" then
      job.decision = asked and "todo" or "kept"
      job.backup = asked and not s.no_backup or nil
    elseif s.only then
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
