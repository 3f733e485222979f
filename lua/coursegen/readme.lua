--- The course's `README.md`: title, description, table of contents, summary.
-- @module coursegen.readme
local M = {}

local format, concat = string.format, table.concat

-- Markdown link targets: spaces and parentheses would break the link.
local function link_target(file)
  return (file:gsub("[ ()]", function(c) return format("%%%02X", c:byte()) end))
end

--- Renders the README.
-- @tparam table course the validated course
-- @tparam {table,...} entries manifest chapter entries, in order
-- @tparam[opt] string summary the course summary, once written
-- @treturn string
function M.render(course, entries, summary)
  local out = { "# " .. course.title, "" }
  if course.description then out[#out + 1] = course.description; out[#out + 1] = "" end
  if course.audience then out[#out + 1] = "*Audience: " .. course.audience .. "*"; out[#out + 1] = "" end
  out[#out + 1] = "## Contents"
  out[#out + 1] = ""
  local missing = 0
  for _, e in ipairs(entries) do
    if e.status == "done" then
      out[#out + 1] = format("%d. [%s](%s)", e.index, e.title, link_target(e.file))
    else
      missing = missing + 1
      out[#out + 1] = format("%d. %s (missing: %s)", e.index, e.title,
        e.status == "failed" and "generation failed" or "not written yet")
    end
  end
  if missing > 0 then
    out[#out + 1] = ""
    out[#out + 1] = format("%d chapter%s missing; rerun the same command to retry %s.", missing,
      missing == 1 and " is" or "s are", missing == 1 and "it" or "them")
  end
  if summary and summary ~= "" then
    out[#out + 1] = ""
    out[#out + 1] = "## Summary"
    out[#out + 1] = ""
    out[#out + 1] = summary
  end
  return concat(out, "\n") .. "\n"
end

return M
