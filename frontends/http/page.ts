// The web page at `/`: one self-contained HTML document (inline CSS, one small module script, no
// external URL anywhere, so it works air-gapped). The form works without JavaScript through the
// server's `/download` redirect; with JavaScript the page builds the URL and commands as the user
// types, using url-builder.ts itself, served type-stripped under `/assets/`.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { stripTypeScriptTypes } from 'node:module';
import { isDockerHub } from '../../protocol/reference.ts';
import { buildDownload, type ArchiveFormat } from './url-builder.ts';

export interface PageOptions {
  defaultRegistry: { host: string; scheme: 'http' | 'https'; name: string };
  defaultPlatform: string;
  defaultNamespace?: string;
  version: string;
}

export interface PageAsset {
  contentType: string;
  body: string;
}

const COMMON_PLATFORMS = ['linux/amd64', 'linux/arm64', 'linux/arm/v7'];

function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function cspHash(source: string): string {
  return `'sha256-${createHash('sha256').update(source, 'utf8').digest('base64')}'`;
}

const STYLE = `
:root { color-scheme: light dark; --bg: #f5f6f8; --card: #fff; --fg: #1b2230; --muted: #566072; --border: #d7dce3;
  --accent: #0a5fb4; --accent-fg: #fff; --code: #eef1f5; --error: #b3261e; --error-bg: #fdecea; --ok: #1d7a3a; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #121519; --card: #1b1f26; --fg: #e5e8ed; --muted: #9aa4b4; --border: #2f3640;
    --accent: #5aa9ff; --accent-fg: #0b1220; --code: #242a33; --error: #ff8a80; --error-bg: #3a1d1b; --ok: #7ad696; }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
.wrap { max-width: 54rem; margin: 0 auto; padding: 1.5rem 1.25rem 2rem; }
header h1 { margin: 0 0 .25rem; font-size: 1.6rem; }
header p { margin: 0; color: var(--muted); }
h2 { font-size: 1.15rem; margin: 0 0 .75rem; }
h3 { font-size: .8rem; margin: 1rem 0 .3rem; color: var(--muted); text-transform: uppercase; letter-spacing: .05em; }
#outputs > h3:first-child, #inspection > h3:first-child { margin-top: 0; }
section.card { background: var(--card); border: 1px solid var(--border); border-radius: 10px; padding: 1.1rem 1.25rem; margin-top: 1rem; }
code, pre, kbd { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace; font-size: .9em; }
p code, li code, td code, dd code { background: var(--code); padding: .05em .3em; border-radius: 4px; }
a { color: var(--accent); }
label { font-weight: 600; }
.field { margin: 0 0 .9rem; }
.field > label:not(.choice) { display: block; margin-bottom: .25rem; }
.help { margin: .3rem 0 0; color: var(--muted); font-size: .875rem; }
input[type=text], select { width: 100%; font: inherit; color: inherit; background: var(--card); border: 1px solid var(--border); border-radius: 6px; padding: .45rem .6rem; }
input[type=text] { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace; }
input:focus-visible, select:focus-visible, button:focus-visible, a:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.row { display: grid; grid-template-columns: minmax(11rem, 1fr) 2fr; gap: 1rem; }
@media (max-width: 36rem) { .row { grid-template-columns: 1fr; } }
fieldset { border: 0; margin: 0; padding: 0; min-width: 0; }
legend { font-weight: 600; padding: 0; margin-bottom: .25rem; }
.choice { display: inline-flex; align-items: center; gap: .35rem; font-weight: 400; margin: .3rem 1.1rem .3rem 0; }
.actions { display: flex; gap: .6rem; flex-wrap: wrap; }
button { font: inherit; border-radius: 6px; padding: .45rem 1rem; cursor: pointer; border: 1px solid var(--accent); background: transparent; color: var(--accent); }
button[type=submit] { background: var(--accent); color: var(--accent-fg); font-weight: 600; }
button:disabled { opacity: .5; cursor: default; }
.out { display: flex; gap: .5rem; align-items: flex-start; }
.out code { flex: 1; display: block; background: var(--code); border-radius: 6px; padding: .5rem .65rem; white-space: pre-wrap; word-break: break-all; }
.out button { padding: .35rem .7rem; font-size: .85rem; white-space: nowrap; }
.download { font-weight: 600; }
.error { color: var(--error); background: var(--error-bg); border-radius: 6px; padding: .5rem .7rem; margin: 0; }
.status { color: var(--muted); margin: 0; }
.status.error { color: var(--error); }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .3rem 1rem; margin: 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; word-break: break-all; }
ul.platforms { list-style: none; display: flex; flex-wrap: wrap; gap: .4rem; padding: 0; margin: 0; }
ul.platforms button { padding: .2rem .6rem; font-size: .85rem; font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace; }
ul.platforms button[aria-pressed=true] { background: var(--accent); color: var(--accent-fg); }
ul.examples { margin: 0; padding-left: 1.2rem; }
ul.examples li { margin: .2rem 0; }
.note { color: var(--muted); font-size: .9rem; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
td, th { text-align: left; padding: .3rem .5rem .3rem 0; vertical-align: top; border-bottom: 1px solid var(--border); }
details summary { cursor: pointer; font-weight: 600; }
footer { margin-top: 1.5rem; color: var(--muted); font-size: .85rem; text-align: center; }
.offscreen { position: fixed; left: -9999px; top: 0; }
#result { margin-top: 1.25rem; padding-top: 1rem; border-top: 1px solid var(--border); }
#inspection { margin-top: 1.25rem; }
.mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace; font-size: .9em; }
[hidden] { display: none !important; }
`;

