--- Source documents that ground a course: reading, converting, and keeping within budget.
-- `.md` and `.txt` are read as they are; other formats go through `pandoc` or `pdftotext`.
-- A source larger than the budget is cut at the last paragraph boundary before the limit,
-- and the caller is told (a warning event), rather than failing: a long document still
-- makes a course, grounded in its first part.
-- @module coursegen.source
local fail = require "coursegen.fail"
local lfs = require "lfs"
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

--- Largest source file accepted, in bytes. Only the budget's worth is ever used (about
-- 800 KB at the default), so a bigger file is a mistake, and must not be read into memory.
M.MAX_FILE_BYTES = 64 * 1024 * 1024

local function size_text(n)
  if n >= 1024 * 1024 * 1024 then return string.format("%.1f GiB", n / (1024 * 1024 * 1024)) end
  return string.format("%.1f MiB", n / (1024 * 1024))
end

local function is_plain(path)
  local ext = (path:match("%.([%w]+)$") or ""):lower()
  return ext == "md" or ext == "markdown" or ext == "txt" or ext == "text"
end

local function not_text(path, nul)
  return string.format("%s is not text (a zero byte at offset %d); give a .md or .txt file", path, nul - 1)
end

--- Whether `path` can be a source: an existing regular file (a link to one is followed), not
-- a folder or a device, of at most `MAX_FILE_BYTES`, and for a text format without a zero byte
-- in its first 64 KiB. What `validate` and `generate` both ask.
-- @tparam string path
-- @treturn[1] integer its size in bytes
-- @treturn[2] nil
-- @treturn[2] string why not (without the "source:" prefix)
function M.check(path)
  local ext = (path:match("%.([%w]+)$") or ""):lower()
  local unsupported = not is_plain(path) and not CONVERTERS[ext]
  local why_format = path .. ": unsupported format (use .md, .txt, .docx, .html, .odt, .epub or .pdf)"
  -- a named format we cannot read says so first; a nameless one (/dev/zero) after its kind
  if unsupported and ext ~= "" then return nil, why_format end
  local a = lfs.attributes(path)
  if not a then return nil, "file not found: " .. path end
  if a.mode == "directory" then return nil, path .. " is a folder; name a file in it" end
  if a.mode ~= "file" then return nil, path .. " is not a regular file (it is a " .. a.mode .. ")" end
  if a.size > M.MAX_FILE_BYTES then
    return nil, string.format("%s is %s, more than %d MiB; only its first %d tokens or so would be used: "
      .. "pass an excerpt", path, size_text(a.size), M.MAX_FILE_BYTES // (1024 * 1024), M.DEFAULT_MAX_TOKENS)
  end
  if unsupported then return nil, why_format end
  local f, err = io.open(path, "rb")
  if not f then return nil, "cannot read " .. tostring(err) end
  local head = f:read(64 * 1024) or ""
  f:close()
  local nul = is_plain(path) and head:find("\0", 1, true)
  if nul then return nil, not_text(path, nul) end
  return a.size
end

-- The first `max` bytes of a text file, and its size: no more is read than is used.
local function read_plain(path, max)
  local f, err = io.open(path, "rb")
  if not f then fail.raise("input", "source: cannot read %s", tostring(err)) end
  local s, rerr = f:read(max)
  local size = f:seek("end")
  f:close()
  if s == nil and rerr then fail.raise("input", "source: cannot read %s: %s", path, tostring(rerr)) end
  s = s or ""
  local nul = s:find("\0", 1, true)
  if nul then fail.raise("input", "source: %s", not_text(path, nul)) end
  return s, math.max(size or #s, #s)
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
  local ok, why = M.check(path)
  if not ok then fail.raise("input", "source: %s", why) end
  local text, size
  if is_plain(path) then
    -- one byte past the budget, so `fit` still sees that it must cut
    text, size = read_plain(path, max_tokens * M.BYTES_PER_TOKEN + 1)
  else
    text = convert(path, CONVERTERS[ext]) -- `check` refused any other format
  end
  local original = M.tokens(text)
  if size then original = (size + M.BYTES_PER_TOKEN - 1) // M.BYTES_PER_TOKEN end
  local fitted, cut = M.fit(text, max_tokens)
  return { text = fitted, tokens = M.tokens(fitted), original_tokens = original, truncated = cut }
end

return M
