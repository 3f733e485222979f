--- Titles and other course text: what may be in them, how a server's are cleaned, and the
-- key two titles are compared by.
-- A title becomes a file name, a README line, a heading and a prompt, so it must be one line
-- of visible text: control characters (line breaks, NUL, terminal escapes), byte-order marks
-- and bidirectional overrides are refused in a course file (the message names the field)
-- and removed from a server's answer. Duplicates are found after Unicode normalisation and
-- case folding (NFKC_Casefold, by libutf8proc in `coursegen.core`): "Café", "CAFÉ" and
-- "Cafe" + U+0301 are one title.
-- @module coursegen.title
local M = {}

local format, ulen, codes = string.format, utf8.len, utf8.codes

-- Invisible code points that change how text around them is shown or split.
local function invisible(cp)
  return cp == 0xFEFF                          -- byte-order mark, zero-width no-break space
    or (cp >= 0x202A and cp <= 0x202E)         -- bidirectional embeddings and overrides
    or (cp >= 0x2066 and cp <= 0x2069)         -- bidirectional isolates
    or cp == 0x2028 or cp == 0x2029            -- line and paragraph separators
end

local function control(cp)
  return cp < 0x20 or cp == 0x7F or (cp >= 0x80 and cp <= 0x9F)
end

local NAMES = { [0] = "NUL", [9] = "a tab", [10] = "a line break", [13] = "a carriage return",
                [27] = "ESC, a terminal escape", [0xFEFF] = "a byte-order mark" }

--- The first character not allowed in a field, described, or nil when the text is clean.
-- @tparam string s
-- @tparam[opt=false] boolean multiline whether line breaks and tabs are allowed (descriptions,
--   briefs, instructions)
-- @treturn ?string e.g. `"U+000A (a line break) at byte 6"`
function M.problem(s, multiline)
  local bad_at = select(2, ulen(s))
  if bad_at then return format("invalid UTF-8 at byte %d", bad_at) end
  for pos, cp in codes(s) do
    local allowed = multiline and (cp == 9 or cp == 10 or cp == 13)
    if not allowed and (control(cp) or invisible(cp)) then
      local name = NAMES[cp] or (control(cp) and "a control character" or "an invisible formatting character")
      return format("U+%04X (%s) at byte %d", cp, name, pos)
    end
  end
  return nil
end

--- A server's title made into one line of visible text: control characters and line
-- breaks become spaces, invisible formatting characters are dropped, spaces are collapsed.
-- Invalid UTF-8 must already be replaced (`json.utf8_clean`).
-- @tparam string s
-- @treturn string
function M.clean(s)
  if not ulen(s) then return s end
  local out = {}
  for _, cp in codes(s) do
    if control(cp) or cp == 0x2028 or cp == 0x2029 then out[#out + 1] = " "
    elseif not invisible(cp) then out[#out + 1] = utf8.char(cp) end
  end
  return (table.concat(out):gsub("%s+", " "):match("^%s*(.-)%s*$"))
end

--- The key titles are compared by: NFKC with case folding, default-ignorable characters
-- dropped. Text that is not valid UTF-8 falls back to its lower-case bytes.
-- @tparam string s
-- @treturn string
function M.key(s)
  local k = require("coursegen.core").title_key(s)
  return k or s:lower()
end

return M