// Plain JavaScript, run by browsers as a module; everything user-supplied goes through
// textContent or DOM properties, never innerHTML.
const SCRIPT = `
import { buildDownload, curlCommand, formatBytes, inspectPath, iosXeCopyCommand } from '/assets/url-builder.js';

const $ = (id) => document.getElementById(id);
const form = $('builder');
const settings = {
  defaultRegistry: { host: form.dataset.registryHost, scheme: form.dataset.registryScheme === 'http' ? 'http' : 'https' },
  defaultPlatform: form.dataset.platform,
  defaultNamespace: form.dataset.namespace || undefined,
};
const result = $('result');
const outputs = $('outputs');
const problem = $('problem');
const panel = $('inspection');
const inspectButton = $('inspect');
let current;
let inspectRun = 0;

function values() {
  const data = new FormData(form);
  return {
    image: String(data.get('image') ?? '').trim(),
    platform: String(data.get('platform') ?? ''),
    format: data.get('format') === 'oci' ? 'oci' : 'docker',
    credentials: data.get('credentials') !== null,
  };
}

function update() {
  const v = values();
  inspectButton.disabled = v.image === '';
  if (current && current.image !== v.image) hideInspection();
  else if (current && current.platform !== v.platform) inspect();
  else if (current && current.body !== undefined) renderInspection(current.body, v.format);
  if (v.image === '') {
    result.hidden = true;
    return;
  }
  result.hidden = false;
  try {
    const d = buildDownload({ ...settings, ...v });
    const url = location.origin + d.path;
    $('out-url').textContent = url;
    const link = $('out-link');
    link.href = d.path;
    link.download = d.localFilename;
    link.textContent = 'Download ' + d.localFilename;
    $('out-ios').textContent = iosXeCopyCommand(url, d.localFilename);
    $('out-curl').textContent = curlCommand(url, d.localFilename, v.credentials);
    $('ios-credentials').hidden = !v.credentials;
    $('ios-oci').hidden = !d.path.includes('?');
    $('out-image').textContent = '— ' + d.registry + '/' + d.repository + (d.tag ? ':' + d.tag : '') + (d.digest ? '@' + d.digest : '') + ' · ' + d.platform + ' · ' + (d.format === 'oci' ? 'OCI layout' : 'docker save');
    problem.hidden = true;
    outputs.hidden = false;
  } catch (err) {
    problem.textContent = err instanceof Error ? err.message : String(err);
    problem.hidden = false;
    outputs.hidden = true;
  }
}

function platformName(p) {
  if (typeof p === 'string') return p;
  if (!p || typeof p !== 'object') return '';
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

function fact(list, term, value, mono) {
  const dt = document.createElement('dt');
  dt.textContent = term;
  const dd = document.createElement('dd');
  dd.textContent = value;
  if (mono) dd.className = 'mono';
  list.append(dt, dd);
}

function hideInspection() {
  current = undefined;
  inspectRun++;
  panel.hidden = true;
}

function renderInspection(body, format) {
  const facts = $('facts');
  const platforms = $('platforms');
  const status = $('inspect-status');
  facts.replaceChildren();
  platforms.replaceChildren();
  $('platforms-block').hidden = true;
  status.hidden = true;
  status.classList.remove('error');
  panel.hidden = false;
  if (body === undefined) {
    status.textContent = 'Inspecting…';
    status.hidden = false;
    return;
  }
  if (typeof body !== 'object' || body === null || 'error' in body || !Array.isArray(body.layers)) {
    const code = body && typeof body === 'object' && body.status ? ' (' + body.status + ')' : '';
    const text = body && typeof body === 'object' && body.error ? String(body.error) : 'unexpected answer from the server';
    status.textContent = 'Inspect failed' + code + ': ' + text;
    status.classList.add('error');
    status.hidden = false;
    return;
  }
  if (body.reference) fact(facts, 'Reference', String(body.reference), true);
  if (body.digest) fact(facts, 'Digest', String(body.digest), true);
  const chosen = platformName(body.platform) || values().platform;
  fact(facts, 'Platform', chosen, true);
  const compressed = body.layers.reduce((sum, l) => sum + (Number(l && l.size) || 0), 0);
  fact(facts, 'Layers', body.layers.length + ' (' + formatBytes(compressed) + ' compressed)');
  const size = format === 'oci' ? body.ociArchiveSize : body.archiveSize;
  fact(facts, format === 'oci' ? 'OCI archive' : 'docker save archive', typeof size === 'number' ? formatBytes(size) + ' (' + size.toLocaleString('en-US') + ' bytes)' : 'not known until the download starts');
  const offered = Array.isArray(body.platforms) ? body.platforms.map(platformName).filter(Boolean) : [];
  if (offered.length > 0) {
    for (const name of offered) {
      const li = document.createElement('li');
      const button = document.createElement('button');
      button.type = 'button';
      button.textContent = name;
      button.setAttribute('aria-pressed', String(name === chosen));
      button.addEventListener('click', () => choosePlatform(name));
      li.append(button);
      platforms.append(li);
    }
    $('platforms-block').hidden = false;
  }
}

function choosePlatform(name) {
  const select = form.elements.namedItem('platform');
  if (![...select.options].some((o) => o.value === name)) select.add(new Option(name, name));
  select.value = name;
  update();
  inspect();
}

async function inspect() {
  const v = values();
  if (v.image === '') return;
  const run = ++inspectRun;
  current = { image: v.image, platform: v.platform };
  renderInspection(undefined, v.format);
  let body;
  try {
    const res = await fetch(inspectPath(v.image, v.platform), { headers: { accept: 'application/json' } });
    const text = await res.text();
    try {
      body = JSON.parse(text);
    } catch {
      body = { error: text.trim() || res.statusText, status: res.status };
    }
    if (!res.ok && (typeof body !== 'object' || body === null || !('error' in body))) body = { error: res.statusText, status: res.status };
  } catch (err) {
    body = { error: 'could not reach this service (' + (err instanceof Error ? err.message : String(err)) + ')' };
  }
  if (run !== inspectRun) return;
  current.body = body;
  renderInspection(body, values().format);
}

async function copyText(text, button) {
  let done = false;
  try {
    if (window.isSecureContext && navigator.clipboard) {
      await navigator.clipboard.writeText(text);
      done = true;
    }
  } catch {}
  if (!done) {
    const area = document.createElement('textarea');
    area.value = text;
    area.setAttribute('readonly', '');
    area.className = 'offscreen';
    document.body.append(area);
    area.select();
    try {
      done = document.execCommand('copy');
    } catch {}
    area.remove();
  }
  const label = button.textContent;
  button.textContent = done ? 'Copied' : 'Copy failed';
  setTimeout(() => { button.textContent = label; }, 1500);
}

for (const button of document.querySelectorAll('button[data-copy]')) {
  button.hidden = false;
  button.addEventListener('click', () => copyText($(button.dataset.copy).textContent, button));
}
form.addEventListener('input', update);
form.addEventListener('change', update);
inspectButton.addEventListener('click', inspect);
inspectButton.hidden = false;

const query = new URLSearchParams(location.search);
for (const name of ['image', 'platform']) {
  const value = query.get(name);
  if (value) {
    const field = form.elements.namedItem(name);
    if (field instanceof HTMLSelectElement && ![...field.options].some((o) => o.value === value)) field.add(new Option(value, value));
    field.value = value;
  }
}
if (query.get('format') === 'oci') form.elements.namedItem('format').value = 'oci';
update();
if (query.has('inspect') && values().image !== '') inspect();
document.body.dataset.ready = 'true';
`;

