/**
 * Strings that UTF-8 cannot hold: JavaScript strings are UTF-16 and may contain an unpaired surrogate
 * ("\ud800", accepted by JSON.parse), which TextEncoder silently writes as U+FFFD. Storage layers that
 * write UTF-8 check with `hasLoneSurrogate` and keep such strings another way.
 */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const LONE_SURROGATES = new RegExp(LONE_SURROGATE.source, 'g');

/** Whether `s` has an unpaired surrogate (no UTF-8 form). */
export function hasLoneSurrogate(s: string): boolean {
  return LONE_SURROGATE.test(s);
}

/** `s` with every unpaired surrogate replaced by U+FFFD (what TextEncoder would write). */
export function toWellFormed(s: string): string {
  return s.replace(LONE_SURROGATES, '\uFFFD');
}
