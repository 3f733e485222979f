-- Export of a course folder to md, html, epub, docx and mdbook.
-- luacheck: std +busted
local helpers = require "helpers"
local cjson = require "cjson"
local fixture = require "export_fixture"
local export = require "coursegen.export"
local course_folder = require "coursegen.export.course_folder"
local proc = require "coursegen.proc"

local function sh(cmd)
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("a")
  local ok = p:close()
  return out, ok
end

local function unzip_list(zip)
  local out, ok = sh("unzip -Z1 " .. proc.quote(zip))
  assert.is_true(ok, "unzip could not read " .. zip)
  local names = {}
  for line in out:gmatch("[^\n]+") do names[#names + 1] = line end
  return names
end

local function unzip_file(zip, member)
  local out, ok = sh("unzip -p " .. proc.quote(zip) .. " " .. proc.quote(member))
  assert.is_true(ok, ("unzip could not read %s in %s"):format(member, zip))
  return out
end

local function xml_text(s)
  return (s:gsub("&lt;", "<"):gsub("&gt;", ">"):gsub("&quot;", '"'):gsub("&#39;", "'"):gsub("&amp;", "&"))
end

local function url_decode(s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- Titles of the chapters listed in an EPUB's navigation document (sections left out).
local function nav_titles(epub)
  local nav = xml_text(unzip_file(epub, "EPUB/nav.xhtml"))
  local titles = {}
  for href, t in nav:match('<nav epub:type="toc".-</nav>'):gmatch('<a href="([^"]*)"[^>]*>(.-)</a>') do
    if href:match("#ch%-%d+$") then titles[#titles + 1] = t end
  end
  return titles
end

-- The paragraphs of a DOCX body: `{style, text}`.
local function docx_paragraphs(xml)
  local list = {}
  for p in xml:gmatch("<w:p[ >].-</w:p>") do
    local text = {}
    for t in p:gmatch("<w:t[^>]*>([^<]*)</w:t>") do text[#text + 1] = t end
    list[#list + 1] = { style = p:match('<w:pStyle w:val="([^"]+)"'), text = xml_text(table.concat(text)) }
  end
  return list
end

local function docx_headings(docx)
  local title, headings = nil, {}
  for _, p in ipairs(docx_paragraphs(unzip_file(docx, "word/document.xml"))) do
    if p.style == "Title" then title = p.text end
    if p.style == "Heading1" then headings[#headings + 1] = p.text end
  end
  return title, headings
end

local function new_course(opts)
  local dir = helpers.tmpdir()
  local done = fixture.write(dir, opts)
  return dir, done
end

local function page_of(file) return (file:gsub("%.md$", ".html")) end

describe("export.parse_formats", function()
  it("accepts a list, ignores case and spaces, drops duplicates", function()
    assert.same({ "md", "html", "epub" }, export.parse_formats(" md, HTML ,epub,html"))
    assert.same(export.FORMATS, export.parse_formats("all"))
  end)

  it("names an unknown format and lists the valid ones", function()
    local list, err = export.parse_formats("html,pdf")
    assert.is_nil(list)
    assert.matches("unknown format 'pdf'", err, 1, true)
    assert.matches("md, html, epub, docx, mdbook", err, 1, true)
    assert.is_nil((export.parse_formats(" , ")))
  end)

  it("raises on misuse", function()
    assert.has_error(function() export.parse_formats(3) end)
    assert.has_error(function() export.run(nil, "md") end)
    assert.has_error(function() export.run("/tmp", "md", { bogus = 1 }) end)
  end)
end)

describe("export course folder", function()
  local dir
  after_each(function() helpers.rmtree(dir) end)

  it("reads the manifest and the finished chapters in order", function()
    dir = new_course()
    local course = assert(course_folder.read(dir))
    assert.equal(fixture.title, course.title)
    assert.equal("de", course.lang)
    assert.equal("Ada Lovelace", course.author)
    assert.equal("A practical first course.", course.description)
    local indexes = {}
    for i, ch in ipairs(course.chapters) do indexes[i] = ch.index end
    assert.same({ 1, 2, 4 }, indexes)
    assert.equal(1, #course.skipped)
    assert.equal("failed", course.skipped[1].status)
    assert.matches("^# Values and types\n", course.chapters[1].text)
    assert.truthy(course.readme)
  end)

  it("tolerates a manifest without description, language or author", function()
    dir = new_course()
    local m = cjson.decode(helpers.readfile(dir .. "/course.json"))
    m.description, m.language, m.author = nil, nil, nil
    helpers.writefile(dir .. "/course.json", cjson.encode(m))
    local course = assert(course_folder.read(dir))
    assert.is_nil(course.lang)
    assert.is_nil(course.author)
  end)

  it("names the folder when course.json is missing", function()
    dir = helpers.tmpdir()
    local course, err = export.run(dir, "md")
    assert.is_nil(course)
    assert.equal(dir .. ": not a course folder (course.json is missing)", err)
  end)

  it("names the file when a finished chapter is missing", function()
    dir = new_course()
    os.remove(dir .. "/02-tables-und-metatables.md")
    local res, err = export.run(dir, "html")
    assert.is_nil(res)
    assert.matches(dir .. "/02-tables-und-metatables.md: missing", err, 1, true)
  end)

  it("names course.json when it is not valid JSON", function()
    dir = new_course()
    helpers.writefile(dir .. "/course.json", "{ not json")
    local res, err = export.run(dir, "md")
    assert.is_nil(res)
    assert.matches(dir .. "/course.json: invalid JSON", err, 1, true)
  end)

  it("refuses file names that would leave the folder", function()
    dir = new_course()
    local m = cjson.decode(helpers.readfile(dir .. "/course.json"))
    m.chapters[1].file = "../../etc/passwd.md"
    helpers.writefile(dir .. "/course.json", cjson.encode(m))
    local res, err = export.run(dir, "md")
    assert.is_nil(res)
    assert.matches("unsafe or invalid file name", err, 1, true)
  end)

  it("maps language names to tags", function()
    assert.equal("fr", course_folder.lang_tag("French"))
    assert.equal("pt-BR", course_folder.lang_tag("pt_BR"))
    assert.equal("en", course_folder.lang_tag("en"))
    assert.is_nil(course_folder.lang_tag("Klingon"))
  end)

  it("md needs no pandoc and returns the folder", function()
    dir = new_course()
    local res = assert(export.run(dir, { "md" }, { pandoc = "/nonexistent/pandoc" }))
    assert.same({ { format = "md", path = dir } }, res)
  end)

  it("names the Debian package when pandoc is missing, and writes nothing", function()
    dir = new_course()
    local res, err = export.run(dir, "md,html", { pandoc = "/nonexistent/pandoc" })
    assert.is_nil(res)
    assert.matches("install the 'pandoc' package", err, 1, true)
    assert.is_nil(helpers.readfile(dir .. "/site/index.html"))
  end)
end)

describe("the process runner", function()
  it("quotes arguments so the shell never interprets them", function()
    local marker = helpers.tmpdir() .. "/pwned"
    local evil = "$(touch " .. marker .. ")'; touch " .. marker .. "; echo '`touch " .. marker .. "`"
    local ok, out = proc.exec{ "printf", "%s", evil }
    assert.is_true(ok)
    assert.equal(evil, out)
    assert.is_nil(helpers.readfile(marker))
    helpers.rmtree(marker:match("^(.*)/"))
  end)

  it("keeps a hostile course title literal in every format", function()
    local dir = helpers.tmpdir()
    local marker = dir .. "/pwned"
    fixture.write(dir)
    local m = cjson.decode(helpers.readfile(dir .. "/course.json"))
    m.title = "Evil $(touch " .. marker .. ") `id` '; touch " .. marker .. " *bold* <b>x</b>"
    helpers.writefile(dir .. "/course.json", cjson.encode(m))
    assert(export.run(dir, "html,epub,docx,mdbook"))
    assert.is_nil(helpers.readfile(marker))
    local index = helpers.readfile(dir .. "/site/index.html")
    assert.matches("&lt;b&gt;x&lt;/b&gt;", index, 1, true)
    assert.not_matches("<b>x</b>", index, 1, true)
    assert.not_matches("<em>bold</em>", index, 1, true)
    local opf = unzip_file(dir .. "/course.epub", "EPUB/content.opf")
    assert.matches("Evil $(touch " .. marker .. ")", xml_text(opf), 1, true)
    helpers.rmtree(dir)
  end)
end)

describe("export html", function()
  local dir, done, site
  setup(function()
    dir, done = new_course()
    site = dir .. "/site"
    local res = assert(export.run(dir, { "html" }))
    assert.equal(site .. "/index.html", res[1].path)
  end)
  teardown(function() helpers.rmtree(dir) end)

  local function pages()
    local list = { "index.html" }
    for _, ch in ipairs(done) do list[#list + 1] = page_of(ch.file) end
    return list
  end

  it("writes an index and one page per finished chapter", function()
    for _, p in ipairs(pages()) do
      assert.truthy(helpers.readfile(site .. "/" .. p), p)
    end
    assert.is_nil(helpers.readfile(site .. "/03-closures-function-upvalues.html"))
  end)

  it("puts the course title, language and table of contents on the index", function()
    local index = helpers.readfile(site .. "/index.html")
    assert.matches('<html lang="de">', index, 1, true)
    assert.matches("Café &amp; Crème: Lua für Anfänger", index, 1, true)
    local last = 0
    for _, ch in ipairs(done) do
      local at = index:find('href="' .. page_of(ch.file) .. '"', 1, true)
      assert.truthy(at, ch.file)
      assert.is_true(at > last, "table of contents out of order")
      last = at
    end
    -- the failed chapter keeps its title but has no link
    assert.not_matches("03-closures", index, 1, true)
  end)

  it("links each chapter to the previous and next one", function()
    for i, ch in ipairs(done) do
      local html = helpers.readfile(site .. "/" .. page_of(ch.file))
      assert.matches("Café &amp; Crème: Lua für Anfänger", html, 1, true)
      local prev = html:match('rel="prev" href="([^"]+)"')
      local nxt = html:match('rel="next" href="([^"]+)"')
      assert.equal(done[i - 1] and page_of(done[i - 1].file), prev)
      assert.equal(done[i + 1] and page_of(done[i + 1].file), nxt)
    end
  end)

  it("rewrites links between chapters and highlights code with inline CSS", function()
    local html = helpers.readfile(site .. "/02-tables-und-metatables.html")
    assert.matches('href="01-values-and-types.html#values-and-types"', html, 1, true)
    assert.matches('href="index.html"', html, 1, true)
    assert.matches('class="sourceCode lua"', html, 1, true)
    assert.matches("code span.kw", html, 1, true)
    local ch4 = helpers.readfile(site .. "/04-coroutines-ça-marche.html")
    assert.not_matches("03-closures", ch4, 1, true)
    assert.not_matches("<script", ch4, 1, true)
  end)

  it("loads nothing from the network", function()
    local ch1 = helpers.readfile(site .. "/01-values-and-types.html")
    assert.matches('<math display="inline"', ch1, 1, true) -- MathML: no script renders it
    assert.matches("Prices like $5 and $10 stay text", ch1, 1, true)
    for _, p in ipairs(pages()) do
      local html = helpers.readfile(site .. "/" .. p)
      assert.not_matches("mathjax", html:lower(), 1, true)
      assert.not_matches("katex", html:lower(), 1, true)
      assert.not_matches("<script", html, 1, true)
      assert.not_matches("<link", html, 1, true)
      assert.not_matches("@import", html, 1, true)
      assert.not_matches("url%(", html)
      for attr in html:gmatch('%ssrc="([^"]*)"') do
        assert.not_matches("^%a[%w+.-]*:", attr, p)
        assert.not_matches("^//", attr, p)
      end
    end
  end)

  it("has every link resolve to a file of the site", function()
    local checked = 0
    for _, p in ipairs(pages()) do
      local html = helpers.readfile(site .. "/" .. p)
      for attr, ref in html:gmatch('%s(%a+)="([^"]*)"') do
        local kind = (attr == "href" or attr == "src") and not ref:match("^%a[%w+.-]*:") and not ref:match("^#")
        if kind then
          local file = url_decode(xml_text(ref):match("^[^#?]*"))
          assert.is_truthy(helpers.readfile(site .. "/" .. file), ("%s links to missing %s"):format(p, ref))
          checked = checked + 1
        end
      end
    end
    assert.is_true(checked >= 12, "too few links checked: " .. checked)
  end)

  it("replaces an old site", function()
    helpers.writefile(site .. "/stale.html", "old")
    assert(export.run(dir, "html"))
    assert.is_nil(helpers.readfile(site .. "/stale.html"))
    assert.truthy(helpers.readfile(site .. "/index.html"))
  end)
end)

describe("export html without a README", function()
  it("makes the index from the manifest, with a table of contents", function()
    local dir, done = new_course{ no_readme = true }
    assert(export.run(dir, "html"))
    local index = helpers.readfile(dir .. "/site/index.html")
    assert.matches("<h1[^>]*>Café &amp; Crème: Lua für Anfänger</h1>", index)
    assert.matches("A practical first course.", index, 1, true)
    local nav = index:match('<nav class="course%-toc".-</nav>')
    assert.truthy(nav, "no table of contents")
    local hrefs = {}
    for h in nav:gmatch('href="([^"]+)"') do hrefs[#hrefs + 1] = h end
    local want = {}
    for i, ch in ipairs(done) do want[i] = page_of(ch.file) end
    assert.same(want, hrefs)
    helpers.rmtree(dir)
  end)

  it("follows percent-encoded links", function()
    local dir = new_course()
    helpers.writefile(dir .. "/README.md", "# T\n\n1. [Coroutines](04-coroutines-%C3%A7a-marche.md)\n")
    assert(export.run(dir, "html"))
    local index = helpers.readfile(dir .. "/site/index.html")
    assert.matches('href="04-coroutines-ça-marche.html"', index, 1, true)
    helpers.rmtree(dir)
  end)
end)

describe("export epub", function()
  local dir, done, epub
  setup(function()
    dir, done = new_course()
    local res = assert(export.run(dir, "epub"))
    epub = res[1].path
    assert.equal(dir .. "/course.epub", epub)
  end)
  teardown(function() helpers.rmtree(dir) end)

  it("is a zip with the EPUB mimetype first", function()
    local names = unzip_list(epub)
    assert.equal("mimetype", names[1])
    assert.equal("application/epub+zip", unzip_file(epub, "mimetype"))
  end)

  it("carries the course metadata", function()
    local opf = xml_text(unzip_file(epub, "EPUB/content.opf"))
    assert.matches("<dc:title[^>]*>" .. fixture.title:gsub("%p", "%%%0") .. "</dc:title>", opf)
    assert.matches("<dc:language>de</dc:language>", opf, 1, true)
    assert.matches(">Ada Lovelace</dc:creator>", opf, 1, true)
    assert.matches(">A practical first course.</dc:description>", opf, 1, true)
  end)

  it("has the chapters in order in the spine and the table of contents", function()
    local opf = unzip_file(epub, "EPUB/content.opf")
    local spine = opf:match("<spine.-</spine>")
    local order = {}
    for id in spine:gmatch('idref="(ch%d+)_xhtml"') do order[#order + 1] = id end
    -- the summary, then the three finished chapters
    assert.same({ "ch001", "ch002", "ch003", "ch004" }, order)
    local want = {}
    for i, ch in ipairs(done) do want[i] = ch.title end
    assert.same(want, nav_titles(epub))
    for i, ch in ipairs(done) do
      local xhtml = xml_text(unzip_file(epub, ("EPUB/text/ch%03d.xhtml"):format(i + 1)))
      assert.matches('<section id="ch%-' .. ch.index .. '"', xhtml)
      assert.matches("<h1[^>]*>" .. ch.title:gsub("%p", "%%%0") .. "</h1>", xhtml)
    end
  end)

  it("opens with the course summary", function()
    local nav = xml_text(unzip_file(epub, "EPUB/nav.xhtml"))
    local first = nav:match('<nav epub:type="toc".-<a href="([^"]*)"[^>]*>(.-)</a>')
    assert.equal("text/ch001.xhtml#summary", first)
    local ch1 = xml_text(unzip_file(epub, "EPUB/text/ch001.xhtml"))
    assert.matches("You learn values, tables and coroutines.", ch1, 1, true)
  end)

  it("points links between chapters inside the book", function()
    local ch1 = unzip_file(epub, "EPUB/text/ch002.xhtml")
    assert.matches('href="ch003.xhtml#ch-2"', ch1, 1, true)
    local ch2 = unzip_file(epub, "EPUB/text/ch003.xhtml")
    assert.matches('href="ch002.xhtml#ch-1"', ch2, 1, true)
    local ch4 = unzip_file(epub, "EPUB/text/ch004.xhtml")
    assert.not_matches("03-closures", ch4, 1, true)
    assert.not_matches("<script", ch4, 1, true)
  end)
end)

describe("export docx", function()
  local dir, done, docx
  setup(function()
    dir, done = new_course()
    local res = assert(export.run(dir, "docx"))
    docx = res[1].path
    assert.equal(dir .. "/course.docx", docx)
  end)
  teardown(function() helpers.rmtree(dir) end)

  it("has the title, a table of contents and the chapters in order", function()
    local xml = unzip_file(docx, "word/document.xml")
    local title, headings = docx_headings(docx)
    assert.equal(fixture.title, title)
    assert.equal("Summary", table.remove(headings, 1))
    local want = {}
    for i, ch in ipairs(done) do want[i] = ch.title end
    assert.same(want, headings)
    assert.matches("TOC \\o", xml, 1, true)
  end)

  it("carries the course metadata in the document properties", function()
    local core = xml_text(unzip_file(docx, "docProps/core.xml"))
    assert.matches("<dc:title>" .. fixture.title:gsub("%p", "%%%0") .. "</dc:title>", core)
    assert.matches("<dc:creator>Ada Lovelace</dc:creator>", core, 1, true)
    assert.matches("<dc:language>de</dc:language>", core, 1, true)
  end)
end)

describe("export mdbook", function()
  local dir, done, book
  setup(function()
    dir, done = new_course()
    local res = assert(export.run(dir, "mdbook"))
    book = res[1].path
    assert.equal(dir .. "/book", book)
  end)
  teardown(function() helpers.rmtree(dir) end)

  it("writes book.toml with the course metadata", function()
    local toml = helpers.readfile(book .. "/book.toml")
    assert.matches('^%[book%]\ntitle = "Café & Crème: Lua für Anfänger"\n', toml)
    assert.matches('\nauthors = %["Ada Lovelace"%]\n', toml)
    assert.matches('\nlanguage = "de"\n', toml)
    assert.matches('\nsrc = "src"\n', toml)
    assert.matches('\n%[build%]\nbuild%-dir = "html"\ncreate%-missing = false\n', toml)
  end)

  it("writes SUMMARY.md with a prefix chapter and numbered chapters in order", function()
    local summary = helpers.readfile(book .. "/src/SUMMARY.md")
    local lines = {}
    for l in summary:gmatch("[^\n]+") do lines[#lines + 1] = l end
    assert.same({
      "# Summary",
      "[Introduction](README.md)",
      "- [Values and types](01-values-and-types.md)",
      "- [Tables und Metatables](02-tables-und-metatables.md)",
      "- [Closures\\: \\`function\\` \\* upvalues \\*]()",
      "- [Coroutines — ça marche](04-coroutines-ça-marche.md)",
    }, lines)
    for target in summary:gmatch("%]%(([^)]+)%)") do
      assert.truthy(helpers.readfile(book .. "/src/" .. target), target)
    end
    for _, ch in ipairs(done) do
      assert.equal(helpers.readfile(dir .. "/" .. ch.file), helpers.readfile(book .. "/src/" .. ch.file))
    end
  end)

  it("toml strings escape quotes, backslashes and control characters", function()
    local mdbook = require "coursegen.export.mdbook"
    assert.equal([["a \"b\" \\ c\u000A"]], mdbook.toml_string('a "b" \\ c\n'))
  end)

  it("builds with mdbook when it is installed", function()
    local exe = os.getenv("MDBOOK") or "mdbook"
    local _, found = sh("command -v " .. proc.quote(exe) .. " >/dev/null 2>&1")
    if not found then
      pending("mdbook is not installed")
      return
    end
    local out, ok = sh(proc.quote(exe) .. " build " .. proc.quote(book) .. " 2>&1")
    assert.is_true(ok, out)
    assert.truthy(helpers.readfile(book .. "/html/index.html"))
    assert.truthy(helpers.readfile(book .. "/html/04-coroutines-ça-marche.html"))
  end)
end)

describe("export command", function()
  local argparse = require "argparse"
  local cli_export = require "coursegen.cli.export"
  local dir
  after_each(function() helpers.rmtree(dir) end)

  local function capture()
    local buf = { data = "" }
    function buf:write(...)
      for _, s in ipairs{ ... } do self.data = self.data .. s end
      return self
    end
    return buf
  end

  local function parser()
    local p = argparse("coursegen"):command_target("command")
    cli_export.add_command(p)
    return p
  end

  local function parse(argv)
    local ok, args = parser():pparse(argv)
    assert.is_true(ok, args)
    return args
  end

  it("converts a folder and prints what it wrote", function()
    dir = new_course()
    local out = capture()
    local code, err = cli_export.run(parse{ "export", dir, "--format", "md,html,epub,docx,mdbook" },
      { stdout = out })
    assert.equal(0, code, err)
    assert.equal(table.concat({
      "html    " .. dir .. "/site/index.html",
      "epub    " .. dir .. "/course.epub",
      "docx    " .. dir .. "/course.docx",
      "mdbook  " .. dir .. "/book", "" }, "\n"), out.data)
  end)

  it("defaults to html and writes into --out when given", function()
    dir = new_course()
    local args = parse{ "export", dir, "--out", dir .. "/x/y", "-q" }
    assert.same({ "html" }, args.format)
    local out = capture()
    assert.equal(0, cli_export.run(args, { stdout = out }))
    assert.equal("", out.data)
    assert.truthy(helpers.readfile(dir .. "/x/y/site/index.html"))
  end)

  it("rejects an unknown format while parsing, naming it", function()
    local ok, err = parser():pparse{ "export", "somewhere", "--format", "html,pdf" }
    assert.is_false(ok)
    assert.matches("unknown format 'pdf'", err, 1, true)
  end)

  it("returns exit code 2 when the folder is not a course", function()
    dir = helpers.tmpdir()
    local code, err, exit = cli_export.run(parse{ "export", dir })
    assert.is_nil(code)
    assert.matches("not a course folder", err, 1, true)
    assert.equal(2, exit)
  end)

  it("returns exit code 2 and names the package when pandoc is missing", function()
    dir = new_course()
    local code, err, exit = cli_export.run(parse{ "export", dir, "--pandoc", "/nonexistent/pandoc" })
    assert.is_nil(code)
    assert.matches("'pandoc' package", err, 1, true)
    assert.equal(2, exit)
  end)

  it("returns exit code 1 when a conversion fails", function()
    dir = new_course()
    local fake = dir .. "/fake-pandoc"
    helpers.writefile(fake, "#!/bin/sh\n[ \"$1\" = --version ] && echo 'pandoc 3.1' && exit 0\n"
      .. "echo 'boom' >&2\nexit 3\n")
    os.execute("chmod +x " .. proc.quote(fake))
    local code, err, exit = cli_export.run(parse{ "export", dir, "--format", "mdbook,epub", "--pandoc", fake },
      { stdout = capture() })
    assert.is_nil(code)
    assert.equal("epub export failed: pandoc failed: boom", err)
    assert.equal(1, exit)
  end)

  it("adds --format to generate and exports after it", function()
    local p = argparse("coursegen"):command_target("command")
    cli_export.add_format_option(p:command("generate"))
    assert.same({ "md" }, select(2, p:pparse{ "generate" }).format)
    assert.same({ "md", "epub" }, select(2, p:pparse{ "generate", "--format", "md,epub" }).format)
    dir = new_course()
    local out = capture()
    local gen = require "coursegen.cli.generate"
    assert.is_nil(gen.formats { "md" })           -- nothing to export after generate
    assert.equal(0, cli_export.export_folder(dir, gen.formats { "md", "mdbook" }, {}, { stdout = out }))
    assert.truthy(out.data:find("mdbook  " .. dir .. "/book\n", 1, true))
  end)

  it("validates a --format value", function()
    assert.same({ "md" }, cli_export.parse_formats("md"))
    local list, err = cli_export.parse_formats("md,pdf")
    assert.is_nil(list)
    assert.matches("unknown format 'pdf'", err, 1, true)
  end)
end)

describe("export html in a browser #slow", function()
  local dir, done, site, browser, shots
  local function find_browser()
    for _, name in ipairs{ os.getenv("CHROMIUM") or "", "chromium", "chromium-browser", "google-chrome" } do
      if name ~= "" then
        local path = sh("command -v " .. proc.quote(name) .. " 2>/dev/null"):match("[^\n]+")
        if path then return path end
      end
    end
  end

  setup(function()
    browser = find_browser()
    dir, done = new_course()
    site = dir .. "/site"
    shots = helpers.tmpdir()
    assert(export.run(dir, "html"))
  end)
  teardown(function()
    helpers.rmtree(dir)
    helpers.rmtree(shots)
  end)

  -- Runs headless Chromium on one page with every host name resolving to nothing, and
  -- Chromium's network log on. Returns the DOM (or nothing, for a screenshot) and the
  -- network log's events.
  local function browse(page, extra)
    local profile = helpers.tmpdir()
    local netlog = shots .. "/net-" .. page:gsub("[^%w]", "_") .. ".json"
    local cmd = table.concat({
      proc.quote(browser), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      "--user-data-dir=" .. proc.quote(profile), "--window-size=1200,900",
      "--host-resolver-rules=" .. proc.quote("MAP * ~NOTFOUND"),
      "--log-net-log=" .. proc.quote(netlog), extra,
      proc.quote("file://" .. site .. "/" .. page), "2>/dev/null",
    }, " ")
    local out, ok = sh("timeout 60 " .. cmd)
    helpers.rmtree(profile)
    assert.is_true(ok, "chromium failed on " .. page)
    local raw = assert(helpers.readfile(netlog), "no network log")
    local log = assert(cjson.decode(raw))
    return out, log.events or {}
  end

  -- Requests a page made itself (as opposed to the browser's own background traffic)
  -- carry the page's origin, file://, in their network isolation key.
  local function page_requests(events)
    local urls = {}
    for _, e in ipairs(events) do
      local p = e.params
      if type(p) == "table" and type(p.url) == "string"
        and tostring(p.network_isolation_key or ""):find("file:", 1, true) then
        urls[#urls + 1] = p.url
      end
    end
    return urls
  end

  local function png_size(path)
    local data = helpers.readfile(path)
    assert.truthy(data, "no screenshot " .. path)
    assert.equal("\137PNG\r\n\26\n", data:sub(1, 8))
    assert.is_true(#data > 10000, "screenshot is nearly empty")
    return string.unpack(">I4>I4", data, 17)
  end

  it("renders every page from file:// without a single network request", function()
    if not browser then
      pending("chromium is not installed")
      return
    end
    local pages = { "index.html" }
    for _, ch in ipairs(done) do pages[#pages + 1] = page_of(ch.file) end
    for i, p in ipairs(pages) do
      local dom, events = browse(p, "--dump-dom")
      local want = i == 1 and "Café &amp; Crème: Lua für Anfänger" or done[i - 1].title
      assert.matches("<h1[^>]*>" .. want:gsub("%p", "%%%0") .. "</h1>", dom)
      assert.same({}, page_requests(events))
    end
  end)

  it("detects a page that would fetch something (the check itself works)", function()
    if not browser then
      pending("chromium is not installed")
      return
    end
    helpers.writefile(site .. "/probe.html", '<h1>probe</h1><img src="https://example.com/x.png">')
    local _, events = browse("probe.html", "--dump-dom")
    os.remove(site .. "/probe.html")
    assert.same({ "https://example.com/x.png" }, { page_requests(events)[1] })
  end)

  it("screenshots the index and a chapter", function()
    if not browser then
      pending("chromium is not installed")
      return
    end
    for _, p in ipairs{ "index.html", page_of(done[2].file) } do
      local png = shots .. "/" .. p:gsub("%.html$", ".png")
      local _, events = browse(p, "--screenshot=" .. proc.quote(png))
      assert.same({}, page_requests(events))
      local w, h = png_size(png)
      assert.equal(1200, w)
      assert.equal(900, h)
    end
  end)
end)

describe("export of a generated course", function()
  local ok_pipeline, coursegen = pcall(require, "coursegen")
  local ok_mock, mock = pcall(require, "coursegen.mock")

  it("exports a course written against the mock server to every format", function()
    if not (ok_pipeline and ok_mock and type(coursegen.generate) == "function") then
      pending("the pipeline or the mock server is not available")
      return
    end
    local srv = mock.start{}
    local dir = helpers.tmpdir() .. "/course"
    local titles = { "Premiers pas", "Tables et métatables", "Coroutines" }
    local course = assert(coursegen.course{
      title = "Générer: un cours", description = "Un petit cours.", chapters = titles,
    })
    local stats, err = coursegen.generate(course, {
      out = dir, provider = "gemini", base_url = srv.url, api_key = "k",
    })
    srv:close()
    assert.truthy(stats, err)
    local results = assert(export.run(dir, "all"))
    local formats = {}
    for i, r in ipairs(results) do formats[i] = r.format end
    assert.same(export.FORMATS, formats)
    -- every chapter page exists, holds its chapter, and links on to the next one
    local manifest = cjson.decode(helpers.readfile(dir .. "/course.json"))
    for i, e in ipairs(manifest.chapters) do
      local html = helpers.readfile(dir .. "/site/" .. page_of(e.file))
      assert.matches("<h1[^>]*>" .. titles[i]:gsub("%p", "%%%0") .. "</h1>", html)
      local nxt = manifest.chapters[i + 1]
      assert.equal(nxt and page_of(nxt.file), html:match('rel="next" href="([^"]+)"'))
    end
    assert.matches("Un petit cours.", helpers.readfile(dir .. "/site/index.html"), 1, true)
    assert.same(titles, nav_titles(dir .. "/course.epub"))
    local doc_title, headings = docx_headings(dir .. "/course.docx")
    assert.equal("Générer: un cours", doc_title)
    if manifest.summary then table.remove(headings, 1) end
    assert.same(titles, headings)
    local summary = helpers.readfile(dir .. "/book/src/SUMMARY.md")
    for _, e in ipairs(manifest.chapters) do
      assert.matches("- [" .. e.title .. "](" .. e.file .. ")", summary, 1, true)
    end
    helpers.rmtree(dir:match("^(.*)/course$"))
  end)
end)

describe("export html of hostile links", function()
  it("keeps only http, https, mailto and relative links live", function()
    local dir = new_course()
    helpers.writefile(dir .. "/01-values-and-types.md", table.concat({
      "# Values and types", "",
      "[js](javascript:alert(1)) [JS upper](JavaScript:alert(2)) [tabbed](java&#9;script:alert(3))",
      "[data](data:text/html,<b>x</b>) [file](file:///etc/passwd) [vb](vbscript:msgbox)",
      "[web](https://example.com/a) [plain](http://example.com/b) [mail](mailto:a@example.com)",
      "[next](02-tables-und-metatables.md) [anchor](#values-and-types)", "",
    }, "\n"))
    assert(export.run(dir, { "html" }))
    local html = helpers.readfile(dir .. "/site/01-values-and-types.html")
    helpers.rmtree(dir)
    local hrefs = {}
    for ref in html:gmatch('href="([^"]*)"') do hrefs[#hrefs + 1] = xml_text(ref) end
    for _, ref in ipairs(hrefs) do
      local s = ref:gsub("[%c%s]", ""):match("^(%a[%w+.-]*):")
      assert.is_true(s == nil or s == "http" or s == "https" or s == "mailto", "live link " .. ref)
    end
    for _, word in ipairs { "js", "JS upper", "tabbed", "data", "file", "vb" } do
      assert.matches(word, html, 1, true) -- the text stays
    end
    assert.matches('href="https://example.com/a"', html, 1, true)
    assert.matches('href="http://example.com/b"', html, 1, true)
    assert.matches('href="mailto:a@example.com"', html, 1, true)
    assert.matches('href="02-tables-und-metatables.html"', html, 1, true)
    assert.matches('href="#values-and-types"', html, 1, true)
  end)
end)

describe("export of a French course with its author, math and quizzes", function()
  local coursegen = require "coursegen"
  local mock = require "coursegen.mock"
  local dir, manifest

  setup(function()
    local srv = mock.start {}
    dir = helpers.tmpdir() .. "/cours"
    local course = assert(coursegen.course {
      title = "Les bases de Lua", description = "Un cours pour débuter.", language = "French",
      audience = "débutants", author = "Marie Curie", chapters = { "Valeurs", "Tables" },
    })
    local stats, err = coursegen.generate(course, {
      out = dir, provider = "gemini", base_url = srv.url, api_key = "k", env = {},
      hooks = {
        postprocess = function(_, text) return text .. "\n\n$$\\sum_{i=1}^{n} i = \\frac{n(n+1)}{2}$$\n" end,
        stages = { { name = "quiz", prompt = function(ch) return "Quiz pour " .. ch.title end } },
      },
    })
    srv:close()
    assert.truthy(stats, err)
    manifest = cjson.decode(helpers.readfile(dir .. "/course.json"))
    assert(export.run(dir, "all"))
  end)
  teardown(function() helpers.rmtree(dir:match("^(.*)/cours$")) end)

  it("records language, audience, description and author in the manifest", function()
    assert.equal("French", manifest.language)
    assert.equal("débutants", manifest.audience)
    assert.equal("Un cours pour débuter.", manifest.description)
    assert.equal("Marie Curie", manifest.author)
  end)

  it("says fr in every format, and names the author", function()
    for _, p in ipairs { "index.html", page_of(manifest.chapters[1].file), page_of(manifest.chapters[2].file) } do
      assert.matches('<html lang="fr"', helpers.readfile(dir .. "/site/" .. p), 1, true)
    end
    local opf = unzip_file(dir .. "/course.epub", "EPUB/content.opf")
    assert.matches("<dc:language>fr</dc:language>", opf, 1, true)
    assert.matches(">Marie Curie</dc:creator>", opf, 1, true)
    assert.matches("<dc:creator>Marie Curie</dc:creator>", unzip_file(dir .. "/course.docx", "docProps/core.xml"),
      1, true)
    assert.matches('w:val="fr"', unzip_file(dir .. "/course.docx", "word/styles.xml"), 1, true)
    local toml = helpers.readfile(dir .. "/book/book.toml")
    assert.matches('language = "fr"', toml, 1, true)
    assert.matches('authors = ["Marie Curie"]', toml, 1, true)
  end)

  it("renders display math in HTML as MathML", function()
    local html = helpers.readfile(dir .. "/site/" .. page_of(manifest.chapters[1].file))
    assert.matches('<math display="block"', html, 1, true)
    assert.not_matches("$$", html, 1, true)
  end)

  it("includes the files the stages wrote after their chapter, in every format", function()
    local quiz = manifest.chapters[1].stages.quiz
    assert.equal("done", quiz.status)
    local text = helpers.readfile(dir .. "/" .. quiz.file)
    -- a sentence of the quiz, as it reads once pandoc has turned it into HTML text
    local line
    for l in text:gmatch("[^\n]+") do
      if l:match("^%a[%a ]+") and #l:match("^%a[%a ]+") >= 20 then line = l break end
    end
    assert.truthy(line, "no plain sentence in " .. text)
    local words = line:sub(1, 20)
    assert.matches(words, helpers.readfile(dir .. "/site/" .. page_of(manifest.chapters[1].file)), 1, true)
    assert.matches(words, helpers.readfile(dir .. "/book/src/" .. manifest.chapters[1].file), 1, true)
    assert.matches(words, unzip_file(dir .. "/course.docx", "word/document.xml"), 1, true)
  end)
end)
