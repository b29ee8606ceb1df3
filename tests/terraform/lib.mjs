// Helpers for the Terraform structure tests: find and parse every .tf file,
// merge a directory's files into one module, read the collector's defaults,
// and a small formatting checker for when no terraform binary is around.
//
// Parsing uses @cdktf/hcl2json (HashiCorp's HCL parser compiled to WASM). Its
// JSON keeps expressions as "${...}" strings, blocks as arrays of objects and
// object attributes as plain objects.

import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const { parse } = require('@cdktf/hcl2json');

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(HERE, '..', '..');
export const TF_ROOT = path.join(ROOT, 'terraform');

// All files under dir (sorted, depth first), skipping .terraform and
// node_modules. fs.readdirSync's `recursive` needs Node 20; this runs on 18.
export function walk(dir) {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    if (entry.name === '.terraform' || entry.name === 'node_modules') continue;
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out;
}

export function rel(p) {
  return path.relative(ROOT, p);
}

// The collector's own defaults, read from its sources so that changing them
// there breaks these tests until the Terraform follows.
export function collectorDefaults() {
  const options = fs.readFileSync(path.join(ROOT, 'collector', 'options.h'), 'utf8');
  const http = options.match(/http_listen\s*=\s*"[^"]*:(\d+)"/);
  if (!http) throw new Error('collector/options.h: no `http_listen = "ADDR:PORT"` default found');
  const vxlan = options.match(/vxlan_ports\s*\{\s*(\d+)\s*\}/);
  if (!vxlan) throw new Error('collector/options.h: no `vxlan_ports{PORT}` default found');
  const outer = fs.readFileSync(path.join(ROOT, 'dataplane', 'outer_parse.h'), 'utf8');
  const geneve = outer.match(/kGenevePort\s*=\s*(\d+)/);
  if (!geneve) throw new Error('dataplane/outer_parse.h: no kGenevePort found');
  return { healthPort: Number(http[1]), vxlanPort: Number(vxlan[1]), genevePort: Number(geneve[1]) };
}

// Parses every .tf under terraform/. Never throws: a file that fails to parse
// comes back with `error` set, so one test can report every failure.
let loading = null;
export function loadAll() {
  if (!loading) loading = parseAll();
  return loading;
}

async function parseAll() {
  const files = walk(TF_ROOT).filter((f) => f.endsWith('.tf'));
  const parsed = [];
  for (const file of files) {
    const text = fs.readFileSync(file, 'utf8');
    try {
      parsed.push({ file, text, json: await parse(rel(file), text) });
    } catch (e) {
      parsed.push({ file, text, error: String(e && e.message ? e.message : e) });
    }
  }
  return parsed;
}

// Merges the parsed files of one directory the way Terraform sees a module.
// Throws on a duplicate declaration (Terraform would refuse it too).
export function mergeModule(files) {
  const m = {
    files: files.map((f) => f.file),
    resource: {}, // "type.name" -> body
    data: {}, // "type.name" -> body
    variable: {},
    output: {},
    module: {},
    locals: {},
    provider: {}, // name -> [bodies] (aliases)
    terraform: [],
  };
  const put = (table, key, value, file, what) => {
    if (Object.prototype.hasOwnProperty.call(table, key)) throw new Error(`${rel(file)}: ${what} "${key}" declared twice`);
    table[key] = value;
  };
  for (const { file, json, error } of files) {
    if (error) throw new Error(`${rel(file)} does not parse: ${error}`);
    for (const [kind, value] of Object.entries(json)) {
      if (kind === 'resource' || kind === 'data') {
        for (const [type, byName] of Object.entries(value)) {
          for (const [name, blocks] of Object.entries(byName)) {
            put(m[kind], `${type}.${name}`, blocks[0], file, kind);
          }
        }
      } else if (kind === 'variable' || kind === 'output' || kind === 'module') {
        for (const [name, blocks] of Object.entries(value)) put(m[kind], name, blocks[0], file, kind);
      } else if (kind === 'locals') {
        for (const block of value) for (const [name, v] of Object.entries(block)) put(m.locals, name, v, file, 'local');
      } else if (kind === 'provider') {
        for (const [name, blocks] of Object.entries(value)) m.provider[name] = (m.provider[name] || []).concat(blocks);
      } else if (kind === 'terraform') {
        m.terraform.push(...value);
      } else {
        throw new Error(`${rel(file)}: unexpected top-level "${kind}"`);
      }
    }
  }
  return m;
}

// Directory (relative to terraform/) -> merged module, for every directory
// holding .tf files.
export async function modules() {
  const all = await loadAll();
  const byDir = new Map();
  for (const f of all) {
    const dir = path.relative(TF_ROOT, path.dirname(f.file));
    if (!byDir.has(dir)) byDir.set(dir, []);
    byDir.get(dir).push(f);
  }
  const out = new Map();
  for (const [dir, files] of byDir) out.set(dir, mergeModule(files));
  return out;
}

// The one nested block `name` of a body (blocks parse as arrays).
export function block(body, name, where = '') {
  const b = body[name];
  if (!Array.isArray(b) || b.length !== 1) {
    throw new Error(`${where}: expected exactly one "${name}" block, found ${Array.isArray(b) ? b.length : 'none'}`);
  }
  return b[0];
}

export function resource(m, address) {
  const r = m.resource[address];
  if (!r) throw new Error(`resource ${address} not found (have: ${Object.keys(m.resource).join(', ')})`);
  return r;
}

// A value that is a number literal, or "${var.X}" with a number default.
export function resolveNumber(m, value, where = '') {
  if (typeof value === 'number') return value;
  const ref = typeof value === 'string' && value.match(/^\$\{var\.(\w+)\}$/);
  if (ref) {
    const v = m.variable[ref[1]];
    if (!v) throw new Error(`${where}: var.${ref[1]} is not declared`);
    if (typeof v.default !== 'number') throw new Error(`${where}: var.${ref[1]} has no number default`);
    return v.default;
  }
  throw new Error(`${where}: ${JSON.stringify(value)} is neither a number nor a plain var reference`);
}