interface Example {
  image: string;
  platform?: string;
  format?: ArchiveFormat;
  what: string;
}

function examples(options: PageOptions): string {
  const hub = isDockerHub(options.defaultRegistry.host);
  const prefix = hub ? '' : `${options.defaultRegistry.host}/`;
  const other = options.defaultPlatform === 'linux/arm64' ? 'linux/amd64' : 'linux/arm64';
  const list: Example[] = [
    { image: 'busybox:latest', what: 'a small image to try first' },
    { image: 'alpine:latest', what: '' },
    { image: 'nginx:latest', what: '' },
    { image: 'nginx:latest', platform: other, what: `for ${other}` },
    { image: 'busybox:latest', format: 'oci', what: 'as an OCI layout' },
  ];
  const items: string[] = [];
  for (const e of list) {
    let path: string;
    try {
      path = buildDownload({
        image: prefix + e.image,
        defaultRegistry: options.defaultRegistry,
        defaultPlatform: options.defaultPlatform,
        ...(options.defaultNamespace ? { defaultNamespace: options.defaultNamespace } : {}),
        ...(e.platform ? { platform: e.platform } : {}),
        ...(e.format ? { format: e.format } : {}),
      }).path;
    } catch {
      continue;
    }
    const what = e.what ? ` — ${escapeHtml(e.what)}` : '';
    items.push(`<li><a href="${escapeHtml(path)}"><code>${escapeHtml(path)}</code></a> ${escapeHtml(e.image)}${what}</li>`);
  }
  return items.join('\n');
}

