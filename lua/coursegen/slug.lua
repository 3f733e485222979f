--- Safe file-name slugs for courses and chapters.
-- A slug is lowercase ASCII letters and digits, non-ASCII letters kept as valid UTF-8,
-- and `-` for anything else; at most 60 bytes; never empty, never a dot name, never a
-- path. Invalid UTF-8 bytes are dropped rather than guessed at.
-- @module coursegen.slug
local M = {}

local sbyte, schar, concat, format = string.byte, string.char, table.concat, string.format

--- Longest slug in bytes.
M.MAX_BYTES = 60

-- Length of the valid UTF-8 sequence starting at `i`, or nil when the bytes there are not one.
local function utf8_len(s, i)
  local c = sbyte(s, i)
  local n, min
  if c < 0x80 then return 1
  elseif c >= 0xC2 and c <= 0xDF then n, min = 2, 0x80
  elseif c >= 0xE0 and c <= 0xEF then n, min = 3, 0x800
  elseif c >= 0xF0 and c <= 0xF4 then n, min = 4, 0x10000
  else return nil end
  local cp = c & (0x7F >> n)
  for k = 1, n - 1 do
    local b = sbyte(s, i + k)
    if not b or b < 0x80 or b > 0xBF then return nil end
    cp = (cp << 6) | (b & 0x3F)
  end
  if cp < min or cp > 0x10FFFF or (cp >= 0xD800 and cp <= 0xDFFF) then return nil end
  return n, cp
end

-- Non-ASCII code points that are punctuation, symbols, spaces or emoji rather than letters.
-- Lua has no Unicode tables; these ranges cover what titles actually contain.
local NOT_LETTER = {
  { 0x80, 0xBF }, { 0xD7, 0xD7 }, { 0xF7, 0xF7 },
  { 0x2000, 0x2BFF },   -- general punctuation, symbols, arrows, maths, box drawing, dingbats
  { 0x3000, 0x303F },   -- CJK punctuation
  { 0xFE10, 0xFE6F }, { 0xFF00, 0xFF0F }, { 0xFF1A, 0xFF20 }, { 0xFF3B, 0xFF40 }, { 0xFF5B, 0xFF65 },
  { 0xFE00, 0xFE0F },   -- variation selectors
  { 0xFEFF, 0xFEFF },   -- byte-order mark
  { 0xFFF0, 0xFFFF },   -- specials, among them U+FFFD, which stands in for invalid bytes
  { 0x1F000, 0x1FAFF }, -- emoji and pictographs
  { 0xE0000, 0xE007F }, -- tags
}

local function is_letter(cp)
  for _, r in ipairs(NOT_LETTER) do
    if cp >= r[1] and cp <= r[2] then return false end
  end
  return true
end

-- Lower-cases the few non-ASCII letters that have a simple one-to-one mapping we can compute:
-- Latin-1 capitals, and Greek and Cyrillic capitals.
local function lower_cp(cp)
  if (cp >= 0xC0 and cp <= 0xDE and cp ~= 0xD7) then return cp + 0x20 end
  if cp >= 0x391 and cp <= 0x3A9 and cp ~= 0x3A2 then return cp + 0x20 end
  if cp >= 0x410 and cp <= 0x42F then return cp + 0x20 end
  if cp >= 0x400 and cp <= 0x40F then return cp + 0x50 end
  return cp
end

--- Turns any title into a safe slug.
-- @tparam string s the title
-- @tparam[opt="chapter"] string fallback used when nothing is left
-- @treturn string
function M.slug(s, fallback)
  if type(s) ~= "string" then
    error(format("bad argument #1 to 'slug' (string expected, got %s)", type(s)), 2)
  end
  fallback = fallback or "chapter"
  local out, i, n = {}, 1, #s
  local function dash() if out[#out] ~= "-" then out[#out + 1] = "-" end end
  while i <= n do
    local len, cp = utf8_len(s, i)
    if not len then
      i = i + 1 -- invalid byte: dropped
    elseif len == 1 then
      local c = sbyte(s, i)
      if (c >= 48 and c <= 57) or (c >= 97 and c <= 122) then out[#out + 1] = schar(c)
      elseif c >= 65 and c <= 90 then out[#out + 1] = schar(c + 32)
      else dash() end
      i = i + 1
    else
      if is_letter(cp) then out[#out + 1] = utf8.char(lower_cp(cp)) else dash() end
      i = i + len
    end
  end
  -- Trim dashes, then cut at 60 bytes on a piece boundary (pieces are whole characters).
  local pieces, bytes = {}, 0
  for _, p in ipairs(out) do
    if bytes + #p > M.MAX_BYTES then break end
    if not (p == "-" and #pieces == 0) then
      pieces[#pieces + 1] = p
      bytes = bytes + #p
    end
  end
  while pieces[#pieces] == "-" do pieces[#pieces] = nil end
  local r = concat(pieces)
  if r == "" then return fallback end
  return r
end

--- Slugs for a list of titles, with duplicates disambiguated as `x`, `x-2`, `x-3`.
-- @tparam {string,...} titles
-- @tparam[opt] string fallback
-- @treturn {string,...}
function M.unique(titles, fallback)
  local seen, out = {}, {}
  for i, t in ipairs(titles) do
    local base = M.slug(t, fallback)
    local s, k = base, 1
    while seen[s] do
      k = k + 1
      local suffix = "-" .. k
      local cut = base
      -- Keep room for the suffix without cutting a UTF-8 sequence.
      while #cut + #suffix > M.MAX_BYTES do
        cut = cut:sub(1, utf8.offset(cut, -1) - 1)
      end
      s = cut .. suffix
    end
    seen[s] = true
    out[i] = s
  end
  return out
end

return M
