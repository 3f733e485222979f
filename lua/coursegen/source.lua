--- Source documents that ground a course: reading, converting, and keeping within budget.
-- `.md` and `.txt` are read as they are; other formats go through `pandoc` or `pdftotext`.
-- A source larger than the budget is cut at the last paragraph boundary before the limit,
-- and the caller is told (a warning event), rather than failing: a long document still
-- makes a course, grounded in its first part.
-- @module coursegen.source
local fail = require "coursegen.fail"
local proc = require "coursegen.proc"

local M = {}

--- Bytes per token used for estimates (a common rule of thumb for English text).
M.BYTES_PER_TOKEN = 4

--- Default budget for a source, in estimated tokens.
M.DEFAULT_MAX_TOKENS = require("coursegen.settings").DEFAULTS.source_max_tokens

-- `args` come before the file, `after` after it (pdftotext writes to stdout when told "-").
local CONVERTERS = {
  docx = { tool = "pandoc", package = "pandoc", args = { "-t", "gfm", "--wrap=none" } },
  html = { tool = "pandoc", package = "pandoc", args = { "-t", "gfm", "--wrap=none" } },
  htm = { tool = "pandoc", package = "pandoc", args = { "-f", "html", "-t", "gfm", "--wrap=none" } },
  odt = { tool = "pandoc", package = "pandoc", args = { "-t", "gfm", "--wrap=none" } },
  epub = { tool = "pandoc", package = "pandoc", args = { "-t", "gfm", "--wrap=none" } },
  pdf = { tool = "pdftotext", package = "poppler-utils", args = { "-layout" }, after = { "-" } },
}

--- Estimated tokens of a text.
-- @tparam string s
-- @treturn integer
function M.tokens(s)
  return (#s + M.BYTES_PER_TOKEN - 1) // M.BYTES_PER_TOKEN
end

local function read_plain(path)
  local f, err = io.open(path, "rb")
  if not f then fail.raise("input", "source: cannot read %s", tostring(err)) end
  local s = f:read("a")
  f:close()
  return s
end

local function convert(path, c)
  local exe = proc.which(c.tool)
  if not exe then
    fail.raise("input", "source: %s needs %s, which is not installed (Debian package %s)",
      path, c.tool, c.package)
  end
  local argv = { exe }
  for _, a in ipairs(c.args) do argv[#argv + 1] = a end
  -- a name starting with "-" would be read as an option
  argv[#argv + 1] = path:sub(1, 1) == "-" and "./" .. path or path
  for _, a in ipairs(c.after or {}) do argv[#argv + 1] = a end
  local ok, out = proc.exec(argv)
  if not ok then
    fail.raise("input", "source: %s failed on %s: %s", c.tool, path, out:sub(1, 300))
  end
  return out
end

--- Cuts `text` to at most `max_tokens`, at the last paragraph (else line) boundary.
-- @tparam string text
-- @tparam integer max_tokens
-- @treturn string the text, possibly cut
-- @treturn boolean whether it was cut
function M.fit(text, max_tokens)
  local limit = max_tokens * M.BYTES_PER_TOKEN
  if #text <= limit then return text, false end
  local head = text:sub(1, limit)
  local cut = 0
  for pos in head:gmatch("()\n%s*\n") do cut = pos end
  if cut == 0 then
    for pos in head:gmatch("()\n") do cut = pos end
  end
  if cut == 0 then
    -- No line break at all: cut at the limit, backing off to a UTF-8 character boundary.
    cut = limit + 1
    while cut > 1 and (head:byte(cut) or 0) & 0xC0 == 0x80 do cut = cut - 1 end
  end
  return head:sub(1, cut - 1), true
end

--- Reads a source document as text, converting formats that need it, and fits it to budget.
-- @tparam string path
-- @tparam[opt] integer max_tokens budget (default 200,000)
-- @treturn table `{text, tokens, original_tokens, truncated}`; raises an "input" failure
--   (`coursegen.fail`) when the file cannot be read or converted
function M.read(path, max_tokens)
  max_tokens = max_tokens or M.DEFAULT_MAX_TOKENS
  local ext = (path:match("%.([%w]+)$") or ""):lower()
  local text
  if ext == "md" or ext == "markdown" or ext == "txt" or ext == "text" then
    text = read_plain(path)
  elseif CONVERTERS[ext] then
    text = convert(path, CONVERTERS[ext])
  else
    fail.raise("input", "source: %s: unsupported format (use .md, .txt, .docx, .html, .odt, .epub or .pdf)", path)
  end
  local original = M.tokens(text)
  local fitted, cut = M.fit(text, max_tokens)
  return { text = fitted, tokens = M.tokens(fitted), original_tokens = original, truncated = cut }
end

return M
