--- A small template language for prompts.
-- `{{name}}` or `{{a.b}}` inserts a value; `{{#name}}...{{/name}}` keeps its inside only
-- when the value is set (not nil, false, or the empty string). Variables must be among
-- the known names, so a typo is an error naming the template and the variable, found when
-- the template is compiled (at course load), never halfway through a run.
-- @module coursegen.template
local M = {}

local format, concat, type, tostring = string.format, table.concat, type, tostring

--- Variables a template may use.
M.VARIABLES = {
  ["course.title"] = true, ["course.description"] = true, ["course.language"] = true,
  ["course.audience"] = true, ["chapter.title"] = true, ["chapter.brief"] = true,
  ["chapter.number"] = true, ["chapter.count"] = true, ["chapter.max"] = true, ["chapter.exact"] = true,
  outline = true, instructions = true, source = true, summaries = true,
}

local mt = { __index = M }

-- Parses `src` into a list of nodes: strings, {var = name}, {section = name, body = nodes}.
local function parse(name, src)
  local root = {}
  local stack = { { nodes = root } }
  local pos = 1
  while true do
    local s, e, tag = src:find("{{%s*(.-)%s*}}", pos)
    local nodes = stack[#stack].nodes
    if not s then
      if pos <= #src then nodes[#nodes + 1] = src:sub(pos) end
      break
    end
    if s > pos then nodes[#nodes + 1] = src:sub(pos, s - 1) end
    local sigil, var = tag:match("^([#/]?)%s*(.-)$")
    if var == "" then
      error(format("template %s: empty variable {{%s}}", name, tag), 0)
    end
    if not M.VARIABLES[var] then
      error(format("template %s: unknown variable {{%s}}", name, var), 0)
    end
    if sigil == "#" then
      local node = { section = var, body = {} }
      nodes[#nodes + 1] = node
      stack[#stack + 1] = { nodes = node.body, name = var }
    elseif sigil == "/" then
      if stack[#stack].name ~= var then
        error(format("template %s: {{/%s}} closes no open section", name, var), 0)
      end
      stack[#stack] = nil
    else
      nodes[#nodes + 1] = { var = var }
    end
    pos = e + 1
  end
  if #stack > 1 then
    error(format("template %s: section {{#%s}} is never closed", name, stack[#stack].name), 0)
  end
  return root
end

local function lookup(ctx, var)
  local v = ctx
  for part in var:gmatch("[^.]+") do
    if type(v) ~= "table" then return nil end
    v = v[part]
  end
  return v
end

local function set(v)
  return v ~= nil and v ~= false and v ~= ""
end

local function render(nodes, ctx, out)
  for _, n in ipairs(nodes) do
    if type(n) == "string" then
      out[#out + 1] = n
    elseif n.var then
      local v = lookup(ctx, n.var)
      if v ~= nil and v ~= false then out[#out + 1] = tostring(v) end
    elseif set(lookup(ctx, n.section)) then
      render(n.body, ctx, out)
    end
  end
end

--- Compiles a template; raises an error naming the template on unknown variables or
-- unbalanced sections.
-- @tparam string name the template's name, used in errors (e.g. "chapter")
-- @tparam string src the template text
-- @return a template with a `:render(ctx)` method
function M.compile(name, src)
  if type(src) ~= "string" then
    error(format("bad argument #2 to 'compile' (string expected, got %s)", type(src)), 2)
  end
  return setmetatable({ name = name, nodes = parse(name, src) }, mt)
end

--- Renders the template with a context table (`{course = {...}, chapter = {...}, outline = "..."}`).
-- Blank lines left by empty sections are collapsed to one.
-- @tparam table ctx
-- @treturn string
function M:render(ctx)
  local out = {}
  render(self.nodes, ctx or {}, out)
  local s = concat(out):gsub("\n\n\n+", "\n\n")
  return s
end

return M
