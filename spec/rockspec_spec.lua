-- The rockspec lists every module one by one (LuaRocks' builtin backend needs that);
-- this keeps the list and the tree in step.
local helpers = require "helpers"

local function load_rockspec()
  local env = {}
  local chunk = assert(loadfile("coursegen-dev-1.rockspec", "t", env))
  chunk()
  return env
end

local function list(cmd)
  local out = {}
  local p = assert(io.popen(cmd))
  for line in p:lines() do out[#out + 1] = line end
  p:close()
  table.sort(out)
  return out
end

describe("coursegen-dev-1.rockspec", function()
  local spec = load_rockspec()

  it("declares its runtime dependencies, libcurl, hiredis and libcrypto", function()
    local deps = table.concat(spec.dependencies, " ")
    for _, name in ipairs { "lua >= 5.4", "lua-cjson", "argparse", "luafilesystem", "luasystem" } do
      assert.truthy(deps:find(name, 1, true), "missing dependency " .. name)
    end
    assert.truthy(spec.external_dependencies.CURL)
    assert.truthy(spec.external_dependencies.HIREDIS)
    assert.truthy(spec.external_dependencies.OPENSSL)
  end)

  it("lists every Lua module of the tree", function()
    local listed = {}
    for name, src in pairs(spec.build.modules) do
      if type(src) == "string" then listed[#listed + 1] = src end
      assert.is_string(name)
    end
    table.sort(listed)
    assert.same(list("find lua -name '*.lua'"), listed)
  end)

  it("compiles every C source of the engine and the mock", function()
    local core = spec.build.modules["coursegen.core"].sources
    local mock = spec.build.modules["coursegen.mockserver"].sources
    local got = {}
    for _, s in ipairs(core) do got[#got + 1] = s end
    for _, s in ipairs(mock) do got[#got + 1] = s end
    table.sort(got)
    assert.same(list("find csrc -name '*.c'"), got)
  end)

  it("installs the command", function()
    assert.equal("bin/coursegen", spec.build.install.bin.coursegen)
    assert.truthy(helpers.readfile("bin/coursegen"))
  end)
end)
