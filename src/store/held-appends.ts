/**
 * Records the store refused with DISK_FULL, held in memory in the order they were made until
 * the disk has room again. The store never acknowledged them (no sequence number yet), so
 * holding them loses nothing that was promised; writing them later, in order, before any
 * newer record, keeps the sequence in the order records were made. Bounded: beyond `max` the
 * oldest is dropped and counted (a disk that stays full for that long needs a technician, and
 * the DISK_FULL alarm says so).
 */
import { isMotobioError } from '../util/errors.js';

export class HeldAppends<T> {
  private readonly queue: T[] = [];
  private droppedCount = 0;

  constructor(readonly max: number) {}

  get size(): number {
    return this.queue.length;
  }

  get dropped(): number {
    return this.droppedCount;
  }

  /** Holds one record; returns true when the oldest had to be dropped to make room. */
  push(record: T): boolean {
    this.queue.push(record);
    if (this.queue.length <= this.max) return false;
    this.queue.shift();
    this.droppedCount++;
    return true;
  }

  /**
   * Writes held records oldest first until one fails with DISK_FULL (it stays, with everything
   * after it). Returns true when nothing is held any more. Another error drops that record and
   * propagates.
   */
  drain(write: (record: T) => void): boolean {
    while (this.queue.length > 0) {
      try {
        write(this.queue[0]);
      } catch (e) {
        if (isMotobioError(e, 'DISK_FULL')) return false;
        // Refused for another reason, it would block every record behind it: let the caller report it.
        this.queue.shift();
        throw e;
      }
      this.queue.shift();
    }
    return true;
  }
}
