--- Default prompt templates and the contexts they are rendered with.
-- A chapter request is two parts: the `context` template (course, outline with briefs,
-- structure, source document), the same bytes for every chapter and sent first, then the
-- `chapter` template, the chapter's own few lines. Shared first is what lets a provider's
-- prefix cache, or an explicit cached content, bill the long part once. The chapter
-- template's first line names the chapter ("Chapter 3 of 12: Tables"): models read it as
-- the task, and the mock server quotes it (it reads the last user message), which is how
-- specs check that every file holds its own chapter. Every chapter sees the whole outline
-- with briefs, so chapters written in parallel do not repeat each other.
-- @module coursegen.prompts
local template = require "coursegen.template"

local M = {}

local format, concat = string.format, table.concat

--- Names of the templates a course may override (`prompts` key).
M.NAMES = { system = true, outline = true, context = true, chapter = true, summary = true }

--- Default templates.
M.defaults = {
  system = [[
You are an expert teacher and technical writer. You write clear, accurate, well-structured
course material in Markdown{{#course.language}}, in {{course.language}}{{/course.language}}.
{{#course.audience}}The readers are {{course.audience}}.
{{/course.audience}}Answer with the requested Markdown only: no preamble, no closing remarks.]],

  outline = [[
Course outline: {{course.title}}

Design the outline of a course titled "{{course.title}}" with {{#chapter.exact}}exactly {{/chapter.exact}}]]
    .. [[{{#chapter.max}}at most {{/chapter.max}}{{chapter.count}} chapters.
{{#chapter.max}}
Choose the number of chapters the subject needs, no more.
{{/chapter.max}}
{{#course.description}}
Course description: {{course.description}}
{{/course.description}}
{{#course.audience}}
Audience: {{course.audience}}
{{/course.audience}}
{{#course.language}}
Write the titles and briefs in {{course.language}}.
{{/course.language}}

Chapters go from foundations to advanced topics, each building on the ones before; no two
chapters cover the same ground. For each chapter give a short title (no numbering) and a
brief of one or two sentences saying what it covers.
{{#instructions}}

Instructions from the author: {{instructions}}
{{/instructions}}
{{#source}}

Base the course on the source document above.
{{/source}}]],

  -- What every chapter prompt shares, sent first and byte-identical for all of them, so
  -- a provider's prefix cache (or an explicit cached content) pays for it once.
  context = [[
The course "{{course.title}}".
{{#course.description}}
About the course: {{course.description}}
{{/course.description}}
{{#course.audience}}
Audience: {{course.audience}}
{{/course.audience}}
{{#course.language}}
Write in {{course.language}}.
{{/course.language}}
{{#instructions}}
Instructions from the author: {{instructions}}
{{/instructions}}

The whole course, so you know what comes before and after each chapter (do not repeat
what other chapters cover; refer to them instead):
{{outline}}

Structure every chapter in Markdown like this:
- start with "## Summary": a short paragraph saying what the reader will learn;
- then a systematic explanation in sections ("## ..."), each concept with worked examples
  (code in fenced blocks where it helps);
- then "## Exercises": a few exercises of increasing difficulty;
- end with "## Going further": ideas and topics to explore next.
Do not start with the chapter title; it is added for you.
{{#source}}

Ground the chapters in the source document above.
{{/source}}]],

  chapter = [[
Chapter {{chapter.number}} of {{chapter.count}}: {{chapter.title}}

Write chapter {{chapter.number}} of {{chapter.count}}, "{{chapter.title}}", of the course "{{course.title}}"
described above.
{{#chapter.brief}}
This chapter covers: {{chapter.brief}}
{{/chapter.brief}}]],

  summary = [[
Course summary: {{course.title}}

Write a summary of the course "{{course.title}}" for its index page: two or three
paragraphs saying what the course teaches and how the chapters fit together, then a short
list of what the reader will be able to do at the end. Markdown, no title.
{{#course.language}}
Write in {{course.language}}.
{{/course.language}}

The chapters and their own summaries:
{{summaries}}]],
}

--- Compiles a course's templates (defaults overridden by `prompts`); raises on a bad one.
-- A default template is marked `default = true`: with the default outline and context
-- templates the source document travels as its own part, first (`source_turn`); a
-- template of the course's own places `{{source}}` where it wants it instead.
-- @tparam[opt] table overrides name → template text
-- @treturn table name → compiled template
function M.compile(overrides)
  local out = {}
  for name in pairs(M.NAMES) do
    local src = overrides and overrides[name] or M.defaults[name]
    -- A chapter template of the course's own says everything itself: the default shared
    -- part would repeat what it holds, so it is left out unless the course gives one too.
    if name == "context" and overrides and overrides.chapter and not overrides.context then src = "" end
    out[name] = template.compile(name, src)
    out[name].default = src == M.defaults[name]
  end
  return out
end

--- The source document as the part sent first, before the outline prompt or the chapters'
-- shared part: the same bytes for the outline and every chapter, so one cached content
-- (or a provider's prefix cache) serves them all and the document leaves once.
-- @tparam string text the source document's text
-- @treturn string
function M.source_turn(text)
  return "The source document of this course:\n<source>\n" .. text .. "\n</source>"
end

--- The outline as the prompts show it: one numbered line per chapter, with its brief.
-- @tparam {table,...} chapters `{title, brief}` tables
-- @treturn string
function M.outline_text(chapters)
  local lines = {}
  for i, ch in ipairs(chapters) do
    local line = format("%d. %s", i, ch.title)
    -- Test directives for the mock server ("[[mock:503]]") belong to one chapter's own
    -- prompt; the outline every chapter sees must not carry them to the others.
    local brief = ch.brief and ch.brief:gsub("%s*%[%[mock:[^%]]*%]%]", "")
    if brief and brief ~= "" then line = line .. ": " .. brief end
    lines[#lines + 1] = line
  end
  return concat(lines, "\n")
end

--- The context a template is rendered with.
-- @tparam table course the validated course
-- @tparam[opt] table extra fields merged on top (chapter, outline, summaries, source);
--   `chapter.exact` is set when `chapter.count` is given without `chapter.max`
-- @treturn table
function M.context(course, extra)
  local ctx = {
    course = {
      title = course.title, description = course.description,
      language = course.language, audience = course.audience,
    },
    instructions = course.instructions,
  }
  for k, v in pairs(extra or {}) do ctx[k] = v end
  local ch = ctx.chapter
  if type(ch) == "table" and ch.count and ch.max == nil and ch.exact == nil then
    -- a number of chapters is exact unless the course gives it as a maximum
    local copy = { exact = true }
    for k, v in pairs(ch) do copy[k] = v end
    ctx.chapter = copy
  end
  return ctx
end

return M
