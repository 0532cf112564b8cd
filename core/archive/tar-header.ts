// ustar headers for the archive's entries. The archive is planned as segments at known offsets
// (headers, bodies, padding), which needs a header without its body: tar-stream's packer only
// writes both together, so the 512-byte header is encoded here.

export const BLOCK = 512;
export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);
const OCTAL_SIZE_LIMIT = 8 ** 11;

export interface TarEntry {
  name: string;
  size: number;
  type: 'file' | 'directory';
}

function writeString(buf: Buffer, value: string, offset: number, length: number): void {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length > length) throw new Error(`tar field "${value}" is longer than ${length} bytes`);
  bytes.copy(buf, offset);
}

function writeOctal(buf: Buffer, value: number, offset: number, length: number): void {
  writeString(buf, `${value.toString(8).padStart(length - 1, '0')}\0`, offset, length);
}

/** Sizes of 8 GiB and more use the base-256 form GNU tar, Go and Docker all read. */
function writeSize(buf: Buffer, size: number, offset: number): void {
  if (size < OCTAL_SIZE_LIMIT) {
    writeOctal(buf, size, offset, 12);
    return;
  }
  let v = BigInt(size);
  for (let i = 11; i >= 1; i--) {
    buf[offset + i] = Number(v & 0xffn);
    v >>= 8n;
  }
  buf[offset] = 0x80;
}

/** A deterministic header: mtime 0, owner root:root, mode 0644 (files) or 0755 (directories). */
export function tarHeader(entry: TarEntry): Buffer {
  const buf = Buffer.alloc(BLOCK);
  const name = entry.type === 'directory' && !entry.name.endsWith('/') ? `${entry.name}/` : entry.name;
  writeString(buf, name, 0, 100);
  writeOctal(buf, entry.type === 'directory' ? 0o755 : 0o644, 100, 8);
  writeOctal(buf, 0, 108, 8);
  writeOctal(buf, 0, 116, 8);
  writeSize(buf, entry.type === 'directory' ? 0 : entry.size, 124);
  writeOctal(buf, 0, 136, 12);
  buf.fill(' ', 148, 156);
  buf.write(entry.type === 'directory' ? '5' : '0', 156, 'latin1');
  writeString(buf, 'ustar\0', 257, 6);
  writeString(buf, '00', 263, 2);
  let sum = 0;
  for (const byte of buf) sum += byte;
  writeString(buf, `${sum.toString(8).padStart(6, '0')}\0 `, 148, 8);
  return buf;
}

export function paddingFor(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}
