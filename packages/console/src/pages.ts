// The few server-rendered pages: the application shell (the script does the
// rest), the 403 for a signed-in user who may not use the console, sign-out
// and errors. No inline script or style: the CSP allows neither.
const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

function page(title: string, body: string, script = false): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(title)} · Bulwark console</title>
<link rel="stylesheet" href="/console/assets/app.css">
${script ? '<script type="module" src="/console/assets/app.js"></script>' : ''}
</head>
<body>
${body}
</body>
</html>
`
}

export function shellPage(): string {
  return page('Console', '<div id="app"><main id="main" tabindex="-1"><p>Loading…</p></main></div>', true)
}

export function messagePage(title: string, paragraphs: string[], links: Array<{ href: string; text: string }> = []): string {
  const items = links.map((l) => `<li><a href="${escape(l.href)}">${escape(l.text)}</a></li>`).join('')
  return page(title, `<main id="main" class="message"><h1>${escape(title)}</h1>${paragraphs.map((p) => `<p>${escape(p)}</p>`).join('')}${items ? `<ul class="links">${items}</ul>` : ''}</main>`)
}