// Every string in a parsed value that holds an expression ("${", but not the
// "$${" escape), with the path that leads to it.
export function expressions(value, where = '') {
  const out = [];
  const visit = (v, p) => {
    if (typeof v === 'string') {
      if (/(^|[^$])\$\{/.test(v)) out.push({ path: p, expr: v });
    } else if (Array.isArray(v)) {
      v.forEach((x, i) => visit(x, `${p}[${i}]`));
    } else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) visit(x, p ? `${p}.${k}` : k);
    }
  };
  visit(value, where);
  return out;
}

// Template variables a templatefile() template uses: ${name...} and
// %{ if name ...}, skipping the $${ / %%{ escapes.
export function templateVariables(text) {
  const names = new Set();
  const keywords = new Set(['if', 'else', 'endif', 'for', 'endfor', 'in', 'true', 'false', 'null']);
  for (const m of text.matchAll(/(?<![$%])[$%]\{~?\s*([^}]*)\}/g)) {
    for (const id of m[1].matchAll(/(?<![\w."])([A-Za-z_]\w*)(?![\w"(])/g)) {
      if (!keywords.has(id[1])) names.add(id[1]);
    }
  }
  return names;
}

// ---------------------------------------------------------------------------
// Formatting: what `terraform fmt` would leave, checked without terraform.
// ---------------------------------------------------------------------------

// Net bracket change of one line, ignoring strings, template interpolations
// and comments, and the heredoc marker the line opens, if any.
function scanLine(line) {
  let net = 0;
  const stack = []; // 'str' | 'interp' | 'brace' (a brace inside an interpolation)
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    const top = stack[stack.length - 1];
    if (top === 'str') {
      if (c === '\\') i++;
      else if (c === '"') stack.pop();
      else if ((c === '$' || c === '%') && line[i + 1] === '{' && line[i - 1] !== c) {
        stack.push('interp');
        i++;
      }
      continue;
    }
    if (top === 'interp' || top === 'brace') {
      if (c === '"') stack.push('str');
      else if (c === '{') stack.push('brace');
      else if (c === '}') stack.pop();
      continue;
    }
    if (c === '#' || (c === '/' && line[i + 1] === '/')) break;
    if (c === '"') stack.push('str');
    else if ('{[('.includes(c)) net++;
    else if ('}])'.includes(c)) net--;
  }
  const heredoc = line.match(/<<-?([A-Za-z_]\w*)\s*$/);
  return { net, heredoc: heredoc ? heredoc[1] : null };
}

// Returns a list of "line N: problem" strings for one .tf file's text.
export function formatProblems(text) {
  const problems = [];
  if (text.includes('\r')) problems.push('CR characters (use LF line ends)');
  if (!text.endsWith('\n')) problems.push('no newline at end of file');
  if (text.endsWith('\n\n')) problems.push('blank lines at end of file');
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();

  // hclwrite's indentation: a line with more opening than closing brackets
  // indents the following lines one level, however many it opened; closing
  // them takes that level back. Closing lines sit at the level they return to.
  const levels = []; // brackets each open level holds
  let heredocEnd = null;
  let group = []; // consecutive single-line attributes: { n, indent, key, eq }
  const flush = () => {
    if (group.length > 1) {
      const width = Math.max(...group.map((g) => g.key.length));
      for (const g of group) {
        const want = g.indent + width + 1;
        if (g.eq !== want) problems.push(`line ${g.n}: "=" at column ${g.eq + 1}, aligned group wants column ${want + 1}`);
      }
    } else if (group.length === 1 && group[0].eq !== group[0].indent + group[0].key.length + 1) {
      problems.push(`line ${group[0].n}: want exactly one space before "="`);
    }
    group = [];
  };

  lines.forEach((line, idx) => {
    const n = idx + 1;
    if (line.includes('\t')) problems.push(`line ${n}: tab`);
    if (/[ \t]+$/.test(line)) problems.push(`line ${n}: trailing whitespace`);
    if (heredocEnd !== null) {
      // Heredoc body: free text; it does not break an alignment group.
      if (line.trim() === heredocEnd) heredocEnd = null;
      return;
    }
    if (line.trim() === '') {
      flush();
      return;
    }
    const { net, heredoc } = scanLine(line);
    if (net < 0) {
      let closed = -net;
      while (closed > 0 && levels.length) {
        const top = levels[levels.length - 1];
        if (closed >= top) {
          closed -= top;
          levels.pop();
        } else {
          levels[levels.length - 1] -= closed;
          closed = 0;
        }
      }
      if (closed > 0) problems.push(`line ${n}: more closing than opening brackets`);
    }
    const want = 2 * levels.length;
    if (net > 0) levels.push(net);
    const indent = line.length - line.trimStart().length;
    if (indent !== want) problems.push(`line ${n}: indented ${indent} spaces, want ${want}`);

    const attr = line.match(/^(\s*)([A-Za-z_][\w-]*|"[^"]*")(\s*)=(?![=>])/);
    if (attr && (net === 0 || heredoc)) {
      if (group.length && group[0].indent !== indent) flush();
      group.push({ n, indent, key: attr[2], eq: attr[1].length + attr[2].length + attr[3].length });
    } else {
      flush();
    }
    if (heredoc) heredocEnd = heredoc;
  });
  flush();
  if (levels.length) problems.push('unclosed brackets at end of file');
  if (heredocEnd !== null) problems.push(`heredoc ${heredocEnd} never closed`);
  return problems;
}
