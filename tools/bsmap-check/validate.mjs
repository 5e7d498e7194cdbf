#!/usr/bin/env node
// Validate Beat Saber map files with the schemas of KivalEvan's bsmap (pinned in package.json).
//
//   node validate.mjs FILE...
//
// Prints one JSON object {file: [issue, ...]} on stdout and exits 1 when any file has an issue
// (2 on a usage error). An issue is {message, path, expected, received}; a file that cannot be read,
// is not JSON, or whose type/version bsmap has no schema for gets one issue saying so, so a typo in
// a path can never pass silently.
//
// bsmap's schemas are valibot schemas that also implement Standard Schema (`~standard.validate`).
// We call them directly instead of bsmap's `validateJSON`, which throws on the first issue; this way
// every issue is reported (bsmap itself caps the list it handles at 100; we report them all).
import { readFileSync } from 'node:fs';
import { v2, v3, v4 } from 'bsmap';

// [label, schema] chosen from the file's own content: the same keys the game uses to tell them apart.
function pickSchema(data) {
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    return [null, 'top level is not a JSON object'];
  }
  if (typeof data._version === 'string' || '_difficultyBeatmapSets' in data || '_notes' in data) {
    const major = String(data._version ?? '2').split('.')[0];
    if (major !== '2') return [null, `unsupported _version ${JSON.stringify(data._version)}`];
    if ('_difficultyBeatmapSets' in data) return ['info v2', v2.InfoSchema];
    if ('_regions' in data || '_songSampleCount' in data) return ['bpminfo v2', v2.BPMInfoSchema];
    return ['difficulty v2', v2.DifficultySchema];
  }
  if (typeof data.version !== 'string') return [null, 'no "version" or "_version" string'];
  const major = data.version.split('.')[0];
  if (major === '3') {
    return ['difficulty v3', v3.DifficultySchema];
  }
  if (major === '4') {
    if ('difficultyBeatmaps' in data) return ['info v4', v4.InfoSchema];
    if ('bpmData' in data || 'songChecksum' in data) return ['audiodata v4', v4.AudioDataSchema];
    if ('colorNotes' in data || 'colorNotesData' in data) return ['difficulty v4', v4.DifficultySchema];
    return ['lightshow v4', v4.LightshowSchema];
  }
  return [null, `unsupported version ${JSON.stringify(data.version)}`];
}

function pathOf(issue) {
  return (issue.path ?? [])
    .map((segment) => (typeof segment === 'object' && segment !== null && 'key' in segment ? segment.key : segment))
    .map((key, i) => (typeof key === 'number' ? `[${key}]` : i === 0 ? String(key) : `.${String(key)}`))
    .join('');
}

function validateFile(file) {
  let data;
  try {
    data = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    return [{ message: `cannot read JSON: ${err.message}`, path: '' }];
  }
  const [label, schema] = pickSchema(data);
  if (label === null) return [{ message: schema, path: '' }];
  if (!schema) return [{ message: `bsmap has no schema for ${label}`, path: '' }];
  const result = schema['~standard'].validate(data);
  if (result instanceof Promise) {
    return [{ message: 'bsmap schema is asynchronous; not supported', path: '' }];
  }
  return (result.issues ?? []).map((issue) => ({
    message: issue.message,
    path: pathOf(issue),
    expected: issue.expected ?? null,
    received: issue.received ?? null,
    schema: label,
  }));
}

const files = process.argv.slice(2);
if (files.length === 0) {
  process.stderr.write('usage: node validate.mjs FILE...\n');
  process.exit(2);
}
const report = {};
let failed = false;
for (const file of files) {
  report[file] = validateFile(file);
  if (report[file].length > 0) failed = true;
}
process.stdout.write(JSON.stringify(report, null, 2) + '\n');
process.exit(failed ? 1 : 0);
