// Suggests the known name closest to a misspelt one (config keys), when it is close enough to help.

function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = prev[j]!;
      prev[j] = Math.min(above + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = above;
    }
  }
  return prev[b.length]!;
}

/** The closest of `known` to `name`, or undefined when none is within a third of the name's length. */
export function didYouMean(name: string, known: readonly string[]): string | undefined {
  const norm = (s: string): string => s.toLowerCase().replace(/-/g, '_');
  let best: string | undefined;
  let bestDist = Infinity;
  for (const k of known) {
    const d = editDistance(norm(name), norm(k));
    if (d < bestDist) {
      best = k;
      bestDist = d;
    }
  }
  return bestDist <= Math.max(1, Math.floor(name.length / 3)) ? best : undefined;
}
