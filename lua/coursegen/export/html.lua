--- Export a course folder as a static HTML site in `DIR/site/`.
--
-- One page per chapter (course title, previous/next links), `index.html` made from
-- `README.md` with the table of contents, links between `NN-slug.md` files rewritten to
-- `NN-slug.html`, code highlighted by pandoc with inline CSS, nothing loaded from the network.
-- @module coursegen.export.html
local M = {}

local fsutil = require "coursegen.export.fsutil"
local meta = require "coursegen.export.meta"
local pandoc = require "coursegen.export.pandoc"
local reader = require "coursegen.export.reader"
local links_filter = require "coursegen.export.links_filter"
local template = require "coursegen.export.html_template"
local ipairs, pairs, type, error = ipairs, pairs, type, error

--- The page name of a chapter file (`03-tables.md` -> `03-tables.html`).
-- @tparam string file
-- @treturn string
function M.page_name(file)
  return (file:gsub("%.md$", "")) .. ".html"
end

local function link_map(course)
  return links_filter.map(course, "index.html", M.page_name)
end

local function readme_links_all(course)
  if not course.readme then return false end
  for _, ch in ipairs(course.chapters) do
    if not course.readme:find("(" .. ch.file, 1, true)
      and not course.readme:find("(./" .. ch.file, 1, true) then
      return false
    end
  end
  return true
end

local function ref(ch)
  return { href = M.page_name(ch.file), title = ch.title }
end

local function convert(exe, files, input, output, metadata)
  fsutil.check(meta.write(files.meta, metadata))
  local ok, err = pandoc.run(exe, {
    -- MathML: display and inline math rendered by the browser itself, with no script
    "--from=" .. reader.format, "--to=html5", "--standalone", "--mathml",
    "--template=" .. files.template, "--lua-filter=" .. files.filter,
    "--metadata-file=" .. files.meta, "--highlight-style=" .. reader.highlight_style,
    "--wrap=none", "--output=" .. output, "--", input,
  }, { sandbox = true })
  fsutil.check(ok, err, input)
end

local function build(course, exe, tmp, site)
  local files = { template = tmp .. "/page.html", filter = tmp .. "/links.lua", meta = tmp .. "/meta.json" }
  fsutil.check(fsutil.write(files.template, template))
  fsutil.check(fsutil.write(files.filter, links_filter.source(link_map(course))))
  local base = { lang = course.lang or "en", ["course-title"] = course.title, ["contents-label"] = "Contents" }
  local function page(extra)
    local t = {}
    for k, v in pairs(base) do t[k] = v end
    for k, v in pairs(extra) do t[k] = v end
    return t
  end
  local chapters = course.chapters
  -- index page
  local index_input = course.readme_path
  if not index_input then
    index_input = tmp .. "/index.md"
    local text = "# " .. meta.escape(course.title) .. "\n\n"
      .. (course.description and meta.escape(course.description) .. "\n" or "")
    fsutil.check(fsutil.write(index_input, text))
  end
  local list
  if not readme_links_all(course) then
    list = {}
    for i, ch in ipairs(chapters) do
      list[i] = { href = M.page_name(ch.file), title = ch.title, number = ("%d."):format(ch.index) }
    end
  end
  convert(exe, files, index_input, site .. "/index.html", page{
    pagetitle = course.title, next = ref(chapters[1]), ["chapters-list"] = list,
  })
  -- chapter pages
  for i, ch in ipairs(chapters) do
    local input = ch.path
    if ch.extras then -- files written by stages: the chapter's text with them appended
      input = ("%s/chapter-%04d.md"):format(tmp, i)
      fsutil.check(fsutil.write(input, ch.text))
    end
    convert(exe, files, input, site .. "/" .. M.page_name(ch.file), page{
      pagetitle = ch.title .. " – " .. course.title,
      ["chapter-label"] = ("Chapter %d"):format(ch.index),
      prev = chapters[i - 1] and ref(chapters[i - 1]) or nil,
      next = chapters[i + 1] and ref(chapters[i + 1]) or nil,
      home = true,
    })
  end
end

--- Write the site.
-- @tparam table course from `course_folder.read`
-- @tparam table opts `{pandoc = path, out = folder}` (`out` defaults to the course folder)
-- @treturn table|nil `{format = "html", path = ".../site/index.html", dir = ".../site", files = n}`
-- @treturn string error
function M.export(course, opts)
  if type(course) ~= "table" then error("argument 1 expected a course table", 2) end
  if type(opts) ~= "table" or type(opts.pandoc) ~= "string" then
    error("argument 2 expected options with a 'pandoc' path", 2)
  end
  local out = opts.out or course.dir
  local site = out .. "/site"
  local staging = fsutil.sibling_tmp(site)
  local ok, mkerr = fsutil.mkdir_p(staging)
  if not ok then return nil, mkerr end
  local done, err = fsutil.protect(fsutil.with_tmpdir, function(tmp)
    build(course, opts.pandoc, tmp, staging)
    return true
  end)
  if not done then
    fsutil.rmtree(staging)
    return nil, err
  end
  local rok, rerr = fsutil.replace_dir(staging, site)
  if not rok then
    fsutil.rmtree(staging)
    return nil, ("cannot move the site into %s: %s"):format(site, rerr)
  end
  return { format = "html", path = site .. "/index.html", dir = site, files = #course.chapters + 1 }
end

return M
