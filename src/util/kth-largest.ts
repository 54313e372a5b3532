/** The k-th largest of the values pushed, with a size-k min-heap: O(n log k), nothing else allocated. */
export class KthLargest {
  private readonly heap: Float64Array;
  private n = 0;
  constructor(private readonly k: number) {
    this.heap = new Float64Array(k);
  }
  push(x: number): void {
    const heap = this.heap;
    const k = this.k;
    if (this.n < k) {
      let i = this.n++;
      heap[i] = x;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (heap[p]! <= heap[i]!) break;
        const t = heap[p]!;
        heap[p] = heap[i]!;
        heap[i] = t;
        i = p;
      }
    } else if (x > heap[0]!) {
      heap[0] = x;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < k && heap[l]! < heap[m]!) m = l;
        if (r < k && heap[r]! < heap[m]!) m = r;
        if (m === i) break;
        const t = heap[m]!;
        heap[m] = heap[i]!;
        heap[i] = t;
        i = m;
      }
    }
  }
  /** The k-th largest so far (-Infinity until k values were pushed). */
  get value(): number {
    return this.n < this.k ? -Infinity : this.heap[0]!;
  }
}
