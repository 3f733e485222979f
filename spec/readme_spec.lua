-- Every shell and Lua block of README.md runs as written, in order, like a reader following
-- it: in one fresh folder, with `coursegen` on PATH, the Lua search path from `coursegen
-- path`, and the bundled mock standing in for the real API (COURSEGEN_BASE_URL and
-- OPENAI_BASE_URL point at it; the key variables hold a dummy key). So the README cannot
-- drift from the code again.
--
-- A comment on the line before a block changes what happens to it:
--   <!-- readme-spec: file NAME -->     the block is a file the next blocks use: written, not run
--   <!-- readme-spec: exit N -->        the block must exit with N (a documented failure)
--   <!-- readme-spec: skip REASON -->   not run, with the reason (e.g. it installs into the system)
--   <!-- readme-spec: server URL -->    run with the mock's URL in place of URL (a local model's
--                                       server, say, that the README names)
-- luacheck: std +busted
local helpers = require "helpers"
local mock = require "coursegen.mock"

local format = string.format

local function q(s) return "'" .. s:gsub("'", [['\'']]) .. "'" end

-- The blocks of a Markdown text: {lang, text, line, directive = {kind, arg}}.
local function blocks(md)
  local out, lines = {}, {}
  for l in (md .. "\n"):gmatch("(.-)\n") do lines[#lines + 1] = l end
  local i = 1
  while i <= #lines do
    local fence, lang = lines[i]:match("^(```+)%s*([%w_-]*)%s*$")
    if fence then
      local start, body = i, {}
      i = i + 1
      while i <= #lines and not lines[i]:match("^" .. fence .. "%s*$") do
        body[#body + 1] = lines[i]
        i = i + 1
      end
      local prev = lines[start - 1] or ""
      local kind, arg = prev:match("^<!%-%- readme%-spec: (%a+)%s*(.-)%s*%-%->$")
      out[#out + 1] = { lang = lang, text = table.concat(body, "\n") .. "\n", line = start,
                        directive = kind and { kind = kind, arg = arg } or nil }
    end
    i = i + 1
  end
  return out
end

describe("README.md", function()
  local readme = helpers.readfile(helpers.root .. "/README.md")
  local list = blocks(readme)

  it("has shell and Lua blocks to run", function()
    local n = 0
    for _, b in ipairs(list) do if b.lang == "sh" or b.lang == "lua" then n = n + 1 end end
    assert.is_true(n >= 10, "only " .. n .. " runnable blocks")
  end)

  it("runs every shell and Lua block as written, against the mock", function()
    local dir = helpers.tmpdir()
    local srv = mock.start { port = 0, latency_ms = 1 }
    local ok, err = pcall(function()
      -- A folder like a checkout after `make`: `./bin/coursegen` (also on PATH, as after an
      -- install) and the examples the README names.
      assert(os.execute("mkdir -p " .. q(dir .. "/bin") .. " " .. q(dir .. "/home")))
      helpers.writefile(dir .. "/bin/coursegen", format("#!/bin/sh\nexec %s \"$@\"\n",
        q(helpers.root .. "/bin/coursegen")))
      assert(os.execute("chmod +x " .. q(dir .. "/bin/coursegen")))
      assert(os.execute("cp -r " .. q(helpers.root .. "/examples") .. " " .. q(dir .. "/examples")))
      local env = table.concat({
        "env -i",
        "PATH=" .. q(dir .. "/bin:/usr/local/bin:/usr/bin:/bin"),
        "HOME=" .. q(dir .. "/home"), "XDG_CONFIG_HOME=" .. q(dir .. "/home/.config"),
        "LANG=C.UTF-8", "TERM=dumb",
        "COURSEGEN_BASE_URL=" .. q(srv.url), "OPENAI_BASE_URL=" .. q(srv.url .. "/v1"),
        "GEMINI_API_KEY=readme-dummy-key", "OPENAI_API_KEY=readme-dummy-key",
      }, " ")
      local ran, skipped = 0, 0
      for n, b in ipairs(list) do
        local d = b.directive
        local where = format("README.md block at line %d", b.line)
        if d and d.kind == "file" then
          assert.truthy(d.arg:match("^[%w._-]+$"), where .. ": bad file name")
          helpers.writefile(dir .. "/" .. d.arg, b.text)
        elseif d and d.kind == "skip" then
          assert.truthy(#d.arg > 0, where .. ": a skipped block says why")
          skipped = skipped + 1
        elseif b.lang == "sh" or b.lang == "lua" then
          assert.is_true(d == nil or d.kind == "exit" or d.kind == "server",
            where .. ": unknown directive " .. (d and d.kind or ""))
          local text = b.text
          if d and d.kind == "server" then
            local at = text:find(d.arg, 1, true)
            assert.truthy(at, where .. ": the block does not name " .. d.arg)
            text = text:sub(1, at - 1) .. srv.url .. text:sub(at + #d.arg)
          end
          local file = format("%s/.block%d.%s", dir, n, b.lang)
          helpers.writefile(file, text)
          local runner = b.lang == "sh" and "bash -e " or
            "sh -c 'eval \"$(coursegen path)\" && exec lua5.4 \"$0\"' "
          local cmd = format("cd %s && %s timeout 120 %s%s >%s.log 2>&1 </dev/null", q(dir), env, runner,
            q(file), q(file))
          local _, _, code = os.execute(cmd)
          local want = d and d.kind == "exit" and tonumber(d.arg) or 0
          assert.equal(want, code, format("%s (%s) exited %s:\n%s\n--- output:\n%s", where, b.lang,
            tostring(code), b.text, helpers.readfile(file .. ".log") or ""))
          ran = ran + 1
        end
      end
      assert.is_true(ran >= 10, "ran only " .. ran .. " blocks")
      assert.is_true(skipped <= ran // 2, "more blocks skipped (" .. skipped .. ") than a README should need")
    end)
    srv:close()
    helpers.rmtree(dir)
    assert(ok, err)
  end)
end)
