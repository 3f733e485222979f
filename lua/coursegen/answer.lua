--- Cleaning a model's answer before it becomes a file.
-- Models often wrap a whole answer in a code fence or open with a preamble ("Here is the
-- chapter:"); neither belongs in the course. Only the edges are touched: text inside the
-- chapter is never rewritten.
-- @module coursegen.answer
local textutil = require "coursegen.text"

local M = {}

local PREAMBLE_STARTS = {
  "here is", "here's", "here are", "sure", "certainly", "of course", "okay", "ok,", "absolutely",
  "below is", "great", "alright",
}

local function is_preamble(line)
  if #line > 200 or line:match("^#") then return false end
  local l = line:lower()
  local starts = false
  for _, p in ipairs(PREAMBLE_STARTS) do
    if l:sub(1, #p) == p then starts = true break end
  end
  return starts and (line:match("[:!.]%s*$") ~= nil)
end

local function unfence(text)
  local lang, inner = text:match("^```([%w_-]*)[ \t]*\r?\n(.-)\r?\n```%s*$")
  if inner and (lang == "" or lang == "markdown" or lang == "md") and not inner:find("\n```[ \t]*\r?\n?$") then
    return inner
  end
  return text
end

--- Strips a preamble line and a code fence around the whole answer.
-- @tparam string text
-- @treturn string
function M.clean(text)
  local t = text:gsub("^%s+", ""):gsub("%s+$", "")
  t = unfence(t)
  local first, rest = t:match("^([^\n]*)\n%s*\n(.*)$")
  if first and is_preamble(first) then
    t = unfence((rest:gsub("^%s+", "")))
  end
  return t
end

--- Removes a leading level-1 heading that repeats the chapter title (the file adds its own).
-- @tparam string text
-- @tparam string title
-- @treturn string
function M.drop_title(text, title)
  local h, rest = text:match("^#%s+([^\n]*)\n?(.*)$")
  local hl, tl = h and h:gsub("%s+$", ""):lower(), title:lower()
  -- The title alone, or with the place the prompt gave it ("Chapter 3 of 12: Tables").
  if hl and (hl == tl or (hl:sub(-#tl - 2) == ": " .. tl and hl:match("^%S+ %d"))) then
    return (rest:gsub("^%s+", ""))
  end
  return text
end

--- Fits a course summary under the README's "## Summary" heading: drops the model's own
-- title and "Summary" heading, and moves the remaining headings one level down.
-- @tparam string text
-- @treturn string
function M.as_section(text)
  local t = text:gsub("^#[ \t][^\n]*\n%s*", "")
  t = t:gsub("^##%s+[Ss]ummary%s*\n%s*", "")
  t = ("\n" .. t):gsub("\n(#+)([ \t])", "\n#%1%2"):sub(2)
  return t
end

--- The chapter's own summary: its "## Summary" section, else its first paragraph.
-- @tparam string text the chapter's Markdown
-- @tparam[opt=800] integer max bytes kept
-- @treturn string
function M.summary(text, max)
  max = max or 800
  local body = ("\n" .. text):match("\n##%s+[Ss]ummary[^\n]*\n(.-)\n##?%s") or
               ("\n" .. text):match("\n##%s+[Ss]ummary[^\n]*\n(.*)$")
  if not body then
    for para in (text .. "\n\n"):gmatch("(.-)\n%s*\n") do
      if not para:match("^%s*#") and para:match("%S") then body = para break end
    end
  end
  body = (body or ""):gsub("^%s+", ""):gsub("%s+$", "")
  return textutil.shorten(body, max)
end

return M
