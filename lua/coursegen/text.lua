--- Text helpers that respect UTF-8: messages and summaries are shown to people, and a
-- byte cut in the middle of a character would put invalid UTF-8 in front of them.
-- @module coursegen.text
local M = {}

--- `s` cut to at most `max` bytes without splitting a character, with "…" added when cut.
-- @tparam string s
-- @tparam integer max bytes kept (the "…" comes on top)
-- @treturn string
function M.shorten(s, max)
  if #s <= max then return s end
  local cut = max
  -- Back off over continuation bytes (10xxxxxx) so the cut falls between characters.
  while cut > 1 and (s:byte(cut + 1) or 0) & 0xC0 == 0x80 do cut = cut - 1 end
  return s:sub(1, cut) .. "…"
end

return M
