// The multi-frame zstd decoder against Node's own encoder: frames with and without checksums,
// empty frames, skippable frames, and every way the input can be cut into chunks.
import { randomBytes } from 'node:crypto';
import { constants, zstdCompressSync } from 'node:zlib';
import t from 'tap';
import { ZstdDecompressFrames, ZstdFrameSplitter } from '../core/stream/zstd.ts';

function frames(parts: Buffer[], skippable: boolean): Buffer {
  const out = parts.map((p, i) => zstdCompressSync(p, { params: { [constants.ZSTD_c_checksumFlag]: i % 2 } }));
  if (skippable) {
    const s = Buffer.alloc(8 + 5, 0x41);
    s.writeUInt32LE(0x184d2a5e, 0);
    s.writeUInt32LE(5, 4);
    out.splice(1, 0, s);
  }
  return Buffer.concat(out);
}

async function decode(input: Buffer, chunk: number): Promise<Buffer> {
  const d = new ZstdDecompressFrames();
  const out: Buffer[] = [];
  d.on('data', (c: Buffer) => out.push(c));
  const done = new Promise((resolve, reject) => {
    d.on('end', resolve);
    d.on('error', reject);
  });
  for (let i = 0; i < input.length; i += chunk) {
    if (!d.write(input.subarray(i, i + chunk))) await new Promise((r) => d.once('drain', r));
  }
  d.end();
  await done;
  return Buffer.concat(out);
}

const parts = [randomBytes(100_000), Buffer.alloc(300_000, 7), Buffer.alloc(0), Buffer.from('tail'), randomBytes(70_000)];

t.test('several frames decode to the concatenation, whatever the chunking', async (t) => {
  for (const skippable of [false, true]) {
    const input = frames(parts, skippable);
    for (const chunk of [1000, 65_536, input.length]) {
      t.ok((await decode(input, chunk)).equals(Buffer.concat(parts)), `chunk ${chunk}, skippable frame ${skippable}`);
    }
  }
});

t.test('one byte at a time, across frame, block and checksum headers', async (t) => {
  const small = [Buffer.from('a'.repeat(3000)), randomBytes(700), Buffer.alloc(0), Buffer.from('end')];
  for (const skippable of [false, true]) {
    t.ok((await decode(frames(small, skippable), 1)).equals(Buffer.concat(small)), `skippable frame ${skippable}`);
  }
});

t.test('the splitter finds each frame end', async (t) => {
  const splitter = new ZstdFrameSplitter();
  const pieces = splitter.feed(frames(parts, true));
  t.equal(pieces.filter((p) => p.kind === 'end').length, parts.length, 'one end per zstd frame, none for the skippable one');
  t.ok(splitter.atBoundary, 'ends between frames');
});

t.test('a stream cut inside a frame fails', async (t) => {
  const input = frames([randomBytes(50_000)], false);
  await t.rejects(decode(input.subarray(0, input.length - 10), 4096), /middle of a frame/);
});

t.test('bytes that are not zstd fail', async (t) => {
  await t.rejects(decode(Buffer.from('this is not zstd at all'), 4), /not a zstd frame/);
});
