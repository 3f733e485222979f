-- A realistic course folder, as `coursegen generate` writes it, for the export specs.
local cjson = require "cjson"

local M = {}

M.title = "Café & Crème: Lua für Anfänger"

M.chapters = {
  { index = 1, title = "Values and types", file = "01-values-and-types.md", body = [[
Lua has eight basic types. Read [the next chapter](02-tables-und-metatables.md) for tables.

```lua
local n = 42          -- a number
local s = "héllo"     -- a string
print(type(n), type(s))
```

Inline code such as `type(nil)` returns `"nil"`. Prices like $5 and $10 stay text,
while $e^{i\pi} + 1 = 0$ is math.
]] },
  { index = 2, title = "Tables und Metatables", file = "02-tables-und-metatables.md", body = [[
Tables are Lua's only data structure. See [values](01-values-and-types.md#values-and-types)
and [the README](README.md).

```lua
local t = setmetatable({}, { __index = function(_, k) return k .. "!" end })
print(t.hello) --> hello!
```

| Key | Value |
|-----|-------|
| `a` | 1     |

A remote picture: ![logo](https://example.com/logo.png)
]] },
  { index = 3, title = "Closures: `function` * upvalues *", file = "03-closures-function-upvalues.md",
    status = "failed" },
  { index = 4, title = "Coroutines — ça marche", file = "04-coroutines-ça-marche.md", body = [[
Coroutines are cooperative threads. Back to [closures](03-closures-function-upvalues.md).

```python
def gen():
    yield 1
```

```c
int main(void) { return 0; }
```

<script src="https://evil.example/x.js"></script>
]] },
}

--- Write the folder into `dir`; returns the done chapters in order.
function M.write(dir, opts)
  opts = opts or {}
  local function put(name, text)
    local f = assert(io.open(dir .. "/" .. name, "wb"))
    f:write(text)
    f:close()
  end
  local manifest = {
    format = 1, title = M.title, provider = "gemini", model = "gemini-2.5-flash",
    description = "A practical first course.", language = opts.language or "German",
    author = opts.author or "Ada Lovelace", chapters = {}, stats = { requests = 4 },
    summary = { status = "done", text = "You learn values, tables and coroutines.\n" },
  }
  local toc, done = {}, {}
  for _, ch in ipairs(M.chapters) do
    local status = ch.status or "done"
    manifest.chapters[#manifest.chapters + 1] = {
      index = ch.index, title = ch.title, file = ch.file, status = status,
      attempts = 1, tokens = { prompt = 10, output = 20, thoughts = 0 },
    }
    if status == "done" then
      put(ch.file, "# " .. ch.title .. "\n\n" .. ch.body)
      done[#done + 1] = ch
    end
    toc[#toc + 1] = ("%d. [%s](%s)"):format(ch.index, ch.title, ch.file)
  end
  if not opts.no_readme then
    put("README.md", "# " .. M.title .. "\n\nA practical first course.\n\n## Contents\n\n"
      .. table.concat(toc, "\n") .. "\n\n## Summary\n\nYou learn values, tables and coroutines.\n")
  end
  put("course.json", cjson.encode(manifest))
  return done
end

return M
