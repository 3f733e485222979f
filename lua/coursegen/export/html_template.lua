--- The pandoc HTML template of the static site (a Lua string, so the rock needs no data files).
--
-- Variables set by the exporter: `lang`, `pagetitle`, `course-title`, `chapter-label`,
-- `prev`/`next` (`{href, title}`), `chapters-list` (`{href, title, number}`), and pandoc's own
-- `body` and `highlighting-css`. No script, font or stylesheet is loaded from anywhere: the
-- page works offline from `file://`.
-- @module coursegen.export.html_template
local css = require "coursegen.export.html_css"

return [[
<!DOCTYPE html>
<html lang="$if(lang)$$lang$$else$en$endif$">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="coursegen">
<title>$pagetitle$</title>
<style>
]] .. css .. [[
$if(highlighting-css)$
$highlighting-css$
$endif$
</style>
</head>
<body>
<header class="site-header">
<a class="course-title" href="index.html">$course-title$</a>
</header>
<main class="page">
$if(chapter-label)$
<p class="chapter-label">$chapter-label$</p>
$endif$
$body$
$if(chapters-list)$
<nav class="course-toc" aria-label="Contents">
<h2>$contents-label$</h2>
<ol>
$for(chapters-list)$
<li><a href="$chapters-list.href$"><span class="toc-number">$chapters-list.number$</span>
$chapters-list.title$</a></li>
$endfor$
</ol>
</nav>
$endif$
</main>
<nav class="pager" aria-label="Chapters">
$if(prev)$
<a class="pager-prev" rel="prev" href="$prev.href$"><span class="pager-dir">← Previous</span>
<span class="pager-title">$prev.title$</span></a>
$else$
<span class="pager-prev"></span>
$endif$
$if(home)$
<a class="pager-home" href="index.html">Contents</a>
$endif$
$if(next)$
<a class="pager-next" rel="next" href="$next.href$"><span class="pager-dir">Next →</span>
<span class="pager-title">$next.title$</span></a>
$else$
<span class="pager-next"></span>
$endif$
</nav>
</body>
</html>
]]
