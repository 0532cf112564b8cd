// Progress for `save`: a one-line bar redrawn in place on a TTY, plain lines every few seconds
// otherwise (logs, CI), both on stderr so stdout can carry the archive.

export interface ProgressOptions {
  total: number | undefined;
  /** Cumulative end offsets of each layer in the archive, for "layer i/n". */
  layerEnds?: number[];
  tty: boolean;
  write: (text: string) => void;
}

function human(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(u === 0 ? 0 : 1)} ${units[u]}`;
}

function duration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

export class Progress {
  readonly #options: ProgressOptions;
  readonly #started = Date.now();
  #lastDraw = 0;
  #bytes = 0;

  constructor(options: ProgressOptions) {
    this.#options = options;
  }

  update(bytes: number): void {
    this.#bytes = bytes;
    const now = Date.now();
    if (now - this.#lastDraw < (this.#options.tty ? 100 : 5000)) return;
    this.#lastDraw = now;
    this.#draw(false);
  }

  done(): void {
    this.#draw(true);
  }

  #draw(final: boolean): void {
    const { total, layerEnds, tty } = this.#options;
    const elapsed = (Date.now() - this.#started) / 1000;
    const rate = elapsed > 0 ? this.#bytes / elapsed : 0;
    const parts: string[] = [];
    if (total !== undefined && total > 0) {
      const fraction = Math.min(1, this.#bytes / total);
      if (tty) {
        const width = 24;
        const filled = Math.round(fraction * width);
        parts.push(`[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`);
      }
      parts.push(`${(fraction * 100).toFixed(1).padStart(5)}%`, `${human(this.#bytes)} / ${human(total)}`);
    } else {
      parts.push(human(this.#bytes));
    }
    parts.push(`${human(rate)}/s`);
    if (layerEnds && layerEnds.length > 0) {
      const current = layerEnds.findIndex((end) => this.#bytes < end);
      parts.push(current === -1 ? `layers ${layerEnds.length}/${layerEnds.length}` : `layer ${current + 1}/${layerEnds.length}`);
    }
    parts.push(final ? `in ${duration(elapsed)}` : `ETA ${total !== undefined && rate > 0 ? duration((total - this.#bytes) / rate) : '--:--'}`);
    const line = parts.join('  ');
    this.#options.write(tty ? `\r${line}\x1b[K${final ? '\n' : ''}` : `${line}\n`);
  }
}
