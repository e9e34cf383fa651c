// Parse a Chrome trace-event file with the Chrome DevTools Performance panel's own trace engine
// (npm @paulirish/trace_engine, the package DevTools publishes its trace model as) and print
// what it made of it as JSON: per process, the thread names and, per thread, the number of
// entries, of root slices of its call tree, and of the slices below each root. An error (a file it cannot read) exits non-zero.
// Usage: node trace_engine_check.mjs NODE_MODULES_DIR TRACE.json
import fs from 'node:fs';
import path from 'node:path';
import {pathToFileURL} from 'node:url';

const [modules, file] = process.argv.slice(2);
const entry = path.join(modules, '@paulirish', 'trace_engine', 'analyze-trace.mjs');
const {analyzeEvents} = await import(pathToFileURL(entry).href);
const doc = JSON.parse(fs.readFileSync(file, 'utf8'));
const {parsedTrace} = await analyzeEvents(doc.traceEvents);
const out = {processes: []};
const count = node => node.children.reduce((n, c) => n + 1 + count(c), 0);
for (const [pid, proc] of parsedTrace.data.Renderer.processes) {
  const threads = [];
  for (const [tid, thread] of proc.threads) {
    threads.push({tid, name: thread.name, entries: thread.entries.length, roots: thread.tree ? thread.tree.roots.size : null,
                  descendants: thread.tree ? [...thread.tree.roots].map(count) : null});
  }
  out.processes.push({pid, threads});
}
process.stdout.write(JSON.stringify(out));
