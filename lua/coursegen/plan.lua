--- Dry runs: what `generate` would send, computed without sending anything.
-- @module coursegen.plan
local jobs = require "coursegen.jobs"
local manifest = require "coursegen.manifest"
local outdir = require "coursegen.outdir"
local slug = require "coursegen.slug"
local source = require "coursegen.source"

local M = {}

--- Records what the chapter requests share, for the caching estimate: `plan.shared_tokens`
-- (system instruction and shared part, tokens) and `plan.shared_requests`.
-- @tparam table plan
-- @tparam table req a chapter request
-- @tparam integer n chapter requests to send
function M.shared_shape(plan, req, n)
  plan.shared_tokens = (req.shared or req.source)
    and (#(req.shared or "") + #(req.source or "") + #(req.system or "") + 3) // 4 or 0
  plan.shared_requests = n
end

--- Builds the plan.
-- @tparam table course validated course
-- @tparam table s settings
-- @treturn table `{outline, outline_source, prompts = {{chapter, prompt}}, shared, requests,
--   tokens = {prompt, output}, out, skipped, shared_tokens, shared_requests}`; `shared` is
--   the part every chapter request sends before its own prompt, `source_bytes` the size of
--   the source document's part sent before that
function M.build(course, s)
  local p = s.provider_mod
  local source_text, warning
  -- what `generate` would refuse before sending anything, a dry run refuses too
  local given = course.chapters and jobs.file_names(course.chapters) or {}
  outdir.check_same_writer(outdir.check(s.out, given, slug.slug(course.title, "course")), s, s.out)
  if course.source then
    local doc = source.read(course.source, s.source_max_tokens)
    source_text = doc.text
    if doc.truncated then
      warning = string.format("source %s is over the budget of %d tokens: it would be cut to %d tokens",
        course.source, s.source_max_tokens, doc.tokens)
    end
  end
  local system = jobs.system(course)
  local plan = { out = s.out, prompts = {}, requests = 0, tokens = { prompt = 0, output = 0 },
                 skipped = 0, warning = warning }
  local function count(req)
    plan.requests = plan.requests + 1
    plan.tokens.prompt = plan.tokens.prompt + p.estimate(req) - (req.max_output_tokens or 0)
    plan.tokens.output = plan.tokens.output + (req.max_output_tokens or 0)
  end
  local chapters = course.chapters
  plan.outline_source = "given"
  if not chapters then
    chapters = jobs.saved_outline(course, s)
    plan.outline_source = chapters and "saved" or "generated"
  end
  if not chapters then
    local req, n = jobs.outline(course, s, source_text, system)
    plan.prompts[1] = { chapter = "outline", prompt = req.prompt }
    count(req)
    -- Chapters are not known yet: estimate each as the size of a chapter prompt for this course.
    local sample = jobs.chapters(course, { { title = course.title } }, s, source_text)[1]
    for _ = 1, n do count(sample.req) end
    M.shared_shape(plan, sample.req, n)
    count(sample.req) -- the summary
    plan.chapter_count = n
    return plan
  end
  plan.outline = chapters
  plan.chapter_count = #chapters
  local list = jobs.chapters(course, chapters, s, source_text)
  plan.shared = list[1] and list[1].shared
  plan.source_bytes = list[1] and list[1].req.source and #list[1].req.source
  jobs.decide(list, manifest.read(s.out .. "/" .. manifest.FILE), s)
  local stages = s.hooks.stages and #s.hooks.stages or 0
  for _, job in ipairs(list) do
    if job.decision == "todo" then
      plan.prompts[#plan.prompts + 1] = { chapter = job.index, title = job.title, file = job.file, prompt = job.prompt }
      count(job.req)
      for _ = 1, stages do count(job.req) end -- a stage's prompt is only known after its chapter
    elseif job.decision == "skipped" or job.decision == "kept" then
      plan.skipped = plan.skipped + 1
    end
  end
  if not s.only then count(list[1].req) end -- the course summary, about a chapter prompt's size
  M.shared_shape(plan, list[1].req, #plan.prompts)
  return plan
end

return M