/** The page at `/`. */
export function renderPage(options: PageOptions): string {
  const { defaultRegistry, defaultPlatform, version } = options;
  const registryName = escapeHtml(defaultRegistry.name || defaultRegistry.host);
  const hub = isDockerHub(defaultRegistry.host);
  const platforms = COMMON_PLATFORMS.includes(defaultPlatform) ? COMMON_PLATFORMS : [defaultPlatform, ...COMMON_PLATFORMS];
  const platformOptions = platforms
    .map((p) => `<option value="${escapeHtml(p)}"${p === defaultPlatform ? ' selected' : ''}>${escapeHtml(p)}${p === defaultPlatform ? ' (default)' : ''}</option>`)
    .join('');
  const defaultImage = hub ? 'nginx:1.27' : `${escapeHtml(defaultRegistry.host)}/app:tag`;
  const csp = [
    "default-src 'none'",
    `script-src 'self' ${cspHash(SCRIPT)}`,
    `style-src ${cspHash(STYLE)}`,
    "connect-src 'self'",
    "img-src 'self' data:",
    "form-action 'self'",
    "base-uri 'none'",
  ].join('; ');

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${escapeHtml(csp)}">
<meta name="referrer" content="no-referrer">
<title>image-passthrough</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>
<div class="wrap">
<header>
<h1>image-passthrough</h1>
<p>One HTTP GET turns a registry image into a <code>docker save</code> archive, streamed while it downloads: for <code>copy http://… flash:</code> on Cisco IOS-XE, for curl, or for this browser.</p>
</header>
<main>
<section class="card" aria-labelledby="build-title">
<h2 id="build-title">Download an image</h2>
<form id="builder" method="get" action="/download" data-registry-host="${escapeHtml(defaultRegistry.host)}" data-registry-scheme="${escapeHtml(defaultRegistry.scheme)}" data-platform="${escapeHtml(defaultPlatform)}" data-namespace="${escapeHtml(options.defaultNamespace ?? '')}">
<div class="field">
<label for="image">Image</label>
<input id="image" name="image" type="text" required placeholder="${defaultImage} or ghcr.io/org/app:tag" autocomplete="off" autocapitalize="off" spellcheck="false" aria-describedby="image-help">
<p id="image-help" class="help">A reference as <code>docker pull</code> takes it, optionally pinned with <code>@sha256:…</code>. Without a registry host it comes from Docker Hub; this service's default registry is <strong>${registryName}</strong>.</p>
</div>
<div class="row">
<div class="field">
<label for="platform">Platform</label>
<select id="platform" name="platform">${platformOptions}</select>
</div>
<fieldset class="field">
<legend>Format</legend>
<label class="choice"><input type="radio" name="format" value="docker" checked> docker save (IOS-XE, docker load)</label>
<label class="choice"><input type="radio" name="format" value="oci"> OCI layout</label>
</fieldset>
</div>
<div class="field">
<label class="choice"><input type="checkbox" name="credentials" value="1"> The registry needs credentials (use /registry-auth)</label>
</div>
<div class="actions">
<button type="submit">Download</button>
<button type="button" id="inspect" hidden disabled>Inspect</button>
</div>
</form>
<noscript><p class="note">JavaScript is off: <strong>Download</strong> still works, and the examples below are plain links.</p></noscript>
<div id="result" hidden aria-live="polite">
<p id="problem" class="error" role="alert" hidden></p>
<div id="outputs" hidden>
<h3>URL</h3>
<div class="out"><code id="out-url"></code><button type="button" data-copy="out-url" aria-label="Copy the URL" hidden>Copy</button></div>
<p><a id="out-link" class="download" href="/">Download</a> <span id="out-image" class="note"></span></p>
<h3>Cisco IOS-XE</h3>
<p id="ios-credentials" class="note" hidden>First, in configuration mode: <code>ip http client username USER</code> and <code>ip http client password TOKEN</code>.</p>
<p id="ios-oci" class="note" hidden>The IOS-XE command line reads <kbd>?</kbd> as a request for help: type <kbd>Ctrl</kbd>+<kbd>V</kbd> before it. IOS-XE app-hosting installs the docker save format.</p>
<div class="out"><code id="out-ios"></code><button type="button" data-copy="out-ios" aria-label="Copy the IOS-XE command" hidden>Copy</button></div>
<h3>curl</h3>
<div class="out"><code id="out-curl"></code><button type="button" data-copy="out-curl" aria-label="Copy the curl command" hidden>Copy</button></div>
</div>
<div id="inspection" hidden>
<h3>Image</h3>
<p id="inspect-status" class="status" hidden></p>
<dl id="facts" class="facts"></dl>
<div id="platforms-block" hidden>
<h3>Platforms offered</h3>
<ul id="platforms" class="platforms" aria-label="Platforms offered; choose one"></ul>
</div>
</div>
</div>
</section>
<section class="card" aria-labelledby="examples-title">
<h2 id="examples-title">Examples</h2>
<p class="note">From ${registryName}, for ${escapeHtml(defaultPlatform)} unless noted:</p>
<ul class="examples">
${examples(options)}
</ul>
</section>
<section class="card" aria-labelledby="format-title">
<details>
<summary id="format-title">URL format, for devices and scripts</summary>
<table>
<tr><td><code>/docker/{filename}</code></td><td>from ${registryName}</td></tr>
<tr><td><code>/registry/{scheme}/{host}/docker/{filename}</code></td><td>from the registry in the URL, e.g. <code>/registry/https/ghcr.io/docker/org__app_1.0.tar</code>; write a port as <code>%3A</code></td></tr>
<tr><td><code>/registry-auth/{scheme}/{host}/docker/{filename}</code></td><td>the same, with your registry credentials (HTTP Basic)</td></tr>
<tr><td><code>/platform/{os}/{arch}[/{variant}]/…</code></td><td>another platform than ${escapeHtml(defaultPlatform)}</td></tr>
<tr><td><code>?format=oci</code></td><td>an OCI image layout instead of <code>docker save</code></td></tr>
</table>
<table>
<tr><td><code>nginx_latest.tar</code></td><td>${hub ? 'library/nginx:latest' : 'nginx:latest (under the default namespace, if any)'}</td></tr>
<tr><td><code>myrepo_myimage_v1.0.tar</code></td><td>myrepo/myimage:v1.0</td></tr>
<tr><td><code>team__platform__api_2026.06.tar</code></td><td>team/platform/api:2026.06 (<code>__</code> is <code>/</code>)</td></tr>
<tr><td><code>my_org__my_image:my_tag.tar</code></td><td>my_org/my_image:my_tag (with <code>:</code> or <code>@</code>, only <code>__</code> is <code>/</code>)</td></tr>
<tr><td><code>nginx:1.27@sha256:{hex}.tar</code></td><td>pinned by digest</td></tr>
</table>
</details>
</section>
</main>
<footer>image-passthrough ${escapeHtml(version)} · default registry ${registryName} · default platform ${escapeHtml(defaultPlatform)}</footer>
</div>
<script type="module">${SCRIPT}</script>
</body>
</html>
`;
}

let assets: Map<string, PageAsset> | undefined;

// From the sources the modules are .ts and need their types stripped; from the compiled build
// (dist/) they are already .js.
const compiled = !import.meta.url.endsWith('.ts');
const ext = compiled ? 'js' : 'ts';

function stripped(url: URL): string {
  const code = readFileSync(url, 'utf8');
  return compiled ? code : stripTypeScriptTypes(code, { mode: 'strip' });
}

/**
 * `/assets/reference.js` and `/assets/url-builder.js`: protocol/reference.ts and url-builder.ts
 * with their types stripped, the builder's import pointed at `/assets/reference.js`.
 */
export function pageAssets(): Map<string, PageAsset> {
  if (assets !== undefined) return assets;
  const reference = stripped(new URL(`../../protocol/reference.${ext}`, import.meta.url));
  const builder = stripped(new URL(`./url-builder.${ext}`, import.meta.url)).replace(
    /(\bfrom\s*)(['"])\.\.\/\.\.\/protocol\/reference\.(?:ts|js)\2/g,
    '$1$2/assets/reference.js$2',
  );
  for (const [name, code] of [['reference.ts', reference], ['url-builder.ts', builder]] as const) {
    if (/\b(?:from|import)\s*\(?\s*['"]\.{1,2}\//.test(code)) throw new Error(`${name} has a relative import the page's assets cannot serve`);
  }
  const contentType = 'text/javascript; charset=utf-8';
  assets = new Map([
    ['/assets/reference.js', { contentType, body: reference }],
    ['/assets/url-builder.js', { contentType, body: builder }],
  ]);
  return assets;
}
