// MapCheck's parity tool loop (KivalEvan/BeatSaber-MapCheck src/ts/tools/notes/parity.ts, `check`)
// over bsmap's own `Parity` class and swing `next`, for comparing our checker with it (tests only).
//
//   node mapcheck_parity.mjs BSMAP_ESM_DIR INPUT.json
//
// INPUT is a list of {name, segments: [[beat, second, bpm]...], notes: [[beat, color, x, y, d]...],
// bombs: [[beat, x, y]...]}; prints [{name, swings, errors: [[beat, color]...]}].
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const [esm, inputPath] = process.argv.slice(2);
const load = (p) => import(pathToFileURL(join(esm, p)).href);
const { Parity } = await load('extensions/parity/parity.js');
const { next } = await load('extensions/swing/swing.js');

const out = [];
for (const m of JSON.parse(readFileSync(inputPath, 'utf8'))) {
  const toRealTime = (beat) => {
    let s = m.segments[0];
    for (const x of m.segments) if (x[0] <= beat) s = x;
    return s[1] + ((beat - s[0]) * 60) / s[2];
  };
  const timeProc = { toRealTime };
  const notes = m.notes.map(([time, color, posX, posY, direction]) => ({ time, color, posX, posY, direction, kind: 'note' }));
  const bombs = m.bombs.map(([time, posX, posY]) => ({ time, color: -1, posX, posY, kind: 'bomb' }));
  const all = [...notes, ...bombs].sort((a, b) => a.time - b.time);
  const lastNote = {};
  const swing = { 0: [], 1: [] };
  const bombContext = { 0: [], 1: [] };
  const lastBombContext = { 0: [], 1: [] };
  // MapCheck's defaults: warning 90, error 45, allowed rotation 90.
  const parity = { 0: new Parity(notes, bombs, 0, 90, 45, 90), 1: new Parity(notes, bombs, 1, 90, 45, 90) };
  const errors = [];
  let swings = 0;
  for (const o of all) {
    if (o.kind === 'note' && lastNote[o.color] && next(o, lastNote[o.color], timeProc, swing[o.color])) {
      swings++;
      if (parity[o.color].check(swing[o.color], lastBombContext[o.color]) === 'error') {
        errors.push([swing[o.color][0].time, o.color]);
      }
      parity[o.color].next(swing[o.color], lastBombContext[o.color]);
      lastBombContext[o.color] = bombContext[o.color];
      bombContext[o.color] = [];
      swing[o.color] = [];
    }
    if (o.kind === 'bomb') {
      bombContext[0].push(o);
      bombContext[1].push(o);
    } else {
      lastNote[o.color] = o;
      swing[o.color].push(o);
    }
  }
  for (const c of [0, 1]) {
    if (!lastNote[c]) continue;
    swings++;
    if (parity[c].check(swing[c], bombContext[c]) === 'error') errors.push([swing[c][0].time, c]);
  }
  out.push({ name: m.name, swings, errors });
}
process.stdout.write(JSON.stringify(out));
